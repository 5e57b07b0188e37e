//! The store: one domain-shaped [`Store`] trait, implemented for SQLite (the default: one file,
//! WAL, one writer connection) and PostgreSQL (larger deployments, several replicas).
//!
//! All SQL lives below this module. The statements both backends share are written once in
//! `shared.rs`, which each backend module includes with its own `Db` type; what differs
//! (connecting, pragmas, how a write transaction begins, migrations) stays in `sqlite.rs` and
//! `postgres.rs`. Migrations are per backend under `migrations/<backend>/` and run at start-up
//! and by `liandong migrate`. The conformance suite in `tests/` runs against both.

mod postgres;
mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::StoreConfig;
use crate::records::{Feed, Record};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the store holds a value this version cannot read: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Config(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Counts of one import step or one whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RowCounts {
    pub seen: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub quarantined: u64,
    pub unknown_unit: u64,
}

impl RowCounts {
    pub fn add(&mut self, o: &RowCounts) {
        self.seen += o.seen;
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.quarantined += o.quarantined;
        self.unknown_unit += o.unknown_unit;
    }
}

/// A row that could not be taken, kept with everything needed to fix it at the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantineItem {
    /// File name, or `page N` / the query for remote sources.
    pub location: String,
    /// Row number as a person counts it (the header row is row 1 of a file).
    pub row: i64,
    pub field: String,
    pub column: Option<String>,
    pub value: String,
    pub reason: String,
    /// The whole row as JSON (header → cell), so nothing is lost.
    pub raw: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuarantineEntry {
    pub source: String,
    #[serde(flatten)]
    pub item: QuarantineItem,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// How one run of a source ended.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub counts: RowCounts,
    /// `None` on success.
    pub error: Option<String>,
}

/// What the store remembers of a source.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceState {
    pub name: String,
    pub cursor: Option<String>,
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Counts of the last run.
    pub counts: RowCounts,
}

/// A record as stored, with its bookkeeping.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub id: i64,
    pub record: Record,
    pub source: String,
    pub first_seen_at: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub source: String,
    pub changed_at: DateTime<Utc>,
    /// `{field: [old, new]}`
    pub changes: serde_json::Value,
}

/// A finding as one evaluation produced it (the rules' output, in the store's terms).
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluatedFinding {
    /// Stable identity across evaluations (`R1|unit|case key`).
    pub key: String,
    pub rule: String,
    pub unit_id: String,
    pub case_key: Option<String>,
    pub case_no: Option<String>,
    pub due: DateTime<Utc>,
    /// A violation (late, mismatched) rather than a deadline still running.
    pub violated: bool,
    /// `upcoming`, `due_soon`, `overdue` or `resolved` at the evaluation's time.
    pub state: String,
    pub facts: serde_json::Value,
}

/// A finding as stored, with its lifecycle.
#[derive(Debug, Clone, Serialize)]
pub struct StoredFinding {
    pub id: i64,
    pub key: String,
    pub rule: String,
    pub unit_id: String,
    pub case_key: Option<String>,
    pub case_no: Option<String>,
    pub due: DateTime<Utc>,
    pub violated: bool,
    pub state: String,
    pub facts: serde_json::Value,
    pub first_seen_at: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
    pub waived_at: Option<DateTime<Utc>>,
    pub waived_by: Option<String>,
    pub waived_reason: Option<String>,
}

/// One state change of a finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingTransition {
    pub at: DateTime<Utc>,
    pub from: Option<String>,
    pub to: String,
    pub note: Option<String>,
}

/// What applying one evaluation changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FindingChanges {
    pub inserted: u64,
    /// Existing findings whose state, due time or facts changed.
    pub updated: u64,
    pub unchanged: u64,
    /// State transitions recorded (new findings included).
    pub transitions: u64,
    /// Open findings the evaluation no longer produced, resolved as no longer applying.
    pub gone: u64,
}

/// Which findings to list.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    /// Resolved and waived findings too.
    pub all: bool,
    pub rule: Option<String>,
    pub unit: Option<String>,
}

/// One import: rows applied inside one transaction, committed together with the source's
/// cursor. Dropping it without `commit` rolls everything back.
#[async_trait]
pub trait Import: Send {
    /// Upserts by (unit, case key): new rows are inserted, changed rows updated with a history
    /// entry, unchanged rows not written at all. Keys must be distinct within one call.
    async fn put(&mut self, records: Vec<Record>) -> StoreResult<RowCounts>;
    async fn quarantine(&mut self, items: Vec<QuarantineItem>) -> StoreResult<()>;
    /// Commits the rows and, when given, the source's new cursor in the same transaction.
    async fn commit(self: Box<Self>, cursor: Option<String>) -> StoreResult<()>;
}

#[async_trait]
pub trait Store: Send + Sync {
    fn backend(&self) -> &'static str;
    async fn migrate(&self) -> StoreResult<()>;
    async fn begin_import(&self, source: &str, at: DateTime<Utc>) -> StoreResult<Box<dyn Import>>;
    /// Records how a run ended (stats, last success or error). Never touches the cursor.
    async fn finish_run(&self, source: &str, run: &RunReport) -> StoreResult<()>;
    async fn source_state(&self, source: &str) -> StoreResult<Option<SourceState>>;
    async fn source_states(&self) -> StoreResult<Vec<SourceState>>;
    /// Records of a feed, optionally of one unit, ordered by unit and case number.
    async fn records(&self, feed: Feed, unit: Option<&str>) -> StoreResult<Vec<StoredRecord>>;
    /// One page of records ordered by (unit, case key), after the given (unit, case key):
    /// listing a store of millions of cases a page at a time keeps memory flat.
    async fn records_after(
        &self,
        feed: Feed,
        unit: Option<&str>,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> StoreResult<Vec<StoredRecord>>;
    async fn record_count(&self, feed: Feed) -> StoreResult<i64>;
    async fn history(&self, feed: Feed, record_id: i64) -> StoreResult<Vec<HistoryEntry>>;
    /// Quarantined rows, newest first.
    async fn quarantined(
        &self,
        source: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<QuarantineEntry>>;
    /// Stored rows whose unit is not configured: (feed, unit as written, rows).
    async fn unknown_units(&self) -> StoreResult<Vec<(Feed, String, i64)>>;
    /// Applies one evaluation in one transaction: new findings inserted, changed ones updated,
    /// every state change kept in the history, open findings that the evaluation no longer
    /// produces resolved ("no longer applies"). A waived finding stays waived.
    async fn apply_findings(
        &self,
        findings: &[EvaluatedFinding],
        at: DateTime<Utc>,
    ) -> StoreResult<FindingChanges>;
    /// Findings ordered by due time.
    async fn findings(&self, filter: &FindingFilter) -> StoreResult<Vec<StoredFinding>>;
    async fn finding_history(&self, id: i64) -> StoreResult<Vec<FindingTransition>>;
    /// Waives a finding with who and why; `false` when there is no such finding or it is
    /// already waived.
    async fn waive_finding(
        &self,
        id: i64,
        by: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
}

/// Opens the store named by the configuration and brings its schema up to date.
pub async fn open(cfg: &StoreConfig) -> anyhow::Result<Box<dyn Store>> {
    use anyhow::Context;
    let url = cfg.url.expose();
    let store: Box<dyn Store> = if url.starts_with("sqlite:") {
        Box::new(
            SqliteStore::connect(cfg)
                .await
                .with_context(|| format!("while opening the SQLite store {}", cfg.url))?,
        )
    } else {
        Box::new(
            PgStore::connect(cfg)
                .await
                .with_context(|| format!("while connecting to the PostgreSQL store {}", cfg.url))?,
        )
    };
    store
        .migrate()
        .await
        .with_context(|| format!("while migrating the store {}", cfg.url))?;
    Ok(store)
}
