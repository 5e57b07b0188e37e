#!/usr/bin/env python3
"""Write N synthetic penalty cases as a UTF-8 CSV for the ingest benchmark.

    python3 scripts/gen-bench-cases.py [N] [OUT.csv]      # defaults: 1000000 bench-out/cases.csv

The 14 Chinese case headers of SPEC §2; every row names one of the five enforcement units of
the Daocheng sample (so every row resolves to a configured unit); case numbers unique per unit
(稻市监罚〔2025〕123456号); ISO dates; amounts like 1234.50; 是/否 flags, about 3% 涉嫌犯罪 with a
移送决定日期. About 185 bytes a row (≈186 MB for 1M: the unit name and case number alone take ~57
bytes in UTF-8). Deterministic: same N, same bytes. Everything is invented; 证件号 are
18-character numbers with area code 513337, sequence block 9xx and a computed check character.
"""

import datetime as dt
import os
import random
import sys

SEED = 20250312
HEADERS = ("执法单位,案号,案件名称,当事人,证件号,案由,立案日期,处罚决定日期,结案日期,"
           "罚没金额(元),重大行政处罚,涉嫌犯罪,移送决定日期,更新时间\n")

UNITS = [
    ("稻城县市场监督管理局", "稻市监罚", ["销售过期食品", "无照经营", "不明码标价", "虚假宣传",
                                      "销售假冒商品", "无证经营食品"]),
    ("稻城县自然资源局", "稻自然资罚", ["非法占地", "非法采砂", "破坏耕地", "非法采矿"]),
    ("稻城县交通运输局", "稻交运罚", ["超限运输", "非法营运", "客车超员", "损坏公路"]),
    ("稻城县农业农村局", "稻农罚", ["销售假劣农药", "销售假种子", "非法捕捞", "违规用药"]),
    ("稻城县林业和草原局", "稻林草罚", ["滥伐林木", "毁坏林地", "非法狩猎", "违规用火"]),
]

SURNAMES = "李王张刘陈杨赵黄周吴罗何郭邓彭曾蒋谢唐冯"
GIVEN = ["华", "军", "梅", "强", "燕", "平", "波", "萍", "元", "康", "英", "文", "兰", "林"]
TIB = ["扎西", "泽仁", "格绒", "降措", "洛绒", "次仁", "拉姆", "卓玛", "央金", "尼玛", "多吉"]
FIRMS = ["雪域商贸", "云岭建材", "桑堆运输", "白塔砂石", "青稞农资", "圣湖物流", "康巴酒店"]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join("bench-out", "cases.csv")
    rng = random.Random(SEED)
    rnd, rint = rng.random, rng.randrange

    # Pools, built once: parties with their fictitious ID / credit code.
    W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    parties = []
    for i in range(20000):
        if i % 5 == 0:  # companies: 稻城县…有限公司 and an invented credit code
            name = f"稻城县{rng.choice(FIRMS)}有限公司"
            pid = f"91513337MA6{rint(0, 36**6):06X}{rint(0, 10)}"[:18]
        else:
            if rnd() < 0.5:
                name = rng.choice(TIB) + rng.choice(TIB)
            else:
                name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
            birth = dt.date(1960, 1, 1) + dt.timedelta(days=rint(0, 365 * 40))
            body = f"513337{birth:%Y%m%d}9{rint(0, 100):02d}"  # sequence block 9xx
            pid = body + "10X98765432"[sum(int(c) * w for c, w in zip(body, W)) % 11]
        parties.append((name, pid))
    days = [(dt.date(2025, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(365)]
    n_units = len(UNITS)
    counters = [0] * n_units
    heads = [(u[0], u[1] + "〔2025〕", u[2]) for u in UNITS]
    np = len(parties)

    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="") as fh:
        fh.write(HEADERS)
        buf = []
        for i in range(n):
            u = rint(n_units)
            counters[u] += 1
            unit, prefix, causes = heads[u]
            cause = causes[rint(len(causes))]
            party, pid = parties[rint(np)]
            filed = rint(300)
            r = rnd()
            if r < 0.03:  # suspected crime, transferred, no penalty decision
                t = filed + 1 + rint(30)
                closed = t + rint(10)
                amount = 20000 + rint(200000)
                decided_s, closed_s = "", days[closed]
                crime, transfer_s, major = "是", days[t], "否"
                last = closed
            else:
                decided = filed + 1 + rint(45)
                closed = decided + rint(20)
                amount = rint(50, 60000) if r < 0.9 else rint(50, 500) * 100
                decided_s = days[decided]
                closed_s = days[closed] if r < 0.95 else ""
                crime, transfer_s = "否", ""
                major = "是" if amount >= 30000 and r < 0.5 else "否"
                last = closed if closed_s else decided
            buf.append(f"{unit},{prefix}{counters[u]}号,{cause}案,{party},{pid},{cause},"
                       f"{days[filed]},{decided_s},{closed_s},{amount}.{rint(0, 2) * 50:02d},"
                       f"{major},{crime},{transfer_s},{days[last]}\n")
            if len(buf) >= 50000:
                fh.write("".join(buf))
                buf.clear()
        fh.write("".join(buf))
    size = os.path.getsize(out)
    print(f"{out}: {n} rows, {size} bytes, {size / max(n, 1):.1f} bytes/row", file=sys.stderr)


if __name__ == "__main__":
    main()
