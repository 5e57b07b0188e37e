//! The store: one domain-shaped [`Store`] trait, implemented for SQLite (the default: one file,
//! WAL, one writer connection) and PostgreSQL (larger deployments, several replicas).
//!
//! All SQL lives below this module. The statements both backends share are written once in
//! `shared.rs`, which each backend module includes with its own `Db` type; what differs
//! (connecting, pragmas, how a write transaction begins, migrations) stays in `sqlite.rs` and
//! `postgres.rs`. Migrations are per backend under `migrations/<backend>/` and run at start-up
//! and by `liandong migrate`. The conformance suite in `tests/` runs against both.

pub mod accounts;
pub mod ops;
pub mod outbox;
mod postgres;
mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::config::StoreConfig;
use crate::domain::rule::{RuleId, State};
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
    /// A value outside what the store's column can hold.
    #[error("a value the store cannot hold: {0}")]
    Invalid(String),
    /// A write that must not go on: an import whose batch failed part-way is not committed.
    #[error("{0}")]
    Aborted(&'static str),
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
    /// Rows that listed a case an earlier row of the same import listed, with other values: the
    /// later row is what the store keeps, and each is recorded as a [`RepeatItem`]. Identical
    /// repeats are not counted (they change nothing).
    pub repeated: u64,
}

impl RowCounts {
    pub fn add(&mut self, o: &RowCounts) {
        self.seen += o.seen;
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.quarantined += o.quarantined;
        self.unknown_unit += o.unknown_unit;
        self.repeated += o.repeated;
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

/// A case listed twice with different values in one import (one file, one HTTP run, one SQL
/// batch). The later row wins — it is applied after the earlier one, as an update with its
/// history entry — and this records that it happened, where `status` shows the quarantine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepeatItem {
    /// The later row: its file name (or `page N`, `query`) and row number.
    pub location: String,
    pub row: i64,
    /// The earlier row that listed the same case.
    pub earlier_location: String,
    pub earlier_row: i64,
    /// The case number as the later row writes it, ID and mobile numbers masked.
    pub case_no: String,
    /// `{field: [earlier, later]}` for each field that differs, personal data masked (as the
    /// record history keeps it).
    pub changes: serde_json::Value,
}

impl RepeatItem {
    /// The names of the fields that differ, in alphabetical order.
    pub fn fields(&self) -> Vec<&str> {
        self.changes
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RepeatEntry {
    pub source: String,
    #[serde(flatten)]
    pub item: RepeatItem,
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
    /// When the obligation arose, as the data tells (see `rules::Finding::arose_at`).
    pub arose_at: DateTime<Utc>,
    pub due: DateTime<Utc>,
    /// When the data satisfied it, if it did (the resolution's time; else the evaluation's).
    pub satisfied_at: Option<DateTime<Utc>>,
    /// A violation (late, mismatched) rather than a deadline still running.
    pub violated: bool,
    /// `upcoming`, `due_soon`, `overdue`, `resolved` or `recorded` at the evaluation's time.
    pub state: String,
    /// The facts as JSON text (compact: a full pass holds every finding at once).
    pub facts: String,
    /// How the case met its platform record (`case_no`, `case_no_other_unit`,
    /// `party_and_date`, `none`, `ambiguous`); `None` for rules without matching.
    pub link: Option<String>,
}

/// Which rows of a feed to read for an evaluation.
#[derive(Debug, Clone)]
pub enum Selection<'a> {
    /// Every row.
    All,
    /// Rows an import wrote after revision `rev` (see [`Store::current_rev`]).
    ChangedSince(i64),
    /// Rows with one of these case keys, under any unit.
    Keys(&'a [String]),
    /// Rows with one of these case keys, under any unit, except the rows with these ids.
    KeysExcept(&'a [String], &'a [i64]),
    /// Rows with these (unit, case key).
    Pairs(&'a [(String, String)]),
    /// Platform rows in the fallback pool of the last evaluation.
    Pool,
    /// Cases that some rule may take as its subject (see [`SubjectFilter`]).
    Subjects(SubjectFilter),
    /// One page, by id, of the cases R6 looks at: a penalty decision, no transfer decision, an
    /// amount of at least `min_amount_fen`.
    Penalties {
        min_amount_fen: i64,
        /// SQL `LIKE` patterns of which the cause must match one; none: any cause.
        cause_like: &'a [String],
        after_id: i64,
        limit: i64,
    },
    /// Cases whose `transfer_decided_on` or `decided_on` lies after the first day and on or
    /// before the second.
    DecidedBetween(NaiveDate, NaiveDate),
    /// One unit's cases closed on or after the first day and on or before the second.
    ClosedBetween(&'a str, NaiveDate, NaiveDate),
    /// Rows whose own time lies after the first instant and at or before the second: platform
    /// rows by `entered_at` or `transferred_at`, copies by `copied_on`, filings by `filed_on`,
    /// recommendations and opinions by `received_on`, `issued_on` or `replied_on` (days compared
    /// as Asia/Shanghai days).
    TimeBetween(DateTime<Utc>, DateTime<Utc>),
}

/// Which cases are rule subjects: those with a transfer decision always (R1–R3, R10), and:
#[derive(Debug, Clone, Copy, Default)]
pub struct SubjectFilter {
    /// every case with a penalty decision (R4, R5);
    pub decided: bool,
    /// major penalties (R9);
    pub major: bool,
    /// penalties of at least this many fen (R6, the smallest threshold); R6 can also be fed
    /// page by page ([`Selection::Penalties`]) instead.
    pub min_amount_fen: Option<i64>,
}

/// What the last evaluation saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationState {
    /// The store revision it had read up to.
    pub rev: i64,
    pub as_of: DateTime<Utc>,
    /// A fingerprint of the rules' configuration and calendar: a change means a full pass.
    pub config: String,
    /// `full` or `incremental`.
    pub mode: String,
    pub evaluated_at: DateTime<Utc>,
}

/// A recorded review sample draw (see [`crate::obligations::sampling`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SampleDraw {
    pub id: i64,
    pub unit_id: String,
    /// `2025Q3`.
    pub quarter: String,
    pub seed: String,
    /// The day the population was taken as of.
    pub as_of: NaiveDate,
    /// `year_to_date` or `quarter`.
    pub basis: String,
    pub ratio_percent: i64,
    /// The most of the target focused picks could take, in percent (`focus_max_percent`); `None`
    /// for a draw recorded before the share existed, made by the earlier rule (focused files
    /// first, as many as the target holds).
    pub focus_max_percent: Option<i64>,
    pub population_hash: String,
    /// The population's case keys, sorted.
    pub population: Vec<String>,
    /// The keys of the population's focused picks (重点检查), sorted.
    pub focused: Vec<String>,
    pub target: i64,
    /// The drawn case keys, in draw order.
    pub drawn: Vec<String>,
    pub drawn_at: DateTime<Utc>,
    pub drawn_by: String,
}

/// The findings an incremental evaluation covered.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The key of every finding it covered, produced or not.
    pub keys: &'a [String],
    /// The (unit, case key) those findings are stored under, to find them by index.
    pub subjects: &'a [(String, String)],
    /// Those of `keys` stored without a case key (a referral whose number identifies nothing).
    pub keyed: &'a [String],
}

/// One evaluation's results, applied in one transaction by [`Store::apply_evaluation`].
#[derive(Clone)]
pub struct Evaluation<'a> {
    pub findings: &'a [EvaluatedFinding],
    /// `None`: the whole store was evaluated, and any open finding not produced no longer
    /// applies. `Some(scope)`: only the findings of the scope were evaluated; the others keep
    /// their facts, and only their state follows the clock.
    pub scope: Option<Scope<'a>>,
    /// When the evaluation applies (its as-of time).
    pub at: DateTime<Utc>,
    /// The due-soon window, for the states of findings outside the scope.
    pub due_soon: chrono::TimeDelta,
    /// The platform records looked at and whether each is now in the fallback pool; with
    /// `scope` `None` the pool is replaced by the listed members.
    pub pool: &'a [(Feed, i64, bool)],
    /// The cases evaluated, each with its squeezed party when it now seeks a platform record
    /// by fallback (`None`: it does not); with `scope` `None` the seekers are replaced by these.
    pub seekers: &'a [(String, String, Option<String>)],
    /// Stored as the last evaluation.
    pub state: Option<EvaluationState>,
    /// When set, the notices due are queued in the same transaction, from the open findings as
    /// this evaluation leaves them.
    pub planner: Option<&'a dyn outbox::Planner>,
}

/// A finding as stored, with its lifecycle.
#[derive(Debug, Clone, Serialize)]
pub struct StoredFinding {
    pub id: i64,
    pub key: String,
    pub rule: RuleId,
    pub unit_id: String,
    pub case_key: Option<String>,
    pub case_no: Option<String>,
    /// When the obligation arose, as the data tells.
    pub arose_at: DateTime<Utc>,
    pub due: DateTime<Utc>,
    pub violated: bool,
    pub state: State,
    pub facts: serde_json::Value,
    pub first_seen_at: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
    pub waived_at: Option<DateTime<Utc>>,
    pub waived_by: Option<String>,
    pub waived_reason: Option<String>,
}

impl StoredFinding {
    /// Its state as it stood at `at`, as far as the store tells: `None` when it had not arisen
    /// yet; open (by its deadline) when it was closed only after `at`.
    pub fn state_at(&self, at: DateTime<Utc>, due_soon: chrono::TimeDelta) -> Option<State> {
        if self.arose_at > at {
            return None;
        }
        let closed = match self.state {
            State::Resolved => self.resolved_at,
            State::Waived => self.waived_at,
            _ => None,
        };
        if self.state.is_open() || closed.is_some_and(|c| c > at) {
            return Some(State::open(self.violated, self.due, at, due_soon));
        }
        Some(self.state)
    }
}

/// One state change of a finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingTransition {
    pub at: DateTime<Utc>,
    pub from: Option<State>,
    pub to: State,
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

/// A finding as a report's detail list shows it (no facts).
///
/// A report as of an instant counts a finding by the facts that held then — when its obligation
/// arose, its deadline, when it was closed — not by when liandong learned of it
/// (`first_seen_at`, an audit detail): a store that learns today of a deadline missed in
/// March reports it overdue since March, and a report for an earlier week counts what stood
/// then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingRow {
    pub unit_id: String,
    pub rule: RuleId,
    pub case_no: Option<String>,
    /// When the obligation arose, as the data tells.
    pub arose_at: DateTime<Utc>,
    pub due: DateTime<Utc>,
    pub violated: bool,
    /// The state at the last evaluation.
    pub state: State,
    pub first_seen_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub waived_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
}

impl FindingRow {
    /// When it stopped being owed: resolved (at the data's time where the data tells) or waived.
    /// `None` while open, and for a recorded violation (never owed).
    pub fn closed_at(&self) -> Option<DateTime<Utc>> {
        match self.state {
            State::Resolved => Some(self.resolved_at.unwrap_or(DateTime::<Utc>::MIN_UTC)),
            State::Waived => Some(
                self.waived_at
                    .or(self.resolved_at)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC),
            ),
            _ => None,
        }
    }

    /// Owed at `at`: arisen by then, not a recorded violation, and not yet closed.
    pub fn is_open_at(&self, at: DateTime<Utc>) -> bool {
        self.arose_at <= at
            && self.state != State::Recorded
            && self.closed_at().is_none_or(|c| c > at)
    }

    /// Open at `at` and past its due time, or a violation.
    pub fn is_overdue_at(&self, at: DateTime<Utc>) -> bool {
        self.is_open_at(at) && (self.violated || self.due <= at)
    }

    /// Arose after `since` and at or before `at`, and a matter for someone: still open at `at`,
    /// or closed only after its deadline. An obligation that arose and was met on time within
    /// the week never was a problem; a recorded violation counts in [`Self::is_recorded_in`].
    pub fn is_new_in(&self, since: DateTime<Utc>, at: DateTime<Utc>) -> bool {
        self.arose_at > since
            && self.arose_at <= at
            && (self.is_open_at(at) || self.closed_at().is_some_and(|c| c > self.due))
    }

    /// Closed after `since` and at or before `at`, having been a matter for someone: open when
    /// the week began, or closed only after its deadline.
    pub fn is_resolved_in(&self, since: DateTime<Utc>, at: DateTime<Utc>) -> bool {
        self.closed_at().is_some_and(|c| {
            c > since && c <= at && (self.arose_at <= since || c > self.due || self.violated)
        })
    }

    /// A violation nothing can mend (a late entry), recorded after `since` and at or before
    /// `at`: the report states it once, in its week.
    pub fn is_recorded_in(&self, since: DateTime<Utc>, at: DateTime<Utc>) -> bool {
        self.state == State::Recorded && self.arose_at > since && self.arose_at <= at
    }
}

/// A year's findings of one unit and rule, for the annual scorecard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct YearCount {
    pub unit_id: String,
    pub rule: String,
    /// Findings whose deadline fell in the year.
    pub due: i64,
    /// Of those, met: resolved by the deadline at the data's time (not when an evaluation saw
    /// it), or no longer applying.
    pub on_time: i64,
    /// Of those, missed: a violation, still open after the deadline, or resolved after it.
    pub late: i64,
    /// Of those, waived.
    pub waived: i64,
}

/// Which findings to list.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    /// Resolved, waived and recorded findings too.
    pub all: bool,
    pub rule: Option<RuleId>,
    pub unit: Option<String>,
    /// Without `all`: also the findings resolved or waived after this instant (they were open
    /// then: a listing as of an earlier time).
    pub closed_after: Option<DateTime<Utc>>,
    /// Only the finding of this id.
    pub id: Option<i64>,
}

/// Which states a page of findings lists, as they stand at its instant (see
/// [`StoredFinding::state_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatesWanted {
    /// Upcoming, due soon or overdue.
    Open,
    /// Every finding that had arisen.
    All,
    One(State),
}

/// One page of findings as the console lists them: judged at `at`, filtered in the store, in
/// due order.
#[derive(Debug, Clone)]
pub struct FindingPage {
    pub at: DateTime<Utc>,
    /// The due-soon window of `[rules] due_soon_days`.
    pub due_soon: chrono::TimeDelta,
    pub states: StatesWanted,
    pub rule: Option<RuleId>,
    pub unit: Option<String>,
    /// Findings skipped (the pages before) and listed.
    pub offset: u64,
    pub limit: u64,
}

/// One import: rows applied inside one transaction, committed together with the source's
/// cursor. Dropping it without `commit` rolls everything back.
#[async_trait]
pub trait Import: Send {
    /// Upserts by (unit, case key): new rows are inserted, changed rows updated with a history
    /// entry, unchanged rows not written at all. Keys must be distinct within one call.
    async fn put(&mut self, records: Vec<Record>) -> StoreResult<RowCounts> {
        Ok(self.put_repeats(records, &[]).await?.0)
    }
    /// [`Import::put`], where the rows at the positions `repeats` (ascending) list a case that an
    /// earlier call of this import listed. Such a row is compared with the case as the earlier
    /// row left it, and applied over it like any change. Returns the counts and, for each
    /// position of `repeats` in order, what the row did.
    async fn put_repeats(
        &mut self,
        records: Vec<Record>,
        repeats: &[usize],
    ) -> StoreResult<(RowCounts, Vec<Repeated>)>;
    /// Builds now the unique key a first load builds at commit (SQLite's cases, see
    /// [`Repeated::Later`]), applying each row that repeated an earlier row's case over it, and
    /// returns what each of those did, in the order the rows came. Nothing for an import that
    /// defers no key.
    async fn fold_repeats(&mut self) -> StoreResult<Vec<FoldedRepeat>>;
    /// Lets the store hold back the rows of later [`Import::put`] calls and apply them together
    /// at [`Import::settle`] (PostgreSQL stages them and compares them with what is stored in
    /// one pass). Their counts then say only what was seen; `settle` returns the rest. A call
    /// whose rows repeat an earlier call's case (`repeats`) is applied at once, after what was
    /// held back. Without this call every `put` is applied before it returns.
    fn allow_deferred(&mut self) {}
    /// Applies what [`Import::allow_deferred`] let the store hold back; returns the inserted,
    /// updated and unchanged counts of those rows (nothing `seen`: `put` counted them).
    async fn settle(&mut self) -> StoreResult<RowCounts> {
        Ok(RowCounts::default())
    }
    async fn quarantine(&mut self, items: Vec<QuarantineItem>) -> StoreResult<()>;
    /// Records cases listed twice with different values (see [`RepeatItem`]), with the rows.
    async fn repeats(&mut self, items: Vec<RepeatItem>) -> StoreResult<()>;
    /// Commits the rows and, when given, the source's new cursor in the same transaction.
    /// Returns what the commit folded: rows `put` counted as inserted that turned out to repeat
    /// an earlier row's key (a first load builds its unique key only now).
    async fn commit(self: Box<Self>, cursor: Option<String>) -> StoreResult<Folded>;
}

/// What a row that repeats a case an earlier row of the same import listed did.
#[derive(Debug, Clone, PartialEq)]
pub enum Repeated {
    /// It changed the case: `{field: [earlier, later]}`, masked as in the history.
    Changed(serde_json::Value),
    /// It changed nothing.
    Same,
    /// A first load (into an empty table) stored it as it came, to be applied over the earlier
    /// row when the import's unique key is built: [`Import::fold_repeats`] says what it did.
    Later,
}

/// A first load's row that repeated an earlier row's case, applied over it when the unique key
/// was built (see [`Import::fold_repeats`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedRepeat {
    pub unit_id: String,
    pub case_key: String,
    /// What it changed (`{field: [earlier, later]}`, masked); `None`: nothing.
    pub changes: Option<serde_json::Value>,
}

/// Rows of a first load that repeated an earlier row's (unit, case key) in the same import,
/// found when the unique key was built at commit: each was applied to the earlier row as an
/// update (with a history entry) or found unchanged, as a later batch's row would have been.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Folded {
    pub updated: u64,
    pub unchanged: u64,
}

impl Folded {
    /// Moves the folded rows from `inserted` to `updated` / `unchanged`.
    pub fn apply(self, counts: &mut RowCounts) {
        counts.inserted = counts
            .inserted
            .saturating_sub(self.updated + self.unchanged);
        counts.updated += self.updated;
        counts.unchanged += self.unchanged;
    }
}

#[async_trait]
pub trait Store: outbox::Outbox + ops::Ops + accounts::Accounts + Send + Sync {
    fn backend(&self) -> &'static str;
    /// Lets the first load into a store that holds no records take the store to itself when
    /// nobody else has it open (SQLite: a rollback journal instead of the WAL, so the pages are
    /// written once). For one-shot commands such as `liandong sync`, never for the service,
    /// whose other jobs would wait meanwhile.
    fn allow_exclusive_first_load(&self);
    async fn migrate(&self) -> StoreResult<()>;
    async fn begin_import(&self, source: &str, at: DateTime<Utc>) -> StoreResult<Box<dyn Import>>;
    /// Records how a run ended (stats, last success or error). Never touches the cursor.
    async fn finish_run(&self, source: &str, run: &RunReport) -> StoreResult<()>;
    async fn source_state(&self, source: &str) -> StoreResult<Option<SourceState>>;
    async fn source_states(&self) -> StoreResult<Vec<SourceState>>;
    /// Records of a feed, optionally of one unit, ordered by case number, then unit.
    async fn records(&self, feed: Feed, unit: Option<&str>) -> StoreResult<Vec<StoredRecord>>;
    /// One page of records ordered by (case key, unit), after the record with the given
    /// (unit, case key): listing a store of millions of cases a page at a time keeps memory
    /// flat. The order is SQLite's unique key on cases, so each page is a range of that index.
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
    /// Cases listed twice with different values in one import, newest first.
    async fn repeats(&self, source: Option<&str>, limit: i64) -> StoreResult<Vec<RepeatEntry>>;
    /// Stored rows whose unit is not configured: (feed, unit as written, rows).
    async fn unknown_units(&self) -> StoreResult<Vec<(Feed, String, i64)>>;
    /// Applies the findings of an evaluation of the whole store in one transaction: new
    /// findings inserted, changed ones updated, every state change kept in the history, open
    /// findings that the evaluation no longer produces resolved ("no longer applies"). A waived
    /// finding stays waived.
    async fn apply_findings(
        &self,
        findings: &[EvaluatedFinding],
        at: DateTime<Utc>,
    ) -> StoreResult<FindingChanges> {
        self.apply_evaluation(&Evaluation {
            findings,
            scope: None,
            at,
            due_soon: chrono::TimeDelta::zero(),
            pool: &[],
            seekers: &[],
            state: None,
            planner: None,
        })
        .await
    }
    /// Applies one evaluation, whole or incremental (see [`Evaluation`]), in one transaction:
    /// the findings as [`Store::apply_findings`] says within the scope, the clock's state changes
    /// outside it, the fallback pool and the evaluation state.
    async fn apply_evaluation(&self, ev: &Evaluation<'_>) -> StoreResult<FindingChanges>;
    /// The store's revision: every import takes the next one and stamps the rows it writes.
    async fn current_rev(&self) -> StoreResult<i64>;
    /// What the last evaluation saw, if there was one.
    async fn evaluation_state(&self) -> StoreResult<Option<EvaluationState>>;
    /// Rows of a feed for an evaluation.
    async fn select_records(
        &self,
        feed: Feed,
        selection: &Selection<'_>,
    ) -> StoreResult<Vec<StoredRecord>>;
    /// The (unit, case key) of every case whose key is one of `keys`, or with `keys` `None`,
    /// is the key of some row of the platform feed `platform`.
    async fn case_claims(
        &self,
        keys: Option<&[String]>,
        platform: Feed,
    ) -> StoreResult<Vec<(String, String)>>;
    /// Per unit: the closed case files of a quarter's population as of `as_of` (year to date:
    /// closed from 1 January, less those reviewed before the quarter; else closed in the
    /// quarter), and the reviews done in the quarter up to `as_of`. One aggregate query each.
    async fn sampling_counts(
        &self,
        quarter_first: NaiveDate,
        quarter_last: NaiveDate,
        year_to_date: bool,
        as_of: NaiveDate,
    ) -> StoreResult<Vec<(String, i64, i64)>>;
    /// Records a sample draw; returns its id.
    async fn save_draw(&self, draw: &SampleDraw) -> StoreResult<i64>;
    /// The draws of a unit and quarter, newest first.
    async fn draws(&self, unit_id: &str, quarter: &str) -> StoreResult<Vec<SampleDraw>>;
    /// Whether any referral carries a police decision or its date (R10 applies only then).
    async fn referrals_carry_police_decisions(&self) -> StoreResult<bool>;
    /// The (unit, case key) of the cases that, at the last evaluation, found no platform record
    /// by number and whose (unit, squeezed party) is one of `touched`: they compete for the
    /// fallback pool.
    async fn fallback_seekers(
        &self,
        touched: &[(String, String)],
    ) -> StoreResult<Vec<(String, String)>>;
    /// Findings ordered by due time.
    async fn findings(&self, filter: &FindingFilter) -> StoreResult<Vec<StoredFinding>>;
    /// How many findings `page` wants, and the page of them (ordered by due time, then id):
    /// a listing of a province's findings reads one page, not all of them.
    async fn findings_page(&self, page: &FindingPage) -> StoreResult<(u64, Vec<StoredFinding>)>;
    /// The findings a report's week counts and lists: arisen by `at`, and open now, or arisen
    /// or closed after `since` (see the predicates of [`FindingRow`]); ordered by unit and due
    /// time.
    async fn finding_rows(
        &self,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<FindingRow>>;
    /// Per unit and rule, the findings whose deadline lies after `from` and at or before `to`,
    /// and how they ended as of `to`. One aggregate query.
    async fn year_counts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<YearCount>>;
    /// Saves a report's rows of one period (`weekly:2025-W42`), replacing any earlier ones.
    async fn save_snapshot(
        &self,
        period: &str,
        rows: &[(String, String)],
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The saved rows of a period: (unit id, data).
    async fn snapshot(&self, period: &str) -> StoreResult<Vec<(String, String)>>;
    /// The periods with a saved report whose name starts with `prefix` (`weekly:`), newest first.
    async fn snapshot_periods(&self, prefix: &str) -> StoreResult<Vec<String>>;
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

/// Opens the store named by the configuration and brings its schema up to date. A server may
/// quote the password it rejected: the error is told with the store's password blanked
/// ([`Redactor::for_store`](crate::config::Redactor::for_store)), whether it came from
/// `password_file`, `password_credential` or the URL.
pub async fn open(cfg: &StoreConfig) -> anyhow::Result<Box<dyn Store>> {
    open_unredacted(cfg).await.map_err(|e| {
        let secrets = crate::config::Redactor::for_store(cfg);
        anyhow::anyhow!("{}", secrets.redact(&format!("{e:#}")))
    })
}

async fn open_unredacted(cfg: &StoreConfig) -> anyhow::Result<Box<dyn Store>> {
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
