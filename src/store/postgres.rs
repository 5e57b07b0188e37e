//! PostgreSQL backend: for larger deployments and for several daemon replicas sharing one store.
//! A password not in the URL comes from `store.password_file` or `store.password_credential`.

use sqlx::{AssertSqlSafe, Row, Transaction};

use crate::records::{Feed, FieldKind, Record, Value, diff};
use crate::store::{Repeated, RowCounts, StoreError, StoreResult};
use std::str::FromStr;
use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::config::StoreConfig;

type Db = sqlx::Postgres;
type Backend = PgStore;
const BEGIN_WRITE: &str = "BEGIN";
const BACKEND_NAME: &str = "postgres";
/// The rows of a batch bound as one JSON array of arrays.
const JSON_ROWS: &str = "jsonb_array_elements($1::jsonb) AS j(value)";

/// Element `i` of a JSON row as a typed column value.
fn json_col(i: usize, col: JsonCol) -> String {
    match col {
        JsonCol::Text => format!("value ->> {i}"),
        JsonCol::Int => format!("(value ->> {i})::bigint"),
        JsonCol::Bool => format!("(value ->> {i})::boolean"),
        JsonCol::Time => format!("(value ->> {i})::timestamptz"),
    }
}

/// A bound JSON array of strings as a one-column subquery: the text before and after the
/// parameter.
const JSON_TEXTS: (&str, &str) = ("SELECT jsonb_array_elements_text(", "::jsonb)");
/// A bound JSON array of [unit, key] pairs as a two-column subquery (u, k).
const JSON_PAIRS: (&str, &str) = (
    "SELECT e ->> 0 AS u, e ->> 1 AS k FROM jsonb_array_elements(",
    "::jsonb) AS e",
);

/// A bound JSON array of [unit, key, party] triples as a three-column subquery (u, k, p).
const JSON_TRIPLES: (&str, &str) = (
    "SELECT e ->> 0 AS u, e ->> 1 AS k, e ->> 2 AS p FROM jsonb_array_elements(",
    "::jsonb) AS e",
);

/// A bound JSON array of integers as a one-column subquery.
const JSON_IDS: (&str, &str) = ("SELECT (jsonb_array_elements_text(", "::jsonb))::bigint");

/// Whether a first load drops a table's unique key and secondary indexes and builds them at
/// commit: yes, under a lock on the table (see `defer_indexes_of_empty`).
const DEFER_INDEXES: bool = true;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone)]
pub struct PgStore {
    writer: PgPool,
    reader: PgPool,
}

impl PgStore {
    pub async fn connect(cfg: &StoreConfig) -> Result<PgStore, crate::store::StoreError> {
        let mut opts = PgConnectOptions::from_str(cfg.url.expose())?.application_name("liandong");
        let secret = crate::config::read_secret(
            "store.password_file",
            cfg.password_file.as_deref(),
            cfg.password_credential.as_deref(),
        )
        .map_err(|e| crate::store::StoreError::Config(e.to_string()))?;
        if let Some(pw) = secret {
            opts = opts.password(pw.expose_secret());
        }
        let pool = PgPoolOptions::new()
            .max_connections(cfg.max_connections.max(2))
            .acquire_timeout(Duration::from_secs(cfg.busy_timeout_secs.max(1)))
            .connect_with(opts)
            .await?;
        Ok(PgStore {
            writer: pool.clone(),
            reader: pool,
        })
    }
}

impl PgStore {
    /// Nothing to hold: sqlx's migrator takes PostgreSQL's advisory lock itself.
    async fn migration_guard(&self) -> StoreResult<Option<std::fs::File>> {
        Ok(None)
    }

    /// Nothing to allow: PostgreSQL imports run alike whoever else is connected.
    fn set_exclusive_first_load(&self) {}

    /// The writer's transaction for an import (never an exclusive one on PostgreSQL).
    async fn begin_write(&self) -> StoreResult<(Transaction<'static, Db>, bool)> {
        Ok((self.writer.begin_with(BEGIN_WRITE).await?, false))
    }

    async fn end_write(&self, _exclusive: bool) {}

    /// After a first load into `feeds`' tables: `VACUUM (ANALYZE)` them at once rather than when
    /// autovacuum next comes round (or never, where it is off) — the planner learns their size
    /// and spread, and the visibility map lets counts read an index alone (the province's
    /// review sampling: 0.83 s before, 0.46 s after, on 2,000,000 cases). The load is committed
    /// either way: a failure here is only logged.
    async fn after_first_load(&self, feeds: &[Feed]) {
        for feed in feeds {
            let t = std::time::Instant::now();
            let sql = format!("VACUUM (ANALYZE) {}", feed.table());
            match sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&self.writer)
                .await
            {
                Ok(_) => tracing::debug!(
                    table = feed.table(),
                    secs = t.elapsed().as_secs_f64(),
                    "vacuumed and analysed after its first load"
                ),
                Err(e) => tracing::warn!(
                    table = feed.table(),
                    "could not vacuum and analyse after its first load (autovacuum will): {e}"
                ),
            }
        }
    }
}

/// The cases closed in a period ($1..=$2), per unit: one (parallel) pass over the table and a
/// hash of the units — on PostgreSQL a skip over the (unit_id, closed_on) index visits the table
/// for every row (1,000 units, 400,000 cases: 0.41 s against 0.10 s).
const CLOSED_PER_UNIT: &str = "SELECT unit_id, COUNT(*) AS n FROM cases \
     WHERE closed_on >= $1 AND closed_on <= $2 GROUP BY unit_id";

/// The files reviewed before the quarter ($1, on or before $2) among the cases closed in the
/// period ($3..=$4), per unit: from the reviews, which are few, to their cases by key (`OFFSET
/// 0` keeps the planner from turning it into a pass over every case).
const REVIEWED_BEFORE_PER_UNIT: &str = "SELECT c.unit_id AS unit_id, COUNT(*) AS n FROM reviews r \
     CROSS JOIN LATERAL (SELECT c.unit_id, c.closed_on FROM cases c \
     WHERE c.unit_id = r.unit_id AND c.case_key = r.case_key OFFSET 0) c \
     WHERE r.reviewed_on < $1 AND r.reviewed_on <= $2 AND c.closed_on >= $3 AND c.closed_on <= $4 \
     GROUP BY c.unit_id";

/// Claims skip the rows another process is claiming: two dispatchers never take one message.
const CLAIM_LOCK: &str = " FOR UPDATE SKIP LOCKED";

/// How a JSON array element is read back as a column value.
#[derive(Clone, Copy)]
enum JsonCol {
    Text,
    Int,
    Bool,
    Time,
}

/// Rows held back by an import that allows it (see `Import::allow_deferred`), applied together at
/// `settle` in one comparison per feed with what is stored. Only what the comparison reads goes
/// to the server — each row's position, key and fingerprint, into a temporary table of the
/// import's transaction; the whole rows wait in a temporary file here, and only the new and
/// changed ones are sent on. An unchanged re-sync sends a sliver of its data and writes nothing.
#[derive(Default)]
pub(super) struct Stage {
    allowed: bool,
    /// The feeds with staging tables in this transaction, and what each holds now.
    feeds: Vec<Staged>,
    /// Whether the table of a settle's new or changed rows exists in this transaction.
    hits_table: bool,
    /// Constraints a first load dropped, by their index's name, with their table and kind
    /// (`PRIMARY KEY`, `UNIQUE`): the index built at commit becomes the constraint again.
    constraints: Vec<(String, &'static str, &'static str)>,
    /// Rows of a first load gathered to be copied into their table (see `DIRECT_GATHER`).
    direct: Vec<(Feed, CopyRows)>,
}

/// Bytes of COPY rows gathered before they are sent: each COPY costs round trips and the
/// server's setting up, so a million rows go in a few dozen rather than five hundred.
const COPY_GATHER: usize = 4 << 20;

/// Bytes of a first load's rows gathered before they are sent: a few batches, so that the
/// file's reader (a few thousand rows ahead) keeps parsing while the server takes them in.
const DIRECT_GATHER: usize = 1 << 20;

/// One feed's held-back rows.
struct Staged {
    feed: Feed,
    /// Rows staged since the last settle; their positions are 0..rows.
    rows: u64,
    /// The rows themselves, each a binary COPY tuple after its length (u32, big-endian); the
    /// keys table says where each starts.
    spool: std::fs::File,
    spooled: u64,
    /// Keys staged here and not sent yet (see `COPY_GATHER`).
    keys: CopyRows,
}

impl Stage {
    pub(super) fn allow(&mut self) {
        self.allowed = true;
    }
}

/// The staged keys of `feed`'s rows: (i, unit_id, case_key, fingerprint, at), `at` the row's
/// place in the spool. Temporary, dropped with the transaction.
fn keys_table(feed: Feed) -> String {
    format!("liandong_keys_{}", feed.table())
}

/// The new and changed rows of a settle, whole: (i, the feed's columns, fingerprint).
fn rows_table(feed: Feed) -> String {
    format!("liandong_rows_{}", feed.table())
}

/// Rows in PostgreSQL's binary COPY format: no text for the server to parse, and no escaping of
/// what the rows hold.
struct CopyRows {
    buf: Vec<u8>,
}

/// The header of binary COPY data: signature, flags, no extension.
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// 2000-01-01, PostgreSQL's epoch for dates and times, in days and seconds from 1970-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;
const PG_EPOCH_SECS: i64 = PG_EPOCH_DAYS * 86_400;

impl CopyRows {
    fn new(rows: usize) -> CopyRows {
        let mut buf = Vec::with_capacity(COPY_HEADER.len() + rows * 320);
        buf.extend_from_slice(COPY_HEADER);
        CopyRows { buf }
    }

    fn row(&mut self, fields: usize) {
        self.buf
            .extend_from_slice(&i16::try_from(fields).unwrap_or(i16::MAX).to_be_bytes());
    }

    fn null(&mut self) {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
    }

    fn bytes(&mut self, b: &[u8]) -> StoreResult<()> {
        let len = i32::try_from(b.len())
            .map_err(|_| StoreError::Invalid(format!("a value of {} bytes", b.len())))?;
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(b);
        Ok(())
    }

    fn text(&mut self, s: &str) -> StoreResult<()> {
        self.bytes(s.as_bytes())
    }

    fn bool(&mut self, b: bool) {
        self.buf.extend_from_slice(&1i32.to_be_bytes());
        self.buf.push(u8::from(b));
    }

    fn int(&mut self, v: i64) {
        self.buf.extend_from_slice(&8i32.to_be_bytes());
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn date(&mut self, d: chrono::NaiveDate) {
        use chrono::Datelike;
        // Days from 0001-01-01 (day 1) to the value, moved to PostgreSQL's epoch. Any date chrono
        // holds fits; PostgreSQL refuses one outside its own range, as it would the same text.
        let days = i64::from(d.num_days_from_ce()) - 719_163 - PG_EPOCH_DAYS;
        self.buf.extend_from_slice(&4i32.to_be_bytes());
        self.buf
            .extend_from_slice(&(i32::try_from(days).unwrap_or(i32::MAX)).to_be_bytes());
    }

    fn time(&mut self, t: chrono::DateTime<chrono::Utc>) -> StoreResult<()> {
        // Microseconds, rounded as PostgreSQL rounds a finer time it is given as text.
        let micros = (t.timestamp() - PG_EPOCH_SECS)
            .checked_mul(1_000_000)
            .and_then(|m| m.checked_add((i64::from(t.timestamp_subsec_nanos()) + 500) / 1000))
            .ok_or_else(|| StoreError::Invalid(format!("time {t} out of range")))?;
        self.int(micros);
        Ok(())
    }

    /// A field's value in its column's type; a value of another kind is NULL, as a bound one is.
    fn value(&mut self, kind: FieldKind, v: &Value) -> StoreResult<()> {
        match (kind, v) {
            (FieldKind::Text | FieldKind::Pii, Value::Text(s)) => self.text(s)?,
            (FieldKind::Date, Value::Date(d)) => self.date(*d),
            (FieldKind::DateTime, Value::DateTime(t)) => self.time(*t)?,
            (FieldKind::Amount, Value::Fen(f)) => self.int(*f),
            (FieldKind::Bool, Value::Bool(b)) => self.bool(*b),
            _ => self.null(),
        }
        Ok(())
    }

    /// A record's key, case number, values and fingerprint (the order of `columns`, then
    /// `fingerprint`), after `lead` fields the caller wrote.
    fn record(&mut self, r: &Record, fp: &[u8; 16]) -> StoreResult<()> {
        self.text(&r.unit_id)?;
        self.bool(r.unit_known);
        self.text(r.case_no.key())?;
        self.text(r.case_no.as_written())?;
        for (spec, v) in r.feed.fields().iter().zip(&r.values) {
            self.value(spec.kind, v)?;
        }
        for _ in r.values.len()..r.feed.fields().len() {
            self.null();
        }
        self.bytes(fp)
    }

    fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }
}

impl ImportTx {
    /// Sends `data` (binary COPY rows) through `statement` (a `COPY … FROM STDIN`) in this
    /// import's transaction; returns the rows copied.
    async fn copy_in(&mut self, statement: &str, data: Vec<u8>) -> StoreResult<u64> {
        let mut copy = self.tx.copy_in_raw(statement).await?;
        if let Err(e) = copy.send(data).await {
            // The import fails; tell the server so that the connection is usable for the
            // rollback.
            let _ = copy.abort("liandong: the rows could not be sent").await;
            return Err(e.into());
        }
        Ok(copy.finish().await?)
    }

    /// Copies rows straight into `feed`'s table as they are (a first load whose unique key is
    /// built at commit).
    /// Gathered and sent `DIRECT_GATHER` bytes at a time: with no unique key in place nothing
    /// can refuse a row but its value, which fails the import when the rows are sent.
    async fn insert_all(
        &mut self,
        feed: Feed,
        records: &[(&Record, [u8; 16])],
    ) -> StoreResult<u64> {
        let fields = 4 + feed.fields().len() + 5;
        let at = match self.stage.direct.iter().position(|(f, _)| *f == feed) {
            Some(at) => at,
            None => {
                self.stage.direct.push((feed, CopyRows::new(0)));
                self.stage.direct.len() - 1
            }
        };
        let rows = &mut self.stage.direct[at].1;
        for (r, fp) in records {
            rows.row(fields);
            rows.record(r, fp)?;
            rows.text(&self.source)?;
            rows.time(self.at)?;
            rows.time(self.at)?;
            rows.int(self.rev);
        }
        if rows.buf.len() >= DIRECT_GATHER {
            self.send_direct().await?;
        }
        Ok(records.len() as u64)
    }

    /// Sends the rows `insert_all` gathered.
    async fn send_direct(&mut self) -> StoreResult<()> {
        for (feed, rows) in std::mem::take(&mut self.stage.direct) {
            if rows.buf.len() == COPY_HEADER.len() {
                continue;
            }
            let statement = format!(
                "COPY {} ({}, fingerprint, source, first_seen_at, changed_at, rev) FROM STDIN (FORMAT binary)",
                feed.table(),
                columns(feed)
            );
            self.copy_in(&statement, rows.finish()).await?;
        }
        Ok(())
    }

    /// Sends what is gathered and not sent yet: before anything reads the tables or the keys.
    async fn send_gathered(&mut self) -> StoreResult<()> {
        self.send_direct().await?;
        for at in 0..self.stage.feeds.len() {
            self.send_keys(at).await?;
        }
        Ok(())
    }

    /// Sends the keys gathered for `self.stage.feeds[at]`.
    async fn send_keys(&mut self, at: usize) -> StoreResult<()> {
        let staged = &mut self.stage.feeds[at];
        if staged.keys.buf.len() == COPY_HEADER.len() {
            return Ok(());
        }
        let keys = std::mem::replace(&mut staged.keys, CopyRows::new(0));
        let statement = format!(
            "COPY {} (i, unit_id, case_key, fingerprint, at) FROM STDIN (FORMAT binary)",
            keys_table(staged.feed)
        );
        self.copy_in(&statement, keys.finish()).await?;
        Ok(())
    }

    /// Stages a batch, and applies it at once unless rows may be held back and none of the
    /// batch repeats a case an earlier batch listed (those are compared with the case as the
    /// earlier row left it: what was held back is applied before them).
    async fn upsert(
        &mut self,
        feed: Feed,
        records: Vec<Record>,
        fps: Vec<[u8; 16]>,
        repeats: &[usize],
        counts: &mut RowCounts,
        changed: &mut [Repeated],
    ) -> StoreResult<()> {
        if !repeats.is_empty() {
            let (earlier, _) = self.settle_rows(&[]).await?;
            add_applied(counts, &earlier);
        }
        self.stage_rows(feed, &records, &fps).await?;
        if self.stage.allowed && repeats.is_empty() {
            return Ok(());
        }
        let (now, outcomes) = self.settle_rows(repeats).await?;
        add_applied(counts, &now);
        for (slot, outcome) in changed.iter_mut().zip(outcomes) {
            *slot = outcome;
        }
        Ok(())
    }

    /// Stages a batch of `feed` (its tables and spool made at the first batch), numbering its
    /// rows on from those staged before: the keys to the server, the rows to the spool.
    async fn stage_rows(
        &mut self,
        feed: Feed,
        records: &[Record],
        fps: &[[u8; 16]],
    ) -> StoreResult<()> {
        use std::io::Write as _;
        let at = match self.stage.feeds.iter().position(|f| f.feed == feed) {
            Some(at) => at,
            None => {
                sqlx::query(AssertSqlSafe(format!(
                    "CREATE TEMPORARY TABLE {} (i bigint, unit_id text, case_key text, \
                     fingerprint bytea, at bigint) ON COMMIT DROP",
                    keys_table(feed)
                )))
                .execute(&mut *self.tx)
                .await?;
                sqlx::query(AssertSqlSafe(format!(
                    "CREATE TEMPORARY TABLE {} ON COMMIT DROP AS \
                     SELECT 0::bigint AS i, {}, fingerprint FROM {} WITH NO DATA",
                    rows_table(feed),
                    columns(feed),
                    feed.table()
                )))
                .execute(&mut *self.tx)
                .await?;
                let spool = tempfile::tempfile().map_err(|e| {
                    StoreError::Invalid(format!("cannot make a temporary file for the rows: {e}"))
                })?;
                self.stage.feeds.push(Staged {
                    feed,
                    rows: 0,
                    spool,
                    spooled: 0,
                    keys: CopyRows::new(0),
                });
                self.stage.feeds.len() - 1
            }
        };
        let staged = &mut self.stage.feeds[at];
        let fields = 1 + 4 + feed.fields().len() + 1;
        let keys = &mut staged.keys;
        let mut whole = CopyRows {
            buf: Vec::with_capacity(records.len() * 330),
        };
        for (k, (r, fp)) in records.iter().zip(fps).enumerate() {
            let i = i64::try_from(staged.rows + k as u64).unwrap_or(i64::MAX);
            let place = staged.spooled + whole.buf.len() as u64;
            keys.row(5);
            keys.int(i);
            keys.text(&r.unit_id)?;
            keys.text(r.case_no.key())?;
            keys.bytes(fp)?;
            keys.int(i64::try_from(place).unwrap_or(i64::MAX));
            let start = whole.buf.len();
            whole.buf.extend_from_slice(&[0; 4]);
            whole.row(fields);
            whole.int(i);
            whole.record(r, fp)?;
            let len = u32::try_from(whole.buf.len() - start - 4)
                .map_err(|_| StoreError::Invalid("a row of more than 4 GB".into()))?;
            whole.buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
        }
        staged.spool.write_all(&whole.buf).map_err(|e| {
            StoreError::Invalid(format!("cannot keep the rows in a temporary file: {e}"))
        })?;
        staged.spooled += whole.buf.len() as u64;
        staged.rows += records.len() as u64;
        if staged.keys.buf.len() >= COPY_GATHER {
            self.send_keys(at).await?;
        }
        Ok(())
    }

    /// Applies every staged row: compared with what is stored in one pass per feed, the new
    /// ones inserted, the changed ones updated with their history; the unchanged ones are not
    /// written at all. Returns the counts and, for each position of `repeats` (rows of a batch
    /// staged alone), what that row did.
    async fn settle_rows(&mut self, repeats: &[usize]) -> StoreResult<(RowCounts, Vec<Repeated>)> {
        let mut counts = RowCounts::default();
        let mut outcomes = vec![Repeated::Same; repeats.len()];
        for at in 0..self.stage.feeds.len() {
            let (feed, staged) = (self.stage.feeds[at].feed, self.stage.feeds[at].rows);
            if staged == 0 {
                continue;
            }
            let changes = self
                .settle_feed(at, &mut counts, !repeats.is_empty())
                .await?;
            for (i, c) in changes {
                if let Ok(k) = repeats.binary_search(&i) {
                    outcomes[k] = Repeated::Changed(c);
                }
            }
            sqlx::query(AssertSqlSafe(format!(
                "TRUNCATE {}, {}",
                keys_table(feed),
                rows_table(feed)
            )))
            .execute(&mut *self.tx)
            .await?;
            let staged = &mut self.stage.feeds[at];
            staged.rows = 0;
            staged.spooled = 0;
            staged
                .spool
                .set_len(0)
                .and_then(|()| std::io::Seek::rewind(&mut staged.spool))
                .map_err(|e| {
                    StoreError::Invalid(format!("cannot reuse the rows' temporary file: {e}"))
                })?;
        }
        Ok((counts, outcomes))
    }

    /// Settles the rows staged in `self.stage.feeds[at]` (see `settle_rows`); with `keep`,
    /// returns what each updated row changed, by its staged position.
    async fn settle_feed(
        &mut self,
        at: usize,
        counts: &mut RowCounts,
        keep: bool,
    ) -> StoreResult<Vec<(usize, serde_json::Value)>> {
        self.send_keys(at).await?;
        let (feed, staged) = (self.stage.feeds[at].feed, self.stage.feeds[at].rows);
        let (table, keys, stage) = (feed.table(), keys_table(feed), rows_table(feed));
        if !self.stage.hits_table {
            sqlx::query(
                "CREATE TEMPORARY TABLE liandong_hits (i bigint PRIMARY KEY, id bigint, at bigint) ON COMMIT DROP",
            )
            .execute(&mut *self.tx)
            .await?;
            self.stage.hits_table = true;
        } else {
            sqlx::query("TRUNCATE liandong_hits")
                .execute(&mut *self.tx)
                .await?;
        }
        // The one comparison: each staged row that is new (no id) or differs from its case.
        let hits = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO liandong_hits (i, id, at) SELECT k.i, c.id, k.at FROM {keys} k \
             LEFT JOIN {table} c ON c.unit_id = k.unit_id AND c.case_key = k.case_key \
             WHERE c.id IS NULL OR c.fingerprint <> k.fingerprint"
        )))
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        let mut changes = Vec::new();
        if hits == 0 {
            counts.unchanged += staged;
            return Ok(changes);
        }
        self.send_hits(at).await?;
        let cols = columns(feed);
        let staged_cols = cols
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let inserted = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} ({cols}, fingerprint, source, first_seen_at, changed_at, rev) \
             SELECT {staged_cols}, s.fingerprint, $1, $2, $2, $3 FROM liandong_hits h \
             JOIN {stage} s ON s.i = h.i WHERE h.id IS NULL ORDER BY h.i"
        )))
        .bind(self.source.clone())
        .bind(self.at)
        .bind(self.rev)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        let updated = hits - inserted;
        counts.inserted += inserted;
        counts.updated += updated;
        counts.unchanged += staged - hits;
        if updated == 0 {
            return Ok(changes);
        }
        // The changed rows, a page at a time: their stored and staged values (for the history,
        // masked as it keeps them), then one update and one history insert per page.
        let sets = feed
            .fields()
            .iter()
            .map(|f| format!(", {0} = s.{0}", f.name))
            .collect::<String>();
        let mut after = -1i64;
        loop {
            let old = sqlx::query(AssertSqlSafe(format!(
                "SELECT h.i AS staged_at, c.* FROM liandong_hits h JOIN {table} c ON c.id = h.id \
                 WHERE h.id IS NOT NULL AND h.i > $1 ORDER BY h.i LIMIT {UPDATE_PAGE}"
            )))
            .bind(after)
            .fetch_all(&mut *self.tx)
            .await?;
            let Some(last) = old.last() else { break };
            let last: i64 = last.try_get("staged_at")?;
            let new = sqlx::query(AssertSqlSafe(format!(
                "SELECT s.i AS id, s.*, ''::text AS source, $3::timestamptz AS first_seen_at, \
                 $3::timestamptz AS changed_at FROM {stage} s WHERE s.i > $1 AND s.i <= $2"
            )))
            .bind(after)
            .bind(last)
            .bind(self.at)
            .fetch_all(&mut *self.tx)
            .await?;
            let mut staged_rows = std::collections::HashMap::with_capacity(new.len());
            for row in &new {
                let r = read_record(feed, row)?;
                staged_rows.insert(r.id, r.record);
            }
            let (mut ids, mut texts) = (Vec::with_capacity(old.len()), Vec::new());
            for row in &old {
                let at: i64 = row.try_get("staged_at")?;
                let stored = read_record(feed, row)?;
                let now = staged_rows.get(&at).ok_or_else(|| {
                    StoreError::Corrupt(format!("{stage}: staged row {at} is missing"))
                })?;
                let diff = diff(&stored.record, now);
                ids.push(stored.id);
                texts.push(diff.to_string());
                if keep {
                    changes.push((usize::try_from(at).unwrap_or(usize::MAX), diff));
                }
            }
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE {table} c SET case_no = s.case_no, unit_known = s.unit_known{sets}, \
                 fingerprint = s.fingerprint, source = $1, changed_at = $2, rev = $3 \
                 FROM liandong_hits h JOIN {stage} s ON s.i = h.i \
                 WHERE c.id = h.id AND h.id IS NOT NULL AND h.i > $4 AND h.i <= $5"
            )))
            .bind(self.source.clone())
            .bind(self.at)
            .bind(self.rev)
            .bind(after)
            .bind(last)
            .execute(&mut *self.tx)
            .await?;
            sqlx::query(
                "INSERT INTO record_history (feed, record_id, source, changed_at, changes) \
                 SELECT $1, r.id, $2, $3, r.changes FROM unnest($4::bigint[], $5::text[]) AS r(id, changes)",
            )
            .bind(table)
            .bind(self.source.clone())
            .bind(self.at)
            .bind(ids)
            .bind(texts)
            .execute(&mut *self.tx)
            .await?;
            after = last;
        }
        Ok(changes)
    }

    /// Sends the whole rows of a settle's hits from the spool into the feed's rows table, a
    /// page of hits at a time (one COPY each).
    async fn send_hits(&mut self, at: usize) -> StoreResult<()> {
        use std::os::unix::fs::FileExt as _;
        let feed = self.stage.feeds[at].feed;
        let statement = format!(
            "COPY {} (i, {}, fingerprint) FROM STDIN (FORMAT binary)",
            rows_table(feed),
            columns(feed)
        );
        let mut after = -1i64;
        loop {
            let page = sqlx::query(AssertSqlSafe(format!(
                "SELECT i, at FROM liandong_hits WHERE i > $1 ORDER BY i LIMIT {SEND_PAGE}"
            )))
            .bind(after)
            .fetch_all(&mut *self.tx)
            .await?;
            let Some(last) = page.last() else { break };
            after = last.try_get("i")?;
            let mut rows = CopyRows::new(page.len());
            let spool = &self.stage.feeds[at].spool;
            let unreadable = |e: std::io::Error| {
                StoreError::Invalid(format!(
                    "cannot read the rows back from their temporary file: {e}"
                ))
            };
            for hit in &page {
                let place = u64::try_from(hit.try_get::<i64, _>("at")?).unwrap_or(u64::MAX);
                let mut len = [0u8; 4];
                spool.read_exact_at(&mut len, place).map_err(unreadable)?;
                let len = u32::from_be_bytes(len) as usize;
                let start = rows.buf.len();
                rows.buf.resize(start + len, 0);
                spool
                    .read_exact_at(&mut rows.buf[start..], place + 4)
                    .map_err(unreadable)?;
            }
            self.copy_in(&statement, rows.finish()).await?;
        }
        Ok(())
    }

    /// When `feed`'s table is empty (a first load), drops its keys and indexes for the length of
    /// this import and keeps their definitions to build them at commit (as on SQLite: one sorted
    /// build costs a fraction of keeping them up to date row by row). The
    /// table is locked first, and stays locked to the commit: another import of the same feed
    /// (another source, another replica) and anyone reading the table wait for this one, and
    /// find it complete. A partial index (the rare rows of units not configured) stays.
    async fn defer_indexes_of_empty(&mut self, feed: Feed) -> StoreResult<()> {
        let table = feed.table();
        let empty = format!("SELECT NOT EXISTS (SELECT 1 FROM {table}) AS empty");
        let is_empty = |row: sqlx::postgres::PgRow| row.try_get::<bool, _>("empty");
        if !is_empty(
            sqlx::query(AssertSqlSafe(empty.clone()))
                .fetch_one(&mut *self.tx)
                .await?,
        )? {
            return Ok(());
        }
        sqlx::query(AssertSqlSafe(format!(
            "LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
        )))
        .execute(&mut *self.tx)
        .await?;
        // Another import may have filled it while this one waited for the lock.
        if !is_empty(
            sqlx::query(AssertSqlSafe(empty))
                .fetch_one(&mut *self.tx)
                .await?,
        )? {
            return Ok(());
        }
        let rows = sqlx::query(
            "SELECT i.relname AS name, pg_get_indexdef(i.oid) AS sql, x.indisprimary AS primary_key, \
             con.conname AS constraint_name FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
             LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid \
             WHERE x.indrelid = $1::text::regclass ORDER BY i.relname",
        )
        .bind(table)
        .fetch_all(&mut *self.tx)
        .await?;
        let (mut keys, mut others) = (Vec::new(), Vec::new());
        for r in rows {
            let (name, sql): (String, String) = (r.try_get("name")?, r.try_get("sql")?);
            // A partial index holds the rare rows (units not configured): kept up to date.
            if sql.to_ascii_uppercase().contains(" WHERE ") {
                continue;
            }
            let primary = r.try_get::<bool, _>("primary_key")?;
            match r.try_get::<Option<String>, _>("constraint_name")? {
                Some(constraint) => {
                    sqlx::query(AssertSqlSafe(format!(
                        "ALTER TABLE {table} DROP CONSTRAINT \"{constraint}\""
                    )))
                    .execute(&mut *self.tx)
                    .await?;
                    let kind = if primary { "PRIMARY KEY" } else { "UNIQUE" };
                    self.stage.constraints.push((name, table, kind));
                }
                None => {
                    sqlx::query(AssertSqlSafe(format!("DROP INDEX \"{name}\"")))
                        .execute(&mut *self.tx)
                        .await?;
                }
            }
            if primary {
                keys.insert(0, (feed, sql));
            } else if is_unique_index(&sql) {
                self.unique_deferred.push(feed);
                keys.push((feed, sql));
            } else {
                others.push((feed, sql));
            }
        }
        // Built in this order at commit: the primary key (folding a repeat deletes rows by id),
        // the unique key (folding reads by it), then the rest.
        self.deferred.extend(keys);
        self.deferred.extend(others);
        Ok(())
    }

    /// Builds a unique index (and makes it its table's constraint again when it was one);
    /// `false` when rows repeat its key — the attempt is rolled back, the import goes on.
    async fn create_unique(&mut self, sql: &str) -> StoreResult<bool> {
        sqlx::query("SAVEPOINT liandong_unique")
            .execute(&mut *self.tx)
            .await?;
        match sqlx::query(AssertSqlSafe(sql.to_string()))
            .execute(&mut *self.tx)
            .await
        {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                sqlx::query("ROLLBACK TO SAVEPOINT liandong_unique")
                    .execute(&mut *self.tx)
                    .await?;
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        }
        sqlx::query("RELEASE SAVEPOINT liandong_unique")
            .execute(&mut *self.tx)
            .await?;
        let constraint = self
            .stage
            .constraints
            .iter()
            .find(|(name, ..)| sql.contains(&format!(" INDEX {name} ON ")))
            .cloned();
        if let Some((name, table, kind)) = constraint {
            sqlx::query(AssertSqlSafe(format!(
                "ALTER TABLE {table} ADD CONSTRAINT \"{name}\" {kind} USING INDEX \"{name}\""
            )))
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(true)
    }

    /// Nothing to set for building indexes: PostgreSQL sorts in `maintenance_work_mem`.
    /// (What the first load gathered is sent first: see `send_gathered`.)
    async fn building(&mut self, _on: bool) -> StoreResult<()> {
        Ok(())
    }
}

/// Changed rows read back per page of a settle.
const UPDATE_PAGE: usize = 1000;

/// New and changed rows sent from the spool per COPY of a settle.
const SEND_PAGE: usize = 10_000;

/// Adds what a settle applied (not what was seen: `put` counted that).
fn add_applied(counts: &mut RowCounts, applied: &RowCounts) {
    counts.inserted += applied.inserted;
    counts.updated += applied.updated;
    counts.unchanged += applied.unchanged;
}

// The statements both backends run, written once and compiled once per backend against the
// items this module gives them (see `shared.rs`).
#[allow(clippy::duplicate_mod)]
#[path = "accounts_sql.rs"]
mod accounts_sql;
#[allow(clippy::duplicate_mod)]
#[path = "ops_sql.rs"]
mod ops_sql;
#[allow(clippy::duplicate_mod)]
#[path = "outbox_sql.rs"]
mod outbox_sql;
#[allow(clippy::duplicate_mod)]
#[path = "shared.rs"]
mod shared;

use outbox_sql::*;
use shared::*;
