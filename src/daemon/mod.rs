//! `liandong run`: the daemon (SPEC §7).
//!
//! Jobs — one sync per enabled source on its `schedule`, the evaluation, the notifications, the
//! weekly report and the administrator's alerts — fire on six-field cron expressions in
//! Asia/Shanghai. Each firing is a *slot*; a process runs a slot only after claiming it in the
//! store (`job_runs`), so replicas sharing one PostgreSQL run it once, and the last finished
//! slot tells a restarted daemon what it missed: a job whose latest slot passed while nobody
//! ran it runs once at start-up. The cron arithmetic is ours (`crate::schedule`, on a clock the
//! caller passes) rather than a scheduler crate's, so that `run --as-of` can replay a day and
//! missed slots are computed, not lost.
//!
//! Under systemd (`Type=notify`): READY=1 once the store is open and the endpoints listen,
//! STATUS= with what runs, WATCHDOG=1 only while the store answers and the scheduler loop is
//! alive, RELOADING=1/READY=1 around a SIGHUP reload (a configuration with problems is refused
//! and the old one keeps running), STOPPING=1 on SIGTERM: no new slot starts, the dispatcher
//! stops claiming, jobs under way get `stop_timeout_secs` to finish, and the process exits 0.

mod http;
mod jobs;
mod metrics;
pub mod scheduler;
pub mod systemd;

use std::collections::{BTreeMap, HashSet};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use jobs::{Job, JobKind, jobs};
pub use scheduler::{Runner, Scheduler};

use crate::app::App;
use crate::config::LoadOptions;
use crate::domain::clock::Clock;
use crate::store::Store;

/// The application (configuration, store, clock) and the jobs in force; replaced whole by a
/// reload, while jobs under way keep the one they started with.
pub struct Runtime {
    pub app: App,
    pub jobs: Vec<Job>,
}

/// What the scheduler, the jobs and the endpoints share.
pub struct Shared {
    current: RwLock<Arc<Runtime>>,
    pub clock: Clock,
    /// What runs a slot: the application's jobs.
    runner: Arc<dyn Runner>,
    /// `host:pid:nonce`, in job leases and the outbox audit.
    pub owner: String,
    pub metrics: metrics::Metrics,
    pub notifier: systemd::Notifier,
    /// Set on SIGTERM: no new slot starts, the dispatcher claims no more.
    pub stop: Arc<AtomicBool>,
    /// Wall-clock ms of the scheduler's last wake-up (for /metrics).
    heartbeat: AtomicI64,
    /// The same on the monotonic clock, ms since `started` (for health: immune to clock steps).
    beat_mono: AtomicI64,
    started: std::time::Instant,
    /// Jobs with a slot queued or running in this process.
    busy: Mutex<HashSet<String>>,
    /// Slots claimed and not finished: released if a shutdown cuts them short.
    in_flight: Mutex<BTreeMap<(String, i64), Arc<dyn Store>>>,
    /// The jobs that send run one at a time (each job's slots do anyway: see `busy`).
    message_lane: tokio::sync::Mutex<()>,
    /// `run --once`: the command prints each job's outcome itself, so the journal's line of it
    /// is only a debug line (a terminal shows each job once).
    prints_runs: bool,
}

/// What `/healthz` says.
#[derive(Debug, Serialize)]
pub struct Health {
    pub healthy: bool,
    pub status: &'static str,
    pub store: String,
    pub scheduler: String,
    pub version: &'static str,
    pub jobs_running: Vec<String>,
}

/// The scheduler wakes at least this often (to notice clock jumps and to prove it lives).
const TICK: Duration = Duration::from_secs(15);
/// The scheduler counts as stalled when it has not woken for this long.
const STALLED_AFTER: Duration = Duration::from_secs(120);

impl Shared {
    fn new(rt: Arc<Runtime>, clock: Clock, runner: Arc<dyn Runner>) -> Shared {
        Shared {
            current: RwLock::new(rt),
            clock,
            runner,
            owner: crate::notify::dispatch::owner_name(),
            metrics: metrics::Metrics::default(),
            notifier: systemd::Notifier::from_env(),
            stop: Arc::new(AtomicBool::new(false)),
            heartbeat: AtomicI64::new(clock.wall().timestamp_millis()),
            beat_mono: AtomicI64::new(0),
            started: std::time::Instant::now(),
            busy: Mutex::new(HashSet::new()),
            in_flight: Mutex::new(BTreeMap::new()),
            message_lane: tokio::sync::Mutex::new(()),
            prints_runs: false,
        }
    }

    pub fn runtime(&self) -> Arc<Runtime> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_runtime(&self, rt: Arc<Runtime>) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = rt;
    }

    fn beat(&self) {
        self.heartbeat
            .store(self.clock.wall().timestamp_millis(), Ordering::SeqCst);
        self.beat_mono.store(
            i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX),
            Ordering::SeqCst,
        );
    }

    /// How long since the scheduler loop last woke, on the monotonic clock.
    fn since_beat(&self) -> Duration {
        let at = u64::try_from(self.beat_mono.load(Ordering::SeqCst)).unwrap_or(0);
        self.started
            .elapsed()
            .saturating_sub(Duration::from_millis(at))
    }

    fn last_beat(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.heartbeat.load(Ordering::SeqCst))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Healthy while the store answers within 5 s and the scheduler loop woke recently.
    pub async fn health(&self) -> Health {
        let rt = self.runtime();
        let store = match tokio::time::timeout(Duration::from_secs(5), rt.app.store.ping()).await {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(e)) => crate::mask::mask_text(&format!("error: {e}")),
            Err(_) => "error: no answer within 5 s".to_string(),
        };
        let age = self.since_beat();
        let scheduler = if self.stop.load(Ordering::SeqCst) {
            "stopping".to_string()
        } else if age <= STALLED_AFTER {
            "ok".to_string()
        } else {
            format!("stalled: last woke {} s ago", age.as_secs())
        };
        let healthy = store == "ok" && scheduler == "ok";
        let mut jobs_running: Vec<String> = self
            .busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        jobs_running.sort();
        Health {
            healthy,
            status: if healthy { "ok" } else { "unhealthy" },
            store,
            scheduler,
            version: env!("CARGO_PKG_VERSION"),
            jobs_running,
        }
    }

    pub async fn render_metrics(&self) -> anyhow::Result<String> {
        let rt = self.runtime();
        self.metrics
            .render(
                &rt.app.cfg,
                rt.app.store(),
                self.clock.now(),
                self.clock.wall(),
                self.last_beat(),
            )
            .await
    }
}

fn same_store(a: &crate::config::StoreConfig, b: &crate::config::StoreConfig) -> bool {
    a.url.expose() == b.url.expose()
        && a.password_file == b.password_file
        && a.password_credential == b.password_credential
        && a.max_connections == b.max_connections
        && a.busy_timeout_secs == b.busy_timeout_secs
}

/// `liandong run [--once] [--as-of T]`.
pub async fn run(
    opts: LoadOptions,
    once: bool,
    as_of: Option<DateTime<Utc>>,
) -> anyhow::Result<ExitCode> {
    // A replay starts the daemon's clock at `as_of` and lets it run on.
    let clock = Clock::starting_at(as_of);
    let cfg = match crate::app::preflight::load(&opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    for w in crate::app::preflight::calendar_warnings(&cfg, clock.now())?
        .into_iter()
        .chain(crate::app::preflight::warnings(&cfg))
    {
        tracing::warn!("{w}");
    }
    let listen = cfg.run.listen.clone();
    let jobs = jobs(&cfg)?;
    let rt = Arc::new(Runtime {
        app: App::open(cfg, clock).await?,
        jobs,
    });
    let mut shared = Shared::new(rt, clock, Arc::new(jobs::AppJobs));
    if once {
        shared.prints_runs = true;
        return jobs::once(&Arc::new(shared)).await;
    }
    serve(Arc::new(shared), &opts, &listen).await
}

async fn serve(shared: Arc<Shared>, opts: &LoadOptions, listen: &str) -> anyhow::Result<ExitCode> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);

    if !listen.is_empty() {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen} ([run] listen): {e}"))?;
        tracing::info!("health and metrics on http://{listen}/healthz and /metrics");
        tokio::spawn(crate::web::serve(
            listener,
            http::endpoints(shared.clone()),
            stop_rx.clone(),
        ));
    }
    let web = shared.runtime().app.cfg.web.listen.clone();
    if !web.is_empty() {
        let listener = tokio::net::TcpListener::bind(&web)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {web} ([web] listen): {e}"))?;
        // /metrics beside the console only on a loopback address, as on [run] listen.
        let loopback = web
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback());
        let source = shared.clone();
        let app: crate::web::AppSource = Arc::new(move || source.runtime().app.clone());
        let router = crate::web::router(app, Some(http::routes(shared.clone(), loopback)));
        tracing::info!("web console on http://{web}/");
        tokio::spawn(crate::web::serve(listener, router, stop_rx.clone()));
    }
    if let Some(every) = shared.notifier.watchdog() {
        tokio::spawn(watchdog(shared.clone(), every, stop_rx.clone()));
    }

    let mut scheduler = Scheduler::new(shared.clone());
    let rt = shared.runtime();
    let caught_up = scheduler.catch_up(shared.clock.now()).await;
    let names: Vec<&str> = rt.jobs.iter().map(|j| j.name.as_str()).collect();
    tracing::info!(
        jobs = names.len(),
        catch_up = caught_up,
        owner = %shared.owner,
        "liandong {} running: {}",
        env!("CARGO_PKG_VERSION"),
        names.join(", ")
    );
    shared.notifier.ready(&format!(
        "running {} jobs; {caught_up} started to catch up",
        names.len()
    ));

    let exit = loop {
        shared.beat();
        let now = shared.clock.now();
        scheduler.tick(now).await;
        let wait = scheduler
            .next_firing(now)
            .map(|t| (t - now).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(TICK)
            .min(TICK);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = hup.recv() => reload(&shared, opts).await,
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
        }
    };

    shared.stop.store(true, Ordering::SeqCst);
    let grace = Duration::from_secs(shared.runtime().app.cfg.run.stop_timeout_secs);
    let running = shared
        .busy
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .len();
    tracing::info!(
        "{exit}: stopping; {running} job(s) under way get {} s to finish",
        grace.as_secs()
    );
    shared
        .notifier
        .stopping(&format!("stopping; {running} job(s) finishing"));
    scheduler.finish(grace).await;
    // Slots cut short go back to the store so that the next start or another replica runs them.
    let cut: Vec<((String, i64), Arc<dyn Store>)> = std::mem::take(
        &mut *shared
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_iter()
    .collect();
    for ((job, slot), store) in cut {
        let slot_t = DateTime::from_timestamp_millis(slot).unwrap_or(DateTime::<Utc>::MIN_UTC);
        match store.release_job(&job, slot_t, &shared.owner).await {
            Ok(()) => {
                tracing::warn!(job = %job, "cut short by the shutdown; it runs again at the next start")
            }
            Err(e) => {
                tracing::error!(job = %job, "cut short and its claim could not be released: {e}")
            }
        }
    }
    let _ = stop_tx.send(true);
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP: read and check the configuration again; swap it in only when it has no problem.
async fn reload(shared: &Shared, opts: &LoadOptions) {
    tracing::info!("SIGHUP: reloading the configuration");
    let old = shared.runtime();
    let refused = |why: String| {
        tracing::error!(
            "configuration reload refused, still running on the previous configuration: {why}"
        );
        shared.metrics.reloaded(false);
        shared.notifier.status(&format!(
            "reload refused, running on the previous configuration: {why}"
        ));
    };
    let cfg = match crate::app::preflight::load(opts) {
        Ok(c) => c,
        Err(e) => return refused(format!("{e:#}").replace('\n', " ")),
    };
    let jobs = match jobs(&cfg) {
        Ok(j) => j,
        Err(e) => return refused(format!("{e:#}")),
    };
    shared.notifier.reloading();
    let store = if same_store(&old.app.cfg.store, &cfg.store) {
        old.app.store.clone()
    } else {
        match crate::store::open(&cfg.store).await {
            Ok(s) => Arc::from(s),
            Err(e) => {
                refused(format!("{e:#}"));
                shared
                    .notifier
                    .ready("running on the previous configuration");
                return;
            }
        }
    };
    if cfg.run.listen != old.app.cfg.run.listen {
        tracing::warn!(
            "[run] listen changed to {:?}: it takes effect at the next start",
            cfg.run.listen
        );
    }
    let n = jobs.len();
    let app = App {
        cfg,
        store,
        clock: shared.clock,
    };
    shared.set_runtime(Arc::new(Runtime { app, jobs }));
    shared.metrics.reloaded(true);
    tracing::info!("configuration reloaded: {n} jobs");
    shared
        .notifier
        .ready(&format!("running {n} jobs (configuration reloaded)"));
}

/// Pings systemd's watchdog four times per interval while the scheduler loop lives and the
/// store answers. One slow answer (a pool busy with a long sync, a database restart) does not
/// count: only three failed checks in a row stop the pings, and then systemd restarts the
/// service.
async fn watchdog(
    shared: Arc<Shared>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let period = (every / 4).max(Duration::from_millis(250));
    let mut store_failures = 0u32;
    loop {
        let h = shared.health().await;
        if h.store == "ok" {
            store_failures = 0;
        } else {
            store_failures += 1;
        }
        let scheduler_ok = h.scheduler == "ok" || h.scheduler == "stopping";
        if scheduler_ok && store_failures < 3 {
            shared.notifier.watchdog_ping();
        } else {
            tracing::warn!(
                store = %h.store,
                scheduler = %h.scheduler,
                "unhealthy: not pinging the watchdog"
            );
        }
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            _ = stop.changed() => return,
        }
    }
}
