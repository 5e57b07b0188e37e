//! The notification outbox in the store (SPEC §5): what [`crate::notify`] queues, claims under
//! a lease, and completes, with the audit of every attempt. Implemented once for both backends
//! in `outbox_sql.rs`.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::StoreResult;

/// One (item, stage, recipient, channel) a message carries: its key is the dedupe key that
/// makes it go out once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeKey {
    pub key: String,
    /// `finding:<finding key>` or `obligation:<kind>:<unit>:<period>`.
    pub item: String,
    /// The finding's key, for a finding's notice.
    pub finding_key: Option<String>,
    pub stage: String,
}

/// A message to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Unique: the same key queued twice is one message.
    pub dedupe_key: String,
    /// `email`, `sms` or `robot`.
    pub channel: String,
    /// The e-mail address, phone number or robot name.
    pub address: String,
    /// Who it is for, as a person reads it (name and role).
    pub recipient: String,
    pub unit_id: Option<String>,
    /// `digest`, `alert` (to the administrator) or `report`.
    pub kind: String,
    pub subject: String,
    pub body: String,
    /// The HTML of an e-mail; an SMS's template parameters as JSON.
    pub payload: Option<String>,
    /// Not to leave before this (the SMS window).
    pub not_before: DateTime<Utc>,
    pub notices: Vec<NoticeKey>,
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxMessage {
    pub id: i64,
    pub dedupe_key: String,
    pub channel: String,
    pub address: String,
    pub recipient: String,
    pub unit_id: Option<String>,
    pub kind: String,
    pub subject: String,
    pub body: String,
    /// The HTML of an e-mail; an SMS's template parameters as JSON.
    pub payload: Option<String>,
    /// How many notices it carries.
    pub items: i64,
    /// `pending`, `sending`, `sent`, `failed`, `dead` or `cancelled`.
    pub state: String,
    /// Attempts made, the one under way included.
    pub attempts: i64,
    pub not_before: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub provider_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// How an attempt ended, as the dispatcher decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// The provider accepted it, with its message id when it gave one.
    Sent { provider_id: Option<String> },
    /// A transient failure: try again at `at`.
    Retry { at: DateTime<Utc>, error: String },
    /// A permanent failure, or the last try: no more attempts.
    Dead { error: String },
    /// Not attempted (outside the SMS window, a provider's daily limit): back to pending until
    /// `at`, the attempt not counted.
    Defer { at: DateTime<Utc>, reason: String },
}

impl Completion {
    pub fn outcome(&self) -> &'static str {
        match self {
            Completion::Sent { .. } => "sent",
            Completion::Retry { .. } => "failed",
            Completion::Dead { .. } => "dead",
            Completion::Defer { .. } => "deferred",
        }
    }
}

/// One attempt, kept for audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub message_id: i64,
    pub attempt: i64,
    pub channel: String,
    pub address: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `sent`, `failed`, `dead` or `deferred`.
    pub outcome: String,
    pub provider_id: Option<String>,
    pub error: Option<String>,
    /// The process that made it (`host:pid`).
    pub owner: String,
}

/// What one [`Outbox::enqueue`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enqueued {
    /// Ids of the messages queued.
    pub ids: Vec<i64>,
    /// Another process queued some of the same notices first: nothing was written, plan again.
    pub raced: bool,
}

/// Plans the notices due from the open findings, inside the transaction of the evaluation that
/// produced them (see [`crate::store::Evaluation::planner`]): the outbox is written with the
/// findings that caused it, or not at all.
pub trait Planner: Send + Sync {
    /// The notice keys due, given every open finding.
    fn due(&self, open: &[super::StoredFinding]) -> Vec<String>;
    /// The messages for the notices due that are not in `queued`.
    fn messages(
        &self,
        open: &[super::StoredFinding],
        queued: &HashSet<String>,
    ) -> Result<Vec<NewMessage>, String>;
}

#[async_trait]
pub trait Outbox: Send + Sync {
    /// Which of these notice keys were queued before.
    async fn queued_notices(&self, keys: &[String]) -> StoreResult<HashSet<String>>;
    /// Queues messages and their notices in one transaction. When any notice or message key
    /// exists already (another process got there first), nothing is written and `raced` is set.
    async fn enqueue(&self, messages: &[NewMessage], at: DateTime<Utc>) -> StoreResult<Enqueued>;
    /// Claims up to `limit` messages due at `now` (pending or failed with `not_before` reached),
    /// or sending under a lease that ran out by `wall`, marks them sending under `owner`'s lease
    /// until `wall + lease`, and counts the attempt. Leases are wall-clock time (they guard
    /// against dead processes) while `now` may be a replayed `--as-of`. Two processes never
    /// claim the same message while a lease holds (SKIP LOCKED on PostgreSQL; one writer on
    /// SQLite).
    async fn claim_messages(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        wall: DateTime<Utc>,
        lease: TimeDelta,
        limit: i64,
    ) -> StoreResult<Vec<OutboxMessage>>;
    /// Records how an attempt ended, with its audit row, in one transaction; `false` (and
    /// nothing written) when `owner` no longer holds the lease.
    async fn complete_message(
        &self,
        message: &OutboxMessage,
        owner: &str,
        started_at: DateTime<Utc>,
        completion: &Completion,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Messages, newest first, optionally in one state.
    async fn outbox_messages(
        &self,
        state: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<OutboxMessage>>;
    /// Messages per state.
    async fn outbox_counts(&self) -> StoreResult<Vec<(String, i64)>>;
    /// The attempts of a message, oldest first.
    async fn deliveries(&self, message_id: i64) -> StoreResult<Vec<Delivery>>;
    /// Messages sent to an address through a channel since an instant (for daily limits).
    async fn sent_since(
        &self,
        channel: &str,
        address: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<i64>;
    /// Cancels the pending or failed messages all of whose notices are about findings that are
    /// no longer open (resolved or waived); returns how many.
    async fn cancel_closed(&self, at: DateTime<Utc>) -> StoreResult<u64>;
}

pub(crate) fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}
