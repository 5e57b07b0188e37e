#!/usr/bin/env bash
# Weekly report benchmark (issue 6): `liandong report weekly --format all` (text, JSON, CSV,
# HTML, the XLSX workbook with its detail sheets, the PNG chart) for 5,000 enforcement units,
# against the peer: a full evaluation (`liandong evaluate --full`) of the same store.
#
#   scripts/bench-report.sh
#
# Environment (all optional):
#   BENCH_DIR=bench-out/report      where the data, databases, logs and results go
#   BENCH_UNITS=5000                enforcement units (plus the liaison office)
#   BENCH_CASES=2000000             closed cases (scripts/gen-bench-obligations.py; 5 % are major
#                                   penalties, which R9 wants filed: the findings of the report)
#   BENCH_RUNS=3                    runs per step; the median is reported
#   BENCH_SKIP_BUILD=1              do not run `cargo build --release`
#   LIANDONG_BIN=target/release/liandong
#
# Steps: build (once); generate the units, closed cases and reviews unless present; write the
# configuration (the units, two file sources, R9 on with its 20-working-day filing deadline);
# setup (untimed): `sync` into a fresh store and a first `evaluate --full` (writes the findings);
# peer = `evaluate --full` again, timed; liandong = `report weekly --format all --output DIR`,
# timed, checked to write six files and to list every unit in its JSON. Wall time and peak RSS
# from /usr/bin/time. The exit status is 0 whatever the results (2 when it cannot be set up).
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-bench-out/report}
# shellcheck source-path=SCRIPTDIR/.. source=scripts/bench-lib.sh
source scripts/bench-lib.sh

BENCH_UNITS=${BENCH_UNITS:-5000}
BENCH_CASES=${BENCH_CASES:-2000000}
AS_OF=2025-10-13T09:00:00+08:00

need_tools bench-report
bench_dir
build_once
[ -z "$build_note" ] || { echo "bench-report: $build_note" >&2; exit 2; }
CLOSED=$DIR/closed.csv
REVIEWS=$DIR/reviews.csv
CONFIG=$DIR/bench-report.toml
have_units=0 have_cases=-1
[ ! -f "$DIR/units.toml" ] || have_units=$(grep -c '^\[\[units\]\]' "$DIR/units.toml" || true)
[ ! -f "$CLOSED" ] || have_cases=$(($(wc -l <"$CLOSED") - 1))
if [ "$have_units" -ne $((BENCH_UNITS + 1)) ] || [ "$have_cases" -ne "$BENCH_CASES" ] || [ ! -f "$REVIEWS" ]; then
    say "generating $BENCH_UNITS units, $BENCH_CASES closed cases and their reviews into $DIR"
    "$PYTHON" "$ROOT/scripts/gen-bench-obligations.py" "$BENCH_UNITS" "$BENCH_CASES" "$DIR"
fi
{
    printf '[store]\nurl = "sqlite://%s"\n\n' "$DIR/report.db"
    grep -v '^#' "$DIR/units.toml"
    toml_file_source bench-closed cases "$CLOSED" utf-8
    toml_file_source bench-reviews reviews "$REVIEWS" utf-8
    printf '\n[rules]\nr9_enabled = true\n'
} >"$CONFIG"
LD() { "$LIANDONG_BIN" --config "$CONFIG" --log warn "$@"; }
LD check-config >"$DIR/check-config.log" 2>&1 || { cat "$DIR/check-config.log" >&2; exit 2; }

if [ ! -f "$DIR/report.db" ] || [ "${BENCH_FRESH:-0}" = 1 ]; then
    rm -f "$DIR"/report.db*
    say "setup: sync into a fresh store and a first full evaluation (untimed)"
    LD sync >"$DIR/setup-sync.log" 2>&1 || { tail -20 "$DIR/setup-sync.log" >&2; exit 2; }
    LD evaluate --full --as-of "$AS_OF" >"$DIR/setup-evaluate.log" 2>&1 || { tail -20 "$DIR/setup-evaluate.log" >&2; exit 2; }
fi
findings=$(sqlite3 "$DIR/report.db" "SELECT COUNT(*) FROM findings")
say "store: $findings findings over $BENCH_UNITS units"

OUT=$DIR/weekly
# shellcheck disable=SC2317  # called by name, through measure_step
fresh_out() { rm -rf "$OUT"; }
# shellcheck disable=SC2317
six_files() {
    local n; n=$(find "$OUT" -type f | wc -l)
    [ "$n" -eq 6 ] || { CHECK_WHY="files_$n"; return 1; }
    "$PYTHON" -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if len(r['units'])==int(sys.argv[2]) else 1)" \
        "$OUT/weekly-2025-W42.json" "$BENCH_UNITS" || { CHECK_WHY="json_units"; return 1; }
}
measure_step peer nothing no_check "$LIANDONG_BIN" --config "$CONFIG" --log warn evaluate --full --as-of "$AS_OF" || true
measure_step liandong fresh_out six_files "$LIANDONG_BIN" --config "$CONFIG" --log warn report weekly --as-of "$AS_OF" --format all --output "$OUT" || true

read -r ps pk pst <<<"${RES[peer]}"
read -r ls lk lst <<<"${RES[liandong]}"
{
    echo "weekly report benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $BENCH_UNITS units, $BENCH_CASES cases, $findings findings, median of $BENCH_RUNS"
    printf '| step | s | peak RSS | ratio | target |\n| --- | --- | --- | --- | --- |\n'
    echo "| peer: evaluate --full | $ps | $((pk / 1024)) MB | 1.00 | |"
    if [ "$lst" = ok ] && [ "$pst" = ok ]; then
        printf '| report weekly, every format | %s | %d MB | %.2f | <= 0.5 |\n' "$ls" $((lk / 1024)) "$(echo "$ls / $ps" | bc -l)"
    else
        echo "| report weekly | $lst | | | |"
    fi
} | tee "$DIR/report-results.txt"
