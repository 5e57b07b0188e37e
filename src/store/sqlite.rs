//! SQLite backend: one database file in WAL mode with a single writer connection (so writes from
//! this process never contend) and a small pool of readers. Another process writing the same
//! file waits up to `busy_timeout_secs`; write transactions begin `IMMEDIATE` so that two
//! writers queue instead of failing on a lock upgrade.

use sqlx::{AssertSqlSafe, Row, Transaction};

use crate::records::{Feed, Record, Value};
use crate::store::StoreResult;
use crate::store::{Repeated, RowCounts, StoreError};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::SqlSafeStr as _;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::config::StoreConfig;

type Db = sqlx::Sqlite;
type Backend = SqliteStore;
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
const BACKEND_NAME: &str = "sqlite";
/// Aggregates the positions and ids of new or changed rows into one text value.
const HITS: &str = "group_concat(b.i || ':' || coalesce(c.id, 0), ',')";
/// Rows per bound insert statement: small enough that binding the next chunk overlaps most of
/// one chunk's execution, large enough that the hand-overs between the two threads stay few, and
/// far below SQLite's limit of 32,766 parameters. On the ingest benchmark (1,000,000 cases, two
/// cores) 100–300 rows loaded in about 7.0–7.7 s, 50 rows in 8.2–9.5 s and 500 in 8.0 s.
const BOUND_CHUNK: usize = 200;

/// Rows per comparison statement ("which of these are new or changed"): bound values of a cached
/// statement, the next chunk bound while one executes, as for inserts.
const COMPARE_CHUNK: usize = 250;

/// A batch bound as one JSON array of arrays (findings and their history).
const JSON_ROWS: &str = "jsonb_each($1)";

/// How a JSON array element is read back as a column value.
#[derive(Clone, Copy)]
enum JsonCol {
    Text,
    Int,
    Bool,
    Time,
}

/// Element `i` of a JSON row as a column value; SQLite keeps dates and times as text.
fn json_col(i: usize, col: JsonCol) -> String {
    match col {
        JsonCol::Text | JsonCol::Int | JsonCol::Bool | JsonCol::Time => {
            format!("value ->> {i}")
        }
    }
}

/// A bound JSON array of strings as a one-column subquery: the text before and after the
/// parameter.
const JSON_TEXTS: (&str, &str) = ("SELECT value FROM json_each(", ")");
/// A bound JSON array of [unit, key] pairs as a two-column subquery (u, k).
const JSON_PAIRS: (&str, &str) = (
    "SELECT value ->> 0 AS u, value ->> 1 AS k FROM json_each(",
    ")",
);

/// A bound JSON array of [unit, key, party] triples as a three-column subquery (u, k, p).
const JSON_TRIPLES: (&str, &str) = (
    "SELECT value ->> 0 AS u, value ->> 1 AS k, value ->> 2 AS p FROM json_each(",
    ")",
);

/// A bound JSON array of integers as a one-column subquery.
const JSON_IDS: (&str, &str) = ("SELECT value FROM json_each(", ")");

/// The writer's page cache (`PRAGMA cache_size`: negative is KiB).
const WRITER_CACHE: &str = "-16000";

/// Whether a first load drops a table's secondary indexes and rebuilds them at commit (SQLite:
/// one writer, so nobody else misses them meanwhile).
const DEFER_INDEXES: bool = true;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Set by `allow_exclusive_first_load`: a first load may take the store to itself.
    exclusive_first_load: Arc<AtomicBool>,
    /// The writer is in rollback-journal mode for an exclusive first load; releasing the
    /// connection puts it back in WAL mode.
    in_rollback_journal: Arc<AtomicBool>,
    /// The file whose lock serialises the migrations of processes opening a new store at once
    /// (sqlx takes no lock for SQLite); none for a database in memory.
    migration_lock: Option<std::path::PathBuf>,
}

impl SqliteStore {
    pub async fn connect(cfg: &StoreConfig) -> Result<SqliteStore, crate::store::StoreError> {
        let url = cfg.url.expose();
        // The journal mode is set by the writer alone: a read-only connection cannot set it, and
        // follows the mode the file is in.
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(cfg.busy_timeout_secs))
            .foreign_keys(true)
            .pragma("cache_size", WRITER_CACHE);
        if let Some(parent) = Path::new(opts.get_filename()).parent()
            && !parent.as_os_str().is_empty()
            && !parent.exists()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                crate::store::StoreError::Config(format!(
                    "cannot create the folder {} for the SQLite store: {e}",
                    parent.display()
                ))
            })?;
        }
        let file = opts.get_filename();
        let migration_lock =
            (!file.as_os_str().is_empty() && file != Path::new(":memory:")).then(|| {
                let mut name = file.as_os_str().to_owned();
                name.push("-migrate.lock");
                std::path::PathBuf::from(name)
            });
        let busy_timeout = Duration::from_secs(cfg.busy_timeout_secs);
        let in_rollback_journal = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&in_rollback_journal);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(cfg.busy_timeout_secs.max(1) * 4))
            // WAL mode, asked for by every new writer connection. Switching a file that another
            // process is loading in rollback-journal mode needs its write lock, which SQLite
            // does not wait for here: so wait for it like for any lock, up to the busy timeout.
            .after_connect(move |conn, _| {
                Box::pin(async move { enter_wal_mode(conn, busy_timeout).await })
            })
            // After an exclusive first load, committed or not, the connection goes back to WAL
            // mode before anyone else gets it. Should that fail (another process holds the file
            // at that instant), the next release tries again, and every new connection of the
            // writer asks for WAL mode anyway.
            .after_release(move |conn, _| {
                let flag = Arc::clone(&flag);
                Box::pin(async move {
                    if flag.load(Ordering::Acquire) {
                        match leave_rollback_journal(conn).await {
                            Ok(()) => flag.store(false, Ordering::Release),
                            Err(e) => tracing::warn!(
                                error = %e,
                                "the store stays in rollback-journal mode after a first load for now; the writer's next release tries WAL mode again"
                            ),
                        }
                    }
                    Ok(true)
                })
            })
            // The writer's large sorts (a first load's index builds) spill to a temporary file
            // instead of growing the process. It is set here, not around the build: SQLite
            // refuses to change it inside a transaction once the connection has used its
            // temporary schema (as a migration's ALTER TABLE … RENAME does).
            .connect_with(opts.clone().pragma("temp_store", "file"))
            .await?;
        // Readers connect when first needed: a command that only writes (a first load from the
        // command line) then holds the file alone, and a reader idle for long is closed.
        let reader = SqlitePoolOptions::new()
            .max_connections(cfg.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(cfg.busy_timeout_secs.max(1)))
            // Readers mostly scan or look up by index: SQLite's default page cache (2 MB) is
            // enough, and five of them at the writer's 16 MB would be most of the memory.
            .connect_lazy_with(
                opts.read_only(true)
                    .pragma("cache_size", "-2000")
                    .pragma("temp_store", "memory"),
            );
        Ok(SqliteStore {
            writer,
            reader,
            exclusive_first_load: Arc::new(AtomicBool::new(false)),
            in_rollback_journal,
            migration_lock,
        })
    }

    /// Held while the migrations run: two processes opening a new store together (two `sync`s,
    /// a command beside the daemon) would otherwise both create its first tables, and one
    /// fail. An advisory lock on a file beside the database (not on the database file itself:
    /// closing any handle of that file would drop SQLite's own locks in this process).
    async fn migration_guard(&self) -> StoreResult<Option<std::fs::File>> {
        let Some(path) = self.migration_lock.clone() else {
            return Ok(None);
        };
        let locked = tokio::task::spawn_blocking(move || {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            f.lock()?;
            Ok::<_, std::io::Error>(f)
        })
        .await
        .map_err(|e| crate::store::StoreError::Config(format!("the migration lock: {e}")))?;
        locked.map(Some).map_err(|e| {
            crate::store::StoreError::Config(format!(
                "cannot lock {} for the migrations: {e}",
                self.migration_lock
                    .as_deref()
                    .unwrap_or(Path::new(""))
                    .display()
            ))
        })
    }

    fn set_exclusive_first_load(&self) {
        self.exclusive_first_load.store(true, Ordering::Release);
    }

    /// The writer's transaction for an import, and whether it runs in rollback-journal mode.
    ///
    /// In WAL mode every page a first load writes goes to the WAL and is copied into the
    /// database at the checkpoint, and the index builds at commit read the table back out of
    /// the WAL. A store that holds no records yet, opened by a command allowed to
    /// (`allow_exclusive_first_load`: `liandong sync`, not the service) and open on no other
    /// connection, takes its first import in rollback-journal mode instead: the new pages go
    /// to the database file once, and the journal holds only the few pages that existed
    /// (a million-case first load: 7.7 → 6.5 s). Whether another connection has the file
    /// open is SQLite's to say: leaving WAL mode needs the file to itself, and is not waited
    /// for. Meanwhile other processes wait for the store, as for any writer in that mode.
    async fn begin_write(&self) -> StoreResult<(Transaction<'static, Db>, bool)> {
        let mut conn = self.writer.acquire().await?;
        let mut exclusive = false;
        if self.exclusive_first_load.load(Ordering::Acquire) && holds_no_records(&mut conn).await? {
            // Set before the switch: whatever happens from here, the connection's release puts
            // it back in WAL mode (asking for WAL mode in WAL mode changes nothing).
            self.in_rollback_journal.store(true, Ordering::Release);
            exclusive = enter_rollback_journal(&mut conn).await?;
        }
        if exclusive {
            tracing::debug!("first load into an empty store, in rollback-journal mode");
        }
        // `Transaction::begin` on a connection already held (public, if undocumented, in sqlx
        // 0.9): the pool's `begin_with` would acquire it again.
        let tx = Transaction::begin(conn, Some(BEGIN_WRITE.into_sql_str())).await?;
        Ok((tx, exclusive))
    }

    /// After an exclusive first load has committed: waits for the writer to be back (its
    /// release puts it back in WAL mode) and says in the log when it is not. The load is
    /// committed either way, so nothing here fails the import.
    /// Nothing to do after a first load: SQLite's planner needs no statistics for liandong's
    /// queries, and its indexes need no visibility map.
    async fn after_first_load(&self, _feeds: &[Feed]) {}

    async fn end_write(&self, exclusive: bool) {
        if !exclusive {
            return;
        }
        match self.writer.acquire().await {
            Ok(conn) => drop(conn),
            Err(e) => tracing::warn!(error = %e, "the writer did not come back after a first load"),
        }
        if self.in_rollback_journal.load(Ordering::Acquire) {
            tracing::warn!(
                "the first load is committed; the store is not back in WAL mode yet (the writer's next release tries again)"
            );
        }
    }
}

/// Whether no feed table holds a row.
async fn holds_no_records(conn: &mut sqlx::SqliteConnection) -> StoreResult<bool> {
    let tests: Vec<String> = Feed::ALL
        .iter()
        .map(|f| format!("NOT EXISTS (SELECT 1 FROM {})", f.table()))
        .collect();
    let empty: bool = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT {} AS empty",
        tests.join(" AND ")
    )))
    .fetch_one(&mut *conn)
    .await?;
    Ok(empty)
}

/// Switches the writer to a rollback journal when no other connection has the file open; says
/// whether it did. SQLite does not wait for other connections to go away here (it takes the
/// exclusive lock without its busy handler): the import then runs in WAL mode as usual.
async fn enter_rollback_journal(conn: &mut sqlx::SqliteConnection) -> StoreResult<bool> {
    let switched: Result<String, sqlx::Error> = sqlx::query_scalar("PRAGMA journal_mode = DELETE")
        .fetch_one(&mut *conn)
        .await;
    match switched {
        Ok(mode) if mode.eq_ignore_ascii_case("delete") => {
            // One transaction, so syncing fully costs a few flushes, and a rollback journal
            // synced only normally may not survive a power cut at the wrong instant.
            sqlx::query("PRAGMA synchronous = FULL")
                .execute(&mut *conn)
                .await?;
            Ok(true)
        }
        Ok(mode) => {
            tracing::debug!(%mode, "the store stays in its journal mode for this first load");
            Ok(false)
        }
        Err(sqlx::Error::Database(e)) => {
            tracing::debug!(error = %e, "another connection has the store open: the first load runs in WAL mode");
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Asks for WAL mode on a new writer connection, retrying while another process holds the file
/// in rollback-journal mode (SQLite answers "database is locked" at once there), up to
/// `busy_timeout`.
async fn enter_wal_mode(
    conn: &mut sqlx::SqliteConnection,
    busy_timeout: Duration,
) -> Result<(), sqlx::Error> {
    let started = std::time::Instant::now();
    loop {
        match sqlx::query_scalar::<_, String>("PRAGMA journal_mode = WAL")
            .fetch_one(&mut *conn)
            .await
        {
            Ok(_) => return Ok(()),
            Err(sqlx::Error::Database(e))
                if e.message().contains("locked") && started.elapsed() < busy_timeout =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Puts the writer back in WAL mode with its usual syncing (full syncing stays while the file is
/// still in rollback-journal mode).
async fn leave_rollback_journal(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
        .fetch_one(&mut *conn)
        .await?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(sqlx::Error::Protocol(format!(
            "SQLite answered journal mode {mode:?} when asked for WAL"
        )));
    }
    sqlx::query("PRAGMA synchronous = NORMAL")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The cases closed in a period ($1..=$2), per unit: each unit's range sought on the (unit_id,
/// closed_on) index, the units found by jumping from one to the next, instead of reading the
/// whole index and dropping what lies outside the period (2,000,000 cases in 5,000 units: a
/// year to date 0.16 → 0.13 s, a quarter 0.11 → 0.06 s).
const CLOSED_PER_UNIT: &str = "WITH RECURSIVE units (id) AS (SELECT MIN(unit_id) FROM cases \
     UNION ALL SELECT (SELECT MIN(c.unit_id) FROM cases c WHERE c.unit_id > units.id) FROM units WHERE units.id IS NOT NULL) \
     SELECT id AS unit_id, \
     (SELECT COUNT(*) FROM cases c WHERE c.unit_id = units.id AND c.closed_on >= $1 AND c.closed_on <= $2) AS n \
     FROM units WHERE id IS NOT NULL";

/// The files reviewed before the quarter ($1, on or before $2) among the cases closed in the
/// period ($3..=$4), per unit. CROSS JOIN keeps SQLite's join order: from the reviews, which are
/// few, to their cases by key.
const REVIEWED_BEFORE_PER_UNIT: &str = "SELECT c.unit_id AS unit_id, COUNT(*) AS n FROM reviews r \
     CROSS JOIN cases c \
     WHERE c.unit_id = r.unit_id AND c.case_key = r.case_key AND r.reviewed_on < $1 AND r.reviewed_on <= $2 \
     AND c.closed_on >= $3 AND c.closed_on <= $4 GROUP BY c.unit_id";

/// A claim needs no row locks: SQLite has one writer.
const CLAIM_LOCK: &str = "";

/// SQLite applies every batch at once: nothing to stage.
#[derive(Default)]
pub(super) struct Stage {}

impl Stage {
    pub(super) fn allow(&mut self) {}
}

impl ImportTx {
    /// When `feed`'s table is empty (a first load), drops its indexes for the length of this
    /// import and keeps their definitions to rebuild them at commit: building an index once from
    /// sorted rows costs a fraction of keeping it up to date row by row. A unique key declared as
    /// a named index (SQLite's cases) goes too: until commit this import only inserts, and
    /// `build_unique` folds a key that came twice into its first row before building the key. A constraint's own
    /// index cannot be dropped and stays. A rolled-back import rolls the drop back too.
    async fn defer_indexes_of_empty(&mut self, feed: Feed) -> StoreResult<()> {
        let table = feed.table();
        let empty: bool = sqlx::query(AssertSqlSafe(format!(
            "SELECT NOT EXISTS (SELECT 1 FROM {table}) AS empty"
        )))
        .fetch_one(&mut *self.tx)
        .await?
        .try_get("empty")?;
        if !empty {
            return Ok(());
        }
        let rows = sqlx::query(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 AND sql IS NOT NULL",
        )
        .bind(table)
        .fetch_all(&mut *self.tx)
        .await?;
        for r in rows {
            let (name, sql): (String, String) = (r.try_get("name")?, r.try_get("sql")?);
            if cheap_to_keep(&sql) {
                continue;
            }
            sqlx::query(AssertSqlSafe(format!("DROP INDEX \"{name}\"")))
                .execute(&mut *self.tx)
                .await?;
            if is_unique_index(&sql) {
                self.unique_deferred.push(feed);
                // The unique key first: folding repeats reads by it.
                self.deferred.insert(0, (feed, sql));
            } else {
                self.deferred.push((feed, sql));
            }
        }
        Ok(())
    }

    /// The writer's settings for building indexes from sorted rows (`on`), or back to its
    /// usual ones: a small page cache, as the sort spills to a temporary file (the writer's
    /// temp_store) rather than memory, so a large table does not swell the process; and SQLite's
    /// helper threads for the sort's runs.
    async fn building(&mut self, on: bool) -> StoreResult<()> {
        let (cache, threads) = if on {
            let helpers = std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(4);
            ("-4000".to_string(), helpers)
        } else {
            (WRITER_CACHE.to_string(), 0)
        };
        sqlx::query(AssertSqlSafe(format!("PRAGMA cache_size = {cache}")))
            .execute(&mut *self.tx)
            .await?;
        sqlx::query(AssertSqlSafe(format!("PRAGMA threads = {threads}")))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Applies a batch whose unique key is in place: a first load inserts what is new in one
    /// pass; otherwise the batch is compared with what is stored, the new rows inserted and the
    /// changed ones updated with their history, each at once (SQLite holds nothing back).
    async fn upsert(
        &mut self,
        feed: Feed,
        records: Vec<Record>,
        fps: Vec<[u8; 16]>,
        repeats: &[usize],
        counts: &mut RowCounts,
        changed: &mut [Repeated],
    ) -> StoreResult<()> {
        // Keeps what an update of row `i` changed when `i` repeats a case.
        let mut note = |i: usize, changes: serde_json::Value| {
            if let Ok(k) = repeats.binary_search(&i) {
                changed[k] = Repeated::Changed(changes);
            }
        };
        if self.insert_first {
            // A first load: insert what is new in one pass; only when some keys already existed
            // is the batch compared (new rows then compare equal, so they are not updated).
            let all: Vec<(&Record, [u8; 16])> = records.iter().zip(fps.iter().copied()).collect();
            counts.inserted = self.insert(feed, &all, true).await?;
            if counts.inserted == counts.seen {
                return Ok(());
            }
            self.insert_first = false;
            let hits = self.new_or_changed(feed, &records, &fps).await?;
            for &(i, id) in &hits {
                if id != 0 {
                    note(i, self.update(feed, id, &records[i], fps[i]).await?);
                }
            }
            counts.updated = hits.iter().filter(|(_, id)| *id != 0).count() as u64;
            counts.unchanged = counts.seen - counts.inserted - counts.updated;
            return Ok(());
        }
        let hits = self.new_or_changed(feed, &records, &fps).await?;
        let mut inserts = Vec::new();
        let mut updates = Vec::new();
        for (i, id) in hits {
            if id == 0 {
                inserts.push((&records[i], fps[i]));
            } else {
                updates.push((i, id));
            }
        }
        counts.unchanged = counts.seen - (inserts.len() + updates.len()) as u64;
        counts.inserted = inserts.len() as u64;
        counts.updated = updates.len() as u64;
        self.insert_first = counts.inserted == counts.seen;
        self.insert(feed, &inserts, false).await?;
        for (i, id) in updates {
            note(i, self.update(feed, id, &records[i], fps[i]).await?);
        }
        Ok(())
    }

    /// Builds a unique index; `false` when rows repeat its key (nothing is left of the attempt).
    async fn create_unique(&mut self, sql: &str) -> StoreResult<bool> {
        match sqlx::query(AssertSqlSafe(sql.to_string()))
            .execute(&mut *self.tx)
            .await
        {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Inserts rows as they are (a first load whose unique key is built at commit).
    async fn insert_all(
        &mut self,
        feed: Feed,
        records: &[(&Record, [u8; 16])],
    ) -> StoreResult<u64> {
        self.insert(feed, records, false).await
    }

    /// Nothing is gathered on SQLite: every statement runs as it comes.
    async fn send_gathered(&mut self) -> StoreResult<()> {
        Ok(())
    }

    /// Nothing is held back on SQLite (see `upsert`).
    async fn settle_rows(&mut self, _repeats: &[usize]) -> StoreResult<(RowCounts, Vec<Repeated>)> {
        Ok((RowCounts::default(), Vec::new()))
    }

    /// Inserts rows through prepared statements of `BOUND_CHUNK` rows each, their values bound
    /// by position. The statement is parsed once per connection (sqlx caches it by its text);
    /// each execution only binds and steps. With `skip_existing`, rows whose key is already
    /// stored are skipped; returns the rows inserted.
    ///
    /// `OR FAIL`: a statement of many rows that may abort half-way (SQLite's default for a
    /// NOT NULL column) makes SQLite copy every page it touches into a statement journal first,
    /// so that it can undo that one statement — in a large import nearly every page of the table
    /// once more, through a temporary file (a million-case first load: 109,000 page copies).
    /// Nothing here needs one statement undone while the import goes on: a failed insert fails
    /// `put`, and an import whose `put` failed is rolled back whole (`ImportTx::failed`).
    async fn insert(
        &mut self,
        feed: Feed,
        records: &[(&Record, [u8; 16])],
        skip_existing: bool,
    ) -> StoreResult<u64> {
        let fields = feed.fields();
        let per_row = 4 + fields.len() + 1;
        let at = self
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
        let head = format!(
            "INSERT OR FAIL INTO {} ({}, fingerprint, source, first_seen_at, changed_at, rev) VALUES ",
            feed.table(),
            columns(feed),
        );
        let consts = format!(
            "{}, {at}, {at}, {}",
            sql_literal(&self.source),
            self.rev,
            at = sql_literal(&at)
        );
        let conflict = if skip_existing {
            " ON CONFLICT (unit_id, case_key) DO NOTHING"
        } else {
            ""
        };
        let build = |chunk: &[(&Record, [u8; 16])]| {
            let mut sql =
                String::with_capacity(head.len() + chunk.len() * (per_row * 3 + consts.len() + 8));
            sql.push_str(&head);
            for i in 0..chunk.len() {
                sql.push_str(if i == 0 { "(" } else { ", (" });
                for _ in 0..per_row {
                    sql.push_str("?, ");
                }
                sql.push_str(&consts);
                sql.push(')');
            }
            sql.push_str(conflict);
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(true);
            // Text goes in as `Arc<str>`: one allocation a value (a `String` would take two,
            // its copy and the shared cell sqlx wraps it in).
            let text = |s: &str| -> Arc<str> { Arc::from(s) };
            let mut date = String::with_capacity(40);
            for (r, fp) in chunk {
                q = q
                    .bind(text(&r.unit_id))
                    .bind(r.unit_known)
                    .bind(text(r.case_no.key()))
                    .bind(text(r.case_no.as_written()));
                for v in &r.values {
                    // Dates and times in the text forms sqlx writes for them, rendered here
                    // without a format string.
                    q = match v {
                        Value::Null => q.bind(None::<String>),
                        Value::Text(s) => q.bind(text(s)),
                        Value::Date(_) | Value::DateTime(_) => {
                            date.clear();
                            push_value_text(&mut date, v);
                            q.bind(text(&date))
                        }
                        Value::Fen(f) => q.bind(*f),
                        Value::Bool(b) => q.bind(*b),
                    };
                }
                q = q.bind(fp.to_vec());
            }
            q
        };
        // While the database executes one chunk, the next one's values are bound: the two
        // halves of the work run on different threads instead of taking turns.
        let mut inserted = 0;
        let mut chunks = records.chunks(BOUND_CHUNK);
        let mut next = chunks.next().map(build);
        while let Some(q) = next.take() {
            let following = chunks.next();
            let (done, built) =
                tokio::join!(biased; q.execute(&mut *self.tx), async { following.map(build) });
            inserted += done?.rows_affected();
            next = built;
        }
        Ok(inserted)
    }

    /// The rows of `records` that are new (id 0) or changed (their stored id), as positions into
    /// `records`. The comparison runs inside the database, `COMPARE_CHUNK` rows a statement, each
    /// answering in one aggregated row; the rows' (position, unit, case key, fingerprint) are
    /// bound values of a cached statement, so SQLite neither parses the rows as SQL text nor
    /// plans the statement again, and the next chunk is bound while one executes.
    async fn new_or_changed(
        &mut self,
        feed: Feed,
        records: &[Record],
        fps: &[[u8; 16]],
    ) -> StoreResult<Vec<(usize, i64)>> {
        let statement = |rows: usize| {
            let mut sql = String::with_capacity(rows * 14 + 240);
            sql.push_str("WITH b (i, u, k, f) AS (VALUES ");
            for j in 0..rows {
                sql.push_str(if j == 0 {
                    "(?, ?, ?, ?)"
                } else {
                    ", (?, ?, ?, ?)"
                });
            }
            sql.push_str(&format!(
                ") SELECT {HITS} AS hits FROM b LEFT JOIN {} c ON c.case_key = b.k AND c.unit_id = b.u \
                 WHERE c.id IS NULL OR c.fingerprint <> b.f",
                feed.table()
            ));
            sql
        };
        let full = statement(COMPARE_CHUNK);
        let build = |start: usize| {
            let end = (start + COMPARE_CHUNK).min(records.len());
            // A full chunk reuses the cached statement; the last, shorter one is prepared once.
            let whole = end - start == COMPARE_CHUNK;
            let sql = if whole {
                full.clone()
            } else {
                statement(end - start)
            };
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(whole);
            for (i, (r, fp)) in records.iter().zip(fps).enumerate().take(end).skip(start) {
                q = q
                    .bind(i as i64)
                    .bind(Arc::<str>::from(r.unit_id.as_str()))
                    .bind(Arc::<str>::from(r.case_no.key()))
                    .bind(fp.to_vec());
            }
            q
        };
        let mut out = Vec::new();
        let mut starts = (0..records.len()).step_by(COMPARE_CHUNK);
        let mut next = starts.next().map(build);
        while let Some(q) = next.take() {
            let following = starts.next();
            let (row, built) =
                tokio::join!(biased; q.fetch_one(&mut *self.tx), async { following.map(build) });
            let hits: Option<String> = row?.try_get("hits")?;
            parse_hits(hits.as_deref(), records.len(), &mut out)?;
            next = built;
        }
        Ok(out)
    }
}

/// A date as `YYYY-MM-DD`, a time as RFC 3339 in UTC: the text forms the store keeps (and sqlx
/// writes for bound values). Digits are
/// written by hand: a million rows' dates through `write!` cost a measurable share of a load.
fn push_value_text(out: &mut String, v: &Value) {
    use chrono::{Datelike, Timelike};
    let ymd = |out: &mut String, year: i32, month: u32, day: u32| {
        if (0..=9999).contains(&year) {
            push_digits(out, year.unsigned_abs(), 4);
        } else {
            // Outside four digits chrono writes a sign and the year as it is; so does this.
            out.push(if year < 0 { '-' } else { '+' });
            push_digits(out, year.unsigned_abs(), 4);
        }
        out.push('-');
        push_digits(out, month, 2);
        out.push('-');
        push_digits(out, day, 2);
    };
    match v {
        Value::Date(d) => ymd(out, d.year(), d.month(), d.day()),
        Value::DateTime(t) => {
            ymd(out, t.year(), t.month(), t.day());
            out.push('T');
            push_digits(out, t.hour(), 2);
            out.push(':');
            push_digits(out, t.minute(), 2);
            out.push(':');
            push_digits(out, t.second(), 2);
            let nanos = t.nanosecond() % 1_000_000_000;
            if nanos != 0 {
                // AutoSi: milli-, micro- or nanoseconds, whichever writes the value exactly.
                out.push('.');
                match (nanos % 1_000_000, nanos % 1_000) {
                    (0, _) => push_digits(out, nanos / 1_000_000, 3),
                    (_, 0) => push_digits(out, nanos / 1_000, 6),
                    _ => push_digits(out, nanos, 9),
                }
            }
            out.push_str("+00:00");
        }
        _ => {}
    }
}

/// `n` in decimal, left-padded with zeros to at least `width` digits.
fn push_digits(out: &mut String, mut n: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut i = buf.len();
    while n > 0 || buf.len() - i < width {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend(buf[i..].iter().map(|&b| char::from(b)));
}

/// Reads a comparison's aggregated hits (`i:id,i:id,…`) into (position, id) pairs, each position
/// below `len`.
fn parse_hits(hits: Option<&str>, len: usize, out: &mut Vec<(usize, i64)>) -> StoreResult<()> {
    for hit in hits.unwrap_or("").split(',').filter(|h| !h.is_empty()) {
        let parsed = hit
            .split_once(':')
            .and_then(|(i, id)| Some((i.parse::<usize>().ok()?, id.parse::<i64>().ok()?)));
        match parsed {
            Some(p) if p.0 < len => out.push(p),
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "unexpected comparison result {hit:?}"
                )));
            }
        }
    }
    Ok(())
}

/// Whether a first load keeps an index up to date row by row rather than building it at commit:
/// one on the store revision (every row of an import carries the same one, with ascending ids, so
/// each entry is appended at the end), or a partial one (`WHERE`: it holds the rare rows, such as
/// those of units that are not configured). Building either would cost a scan of the whole table.
fn cheap_to_keep(sql: &str) -> bool {
    let upper = sql.to_ascii_uppercase();
    upper.contains(" WHERE ") || upper.trim_end().ends_with("(REV)")
}

/// A SQL string literal: quotes doubled, NUL (which no literal may hold) replaced. Only the bulk
/// insert's constants (the source's name, the import's time) are written as literals.
fn push_sql_str(out: &mut String, s: &str) {
    out.push('\'');
    if !s.bytes().any(|b| b == b'\'' || b == 0) {
        out.push_str(s);
        out.push('\'');
        return;
    }
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out.push('\'');
}

fn sql_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_sql_str(&mut out, s);
    out
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

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};

    use super::push_value_text;
    use crate::records::Value;

    /// The bulk insert renders dates and times itself; they must read back as the same text
    /// sqlx writes for bound values (the comparison and the rules read them that way).
    #[test]
    fn bound_dates_and_times_have_the_text_sqlx_writes() {
        let times = [
            Utc.with_ymd_and_hms(2025, 10, 30, 16, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(1999, 1, 2, 3, 4, 5).unwrap()
                + chrono::TimeDelta::milliseconds(120),
            Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 59).unwrap()
                + chrono::TimeDelta::microseconds(1),
            Utc.with_ymd_and_hms(2030, 12, 31, 0, 0, 0).unwrap()
                + chrono::TimeDelta::nanoseconds(7),
            Utc.with_ymd_and_hms(12345, 6, 7, 8, 9, 10).unwrap(),
            Utc.with_ymd_and_hms(-44, 3, 15, 12, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(5, 1, 1, 0, 0, 0).unwrap(),
        ];
        for t in times {
            let mut out = String::new();
            push_value_text(&mut out, &Value::DateTime(t));
            assert_eq!(
                out,
                t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false),
                "{t:?}"
            );
        }
        for d in [
            NaiveDate::from_ymd_opt(2025, 1, 9).unwrap(),
            NaiveDate::from_ymd_opt(987, 12, 31).unwrap(),
            NaiveDate::from_ymd_opt(1, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(0, 2, 29).unwrap(),
            NaiveDate::from_ymd_opt(12345, 6, 7).unwrap(),
            NaiveDate::from_ymd_opt(-44, 3, 15).unwrap(),
        ] {
            let mut out = String::new();
            push_value_text(&mut out, &Value::Date(d));
            assert_eq!(out, d.format("%Y-%m-%d").to_string());
        }
    }
}
