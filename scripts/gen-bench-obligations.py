#!/usr/bin/env python3
"""Write the data of the obligations benchmark (issue 4): many units, their closed cases, reviews.

    python3 scripts/gen-bench-obligations.py [--province] N_UNITS N_CASES OUT_DIR     # e.g. 5000 2000000 bench-out/obligations

OUT_DIR/units.toml   N_UNITS [[units]] of kind enforcement (id u0001…, name 稻城县执法单位0001…)
                     and the liaison office (fjld, 稻城县府检联动办公室).
OUT_DIR/closed.csv   N_CASES closed cases, UTF-8, the case headers of SPEC §2 (without 证件号,
                     移送决定日期 and 更新时间): every row names one of the units, skewed so that the
                     units differ in size (a few hundred-fold between the largest and the smallest);
                     case numbers unique per unit (稻执0001罚〔2025〕123号); 结案日期 spread over
                     2025; about 5% 重大行政处罚=是; no 涉嫌犯罪.
OUT_DIR/reviews.csv  reviews (评查) of about 3% of the cases closed by 2025-09-30: 评查日期 after the
                     结案日期 and within 2025, two or three 评查人 (张三、李四), 得分 50–100.

--province           (scripts/bench-province.sh) one data set for a whole cycle: units.toml gives
                     each unit a contact (联络员, u0001@example.gov.cn) and a head (负责人,
                     u0001-head@example.gov.cn) and the liaison office a contact, so that notices
                     have recipients; closed.csv gains the column 移送决定日期 after 涉嫌犯罪, and
                     about 3% of the cases become transfers (涉嫌犯罪=是, 移送决定日期 the day the
                     penalty would have been decided, no 处罚决定日期, 重大行政处罚=否), so that
                     scripts/gen-bench-referrals.py can derive the platform's referrals from it.
                     Without it the output is byte for byte what it was before the option.

Deterministic: same arguments, same bytes. Everything is invented.
"""

import datetime as dt
import itertools
import os
import random
import sys

SEED = 20250930
CASE_HEADERS = "执法单位,案号,案件名称,当事人,案由,立案日期,处罚决定日期,结案日期,罚没金额(元),重大行政处罚,涉嫌犯罪\n"
REVIEW_HEADERS = "执法单位,案号,评查日期,评查人,得分\n"
REVIEWED_BY = dt.date(2025, 9, 30)      # reviews are of cases closed by this day
MAJOR_SHARE = 0.05
REVIEW_SHARE = 0.03
TRANSFER_SHARE = 0.03       # with --province

CAUSES = ["销售过期食品", "无照经营", "不明码标价", "虚假宣传", "非法占地", "非法采砂", "超限运输",
          "非法营运", "销售假劣农药", "非法捕捞", "滥伐林木", "毁坏林地", "违规用火", "违法建设"]
SURNAMES = "李王张刘陈杨赵黄周吴罗何郭邓彭曾蒋谢唐冯"
GIVEN = ["华", "军", "梅", "强", "燕", "平", "波", "萍", "元", "康", "英", "文", "兰", "林"]
TIB = ["扎西", "泽仁", "格绒", "降措", "洛绒", "次仁", "拉姆", "卓玛", "央金", "尼玛", "多吉"]
FIRMS = ["雪域商贸", "云岭建材", "桑堆运输", "白塔砂石", "青稞农资", "圣湖物流", "康巴酒店"]
REVIEWERS = ["张三", "李四", "王五", "赵六", "刘洋", "陈静", "杨帆", "泽仁卓玛", "扎西多吉", "格绒拉姆"]


def write_units(path, n_units, contacts=False):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(f"# Written by scripts/gen-bench-obligations.py: {n_units} enforcement units and the liaison office.\n")
        for i in range(1, n_units + 1):
            fh.write(f'\n[[units]]\nid = "u{i:04d}"\nname = "稻城县执法单位{i:04d}"\nkind = "enforcement"\n')
            if contacts:
                fh.write(f'contacts = [{{ name = "联络员{i:04d}", role = "contact", email = "u{i:04d}@example.gov.cn" }}, '
                         f'{{ name = "负责人{i:04d}", role = "head", email = "u{i:04d}-head@example.gov.cn" }}]\n')
        fh.write('\n[[units]]\nid = "fjld"\nname = "稻城县府检联动办公室"\nkind = "liaison"\n')
        if contacts:
            fh.write('contacts = [{ name = "府检联动办公室", role = "contact", email = "fjld@example.gov.cn" }]\n')


def main():
    args = sys.argv[1:]
    province = "--province" in args
    args = [a for a in args if a != "--province"]
    if len(args) != 3:
        sys.exit(__doc__)
    n_units, n_cases, out_dir = int(args[0]), int(args[1]), args[2]
    if n_units < 1 or n_cases < 0:
        sys.exit("N_UNITS must be at least 1 and N_CASES at least 0")
    rng = random.Random(SEED)
    rnd, rint = rng.random, rng.randrange
    os.makedirs(out_dir, exist_ok=True)
    write_units(os.path.join(out_dir, "units.toml"), n_units, contacts=province)

    # Unit sizes: Pareto weights in a shuffled order, so that big and small units are mixed.
    weights = [rng.paretovariate(1.2) for _ in range(n_units)]
    cum = list(itertools.accumulate(weights))
    names = [f"稻城县执法单位{i:04d}" for i in range(1, n_units + 1)]
    prefixes = [f"稻执{i:04d}罚〔2025〕" for i in range(1, n_units + 1)]
    counters = [0] * n_units
    parties = []
    for i in range(5000):
        if i % 5 == 0:
            parties.append(f"稻城县{rng.choice(FIRMS)}有限公司")
        elif rnd() < 0.5:
            parties.append(rng.choice(TIB) + rng.choice(TIB))
        else:
            parties.append(rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN))
    year_start = dt.date(2025, 1, 1)
    days = [(year_start + dt.timedelta(days=i)).isoformat() for i in range(365)]
    last_reviewable = (REVIEWED_BY - year_start).days
    pairs = [(a, b) for a in REVIEWERS for b in REVIEWERS if a != b]

    cases_path = os.path.join(out_dir, "closed.csv")
    reviews_path = os.path.join(out_dir, "reviews.csv")
    n_reviews = n_transfers = 0
    with open(cases_path + ".tmp", "w", encoding="utf-8", newline="") as cf, \
            open(reviews_path + ".tmp", "w", encoding="utf-8", newline="") as rf:
        cf.write(CASE_HEADERS.replace("涉嫌犯罪\n", "涉嫌犯罪,移送决定日期\n") if province else CASE_HEADERS)
        rf.write(REVIEW_HEADERS)
        cbuf, rbuf = [], []
        done = 0
        while done < n_cases:
            k = min(50000, n_cases - done)
            for u in rng.choices(range(n_units), cum_weights=cum, k=k):
                counters[u] += 1
                case_no = f"{prefixes[u]}{counters[u]}号"
                closed = rint(365)
                decided = max(0, closed - rint(30))
                filed = max(0, decided - 1 - rint(60))
                cause = CAUSES[rint(len(CAUSES))]
                major = "是" if rnd() < MAJOR_SHARE else "否"
                amount = rint(50, 60000) if major == "否" else rint(30000, 500000)
                party = parties[rint(len(parties))]
                cents = rint(0, 2) * 50
                if not province:
                    cbuf.append(f"{names[u]},{case_no},{cause}案,{party},{cause},"
                                f"{days[filed]},{days[decided]},{days[closed]},{amount}.{cents:02d},"
                                f"{major},否\n")
                elif rnd() < TRANSFER_SHARE:    # transferred on the day it would have been decided
                    n_transfers += 1
                    cbuf.append(f"{names[u]},{case_no},{cause}案,{party},{cause},"
                                f"{days[filed]},,{days[closed]},{amount}.{cents:02d},否,是,{days[decided]}\n")
                else:
                    cbuf.append(f"{names[u]},{case_no},{cause}案,{party},{cause},"
                                f"{days[filed]},{days[decided]},{days[closed]},{amount}.{cents:02d},"
                                f"{major},否,\n")
                if closed <= last_reviewable and rnd() < REVIEW_SHARE:
                    reviewed = closed + 1 + rint(min(120, 364 - closed))
                    a, b = pairs[rint(len(pairs))]
                    who = f"{a}、{b}" if rnd() < 0.7 else f"{a}、{b}、{REVIEWERS[rint(len(REVIEWERS))]}"
                    rbuf.append(f"{names[u]},{case_no},{days[reviewed]},{who},{rint(50, 101)}\n")
                    n_reviews += 1
            done += k
            cf.write("".join(cbuf))
            rf.write("".join(rbuf))
            cbuf.clear()
            rbuf.clear()
    os.replace(cases_path + ".tmp", cases_path)
    os.replace(reviews_path + ".tmp", reviews_path)
    sizes = sorted(counters)
    print(f"{out_dir}: {n_units} units (cases per unit: min {sizes[0]}, median {sizes[n_units // 2]}, "
          f"max {sizes[-1]}), {n_cases} cases ({os.path.getsize(cases_path)} bytes"
          + (f", {n_transfers} transfers" if province else "") + f"), {n_reviews} reviews",
          file=sys.stderr)


if __name__ == "__main__":
    main()
