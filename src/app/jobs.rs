//! The jobs: each an `async fn` over an [`App`] that does one whole piece of work and returns
//! what it did. The daemon runs them on their schedules (one slot at a time, under a lease),
//! `liandong run --once` one after the other, and the commands of the same names one each.
//! A job that fails returns an error; what it managed before that is in the store.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use chrono::{DateTime, TimeDelta};

use super::App;
use crate::notify::pass::{Mode, PassSummary};
use crate::notify::templates::Templates;

/// One pass over the sources (`only`: one source, enabled or not); each source's outcome.
/// `progress` draws progress bars on a terminal.
pub async fn sync(
    app: &App,
    only: Option<&str>,
    progress: bool,
) -> Vec<crate::sync::SourceOutcome> {
    crate::sync::sync(&app.cfg, app.store(), only, app.clock, progress).await
}

/// One source's sync as a job: an error when the source failed.
pub async fn sync_source(app: &App, name: &str) -> anyhow::Result<String> {
    let Some(o) = sync(app, Some(name), false).await.into_iter().next() else {
        anyhow::bail!("source {name} is not configured");
    };
    if let Some(why) = o.skipped {
        return Ok(format!("not read: {why}"));
    }
    let c = o.counts;
    let mut counts = format!(
        "{} seen, {} inserted, {} updated, {} unchanged, {} quarantined",
        c.seen, c.inserted, c.updated, c.unchanged, c.quarantined
    );
    if c.repeated > 0 {
        counts.push_str(&format!(
            "; {} row{} listed a case again with different values (the later row is kept; see `liandong status`)",
            c.repeated,
            if c.repeated == 1 { "" } else { "s" }
        ));
    }
    match o.error {
        None => Ok(counts),
        Some(e) => Err(anyhow::anyhow!("{e} ({counts})")),
    }
}

/// Evaluates the rules at the clock's time (incrementally unless `full`); with
/// `queue_notices`, the notices now due are queued in the same transaction as the findings.
pub async fn evaluate(
    app: &App,
    full: bool,
    queue_notices: bool,
) -> anyhow::Result<crate::evaluate::Report> {
    let (cfg, store, now) = (&app.cfg, app.store(), app.now());
    if !queue_notices {
        return crate::evaluate::evaluate(cfg, store, now, full, None).await;
    }
    let calendar = cfg.calendar()?;
    let templates = Templates::load(cfg.notify.templates_dir.as_deref())?;
    let planner =
        crate::notify::NoticePlanner::prepare(store, cfg, &calendar, &templates, now).await?;
    crate::evaluate::evaluate(cfg, store, now, full, Some(&planner)).await
}

/// One line of what an evaluation did.
pub fn evaluation_summary(r: &crate::evaluate::Report) -> String {
    let c = &r.changes;
    format!(
        "{} pass over {} cases: {} new, {} changed, {} no longer apply, {} state changes",
        r.mode.as_str(),
        r.subjects,
        c.inserted,
        c.updated,
        c.gone,
        c.transitions
    )
}

/// Queues the reminders, notices and escalations due (unless `mode` says otherwise) and sends
/// the outbox; `stop` ends the sending early (a shutdown).
pub async fn notify(
    app: &App,
    mode: Mode,
    stop: Option<Arc<AtomicBool>>,
) -> anyhow::Result<PassSummary> {
    crate::notify::pass::pass(&app.cfg, app.store(), app.clock, mode, stop).await
}

/// The notify job: an error when a message died.
pub async fn notify_job(app: &App, stop: Option<Arc<AtomicBool>>) -> anyhow::Result<String> {
    let s = notify(app, Mode::QueueAndSend, stop).await?;
    let d = s.dispatch;
    let text = format!(
        "{} queued ({} notices due), {} cancelled; sent {}, retrying {}, dead {}, waiting {}",
        s.queued, s.due, s.cancelled, d.sent, d.retrying, d.dead, d.deferred
    );
    if d.dead > 0 {
        Err(anyhow::anyhow!("{text}"))
    } else {
        Ok(text)
    }
}

/// What the weekly report job did.
#[derive(Debug, Clone)]
pub struct WeeklySent {
    pub week: String,
    /// Recipients it was queued for now, of all its recipients (the others had it already).
    pub queued: usize,
    pub recipients: usize,
    pub sent: u64,
    pub retrying: u64,
    pub dead: u64,
}

impl fmt::Display for WeeklySent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "weekly report {}: queued for {} of {} recipients ({} had it already); sent {}, retrying {}",
            self.week,
            self.queued,
            self.recipients,
            self.recipients - self.queued,
            self.sent,
            self.retrying
        )
    }
}

/// The weekly report of the week at `at` (a daemon's slot, or the clock's time), queued once per
/// week and recipient, and the outbox sent.
pub async fn weekly_report(
    app: &App,
    at: DateTime<chrono::Utc>,
    stop: Option<Arc<AtomicBool>>,
) -> anyhow::Result<WeeklySent> {
    let report = crate::report::weekly(app.store(), &app.cfg, at).await?;
    let templates = Templates::load(app.cfg.notify.templates_dir.as_deref())?;
    send_weekly(app, &report, &templates, at, stop).await
}

/// Queues an already computed weekly report for its recipients and sends the outbox.
pub async fn send_weekly(
    app: &App,
    report: &crate::report::Weekly,
    templates: &Templates,
    at: DateTime<chrono::Utc>,
    stop: Option<Arc<AtomicBool>>,
) -> anyhow::Result<WeeklySent> {
    let (queued, recipients) =
        crate::report::deliver::queue_weekly(&app.cfg, app.store(), report, templates, at).await?;
    let s = notify(app, Mode::SendOnly, stop).await?;
    Ok(WeeklySent {
        week: report.week.clone(),
        queued,
        recipients,
        sent: s.dispatch.sent,
        retrying: s.dispatch.retrying,
        dead: s.dispatch.dead,
    })
}

/// The administrator's alerts due now, queued once per episode and sent; old job runs pruned.
pub async fn alerts(app: &App, stop: Option<Arc<AtomicBool>>) -> anyhow::Result<String> {
    let (cfg, store, now) = (&app.cfg, app.store(), app.now());
    let templates = Templates::load(cfg.notify.templates_dir.as_deref())?;
    let (alerts, queued) = super::alerts::queue(cfg, store, &templates, now).await?;
    for a in &alerts {
        tracing::warn!("alert: {}", a.summary);
    }
    if !alerts.is_empty() && cfg.notify.admin_emails.is_empty() {
        tracing::error!(
            "{} alert(s) and no notify.admin_emails configured to tell",
            alerts.len()
        );
    }
    let mut sent = 0;
    if queued > 0 {
        sent = notify(app, Mode::SendOnly, stop).await?.dispatch.sent;
    }
    let keep = TimeDelta::days(i64::from(cfg.run.keep_runs_days.max(1)));
    let pruned = store.prune_job_runs(now - keep).await?;
    Ok(format!(
        "{} alert(s) due, {queued} message(s) queued, {sent} sent; {pruned} old job runs pruned",
        alerts.len()
    ))
}
