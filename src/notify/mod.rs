//! Notifications (SPEC §5): reminders before a deadline, the overdue notice, escalation and
//! repeats, gathered into one digest per recipient and run, queued in the store's outbox and
//! dispatched by email, SMS and group robots — once.
//!
//! * [`policy`] says which stage of an item is due for whom on a day (pure);
//! * [`plan`] turns open findings and unmet obligations into digests;
//! * [`queue`] writes the digests whose notices were never queued, in one transaction, with
//!   their dedupe keys (a second process or a rerun queues nothing twice);
//! * [`dispatch`] claims messages under a lease, sends them, and records how each attempt ended;
//! * [`email`], [`sms`] and [`robot`] are the channels, [`templates`] the Chinese texts.

pub mod dispatch;
pub mod email;
pub mod pass;
pub mod plan;
pub mod policy;
pub mod robot;
pub mod sms;
pub mod smtp;
pub mod templates;

use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;

use crate::config::Config;
use crate::domain::calendar::Calendar;
use crate::obligations::sampling::Quarter;
use crate::obligations::status::obligations;
use std::collections::HashSet;

use crate::store::outbox::{NewMessage, Planner};
use crate::store::{FindingFilter, Store, StoredFinding};
use templates::Templates;

/// A provider accepted a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id for it, when it gives one.
    pub provider_id: Option<String>,
}

/// Why a send failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A timeout, a refused connection, a 5xx or 4xx SMTP reply, a provider's flow control.
    #[error("{0}")]
    Transient(String),
    /// A bad address, a rejected signature or template, a 5xx SMTP reply: trying again will
    /// not help.
    #[error("{0}")]
    Permanent(String),
    /// The provider's daily limit for the number is reached: try again the next working day.
    #[error("{0}")]
    DailyLimit(String),
}

impl SendError {
    /// The same error with the channel's secrets blanked out of its text.
    #[must_use]
    pub fn redacted(self, secrets: &crate::config::Redactor) -> SendError {
        match self {
            SendError::Transient(e) => SendError::Transient(secrets.redact(&e)),
            SendError::Permanent(e) => SendError::Permanent(secrets.redact(&e)),
            SendError::DailyLimit(e) => SendError::DailyLimit(secrets.redact(&e)),
        }
    }
}

/// Plans the notices due at `now`: the open findings come from whoever calls it (the store,
/// or an evaluation's own transaction); the unmet obligations are looked up once, up front.
pub struct NoticePlanner<'a> {
    cfg: &'a Config,
    calendar: &'a Calendar,
    templates: &'a Templates,
    obligations: Vec<plan::Item>,
    recipients: plan::Recipients,
    now: DateTime<Utc>,
}

impl<'a> NoticePlanner<'a> {
    pub async fn prepare(
        store: &dyn Store,
        cfg: &'a Config,
        calendar: &'a Calendar,
        templates: &'a Templates,
        now: DateTime<Utc>,
    ) -> anyhow::Result<NoticePlanner<'a>> {
        let today = now.with_timezone(&Shanghai).date_naive();
        let current = obligations(store, &cfg.obligations, &cfg.units, today).await?;
        // A quarter that ended in the last month, and last year in January, for the notices of
        // what was missed.
        let ended = Quarter::of(today).first_day().pred_opt().unwrap_or(today);
        let ended_quarter = if (today - ended).num_days() <= 31 {
            Some(obligations(store, &cfg.obligations, &cfg.units, ended).await?)
        } else {
            None
        };
        let ended_year = if today.month() == 1 {
            let dec31 = NaiveDate::from_ymd_opt(today.year() - 1, 12, 31).unwrap_or(today);
            Some(obligations(store, &cfg.obligations, &cfg.units, dec31).await?)
        } else {
            None
        };
        Ok(NoticePlanner {
            cfg,
            calendar,
            templates,
            obligations: plan::obligation_items(
                &current,
                ended_quarter.as_ref(),
                ended_year.as_ref(),
                cfg,
            ),
            recipients: plan::Recipients::new(cfg),
            now,
        })
    }

    fn items(&self, open: &[StoredFinding]) -> Vec<plan::Item> {
        let mut items = plan::finding_items(open, self.cfg.notify.repeat_violations);
        items.extend(self.obligations.iter().cloned());
        items
    }

    fn today(&self) -> NaiveDate {
        self.now.with_timezone(&Shanghai).date_naive()
    }
}

impl Planner for NoticePlanner<'_> {
    fn due(&self, open: &[StoredFinding]) -> Vec<String> {
        let items = self.items(open);
        plan::due(self.cfg, &items, &self.recipients, self.today())
            .into_iter()
            .map(|d| d.key)
            .collect()
    }

    fn messages(
        &self,
        open: &[StoredFinding],
        queued: &HashSet<String>,
    ) -> Result<Vec<NewMessage>, String> {
        let items = self.items(open);
        let fresh: Vec<plan::Due<'_>> = plan::due(self.cfg, &items, &self.recipients, self.today())
            .into_iter()
            .filter(|d| !queued.contains(&d.key))
            .collect();
        plan::messages(self.cfg, self.calendar, self.templates, &fresh, self.now)
            .map_err(|e| e.to_string())
    }
}

/// What is due on `now`'s day and not queued before: the digests to queue.
pub async fn planned(
    store: &dyn Store,
    cfg: &Config,
    calendar: &Calendar,
    templates: &Templates,
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<NewMessage>, PlanCounts)> {
    let planner = NoticePlanner::prepare(store, cfg, calendar, templates, now).await?;
    let open = store.findings(&FindingFilter::default()).await?;
    // The items carry all the notices say: the findings are let go before the digests are
    // written (a province has two hundred thousand open at once).
    let looked_at = open.len() + planner.obligations.len();
    let items = planner.items(&open);
    drop(open);
    let due = plan::due(cfg, &items, &planner.recipients, planner.today());
    let keys: Vec<String> = due.iter().map(|d| d.key.clone()).collect();
    let queued = store.queued_notices(&keys).await?;
    drop(keys);
    let counts = PlanCounts {
        items: looked_at,
        due: due.len(),
        queued_before: queued.len(),
    };
    let fresh: Vec<plan::Due<'_>> = due
        .into_iter()
        .filter(|d| !queued.contains(&d.key))
        .collect();
    drop(queued);
    let messages = plan::messages(cfg, calendar, templates, &fresh, now)?;
    Ok((messages, counts))
}

/// How planning went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanCounts {
    /// Open findings and unmet obligations looked at.
    pub items: usize,
    /// Notices due today (item, stage, recipient, channel).
    pub due: usize,
    /// Of those, queued by an earlier run.
    pub queued_before: usize,
}

/// Queues what is due; returns the messages queued and the plan's counts. Another process
/// queueing at the same time makes this plan again, so nothing is queued twice.
pub async fn queue(
    store: &dyn Store,
    cfg: &Config,
    calendar: &Calendar,
    templates: &Templates,
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<NewMessage>, PlanCounts)> {
    for _ in 0..5 {
        let (messages, counts) = planned(store, cfg, calendar, templates, now).await?;
        let done = store.enqueue(&messages, now).await?;
        if !done.raced {
            return Ok((messages, counts));
        }
        tracing::info!("another process queued some of the same notices first; planning again");
    }
    anyhow::bail!("another process kept queueing the same notices; try again")
}
