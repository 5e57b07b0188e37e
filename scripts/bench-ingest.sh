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
#   BENCH_SKIP_BUILD=1           do not run `cargo build --release`
#   LIANDONG_BIN=target/release/liandong
#   BENCH_FIRST_MAX=1.5 BENCH_RESYNC_MAX=1.0 BENCH_RSS_MAX_MB=100     the targets
#
# Steps: build (once); generate $BENCH_DIR/cases.csv unless it already has the right row count;
# peer = sqlite3 .import into a fresh db; first load = liandong sync into a fresh store; re-sync =
# liandong sync again with nothing changed (on the loaded store). Wall time and peak RSS come from
# /usr/bin/time -f '%e %M'; each step runs BENCH_RUNS times and the median of each is reported.
# The table goes to stdout and to $BENCH_DIR/ingest-results.txt. It is a measurement: the exit
# status is 0 whatever the results (2 only when the measurement itself cannot be set up).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

BENCH_DIR=${BENCH_DIR:-bench-out}
BENCH_ROWS=${BENCH_ROWS:-1000000}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_SKIP_BUILD=${BENCH_SKIP_BUILD:-0}
LIANDONG_BIN=${LIANDONG_BIN:-target/release/liandong}
BENCH_FIRST_MAX=${BENCH_FIRST_MAX:-1.5}
BENCH_RESYNC_MAX=${BENCH_RESYNC_MAX:-1.0}
BENCH_RSS_MAX_MB=${BENCH_RSS_MAX_MB:-100}
PYTHON=${PYTHON:-python3}
TIME=/usr/bin/time

say() { printf '==> %s\n' "$*" >&2; }

# --- tools -----------------------------------------------------------------------------------
apt_install() {  # Debian package names
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    say "installing $* (apt-get)"
    $sudo apt-get install -y --no-install-recommends "$@" >&2 \
        || { $sudo apt-get update >&2 && $sudo apt-get install -y --no-install-recommends "$@" >&2; }
}
if [ ! -x "$TIME" ]; then apt_install time || true; fi
if ! command -v sqlite3 >/dev/null 2>&1; then apt_install sqlite3 || true; fi
if [ ! -x "$TIME" ] || ! command -v sqlite3 >/dev/null 2>&1; then
    echo "bench-ingest: need /usr/bin/time (package 'time') and sqlite3" >&2
    exit 2
fi

mkdir -p "$BENCH_DIR"
DIR=$(cd "$BENCH_DIR" && pwd)       # absolute, so the config does not depend on the cwd
CASES=$DIR/cases.csv

# --- 1. build (once) and data ----------------------------------------------------------------
build_note=""
if [ "$BENCH_SKIP_BUILD" != 1 ]; then
    say "cargo build --release"
    if ! cargo build --release >&2; then
        build_note="cargo build --release failed"
        say "$build_note; liandong steps will not run"
    fi
fi
case $LIANDONG_BIN in /*) ;; *) LIANDONG_BIN=$ROOT/$LIANDONG_BIN ;; esac
if [ -z "$build_note" ] && [ ! -x "$LIANDONG_BIN" ]; then
    build_note="no binary at $LIANDONG_BIN"
    say "$build_note; liandong steps will not run"
fi

want=$((BENCH_ROWS + 1))
have=0
[ -f "$CASES" ] && have=$(wc -l <"$CASES")
if [ "$have" -ne "$want" ]; then
    say "generating $BENCH_ROWS cases into $CASES"
    "$PYTHON" "$ROOT/scripts/gen-bench-cases.py" "$BENCH_ROWS" "$CASES.tmp"
    mv "$CASES.tmp" "$CASES"
else
    say "reusing $CASES ($BENCH_ROWS rows)"
fi
csv_bytes=$(wc -c <"$CASES")

# --- measuring ---------------------------------------------------------------------------------
# run_timed LOG CMD... : runs CMD under /usr/bin/time; sets T_SECS, T_KB, T_RC.
run_timed() {
    local log=$1; shift
    local tf; tf=$(mktemp)
    set +e
    "$TIME" -f '%e %M' -o "$tf" "$@" >"$log" 2>&1
    T_RC=$?
    set -e
    read -r T_SECS T_KB < <(tail -n 1 "$tf")
    rm -f "$tf"
}

median() {  # numbers as arguments -> the median (lower median for an even count)
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# step results: NAME -> "secs kb status"
declare -A RES

measure_step() {  # KEY PREPARE_FN CMD...   (PREPARE_FN runs before every run, untimed)
    local key=$1 prep=$2; shift 2
    local secs=() kbs=() i
    for ((i = 1; i <= BENCH_RUNS; i++)); do
        $prep
        run_timed "$DIR/$key-$i.log" "$@"
        if [ "$T_RC" -ne 0 ]; then
            say "$key run $i failed (exit $T_RC); last lines of $DIR/$key-$i.log:"
            tail -n 20 "$DIR/$key-$i.log" >&2 || true
            RES[$key]="- - exit_$T_RC"
            return 1
        fi
        say "$key run $i: ${T_SECS}s, $((T_KB / 1024)) MB"
        secs+=("$T_SECS"); kbs+=("$T_KB")
    done
    RES[$key]="$(median "${secs[@]}") $(median "${kbs[@]}") ok"
}

# --- 2. the peer: sqlite3 .import into a fresh plain table -----------------------------------
fresh_peer() { rm -f "$DIR/peer.db" "$DIR/peer.db-journal"; }
measure_step peer fresh_peer sqlite3 -batch "$DIR/peer.db" ".mode csv" ".import '$CASES' cases" || true

# For reference (no target): the same import into a table with the one unique key that an upsert
# by (unit, case number) needs. It shows what SQLite itself spends on that key alone.
header=$(head -n 1 "$CASES" | sed 's/^\xEF\xBB\xBF//')
cols=$(printf '%s\n' "$header" | awk -F, '{ for (i = 1; i <= NF; i++) printf "%s\"%s\" TEXT", (i > 1 ? ", " : ""), $i }')
fresh_keyed() {
    rm -f "$DIR/peer-keyed.db" "$DIR/peer-keyed.db-journal"
    sqlite3 "$DIR/peer-keyed.db" "CREATE TABLE cases ($cols, UNIQUE (\"执法单位\", \"案号\"));"
}
measure_step keyed fresh_keyed sqlite3 -batch "$DIR/peer-keyed.db" ".mode csv" ".import --skip 1 '$CASES' cases" || true

# --- 3. the liandong configuration -----------------------------------------------------------
cat >"$DIR/bench.toml" <<EOF
# Written by scripts/bench-ingest.sh: the five enforcement units of the Daocheng sample and one
# file source with the benchmark cases.
[store]
url = "sqlite://$DIR/liandong.db"

[[units]]
id = "scjg"
name = "稻城县市场监督管理局"
kind = "enforcement"

[[units]]
id = "zrzy"
name = "稻城县自然资源局"
kind = "enforcement"

[[units]]
id = "jtys"
name = "稻城县交通运输局"
kind = "enforcement"

[[units]]
id = "nync"
name = "稻城县农业农村局"
kind = "enforcement"

[[units]]
id = "lycy"
name = "稻城县林业和草原局"
kind = "enforcement"

[[sources]]
name = "bench-cases"
kind = "file"
feeds = "cases"
path = "$CASES"
encoding = "utf-8"
EOF

# --- 4. liandong: first load (fresh store each run), then unchanged re-sync ------------------
fresh_store() { rm -f "$DIR"/liandong.db*; }
nothing() { :; }
if [ -z "$build_note" ]; then
    if measure_step first fresh_store "$LIANDONG_BIN" --config "$DIR/bench.toml" sync; then
        measure_step resync nothing "$LIANDONG_BIN" --config "$DIR/bench.toml" sync || true
        # What the store says afterwards (untimed, for the log only).
        "$LIANDONG_BIN" --config "$DIR/bench.toml" status >"$DIR/status.log" 2>&1 || true
    else
        RES[resync]="- - skipped"
    fi
else
    RES[first]="- - no_binary"
    RES[resync]="- - no_binary"
fi

# --- 5. the table ------------------------------------------------------------------------------
read -r peer_s peer_kb peer_st <<<"${RES[peer]}"
row() {  # LABEL KEY MAX_RATIO
    local label=$1 key=$2 max=$3 s kb st
    read -r s kb st <<<"${RES[$key]}"
    awk -v label="$label" -v s="$s" -v kb="$kb" -v st="$st" -v ps="$peer_s" -v pst="$peer_st" \
        -v max="$max" -v rssmax="$BENCH_RSS_MAX_MB" '
    BEGIN {
        tgt = (max == "") ? "-" : sprintf("<= %.1fx peer, <= %d MB", max, rssmax)
        if (st != "ok") {
            printf "%-28s %9s %12s %8s  %-24s %s\n", label, "-", "-", "-", tgt, "FAIL (" st ")"
            exit
        }
        mb = kb / 1024
        ratio = (pst == "ok" && ps > 0) ? s / ps : -1
        rs = (ratio < 0) ? "-" : sprintf("%.2f", ratio)
        if (max == "") { printf "%-28s %9.2f %12.1f %8s  %-24s %s\n", label, s, mb, rs, tgt, "-"; exit }
        why = ""
        if (ratio < 0) why = "no peer"
        else if (ratio > max + 1e-9) why = "time"
        if (mb > rssmax) why = (why == "" ? "rss" : why ",rss")
        printf "%-28s %9.2f %12.1f %8s  %-24s %s\n", label, s, mb, rs, tgt, (why == "" ? "PASS" : "FAIL (" why ")")
    }'
}
{
    echo "liandong ingest benchmark — $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs"
    echo "input: $CASES, $BENCH_ROWS rows, $(awk -v b="$csv_bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB; median of $BENCH_RUNS runs"
    [ -z "$build_note" ] || echo "note: $build_note"
    printf '%-28s %9s %12s %8s  %-24s %s\n' "step" "seconds" "peak RSS MB" "ratio" "target" "result"
    row "peer: sqlite3 .import" peer ""
    row "(info) .import + unique key" keyed ""
    row "liandong sync (first load)" first "$BENCH_FIRST_MAX"
    row "liandong sync (unchanged)" resync "$BENCH_RESYNC_MAX"
} | tee "$DIR/ingest-results.txt"

exit 0
