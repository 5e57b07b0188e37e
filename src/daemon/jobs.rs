//! The daemon's jobs: what each does, when it is due, and how a slot is claimed, run and
//! recorded.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Asia::Shanghai;

use super::{Runtime, Shared};
use crate::app;
use crate::config::Config;
use crate::domain::clock::Clock;
use crate::schedule::Schedule;
use crate::store::ops::{JobOutcome, JobState};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobKind {
    /// One source, by name.
    Sync(String),
    Evaluate,
    Notify,
    Report,
    Alerts,
}

/// A job and when it fires.
#[derive(Debug, Clone)]
pub struct Job {
    /// `sync:<source>`, `evaluate`, `notify`, `report:weekly`, `alerts`.
    pub name: String,
    pub kind: JobKind,
    pub schedule: Schedule,
}

impl Job {
    /// Jobs that write the data run one at a time; so do those that send (and the report).
    fn sends(&self) -> bool {
        // The weekly report only reads the data: it goes with the senders, so that one
        // dispatcher at a time paces each channel.
        matches!(
            self.kind,
            JobKind::Notify | JobKind::Report | JobKind::Alerts
        )
    }
}

/// The jobs of a configuration: each enabled source, then evaluate, notify, the weekly report
/// and the alerts.
pub fn jobs(cfg: &Config) -> anyhow::Result<Vec<Job>> {
    let parse =
        |key: &str, text: &str| Schedule::parse(text).map_err(|e| anyhow::anyhow!("{key}: {e}"));
    let mut out = Vec::new();
    for s in cfg.sources.iter().filter(|s| s.enabled) {
        out.push(Job {
            name: format!("sync:{}", s.name),
            kind: JobKind::Sync(s.name.clone()),
            schedule: parse(&format!("sources.{}.schedule", s.name), &s.schedule)?,
        });
    }
    out.push(Job {
        name: "evaluate".into(),
        kind: JobKind::Evaluate,
        schedule: parse("run.evaluate_schedule", &cfg.run.evaluate_schedule)?,
    });
    out.push(Job {
        name: "notify".into(),
        kind: JobKind::Notify,
        schedule: parse("run.notify_schedule", &cfg.run.notify_schedule)?,
    });
    out.push(Job {
        name: "report:weekly".into(),
        kind: JobKind::Report,
        schedule: parse("report.schedule", &cfg.report.schedule)?,
    });
    out.push(Job {
        name: "alerts".into(),
        kind: JobKind::Alerts,
        schedule: parse("run.alerts_schedule", &cfg.run.alerts_schedule)?,
    });
    Ok(out)
}

/// The job's latest slot at `now` when no run of it has finished (anywhere), with what the
/// store knows of the job.
fn unrun<'a>(
    job: &Job,
    states: &'a [JobState],
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, Option<&'a JobState>)> {
    let slot = job.schedule.last_at_or_before(now)?;
    let state = states.iter().find(|s| s.job == job.name);
    if state.and_then(|s| s.last_slot).is_some_and(|l| l >= slot) {
        return None;
    }
    Some((slot, state))
}

/// At start-up: each job whose latest slot passed with no run finished for it (or that never
/// ran) runs that slot once — one after the other in the order of [`jobs`], so that the
/// sources come in before the evaluation reads them and the notifications follow it. Returns
/// how many are due.
pub async fn catch_up(
    shared: &Arc<Shared>,
    rt: &Arc<Runtime>,
    now: DateTime<Utc>,
    tasks: &mut tokio::task::JoinSet<()>,
) -> usize {
    let states = match rt.app.store.job_states().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot read the jobs' last runs, nothing caught up: {e}");
            return 0;
        }
    };
    let mut due = Vec::new();
    for job in &rt.jobs {
        let Some((slot, state)) = unrun(job, &states, now) else {
            continue;
        };
        match state.and_then(|s| s.last_slot) {
            Some(l) => tracing::info!(
                job = %job.name,
                "missed slot {} (last run {}): running it now",
                local(slot),
                local(l)
            ),
            None => {
                tracing::info!(job = %job.name, "never ran: running the slot of {} now", local(slot))
            }
        }
        if shared
            .busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(job.name.clone())
        {
            due.push((job.clone(), slot));
        }
    }
    let n = due.len();
    let (shared, rt) = (shared.clone(), rt.clone());
    tasks.spawn(async move {
        // Every job queued here holds its mark until it has run, even if one before it fails.
        let marks: Vec<Busy> = due
            .iter()
            .map(|(job, _)| Busy(shared.clone(), job.name.clone()))
            .collect();
        for ((job, slot), mark) in due.into_iter().zip(marks) {
            let _ = run_slot(&shared, &rt, &job, slot).await;
            drop(mark);
        }
    });
    n
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A slot as one word for the journal's fields: `2025-10-13T09:00:00` (Asia/Shanghai).
fn slot_id(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// Starts `slot` of `job` unless this process has one of it queued or running already.
pub fn spawn(
    shared: &Arc<Shared>,
    rt: &Arc<Runtime>,
    job: &Job,
    slot: DateTime<Utc>,
    tasks: &mut tokio::task::JoinSet<()>,
) -> bool {
    if shared.stop.load(std::sync::atomic::Ordering::SeqCst) {
        return false;
    }
    {
        let mut busy = shared
            .busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !busy.insert(job.name.clone()) {
            tracing::info!(job = %job.name, "still running: slot {} skipped", local(slot));
            shared.metrics.job_skipped(&job.name);
            return false;
        }
    }
    let (shared, rt, job) = (shared.clone(), rt.clone(), job.clone());
    tasks.spawn(async move {
        let _busy = Busy(shared.clone(), job.name.clone());
        let _ = run_slot(&shared, &rt, &job, slot).await;
    });
    true
}

/// Marks a job no longer queued or running here when dropped — also when its task panicked
/// or a shutdown aborted it.
struct Busy(Arc<Shared>, String);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0
            .busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.1);
    }
}

fn is_busy(shared: &Shared, job: &str) -> bool {
    shared
        .busy
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .contains(job)
}

/// Every tick: a job whose latest slot has passed with no run finished for it, nobody holding
/// it (a process that claimed it died, and its lease ran out) and nothing of it queued here,
/// runs that slot now. Returns how many were started.
pub async fn retry_abandoned(
    shared: &Arc<Shared>,
    rt: &Arc<Runtime>,
    now: DateTime<Utc>,
    tasks: &mut tokio::task::JoinSet<()>,
) -> usize {
    let states = match rt.app.store.job_states().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot read the jobs' last runs: {e}");
            return 0;
        }
    };
    let wall = shared.clock.wall();
    let mut started = 0;
    for job in &rt.jobs {
        if is_busy(shared, &job.name) {
            continue;
        }
        // A job that never ran anywhere is the start-up catch-up's or the next firing's.
        let Some((slot, Some(state))) = unrun(job, &states, now) else {
            continue;
        };
        match &state.running {
            Some((running, _, until)) if *running >= slot && *until > wall => continue,
            Some((running, owner, _)) if *running >= slot => tracing::warn!(
                job = %job.name,
                "slot {} was left unfinished by {owner} (its lease ran out): running it again",
                local(*running)
            ),
            _ => {}
        }
        if spawn(shared, rt, job, slot, tasks) {
            started += 1;
        }
    }
    started
}

/// How a slot went here.
enum Ran {
    Done(JobOutcome, String),
    /// Not run: another process has it, or it finished before (`false`), or the store could
    /// not be asked (`true`: a failure).
    NotRun(String, bool),
}

/// Claims, runs and records one slot. The job runs under its lease: renewed every third of
/// it, and the job is cancelled (its open transaction rolled back) when the lease is lost or
/// could not be renewed before it ran out, so that two replicas never run one slot at once. A
/// panic in a job is caught and recorded as a failed run.
async fn run_slot(shared: &Arc<Shared>, rt: &Arc<Runtime>, job: &Job, slot: DateTime<Utc>) -> Ran {
    let _lane = if job.sends() {
        shared.message_lane.lock().await
    } else {
        shared.data_lane.lock().await
    };
    if shared.stop.load(std::sync::atomic::Ordering::SeqCst) {
        return Ran::NotRun("stopping".into(), false);
    }
    let lease = TimeDelta::seconds(i64::try_from(rt.app.cfg.run.lease_secs).unwrap_or(600));
    // Registered before the claim: a shutdown that cuts the claim short still releases it.
    let in_flight = InFlight::new(shared, &job.name, slot, rt.app.store.clone());
    match rt
        .app
        .store
        .claim_job(&job.name, slot, &shared.owner, shared.clock.wall(), lease)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!(job = %job.name, "slot {} taken by another process", local(slot));
            shared.metrics.job_skipped(&job.name);
            in_flight.forget();
            return Ran::NotRun("another process ran this slot or runs it".into(), false);
        }
        Err(e) => {
            tracing::error!(job = %job.name, "cannot claim slot {}: {e}", local(slot));
            in_flight.forget();
            return Ran::NotRun(format!("cannot claim the slot: {e}"), true);
        }
    }
    if shared.stop.load(std::sync::atomic::Ordering::SeqCst) {
        // The shutdown began while the claim was made: the slot stays listed in flight, and
        // the shutdown releases it for the next start.
        return Ran::NotRun("stopping".into(), false);
    }
    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<String>();
    let _renew = AbortOnDrop(tokio::spawn(renew(
        rt.app.store.clone(),
        shared.clock,
        shared.owner.clone(),
        job.name.clone(),
        slot,
        lease,
        lost_tx,
    )));
    shared.notifier.status(&format!("running {}", job.name));
    let started = Instant::now();
    let here = std::panic::AssertUnwindSafe(run_here(shared, rt, job, slot, shared.clock.now()));
    let work = async {
        match futures_util::FutureExt::catch_unwind(here).await {
            Ok(r) => r,
            Err(panic) => Err(anyhow::anyhow!("the job panicked: {}", panic_text(&panic))),
        }
    };
    // A lost lease drops the job's future: its open transaction rolls back.
    let result = tokio::select! {
        r = work => r,
        Ok(why) = lost_rx => Err(anyhow::anyhow!("cancelled: {why}")),
    };
    let secs = started.elapsed().as_secs_f64();
    let (outcome, detail) = match &result {
        Ok(d) => (JobOutcome::Ok, d.clone()),
        Err(e) => (
            JobOutcome::Failed,
            crate::mask::mask_text(&format!("{e:#}")),
        ),
    };
    match outcome {
        JobOutcome::Ok => {
            tracing::info!(job = %job.name, slot = %slot_id(slot), "done in {secs:.1} s: {detail}");
        }
        JobOutcome::Failed => {
            tracing::error!(job = %job.name, slot = %slot_id(slot), "failed after {secs:.1} s: {detail}");
        }
    }
    shared
        .metrics
        .job_ran(&job.name, outcome == JobOutcome::Ok, secs);
    match rt
        .app
        .store
        .finish_job(
            &job.name,
            slot,
            &shared.owner,
            shared.clock.wall(),
            outcome,
            &detail,
        )
        .await
    {
        Ok(true) => in_flight.forget(),
        Ok(false) => {
            in_flight.forget();
            tracing::warn!(
                job = %job.name,
                "slot {} was taken over by another process before it finished here",
                local(slot)
            );
        }
        Err(e) => {
            tracing::error!(job = %job.name, "cannot record the end of slot {}: {e}", local(slot));
        }
    }
    shared.notifier.status("idle");
    Ran::Done(outcome, detail)
}

/// Keeps renewing a slot's lease; says why on `lost` when it was lost, or when no renewal
/// succeeded for a whole lease (another replica may take the slot over now).
async fn renew(
    store: Arc<dyn crate::store::Store>,
    clock: Clock,
    owner: String,
    name: String,
    slot: DateTime<Utc>,
    lease: TimeDelta,
    lost: tokio::sync::oneshot::Sender<String>,
) {
    let every = (lease / 3)
        .to_std()
        .unwrap_or(std::time::Duration::from_secs(60));
    let mut held_until = Instant::now() + lease.to_std().unwrap_or(every * 3);
    loop {
        tokio::time::sleep(every).await;
        match store
            .renew_job(&name, slot, &owner, clock.wall() + lease)
            .await
        {
            Ok(true) => held_until = Instant::now() + lease.to_std().unwrap_or(every * 3),
            Ok(false) => {
                tracing::warn!(job = %name, "lost the lease on slot {}", local(slot));
                let _ = lost.send("another process took the slot over".into());
                return;
            }
            Err(e) => {
                tracing::warn!(job = %name, "cannot renew the lease: {e}");
                if Instant::now() + every >= held_until {
                    let _ = lost.send(format!("the lease could not be renewed: {e}"));
                    return;
                }
            }
        }
    }
}

/// Aborts a spawned task when dropped (a renewal must not outlive its run, panicked or not).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A claimed slot this process has not finished: listed for the shutdown, which releases it.
struct InFlight<'a> {
    shared: &'a Shared,
    key: (String, i64),
    done: std::cell::Cell<bool>,
}

impl<'a> InFlight<'a> {
    fn new(
        shared: &'a Shared,
        job: &str,
        slot: DateTime<Utc>,
        store: Arc<dyn crate::store::Store>,
    ) -> InFlight<'a> {
        let key = (job.to_string(), slot.timestamp_millis());
        shared
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.clone(), store);
        InFlight {
            shared,
            key,
            done: std::cell::Cell::new(false),
        }
    }

    /// Finished (or never claimed): nothing to release.
    fn forget(&self) {
        self.done.set(true);
        self.shared
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.key);
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        // A run that ended without recording its end stays listed only while a shutdown can
        // still release it; a panic was caught above, so this is an abort by the shutdown.
        if !self.done.get() {
            tracing::debug!(job = %self.key.0, "slot left unfinished");
        }
    }
}

/// What a panic carried, when it was a message.
pub(super) fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// What a job does: the application's job of that kind. `Ok` carries a one-line summary; `Err`
/// is a failed run (its slot is finished all the same: the next slot tries again).
pub(super) async fn run_here(
    shared: &Shared,
    rt: &Runtime,
    job: &Job,
    slot: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let app = &rt.app;
    let stop = Some(shared.stop.clone());
    match &job.kind {
        JobKind::Sync(name) => app::jobs::sync_source(app, name).await,
        JobKind::Evaluate => {
            let r = app::jobs::evaluate(app, false, false).await?;
            Ok(app::jobs::evaluation_summary(&r))
        }
        JobKind::Notify => app::jobs::notify_job(app, stop).await,
        // The report of the slot's week, as of the slot (a slot caught up late still reports
        // its own week; the next slot sends the next one).
        JobKind::Report => Ok(app::jobs::weekly_report(app, slot.min(now), stop)
            .await?
            .to_string()),
        JobKind::Alerts => app::jobs::alerts(app, stop).await,
    }
}

/// `run --once`: every source, the evaluation, the notifications, the weekly report when its
/// latest slot has not run, and the alerts — one after the other — then exit (1 if any failed).
pub async fn once(shared: &Arc<Shared>) -> anyhow::Result<ExitCode> {
    let rt = shared.runtime();
    let now = shared.clock.now();
    let states = rt.app.store.job_states().await?;
    let mut failed = 0;
    for job in &rt.jobs {
        let slot = if job.kind == JobKind::Report {
            // The weekly report goes once per slot: only when its latest slot has not run.
            let Some(slot) = job.schedule.last_at_or_before(now) else {
                continue;
            };
            let last = states
                .iter()
                .find(|s| s.job == job.name)
                .and_then(|s| s.last_slot);
            if last.is_some_and(|l| l >= slot) {
                println!(
                    "{:<24} already sent for its slot of {}",
                    job.name,
                    local(slot)
                );
                continue;
            }
            slot
        } else {
            // A manual cycle: a slot of its own (to the millisecond).
            now
        };
        match run_slot(shared, &rt, job, slot).await {
            Ran::Done(outcome, detail) => {
                if outcome == JobOutcome::Failed {
                    failed += 1;
                }
                println!("{:<24} {:<7} {detail}", job.name, outcome.as_str());
            }
            Ran::NotRun(why, error) => {
                if error {
                    failed += 1;
                }
                println!(
                    "{:<24} {:<7} {why}",
                    job.name,
                    if error { "failed" } else { "skipped" }
                );
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
