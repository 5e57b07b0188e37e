//! One notification pass: queue what is due, cancel what closed, send the outbox. The daemon's
//! notify job and the `notify` command are this (through `crate::app::jobs`).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::dispatch::{Clock, DispatchReport, Dispatcher};
use super::templates::Templates;
use crate::config::Config;
use crate::store::Store;

pub(crate) fn templates(cfg: &Config) -> anyhow::Result<Arc<Templates>> {
    Ok(Arc::new(Templates::load(
        cfg.notify.templates_dir.as_deref(),
    )?))
}

/// What `liandong notify` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    QueueAndSend,
    /// Print who would get what; change nothing.
    DryRun,
    QueueOnly,
    SendOnly,
}

/// What one notification pass did.
#[derive(Debug, Clone, Copy, Default)]
pub struct PassSummary {
    /// Messages queued by this pass.
    pub queued: usize,
    /// Notices due, and how many of them were queued before.
    pub due: usize,
    pub queued_before: usize,
    /// Queued messages cancelled because what they were about closed.
    pub cancelled: u64,
    pub dispatch: DispatchReport,
}

/// One pass: queue what is due at the clock's time (unless `mode` is send-only), cancel what
/// closed, and send the outbox (unless queue-only). The daemon's notify job is this; `stop`
/// ends the sending early on shutdown.
pub async fn pass(
    cfg: &Config,
    store: &dyn Store,
    clock: Clock,
    mode: Mode,
    stop: Option<Arc<AtomicBool>>,
) -> anyhow::Result<PassSummary> {
    let now = clock.now();
    let calendar = cfg.calendar()?;
    let templates = templates(cfg)?;
    let (messages, counts) = if mode == Mode::SendOnly {
        (Vec::new(), super::PlanCounts::default())
    } else {
        super::queue(store, cfg, &calendar, &templates, now).await?
    };
    let cancelled = store.cancel_closed(now).await?;
    let mut summary = PassSummary {
        queued: messages.len(),
        due: counts.due,
        queued_before: counts.queued_before,
        cancelled,
        dispatch: DispatchReport::default(),
    };
    if mode == Mode::QueueOnly || mode == Mode::DryRun {
        return Ok(summary);
    }
    if mode != Mode::SendOnly {
        tracing::info!(
            items = counts.items,
            due = counts.due,
            queued_before = counts.queued_before,
            queued = messages.len(),
            cancelled,
            "notifications planned"
        );
    }
    let mut dispatcher = Dispatcher::new(cfg, calendar, templates)?;
    if let Some(flag) = stop {
        dispatcher = dispatcher.stop_when(flag);
    }
    summary.dispatch = dispatcher.run(store, clock).await?;
    Ok(summary)
}
