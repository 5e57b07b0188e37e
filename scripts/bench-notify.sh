#!/usr/bin/env bash
# Dispatch benchmark (issue 5): `liandong notify --send-only` sending 10,000 queued e-mails (one
# digest each to 10,000 units' contacts) to a local SMTP server, against the peer: a minimal
# Python smtplib loop sending the same messages (read from the same outbox) to the same server,
# over one connection, in the same run.
#
#   scripts/bench-notify.sh
#
# Environment (all optional):
#   BENCH_DIR=bench-out/notify      where the data, databases, logs and results go
#   BENCH_MESSAGES=10000            messages (= units, each with one contact and one finding)
#   BENCH_RUNS=3                    runs per step; the median is reported
#   BENCH_SKIP_BUILD=1              do not run `cargo build --release`
#   LIANDONG_BIN=target/release/liandong
#
# Steps: build (once); start aiosmtpd with its Sink handler (accepts and discards, so the server
# costs both sides the same and as little as possible) on a free loopback port; write the
# configuration (scripts/bench-notify-setup.py config); set-up (untimed): `liandong migrate`, the
# findings inserted (setup.py seed), `liandong notify --queue-only` queueing BENCH_MESSAGES
# digests, the store kept as a template; per run, a copy of the template; liandong = `notify
# --send-only` (4 SMTP connections, every attempt committed with its audit row), checked to leave
# every message sent; peer = setup.py peer on a copy. Throughput = messages / wall time.
# The exit status is 0 whatever the results (2 only when the measurement cannot be set up).
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-bench-out/notify}
# shellcheck source-path=SCRIPTDIR/.. source=scripts/bench-lib.sh
source scripts/bench-lib.sh

BENCH_MESSAGES=${BENCH_MESSAGES:-10000}
AS_OF=2025-10-13T10:00:00+08:00

need_tools bench-notify
if ! "$PYTHON" -c "import aiosmtpd" 2>/dev/null; then
    say "installing aiosmtpd"
    "$PYTHON" -m pip install --quiet aiosmtpd >&2 || { echo "bench-notify: need aiosmtpd" >&2; exit 2; }
fi
bench_dir
build_once
[ -z "$build_note" ] || { echo "bench-notify: $build_note" >&2; exit 2; }

PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
say "SMTP sink on 127.0.0.1:$PORT"
"$PYTHON" -m aiosmtpd -n -l "127.0.0.1:$PORT" -c aiosmtpd.handlers.Sink &
SMTP_PID=$!
trap 'kill $SMTP_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
    (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

TEMPLATE=$DIR/queued.db
RUN_DB=$DIR/run.db
CONFIG=$DIR/bench-notify.toml
"$PYTHON" scripts/bench-notify-setup.py config "$CONFIG" "$RUN_DB" "$BENCH_MESSAGES" "$PORT"
rm -f "$RUN_DB" "$RUN_DB"-wal "$RUN_DB"-shm
say "set-up: migrate, $BENCH_MESSAGES findings, notify --queue-only"
"$LIANDONG_BIN" --config "$CONFIG" migrate >&2
"$PYTHON" scripts/bench-notify-setup.py seed "$RUN_DB" "$BENCH_MESSAGES"
"$LIANDONG_BIN" --config "$CONFIG" --log warn notify --queue-only --as-of "$AS_OF" >&2
sqlite3 "$RUN_DB" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
queued=$(sqlite3 "$RUN_DB" "SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
[ "$queued" -eq "$BENCH_MESSAGES" ] || { echo "bench-notify: queued $queued, expected $BENCH_MESSAGES" >&2; exit 2; }
cp "$RUN_DB" "$TEMPLATE"

# shellcheck disable=SC2317  # called by name, through measure_step
fresh_copy() { rm -f "$RUN_DB" "$RUN_DB"-wal "$RUN_DB"-shm; cp "$TEMPLATE" "$RUN_DB"; }
# shellcheck disable=SC2317
all_sent() {
    local n; n=$(sqlite3 "$RUN_DB" "SELECT COUNT(*) FROM outbox WHERE state = 'sent'")
    [ "$n" -eq "$BENCH_MESSAGES" ] || { CHECK_WHY="sent_$n"; return 1; }
}
# shellcheck disable=SC2317
peer_sent() { grep -q "sent $BENCH_MESSAGES" "$1" || { CHECK_WHY="peer_short"; return 1; }; }

measure_step peer fresh_copy peer_sent "$PYTHON" scripts/bench-notify-setup.py peer "$RUN_DB" "$PORT" || true
measure_step liandong fresh_copy all_sent "$LIANDONG_BIN" --config "$CONFIG" --log warn notify --send-only --as-of "$AS_OF" || true

read -r ps pk pst <<<"${RES[peer]}"
read -r ls lk lst <<<"${RES[liandong]}"
{
    echo "notify dispatch benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $BENCH_MESSAGES e-mails, median of $BENCH_RUNS"
    printf '| step | s | msgs/s | peak RSS | throughput vs peer |\n| --- | --- | --- | --- | --- |\n'
    if [ "$pst" = ok ]; then
        printf '| peer: Python smtplib loop, one connection | %s | %.0f | %d MB | 1.00 |\n' "$ps" "$(echo "$BENCH_MESSAGES / $ps" | bc -l)" $((pk / 1024))
    else
        echo "| peer | $pst | | | |"
    fi
    if [ "$lst" = ok ] && [ "$pst" = ok ]; then
        printf '| liandong notify --send-only | %s | %.0f | %d MB | %.2f (target >= 1) |\n' "$ls" "$(echo "$BENCH_MESSAGES / $ls" | bc -l)" $((lk / 1024)) "$(echo "$ps / $ls" | bc -l)"
    else
        echo "| liandong | $lst | | | |"
    fi
} | tee "$DIR/notify-results.txt"
