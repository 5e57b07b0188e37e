//! SQLite backend: one database file in WAL mode with a single writer connection (so writes from
//! this process never contend) and a small pool of readers. Another process writing the same
//! file waits up to `busy_timeout_secs`; write transactions begin `IMMEDIATE` so that two
//! writers queue instead of failing on a lock upgrade.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::config::StoreConfig;

type Db = sqlx::Sqlite;
type Backend = SqliteStore;
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
const BACKEND_NAME: &str = "sqlite";
/// Aggregates the positions and ids of new or changed rows into one text value.
const HITS: &str = "group_concat(b.i || ':' || coalesce(c.id, 0), ',')";
/// Batches are written as multi-row VALUES of literals: SQLite parses them faster than it can
/// unpack bound JSON or bind ten thousand parameters, and they never enter the statement cache.
const INLINE_ROWS: bool = true;

/// The rows of a batch bound as one JSON array of arrays (unused while INLINE_ROWS is set).
const JSON_ROWS: &str = "jsonb_each($1)";

/// Element `i` of a JSON row as a column value; SQLite keeps dates and times as text.
fn json_col(i: usize, col: JsonCol) -> String {
    match col {
        JsonCol::Hex => format!("unhex(value ->> {i})"),
        JsonCol::Text | JsonCol::Int | JsonCol::Bool | JsonCol::Date | JsonCol::Time => {
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
}

impl SqliteStore {
    pub async fn connect(cfg: &StoreConfig) -> Result<SqliteStore, crate::store::StoreError> {
        let url = cfg.url.expose();
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(cfg.busy_timeout_secs))
            .foreign_keys(true)
            .pragma("cache_size", WRITER_CACHE)
            .pragma("temp_store", "memory");
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
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(cfg.busy_timeout_secs.max(1) * 4))
            .connect_with(opts.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(cfg.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(cfg.busy_timeout_secs.max(1)))
            // Readers mostly scan or look up by index: SQLite's default page cache (2 MB) is
            // enough, and five of them at the writer's 16 MB would be most of the memory.
            .connect_with(opts.read_only(true).pragma("cache_size", "-2000"))
            .await?;
        Ok(SqliteStore { writer, reader })
    }
}

/// A claim needs no row locks: SQLite has one writer.
const CLAIM_LOCK: &str = "";

include!("shared.rs");
include!("outbox_sql.rs");
include!("ops_sql.rs");
