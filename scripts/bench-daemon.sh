#!/usr/bin/env bash
# Daemon idle memory benchmark: the resident memory of `liandong run` idle after its start-up,
# against the peer: Prometheus Alertmanager (Debian's prometheus-alertmanager) idle on the same
# machine in the same run. Reported, with no target (issue 19 withdrew issue 7's 0.5×: no figure
# is worth a weaker binary).
#
#   scripts/bench-daemon.sh
#
# Environment (all optional):
#   BENCH_DIR=bench-out/daemon      where the configurations, stores, logs and results go
#   BENCH_SETTLE=10                 seconds to let a process settle once it answers
#   BENCH_SAMPLES=5                 VmRSS samples, one a second after settling; the median is reported
#   BENCH_READY_TIMEOUT=300         seconds to wait for /-/ready or /healthz
#   BENCH_SKIP_BUILD=1              do not run `cargo build --release`
#   LIANDONG_BIN=target/release/liandong
#   ALERTMANAGER_BIN=prometheus-alertmanager   (installed with apt-get when missing)
#
# Steps: build (once); the peer: Alertmanager with a minimal configuration (one route to a
# receiver that notifies nobody), its storage in BENCH_DIR, the web server on a free loopback
# port, clustering off (--cluster.listen-address=); wait until /-/ready answers 200, settle,
# sample VmRSS from /proc/PID/status, stop it. Then liandong: the sample county's configuration
# (config/liandong.toml) with a fresh SQLite store and the e-mail folder in BENCH_DIR, the sample
# files by absolute path, and `[run] listen` on a free loopback port; `liandong run` until its
# /healthz answers 200 (after its start-up jobs: migrations, the sync of every source, the
# evaluation, the notifications, the report), settle, sample VmRSS likewise, SIGTERM (it should
# exit 0). One process at a time, so neither measures the other's load. The exit status is 0
# whatever the results (2 when the measurement cannot be set up).
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-bench-out/daemon}
# shellcheck source-path=SCRIPTDIR/.. source=scripts/bench-lib.sh
source scripts/bench-lib.sh

BENCH_SETTLE=${BENCH_SETTLE:-10}
BENCH_SAMPLES=${BENCH_SAMPLES:-5}
BENCH_READY_TIMEOUT=${BENCH_READY_TIMEOUT:-300}
ALERTMANAGER_BIN=${ALERTMANAGER_BIN:-prometheus-alertmanager}

command -v "$ALERTMANAGER_BIN" >/dev/null 2>&1 || apt_install prometheus-alertmanager || true
command -v "$ALERTMANAGER_BIN" >/dev/null 2>&1 \
    || { echo "bench-daemon: need $ALERTMANAGER_BIN (Debian package prometheus-alertmanager)" >&2; exit 2; }
bench_dir
build_once
[ -z "$build_note" ] || { echo "bench-daemon: $build_note" >&2; exit 2; }

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
http_status() {  # URL -> the HTTP status, or 000 when nothing answers
    "$PYTHON" - "$1" <<'EOF'
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
EOF
}
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status"; }

PIDS=()
# shellcheck disable=SC2317  # run by the trap
cleanup() { local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# idle KEY PID URL LOG: waits until URL answers 200 while PID lives, settles, samples VmRSS;
# sets RES[KEY] ("ready_secs rss_kb ok", or "- - why") and MAXKB[KEY] (VmHWM: the peak so far).
# shellcheck disable=SC2034  # RES and MAXKB are bench-lib's
idle() {
    local key=$1 pid=$2 url=$3 log=$4 t0 waited=0 i samples=()
    t0=$(date +%s.%N)
    while [ "$(http_status "$url")" != 200 ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            local rc=0
            wait "$pid" || rc=$?
            say "$key exited ($rc) before $url answered; last lines of $log:"
            tail -n 20 "$log" >&2 || true
            RES[$key]="- - exit_$rc"
            return 1
        fi
        if [ "$waited" -ge $((BENCH_READY_TIMEOUT * 5)) ]; then
            say "$key: $url did not answer 200 within ${BENCH_READY_TIMEOUT}s; last lines of $log:"
            tail -n 20 "$log" >&2 || true
            RES[$key]="- - not_ready"
            return 1
        fi
        sleep 0.2
        waited=$((waited + 1))
    done
    local ready; ready=$(echo "$(date +%s.%N) - $t0" | bc -l)
    say "$key ready after $(printf '%.1f' "$ready")s; settling ${BENCH_SETTLE}s"
    sleep "$BENCH_SETTLE"
    for ((i = 1; i <= BENCH_SAMPLES; i++)); do
        [ "$i" -eq 1 ] || sleep 1
        samples+=("$(rss_kb "$pid")")
    done
    say "$key VmRSS samples (kB): ${samples[*]}"
    RES[$key]="$(printf '%.1f' "$ready") $(median "${samples[@]}") ok"
    MAXKB[$key]=$(hwm_kb "$pid")
}

# stop KEY PID: SIGTERM, up to 30 s for it to end; sets STOPPED[KEY] ("exit N in S s" or "killed").
declare -A STOPPED
stop() {
    local key=$1 pid=$2 t0 rc=0 i
    t0=$(date +%s.%N)
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        STOPPED[$key]="killed after 30 s"
    else
        wait "$pid" 2>/dev/null || rc=$?
        STOPPED[$key]="exit $rc in $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc -l)") s"
    fi
    say "$key stopped: ${STOPPED[$key]}"
}

# --- the peer: Alertmanager -----------------------------------------------------------------------
AM_DIR=$DIR/alertmanager
rm -rf "$AM_DIR"
mkdir -p "$AM_DIR/data"
cat >"$AM_DIR/alertmanager.yml" <<'EOF'
route:
  receiver: "null"
receivers:
  - name: "null"
EOF
AM_VERSION=$("$ALERTMANAGER_BIN" --version 2>&1 | sed -n 's/^alertmanager, version \([^ ]*\).*/\1/p')
AM_PORT=$(free_port)
say "Alertmanager ${AM_VERSION:-?} on 127.0.0.1:$AM_PORT"
"$ALERTMANAGER_BIN" --config.file="$AM_DIR/alertmanager.yml" --storage.path="$AM_DIR/data" \
    --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= >"$AM_DIR/alertmanager.log" 2>&1 &
AM_PID=$!
PIDS+=("$AM_PID")
idle peer "$AM_PID" "http://127.0.0.1:$AM_PORT/-/ready" "$AM_DIR/alertmanager.log" || true
kill -0 "$AM_PID" 2>/dev/null && stop peer "$AM_PID"

# --- liandong run on the sample county ------------------------------------------------------------
LD_DIR=$DIR/liandong
rm -rf "$LD_DIR"
mkdir -p "$LD_DIR/work"
LD_PORT=$(free_port)
CONFIG=$LD_DIR/liandong.toml
# The sample configuration with the store and the e-mail folder here and the sample files by
# absolute path (they are single files: read, never archived); the daemon's endpoints on LD_PORT.
sed -e "s#^url = \"sqlite://var/liandong.db\"#url = \"sqlite://$LD_DIR/liandong.db\"#" \
    -e "s#^path = \"config/#path = \"$ROOT/config/#" \
    -e "s#^dir = \"var/outbox\"#dir = \"$LD_DIR/outbox\"#" \
    config/liandong.toml >"$CONFIG"
if grep -q '^\[run\]' "$CONFIG"; then   # the sample has a [run] table: its listen replaced
    sed -i -e '/^listen = /d' -e "s/^\[run\]\$/[run]\nlisten = \"127.0.0.1:$LD_PORT\"/" "$CONFIG"
else
    printf '\n[run]\nlisten = "127.0.0.1:%s"\n' "$LD_PORT" >>"$CONFIG"
fi
grep -q "sqlite://$LD_DIR/liandong.db" "$CONFIG" || { echo "bench-daemon: could not point the store at $LD_DIR" >&2; exit 2; }
if ! "$LIANDONG_BIN" --config "$CONFIG" check-config >"$LD_DIR/check-config.log" 2>&1; then
    say "liandong check-config failed:"
    cat "$LD_DIR/check-config.log" >&2
    RES[liandong]="- - check_config"
else
    say "liandong run on 127.0.0.1:$LD_PORT (store $LD_DIR/liandong.db)"
    (cd "$LD_DIR/work" && exec "$LIANDONG_BIN" --config "$CONFIG" --log info run) >"$LD_DIR/run.log" 2>&1 &
    LD_PID=$!
    PIDS+=("$LD_PID")
    idle liandong "$LD_PID" "http://127.0.0.1:$LD_PORT/healthz" "$LD_DIR/run.log" || true
    kill -0 "$LD_PID" 2>/dev/null && stop liandong "$LD_PID"
fi

# --- the table ----------------------------------------------------------------------------------
read -r pr pk pst <<<"${RES[peer]:-- - missing}"
read -r lr lk lst <<<"${RES[liandong]:-- - missing}"
mb() { echo "scale=1; $1 / 1024" | bc -l; }
{
    echo "daemon idle memory benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, settled ${BENCH_SETTLE} s, median of $BENCH_SAMPLES VmRSS samples"
    printf '| process | ready after | idle RSS | peak RSS (VmHWM) | ratio | target |\n| --- | --- | --- | --- | --- | --- |\n'
    if [ "$pst" = ok ]; then
        echo "| peer: Prometheus Alertmanager ${AM_VERSION:-?} (Debian), idle | $pr s | $(mb "$pk") MB | $(mb "${MAXKB[peer]}") MB | 1.00 | |"
    else
        echo "| peer: Prometheus Alertmanager | FAIL ($pst) | | | | |"
    fi
    if [ "$lst" = ok ] && [ "$pst" = ok ]; then
        ratio=$(echo "$lk / $pk" | bc -l)
        printf '| liandong run, sample county, idle after start-up | %s s | %s MB | %s MB | %.2f | none (reported) |\n' \
            "$lr" "$(mb "$lk")" "$(mb "${MAXKB[liandong]}")" "$ratio"
    elif [ "$lst" = ok ]; then
        echo "| liandong run, sample county, idle after start-up | $lr s | $(mb "$lk") MB | $(mb "${MAXKB[liandong]}") MB | - | none (reported) — no peer |"
    else
        echo "| liandong run | FAIL ($lst) | | | | |"
    fi
    [ -z "${STOPPED[liandong]:-}" ] || echo "liandong after SIGTERM: ${STOPPED[liandong]}"
} | tee "$DIR/daemon-results.txt"
