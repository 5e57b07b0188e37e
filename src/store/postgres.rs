//! PostgreSQL backend: for larger deployments and for several daemon replicas sharing one store.
//! A password not in the URL comes from `store.password_file` or `store.password_credential`.

use sqlx::{AssertSqlSafe, Row, Transaction};

use crate::records::{Feed, FieldKind, Record, Value};
use crate::store::StoreResult;
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
}

/// Claims skip the rows another process is claiming: two dispatchers never take one message.
const CLAIM_LOCK: &str = " FOR UPDATE SKIP LOCKED";

/// How a JSON array element is read back as a column value.
#[derive(Clone, Copy)]
enum JsonCol {
    Text,
    Int,
    Bool,
    Date,
    Time,
    Hex,
}

impl JsonCol {
    fn of(kind: FieldKind) -> JsonCol {
        match kind {
            FieldKind::Text | FieldKind::Pii => JsonCol::Text,
            FieldKind::Date => JsonCol::Date,
            FieldKind::DateTime => JsonCol::Time,
            FieldKind::Amount => JsonCol::Int,
            FieldKind::Bool => JsonCol::Bool,
        }
    }
}

/// Values in the text forms the store keeps (the same ones sqlx writes for bound values).
fn push_json_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Text(s) => push_json_str(out, s),
        Value::Date(_) | Value::DateTime(_) => {
            out.push('"');
            push_value_text(out, v);
            out.push('"');
        }
        Value::Fen(f) => out.push_str(&f.to_string()),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
    }
}

impl ImportTx {
    /// Inserts rows; each chunk travels as one JSON parameter unpacked by the database. With
    /// `skip_existing`, rows whose key is already stored are skipped; returns the rows inserted.
    async fn insert(
        &mut self,
        feed: Feed,
        records: &[(&Record, [u8; 16])],
        skip_existing: bool,
    ) -> StoreResult<u64> {
        let fields = feed.fields();
        let mut select = vec![
            json_col(0, JsonCol::Text),
            json_col(1, JsonCol::Bool),
            json_col(2, JsonCol::Text),
            json_col(3, JsonCol::Text),
        ];
        for (i, f) in fields.iter().enumerate() {
            select.push(json_col(4 + i, JsonCol::of(f.kind)));
        }
        let n = 4 + fields.len();
        select.push(json_col(n, JsonCol::Hex));
        select.push(json_col(n + 1, JsonCol::Text));
        select.push(json_col(n + 2, JsonCol::Time));
        select.push(json_col(n + 2, JsonCol::Time));
        select.push(self.rev.to_string());
        let sql = format!(
            "INSERT INTO {} ({}, fingerprint, source, first_seen_at, changed_at, rev) SELECT {} FROM {JSON_ROWS} WHERE true{}",
            feed.table(),
            columns(feed),
            select.join(", "),
            if skip_existing {
                " ON CONFLICT (unit_id, case_key) DO NOTHING"
            } else {
                ""
            }
        );
        let mut inserted = 0;
        let at = self
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
        for chunk in records.chunks(INSERT_ROWS) {
            let mut json = String::with_capacity(chunk.len() * 256);
            json.push('[');
            for (i, (r, fp)) in chunk.iter().enumerate() {
                if i > 0 {
                    json.push(',');
                }
                json.push('[');
                push_json_str(&mut json, &r.unit_id);
                json.push_str(if r.unit_known { ",true," } else { ",false," });
                push_json_str(&mut json, r.case_no.key());
                json.push(',');
                push_json_str(&mut json, r.case_no.as_written());
                for v in &r.values {
                    json.push(',');
                    push_json_value(&mut json, v);
                }
                json.push_str(",\"");
                json.push_str(&hex::encode(fp));
                json.push_str("\",");
                push_json_str(&mut json, &self.source);
                json.push(',');
                push_json_str(&mut json, &at);
                json.push(']');
            }
            json.push(']');
            inserted += sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(json)
                .execute(&mut *self.tx)
                .await?
                .rows_affected();
        }
        Ok(inserted)
    }

    /// The rows of `records` that are new (id 0) or changed (their stored id), as positions into
    /// `records`. The batch travels as one JSON parameter and the comparison runs inside the
    /// database, coming back as one aggregated row: an unchanged batch costs one round trip.
    async fn new_or_changed(
        &mut self,
        feed: Feed,
        records: &[Record],
        fps: &[[u8; 16]],
    ) -> StoreResult<Vec<(usize, i64)>> {
        let mut json = String::with_capacity(records.len() * 64);
        json.push('[');
        for (i, (r, fp)) in records.iter().zip(fps).enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str(&format!("[{i},"));
            push_json_str(&mut json, &r.unit_id);
            json.push(',');
            push_json_str(&mut json, r.case_no.key());
            json.push_str(",\"");
            json.push_str(&hex::encode(fp));
            json.push_str("\"]");
        }
        json.push(']');
        let sql = format!(
            "WITH b AS (SELECT {} AS i, {} AS u, {} AS k, {} AS f FROM {JSON_ROWS}) \
             SELECT {HITS} AS hits FROM b LEFT JOIN {} c ON c.case_key = b.k AND c.unit_id = b.u \
             WHERE c.id IS NULL OR c.fingerprint <> b.f",
            json_col(0, JsonCol::Int),
            json_col(1, JsonCol::Text),
            json_col(2, JsonCol::Text),
            json_col(3, JsonCol::Hex),
            feed.table(),
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(json)
            .fetch_one(&mut *self.tx)
            .await?;
        let hits: Option<String> = row.try_get("hits")?;
        let mut out = Vec::new();
        parse_hits(hits.as_deref(), records.len(), &mut out)?;
        Ok(out)
    }
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
