#!/usr/bin/env bash
# Province-scale cycle on both backends (issue 24): the same data — 5,000 enforcement units,
# 2,000,000 cases, their platform referrals and case-file reviews — taken through one cycle of
# liandong's jobs on a SQLite store and on a PostgreSQL store in the same run, each step timed
# against the same step on the other backend. Target: PostgreSQL <= 2x SQLite, step by step.
#
#   scripts/bench-province.sh
#
# Environment (all optional):
#   BENCH_DIR=bench-out/province    where the data, stores, logs and results go
#   BENCH_UNITS=5000                enforcement units (plus the liaison office)
#   BENCH_CASES=2000000             cases (about 3% of them transfers)
#   BENCH_RUNS=3                    runs per step; the median is reported
#   BENCH_SKIP_BUILD=1              do not run `cargo build --release`
#   LIANDONG_BIN=target/release/liandong   (copied to $BENCH_DIR/liandong; both cycles run the copy)
#   BENCH_PG_ADMIN=postgres://postgres@127.0.0.1:5432/postgres    where databases are made
#   BENCH_PG_DB=liandong_province_pg                               the database (re-created)
#   BENCH_PG_MAX=2.0                the target: each step on PostgreSQL <= this x on SQLite
#
# Steps: build (once); generate units.toml (with contacts), closed.csv (with transfers) and
# reviews.csv (scripts/gen-bench-obligations.py --province) and from the cases the platform's
# referrals (scripts/gen-bench-referrals.py) unless present with the right counts; write one
# configuration per backend (the units, three file sources, R9 on, e-mail as .eml files, never
# sent here). Then on SQLite, and after it on PostgreSQL, each step BENCH_RUNS times:
#   sync        `sync` into a fresh store (untimed before each run: the SQLite file removed, or
#               the database dropped and created; `migrate`); every source ok, nothing quarantined
#   resync      `sync` again, nothing changed: nothing inserted or updated
#   evaluate    `evaluate --full --as-of 2026-01-12T09:00+08:00`: the first run writes every
#               finding (shown on its own), the later ones find them unchanged
#   obligations `obligations --as-of 2025-12-31 --format json` (quarter 2025Q4): every unit listed
#   report      `report weekly --as-of 2026-01-12T09:00+08:00 --format all --output DIR` (the
#               folder emptied before each run): six files, every unit in the JSON
#   notify      `notify --queue-only --as-of 2026-01-12T09:00+08:00`: builds and queues the
#               digests in the outbox, sends nothing (the outbox and notice keys emptied before
#               each run, untimed)
# Every command runs with `--log warn`. After each backend's cycle (untimed) its store, findings,
# obligations, report and outbox are summed up, and the two backends must agree: row counts
# (`status --format json`, also against the CSVs), findings per rule and state and every
# finding's key, state, dates and facts (`findings --all --format json`, ids aside), the first
# evaluation's summary, the obligations JSON and the report's JSON, CSV, text and HTML (byte for
# byte), the queued digests (kind, state, address, items, subject). A line says they agree, or
# "check FAILED" and where they differ. Wall time (to the millisecond) and peak RSS come from
# /usr/bin/time -f '%e %M' (the RSS is liandong's process: PostgreSQL's own memory is the
# server's). The table goes to stdout and to $BENCH_DIR/province-results.txt. The exit status
# is 0 whatever the results (2 only when the measurement cannot be set up: no binary, no psql,
# no server, no valid configuration).
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-bench-out/province}     # before the library, which defaults it otherwise
# shellcheck source-path=SCRIPTDIR/.. source=scripts/bench-lib.sh
source scripts/bench-lib.sh     # the environment, tools, build, runs and table the benchmarks share

BENCH_UNITS=${BENCH_UNITS:-5000}
BENCH_CASES=${BENCH_CASES:-2000000}
BENCH_PG_MAX=${BENCH_PG_MAX:-2.0}
BENCH_PG_ADMIN=${BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
BENCH_PG_DB=${BENCH_PG_DB:-liandong_province_pg}
PG_URL=${BENCH_PG_ADMIN%/*}/$BENCH_PG_DB
AS_OF=2026-01-12T09:00:00+08:00     # a Monday after every date of the data: the weekly report's slot
OBL_AS_OF=2025-12-31                # the last day of 2025Q4
WEEK=2026-W03

need_tools bench-province
if ! command -v psql >/dev/null 2>&1 || ! psql "$BENCH_PG_ADMIN" -qAtc 'SELECT 1' >/dev/null 2>&1; then
    echo "bench-province: need psql and a PostgreSQL server at $BENCH_PG_ADMIN" >&2
    exit 2
fi
bench_dir
build_once
[ -z "$build_note" ] || { echo "bench-province: $build_note" >&2; exit 2; }
# Both cycles run one copy of the binary, so that a build finishing meanwhile cannot change it
# between the backends (or between a step and its check).
BIN_FROM="$LIANDONG_BIN, built $(date -u -r "$LIANDONG_BIN" '+%Y-%m-%d %H:%M UTC')"
cp "$LIANDONG_BIN" "$DIR/liandong.tmp"
mv "$DIR/liandong.tmp" "$DIR/liandong"
LIANDONG_BIN=$DIR/liandong
BIN_SUM=$(sha256sum "$LIANDONG_BIN" | cut -c1-16)

# --- 1. data ---------------------------------------------------------------------------------
CLOSED=$DIR/closed.csv
REVIEWS=$DIR/reviews.csv
REFERRALS=$DIR/referrals.csv
have_units=0 have_cases=-1 have_contacts=0 have_transfers=0
if [ -f "$DIR/units.toml" ]; then
    have_units=$(grep -c '^\[\[units\]\]' "$DIR/units.toml" || true)
    have_contacts=$(grep -c '^contacts = ' "$DIR/units.toml" || true)
fi
if [ -f "$CLOSED" ]; then
    have_cases=$(($(wc -l <"$CLOSED") - 1))
    head -n 1 "$CLOSED" | grep -q '移送决定日期' && have_transfers=1
fi
if [ "$have_units" -ne $((BENCH_UNITS + 1)) ] || [ "$have_contacts" -ne $((BENCH_UNITS + 1)) ] \
    || [ "$have_cases" -ne "$BENCH_CASES" ] || [ "$have_transfers" -ne 1 ] || [ ! -f "$REVIEWS" ]; then
    say "generating $BENCH_UNITS units, $BENCH_CASES cases (with transfers) and their reviews into $DIR"
    rm -f "$REFERRALS"
    "$PYTHON" "$ROOT/scripts/gen-bench-obligations.py" --province "$BENCH_UNITS" "$BENCH_CASES" "$DIR"
else
    say "reusing $DIR/units.toml, closed.csv, reviews.csv ($BENCH_UNITS units, $BENCH_CASES cases)"
fi
if [ ! -f "$REFERRALS" ] || [ "$CLOSED" -nt "$REFERRALS" ]; then
    say "generating the platform's referrals from $CLOSED"
    "$PYTHON" "$ROOT/scripts/gen-bench-referrals.py" "$CLOSED" "$DIR"   # (also changes-a/b.csv, unused here)
else
    say "reusing $REFERRALS"
fi
n_transfers=$(awk -F, 'NR > 1 && $11 == "是" && $12 != "" { n++ } END { print n + 0 }' "$CLOSED")
n_referrals=$(($(wc -l <"$REFERRALS") - 1))
n_reviews=$(($(wc -l <"$REVIEWS") - 1))
csv_mib=$(awk -v b="$(($(wc -c <"$CLOSED") + $(wc -c <"$REFERRALS") + $(wc -c <"$REVIEWS")))" 'BEGIN { printf "%.1f", b / 1048576 }')

# --- 2. the configurations ---------------------------------------------------------------------
SQLITE_DB=$DIR/province.db
# write_config BACKEND STORE_URL: $DIR/province-BACKEND.toml.
write_config() {
    {
        echo "# Written by scripts/bench-province.sh: $BENCH_UNITS enforcement units with their contacts and"
        echo "# the liaison office, their cases, reviews and platform referrals, R9 on; store: $1."
        printf '[store]\nurl = "%s"\n\n' "$2"
        grep -v '^#' "$DIR/units.toml"
        toml_file_source province-cases cases "$CLOSED" utf-8
        toml_file_source province-reviews reviews "$REVIEWS" utf-8
        toml_file_source province-referrals referrals "$REFERRALS" utf-8
        printf '\n[rules]\nr9_enabled = true\n'
        printf '\n[notify.email]\ntransport = "file"\ndir = "%s"\nfrom = "稻城县府检联动办公室 <fjld@example.gov.cn>"\n' \
            "$DIR/eml-$1"
    } >"$DIR/province-$1.toml"
}
write_config sqlite "sqlite://$SQLITE_DB"
write_config pg "$PG_URL"
for b in sqlite pg; do
    if ! "$LIANDONG_BIN" --config "$DIR/province-$b.toml" check-config >"$DIR/$b-check-config.log" 2>&1; then
        echo "bench-province: check-config failed for $DIR/province-$b.toml:" >&2
        cat "$DIR/$b-check-config.log" >&2
        exit 2
    fi
done

# --- 3. the steps, on the backend in BK with its CONFIG -----------------------------------------
BK=sqlite
CONFIG=$DIR/province-sqlite.toml
# sql QUERY: runs QUERY on the current backend's store; rows as a|b|c.
sql() {
    if [ "$BK" = pg ]; then
        psql "$PG_URL" -qAt -v ON_ERROR_STOP=1 -c "$1"
    else
        sqlite3 -batch -separator '|' "$SQLITE_DB" "$1"
    fi
}

# Preparations (untimed, before each run; called by name through measure_step).
# shellcheck disable=SC2317
fresh_store() {
    if [ "$BK" = pg ]; then
        psql "$BENCH_PG_ADMIN" -qAt -c "DROP DATABASE IF EXISTS $BENCH_PG_DB WITH (FORCE)" \
            -c "CREATE DATABASE $BENCH_PG_DB" >/dev/null || return 1
    else
        rm -f "$SQLITE_DB" "$SQLITE_DB"-journal "$SQLITE_DB"-wal "$SQLITE_DB"-shm
    fi
    "$LIANDONG_BIN" --config "$CONFIG" --log warn migrate >"$DIR/$BK-migrate.log" 2>&1
}
# shellcheck disable=SC2317
fresh_report() { rm -rf "$DIR/weekly-$BK"; }
# shellcheck disable=SC2317
# On PostgreSQL the tables are truncated: rows deleted run after run on a server without
# autovacuum (as here) would leave each run a larger table to write into (the notices grew
# to 613 MB for 367,633 rows) and measure the bloat rather than the queueing.
empty_outbox() {
    rm -rf "$DIR/eml-$BK"
    if [ "$BK" = pg ]; then
        sql "TRUNCATE deliveries, notices, outbox;" >/dev/null
    else
        sql "DELETE FROM deliveries; DELETE FROM notices; DELETE FROM outbox;" >/dev/null
    fi
}

# Checks of a run's output (see measure_step: on a failure they set CHECK_WHY).
# sync_rows LOG: the per-source table of `sync`, one "name result seen inserted updated unchanged
# quarantined unknown" line per source.
# shellcheck disable=SC2317
sync_rows() { awk 'NF >= 8 && $3 ~ /^[0-9]+$/ && $4 ~ /^[0-9]+$/' "$1"; }
# shellcheck disable=SC2317
check_first() {
    local bad
    bad=$(sync_rows "$1" | awk '$2 != "ok" || $7 != 0 || $8 != 0 || $3 != $4')
    say "  $(sync_rows "$1" | awk '{ printf "%s%s: %s seen, %s inserted", sep, $1, $3, $4; sep = "; " }')"
    if [ -n "$bad" ] || [ -z "$(sync_rows "$1")" ]; then
        say "  not a clean first load: ${bad:-no source table in $1}"
        CHECK_WHY=not_clean
        return 1
    fi
}
# shellcheck disable=SC2317
check_again() {
    local bad
    bad=$(sync_rows "$1" | awk '$2 != "ok" || $4 != 0 || $5 != 0')
    if [ -n "$bad" ] || [ -z "$(sync_rows "$1")" ]; then
        say "  the unchanged sync wrote rows: ${bad:-no source table in $1}"
        CHECK_WHY=not_unchanged
        return 1
    fi
}
# shellcheck disable=SC2317
check_eval() {
    local line
    line=$(grep -E '^as of .*\(full pass over ' "$1" | tail -n 1 || true)
    [ -n "$line" ] || { say "  no 'as of … (full pass over …' line in $1"; CHECK_WHY=no_summary; return 1; }
    say "  $line"
}
# shellcheck disable=SC2317
check_obl() {
    local n
    n=$("$PYTHON" -c 'import json, sys; t = open(sys.argv[1], encoding="utf-8").read(); print(len(json.loads(t[t.index("{"):])["units"]))' "$1" 2>/dev/null || echo bad_json)
    [ "$n" = "$BENCH_UNITS" ] || { say "  obligations lists $n units"; CHECK_WHY="units_$n"; return 1; }
}
# shellcheck disable=SC2317
check_report() {
    local n u
    n=$(find "$DIR/weekly-$BK" -type f | wc -l)
    [ "$n" -eq 6 ] || { CHECK_WHY="files_$n"; return 1; }
    u=$("$PYTHON" -c 'import json, sys; print(len(json.load(open(sys.argv[1], encoding="utf-8"))["units"]))' \
        "$DIR/weekly-$BK/weekly-$WEEK.json" 2>/dev/null || echo bad_json)
    [ "$u" = "$BENCH_UNITS" ] || { CHECK_WHY="json_units_$u"; return 1; }
}
# shellcheck disable=SC2317
check_notify() {
    local line
    line=$(grep -E 'messages queued' "$1" | tail -n 1 || true)
    say "  ${line:-no 'messages queued' line}"
    case $line in
        *": 0 messages queued"* | "") CHECK_WHY=nothing_queued; return 1 ;;
    esac
}

# cycle BACKEND: every step on BACKEND; a step that fails leaves the later ones "skipped" when
# they need its result.
cycle() {
    BK=$1
    CONFIG=$DIR/province-$BK.toml
    local k LD=("$LIANDONG_BIN" --config "$CONFIG" --log warn)
    say "--- $BK: the cycle"
    rm -f "$DIR/$BK"-*.log     # no earlier run's log may stand in for a step that does not run
    rm -rf "$DIR/weekly-$BK"
    if ! measure_step "$BK-sync" fresh_store check_first "${LD[@]}" sync; then
        for k in resync evalfirst evaluate obligations report notify; do RES[$BK-$k]="- - skipped"; done
        return 0
    fi
    measure_step "$BK-resync" nothing check_again "${LD[@]}" sync || true
    FIRST_RUN="- -"
    if measure_step "$BK-evaluate" nothing check_eval "${LD[@]}" evaluate --as-of "$AS_OF" --full; then
        read -r s kb <<<"$FIRST_RUN"
        RES[$BK-evalfirst]="$s $kb ok"
    else
        RES[$BK-evalfirst]=${RES[$BK-evaluate]}
    fi
    measure_step "$BK-obligations" nothing check_obl "${LD[@]}" obligations --as-of "$OBL_AS_OF" --format json || true
    measure_step "$BK-report" fresh_report check_report \
        "${LD[@]}" report weekly --as-of "$AS_OF" --format all --output "$DIR/weekly-$BK" || true
    measure_step "$BK-notify" empty_outbox check_notify "${LD[@]}" notify --queue-only --as-of "$AS_OF" || true
}

# summarise BACKEND: (untimed) what its cycle left, in $DIR/check-BACKEND.json.
summarise() {
    BK=$1
    CONFIG=$DIR/province-$BK.toml
    local c=$DIR/check-$BK LD=("$LIANDONG_BIN" --config "$CONFIG" --log warn)
    rm -rf "$c"; mkdir -p "$c"
    "${LD[@]}" status --format json >"$c/status.json" 2>"$c/status.err" || true
    "${LD[@]}" findings --all --as-of "$AS_OF" --format json >"$c/findings.json" 2>"$c/findings.err" || true
    sql "SELECT kind, channel, state, address, items, subject FROM outbox" 2>"$c/outbox.err" \
        | LC_ALL=C sort >"$c/outbox.txt" || true
    "$PYTHON" - "$DIR" "$BK" "$WEEK" >"$DIR/check-$BK.json" <<'EOF'
import collections, glob, hashlib, json, os, re, sys
d, bk, week = sys.argv[1:4]
c = os.path.join(d, "check-" + bk)
out = {}

def text(path):
    try:
        return open(path, encoding="utf-8").read()
    except OSError:
        return None

def doc_from(path):   # the JSON document in a log (after any stray line)
    t = text(path)
    try:
        return json.JSONDecoder().raw_decode(t[t.index("{"):])[0] if t else None
    except ValueError:
        return None

def digest(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()[:16]

try:
    s = json.load(open(os.path.join(c, "status.json"), encoding="utf-8"))
    out["store rows"] = s["store"]["records"]
    runs = [x.get("last_run") or {} for x in s["sources"]]
    out["quarantined, unknown unit, source errors"] = [
        sum(r.get("quarantined", 0) for r in runs), sum(r.get("unknown_unit", 0) for r in runs),
        sorted(x["last_error"] for x in s["sources"] if x.get("last_error"))]
except (OSError, ValueError, KeyError):
    pass
try:
    f = json.load(open(os.path.join(c, "findings.json"), encoding="utf-8"))
    out["findings by rule and state"] = dict(sorted(collections.Counter(f"{x['rule']} {x['state']}" for x in f).items()))
    canon = sorted(json.dumps({k: v for k, v in x.items() if k != "id"}, sort_keys=True, ensure_ascii=False) for x in f)
    out["findings (every key, state, date and fact)"] = f"{len(canon)} findings, sha256 {digest(chr(10).join(canon))}"
except (OSError, ValueError, KeyError):
    pass
line = next((l for l in (text(os.path.join(d, f"{bk}-evaluate-1.log")) or "").splitlines() if "pass over" in l), None)
if line:  # without its time: "full pass over N cases: a new, b changed, …"
    out["first evaluation"] = re.sub(r" in [0-9.]+ ?m?s\)", ")", line)
o = doc_from(os.path.join(d, f"{bk}-obligations-1.log"))
if o:
    units = o.get("units", [])
    out["obligations"] = {
        "units": len(units),
        "population, target, reviewed": [sum(u["sampling"][k] for u in units) for k in ("population", "target", "reviewed")],
        "states": dict(sorted(collections.Counter(u["sampling"]["state"] for u in units).items())),
        "json sha256": digest(json.dumps(o, sort_keys=True, ensure_ascii=False))}
r = os.path.join(d, f"weekly-{bk}")
rj = doc_from(os.path.join(r, f"weekly-{week}.json"))
if rj:
    out["weekly report"] = {
        "files": len(glob.glob(os.path.join(r, "*"))), "units": len(rj["units"]), "lagging": rj.get("lagging"),
        "open, overdue": [sum(u["open"] for u in rj["units"]), sum(u["overdue"] for u in rj["units"])],
        **{f"{ext} sha256": digest(text(os.path.join(r, f"weekly-{week}.{ext}")) or "")
           for ext in ("json", "csv", "txt", "html")}}
ob = text(os.path.join(c, "outbox.txt"))
if ob is not None and ob.strip():
    rows = [l.split("|") for l in ob.splitlines()]
    kinds = collections.Counter(f"{r[0]} {r[1]} {r[2]}" for r in rows)
    out["queued digests"] = {"messages": len(rows), "by kind, channel, state": dict(sorted(kinds.items())),
                             "items": sum(int(r[4]) for r in rows), "sha256": digest(ob)}
line = next((l for l in (text(os.path.join(d, f"{bk}-notify-1.log")) or "").splitlines() if "messages queued" in l), None)
if line:
    out["notify"] = line
json.dump(out, sys.stdout, ensure_ascii=False, indent=1, sort_keys=True)
EOF
}

declare -A LOAD     # the 1-minute load average at the start and end of each cycle
for b in sqlite pg; do
    LOAD[$b]=$(cut -d' ' -f1 /proc/loadavg)
    cycle "$b"
    LOAD[$b]="${LOAD[$b]} → $(cut -d' ' -f1 /proc/loadavg)"
    summarise "$b" || say "could not sum up the $b cycle"
done

# --- 4. checks: against the CSVs, then the two backends against each other --------------------
checks=$("$PYTHON" - "$DIR/check-sqlite.json" "$DIR/check-pg.json" "$BENCH_CASES" "$n_reviews" "$n_referrals" <<'EOF'
import json, sys
names = {"sqlite": "SQLite", "pg": "PostgreSQL"}
docs = {}
for bk, path in zip(("sqlite", "pg"), sys.argv[1:3]):
    try:
        docs[bk] = json.load(open(path, encoding="utf-8"))
    except (OSError, ValueError):
        docs[bk] = {}
want = {"cases": int(sys.argv[3]), "reviews": int(sys.argv[4]), "referrals": int(sys.argv[5])}
for bk, doc in docs.items():
    rows = doc.get("store rows")
    if not rows:
        print(f"store ({names[bk]}): FAIL: no row counts")
        continue
    q = doc.get("quarantined, unknown unit, source errors", [None, None, []])
    bad = [k for k, n in want.items() if rows.get(k) != n] or q[0] or q[1] or q[2]
    print(f"store ({names[bk]}): " + ", ".join(f"{rows.get(k)} {k} (CSV {n})" for k, n in want.items())
          + f"; quarantined {q[0]}, unknown unit {q[1]}" + (f"; source errors: {q[2]}" if q[2] else "")
          + ("  FAIL" if bad else ""))
a, b = docs["sqlite"], docs["pg"]
keys = sorted(set(a) | set(b))
differ = [k for k in keys if a.get(k) != b.get(k)]
if not keys:
    print("check FAILED: neither backend's cycle could be summed up")
elif differ:
    print("check FAILED: SQLite and PostgreSQL differ on " + "; ".join(
        f"{k} (SQLite {json.dumps(a.get(k), ensure_ascii=False)} vs PostgreSQL {json.dumps(b.get(k), ensure_ascii=False)})" for k in differ))
else:
    f = a.get("findings by rule and state", {})
    o = a.get("obligations", {})
    r = a.get("weekly report", {})
    n = a.get("queued digests", {})
    print(f"check: SQLite and PostgreSQL agree on all {len(keys)} things compared: "
          f"{sum(f.values())} findings ({', '.join(f'{k} {v}' for k, v in f.items())}); "
          f"obligations of {o.get('units')} units (population, target, reviewed {o.get('population, target, reviewed')}); "
          f"report of {r.get('units')} units, {r.get('lagging')} lagging, same JSON, CSV, text and HTML; "
          f"{n.get('messages')} digests queued with {n.get('items')} items")
EOF
) || checks="check FAILED: could not compare $DIR/check-sqlite.json and $DIR/check-pg.json"
printf '%s\n' "$checks" | while IFS= read -r l; do say "$l"; done

# --- 5. the table ------------------------------------------------------------------------------
# row LABEL STEP: SQLite and PostgreSQL seconds and MB (medians), the ratio, the target, the result.
row() {
    local s_s s_kb s_st p_s p_kb p_st
    read -r s_s s_kb s_st <<<"${RES[sqlite-$2]:-- - missing}"
    read -r p_s p_kb p_st <<<"${RES[pg-$2]:-- - missing}"
    awk -v label="$1" -v ss="$s_s" -v skb="$s_kb" -v sst="$s_st" -v ps="$p_s" -v pkb="$p_kb" -v pst="$p_st" \
        -v max="$BENCH_PG_MAX" '
    function cell(st, v, fmt) { return st == "ok" ? sprintf(fmt, v) : "-" }
    BEGIN {
        tgt = sprintf("PG <= %.1fx SQLite", max)
        ratio = "-"
        if (sst != "ok") result = "FAIL (SQLite " sst ")"
        else if (pst != "ok") result = "FAIL (PG " pst ")"
        else {
            r = (ss > 0) ? ps / ss : 0
            ratio = sprintf("%.2f", r)
            result = (r <= max + 1e-9) ? "PASS" : "FAIL"
        }
        printf "%-46s %9s %9s %9s %9s %9s  %-20s %s\n", label, cell(sst, ss, "%.3f"), cell(sst, skb / 1024, "%.1f"),
            cell(pst, ps, "%.3f"), cell(pst, pkb / 1024, "%.1f"), ratio, tgt, result
    }'
}
{
    echo "liandong province-scale cycle, SQLite and PostgreSQL — $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs, PostgreSQL $(psql "$BENCH_PG_ADMIN" -qAtc 'SHOW server_version')"
    echo "binary: $("$LIANDONG_BIN" --version), sha256 $BIN_SUM…, a copy of $BIN_FROM"
    echo "load average (1 min) at the start and end of each cycle: SQLite ${LOAD[sqlite]}, PostgreSQL ${LOAD[pg]} (other work on the machine skews the ratio)"
    echo "data: $BENCH_UNITS units with contacts, $BENCH_CASES cases ($n_transfers transfers), $n_referrals referrals, $n_reviews reviews; $csv_mib MiB of CSV under $DIR"
    echo "as of $AS_OF (obligations: $OBL_AS_OF, quarter 2025Q4); R9 on; seconds and peak RSS (liandong's process): the median of $BENCH_RUNS run(s); ratio: PG / SQLite"
    printf '%s\n' "$checks"
    printf '%-46s %9s %9s %9s %9s %9s  %-20s %s\n' "step" "SQLite s" "SQLite MB" "PG s" "PG MB" "PG/SQLite" "target" "result"
    row "sync (first load into a fresh store)" sync
    row "sync (again, unchanged)" resync
    row "evaluate --full (first run: writes findings)" evalfirst
    row "evaluate --full" evaluate
    row "obligations (2025Q4)" obligations
    row "report weekly --format all" report
    row "notify --queue-only (build and queue digests)" notify
} | tee "$DIR/province-results.txt"

exit 0
