//! The daemon's jobs: what each is, when it fires, and what it runs — the application's jobs
//! (`crate::app::jobs`) behind the scheduler's [`Runner`] seam.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use chrono::{DateTime, Utc};
use chrono_tz::Asia::Shanghai;

use super::Shared;
use super::scheduler::{Ran, Runner, run_slot};
use crate::app::{self, App};
use crate::config::Config;
use crate::schedule::Schedule;
use crate::store::ops::JobOutcome;

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
    /// The jobs that send run one at a time (with the report).
    pub(super) fn sends(&self) -> bool {
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

pub(super) fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A slot as one word for the journal's fields: `2025-10-13T09:00:00` (Asia/Shanghai).
pub(super) fn slot_id(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// The application's jobs, as the daemon runs them.
pub struct AppJobs;

#[async_trait::async_trait]
impl Runner for AppJobs {
    /// The application's job of `job`'s kind. `Err` is a failed run (its slot is finished all
    /// the same: the next slot tries again).
    async fn run(
        &self,
        app: &App,
        job: &Job,
        slot: DateTime<Utc>,
        stop: Arc<AtomicBool>,
    ) -> anyhow::Result<String> {
        let stop = Some(stop);
        match &job.kind {
            JobKind::Sync(name) => app::jobs::sync_source(app, name).await,
            JobKind::Evaluate => {
                let r = app::jobs::evaluate(app, false, false).await?;
                Ok(app::jobs::evaluation_summary(&r))
            }
            JobKind::Notify => app::jobs::notify_job(app, stop).await,
            // The report of the slot's week, as of the slot (a slot caught up late still
            // reports its own week; the next slot sends the next one).
            JobKind::Report => Ok(app::jobs::weekly_report(app, slot.min(app.now()), stop)
                .await?
                .to_string()),
            JobKind::Alerts => app::jobs::alerts(app, stop).await,
        }
    }
}

/// `run --once`: every source, the evaluation, the notifications, the weekly report when its
/// latest slot has not run, and the alerts — one after the other — then exit (1 if any failed).
pub async fn once(shared: &Arc<Shared>) -> anyhow::Result<ExitCode> {
    let rt = shared.runtime();
    let now = shared.clock.now();
    let states = rt.app.store.job_states(shared.clock.wall()).await?;
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
        match run_slot(shared, &rt, job, slot, None).await {
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
    match summary(&rt.app, now).await {
        Ok(text) => print!("\n{text}"),
        Err(e) => tracing::warn!("cannot sum the cycle up: {e:#}"),
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// What a cycle of `run --once` leaves, for the person who ran it: the open and overdue findings
/// as of `now`, the units that lag by the weekly report's rule, and where the e-mails are.
async fn summary(app: &App, now: DateTime<Utc>) -> anyhow::Result<String> {
    use std::fmt::Write as _;
    let store = app.store();
    let due_soon = crate::domain::rule::due_soon_window(app.cfg.rules.due_soon_days);
    let states: Vec<crate::domain::rule::State> = store
        .findings(&crate::store::FindingFilter {
            closed_after: Some(now),
            ..Default::default()
        })
        .await?
        .iter()
        .filter_map(|f| f.state_at(now, due_soon))
        .filter(|s| s.is_open())
        .collect();
    let overdue = states
        .iter()
        .filter(|s| **s == crate::domain::rule::State::Overdue)
        .count();
    let report = crate::report::weekly(store, &app.cfg, now).await?;
    let mut out = String::new();
    writeln!(
        out,
        "As of {}: {} open findings, {overdue} overdue (`liandong findings` lists them).",
        local(now),
        states.len()
    )?;
    let lagging: Vec<String> = report
        .units
        .iter()
        .filter(|u| u.lagging)
        .map(|u| format!("{} ({})", u.unit, u.reasons.join("；")))
        .collect();
    if lagging.is_empty() {
        writeln!(out, "No unit lags.")?;
    } else {
        writeln!(out, "{} units lag: {}.", lagging.len(), lagging.join(", "))?;
    }
    let email = &app.cfg.notify.email;
    if email.transport == crate::config::EmailTransport::File {
        let files = std::fs::read_dir(&email.dir).map_or(0, |d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        });
        writeln!(
            out,
            "The e-mails (reminders, the weekly report) are in {} ({files} .eml files); `liandong outbox` lists every message.",
            email.dir.display()
        )?;
    } else {
        writeln!(
            out,
            "`liandong outbox` lists every message and its delivery."
        )?;
    }
    Ok(out)
}
