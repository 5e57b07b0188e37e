#!/usr/bin/env bash
# Ingest benchmark on PostgreSQL: liandong `sync` of one large case CSV into a PostgreSQL store,
# against the peer, psql's `\copy` of the same file into a table with the same unique key
# (unit, case number) that liandong's upsert keeps.
#
#   scripts/bench-ingest-pg.sh
#
# Environment (all optional), besides those of scripts/bench-ingest.sh (BENCH_DIR, BENCH_ROWS,
# BENCH_RUNS, BENCH_SKIP_BUILD, LIANDONG_BIN):
#   BENCH_PG_ADMIN=postgres://postgres@127.0.0.1:5432/postgres    where databases are made
#   BENCH_PG_DB=liandong_bench                                     the database (re-created)
#   BENCH_FIRST_MAX=1.5 BENCH_RESYNC_MAX=1.0 BENCH_RSS_MAX_MB=100  the targets
#
# Steps: build (once); the case CSV as scripts/bench-ingest.sh makes it; peer = `\copy` into a
# fresh keyed table (all columns text, UNIQUE (unit, case number)); first load = liandong sync
# into a freshly created database; re-sync = liandong sync again with nothing changed. Each step
# runs BENCH_RUNS times; the medians are reported, with peak RSS (of liandong's process: the
# server's own memory is PostgreSQL's, as it is for the peer). For information, the floor: psql's
# binary \copy of the rows liandong stored into liandong's own empty table, its keys and indexes
# dropped first and built after, then vacuumed (what liandong's first load has the server do,
# without a CSV). The table goes to stdout and to
# $BENCH_DIR/ingest-pg-results.txt. The exit status is 0 whatever the results (2 only when the
# measurement cannot be set up: no psql, no server).
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/.. source=scripts/bench-lib.sh
source scripts/bench-lib.sh

BENCH_FIRST_MAX=${BENCH_FIRST_MAX:-1.5}
BENCH_RESYNC_MAX=${BENCH_RESYNC_MAX:-1.0}
BENCH_RSS_MAX_MB=${BENCH_RSS_MAX_MB:-100}
BENCH_PG_ADMIN=${BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
BENCH_PG_DB=${BENCH_PG_DB:-liandong_bench}
PG_URL=${BENCH_PG_ADMIN%/*}/$BENCH_PG_DB

need_tools bench-ingest-pg
if ! command -v psql >/dev/null 2>&1 || ! psql "$BENCH_PG_ADMIN" -qAtc 'SELECT 1' >/dev/null 2>&1; then
    echo "bench-ingest-pg: need psql and a PostgreSQL server at $BENCH_PG_ADMIN" >&2
    exit 2
fi
bench_dir

# --- 1. build (once) and data ----------------------------------------------------------------
build_once
make_cases

# A fresh, empty database for each run (untimed).
# shellcheck disable=SC2317  # called by name, through measure_step
fresh_db() {
    psql "$BENCH_PG_ADMIN" -qAt -c "DROP DATABASE IF EXISTS $BENCH_PG_DB WITH (FORCE)" \
        -c "CREATE DATABASE $BENCH_PG_DB" >/dev/null
}

# --- 2. the peer: \copy into a table keyed like liandong's cases -------------------------------
header=$(head -n 1 "$CASES" | sed 's/^\xEF\xBB\xBF//')
cols=$(printf '%s\n' "$header" | awk -F, '{ for (i = 1; i <= NF; i++) printf "%s\"%s\" text", (i > 1 ? ", " : ""), $i }')
# shellcheck disable=SC2317
fresh_keyed() {
    fresh_db && psql "$PG_URL" -qAtc "CREATE TABLE peer ($cols, UNIQUE (\"执法单位\", \"案号\"))" >/dev/null
}
measure_step peer fresh_keyed no_check psql "$PG_URL" -qAt -c "\\copy peer FROM '$CASES' WITH (FORMAT csv, HEADER true)" || true

# --- 3. the liandong configuration -----------------------------------------------------------
{
    echo "# Written by scripts/bench-ingest-pg.sh: the five enforcement units of the Daocheng sample"
    echo "# and one file source with the benchmark cases, stored in PostgreSQL."
    toml_base "$PG_URL"
} >"$DIR/bench-pg.toml"

# --- 4. liandong: first load (fresh database each run), then unchanged re-sync --------------
# shellcheck disable=SC2317
fresh_store() {
    fresh_db && "$LIANDONG_BIN" --config "$DIR/bench-pg.toml" migrate >/dev/null 2>&1
}
if [ -z "$build_note" ]; then
    if measure_step first fresh_store no_check "$LIANDONG_BIN" --config "$DIR/bench-pg.toml" sync; then
        measure_step resync nothing no_check "$LIANDONG_BIN" --config "$DIR/bench-pg.toml" sync || true
        "$LIANDONG_BIN" --config "$DIR/bench-pg.toml" status >"$DIR/status-pg.log" 2>&1 || true
    else
        RES[resync]="- - skipped"
    fi
else
    RES[first]="- - no_binary"
    RES[resync]="- - no_binary"
fi

# --- 5. (info) the floor: psql's own binary \copy of liandong's stored rows into liandong's
# empty table, its keys and indexes dropped first and built after, then VACUUM (ANALYZE), as
# liandong's first load does: the server's part of a first load, with no CSV to read. The rows are those the last re-sync left.
floor_sql=$DIR/floor.sql
copy_cols="unit_id, unit_known, case_key, case_no, title, party, party_id, cause, filed_on, decided_on, closed_on, amount, major, suspected_crime, transfer_decided_on, updated_at, fingerprint, source, first_seen_at, changed_at, rev"
if [ -z "$build_note" ] && [ "${RES[resync]##* }" = ok ] \
    && psql "$PG_URL" -qAtc "\\copy (SELECT $copy_cols FROM cases) TO '$DIR/cases-rows.bin' WITH (FORMAT binary)"; then
    # The statements that drop and rebuild the table's keys and plain indexes (a partial index stays).
    # shellcheck disable=SC2317  # called by fresh_floor, through measure_step
    keys_sql() {
        psql "$PG_URL" -qAt <<'SQL'
SELECT format('ALTER TABLE cases DROP CONSTRAINT %I;', conname) FROM pg_constraint
 WHERE conrelid = 'cases'::regclass AND contype IN ('p', 'u');
SELECT format('DROP INDEX %I;', i.relname) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
 WHERE x.indrelid = 'cases'::regclass AND x.indpred IS NULL
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid);
SELECT '--build';
SELECT format('ALTER TABLE cases ADD CONSTRAINT %I %s;', conname, pg_get_constraintdef(oid)) FROM pg_constraint
 WHERE conrelid = 'cases'::regclass AND contype IN ('p', 'u') ORDER BY contype;
SELECT pg_get_indexdef(x.indexrelid) || ';' FROM pg_index x
 WHERE x.indrelid = 'cases'::regclass AND x.indpred IS NULL
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid);
SQL
    }
    # shellcheck disable=SC2317
    fresh_floor() {
        fresh_store || return 1
        local k
        k=$(keys_sql) || return 1
        {
            echo 'BEGIN;'
            printf '%s\n' "$k" | sed '/^--build$/,$d'
            echo "\\copy cases ($copy_cols) FROM '$DIR/cases-rows.bin' WITH (FORMAT binary)"
            printf '%s\n' "$k" | sed '1,/^--build$/d'
            echo 'COMMIT;'
            echo 'VACUUM (ANALYZE) cases;'
        } >"$floor_sql"
    }
    measure_step floor fresh_floor no_check psql "$PG_URL" -qAt -v ON_ERROR_STOP=1 -f "$floor_sql" || true
else
    RES[floor]="- - skipped"
fi

# --- 6. the table ------------------------------------------------------------------------------
read -r peer_s _ peer_st <<<"${RES[peer]}"
table_setup 30 24 2 median peer "$BENCH_RSS_MAX_MB"
row() {  # LABEL KEY MAX_RATIO
    local tgt=-
    [ -z "$3" ] \
        || tgt=$(awk -v max="$3" -v rssmax="$BENCH_RSS_MAX_MB" 'BEGIN { printf "<= %.1fx peer, <= %d MB", max, rssmax }')
    table_row "$1" "$2" "$peer_s" "$peer_st" "$3" "$tgt"
}
{
    echo "liandong ingest benchmark on PostgreSQL — $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs, $(psql "$BENCH_PG_ADMIN" -qAtc 'SHOW server_version')"
    echo "input: $CASES, $BENCH_ROWS rows, $(awk -v b="$csv_bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB; median of $BENCH_RUNS runs"
    [ -z "$build_note" ] || echo "note: $build_note"
    table_header
    row "peer: psql COPY, keyed table" peer ""
    row "(info) floor: psql, our table" floor ""
    row "liandong sync (first load)" first "$BENCH_FIRST_MAX"
    row "liandong sync (unchanged)" resync "$BENCH_RESYNC_MAX"
} | tee "$DIR/ingest-pg-results.txt"

exit 0
