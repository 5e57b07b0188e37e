# shellcheck shell=bash
# What scripts/bench-ingest.sh and scripts/bench-evaluate.sh share: the common environment, the
# tools, the build (once) and the case CSV, the timed runs and their medians, the peer step, the
# shared part of the liandong configuration and the results table. Each script sources it after
# `set -euo pipefail` and `cd` to the repository root:
#
#   cd "$(dirname "$0")/.."
#   # shellcheck source-path=SCRIPTDIR/.. source=scripts/bench-lib.sh
#   source scripts/bench-lib.sh
#
# Variables set here are read by the scripts (DIR, CASES, build_note, csv_bytes, FIRST_RUN …).
# shellcheck disable=SC2034

ROOT=$PWD       # the repository root: the script has changed to it

# The environment both scripts take (see their headers); the targets are each script's own.
BENCH_DIR=${BENCH_DIR:-bench-out}
BENCH_ROWS=${BENCH_ROWS:-1000000}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_SKIP_BUILD=${BENCH_SKIP_BUILD:-0}
LIANDONG_BIN=${LIANDONG_BIN:-target/release/liandong}
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

# need_tools NAME: /usr/bin/time and sqlite3, installed with apt-get when missing; without them
# the script (NAME in the message) exits with status 2.
need_tools() {
    if [ ! -x "$TIME" ]; then apt_install time || true; fi
    if ! command -v sqlite3 >/dev/null 2>&1; then apt_install sqlite3 || true; fi
    if [ ! -x "$TIME" ] || ! command -v sqlite3 >/dev/null 2>&1; then
        echo "$1: need /usr/bin/time (package 'time') and sqlite3" >&2
        exit 2
    fi
}

# bench_dir: makes $BENCH_DIR; sets DIR (absolute, so the config does not depend on the cwd) and
# CASES, the case CSV in it.
bench_dir() {
    mkdir -p "$BENCH_DIR"
    DIR=$(cd "$BENCH_DIR" && pwd)
    CASES=$DIR/cases.csv
}

# --- build (once) and data ---------------------------------------------------------------------
# build_once: `cargo build --release` unless BENCH_SKIP_BUILD=1, then LIANDONG_BIN made absolute;
# sets build_note: empty, or why the liandong steps will not run.
build_once() {
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
}

# make_cases: generates $CASES (BENCH_ROWS cases, scripts/gen-bench-cases.py) unless it already
# has that many rows; sets CASES_NEW (1 when generated now, else 0) and csv_bytes (its size).
make_cases() {
    local want=$((BENCH_ROWS + 1)) have=0
    CASES_NEW=0
    [ -f "$CASES" ] && have=$(wc -l <"$CASES")
    if [ "$have" -ne "$want" ]; then
        say "generating $BENCH_ROWS cases into $CASES"
        "$PYTHON" "$ROOT/scripts/gen-bench-cases.py" "$BENCH_ROWS" "$CASES.tmp"
        mv "$CASES.tmp" "$CASES"
        CASES_NEW=1
    else
        say "reusing $CASES ($BENCH_ROWS rows)"
    fi
    csv_bytes=$(wc -c <"$CASES")
}

# --- measuring ---------------------------------------------------------------------------------
# run_timed LOG CMD... : runs CMD under /usr/bin/time; sets T_SECS, T_KB, T_RC. The peak RSS is
# /usr/bin/time's; the wall time is taken here to the millisecond (its %e has 10 ms steps, too
# coarse for the incremental evaluation's 0.05 s).
run_timed() {
    local log=$1; shift
    local tf t0 t1 _secs; tf=$(mktemp)
    set +e
    t0=$(date +%s%N)
    "$TIME" -f '%e %M' -o "$tf" "$@" >"$log" 2>&1
    T_RC=$?
    t1=$(date +%s%N)
    set -e
    read -r _secs T_KB < <(tail -n 1 "$tf")
    T_SECS=$(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.3f", ns / 1e9 }')
    rm -f "$tf"
}

median() {  # numbers as arguments -> the median (lower median for an even count)
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# step results: NAME -> "secs kb status"
declare -A RES
# per step, the kB of its worst run (for a target that holds for every run)
declare -A MAXKB

# PREPARE_FN RUN: runs before every run (untimed, with the run's number); non-zero fails the step.
# CHECK_FN LOG: check of a run's output (after a zero exit); non-zero fails the step, with the
# status it puts in CHECK_WHY.
CHECK_WHY=""
# measure_step KEY PREPARE_FN CHECK_FN CMD... : BENCH_RUNS timed runs of CMD, logged to
# $DIR/KEY-N.log; sets RES[KEY] (medians), MAXKB[KEY] and FIRST_RUN ("secs kb" of run 1).
measure_step() {
    local key=$1 prep=$2 check=$3; shift 3
    local secs=() kbs=() i max=0 log
    for ((i = 1; i <= BENCH_RUNS; i++)); do
        if ! $prep "$i"; then
            say "$key run $i: preparation failed"
            RES[$key]="- - prepare_failed"
            return 1
        fi
        log=$DIR/$key-$i.log
        run_timed "$log" "$@"
        if [ "$T_RC" -ne 0 ]; then
            say "$key run $i failed (exit $T_RC); last lines of $log:"
            tail -n 20 "$log" >&2 || true
            RES[$key]="- - exit_$T_RC"
            return 1
        fi
        if ! $check "$log"; then
            RES[$key]="- - $CHECK_WHY"
            return 1
        fi
        say "$key run $i: ${T_SECS}s, $((T_KB / 1024)) MB"
        [ "$i" -ne 1 ] || FIRST_RUN="$T_SECS $T_KB"
        secs+=("$T_SECS"); kbs+=("$T_KB")
        [ "$T_KB" -le "$max" ] || max=$T_KB
    done
    RES[$key]="$(median "${secs[@]}") $(median "${kbs[@]}") ok"
    MAXKB[$key]=$max
}
# shellcheck disable=SC2317  # called by name, through measure_step
nothing() { :; }
# shellcheck disable=SC2317
no_check() { :; }

# measure_peer: the peer, step "peer": sqlite3 .import of $CASES into a fresh plain table.
# shellcheck disable=SC2317
fresh_peer() { rm -f "$DIR/peer.db" "$DIR/peer.db-journal"; }
measure_peer() {
    measure_step peer fresh_peer no_check sqlite3 -batch "$DIR/peer.db" ".mode csv" ".import '$CASES' cases" || true
}

# --- the liandong configuration ----------------------------------------------------------------
# toml_file_source NAME FEEDS PATH [ENCODING]: a [[sources]] table of kind file, after a blank line.
toml_file_source() {
    printf '\n[[sources]]\nname = "%s"\nkind = "file"\nfeeds = "%s"\npath = "%s"\n' "$1" "$2" "$3"
    [ -z "${4:-}" ] || printf 'encoding = "%s"\n' "$4"
}

# toml_base DB: the start of both configurations: the store (SQLite at the path DB, or the store
# URL DB when it has a scheme), the five enforcement units of the Daocheng sample and the file
# source bench-cases with $CASES.
toml_base() {
    case $1 in
        *://*) printf '[store]\nurl = "%s"\n' "$1" ;;
        *) printf '[store]\nurl = "sqlite://%s"\n' "$1" ;;
    esac
    cat <<'EOF'

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
EOF
    toml_file_source bench-cases cases "$CASES" utf-8
}

# --- the results table -------------------------------------------------------------------------
# table_setup LABEL_W TARGET_W RATIO_DECIMALS RSS_OF BASE RSS_MAX_MB: how table_header and
# table_row lay out and judge the table: the widths of the step and target columns, the decimals
# of a ratio, which peak RSS a row shows and checks (median: the median of the runs; max: the
# highest run, MAXKB), what ratios are taken against (for "FAIL (no BASE)") and the RSS target.
table_setup() {
    TABLE_LABEL_W=$1 TABLE_TARGET_W=$2 TABLE_RATIO_DP=$3 TABLE_RSS=$4 TABLE_BASE=$5 TABLE_RSS_MAX_MB=$6
}

table_header() {  # the table's header line
    printf '%-*s %9s %12s %8s  %-*s %s\n' "$TABLE_LABEL_W" "step" "seconds" "peak RSS MB" "ratio" \
        "$TABLE_TARGET_W" "target" "result"
}

# table_row LABEL KEY BASE_SECS BASE_STATUS MAX_RATIO TARGET_TEXT: the line of step KEY. Its
# ratio is its seconds over BASE_SECS (when BASE_STATUS is ok); TARGET_TEXT "-" makes it a line
# for information only; otherwise it passes when the peak RSS is within the RSS target and, with
# a MAX_RATIO, the ratio within MAX_RATIO.
table_row() {
    local label=$1 key=$2 bs=$3 bst=$4 max=$5 tgt=$6 s kb st
    read -r s kb st <<<"${RES[$key]}"
    [ "$TABLE_RSS" = median ] || kb=${MAXKB[$key]:-0}
    awk -v label="$label" -v s="$s" -v kb="$kb" -v st="$st" -v bs="$bs" -v bst="$bst" -v max="$max" \
        -v tgt="$tgt" -v rssmax="$TABLE_RSS_MAX_MB" -v lw="$TABLE_LABEL_W" -v tw="$TABLE_TARGET_W" \
        -v dp="$TABLE_RATIO_DP" -v base="$TABLE_BASE" '
    BEGIN {
        failed = "%-" lw "s %9s %12s %8s  %-" tw "s %s\n"
        line = "%-" lw "s %9.3f %12.1f %8s  %-" tw "s %s\n"
        if (st != "ok") {
            printf failed, label, "-", "-", "-", tgt, "FAIL (" st ")"
            exit
        }
        mb = kb / 1024
        ratio = (bst == "ok" && bs > 0) ? s / bs : -1
        rs = (ratio < 0) ? "-" : sprintf("%." dp "f", ratio)
        if (tgt == "-") { printf line, label, s, mb, rs, tgt, "-"; exit }
        why = ""
        if (max != "") {
            if (ratio < 0) why = "no " base
            else if (ratio > max + 1e-9) why = "time"
        }
        if (mb > rssmax) why = (why == "" ? "rss" : why ",rss")
        printf line, label, s, mb, rs, tgt, (why == "" ? "PASS" : "FAIL (" why ")")
    }'
}
