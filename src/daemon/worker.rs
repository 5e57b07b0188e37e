//! Each slot of `liandong run` executes in a worker process: the daemon's own executable,
//! started as `liandong job …` with the daemon's configuration on its standard input. The
//! daemon keeps what must outlive a job — the schedule, the slot's claim and lease, the lanes,
//! the endpoints, systemd's protocol — and the worker does the job and exits, taking with it
//! the memory a sync of a large file or a report's workbook and chart needed. An idle daemon
//! is small because it never held them (SPEC §7; issue 7's idle-memory target), and a job that
//! crashes its process cannot take the scheduler with it.
//!
//! The protocol: arguments name the job, its slot and the daemon's clock (an offset under
//! `run --as-of`); standard input carries one JSON object, `{"config": TOML, "calendar":
//! [[origin, text], …]}` — the merged configuration and the holiday overlays as the daemon
//! loaded and checked them, so an edited file takes effect only at a reload; standard error is
//! the daemon's (the journal); standard output carries one JSON line, `{"ok": bool, "detail":
//! …}`. The worker exits 0 when the job succeeded and 1 when it failed. SIGTERM asks it to
//! stop claiming messages and finish what it has; a lost lease or the end of the shutdown's
//! grace kills it, and so does the daemon's death (the parent-death signal is SIGKILL: nobody
//! renews the slot's lease any more).

use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{SignalKind, signal};

use super::{Runtime, Shared, jobs};
use crate::config::Config;
use crate::notify::dispatch::Clock;

/// What the daemon writes to a worker's standard input.
#[derive(Debug, Serialize, Deserialize)]
struct Input {
    config: String,
    calendar: Vec<(String, String)>,
}

/// A worker that a signal ended while the daemon was stopping: its slot is released for the
/// next start, not recorded as failed.
#[derive(Debug, thiserror::Error)]
#[error("cut short by the shutdown ({0})")]
pub struct CutShort(String);

/// Set in a worker's environment: the daemon's pid (a worker whose parent is another process
/// has lost its daemon and stops).
const DAEMON_PID: &str = "LIANDONG_DAEMON_PID";

/// The worker's one line on standard output.
#[derive(Debug, Serialize, Deserialize)]
struct Outcome {
    ok: bool,
    detail: String,
}

/// Variables a worker must not inherit: systemd's protocol belongs to the daemon alone.
const NOT_INHERITED: [&str; 4] = [
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_FDS",
];

/// Runs `job`'s `slot` in a worker process and waits for it; `Ok` carries the job's summary.
/// `pid` receives the worker's pid (for the journal). Dropping the future (a lost lease, the
/// end of the shutdown's grace) kills the worker.
pub async fn execute(
    shared: &Shared,
    rt: &Runtime,
    job: &jobs::Job,
    slot: DateTime<Utc>,
    pid: &std::sync::atomic::AtomicU32,
) -> anyhow::Result<String> {
    // The running executable itself, even after an upgrade replaced the file on disk (a new
    // binary under an old daemon could migrate the store beneath it).
    let exe = if std::path::Path::new("/proc/self/exe").exists() {
        std::path::PathBuf::from("/proc/self/exe")
    } else {
        std::env::current_exe()
            .map_err(|e| anyhow::anyhow!("cannot find the executable to start a worker: {e}"))?
    };
    let offset_ms = match shared.clock {
        Clock::Wall => 0,
        Clock::Offset(d) => d.num_milliseconds(),
        Clock::Fixed(t) => (t - Utc::now()).num_milliseconds(),
    };
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("--log")
        .arg(&shared.log_filter)
        .arg("job")
        .arg(&job.name)
        .arg("--slot")
        .arg(slot.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .arg("--clock-offset-ms")
        .arg(offset_ms.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for var in NOT_INHERITED {
        cmd.env_remove(var);
    }
    // `LIANDONG__…` overrides are in the configuration already; a password among them need
    // not be in another process's environment.
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("LIANDONG__") {
            cmd.env_remove(var);
        }
    }
    cmd.env(DAEMON_PID, std::process::id().to_string());
    // The daemon's lean allocator settings (see `lean_allocator_or_reexec`) are for idling;
    // a worker runs flat out and exits, so it gets the defaults back.
    if let Some(added) = std::env::var_os(super::REEXEC_MARK) {
        cmd.env_remove(super::REEXEC_MARK);
        for var in added.to_string_lossy().split(',').filter(|v| !v.is_empty()) {
            cmd.env_remove(var);
        }
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start a worker process: {e}"))?;
    let id = child.id();
    pid.store(id.unwrap_or(0), Ordering::SeqCst);
    let _registered = id.map(|p| Registered::new(shared, p));
    let input = serde_json::to_string(&Input {
        config: rt.cfg.snapshot.text().to_string(),
        calendar: rt.cfg.calendar_overlays.clone(),
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A worker that died before reading its configuration is reported by its exit below.
        let _ = stdin.write_all(input.as_bytes()).await;
        drop(stdin);
    }
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout
            .read_to_string(&mut out)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the worker's result: {e}"))?;
    }
    let status = child
        .wait()
        .await
        .map_err(|e| anyhow::anyhow!("cannot wait for the worker process: {e}"))?;
    let outcome = out
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str::<Outcome>(l).ok());
    if outcome.is_none()
        && std::os::unix::process::ExitStatusExt::signal(&status).is_some()
        && shared.stop.load(Ordering::SeqCst)
    {
        return Err(CutShort(status.to_string()).into());
    }
    match outcome {
        Some(o) if o.ok && status.success() => Ok(o.detail),
        Some(o) if o.ok => Err(anyhow::anyhow!(
            "the worker reported success ({}) but ended with {status}",
            o.detail
        )),
        Some(o) => Err(anyhow::anyhow!("{}", o.detail)),
        None => Err(anyhow::anyhow!(
            "the worker process (pid {}) ended with {status} without a result",
            id.unwrap_or(0)
        )),
    }
}

/// A worker's pid listed while it runs, for the shutdown to pass SIGTERM on.
struct Registered<'a> {
    shared: &'a Shared,
    pid: u32,
}

impl<'a> Registered<'a> {
    fn new(shared: &'a Shared, pid: u32) -> Registered<'a> {
        let mut workers = shared
            .workers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        workers.insert(pid);
        // A worker started while the shutdown passed SIGTERM on missed it: it gets it now
        // (the shutdown sets `stop` before it reads this list, under the same lock).
        if shared.stop.load(Ordering::SeqCst) {
            terminate(pid);
        }
        Registered { shared, pid }
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.shared
            .workers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.pid);
    }
}

/// Passes SIGTERM on to the workers under way (under systemd they get it from the service's
/// stop as well; a second one changes nothing).
pub fn terminate_all(shared: &Shared) {
    let workers = shared
        .workers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for &pid in workers.iter() {
        terminate(pid);
    }
}

fn terminate(pid: u32) {
    use rustix::process::{Pid, Signal, kill_process};
    if let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw)
        && let Err(e) = kill_process(p, Signal::TERM)
    {
        tracing::debug!("cannot pass SIGTERM to worker {pid}: {e}");
    }
}

/// `liandong job NAME --slot T [--clock-offset-ms N]`: the worker's side. Reads the
/// configuration from standard input, runs the job once and prints its outcome.
pub async fn main(name: &str, slot: DateTime<Utc>, clock_offset_ms: i64) -> ExitCode {
    // First of all, so that a stop asked for while the worker starts is not lost: SIGTERM or
    // SIGINT sets the flag (the dispatcher claims no more; what is under way finishes), and
    // the daemon's death ends the worker (its slot's lease is the daemon's; a worker outliving
    // it could run on while another replica takes the slot over).
    let stop = Arc::new(AtomicBool::new(false));
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return finish(Err(anyhow::anyhow!("cannot handle signals in the worker")));
    };
    let flag = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        flag.store(true, Ordering::SeqCst);
    });
    if let Err(e) =
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
    {
        tracing::warn!("cannot ask to be stopped with the daemon: {e}");
    }
    // The daemon may have died before that: then this process has another parent already.
    let daemon = std::env::var(DAEMON_PID)
        .ok()
        .and_then(|p| p.parse::<i32>().ok());
    let parent = rustix::process::getppid().map(|p| p.as_raw_nonzero().get());
    if let Some(d) = daemon
        && parent != Some(d)
    {
        return finish(Err(anyhow::anyhow!(
            "the daemon that started this worker is gone"
        )));
    }
    finish(work(name, slot, clock_offset_ms, stop).await)
}

/// Prints the outcome line; the exit code says the same.
fn finish(result: anyhow::Result<String>) -> ExitCode {
    let outcome = match result {
        Ok(detail) => Outcome { ok: true, detail },
        Err(e) => Outcome {
            ok: false,
            detail: crate::mask::mask_text(&format!("{e:#}")),
        },
    };
    let line = serde_json::to_string(&outcome).unwrap_or_else(|_| {
        r#"{"ok":false,"detail":"the outcome could not be written"}"#.to_string()
    });
    println!("{line}");
    if outcome.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

async fn work(
    name: &str,
    slot: DateTime<Utc>,
    clock_offset_ms: i64,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<String> {
    let mut text = String::new();
    tokio::io::stdin()
        .read_to_string(&mut text)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the configuration from standard input: {e}"))?;
    // Nothing, or anything but the daemon's object, is refused (an empty configuration would
    // be the embedded defaults: another store).
    if text.trim().is_empty() {
        anyhow::bail!("no configuration on standard input");
    }
    let input: Input = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("standard input is not the daemon's configuration: {e}"))?;
    let mut cfg = Config::from_toml_str(&input.config)
        .map_err(|e| anyhow::anyhow!("{}", format!("{e}").trim_end().replace('\n', " ")))?;
    // The holiday overlays as the daemon read them (their files are not read again).
    cfg.calendar_overlays = input.calendar;
    let all = jobs::jobs(&cfg)?;
    let Some(job) = all.into_iter().find(|j| j.name == name) else {
        anyhow::bail!("no job {name} in the configuration");
    };
    let store: Arc<dyn crate::store::Store> = Arc::from(crate::store::open(&cfg.store).await?);
    let clock = if clock_offset_ms == 0 {
        Clock::Wall
    } else {
        Clock::Offset(TimeDelta::milliseconds(clock_offset_ms))
    };
    let rt = Arc::new(Runtime {
        jobs: vec![job.clone()],
        cfg,
        store,
    });
    let mut shared = Shared::new(rt.clone(), clock, String::new());
    shared.stop = stop;
    let now = shared.clock.now();
    let work = std::panic::AssertUnwindSafe(jobs::run_here(&shared, &rt, &job, slot, now));
    match futures_util::FutureExt::catch_unwind(work).await {
        Ok(r) => r,
        Err(panic) => Err(anyhow::anyhow!(
            "the job panicked: {}",
            jobs::panic_text(&panic)
        )),
    }
}
