//! The daemon's statements of both backends (see `store/ops.rs`), written once like
//! `shared.rs` (see there).

use super::*;
use crate::store::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::store::ops::{
    AbandonedSlot, FindingTotal, JobOutcome, JobRun, JobState, Ops, RunningSlot,
};
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

    async fn job_states(&self, wall: DateTime<Utc>) -> StoreResult<Vec<JobState>> {
        // One pass over the table for the aggregates, the rest by primary key, however many
        // runs are kept.
        let finished = sqlx::query(
            "SELECT a.job, a.last_slot, a.ok_slot, f.finished_at, f.outcome, f.detail, \
             s.slot AS s_slot, s.owner AS s_owner, s.started_at AS s_started_at, \
             s.lease_until AS s_lease_until, s.finished_at AS s_finished_at, s.detail AS s_detail \
             FROM (SELECT job, MAX(CASE WHEN finished_at IS NOT NULL THEN slot END) AS last_slot, \
             MAX(CASE WHEN outcome = 'ok' THEN slot END) AS ok_slot, \
             MAX(CASE WHEN outcome = 'superseded' THEN slot END) AS superseded_slot \
             FROM job_runs GROUP BY job) a \
             LEFT JOIN job_runs f ON f.job = a.job AND f.slot = a.last_slot \
             LEFT JOIN job_runs s ON s.job = a.job AND s.slot = a.superseded_slot ORDER BY a.job",
        )
        .fetch_all(&self.reader)
        .await?;
        // The unfinished runs, each with the earliest later slot of its job claimed since.
        let unfinished = sqlx::query(
            "SELECT r.job, r.slot, r.owner, r.lease_until, \
             (SELECT MIN(l.slot) FROM job_runs l WHERE l.job = r.job AND l.slot > r.slot) AS later \
             FROM job_runs r WHERE r.finished_at IS NULL ORDER BY r.job, r.slot",
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
            abandoned: Vec::new(),
            last_superseded: None,
        };
        for r in &finished {
            let job: String = r.try_get("job")?;
            let s = out.entry(job.clone()).or_insert_with(|| blank(&job));
            s.last_slot = r.try_get::<Option<i64>, _>("last_slot")?.map(from_millis);
            s.last_finished_at = r.try_get::<Option<i64>, _>("finished_at")?.map(from_millis);
            s.last_outcome = r.try_get("outcome")?;
            s.last_detail = r.try_get("detail")?;
            s.last_ok_slot = r.try_get::<Option<i64>, _>("ok_slot")?.map(from_millis);
            if let Some(slot) = r.try_get::<Option<i64>, _>("s_slot")? {
                s.last_superseded = Some(JobRun {
                    job: job.clone(),
                    slot: from_millis(slot),
                    owner: r
                        .try_get::<Option<String>, _>("s_owner")?
                        .unwrap_or_default(),
                    started_at: from_millis(
                        r.try_get::<Option<i64>, _>("s_started_at")?
                            .unwrap_or_default(),
                    ),
                    lease_until: from_millis(
                        r.try_get::<Option<i64>, _>("s_lease_until")?
                            .unwrap_or_default(),
                    ),
                    finished_at: r
                        .try_get::<Option<i64>, _>("s_finished_at")?
                        .map(from_millis),
                    outcome: Some(JobOutcome::Superseded.as_str().to_string()),
                    detail: r.try_get("s_detail")?,
                });
            }
        }
        for r in &unfinished {
            let job: String = r.try_get("job")?;
            let s = out.entry(job.clone()).or_insert_with(|| blank(&job));
            let slot = from_millis(r.try_get("slot")?);
            let owner: String = r.try_get("owner")?;
            let lease_until = from_millis(r.try_get("lease_until")?);
            if lease_until > wall {
                // By slot: the latest one under way.
                s.running = Some(RunningSlot {
                    slot,
                    owner,
                    lease_until,
                });
            } else {
                s.abandoned.push(AbandonedSlot {
                    slot,
                    owner,
                    since: lease_until,
                    superseded_by: r.try_get::<Option<i64>, _>("later")?.map(from_millis),
                });
            }
        }
        Ok(out.into_values().collect())
    }

    async fn job_runs(&self, job: &str, since: DateTime<Utc>) -> StoreResult<Vec<JobRun>> {
        let rows = sqlx::query(
            "SELECT job, slot, owner, started_at, lease_until, finished_at, outcome, detail \
             FROM job_runs WHERE job = $1 AND (slot >= $2 OR finished_at IS NULL) ORDER BY slot",
        )
        .bind(job.to_string())
        .bind(to_millis(since))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(|r| job_run(r, "")).collect()
    }

    async fn superseded_runs(&self, wall: DateTime<Utc>) -> StoreResult<Vec<(JobRun, JobRun)>> {
        let rows = sqlx::query(
            "SELECT r.job, r.slot, r.owner, r.started_at, r.lease_until, r.finished_at, r.outcome, \
             r.detail, l.job AS l_job, l.slot AS l_slot, l.owner AS l_owner, \
             l.started_at AS l_started_at, l.lease_until AS l_lease_until, \
             l.finished_at AS l_finished_at, l.outcome AS l_outcome, l.detail AS l_detail \
             FROM job_runs r JOIN job_runs l ON l.job = r.job AND l.slot = \
             (SELECT MIN(m.slot) FROM job_runs m WHERE m.job = r.job AND m.slot > r.slot) \
             WHERE r.finished_at IS NULL AND r.lease_until <= $1 ORDER BY r.job, r.slot",
        )
        .bind(to_millis(wall))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| Ok((job_run(r, "")?, job_run(r, "l_")?)))
            .collect()
    }

    async fn supersede_job(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        owner: &str,
        at: DateTime<Utc>,
        detail: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE job_runs SET finished_at = $4, outcome = $5, detail = $6 \
             WHERE job = $1 AND slot = $2 AND owner = $3 AND finished_at IS NULL AND lease_until <= $4",
        )
        .bind(job.to_string())
        .bind(to_millis(slot))
        .bind(owner.to_string())
        .bind(to_millis(at))
        .bind(JobOutcome::Superseded.as_str())
        .bind(detail.to_string())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
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

/// A `job_runs` row read with its columns prefixed by `prefix`.
fn job_run(r: &<Db as sqlx::Database>::Row, prefix: &str) -> StoreResult<JobRun> {
    let c = |name: &str| format!("{prefix}{name}");
    Ok(JobRun {
        job: r.try_get(c("job").as_str())?,
        slot: from_millis(r.try_get(c("slot").as_str())?),
        owner: r.try_get(c("owner").as_str())?,
        started_at: from_millis(r.try_get(c("started_at").as_str())?),
        lease_until: from_millis(r.try_get(c("lease_until").as_str())?),
        finished_at: r
            .try_get::<Option<i64>, _>(c("finished_at").as_str())?
            .map(from_millis),
        outcome: r.try_get(c("outcome").as_str())?,
        detail: r.try_get(c("detail").as_str())?,
    })
}
