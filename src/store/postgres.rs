//! PostgreSQL backend: for larger deployments and for several daemon replicas sharing one store.
//! A password not in the URL comes from `store.password_file` or `store.password_credential`.

use std::str::FromStr;
use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::config::StoreConfig;

type Db = sqlx::Postgres;
type Backend = PgStore;
const BEGIN_WRITE: &str = "BEGIN";
const BACKEND_NAME: &str = "postgres";
/// Aggregates the positions and ids of new or changed rows into one text value.
const HITS: &str = "string_agg(b.i::text || ':' || coalesce(c.id, 0)::text, ',')";
/// PostgreSQL unpacks a bound JSON batch efficiently; literals are not needed there.
const INLINE_ROWS: bool = false;

/// The rows of a batch bound as one JSON array of arrays.
const JSON_ROWS: &str = "jsonb_array_elements($1::jsonb) AS j(value)";

/// Element `i` of a JSON row as a typed column value.
fn json_col(i: usize, col: JsonCol) -> String {
    match col {
        JsonCol::Text => format!("value ->> {i}"),
        JsonCol::Int => format!("(value ->> {i})::bigint"),
        JsonCol::Bool => format!("(value ->> {i})::boolean"),
        JsonCol::Date => format!("(value ->> {i})::date"),
        JsonCol::Time => format!("(value ->> {i})::timestamptz"),
        JsonCol::Hex => format!("decode(value ->> {i}, 'hex')"),
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

/// Unused on PostgreSQL (SQLite's page cache setting).
const WRITER_CACHE: &str = "";

/// Whether a first load drops a table's secondary indexes and rebuilds them at commit: not on
/// PostgreSQL, where other replicas may read while an import runs.
const DEFER_INDEXES: bool = false;

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

/// Claims skip the rows another process is claiming: two dispatchers never take one message.
const CLAIM_LOCK: &str = " FOR UPDATE SKIP LOCKED";

include!("shared.rs");
include!("outbox_sql.rs");
include!("ops_sql.rs");
