#!/usr/bin/env bash
# Ingest benchmark: liandong `sync` of one large case CSV against the peer, sqlite3's `.import`
# of the same file into a plain table.
#
#   scripts/bench-ingest.sh
#
# Environment (all optional):
#   BENCH_DIR=bench-out          where the CSV, databases, logs and results go
#   BENCH_ROWS=1000000           cases in the generated CSV
#   BENCH_RUNS=3                 runs per step; the median is reported
#   BENCH_PAIRS=5                back-to-back pairs (peer, then first load) for the paired ratio; 0: none
#   BENCH_SKIP_BUILD=1           do not run `cargo build --release`
#   LIANDONG_BIN=target/release/liandong
#   BENCH_FIRST_MAX=1.5 BENCH_RESYNC_MAX=1.0 BENCH_RSS_MAX_MB=100     the targets
#
# Steps: build (once); generate $BENCH_DIR/cases.csv unless it already has the right row count;
# peer = sqlite3 .import into a fresh db; first load = liandong sync into a fresh store; re-sync =
# liandong sync again with nothing changed (on the loaded store). Wall time and peak RSS come from
# /usr/bin/time -f '%e %M'; each step runs BENCH_RUNS times and the median of each is reported.
# Then BENCH_PAIRS pairs: the peer and a first load run back to back, each pair's ratio taken
# on its own, so that the machine speeding up or slowing down between the steps above (a shared
# virtual machine does) moves both sides of a ratio alike; the median, range and how many pairs
# meet the target are printed under the table.
# The table goes to stdout and to $BENCH_DIR/ingest-results.txt. It is a measurement: the exit
# status is 0 whatever the results (2 only when the measurement itself cannot be set up).
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/.. source=scripts/bench-lib.sh
source scripts/bench-lib.sh     # the environment, tools, build, runs and table both benchmarks share

BENCH_FIRST_MAX=${BENCH_FIRST_MAX:-1.5}
BENCH_RESYNC_MAX=${BENCH_RESYNC_MAX:-1.0}
BENCH_RSS_MAX_MB=${BENCH_RSS_MAX_MB:-100}

need_tools bench-ingest
bench_dir

# --- 1. build (once) and data ----------------------------------------------------------------
build_once
make_cases

# --- 2. the peer: sqlite3 .import into a fresh plain table -----------------------------------
measure_peer

# For reference (no target): the same import into a table with the one unique key that an upsert
# by (unit, case number) needs. It shows what SQLite itself spends on that key alone.
header=$(head -n 1 "$CASES" | sed 's/^\xEF\xBB\xBF//')
cols=$(printf '%s\n' "$header" | awk -F, '{ for (i = 1; i <= NF; i++) printf "%s\"%s\" TEXT", (i > 1 ? ", " : ""), $i }')
fresh_keyed() {
    rm -f "$DIR/peer-keyed.db" "$DIR/peer-keyed.db-journal"
    sqlite3 "$DIR/peer-keyed.db" "CREATE TABLE cases ($cols, UNIQUE (\"执法单位\", \"案号\"));"
}
measure_step keyed fresh_keyed no_check sqlite3 -batch "$DIR/peer-keyed.db" ".mode csv" ".import --skip 1 '$CASES' cases" || true

# --- 3. the liandong configuration -----------------------------------------------------------
{
    echo "# Written by scripts/bench-ingest.sh: the five enforcement units of the Daocheng sample and one"
    echo "# file source with the benchmark cases."
    toml_base "$DIR/liandong.db"
} >"$DIR/bench.toml"

# --- 4. liandong: first load (fresh store each run), then unchanged re-sync ------------------
fresh_store() { rm -f "$DIR"/liandong.db*; }
if [ -z "$build_note" ]; then
    if measure_step first fresh_store no_check "$LIANDONG_BIN" --config "$DIR/bench.toml" sync; then
        measure_step resync nothing no_check "$LIANDONG_BIN" --config "$DIR/bench.toml" sync || true
        # What the store says afterwards (untimed, for the log only).
        "$LIANDONG_BIN" --config "$DIR/bench.toml" status >"$DIR/status.log" 2>&1 || true
    else
        RES[resync]="- - skipped"
    fi
else
    RES[first]="- - no_binary"
    RES[resync]="- - no_binary"
fi

# --- 5. paired first loads ----------------------------------------------------------------------
BENCH_PAIRS=${BENCH_PAIRS:-5}
pairs=()
if [ -z "$build_note" ] && [ "${RES[first]##* }" = ok ] && [ "${RES[peer]##* }" = ok ]; then
    for ((i = 1; i <= BENCH_PAIRS; i++)); do
        fresh_peer
        run_timed "$DIR/pair-peer-$i.log" sqlite3 -batch "$DIR/peer.db" ".mode csv" ".import '$CASES' cases"
        [ "$T_RC" -eq 0 ] || { say "pair $i: the peer failed (exit $T_RC)"; break; }
        p=$T_SECS
        fresh_store
        run_timed "$DIR/pair-first-$i.log" "$LIANDONG_BIN" --config "$DIR/bench.toml" sync
        [ "$T_RC" -eq 0 ] || { say "pair $i: the first load failed (exit $T_RC)"; break; }
        pairs+=("$(awk -v a="$T_SECS" -v b="$p" 'BEGIN { printf "%.3f", a / b }')")
        say "pair $i: peer ${p}s, first load ${T_SECS}s, ratio ${pairs[-1]}"
    done
fi
paired_line() {
    [ "${#pairs[@]}" -gt 0 ] || return 0
    printf '%s\n' "${pairs[@]}" | sort -g | awk -v max="$BENCH_FIRST_MAX" '
        { v[NR] = $1; if ($1 <= max + 1e-9) ok++ }
        END {
            printf "paired (peer, then first load, back to back; %d pairs): ratio median %.2f, range %.2f-%.2f, %d of %d within %.1fx\n",
                NR, v[int((NR + 1) / 2)], v[1], v[NR], ok, NR, max
        }'
}

# --- 6. the table ------------------------------------------------------------------------------
read -r peer_s peer_kb peer_st <<<"${RES[peer]}"
table_setup 28 24 2 median peer "$BENCH_RSS_MAX_MB"
row() {  # LABEL KEY MAX_RATIO: the step against the peer (without MAX_RATIO for information only)
    local tgt=-
    [ -z "$3" ] \
        || tgt=$(awk -v max="$3" -v rssmax="$BENCH_RSS_MAX_MB" 'BEGIN { printf "<= %.1fx peer, <= %d MB", max, rssmax }')
    table_row "$1" "$2" "$peer_s" "$peer_st" "$3" "$tgt"
}
{
    echo "liandong ingest benchmark — $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs"
    echo "input: $CASES, $BENCH_ROWS rows, $(awk -v b="$csv_bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB; median of $BENCH_RUNS runs"
    [ -z "$build_note" ] || echo "note: $build_note"
    table_header
    row "peer: sqlite3 .import" peer ""
    row "(info) .import + unique key" keyed ""
    row "liandong sync (first load)" first "$BENCH_FIRST_MAX"
    row "liandong sync (unchanged)" resync "$BENCH_RESYNC_MAX"
    paired_line
} | tee "$DIR/ingest-results.txt"

exit 0
