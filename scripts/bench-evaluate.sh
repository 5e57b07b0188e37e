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
# shellcheck source-path=SCRIPTDIR/.. source=scripts/bench-lib.sh
source scripts/bench-lib.sh     # the environment, tools, build, runs and table both benchmarks share

BENCH_FULL_MAX=${BENCH_FULL_MAX:-1.0}
BENCH_INCR_MAX=${BENCH_INCR_MAX:-0.05}
BENCH_RSS_MAX_MB=${BENCH_RSS_MAX_MB:-200}
AS_OF=${BENCH_AS_OF:-2026-01-15}

need_tools bench-evaluate
bench_dir
CONFIG=$DIR/bench-eval.toml

# --- 1. build (once) and data ----------------------------------------------------------------
build_once
make_cases
[ "$CASES_NEW" = 0 ] || rm -f "$DIR/referrals.csv"      # derived from the cases: made again below
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

# The summary line of `liandong evaluate`:
#   as of … (incremental pass over N cases in X s): a new, b changed, c unchanged, d no longer apply; …
# Logged with the findings table of every run; WANT_MODE (full | incremental) must be the pass.
# The CHECK_FN of the evaluate steps: on a failure it sets CHECK_WHY (see measure_step).
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
measure_peer

# --- 3. the liandong configuration -----------------------------------------------------------
{
    echo "# Written by scripts/bench-evaluate.sh: the five enforcement units of the Daocheng sample, the"
    echo "# benchmark cases, the platform's referrals and a file of changed cases, and one R6 threshold."
    toml_base "$DIR/eval.db"
    toml_file_source bench-referrals referrals "$DIR/referrals.csv"
    toml_file_source bench-changes cases "$DIR/changes.csv" utf-8
    cat <<'EOF'

[[rules.r6_thresholds]]
cause = "非法采矿"
amount_yuan = "5万"
article = "立案追诉标准（一）第68条"
EOF
} >"$CONFIG"

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
table_setup 44 26 3 max base "$BENCH_RSS_MAX_MB"
{
    echo "liandong evaluation benchmark — $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs"
    echo "input: $CASES, $BENCH_ROWS cases ($transfers transfers), $(awk -v b="$csv_bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB; $referrals referrals; $changed changed cases per incremental run"
    echo "evaluate --as-of $AS_OF; seconds: median of $BENCH_RUNS runs; peak RSS: the highest run; ratios: full / peer, incremental / full"
    [ -z "$build_note" ] || echo "note: $build_note"
    [ -z "$setup_note" ] || echo "note: $setup_note"
    [ -z "$verify_note" ] || echo "$verify_note"
    table_header
    table_row "peer: sqlite3 .import" peer "$peer_s" "$peer_st" "" "-"
    table_row "first full evaluation (writes every finding)" first "$peer_s" "$peer_st" "" "<= $BENCH_RSS_MAX_MB MB"
    table_row "full evaluation (evaluate --full)" full "$peer_s" "$peer_st" "$BENCH_FULL_MAX" "$(printf '<= %.2fx peer, <= %d MB' "$BENCH_FULL_MAX" "$BENCH_RSS_MAX_MB")"
    table_row "incremental evaluation ($changed changed cases)" incr "$full_s" "$full_st" "$BENCH_INCR_MAX" "$(printf '<= %.2fx full, <= %d MB' "$BENCH_INCR_MAX" "$BENCH_RSS_MAX_MB")"
} | tee "$DIR/evaluate-results.txt"

exit 0
