#!/usr/bin/env bash
# Evaluation benchmark (issue 3): liandong `evaluate` over a store of 1,000,000 cases of which
# ~30,000 are transfers, against the peer, sqlite3's `.import` of the same case CSV.
#
#   scripts/bench-evaluate.sh
#
# Environment (all optional):
#   BENCH_DIR=bench-out          where the CSVs, databases, logs and results go
#   BENCH_ROWS=1000000           cases in the generated CSV
#   BENCH_RUNS=3                 runs per step; the median is reported
#   BENCH_SKIP_BUILD=1           do not run `cargo build --release`
#   LIANDONG_BIN=target/release/liandong
#   BENCH_FULL_MAX=1.0 BENCH_INCR_MAX=0.05 BENCH_RSS_MAX_MB=200     the targets
#
# Steps: build (once); generate $BENCH_DIR/cases.csv unless it already has the right row count
# (scripts/gen-bench-cases.py; scripts/bench-ingest.sh makes the same file) and, from it, the
# platform's referrals and two sets of 1,000 changed cases (scripts/gen-bench-referrals.py);
# peer = sqlite3 .import of cases.csv into a fresh db; setup (untimed) = a fresh store loaded by
# `liandong sync` (cases, referrals, changes-a); full evaluation = `evaluate --full`, BENCH_RUNS
# times on that store (the first run writes every finding, the later ones find them unchanged:
# the first is shown on its own, the median of all is the figure compared); incremental
# evaluation = BENCH_RUNS times: changes-b (then a, b …) synced untimed, then a timed `evaluate`
# that must report an incremental pass. Wall time and peak RSS come from /usr/bin/time -f
# '%e %M'. Targets: full evaluation <= BENCH_FULL_MAX x the peer; incremental <= BENCH_INCR_MAX x
# the full evaluation; peak RSS of every evaluate <= BENCH_RSS_MAX_MB. The table goes to stdout
# and to $BENCH_DIR/evaluate-results.txt. It is a measurement: the exit status is 0 whatever the
# results (2 only when the measurement itself cannot be set up).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

BENCH_DIR=${BENCH_DIR:-bench-out}
BENCH_ROWS=${BENCH_ROWS:-1000000}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_SKIP_BUILD=${BENCH_SKIP_BUILD:-0}
LIANDONG_BIN=${LIANDONG_BIN:-target/release/liandong}
BENCH_FULL_MAX=${BENCH_FULL_MAX:-1.0}
BENCH_INCR_MAX=${BENCH_INCR_MAX:-0.05}
BENCH_RSS_MAX_MB=${BENCH_RSS_MAX_MB:-200}
AS_OF=${BENCH_AS_OF:-2026-01-15}
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
    echo "bench-evaluate: need /usr/bin/time (package 'time') and sqlite3" >&2
    exit 2
fi

mkdir -p "$BENCH_DIR"
DIR=$(cd "$BENCH_DIR" && pwd)       # absolute, so the config does not depend on the cwd
CASES=$DIR/cases.csv
CONFIG=$DIR/bench-eval.toml

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
    rm -f "$DIR/referrals.csv"      # derived from the cases: made again below
else
    say "reusing $CASES ($BENCH_ROWS rows)"
fi
csv_bytes=$(wc -c <"$CASES")
# The derived files are made again whenever they are missing or older than the cases.
if [ ! -f "$DIR/referrals.csv" ] || [ ! -f "$DIR/changes-a.csv" ] || [ ! -f "$DIR/changes-b.csv" ] \
    || [ "$CASES" -nt "$DIR/referrals.csv" ]; then
    say "generating referrals and changes from $CASES"
    "$PYTHON" "$ROOT/scripts/gen-bench-referrals.py" "$CASES" "$DIR"
else
    say "reusing $DIR/referrals.csv, changes-a.csv, changes-b.csv"
fi
transfers=$(awk -F, 'NR > 1 && $12 == "是" && $13 != "" { n++ } END { print n + 0 }' "$CASES")
referrals=$(($(wc -l <"$DIR/referrals.csv") - 1))
changed=$(($(wc -l <"$DIR/changes-a.csv") - 1))

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
# per step, the kB of its worst run (the RSS target holds for every evaluate run)
declare -A MAXKB

# CHECK_FN LOG: optional check of a run's output (after a zero exit); non-zero fails the step.
measure_step() {  # KEY PREPARE_FN CHECK_FN CMD...   (PREPARE_FN runs before every run, untimed)
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
nothing() { :; }
no_check() { :; }

# The summary line of `liandong evaluate`:
#   as of … (incremental pass over N cases in X s): a new, b changed, c unchanged, d no longer apply; …
# Logged with the findings table of every run; WANT_MODE (full | incremental) must be the pass.
CHECK_WHY=""
check_eval() {
    local log=$1 line mode
    line=$(grep -E '^as of .* pass over ' "$log" | tail -n 1 || true)
    if [ -z "$line" ]; then
        say "no 'as of … pass over …' line in $log:"
        tail -n 20 "$log" >&2 || true
        CHECK_WHY="no_summary"
        return 1
    fi
    mode=$(printf '%s\n' "$line" | sed -E 's/^as of .*\(([a-z]+) pass over .*/\1/')
    say "  $line"
    # The findings table (rule  state  findings) as one line: "R1 overdue 23, R1 resolved 589, …".
    say "  findings: $(awk 'NF == 3 && $1 ~ /^R[0-9]+$/ { printf "%s%s %s %s", sep, $1, $2, $3; sep = ", " }' "$log")"
    if [ "$mode" != "$WANT_MODE" ]; then
        say "expected a $WANT_MODE pass, got: $line"
        CHECK_WHY="not_$WANT_MODE"
        return 1
    fi
}

# --- 2. the peer: sqlite3 .import into a fresh plain table -----------------------------------
fresh_peer() { rm -f "$DIR/peer.db" "$DIR/peer.db-journal"; }
measure_step peer fresh_peer no_check sqlite3 -batch "$DIR/peer.db" ".mode csv" ".import '$CASES' cases" || true

# --- 3. the liandong configuration -----------------------------------------------------------
cat >"$CONFIG" <<EOF
# Written by scripts/bench-evaluate.sh: the five enforcement units of the Daocheng sample, the
# benchmark cases, the platform's referrals and a file of changed cases, and one R6 threshold.
[store]
url = "sqlite://$DIR/eval.db"

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

[[sources]]
name = "bench-referrals"
kind = "file"
feeds = "referrals"
path = "$DIR/referrals.csv"

[[sources]]
name = "bench-changes"
kind = "file"
feeds = "cases"
path = "$DIR/changes.csv"
encoding = "utf-8"

[[rules.r6_thresholds]]
cause = "非法采矿"
amount_yuan = "5万"
article = "立案追诉标准（一）第68条"
EOF

LD() { "$LIANDONG_BIN" --config "$CONFIG" "$@"; }

setup_note=""
cp "$DIR/changes-a.csv" "$DIR/changes.csv"     # the source's file must exist for check-config
if [ -z "$build_note" ]; then
    if ! LD check-config >"$DIR/check-config.log" 2>&1; then
        setup_note="check-config failed (see $DIR/check-config.log)"
        say "$setup_note:"
        cat "$DIR/check-config.log" >&2
    fi
fi

# --- 4. setup (untimed): a fresh store with cases, referrals and changes-a --------------------
if [ -z "$build_note$setup_note" ]; then
    rm -f "$DIR"/eval.db*
    cp "$DIR/changes-a.csv" "$DIR/changes.csv"
    say "setup: liandong sync into a fresh store (untimed)"
    run_timed "$DIR/setup-sync.log" "$LIANDONG_BIN" --config "$CONFIG" sync
    say "setup sync: ${T_SECS}s, $((T_KB / 1024)) MB, exit $T_RC"
    if [ "$T_RC" -ne 0 ]; then
        setup_note="setup sync failed (exit $T_RC, see $DIR/setup-sync.log)"
        say "$setup_note; last lines:"
        tail -n 20 "$DIR/setup-sync.log" >&2 || true
    fi
    LD status >"$DIR/status.log" 2>&1 || true
    # What the store holds (for the log): cases, referrals, transfer cases.
    if [ -z "$setup_note" ]; then
        held=$(sqlite3 -batch "$DIR/eval.db" \
            "SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM referrals), (SELECT count(*) FROM cases WHERE transfer_decided_on IS NOT NULL AND transfer_decided_on <> '')" \
            2>/dev/null | tr '|' ' ' || true)
        read -r held_cases held_refs held_transfers <<<"${held:-? ? ?}"
        say "store: $held_cases cases ($held_transfers transfers), $held_refs referrals (CSV: $BENCH_ROWS cases, $transfers transfers, $referrals referrals)"
        [ "$held_cases" = "$BENCH_ROWS" ] || say "WARNING: the store holds $held_cases cases, the CSV has $BENCH_ROWS"
        [ "$held_refs" = "$referrals" ] || say "WARNING: the store holds $held_refs referrals, the CSV has $referrals"
    fi
fi

# --- 5. full evaluation, then incremental ones -------------------------------------------------
FIRST_RUN="- -"
verify_note=""
if [ -z "$build_note$setup_note" ]; then
    WANT_MODE=full
    if measure_step full nothing check_eval "$LIANDONG_BIN" --config "$CONFIG" evaluate --as-of "$AS_OF" --full; then
        read -r s kb <<<"$FIRST_RUN"
        RES[first]="$s $kb ok"
        MAXKB[first]=$kb
    else
        RES[first]=${RES[full]}
    fi

    # Before run i: changes-b (odd i) or changes-a (even i) synced, untimed.
    sync_changes() {
        local which=b
        [ $(($1 % 2)) -eq 1 ] || which=a
        cp "$DIR/changes-$which.csv" "$DIR/changes.csv"
        if ! LD sync --source bench-changes >"$DIR/incr-sync-$1.log" 2>&1; then
            say "sync --source bench-changes failed; last lines of $DIR/incr-sync-$1.log:"
            tail -n 20 "$DIR/incr-sync-$1.log" >&2 || true
            return 1
        fi
        # The sync's own summary, for the log: it should have updated every changed case.
        local summary updated
        summary=$(grep -oE 'source=bench-changes seen=[0-9]+ inserted=[0-9]+ updated=[0-9]+ unchanged=[0-9]+ quarantined=[0-9]+' \
            "$DIR/incr-sync-$1.log" | tail -n 1 || true)
        say "  incremental run $1: changes-$which synced: ${summary:-no summary line}"
        updated=$(printf '%s\n' "$summary" | sed -nE 's/.* updated=([0-9]+) .*/\1/p')
        [ "${updated:-x}" = "$changed" ] || say "WARNING: the sync updated ${updated:-?} cases, expected $changed"
    }
    WANT_MODE=incremental
    measure_step incr sync_changes check_eval "$LIANDONG_BIN" --config "$CONFIG" evaluate --as-of "$AS_OF" || true
    # Check (untimed): a full pass after the incremental ones must find nothing to change.
    if [ "${RES[incr]##* }" = ok ]; then
        LD evaluate --as-of "$AS_OF" --full >"$DIR/verify-full.log" 2>&1 || true
        vline=$(grep -E '^as of .* pass over ' "$DIR/verify-full.log" | tail -n 1 || true)
        say "check: full pass after the incremental runs: ${vline:-no summary line (see $DIR/verify-full.log)}"
        if printf '%s\n' "$vline" | grep -qE ': 0 new, 0 changed, [0-9]+ unchanged, 0 no longer apply'; then
            verify_note="check: a full pass after the incremental runs changes nothing (the incremental findings agree)"
        else
            verify_note="check FAILED: a full pass after the incremental runs: ${vline:-no summary line}"
        fi
    fi
    LD findings --all --format csv >"$DIR/findings.csv" 2>"$DIR/findings.err" || true
else
    why=no_binary
    [ -z "$setup_note" ] || why=setup_failed
    for k in first full incr; do RES[$k]="- - $why"; done
fi

# --- 6. the table ------------------------------------------------------------------------------
read -r peer_s peer_kb peer_st <<<"${RES[peer]}"
read -r full_s full_kb full_st <<<"${RES[full]}"
row() {  # LABEL KEY BASE_SECS BASE_STATUS MAX_RATIO TARGET_TEXT
    local label=$1 key=$2 bs=$3 bst=$4 max=$5 tgt=$6 s kb st
    read -r s kb st <<<"${RES[$key]}"
    awk -v label="$label" -v s="$s" -v kb="$kb" -v maxkb="${MAXKB[$key]:-0}" -v st="$st" \
        -v bs="$bs" -v bst="$bst" -v max="$max" -v tgt="$tgt" -v rssmax="$BENCH_RSS_MAX_MB" '
    BEGIN {
        if (st != "ok") {
            printf "%-44s %9s %12s %8s  %-26s %s\n", label, "-", "-", "-", tgt, "FAIL (" st ")"
            exit
        }
        mb = maxkb / 1024
        ratio = (bst == "ok" && bs > 0) ? s / bs : -1
        rs = (ratio < 0) ? "-" : sprintf("%.3f", ratio)
        if (tgt == "-") { printf "%-44s %9.2f %12.1f %8s  %-26s %s\n", label, s, mb, rs, tgt, "-"; exit }
        why = ""
        if (max != "") {
            if (ratio < 0) why = "no base"
            else if (ratio > max + 1e-9) why = "time"
        }
        if (maxkb / 1024 > rssmax) why = (why == "" ? "rss" : why ",rss")
        printf "%-44s %9.2f %12.1f %8s  %-26s %s\n", label, s, mb, rs, tgt, (why == "" ? "PASS" : "FAIL (" why ")")
    }'
}
{
    echo "liandong evaluation benchmark — $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs"
    echo "input: $CASES, $BENCH_ROWS cases ($transfers transfers), $(awk -v b="$csv_bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB; $referrals referrals; $changed changed cases per incremental run"
    echo "evaluate --as-of $AS_OF; seconds: median of $BENCH_RUNS runs; peak RSS: the highest run; ratios: full / peer, incremental / full"
    [ -z "$build_note" ] || echo "note: $build_note"
    [ -z "$setup_note" ] || echo "note: $setup_note"
    [ -z "$verify_note" ] || echo "$verify_note"
    printf '%-44s %9s %12s %8s  %-26s %s\n' "step" "seconds" "peak RSS MB" "ratio" "target" "result"
    row "peer: sqlite3 .import" peer "$peer_s" "$peer_st" "" "-"
    row "first full evaluation (writes every finding)" first "$peer_s" "$peer_st" "" "<= $BENCH_RSS_MAX_MB MB"
    row "full evaluation (evaluate --full)" full "$peer_s" "$peer_st" "$BENCH_FULL_MAX" "$(printf '<= %.2fx peer, <= %d MB' "$BENCH_FULL_MAX" "$BENCH_RSS_MAX_MB")"
    row "incremental evaluation ($changed changed cases)" incr "$full_s" "$full_st" "$BENCH_INCR_MAX" "$(printf '<= %.2fx full, <= %d MB' "$BENCH_INCR_MAX" "$BENCH_RSS_MAX_MB")"
} | tee "$DIR/evaluate-results.txt"

exit 0
