//! The daemon's statements of both backends (see `store/ops.rs`), written once like
//! `shared.rs` (see there).

use super::*;
use crate::store::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::store::ops::{FindingTotal, JobOutcome, JobState, Ops, RunningSlot};
use crate::store::outbox::{from_millis, to_millis};

#[async_trait]
impl Ops for Backend {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn claim_job(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        owner: &str,
        wall: DateTime<Utc>,
        lease: chrono::TimeDelta,
    ) -> StoreResult<bool> {
        // One statement: the insert wins a new slot; the conflict branch takes over only an
        // unfinished slot whose holder's lease ran out.
        let done = sqlx::query(
            "INSERT INTO job_runs (job, slot, owner, started_at, lease_until) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (job, slot) DO UPDATE SET owner = excluded.owner, started_at = excluded.started_at, \
             lease_until = excluded.lease_until \
             WHERE job_runs.finished_at IS NULL AND job_runs.lease_until < excluded.started_at",
        )
        .bind(job.to_string())
        .bind(to_millis(slot))
        .bind(owner.to_string())
        .bind(to_millis(wall))
        .bind(to_millis(wall + lease))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn renew_job(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        owner: &str,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE job_runs SET lease_until = $4 WHERE job = $1 AND slot = $2 AND owner = $3 AND finished_at IS NULL",
        )
        .bind(job.to_string())
        .bind(to_millis(slot))
        .bind(owner.to_string())
        .bind(to_millis(until))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_job(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        owner: &str,
        at: DateTime<Utc>,
        outcome: JobOutcome,
        detail: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE job_runs SET finished_at = $4, outcome = $5, detail = $6 \
             WHERE job = $1 AND slot = $2 AND owner = $3 AND finished_at IS NULL",
        )
        .bind(job.to_string())
        .bind(to_millis(slot))
        .bind(owner.to_string())
        .bind(to_millis(at))
        .bind(outcome.as_str())
        .bind(detail.to_string())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_job(&self, job: &str, slot: DateTime<Utc>, owner: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM job_runs WHERE job = $1 AND slot = $2 AND owner = $3 AND finished_at IS NULL")
            .bind(job.to_string())
            .bind(to_millis(slot))
            .bind(owner.to_string())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn job_states(&self) -> StoreResult<Vec<JobState>> {
        // One pass per aggregate over the primary key, however many runs are kept.
        let finished = sqlx::query(
            "SELECT r.job, r.slot, r.finished_at, r.outcome, r.detail, k.ok_slot FROM job_runs r \
             JOIN (SELECT job, MAX(slot) AS slot FROM job_runs WHERE finished_at IS NOT NULL GROUP BY job) m \
             ON m.job = r.job AND m.slot = r.slot \
             LEFT JOIN (SELECT job, MAX(slot) AS ok_slot FROM job_runs WHERE outcome = 'ok' GROUP BY job) k \
             ON k.job = r.job ORDER BY r.job",
        )
        .fetch_all(&self.reader)
        .await?;
        let running = sqlx::query(
            "SELECT job, slot, owner, lease_until FROM job_runs WHERE finished_at IS NULL ORDER BY job, slot",
        )
        .fetch_all(&self.reader)
        .await?;
        let mut out: std::collections::BTreeMap<String, JobState> =
            std::collections::BTreeMap::new();
        let blank = |job: &str| JobState {
            job: job.to_string(),
            last_slot: None,
            last_finished_at: None,
            last_outcome: None,
            last_detail: None,
            last_ok_slot: None,
            running: None,
        };
        for r in &finished {
            let job: String = r.try_get("job")?;
            let s = out.entry(job.clone()).or_insert_with(|| blank(&job));
            s.last_slot = Some(from_millis(r.try_get("slot")?));
            s.last_finished_at = r.try_get::<Option<i64>, _>("finished_at")?.map(from_millis);
            s.last_outcome = r.try_get("outcome")?;
            s.last_detail = r.try_get("detail")?;
            s.last_ok_slot = r.try_get::<Option<i64>, _>("ok_slot")?.map(from_millis);
        }
        for r in &running {
            let job: String = r.try_get("job")?;
            let s = out.entry(job.clone()).or_insert_with(|| blank(&job));
            s.running = Some(RunningSlot {
                slot: from_millis(r.try_get("slot")?),
                owner: r.try_get("owner")?,
                lease_until: from_millis(r.try_get("lease_until")?),
            });
        }
        Ok(out.into_values().collect())
    }

    async fn prune_job_runs(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        // Finished runs, each job's latest kept; and runs a dead process left unfinished whose
        // lease ran out before `before`.
        let done = sqlx::query(
            "DELETE FROM job_runs WHERE slot < $1 AND ((finished_at IS NOT NULL \
             AND slot < (SELECT MAX(l.slot) FROM job_runs l WHERE l.job = job_runs.job AND l.finished_at IS NOT NULL)) \
             OR (finished_at IS NULL AND lease_until < $1))",
        )
        .bind(to_millis(before))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    async fn finding_totals(&self) -> StoreResult<Vec<FindingTotal>> {
        let rows = sqlx::query("SELECT rule, state, COUNT(*) AS n FROM findings GROUP BY rule, state ORDER BY rule, state")
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(FindingTotal {
                    rule: r.try_get("rule")?,
                    state: r.try_get("state")?,
                    count: r.try_get("n")?,
                })
            })
            .collect()
    }
}
