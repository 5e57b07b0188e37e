//! The scheduler: which slots are due, and how one is claimed, run and recorded.
//!
//! [`Scheduler::tick`] is one wake-up of the daemon at a given time: every job whose schedule
//! fired since the last tick gets its latest slot started, and a slot another process left
//! unfinished (its lease ran out) is started again while it is its job's latest, or closed as
//! superseded once a later slot of its job has been claimed. [`Scheduler::catch_up`] is the start-up:
//! each job whose latest slot passed with no run finished for it runs that slot once. Time is
//! an argument: the daemon's loop passes its clock's time, the tests pass the times they choose.
//!
//! A slot runs only after it is claimed in the store (`job_runs`), so replicas sharing one
//! PostgreSQL run it once. It runs under a lease renewed every third of it; when the lease is
//! lost the job's future is dropped (its open transaction rolls back). What a job does is the
//! [`Runner`]'s business: the application's jobs in the daemon, stand-ins in the tests. A panic
//! in a job is caught and recorded as a failed run.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};

use super::jobs::{Job, JobKind, local, slot_id};
use super::{Runtime, Shared};
use crate::app::App;
use crate::domain::clock::Clock;
use crate::store::ops::{JobOutcome, JobRun, JobState};

/// What runs a job's slot.
#[async_trait::async_trait]
pub trait Runner: Send + Sync {
    /// Runs `job`'s `slot`; `Ok` carries a one-line summary. `stop` is set on shutdown: a job
    /// that sends stops claiming messages.
    async fn run(
        &self,
        app: &App,
        job: &Job,
        slot: DateTime<Utc>,
        stop: Arc<AtomicBool>,
    ) -> anyhow::Result<String>;
}

/// The daemon's scheduling state: the instant up to which firings have been looked at, and the
/// slots under way.
pub struct Scheduler {
    shared: Arc<Shared>,
    cursor: Option<DateTime<Utc>>,
    tasks: tokio::task::JoinSet<()>,
}

impl Scheduler {
    pub(super) fn new(shared: Arc<Shared>) -> Scheduler {
        Scheduler {
            shared,
            cursor: None,
            tasks: tokio::task::JoinSet::new(),
        }
    }

    /// A scheduler of its own over `app`, running `jobs` through `runner`, with no endpoints
    /// and no systemd protocol: what the daemon's loop drives, for a caller that drives it by
    /// hand (the scheduler's tests).
    pub fn standalone(app: App, jobs: Vec<Job>, runner: Arc<dyn Runner>) -> Scheduler {
        let clock = app.clock;
        let rt = Arc::new(Runtime { app, jobs });
        Scheduler::new(Arc::new(Shared::new(rt, clock, runner)))
    }

    /// At start-up: each job whose latest slot at `now` passed with no run finished for it (or
    /// that never ran) runs that slot once; they start together, and the evaluation waits for
    /// the sources as at any slot. Returns how many are due.
    pub async fn catch_up(&mut self, now: DateTime<Utc>) -> usize {
        self.cursor = Some(now);
        let rt = self.shared.runtime();
        catch_up(&self.shared, &rt, now, &mut self.tasks).await
    }

    /// One wake-up at `now`: starts the latest slot of each job whose schedule fired since the
    /// last tick, and the slots others left unfinished. Returns how many slots were started.
    pub async fn tick(&mut self, now: DateTime<Utc>) -> usize {
        let rt = self.shared.runtime();
        // A first tick without a catch-up looks at what fires at `now` itself.
        let mut cursor = self
            .cursor
            .unwrap_or_else(|| now - TimeDelta::milliseconds(1));
        if now < cursor {
            // The clock went back (NTP): do not fire the same slots twice.
            cursor = now;
        }
        let mut fired = Vec::new();
        for job in &rt.jobs {
            let due = job.schedule.next_after(cursor).is_some_and(|t| t <= now);
            if due
                && let Some(slot) = job.schedule.last_at_or_before(now)
                && spawn(&self.shared, &rt, job, slot, None, &mut self.tasks)
            {
                fired.push(job.name.as_str());
            }
        }
        self.cursor = Some(now);
        // A slot this tick started may have finished already: it is not abandoned.
        let started =
            fired.len() + retry_abandoned(&self.shared, &rt, now, &fired, &mut self.tasks).await;
        // Reap what finished (a panic was caught and recorded by the slot itself).
        while self.tasks.try_join_next().is_some() {}
        started
    }

    /// When the next job fires after `now`, if any does.
    pub fn next_firing(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.shared
            .runtime()
            .jobs
            .iter()
            .filter_map(|j| j.schedule.next_after(now))
            .min()
    }

    /// Waits until every slot under way has finished.
    pub async fn idle(&mut self) {
        while self.tasks.join_next().await.is_some() {}
    }

    /// Waits up to `grace` for the slots under way; aborts those still running then. Returns
    /// whether all finished in time.
    pub async fn finish(&mut self, grace: std::time::Duration) -> bool {
        let finished = tokio::time::timeout(grace, self.idle()).await.is_ok();
        if !finished {
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
        }
        finished
    }
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
/// ran) runs that slot once. They start together, each on its own: a source that hangs holds
/// back no other source, and the order between jobs — the evaluation after the syncs, the
/// notifications and the report after the evaluation — is kept by [`await_predecessors`], as
/// for any slot. Returns how many are due.
async fn catch_up(
    shared: &Arc<Shared>,
    rt: &Arc<Runtime>,
    now: DateTime<Utc>,
    tasks: &mut tokio::task::JoinSet<()>,
) -> usize {
    let wall = shared.clock.wall();
    close_superseded(rt.app.store.as_ref(), wall).await;
    let states = match rt.app.store.job_states(wall).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot read the jobs' last runs, nothing caught up: {e}");
            return 0;
        }
    };
    let mut n = 0;
    for job in &rt.jobs {
        let Some((slot, state)) = unrun(job, &states, now) else {
            continue;
        };
        let left = state.and_then(|s| left_unfinished(s, slot));
        match (state.and_then(|s| s.last_slot), &left) {
            (_, Some(note)) => tracing::warn!(job = %job.name, "slot {}: {note}", local(slot)),
            (Some(l), None) => tracing::info!(
                job = %job.name,
                "missed slot {} (last run {}): running it now",
                local(slot),
                local(l)
            ),
            (None, None) => {
                tracing::info!(job = %job.name, "never ran: running the slot of {} now", local(slot))
            }
        }
        if spawn(shared, rt, job, slot, left, tasks) {
            n += 1;
        }
    }
    n
}

/// When `slot` of the job was left unfinished by a process that died (its lease ran out), what
/// its run again says of it.
fn left_unfinished(state: &JobState, slot: DateTime<Utc>) -> Option<String> {
    state
        .abandoned
        .iter()
        .find(|a| a.slot == slot)
        .map(|a| format!("run again: {} left it unfinished", a.owner))
}

/// Starts `slot` of `job` unless this process has one of it queued or running already; `note`
/// is added to the run's detail (a slot run again after a process left it unfinished).
fn spawn(
    shared: &Arc<Shared>,
    rt: &Arc<Runtime>,
    job: &Job,
    slot: DateTime<Utc>,
    note: Option<String>,
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
        let _ = run_slot(&shared, &rt, &job, slot, note.as_deref()).await;
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

/// Every tick: first the slots other processes left unfinished (their lease ran out) of which a
/// later slot has been claimed since are closed as superseded. Then a job whose latest slot has
/// passed with no run finished for it, nobody holding it (a process that claimed it died, and
/// its lease ran out) and nothing of it queued here, runs that slot now. Returns how many were
/// started.
async fn retry_abandoned(
    shared: &Arc<Shared>,
    rt: &Arc<Runtime>,
    now: DateTime<Utc>,
    fired: &[&str],
    tasks: &mut tokio::task::JoinSet<()>,
) -> usize {
    let wall = shared.clock.wall();
    close_superseded(rt.app.store.as_ref(), wall).await;
    let states = match rt.app.store.job_states(wall).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot read the jobs' last runs: {e}");
            return 0;
        }
    };
    let mut started = 0;
    for job in &rt.jobs {
        if fired.contains(&job.name.as_str()) || is_busy(shared, &job.name) {
            continue;
        }
        // A job that never ran anywhere is the start-up catch-up's or the next firing's.
        let Some((slot, Some(state))) = unrun(job, &states, now) else {
            continue;
        };
        // Under way (that slot or a later one), on a live lease.
        if state.running.as_ref().is_some_and(|r| r.slot >= slot) {
            continue;
        }
        let note = left_unfinished(state, slot);
        if let Some(note) = &note {
            tracing::warn!(
                job = %job.name,
                "slot {} was left unfinished (its lease ran out): {note}",
                local(slot)
            );
        }
        if spawn(shared, rt, job, slot, note, tasks) {
            started += 1;
        }
    }
    started
}

/// Closes as superseded each slot a process left unfinished (its lease ran out by `wall`) of
/// which a later slot of the same job has been claimed since: it is not run again, and the
/// store says who left it and which slot superseded it. Any replica does it, at every tick and
/// after each claim; the store's update holds only while the lease stays run out and the owner
/// the same, so a slot taken over or renewed meanwhile is left alone.
async fn close_superseded(store: &dyn crate::store::Store, wall: DateTime<Utc>) {
    let runs = match store.superseded_runs(wall).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("cannot read the slots left unfinished: {e}");
            return;
        }
    };
    for (left, later) in runs {
        let detail = format!(
            "left unfinished by {} (its lease ran out at {}); superseded by the slot of {} ({})",
            left.owner,
            local(left.lease_until),
            local(later.slot),
            later.owner
        );
        match store
            .supersede_job(&left.job, left.slot, &left.owner, wall, &detail)
            .await
        {
            Ok(true) => tracing::warn!(
                job = %left.job,
                slot = %slot_id(left.slot),
                "closed as superseded: {detail}"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(
                job = %left.job,
                "cannot close slot {} as superseded: {e}",
                local(left.slot)
            ),
        }
    }
}

/// How a slot went here.
pub(super) enum Ran {
    Done(JobOutcome, String),
    /// Not run: another process has it, or it finished before (`false`), or the store could
    /// not be asked (`true`: a failure).
    NotRun(String, bool),
}

/// Claims, runs and records one slot. The job runs under its lease: renewed every third of
/// it, and the job is cancelled (its open transaction rolled back) when the lease is lost or
/// could not be renewed before it ran out, so that two replicas never run one slot at once. A
/// panic in a job is caught and recorded as a failed run.
pub(super) async fn run_slot(
    shared: &Arc<Shared>,
    rt: &Arc<Runtime>,
    job: &Job,
    slot: DateTime<Utc>,
    note: Option<&str>,
) -> Ran {
    let lease = TimeDelta::seconds(i64::try_from(rt.app.cfg.run.lease_secs).unwrap_or(600));
    // Waits (up to two leases) for the slots whose output this one reads, before it takes its
    // lane: a job it waits for may need the lane in this process.
    let late = await_predecessors(
        rt,
        job,
        slot,
        shared.clock,
        &shared.stop,
        lease.to_std().unwrap_or_default() * 2,
    )
    .await;
    // The senders go one at a time, so that one dispatcher at a time paces each channel. The
    // jobs that write the data do not queue behind each other: a source waiting on its system
    // must not hold back the others (the store orders their writes).
    let _lane = if job.sends() {
        Some(shared.message_lane.lock().await)
    } else {
        None
    };
    if shared.stop.load(std::sync::atomic::Ordering::SeqCst) {
        return Ran::NotRun("stopping".into(), false);
    }
    // Registered before the claim: a shutdown that cuts the claim short still releases it.
    let in_flight = InFlight::new(shared, &job.name, slot, rt.app.store.clone());
    match rt
        .app
        .store
        .claim_job(&job.name, slot, &shared.owner, shared.clock.wall(), lease)
        .await
    {
        Ok(true) => {
            // Earlier slots of the job another process left unfinished will not run now.
            close_superseded(rt.app.store.as_ref(), shared.clock.wall()).await;
        }
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
    let here = std::panic::AssertUnwindSafe(async {
        let r = shared
            .runner
            .run(&rt.app, job, slot, shared.stop.clone())
            .await;
        let notes: Vec<&str> = note.into_iter().chain(late.as_deref()).collect();
        match r {
            Ok(d) if !notes.is_empty() => Ok(format!("{d} ({})", notes.join("; "))),
            r => r,
        }
    });
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
        _ if shared.prints_runs => {
            tracing::debug!(job = %job.name, slot = %slot_id(slot), outcome = outcome.as_str(), "after {secs:.1} s: {detail}");
        }
        JobOutcome::Ok => {
            tracing::info!(job = %job.name, slot = %slot_id(slot), "done in {secs:.1} s: {detail}");
        }
        // (A run here ends ok or failed; only another process closes a slot as superseded.)
        JobOutcome::Failed | JobOutcome::Superseded => {
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

/// The jobs whose latest slot at or before a slot of `job` must have finished before it runs,
/// whichever replica runs them: the evaluation reads what the syncs wrote, the notifications
/// and the weekly report what the evaluation wrote (the catch-up at start-up runs them in this
/// order anyway).
fn predecessors<'a>(job: &'a Job, jobs: &'a [Job]) -> impl Iterator<Item = &'a Job> {
    jobs.iter().filter(move |j| match job.kind {
        JobKind::Evaluate => matches!(j.kind, JobKind::Sync(_)),
        JobKind::Notify | JobKind::Report => j.kind == JobKind::Evaluate,
        _ => false,
    })
}

/// How long a predecessor's slot may stay unclaimed, with nothing of its job under way, before
/// it is taken as not coming (skipped because its previous run still ran here, or no process is
/// up to run it).
const UNCLAIMED_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Where a predecessor's slot stands, from its job's runs (`Ops::job_runs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Predecessor {
    /// A run of that slot or a later one ran to its end, and no run of it or of an earlier slot
    /// is still under way.
    Done,
    /// Its data is coming: a run of that slot or an earlier one is under way (an earlier one
    /// may hold what this one would read — a drop folder's files — or be why it is not claimed
    /// yet: another replica claims it, or this one runs it once the earlier has finished); or,
    /// nothing at or after it having run to its end, a later run is under way, or a run at or
    /// after it was left unfinished by a process that died (a replica runs it again, or a later
    /// slot supersedes it).
    Coming,
    /// Nothing of it in the store and nothing of its job under way: claimed soon, or not at all.
    Unclaimed,
}

/// Where `slot` of a job stands at `wall`, given its `runs` (those of `slot` and later, and the
/// unfinished ones before it). A run closed as superseded did not run: a later run stands for
/// it. A run of an earlier slot left unfinished by a process that died is not under way.
pub fn predecessor(runs: &[JobRun], slot: DateTime<Utc>, wall: DateTime<Utc>) -> Predecessor {
    if runs.iter().any(|r| r.slot <= slot && r.live(wall)) {
        return Predecessor::Coming;
    }
    let after: Vec<&JobRun> = runs.iter().filter(|r| r.slot >= slot).collect();
    if after.iter().any(|r| r.ran()) {
        Predecessor::Done
    } else if after.iter().any(|r| r.finished_at.is_none()) {
        Predecessor::Coming
    } else {
        Predecessor::Unclaimed
    }
}

/// Waits until every predecessor of `job` (see [`predecessors`]) has finished its latest slot
/// at or before `slot` — here or on another replica — polling the store each second (see
/// [`predecessor`]). A slot that nobody claimed within [`UNCLAIMED_GRACE`] while nothing of its
/// job was under way is not waited for. `None` when nothing was missing; a note for the journal
/// when `limit` passed or a shutdown began first (the job then runs on what is there).
async fn await_predecessors(
    rt: &Runtime,
    job: &Job,
    slot: DateTime<Utc>,
    clock: Clock,
    stop: &AtomicBool,
    limit: std::time::Duration,
) -> Option<String> {
    let waits: Vec<(&Job, DateTime<Utc>)> = predecessors(job, &rt.jobs)
        .filter_map(|p| p.schedule.last_at_or_before(slot).map(|s| (p, s)))
        .collect();
    if waits.is_empty() {
        return None;
    }
    let started = Instant::now();
    // Since when each predecessor has been seen unclaimed with nothing of it under way.
    let mut idle: Vec<Option<Instant>> = vec![None; waits.len()];
    let mut told = false;
    loop {
        let mut pending = Vec::new();
        for ((p, s), idle) in waits.iter().zip(idle.iter_mut()) {
            let standing = match standing(rt, p, *s, clock.wall()).await {
                Ok(st) => st,
                Err(e) => return Some(format!("could not see whether {} ran: {e}", p.name)),
            };
            let waiting = match standing {
                Predecessor::Done => false,
                Predecessor::Coming => {
                    *idle = None;
                    true
                }
                Predecessor::Unclaimed => {
                    idle.get_or_insert_with(Instant::now).elapsed() < UNCLAIMED_GRACE
                }
            };
            if waiting {
                pending.push(format!("{} of {}", p.name, local(*s)));
            }
        }
        if pending.is_empty() {
            return None;
        }
        if stop.load(std::sync::atomic::Ordering::SeqCst) || started.elapsed() >= limit {
            let what = pending.join(", ");
            tracing::warn!(job = %job.name, "runs without {what}, which has not finished");
            return Some(format!("ran before {what} finished"));
        }
        if !told {
            tracing::info!(job = %job.name, "waits for {} to finish", pending.join(", "));
            told = true;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Where slot `slot` of `job` stands at `wall` (see [`predecessor`]). A slot nobody claimed yet
/// is coming when the job waits for its own predecessors, one of which is coming: a job claims
/// its slot only once it has waited, so the notifications of a slot must see that the
/// evaluation of it still waits for a sync (a replica killed in it, say), not take it for a
/// slot nobody runs.
async fn standing(
    rt: &Runtime,
    job: &Job,
    slot: DateTime<Utc>,
    wall: DateTime<Utc>,
) -> crate::store::StoreResult<Predecessor> {
    let runs = rt.app.store.job_runs(&job.name, slot).await?;
    let st = predecessor(&runs, slot, wall);
    if st != Predecessor::Unclaimed {
        return Ok(st);
    }
    // One level: the syncs, whose slots wait for nothing.
    for p in predecessors(job, &rt.jobs) {
        let Some(s) = p.schedule.last_at_or_before(slot) else {
            continue;
        };
        let runs = rt.app.store.job_runs(&p.name, s).await?;
        if predecessor(&runs, s, wall) == Predecessor::Coming {
            return Ok(Predecessor::Coming);
        }
    }
    Ok(st)
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
fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}
