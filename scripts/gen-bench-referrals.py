#!/usr/bin/env python3
"""Write the two-law platform's referrals and two sets of changed cases for the evaluation benchmark.

    python3 scripts/gen-bench-referrals.py CASES.csv OUT_DIR

CASES.csv is the output of scripts/gen-bench-cases.py (UTF-8, the 14 case headers of SPEC §2).
Writes, deterministically (fixed seed; same input, same bytes):

OUT_DIR/referrals.csv — header 执法单位,案号,当事人,录入时间,移送时间,接收机关,涉案金额(元),
    公安立案决定,公安决定日期. One row per transfer case (涉嫌犯罪=是 with a 移送决定日期), except:
      ~93% entered 1–3 calendar days after the 移送决定日期 (on time for R1's 3 working days),
      ~4%  entered late, 5–15 days after it (R2),
      ~3%  never entered (R1 missing);
    移送时间 is the decision day, 09:00–17:59 (国务院令第310号 art. 5: within 24 h);
    ~2% of the referrals carry an amount that differs from the case's (R3);
    ~1% carry the case number `无` (matched by unit, party and date);
    ~60% carry a police decision (立案 / 不予立案) dated 1–12 days after 移送时间 (R10 otherwise);
    接收机关 稻城县公安局.

OUT_DIR/changes-a.csv, OUT_DIR/changes-b.csv — exactly 1,000 rows each (fewer only when the input
    has fewer cases) in the cases format: the same 1,000 existing cases (~30 transfer cases, the
    rest ordinary), each with its 罚没金额(元) changed, differently in a and in b and different from
    the original. Syncing a, then b, then a … changes those 1,000 cases every time.
"""

import csv
import datetime as dt
import os
import random
import sys

SEED = 20250314
N_CHANGES = 1000
N_CHANGED_TRANSFERS = 30
RECEIVER = "稻城县公安局"
REF_HEADER = ["执法单位", "案号", "当事人", "录入时间", "移送时间", "接收机关", "涉案金额(元)",
              "公安立案决定", "公安决定日期"]


def fen_of(text):
    """'12345.50' -> 1234550 (the generator writes plain decimal yuan)."""
    yuan, _, frac = text.strip().partition(".")
    return int(yuan or "0") * 100 + int((frac + "00")[:2])


def yuan_of(fen):
    return f"{fen // 100}.{fen % 100:02d}"


def read_rows(path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        yield header
        yield from reader


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        sys.exit(2)
    cases_path, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(SEED)
    rnd, rint = rng.random, rng.randrange

    rows = read_rows(cases_path)
    header = next(rows)
    col = {name: i for i, name in enumerate(header)}
    need = ["执法单位", "案号", "当事人", "罚没金额(元)", "涉嫌犯罪", "移送决定日期"]
    missing = [h for h in need if h not in col]
    if missing:
        sys.exit(f"gen-bench-referrals: {cases_path} lacks the columns {missing}")
    c_unit, c_no, c_party = col["执法单位"], col["案号"], col["当事人"]
    c_amount, c_crime, c_transfer = col["罚没金额(元)"], col["涉嫌犯罪"], col["移送决定日期"]

    # --- pass 1: the referrals (one per transfer case, most of them), indices of every case ---
    stats = dict(transfers=0, on_time=0, late=0, none=0, amount_differs=0, no_number=0,
                 police=0)
    transfer_idx, ordinary_count = [], 0
    ref_path = os.path.join(out_dir, "referrals.csv")
    with open(ref_path + ".tmp", "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(REF_HEADER)
        for i, r in enumerate(rows):
            if not (r[c_crime] == "是" and r[c_transfer]):
                ordinary_count += 1
                continue
            transfer_idx.append(i)
            stats["transfers"] += 1
            decided = dt.date.fromisoformat(r[c_transfer])
            # Every draw is made for every transfer, so one choice never shifts the others.
            p_entry, p_amount, p_number, p_police, p_kind = rnd(), rnd(), rnd(), rnd(), rnd()
            on_time_days, late_days = 1 + rint(3), 5 + rint(11)
            t_hour, t_min = 9 + rint(9), rint(60)
            e_hour, e_min = 8 + rint(10), rint(60)
            delta = (1 + rint(100)) * 10000 * (1 if rnd() < 0.5 else -1)  # ±100 … 10,000 yuan
            police_days = 1 + rint(12)
            if p_entry < 0.03:
                stats["none"] += 1
                continue
            if p_entry < 0.07:
                stats["late"] += 1
                entered = decided + dt.timedelta(days=late_days)
            else:
                stats["on_time"] += 1
                entered = decided + dt.timedelta(days=on_time_days)
            transferred = dt.datetime.combine(decided, dt.time(t_hour, t_min))
            entered_at = dt.datetime.combine(entered, dt.time(e_hour, e_min))
            fen = fen_of(r[c_amount])
            if p_amount < 0.02:
                stats["amount_differs"] += 1
                fen = max(100, fen + delta)
                if fen == fen_of(r[c_amount]):
                    fen += 10000
            case_no = r[c_no]
            if p_number < 0.01:
                stats["no_number"] += 1
                case_no = "无"
            decision, decision_on = "", ""
            if p_police < 0.60:
                stats["police"] += 1
                decision = "立案" if p_kind < 0.8 else "不予立案"
                decision_on = (decided + dt.timedelta(days=police_days)).isoformat()
            out.writerow([r[c_unit], case_no, r[c_party],
                          entered_at.strftime("%Y-%m-%d %H:%M:00"),
                          transferred.strftime("%Y-%m-%d %H:%M:00"),
                          RECEIVER, yuan_of(fen), decision, decision_on])
    os.replace(ref_path + ".tmp", ref_path)
    n_cases = len(transfer_idx) + ordinary_count

    # --- which cases change: ~30 transfers, the rest ordinary, chosen by a fixed seed ---------
    n_t = min(N_CHANGED_TRANSFERS, len(transfer_idx))
    n_o = min(N_CHANGES - n_t, ordinary_count)
    chosen_t = set(rng.sample(transfer_idx, n_t))
    # Ordinary cases by their rank among the ordinary ones (no list of a million indices needed).
    chosen_o_rank = set(rng.sample(range(ordinary_count), n_o))

    # --- pass 2: the chosen rows, with a changed amount in a and in b --------------------------
    picked = []
    rows = read_rows(cases_path)
    next(rows)
    rank = 0
    transfer_set = set(transfer_idx)
    for i, r in enumerate(rows):
        if i in transfer_set:
            if i in chosen_t:
                picked.append(r)
        else:
            if rank in chosen_o_rank:
                picked.append(r)
            rank += 1
    files = {"a": [], "b": []}
    for r in picked:
        fen = fen_of(r[c_amount])
        da = (1 + rint(1000)) * 100              # +1 … +1000 yuan
        db = da + (1 + rint(1000)) * 100         # more than a, so b differs from a and the original
        for name, d in (("a", da), ("b", db)):
            row = list(r)
            row[c_amount] = yuan_of(fen + d)
            files[name].append(row)
    for name, body in files.items():
        path = os.path.join(out_dir, f"changes-{name}.csv")
        with open(path + ".tmp", "w", encoding="utf-8", newline="") as fh:
            out = csv.writer(fh, lineterminator="\n")
            out.writerow(header)
            out.writerows(body)
        os.replace(path + ".tmp", path)

    print(f"{cases_path}: {n_cases} cases, {stats['transfers']} transfers -> {ref_path}: "
          f"{stats['on_time'] + stats['late']} referrals ({stats['on_time']} on time, "
          f"{stats['late']} late, {stats['none']} transfers without one; "
          f"{stats['amount_differs']} amounts differ, {stats['no_number']} numbered 无, "
          f"{stats['police']} police decisions); changes-a/b.csv: {len(picked)} cases "
          f"({n_t} transfers)", file=sys.stderr)


if __name__ == "__main__":
    main()
