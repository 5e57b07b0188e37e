#!/usr/bin/env bash
# Obligations benchmark (issue 4): `liandong obligations` computing every unit's review sampling
# state for a quarter, over a store of 5,000 units and 2,000,000 closed cases, against the peer,
# sqlite3 running the equivalent GROUP BY (closed cases per unit, year to date) on a plain table
# of the same data.
#
#   scripts/bench-obligations.sh
#
# Environment (all optional):
#   BENCH_DIR=bench-out/obligations   where the data, databases, logs and results go
#   BENCH_UNITS=5000                  enforcement units (plus the liaison office)
#   BENCH_CASES=2000000               closed cases
#   BENCH_RUNS=3                      runs per step; the median is reported
#   BENCH_SKIP_BUILD=1                do not run `cargo build --release`
#   LIANDONG_BIN=target/release/liandong
#   BENCH_OBL_MAX=1.0                 the target: obligations <= this x the peer
#
# Steps: build (once); generate units.toml, closed.csv and reviews.csv under $BENCH_DIR unless
# they hold the right counts (scripts/gen-bench-obligations.py); write bench-obl.toml (the units,
# two file sources) and check it; setup (untimed) = a fresh store loaded by `liandong sync`, with
# `status` checked for quarantined rows; peer = sqlite3 .import of closed.csv into a fresh plain
# table (untimed), then the GROUP BY on it, timed; (info) the same GROUP BY by sqlite3 on
# liandong's store; liandong = `obligations --as-of 2025-09-30 --format json` (quarter 2025Q3),
# whose JSON must list every unit. After the runs (untimed) every unit's population and reviews
# in liandong's JSON are checked against SQL on the peer's tables. Wall time and peak RSS come
# from /usr/bin/time -f '%e %M'. The table goes to stdout and to $BENCH_DIR/obligations-results.txt.
# It is a measurement: the exit status is 0 whatever the results (2 only when the measurement
# itself cannot be set up).
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-bench-out/obligations}     # before the library, which defaults it otherwise
# shellcheck source-path=SCRIPTDIR/.. source=scripts/bench-lib.sh
source scripts/bench-lib.sh     # the environment, tools, build, runs and table the benchmarks share

BENCH_UNITS=${BENCH_UNITS:-5000}
BENCH_CASES=${BENCH_CASES:-2000000}
BENCH_OBL_MAX=${BENCH_OBL_MAX:-1.0}
AS_OF=2025-09-30            # the last day of 2025Q3: the year-to-date population is closed from 1 January
YEAR_START=2025-01-01
Q_START=2025-07-01

need_tools bench-obligations
bench_dir
CLOSED=$DIR/closed.csv
REVIEWS=$DIR/reviews.csv
CONFIG=$DIR/bench-obl.toml
PEER_SQL="SELECT \"执法单位\", COUNT(*) FROM closed WHERE \"结案日期\" >= '$YEAR_START' AND \"结案日期\" <= '$AS_OF' GROUP BY \"执法单位\";"
STORE_SQL="SELECT unit_id, COUNT(*) FROM cases WHERE closed_on >= '$YEAR_START' AND closed_on <= '$AS_OF' GROUP BY unit_id;"

# --- 1. build (once) and data ----------------------------------------------------------------
build_once
have_units=0 have_cases=-1
[ ! -f "$DIR/units.toml" ] || have_units=$(grep -c '^\[\[units\]\]' "$DIR/units.toml" || true)
[ ! -f "$CLOSED" ] || have_cases=$(($(wc -l <"$CLOSED") - 1))
if [ "$have_units" -ne $((BENCH_UNITS + 1)) ] || [ "$have_cases" -ne "$BENCH_CASES" ] || [ ! -f "$REVIEWS" ]; then
    say "generating $BENCH_UNITS units, $BENCH_CASES closed cases and their reviews into $DIR"
    "$PYTHON" "$ROOT/scripts/gen-bench-obligations.py" "$BENCH_UNITS" "$BENCH_CASES" "$DIR"
else
    say "reusing $DIR/units.toml, closed.csv, reviews.csv ($BENCH_UNITS units, $BENCH_CASES cases)"
fi
n_reviews=$(($(wc -l <"$REVIEWS") - 1))
csv_bytes=$(wc -c <"$CLOSED")

# --- 2. the liandong configuration -----------------------------------------------------------
{
    echo "# Written by scripts/bench-obligations.sh: $BENCH_UNITS enforcement units and the liaison office,"
    echo "# their closed cases and the reviews of some of them."
    printf '[store]\nurl = "sqlite://%s"\n\n' "$DIR/obl.db"
    grep -v '^#' "$DIR/units.toml"
    toml_file_source bench-closed cases "$CLOSED" utf-8
    toml_file_source bench-reviews reviews "$REVIEWS" utf-8
} >"$CONFIG"
LD() { "$LIANDONG_BIN" --config "$CONFIG" "$@"; }

# fail_setup WHY LOG: records why the liandong steps cannot run and shows the end of LOG.
setup_note=""
fail_setup() {
    setup_note="$1 (see $2)"
    say "$setup_note; last lines:"
    tail -n 20 "$2" >&2 || true
}
if [ -z "$build_note" ] && ! LD check-config >"$DIR/check-config.log" 2>&1; then
    fail_setup "check-config failed" "$DIR/check-config.log"
fi

# --- 3. setup (untimed): a fresh store with the cases and reviews -------------------------------
store_note=""
if [ -z "$build_note$setup_note" ]; then
    rm -f "$DIR"/obl.db*
    say "setup: liandong sync into a fresh store (untimed)"
    run_timed "$DIR/setup-sync.log" "$LIANDONG_BIN" --config "$CONFIG" sync
    say "setup sync: ${T_SECS}s, $((T_KB / 1024)) MB, exit $T_RC"
    [ "$T_RC" -eq 0 ] || fail_setup "setup sync failed (exit $T_RC)" "$DIR/setup-sync.log"
    grep -E 'source synced' "$DIR/setup-sync.log" | sed 's/^/    /' >&2 || true
    # What the store holds and what `status` says was quarantined, against the CSVs.
    if LD status --format json >"$DIR/status.json" 2>"$DIR/status.err"; then
        store_note=$("$PYTHON" - "$DIR/status.json" "$BENCH_CASES" "$n_reviews" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1], encoding="utf-8"))
rec = s["store"]["records"]
runs = {x["name"]: x.get("last_run") or {} for x in s["sources"]}
quar = sum(r.get("quarantined", 0) for r in runs.values())
unknown = sum(r.get("unknown_unit", 0) for r in runs.values())
errs = [f'{x["name"]}: {x["last_error"]}' for x in s["sources"] if x.get("last_error")]
line = (f"store: {rec['cases']} cases (CSV {sys.argv[2]}), {rec['reviews']} reviews (CSV {sys.argv[3]}); "
        f"quarantined {quar} (listed {len(s['quarantine'])}), unknown unit {unknown}")
if errs:
    line += "; source errors: " + "; ".join(errs)
bad = quar or unknown or errs or str(rec["cases"]) != sys.argv[2] or str(rec["reviews"]) != sys.argv[3]
print(("WARNING: " if bad else "") + line)
for q in s["quarantine"][:10]:
    print(f"  quarantined: {q}")
EOF
        ) || store_note="store: could not read $DIR/status.json"
    else
        store_note="store: liandong status failed (see $DIR/status.err)"
    fi
    printf '%s\n' "$store_note" | while IFS= read -r l; do say "$l"; done
fi

# --- 4. the peer: the GROUP BY on a plain table of closed.csv ----------------------------------
# The import (untimed, once) also takes the reviews, for the check of step 6.
fresh_peer
say "peer: sqlite3 .import of closed.csv and reviews.csv into a fresh plain table (untimed)"
run_timed "$DIR/peer-import.log" sqlite3 -batch "$DIR/peer.db" ".mode csv" \
    ".import '$CLOSED' closed" ".import '$REVIEWS' reviews"
say "peer import: ${T_SECS}s, exit $T_RC"
if [ "$T_RC" -eq 0 ]; then
    measure_step peer nothing no_check sqlite3 -batch "$DIR/peer.db" "$PEER_SQL" || true
else
    RES[peer]="- - import_failed"
fi

# --- 5. liandong: the same GROUP BY on its store (info), then `obligations` --------------------
# The CHECK_FN of the obligations step: the JSON lists every enforcement unit; its states, logged.
# shellcheck disable=SC2317  # called by name, through measure_step
check_obl() {
    local out
    if ! out=$("$PYTHON" - "$1" "$BENCH_UNITS" <<'EOF'
import collections, json, sys
text = open(sys.argv[1], encoding="utf-8").read()
try:
    doc, _ = json.JSONDecoder().raw_decode(text[text.index("{"):])
except ValueError as e:
    print(f"bad_json: {e}")
    sys.exit(1)
units = doc.get("units", [])
states = collections.Counter(u["sampling"]["state"] for u in units)
print(f"{len(units)} units, quarter {doc.get('quarter')}, population {sum(u['sampling']['population'] for u in units)}, "
      f"reviewed {sum(u['sampling']['reviewed'] for u in units)}; states: "
      + ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
sys.exit(0 if len(units) == int(sys.argv[2]) else 2)
EOF
    ); then
        say "  obligations output: $out"
        CHECK_WHY=$([ "${out%%:*}" = bad_json ] && echo bad_json || echo "units_${out%% *}")
        return 1
    fi
    say "  $out"
}
if [ -z "$build_note$setup_note" ]; then
    measure_step store nothing no_check sqlite3 -batch "$DIR/obl.db" "$STORE_SQL" || true
    measure_step obl nothing check_obl "$LIANDONG_BIN" --config "$CONFIG" obligations --as-of "$AS_OF" --format json || true
else
    why=no_binary
    [ -z "$setup_note" ] || why=setup_failed
    RES[store]="- - $why" RES[obl]="- - $why"
fi

# --- 6. check (untimed): every unit's population and reviews against SQL on the peer's tables ---
# Year to date: closed from 1 January to the as-of day, less the files reviewed before the
# quarter; reviewed: the reviews dated in the quarter up to the as-of day.
verify_note=""
if [ "${RES[obl]##* }" = ok ] && [ "${RES[peer]##* }" = ok ]; then
    sqlite3 -batch -csv "$DIR/peer.db" >"$DIR/expected.csv" "
        SELECT u, SUM(p), SUM(r) FROM (
            SELECT \"执法单位\" AS u, COUNT(*) AS p, 0 AS r FROM closed
             WHERE \"结案日期\" >= '$YEAR_START' AND \"结案日期\" <= '$AS_OF' GROUP BY u
            UNION ALL
            SELECT c.\"执法单位\", -COUNT(*), 0 FROM reviews v JOIN closed c
                ON c.\"执法单位\" = v.\"执法单位\" AND c.\"案号\" = v.\"案号\"
             WHERE v.\"评查日期\" < '$Q_START' AND c.\"结案日期\" >= '$YEAR_START' AND c.\"结案日期\" <= '$AS_OF'
             GROUP BY c.\"执法单位\"
            UNION ALL
            SELECT \"执法单位\", 0, COUNT(*) FROM reviews
             WHERE \"评查日期\" >= '$Q_START' AND \"评查日期\" <= '$AS_OF' GROUP BY \"执法单位\"
        ) GROUP BY u;"
    verify_note=$("$PYTHON" - "$DIR/obl-1.log" "$DIR/expected.csv" <<'EOF'
import csv, json, sys
text = open(sys.argv[1], encoding="utf-8").read()
doc, _ = json.JSONDecoder().raw_decode(text[text.index("{"):])
want = {r[0]: (int(r[1]), int(r[2])) for r in csv.reader(open(sys.argv[2], encoding="utf-8"))}
bad = [(u["unit"], (u["sampling"]["population"], u["sampling"]["reviewed"]), want.get(u["unit"], (0, 0)))
       for u in doc["units"] if (u["sampling"]["population"], u["sampling"]["reviewed"]) != want.get(u["unit"], (0, 0))]
if bad:
    print(f"check FAILED: {len(bad)} of {len(doc['units'])} units differ from SQL on the peer's tables "
          "(population, reviewed: liandong vs SQL), e.g. " + "; ".join(f"{n} {a} vs {b}" for n, a, b in bad[:3]))
else:
    print(f"check: every unit's population and reviewed count agree with SQL on the peer's tables ({len(doc['units'])} units)")
EOF
    ) || verify_note="check FAILED: could not compare (see $DIR/obl-1.log, $DIR/expected.csv)"
    say "$verify_note"
fi

# --- 7. the table ------------------------------------------------------------------------------
read -r peer_s _ peer_st <<<"${RES[peer]}"
table_setup 46 16 2 median peer 1000000000     # no RSS target: peak RSS is shown only
{
    echo "liandong obligations benchmark — $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs"
    echo "input: $BENCH_UNITS units, $BENCH_CASES closed cases ($CLOSED, $(awk -v b="$csv_bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB), $n_reviews reviews"
    echo "obligations --as-of $AS_OF (quarter 2025Q3, population year to date); seconds and peak RSS: median of $BENCH_RUNS runs; ratio: / peer"
    [ -z "$build_note" ] || echo "note: $build_note"
    [ -z "$setup_note" ] || echo "note: $setup_note"
    [ -z "$store_note" ] || printf '%s\n' "$store_note"
    [ -z "$verify_note" ] || echo "$verify_note"
    table_header
    table_row "peer: sqlite3 GROUP BY on a plain table" peer "$peer_s" "$peer_st" "" "-"
    table_row "(info) sqlite3 GROUP BY on liandong's store" store "$peer_s" "$peer_st" "" "-"
    table_row "liandong obligations ($BENCH_UNITS units)" obl "$peer_s" "$peer_st" "$BENCH_OBL_MAX" \
        "$(printf '<= %.2fx peer' "$BENCH_OBL_MAX")"
} | tee "$DIR/obligations-results.txt"

exit 0
