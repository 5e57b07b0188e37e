#!/usr/bin/env python3
"""Generate the sample data set under config/sample/ (Daocheng County, 2025).

Deterministic: a fixed random seed, fixed timestamps inside the XLSX, so running it
again rewrites byte-identical files. The generated files are committed; re-run this
script only when the sample itself should change.

    python3 scripts/make-sample-data.py            # writes into config/sample/
    python3 scripts/make-sample-data.py OUT_DIR    # writes elsewhere

Needs openpyxl for the XLSX (`pip install openpyxl`).

Every party, ID number, credit code and case in here is invented. ID numbers use
Daocheng's area code 513337 with a computed check character so that they *look*
valid to a checksum; they do not belong to anyone we know of.
"""

import csv
import datetime as dt
import html
import io
import random
import re
import sys
import zipfile
from pathlib import Path

SEED = 20240612  # the date of 稻府发〔2024〕5号
ROOT = Path(__file__).resolve().parent.parent
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "config" / "sample"

D = dt.date

# ---------------------------------------------------------------------------
# 2025 working-day calendar (国办发明电〔2024〕12号), as in SPEC §3.
OFF_2025 = set()
for a, b in [("01-01", "01-01"), ("01-28", "02-04"), ("04-04", "04-06"),
             ("05-01", "05-05"), ("05-31", "06-02"), ("10-01", "10-08")]:
    d = D.fromisoformat("2025-" + a)
    while d <= D.fromisoformat("2025-" + b):
        OFF_2025.add(d)
        d += dt.timedelta(days=1)
WORK_2025 = {D(2025, 1, 26), D(2025, 2, 8), D(2025, 4, 27), D(2025, 9, 28), D(2025, 10, 11)}


def is_workday(d):
    if d in WORK_2025:
        return True
    return d.weekday() < 5 and d not in OFF_2025


def add_workdays(d, n):
    """N working days after d, counting from the day after d."""
    while n > 0:
        d += dt.timedelta(days=1)
        if is_workday(d):
            n -= 1
    return d


def next_workday(d):
    while not is_workday(d):
        d += dt.timedelta(days=1)
    return d


# ---------------------------------------------------------------------------
# Units (the ids and names every deployment of the sample uses).
UNITS = {
    "scjg": ("稻城县市场监督管理局", "稻市监罚"),
    "zrzy": ("稻城县自然资源局", "稻自然资罚"),
    "jtys": ("稻城县交通运输局", "稻交运罚"),
    "nync": ("稻城县农业农村局", "稻农罚"),
    "lycy": ("稻城县林业和草原局", "稻林草罚"),
}
HEADERS = ["执法单位", "案号", "案件名称", "当事人", "证件号", "案由", "立案日期", "处罚决定日期",
           "结案日期", "罚没金额(元)", "重大行政处罚", "涉嫌犯罪", "移送决定日期", "更新时间"]

rng = random.Random(SEED)

# ---------------------------------------------------------------------------
# Invented parties.
HAN_SURNAMES = "李王张刘陈杨赵黄周吴罗何郭邓彭曾蒋谢唐冯"
HAN_GIVEN = ["建华", "明军", "春梅", "志强", "晓燕", "国平", "海波", "丽萍", "德元", "永康",
             "红英", "学文", "玉兰", "小林", "光荣", "秀珍", "成刚", "家明"]
TIB = ["扎西", "泽仁", "格绒", "降措", "洛绒", "次仁", "拉姆", "卓玛", "央金", "益西", "呷绒",
       "登真", "尼玛", "多吉", "四郎", "取措", "翁姆", "曲珍"]
TOWNS = ["金珠镇", "香格里拉镇", "桑堆镇"]
FIRM_WORDS = ["雪域晨光", "亚丁云岭", "桑堆湖", "红草地", "白塔", "金珠河", "茶马驿", "青稞源",
              "牦牛坪", "海子山", "圣湖", "康巴春", "冲古", "赤土河", "俄初山"]

used_names = set()


def person_name():
    while True:
        if rng.random() < 0.55:
            a, b = rng.sample(TIB, 2)
            n = a + b
        else:
            n = rng.choice(HAN_SURNAMES) + rng.choice(HAN_GIVEN)
        if n not in used_names:
            used_names.add(n)
            return n


def firm_name(kind):
    """kind: a business line such as 商贸 / 砂石 / 运输 …"""
    while True:
        w = rng.choice(FIRM_WORDS)
        if kind in ("百货店", "超市", "餐馆", "农资经营部", "大药房", "烧烤店", "兽药店"):
            n = f"稻城县{rng.choice(TOWNS)}{w}{kind}"
        else:
            n = f"稻城县{w}{kind}有限公司"
        if n not in used_names:
            used_names.add(n)
            return n


ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_number():
    birth = D(1958, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 45))
    body = "513337" + birth.strftime("%Y%m%d") + f"{rng.randrange(0, 1000):03d}"
    s = sum(int(c) * w for c, w in zip(body, ID_WEIGHTS))
    return body + "10X98765432"[s % 11]


USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ORG_W = [3, 7, 9, 10, 5, 8, 4, 2]


def credit_code(individual):
    return uscc("MA6" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(5)),
                individual)


def uscc(org, individual):
    """The 18-character credit code of Daocheng for the first 8 characters of an
    organisation code, with both check characters computed."""
    val = lambda c: int(c) if c.isdigit() else ord(c) - 55  # A=10 … Z=35 (GB 11714)
    c9 = 11 - sum(val(c) * w for c, w in zip(org, ORG_W)) % 11
    org += {10: "X", 11: "0"}.get(c9, str(c9))
    body = ("92" if individual else "91") + "513337" + org
    s = sum(USCC_CHARS.index(c) * w for c, w in zip(body, USCC_W))
    return body + USCC_CHARS[(31 - s % 31) % 31]


def party(style):
    """style: 'person' or a firm kind."""
    if style == "person":
        return person_name(), id_number()
    individual = style in ("百货店", "超市", "餐馆", "农资经营部", "大药房", "烧烤店", "兽药店")
    return firm_name(style), credit_code(individual)


# ---------------------------------------------------------------------------
# Causes per department: (案由, min amount, max amount, party styles).
CAUSES = {
    "scjg": [
        ("销售过期食品", 500, 8000, ["超市", "百货店"]),
        ("未取得食品经营许可从事食品经营", 1000, 20000, ["餐馆", "烧烤店", "person"]),
        ("销售不符合食品安全标准的食品", 2000, 50000, ["超市", "商贸"]),
        ("发布虚假广告", 5000, 80000, ["旅游开发", "商贸"]),
        ("不明码标价", 200, 5000, ["百货店", "餐馆"]),
        ("使用未经检定的计量器具", 500, 3000, ["百货店", "person"]),
        ("销售过期药品", 2000, 30000, ["大药房"]),
        ("使用未经定期检验的特种设备", 30000, 60000, ["酒店管理", "旅游开发"]),
        ("无照经营", 500, 5000, ["person"]),
    ],
    "zrzy": [
        ("未经批准擅自占用土地建房", 5000, 80000, ["person"]),
        ("非法占用农用地", 3000, 60000, ["person", "农牧科技"]),
        ("未取得采矿许可证擅自开采砂石", 20000, 200000, ["砂石", "建材"]),
        ("破坏耕地", 5000, 50000, ["person"]),
        ("未按规定履行土地复垦义务", 10000, 100000, ["建材", "旅游开发"]),
        ("超越批准的矿区范围采矿", 50000, 300000, ["砂石"]),
    ],
    "jtys": [
        ("超限运输", 500, 30000, ["person", "运输", "物流"]),
        ("未取得道路运输经营许可擅自从事道路客运经营", 10000, 30000, ["person"]),
        ("客运车辆超员", 200, 2000, ["运输"]),
        ("未按规定对营运车辆进行维护和检测", 1000, 5000, ["运输", "物流"]),
        ("擅自占用、挖掘公路", 1000, 30000, ["建材", "person"]),
        ("损坏公路附属设施", 500, 5000, ["person"]),
    ],
    "nync": [
        ("经营劣质农药", 5000, 50000, ["农资经营部"]),
        ("经营未取得农药登记证的农药", 3000, 30000, ["农资经营部"]),
        ("销售假种子", 2000, 40000, ["农资经营部", "农牧科技"]),
        ("经营未经检疫的动物产品", 1000, 10000, ["person", "餐馆"]),
        ("销售不合格肥料", 1000, 10000, ["农资经营部"]),
        ("违规使用禁用兽药", 2000, 20000, ["person", "兽药店"]),
    ],
}
MAJOR_AT = {"scjg": 30000, "zrzy": 70000, "jtys": 20000, "nync": 20000}
EXPORTED = {"scjg": D(2025, 11, 14), "zrzy": D(2025, 11, 12), "jtys": D(2025, 11, 13),
            "nync": D(2025, 11, 10)}
COUNTS = {"scjg": 25, "zrzy": 15, "jtys": 12, "nync": 10}


def rand_workday(lo, hi):
    span = (hi - lo).days
    return next_workday(lo + dt.timedelta(days=rng.randrange(0, span + 1)))


def stamp(d, lo_h=8, hi_h=18):
    """A datetime on day d during office hours."""
    return dt.datetime(d.year, d.month, d.day, rng.randrange(lo_h, hi_h), rng.randrange(0, 60),
                       rng.randrange(0, 60))


def new_case(unit, cause, lo, hi, styles, filed=None):
    p, pid = party(rng.choice(styles))
    return {
        "unit": unit, "cause": cause, "party": p, "party_id": pid,
        "filed": filed or rand_workday(D(2025, 1, 6), D(2025, 10, 24)),
        "amount": float(rng.randrange(lo // 100, hi // 100 + 1) * 100),
        "crime": False, "transfer": None, "decided": None, "closed": None,
        "flaw": None, "platform": None,
    }


def finish_dates(c):
    """Decision 5–45 days after filing, closure 1–25 days after decision; both on
    working days and not after the department's export date (else left open)."""
    exp = EXPORTED[c["unit"]]
    if c["crime"]:
        c["filed"] = c["transfer"] - dt.timedelta(days=rng.randrange(8, 30))
        c["filed"] = min(next_workday(c["filed"]), c["transfer"])
        c["closed"] = add_workdays(c["transfer"], rng.randrange(2, 8))
        last = c["closed"]
    else:
        if c["decided"] is None:
            c["decided"] = next_workday(c["filed"] + dt.timedelta(days=rng.randrange(5, 46)))
        if c["closed"] is None:
            c["closed"] = next_workday(c["decided"] + dt.timedelta(days=rng.randrange(1, 26)))
        if c["decided"] > exp:
            c["decided"] = c["closed"] = None
        elif c["closed"] > exp:
            c["closed"] = None
        if c["decided"] is None:
            c["amount"] = None  # still under investigation: no penalty yet
        last = c["closed"] or c["decided"] or c["filed"]
    c["updated"] = stamp(last)
    c["major"] = bool(c["decided"]) and c["amount"] >= MAJOR_AT[c["unit"]]
    c["title"] = f"{c['party']}{c['cause']}案"


# --- the hand-placed cases -------------------------------------------------
# Criminal suspicions (涉嫌犯罪) and what the two-law platform will say about them.
CRIMES = [
    # unit, cause, party style, amount, transfer decided, platform plan
    ("scjg", "销售假冒注册商标的商品", "商贸", 86400.0, D(2025, 3, 18), "on_time"),
    ("scjg", "生产经营不符合食品安全标准的食品", "餐馆", 12600.0, D(2025, 4, 2), "late"),
    ("scjg", "销售伪劣产品", "商贸", 58000.0, D(2025, 8, 20), "missing"),
    ("zrzy", "非法占用农用地", "person", 45000.0, D(2025, 5, 14), "fullwidth"),
    ("zrzy", "未取得采矿许可证擅自开采砂石", "砂石", 136000.0, D(2025, 7, 9), "no_police"),
    ("jtys", "未取得道路危险货物运输许可擅自从事道路危险货物运输", "运输", 30000.0,
     D(2025, 6, 10), "amount"),
    ("jtys", "使用伪造的道路运输证", "person", 5000.0, D(2025, 9, 3), "missing"),
    ("nync", "销售假劣农药", "农资经营部", 62000.0, D(2025, 4, 22), "on_time_declined"),
    ("nync", "非法捕捞水产品", "person", 1800.0, D(2025, 9, 30), "holiday_edge"),
]

cases = {u: [] for u in COUNTS}
for unit, cause, style, amount, transfer, plan in CRIMES:
    c = new_case(unit, cause, 0, 0, [style])
    c.update(amount=amount, crime=True, transfer=transfer, platform=plan)
    cases[unit].append(c)

# scjg: one impossible decision date, one amount in Chinese numerals, one 以罚代刑 candidate.
bad_date = new_case("scjg", "销售过期食品", 500, 3000, ["超市"], filed=D(2025, 2, 17))
bad_date.update(decided=D(2025, 2, 28), closed=D(2025, 3, 10), amount=1500.0, flaw="date")
bad_amount = new_case("scjg", "不明码标价", 500, 2000, ["百货店"], filed=D(2025, 6, 9))
bad_amount.update(amount=1200.0, flaw="amount")
penal_only = new_case("scjg", "销售假冒注册商标的商品", 0, 0, ["商贸"], filed=D(2025, 7, 14))
penal_only.update(amount=68000.0, flaw="r6")
cases["scjg"] += [bad_date, bad_amount, penal_only]

for unit, n in COUNTS.items():
    while len(cases[unit]) < n:
        cause, lo, hi, styles = rng.choice(CAUSES[unit])
        cases[unit].append(new_case(unit, cause, lo, hi, styles))
    for c in cases[unit]:
        finish_dates(c)
    cases[unit].sort(key=lambda c: (c["filed"], c["party"]))
    no = 0
    for c in cases[unit]:
        no += rng.randrange(1, 4)
        c["no"] = no

# Hand-placed after every random draw, so that the rest of the sample stays as it was: a case
# 农业农村 marked 涉嫌犯罪 itself, then penalised and closed with no transfer decision — the
# plainest 以罚代刑 (国务院令第310号 art. 11: a penalty does not replace the transfer), which R6
# finds.
marked = {
    "unit": "nync", "cause": "销售假劣种子", "party": "稻城县亚丁种业有限公司",
    "party_id": uscc("MA6R2K7W", False), "filed": D(2025, 10, 27), "amount": 58000.0,
    "crime": True, "transfer": None, "decided": D(2025, 11, 5), "closed": D(2025, 11, 7),
    "flaw": "marked", "platform": None, "no": cases["nync"][-1]["no"] + 2,
}
marked.update(updated=dt.datetime(2025, 11, 7, 16, 20, 5), major=True,
              title=f"{marked['party']}{marked['cause']}案")
cases["nync"].append(marked)


def case_no(c, left="〔", right="〕", fullwidth=False):
    prefix = UNITS[c["unit"]][1]
    year, num = "2025", str(c["no"])
    if fullwidth:
        fw = str.maketrans("0123456789", "０１２３４５６７８９")
        year, num = year.translate(fw), num.translate(fw)
    return f"{prefix}{left}{year}{right}{num}号"


def money_plain(a):
    return "" if a is None else f"{a:.2f}"


def money_sep(a):
    return "" if a is None else f"{a:,.2f}"


def yn(b, yes="是", no="否"):
    return yes if b else no


# ---------------------------------------------------------------------------
def write_scjg():
    path = OUT / "drop" / "scjg" / "scjg-2025.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for c in cases["scjg"]:
        slash = rng.random() < 0.6
        fmt = (lambda d: f"{d.year}/{d.month}/{d.day}") if slash else (lambda d: d.isoformat())
        f = lambda d: fmt(d) if d else ""
        a = c["amount"]
        if a is None:
            amount = ""
        elif a >= 1000 and rng.random() < 0.6:
            amount = money_sep(a)
        else:
            amount = f"{a:.0f}" if rng.random() < 0.5 else money_plain(a)
        decided = f(c["decided"])
        if c["flaw"] == "date":
            decided = "2025-02-30"
        if c["flaw"] == "amount":
            amount = "一千二"
        up = c["updated"]
        updated = (f"{up.year}/{up.month}/{up.day} {up:%H:%M}" if slash
                   else up.strftime("%Y-%m-%d %H:%M:%S"))
        rows.append([UNITS["scjg"][0], case_no(c), c["title"], c["party"], c["party_id"],
                     c["cause"], f(c["filed"]), decided, f(c["closed"]), amount,
                     yn(c["major"]), yn(c["crime"]), f(c["transfer"]), updated])
    with open(path, "w", encoding="gbk", newline="") as fh:
        w = csv.writer(fh)  # CRLF line ends, like a Windows export
        w.writerow(HEADERS)
        w.writerows(rows)
    return path


def write_zrzy():
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    path = OUT / "drop" / "zrzy" / "zrzy-2025.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    ws = wb.active
    ws.title = "2025年台账"
    ws.append(["稻城县自然资源局行政处罚案件台账(2025年)"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADERS))
    ws["A1"].font = Font(bold=True, size=14)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append(HEADERS)
    cn = lambda d: f"{d.year}年{d.month}月{d.day}日" if d else None
    for i, c in enumerate(cases["zrzy"]):
        no = case_no(c, "[", "]") if i % 2 == 0 else case_no(c, "（", "）")
        ws.append([UNITS["zrzy"][0], no, c["title"], c["party"], c["party_id"], c["cause"],
                   c["filed"], c["decided"], cn(c["closed"]), c["amount"], yn(c["major"]),
                   yn(c["crime"]), cn(c["transfer"]), c["updated"]])
        r = ws.max_row
        ws.cell(r, 7).number_format = "yyyy-mm-dd"
        ws.cell(r, 8).number_format = "yyyy/m/d"
        ws.cell(r, 10).number_format = "#,##0.00"
        ws.cell(r, 14).number_format = "yyyy-mm-dd hh:mm:ss"
    for col, width in zip("ABCDEFGHIJKLMN", [20, 22, 44, 28, 22, 30, 12, 12, 16, 14, 8, 8, 16, 20]):
        ws.column_dimensions[col].width = width
    fixed = dt.datetime(2025, 11, 12, 9, 0, 0)
    wb.properties.creator = "稻城县自然资源局"
    wb.properties.created = fixed
    wb.properties.modified = fixed
    buf = io.BytesIO()
    wb.save(buf)
    # Rebuild the zip with fixed member times and fixed core.xml stamps: byte-stable output.
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*",
                              rb"\g<1>2025-11-12T09:00:00Z", data)
            zi = zipfile.ZipInfo(info.filename, date_time=(2025, 11, 12, 9, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, data)
    return path


def write_jtys():
    path = OUT / "drop" / "jtys" / "jtys-2025.xls"
    path.parent.mkdir(parents=True, exist_ok=True)
    out = ['<html xmlns:o="urn:schemas-microsoft-com:office:office" '
           'xmlns:x="urn:schemas-microsoft-com:office:excel">',
           '<head>', '<meta charset="utf-8">',
           '<meta http-equiv="Content-Type" content="application/vnd.ms-excel; charset=utf-8">',
           '<title>行政处罚案件导出</title>', '</head>', '<body>',
           '<table border="1" cellspacing="0">',
           "<tr>" + "".join(f"<th>{h}</th>" for h in HEADERS) + "</tr>"]
    ymd = lambda d: d.strftime("%Y%m%d") if d else ""
    aliases = {}
    for i, c in enumerate(cases["jtys"]):
        unit = UNITS["jtys"][0]
        if i % 3 == 1:
            unit = "县交通局"
        elif i == 5:
            unit = "稻城县交通运输综合行政执法大队"
        aliases[i] = unit
        a = c["amount"]
        k = rng.random()
        if a is None:
            amount = ""
        elif a >= 10000 and a % 1000 == 0 and k < 0.35:
            amount = f"{a / 10000:g}万"
        elif k < 0.6:
            amount = f"{a:.0f}元"
        else:
            amount = money_sep(a)
        c["amount_text"] = amount
        cells = [unit, case_no(c), c["title"], c["party"], c["party_id"], c["cause"],
                 ymd(c["filed"]), ymd(c["decided"]), ymd(c["closed"]), amount, yn(c["major"]),
                 yn(c["crime"]), ymd(c["transfer"]), c["updated"].strftime("%Y-%m-%d %H:%M:%S")]
        tds = []
        for j, v in enumerate(cells):
            style = ' style="mso-number-format:\'\\@\'"' if j == 4 else ""
            tds.append(f"<td{style}>{html.escape(v)}</td>")
        out.append("<tr>" + "".join(tds) + "</tr>")
    out += ["</table>", "</body>", "</html>", ""]
    path.write_text("\n".join(out), encoding="utf-8", newline="\r\n")
    return path, aliases


def write_nync():
    path = OUT / "drop" / "nync" / "nync-2025.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    headers = [{"结案日期": "办结日期", "罚没金额(元)": "涉案金额(元)"}.get(h, h) for h in HEADERS]
    iso = lambda d: d.isoformat() if d else ""
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(headers)
        for c in cases["nync"]:
            w.writerow([UNITS["nync"][0], case_no(c), c["title"], c["party"], c["party_id"],
                        c["cause"], iso(c["filed"]), iso(c["decided"]), iso(c["closed"]),
                        money_plain(c["amount"]), yn(c["major"], "Y", "N"),
                        yn(c["crime"], "Y", "N"), iso(c["transfer"]),
                        c["updated"].strftime("%Y-%m-%d %H:%M")])
    return path


def write_referrals():
    path = OUT / "platform" / "referrals.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    hm = lambda t: t.strftime("%Y-%m-%d %H:%M")
    rows, notes, missing = [], [], []
    crimes = [c for u in COUNTS for c in cases[u] if c["crime"] and c["transfer"]]
    crimes.sort(key=lambda c: c["transfer"])
    for c in crimes:
        plan, t = c["platform"], c["transfer"]
        deadline = add_workdays(t, 3)
        if plan == "missing":
            missing.append(c)
            continue
        no, amount = case_no(c), c["amount"]
        moved = stamp(add_workdays(t, 1) if rng.random() < 0.5 else t, 9, 17)
        entered = moved + dt.timedelta(minutes=rng.randrange(5, 90))
        police, police_on = "立案", moved.date() + dt.timedelta(days=rng.randrange(1, 3))
        if plan == "late":
            moved = dt.datetime(2025, 4, 3, 9, 0)
            entered = dt.datetime(2025, 4, 14, 15, 30)  # deadline was 2025-04-08 (清明 04-04..06)
            police_on = D(2025, 4, 7)
        elif plan == "fullwidth":
            no = case_no(c, "（", "）", fullwidth=True)
        elif plan == "amount":
            amount = amount / 10  # 30000 in the ledger, 3000 on the platform
        elif plan == "no_police":
            police, police_on = "", None
        elif plan == "on_time_declined":
            police, police_on = "不予立案", moved.date() + dt.timedelta(days=8)
        elif plan == "holiday_edge":
            # decided 09-30; 10-01..08 off, 10-09 (1), 10-10 (2), 10-11 make-up Saturday (3).
            moved = dt.datetime(2025, 9, 30, 17, 40)
            entered = dt.datetime(2025, 10, 11, 16, 20)
            police_on = D(2025, 10, 3)
        assert (entered.date() <= deadline) == (plan != "late"), (plan, entered, deadline)
        rows.append([UNITS[c["unit"]][0], no, c["party"], hm(entered), hm(moved), "稻城县公安局",
                     money_plain(amount), police, police_on.isoformat() if police_on else ""])
        notes.append((len(rows) + 1, c, plan, deadline))
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["移送单位", "案号", "当事人", "录入时间", "移送时间", "接收机关", "涉案金额(元)",
                    "公安立案决定", "公安决定日期"])
        w.writerows(rows)
    return path, notes, missing


def write_entries():
    path = OUT / "platform" / "entries.csv"
    penalised = [c for u in COUNTS for c in cases[u]
                 if c["decided"] and c["flaw"] not in ("date", "marked")]
    picked = sorted(rng.sample(penalised, round(len(penalised) * 2 / 3)),
                    key=lambda c: (c["unit"], c["no"]))
    late_ids = {id(c) for c in rng.sample(picked, 3)}
    rows = []
    for c in picked:
        if id(c) in late_ids:
            day = add_workdays(c["decided"], rng.randrange(10, 16))
        else:
            day = add_workdays(c["decided"], rng.randrange(0, 6)) if rng.random() < 0.8 \
                else c["decided"]
        rows.append((stamp(day), c))
    rows.sort(key=lambda r: r[0])
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["执法单位", "案号", "当事人", "录入时间"])
        for t, c in rows:
            w.writerow([UNITS[c["unit"]][0], case_no(c), c["party"], t.strftime("%Y-%m-%d %H:%M")])
    late = [(i + 2, c, t) for i, (t, c) in enumerate(rows) if id(c) in late_ids]
    entered = {id(c) for _, c in rows}
    not_entered = [c for c in penalised if id(c) not in entered]
    return path, len(penalised), len(rows), late, not_entered


def row_of(unit, pred, first=2):
    return [i + first for i, c in enumerate(cases[unit]) if pred(c)]


def write_readme(jtys_aliases, ref_notes, ref_missing, ent):
    _, n_pen, n_ent, ent_late, not_entered = ent
    r = lambda unit, flaw: row_of(unit, lambda c: c["flaw"] == flaw)[0]
    crime_rows = lambda unit, first=2: ", ".join(
        f"{i}" for i in row_of(unit, lambda c: c["crime"], first))
    majors = {u: len(row_of(u, lambda c: c["major"])) for u in COUNTS}
    alias_rows = [(i + 2, a) for i, a in jtys_aliases.items() if a != UNITS["jtys"][0]]
    plan_txt = {
        "on_time": "entered on time",
        "late": "entered late, on 2025-04-14 (移送时间 2025-04-03 was on time)",
        "fullwidth": "entered on time, case number written with full-width digits and （）",
        "no_police": "entered on time, no police decision yet (an R10 candidate)",
        "amount": "entered on time, 涉案金额 {platform} where the ledger says `{ledger}` (R3 mismatch)",
        "on_time_declined": "entered on time, police declined to file (不予立案)",
        "holiday_edge": "entered on 2025-10-11, the 调休 make-up Saturday, which is the 3rd working "
                        "day after 2025-09-30 — on time only with the 2025 holiday table",
    }
    ref_lines = []
    for row, c, plan, deadline in ref_notes:
        txt = plan_txt[plan].format(platform=money_plain(c["amount"] / 10),
                                    ledger=c.get("amount_text", money_plain(c["amount"])))
        ref_lines.append(f"row {row} ({case_no(c)}, 移送决定 {c['transfer']}, deadline {deadline}): "
                         f"{txt}")
    miss = "; ".join(f"{case_no(c)} ({UNITS[c['unit']][0]}, 移送决定 {c['transfer']})"
                     for c in ref_missing)
    late = "; ".join(f"row {row} ({case_no(c)}, decided {c['decided']}, entered {t:%Y-%m-%d})"
                     for row, c, t in ent_late)
    ne = ", ".join(case_no(c) for c in sorted(not_entered, key=lambda c: (c["unit"], c["no"])))
    r6 = cases["scjg"][r("scjg", "r6") - 2]
    text = f"""# Sample data: Daocheng County (稻城县), 2025

Generated by `scripts/make-sample-data.py` (fixed seed {SEED}; re-running it rewrites the same
bytes). Everything is invented: parties, ID numbers (area code 513337 with a computed check
character), 统一社会信用代码 (with computed check characters) and cases. Row numbers below count the
header row as row 1 (in the XLSX, the title row is row 1 and the header row 2). Dates are in 2025
and consistent (立案 ≤ 处罚决定 ≤ 结案; 立案 ≤ 移送决定 ≤ 结案) except where a row is said to be bad.
Transferred (涉嫌犯罪) cases have no 处罚决定日期; their amount column carries the amount involved
(涉案金额), which is what the platform reports too. The unit 稻城县林业和草原局 (lycy) has no drop
file: it is configured but has no cases.

**`drop/scjg/scjg-2025.csv`** — 市场监管 ledger, {COUNTS['scjg']} cases, **GBK**-encoded CSV with CRLF
line ends and the Chinese headers of SPEC §2; case numbers with 〔〕; dates as `2025/3/12` in some
rows and `2025-03-12` in others; amounts as `12,500.00` (quoted), `800` or `800.00`. Deliberately
bad: **row {r('scjg', 'date')}, 处罚决定日期 = `2025-02-30`** (impossible date) and **row {r('scjg', 'amount')},
罚没金额(元) = `一千二`** (not a number). 涉嫌犯罪 = 是 in rows {crime_rows('scjg')}; {majors['scjg']} major
penalties. Row {r('scjg', 'r6')} ({case_no(r6)}, 销售假冒注册商标的商品, 68,000.00 yuan, no transfer) is a
possible 以罚代刑 case for R6 once a threshold for that cause is configured.

**`drop/zrzy/zrzy-2025.xlsx`** — 自然资源 ledger, {COUNTS['zrzy']} cases, a real XLSX (sheet
`2025年台账`): row 1 is the merged title `稻城县自然资源局行政处罚案件台账(2025年)`, row 2 the header,
data from row 3. 立案日期, 处罚决定日期 and 更新时间 are Excel date cells; 结案日期 and 移送决定日期 are
text like `2025年3月12日`; amounts are numeric cells. Case numbers are written `稻自然资罚[2025]N号`
in odd data rows (3, 5, …) and `稻自然资罚（2025）N号` in even ones; the platform files write them
with 〔〕. 涉嫌犯罪 = 是 in rows {crime_rows('zrzy', 3)}; {majors['zrzy']} major penalties. No bad rows.

**`drop/jtys/jtys-2025.xls`** — 交通运输 export, {COUNTS['jtys']} cases: not a real Excel file but an
**HTML table** (UTF-8, `<meta charset="utf-8">`, CRLF) saved as `.xls`, `<tr><th>` header then
`<td>` cells. Dates as `20250312`, 更新时间 as `2025-03-12 10:15:00`, amounts as `2,000.00`, `3000元`
or `1.5万` (all valid per SPEC §2). 执法单位 is written by an alias in rows
{", ".join(f"{i} (`{a}`)" for i, a in alias_rows)} — these resolve through the unit's `aliases`
and are not errors. 涉嫌犯罪 = 是 in rows {crime_rows('jtys')}. No bad rows.

**`drop/nync/nync-2025.csv`** — 农业农村 ledger, {COUNTS['nync']} cases, **UTF-8 with BOM**, LF line
ends, with the variant headers `办结日期` (for 结案日期) and `涉案金额(元)` (for 罚没金额(元)), booleans as
`Y`/`N`, ISO dates. 涉嫌犯罪 = Y in rows {crime_rows('nync')}. No bad rows. Row
{r('nync', 'marked')} ({case_no(next(c for c in cases['nync'] if c['flaw'] == 'marked'))}) is the plainest 以罚代刑: the
department marked it 涉嫌犯罪, then penalised it on 2025-11-05 and closed it with no transfer
decision (R6; it is not on the platform's case entries either, R4).

**`platform/referrals.csv`** — two-law platform (两法衔接平台) transfers, UTF-8, LF, headers 移送单位,
案号, 当事人, 录入时间, 移送时间 (`2025-04-03 10:15`), 接收机关 (稻城县公安局), 涉案金额(元), 公安立案决定,
公安决定日期. One row per 涉嫌犯罪 case except the ones that never reached the platform (R1
*missing*): {miss}. The entry deadline is 3 working days after 移送决定日期 on the 2025 State
Council table.
{"".join(chr(10) + "- " + l for l in ref_lines)}

**`platform/entries.csv`** — platform case entries (有案必录), UTF-8, LF, headers 执法单位, 案号,
当事人, 录入时间; {n_ent} of the {n_pen} penalty decisions (the impossible-date case is left out),
case numbers with 〔〕. Entered later than 7 working days after the decision (R4 late): {late}.
Penalty decisions with no entry at all: {ne}.
"""
    (OUT / "README.md").write_text(text, encoding="utf-8")


def main():
    written = [write_scjg(), write_zrzy()]
    p, aliases = write_jtys()
    written += [p, write_nync()]
    p, notes, missing = write_referrals()
    written.append(p)
    ent = write_entries()
    written.append(ent[0])
    write_readme(aliases, notes, missing, ent)
    written.append(OUT / "README.md")
    for p in written:
        print(p.relative_to(OUT.parent.parent) if OUT.is_relative_to(ROOT) else p)


if __name__ == "__main__":
    main()
