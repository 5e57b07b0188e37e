//! What the daemon keeps in the store (SPEC §7): its jobs' runs, one row per job and scheduled
//! slot, claimed under a lease so that a slot runs once however many replicas share the store
//! (an unfinished slot is running while its lease holds, abandoned once it ran out, and closed as
//! superseded when a later slot of its job was claimed);
//! and the cheap aggregates that `/healthz` and `/metrics` read. Implemented once for both
//! backends in `ops_sql.rs`.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::StoreResult;

/// What the store remembers of a job, read at a wall-clock instant (leases are compared with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobState {
    pub job: String,
    /// The latest slot that finished (ok, failed or superseded).
    pub last_slot: Option<DateTime<Utc>>,
    pub last_finished_at: Option<DateTime<Utc>>,
    /// `ok`, `failed` or `superseded`.
    pub last_outcome: Option<String>,
    pub last_detail: Option<String>,
    /// The latest slot that ended well.
    pub last_ok_slot: Option<DateTime<Utc>>,
    /// The latest slot under way: claimed under a lease that has not run out.
    pub running: Option<RunningSlot>,
    /// Slots left unfinished whose lease ran out (the process that claimed them died), neither
    /// run again nor closed yet, oldest first. Never counted as running.
    pub abandoned: Vec<AbandonedSlot>,
    /// The latest slot closed as superseded: abandoned, and a later slot of the job claimed.
    pub last_superseded: Option<JobRun>,
}

/// A slot left unfinished by a process that died: its lease ran out at `since`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AbandonedSlot {
    pub slot: DateTime<Utc>,
    /// The process that claimed it (`host:pid:nonce`).
    pub owner: String,
    /// When its lease ran out.
    pub since: DateTime<Utc>,
    /// The earliest later slot of the job claimed since, if any: then this one is not run again
    /// but closed as superseded (by a replica's next tick); otherwise a replica runs it again.
    pub superseded_by: Option<DateTime<Utc>>,
}

/// One row of `job_runs`: a slot's claim and, once it finished, how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRun {
    pub job: String,
    pub slot: DateTime<Utc>,
    pub owner: String,
    pub started_at: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `ok`, `failed` or `superseded`, once finished.
    pub outcome: Option<String>,
    pub detail: Option<String>,
}

impl JobRun {
    /// Claimed and not finished, under a lease that holds at `wall`.
    pub fn live(&self, wall: DateTime<Utc>) -> bool {
        self.finished_at.is_none() && self.lease_until > wall
    }

    /// Left unfinished, its lease run out by `wall`.
    pub fn abandoned(&self, wall: DateTime<Utc>) -> bool {
        self.finished_at.is_none() && self.lease_until <= wall
    }

    /// Finished after running (ok or failed), not closed unrun.
    pub fn ran(&self) -> bool {
        self.finished_at.is_some()
            && self.outcome.as_deref() != Some(JobOutcome::Superseded.as_str())
    }
}

/// A slot under way.
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
    /// Never run: left unfinished by a process that died, and a later slot of its job claimed
    /// since (closed by another process, with who left it and which slot superseded it).
    Superseded,
}

impl JobOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Ok => "ok",
            JobOutcome::Failed => "failed",
            JobOutcome::Superseded => "superseded",
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
    /// Every job the store has seen, by name, as it stands at `wall`: an unfinished slot whose
    /// lease holds at `wall` is running, one whose lease ran out is abandoned.
    async fn job_states(&self, wall: DateTime<Utc>) -> StoreResult<Vec<JobState>>;
    /// `job`'s runs of slots at or after `since`, and its unfinished runs of earlier slots, by
    /// slot.
    async fn job_runs(&self, job: &str, since: DateTime<Utc>) -> StoreResult<Vec<JobRun>>;
    /// The unfinished runs whose lease ran out by `wall` and of whose job a later slot has been
    /// claimed (finished or not), each with the earliest such later run: they will not run
    /// again, and are to be closed with [`Ops::supersede_job`].
    async fn superseded_runs(&self, wall: DateTime<Utc>) -> StoreResult<Vec<(JobRun, JobRun)>>;
    /// Closes `owner`'s unfinished run of `slot` as `superseded` at `at`, with `detail`, if its
    /// lease ran out by `at`; `false` when it did not (renewed, taken over or finished since).
    async fn supersede_job(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        owner: &str,
        at: DateTime<Utc>,
        detail: &str,
    ) -> StoreResult<bool>;
    /// Forgets finished runs of slots before `before`, keeping each job's latest, and the
    /// unfinished runs of dead processes whose lease ran out before `before`.
    async fn prune_job_runs(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// Findings per (rule, state), all of them.
    async fn finding_totals(&self) -> StoreResult<Vec<FindingTotal>>;
}
