//! The dispatcher: claims due messages under a lease, sends them through their channel, and
//! records how each attempt ended — sent, retry later with exponential backoff and jitter, or
//! dead (a permanent error or the last try), which the administrator is told about.
//!
//! Delivery is at least once with one known window: a process that dies after the provider
//! accepted a message and before the `sent` state commits (one local write, milliseconds)
//! leaves the message `sending`; when its lease runs out another run sends it again. E-mails
//! carry the same Message-ID on every attempt and SMS the same OutId / SessionContext, so such a
//! duplicate is recognisable. A crash before the send loses nothing: the lease runs out and the
//! message is claimed again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone as _, Utc};
use chrono_tz::Asia::Shanghai;
use sha2::{Digest as _, Sha256};

use super::email::Email;
use super::policy::sms_window;
use super::robot::Robot;
use super::sms::Sms;
use super::templates::Templates;
use super::{SendError, Sent};
use crate::config::{Config, NotifyConfig, Redactor, RobotKind};
use crate::domain::calendar::Calendar;
pub use crate::domain::clock::Clock;
use crate::store::Store;
use crate::store::outbox::{Completion, NewMessage, OutboxMessage};

/// What one dispatch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    pub sent: u64,
    /// Failed, to be retried later.
    pub retrying: u64,
    pub dead: u64,
    /// Not attempted: outside the SMS window or over a daily limit.
    pub deferred: u64,
    /// Completed by another process after this one's lease ran out.
    pub lost_lease: u64,
}

impl DispatchReport {
    pub fn failed(&self) -> bool {
        self.retrying > 0 || self.dead > 0
    }
}

/// Spaces the requests to one provider.
struct Pace {
    interval: Duration,
    next: tokio::sync::Mutex<Instant>,
}

impl Pace {
    fn new(per_second: f64) -> Pace {
        Pace {
            interval: Duration::from_secs_f64(1.0 / per_second.max(0.001)),
            next: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let at = (*next).max(Instant::now());
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

pub struct Dispatcher {
    cfg: NotifyConfig,
    calendar: Calendar,
    templates: Arc<Templates>,
    owner: String,
    email: Email,
    sms: Option<Sms>,
    robots: HashMap<String, (Robot, Pace)>,
    sms_pace: Pace,
    /// Set when the process is asked to stop: workers finish the message in hand and claim
    /// no more.
    stop: Option<Arc<AtomicBool>>,
}

/// `host:pid`, naming the process in leases and the audit.
pub fn owner_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    // Cloned machines may share a host name and a pid: a random part keeps owners apart.
    let nonce = crate::random::bytes::<3>();
    format!("{host}:{}:{}", std::process::id(), hex::encode(nonce))
}

impl Dispatcher {
    pub fn new(
        cfg: &Config,
        calendar: Calendar,
        templates: Arc<Templates>,
    ) -> anyhow::Result<Dispatcher> {
        let n = &cfg.notify;
        let robots = n
            .robots
            .iter()
            .map(|r| {
                // WeCom and DingTalk robots take 20 messages a minute.
                let per_minute = match r.kind {
                    RobotKind::Wecom | RobotKind::Dingtalk => 20.0,
                };
                Ok((
                    r.name.clone(),
                    (Robot::new(r)?, Pace::new(per_minute / 60.0)),
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Dispatcher {
            cfg: n.clone(),
            calendar,
            templates,
            owner: owner_name(),
            email: Email::new(&n.email)?,
            sms: n.sms.as_ref().map(Sms::new).transpose()?,
            robots,
            sms_pace: Pace::new(f64::from(n.sms.as_ref().map_or(10, |s| s.rate_per_second))),
            stop: None,
        })
    }

    /// Stops claiming messages once `flag` is set (the daemon's SIGTERM).
    #[must_use]
    pub fn stop_when(mut self, flag: Arc<AtomicBool>) -> Dispatcher {
        self.stop = Some(flag);
        self
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Sends every message due until none is left: `concurrency` workers, each claiming one
    /// message at a time, so that no claimed message waits behind others while its lease runs.
    pub async fn run(&self, store: &dyn Store, clock: Clock) -> anyhow::Result<DispatchReport> {
        let report = std::sync::Mutex::new(DispatchReport::default());
        let lease = TimeDelta::seconds(i64::try_from(self.cfg.lease_secs).unwrap_or(300));
        let worker = || async {
            loop {
                if self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
                    return anyhow::Ok(());
                }
                let claimed = store
                    .claim_messages(&self.owner, clock.now(), clock.wall(), lease, 1)
                    .await?;
                let Some(m) = claimed.into_iter().next() else {
                    return anyhow::Ok(());
                };
                let outcome = self.attempt(store, m, clock).await?;
                let mut r = report
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match outcome {
                    Some(Completion::Sent { .. }) => r.sent += 1,
                    Some(Completion::Retry { .. }) => r.retrying += 1,
                    Some(Completion::Dead { .. }) => r.dead += 1,
                    Some(Completion::Defer { .. }) => r.deferred += 1,
                    None => r.lost_lease += 1,
                }
            }
        };
        let workers: Vec<_> = (0..self.cfg.concurrency.max(1)).map(|_| worker()).collect();
        futures_util::future::try_join_all(workers).await?;
        Ok(report
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn backoff(&self, m: &OutboxMessage) -> TimeDelta {
        let exp = u32::try_from(m.attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        let secs = self
            .cfg
            .retry_base_secs
            .saturating_mul(1u64 << exp)
            .min(self.cfg.retry_max_secs.max(1));
        // Up to 20 % less, the same for the same message and attempt.
        let h = Sha256::digest(format!("{}:{}", m.id, m.attempts));
        let jitter = f64::from(h[0]) / 255.0 * 0.2;
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_precision_loss,
            clippy::cast_sign_loss
        )]
        let ms = (secs as f64 * 1000.0 * (1.0 - jitter)) as i64;
        TimeDelta::milliseconds(ms.max(1))
    }

    async fn attempt(
        &self,
        store: &dyn Store,
        m: OutboxMessage,
        clock: Clock,
    ) -> anyhow::Result<Option<Completion>> {
        // The policy's time (`--as-of` or the wall clock) decides windows and retries; what the
        // providers see (signatures' timestamps) and the audit's times are the wall clock.
        let now = clock.now();
        let started = clock.wall();
        let completion = match self.precheck(store, &m, clock).await? {
            Some(defer) => defer,
            None => {
                // The one place a send's error becomes `last_error`, a log line and the
                // administrator's alert: the channel's secrets are blanked out of it here (the
                // channels return redacted texts already; this holds for any text added on the
                // way), then ID and phone numbers masked.
                let secrets = self.secrets(&m);
                let result = self.send(&m, clock.wall()).await;
                let mask = |e: String| crate::mask::mask_text(&secrets.redact(&e));
                match result {
                    Ok(Sent { provider_id }) => Completion::Sent { provider_id },
                    Err(SendError::Transient(e))
                        if m.attempts < i64::from(self.cfg.max_attempts) =>
                    {
                        let mut at = now + self.backoff(&m);
                        if m.channel == "sms" {
                            at = sms_window(&self.calendar, self.sms_hours(), at);
                        }
                        Completion::Retry { at, error: mask(e) }
                    }
                    Err(SendError::Transient(e)) => Completion::Dead {
                        error: mask(format!("{e} (gave up after {} attempts)", m.attempts)),
                    },
                    Err(SendError::Permanent(e)) => Completion::Dead { error: mask(e) },
                    Err(SendError::DailyLimit(e)) => Completion::Defer {
                        at: sms_window(&self.calendar, self.sms_hours(), next_midnight(now)),
                        reason: mask(e),
                    },
                }
            }
        };
        let to = display_address(&m.channel, &m.address);
        match &completion {
            Completion::Sent { provider_id } => tracing::info!(
                id = m.id, channel = %m.channel, to = %to, attempt = m.attempts,
                provider_id = provider_id.as_deref().unwrap_or(""), "sent"
            ),
            Completion::Retry { at, error } => tracing::warn!(
                id = m.id, channel = %m.channel, to = %to, attempt = m.attempts,
                next = %at.with_timezone(&Shanghai).format("%F %T"), "send failed, will retry: {error}"
            ),
            Completion::Dead { error } => tracing::error!(
                id = m.id, channel = %m.channel, to = %to, attempt = m.attempts, "message dead: {error}"
            ),
            Completion::Defer { at, reason } => tracing::info!(
                id = m.id, channel = %m.channel, to = %to,
                until = %at.with_timezone(&Shanghai).format("%F %T"), "deferred: {reason}"
            ),
        }
        // The provider has the message: recording it must not be lost to a busy store (a
        // message left "sending" goes again when its lease runs out).
        let mut tries = 0;
        let recorded = loop {
            match store
                .complete_message(&m, &self.owner, started, &completion, clock.wall())
                .await
            {
                Ok(r) => break r,
                Err(e) if tries < 5 => {
                    tries += 1;
                    tracing::warn!(id = m.id, "recording the attempt failed, trying again: {e}");
                    tokio::time::sleep(Duration::from_secs(1 << tries)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        if !recorded {
            tracing::warn!(
                id = m.id,
                "the lease ran out before the attempt was recorded; another process took the message over"
            );
            return Ok(None);
        }
        if let Completion::Dead { error } = &completion {
            self.alert(store, &m, error, now).await?;
        }
        Ok(Some(completion))
    }

    fn sms_hours(&self) -> (u32, u32) {
        crate::config::parse_hours(&self.cfg.sms_hours).unwrap_or((510, 1080))
    }

    /// An SMS outside its window or over the daily limit of its number waits.
    async fn precheck(
        &self,
        store: &dyn Store,
        m: &OutboxMessage,
        clock: Clock,
    ) -> anyhow::Result<Option<Completion>> {
        let now = clock.now();
        if m.channel != "sms" {
            return Ok(None);
        }
        let window = sms_window(&self.calendar, self.sms_hours(), now);
        if window > now {
            return Ok(Some(Completion::Defer {
                at: window,
                reason: "SMS waits for working hours".into(),
            }));
        }
        if let Some(limit) = self.cfg.sms.as_ref().and_then(|s| s.daily_limit()) {
            // The providers count real days.
            let wall = clock.wall();
            let sent = store
                .sent_since("sms", &m.address, this_midnight(wall))
                .await?;
            if sent >= i64::from(limit) {
                return Ok(Some(Completion::Defer {
                    at: sms_window(
                        &self.calendar,
                        self.sms_hours(),
                        next_midnight(now.max(wall)),
                    ),
                    reason: format!("{limit} SMS a day to one number reached"),
                }));
            }
        }
        Ok(None)
    }
    /// The secrets of the channel that carries `m`.
    fn secrets(&self, m: &OutboxMessage) -> Redactor {
        match m.channel.as_str() {
            "email" => self.email.secrets().clone(),
            "sms" => self
                .sms
                .as_ref()
                .map(|s| s.secrets().clone())
                .unwrap_or_default(),
            "robot" => self
                .robots
                .get(&m.address)
                .map(|(r, _)| r.secrets().clone())
                .unwrap_or_default(),
            _ => Redactor::new(),
        }
    }

    async fn send(&self, m: &OutboxMessage, now: DateTime<Utc>) -> Result<Sent, SendError> {
        match m.channel.as_str() {
            "email" => {
                let name = m.recipient.split('（').next().unwrap_or(&m.recipient);
                self.email
                    .send(&super::email::Mail {
                        id: m.id,
                        key: &m.dedupe_key,
                        to_name: name,
                        to: &m.address,
                        subject: &m.subject,
                        text: &m.body,
                        html: m.payload.as_deref(),
                    })
                    .await
            }
            "sms" => {
                let Some(sms) = &self.sms else {
                    return Err(SendError::Permanent(
                        "no [notify.sms] provider is configured".into(),
                    ));
                };
                self.sms_pace.wait().await;
                let params: serde_json::Value = m
                    .payload
                    .as_deref()
                    .and_then(|p| serde_json::from_str(p).ok())
                    .unwrap_or_default();
                sms.send(m.id, &m.address, &m.body, &params, now).await
            }
            "robot" => {
                let Some((robot, pace)) = self.robots.get(&m.address) else {
                    return Err(SendError::Permanent(format!(
                        "no robot named {:?} in [[notify.robots]]",
                        m.address
                    )));
                };
                pace.wait().await;
                robot.send(&m.subject, &m.body, now).await
            }
            other => Err(SendError::Permanent(format!("unknown channel {other:?}"))),
        }
    }

    /// Tells the administrator about a dead message, through the outbox like any message.
    async fn alert(
        &self,
        store: &dyn Store,
        m: &OutboxMessage,
        error: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        if m.kind == "alert" {
            tracing::error!(
                id = m.id,
                "an alert to the administrator could not be delivered: {error}"
            );
            return Ok(());
        }
        if self.cfg.admin_emails.is_empty() {
            tracing::error!(
                id = m.id,
                "message dead and no notify.admin_emails configured to tell; see `liandong outbox --state dead`"
            );
            return Ok(());
        }
        let ctx = serde_json::json!({
            "id": m.id,
            "channel": m.channel,
            "recipient": m.recipient,
            "address": display_address(&m.channel, &m.address),
            "subject": m.subject,
            "error": error,
            "attempts": m.attempts,
            "created_at": m.created_at.with_timezone(&Shanghai).format("%Y-%m-%d %H:%M:%S").to_string(),
        });
        let subject = self.templates.render("alert_subject.txt", &ctx)?;
        let body = self.templates.render("alert.txt", &ctx)?;
        let messages: Vec<NewMessage> = self
            .cfg
            .admin_emails
            .iter()
            .map(|a| NewMessage {
                dedupe_key: format!("alert:dead:{}:{a}", m.id),
                channel: "email".into(),
                address: a
                    .parse::<lettre::message::Mailbox>()
                    .map_or_else(|_| a.clone(), |mb| mb.email.to_string()),
                recipient: "系统管理员".into(),
                unit_id: None,
                kind: "alert".into(),
                subject: subject.clone(),
                body: body.clone(),
                payload: None,
                not_before: now,
                notices: Vec::new(),
            })
            .collect();
        store.enqueue(&messages, now).await?;
        Ok(())
    }
}

/// The start of `t`'s day, Asia/Shanghai.
fn this_midnight(t: DateTime<Utc>) -> DateTime<Utc> {
    let d = t.with_timezone(&Shanghai).date_naive();
    Shanghai
        .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map_or(t, |x| x.with_timezone(&Utc))
}

/// The start of the next day, Asia/Shanghai.
fn next_midnight(t: DateTime<Utc>) -> DateTime<Utc> {
    this_midnight(t + TimeDelta::days(1))
}

/// An address as logs and listings show it: phone numbers masked.
pub fn display_address(channel: &str, address: &str) -> String {
    if channel == "sms" {
        crate::mask::mask_phone(address)
    } else {
        address.to_string()
    }
}
