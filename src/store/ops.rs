//! What the daemon keeps in the store (SPEC §7): its jobs' runs, one row per job and scheduled
//! slot, claimed under a lease so that a slot runs once however many replicas share the store;
//! and the cheap aggregates that `/healthz` and `/metrics` read. Implemented once for both
//! backends in `ops_sql.rs`.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::StoreResult;

/// What the store remembers of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobState {
    pub job: String,
    /// The latest slot that finished (ok or failed).
    pub last_slot: Option<DateTime<Utc>>,
    pub last_finished_at: Option<DateTime<Utc>>,
    /// `ok` or `failed`.
    pub last_outcome: Option<String>,
    pub last_detail: Option<String>,
    /// The latest slot that ended well.
    pub last_ok_slot: Option<DateTime<Utc>>,
    /// A run under way.
    pub running: Option<RunningSlot>,
}

/// A slot under way (or left unfinished by a process that died).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningSlot {
    pub slot: DateTime<Utc>,
    /// `host:pid:nonce` of the process that claimed it.
    pub owner: String,
    /// Until when the claim holds unless renewed.
    pub lease_until: DateTime<Utc>,
}

/// Written as `[slot, owner, lease_until]`, as `status --format json` has always shown it.
impl Serialize for RunningSlot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.slot, &self.owner, &self.lease_until).serialize(s)
    }
}

/// How many findings are in one (rule, state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingTotal {
    pub rule: String,
    pub state: String,
    pub count: i64,
}

/// How a finished run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    Ok,
    Failed,
}

impl JobOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Ok => "ok",
            JobOutcome::Failed => "failed",
        }
    }
}

#[async_trait]
pub trait Ops: Send + Sync {
    /// A round trip to the database.
    async fn ping(&self) -> StoreResult<()>;
    /// Claims `slot` of `job` for `owner` until `wall + lease`: `true` when this call inserted
    /// the slot's row, or took over an unfinished one whose lease ran out by `wall`; `false`
    /// when the slot has finished or another live process holds it.
    async fn claim_job(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        owner: &str,
        wall: DateTime<Utc>,
        lease: TimeDelta,
    ) -> StoreResult<bool>;
    /// Extends `owner`'s lease on an unfinished slot; `false` when it no longer holds it.
    async fn renew_job(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        owner: &str,
        until: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Marks `owner`'s slot finished; `false` when it no longer held it.
    async fn finish_job(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        owner: &str,
        at: DateTime<Utc>,
        outcome: JobOutcome,
        detail: &str,
    ) -> StoreResult<bool>;
    /// Gives up `owner`'s unfinished slot (a shutdown cut it short), so that it can run again.
    async fn release_job(&self, job: &str, slot: DateTime<Utc>, owner: &str) -> StoreResult<()>;
    /// Every job the store has seen, by name.
    async fn job_states(&self) -> StoreResult<Vec<JobState>>;
    /// Forgets finished runs of slots before `before`, keeping each job's latest, and the
    /// unfinished runs of dead processes whose lease ran out before `before`.
    async fn prune_job_runs(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// Findings per (rule, state), all of them.
    async fn finding_totals(&self) -> StoreResult<Vec<FindingTotal>>;
}
