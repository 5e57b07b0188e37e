//! The outbox statements of both backends, written once like `shared.rs` (see there), with
//! `CLAIM_LOCK` from the backend: how a claim skips rows another transaction holds. See
//! `store/outbox.rs` for what each method promises.

use super::*;
use crate::store::{StoreError, StoreResult, StoredFinding};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Row, Transaction};

use crate::store::outbox::{
    Completion, Delivery, Enqueued, NewMessage, Outbox, OutboxMessage, from_millis, to_millis,
};

pub(super) const OUTBOX_COLUMNS: &str = "id, dedupe_key, channel, address, recipient, unit_id, kind, subject, body, payload, items, state, \
     attempts, not_before, lease_owner, lease_until, last_error, provider_id, created_at, updated_at, sent_at";

pub(super) fn read_message(r: &DbRow) -> StoreResult<OutboxMessage> {
    Ok(OutboxMessage {
        id: r.try_get("id")?,
        dedupe_key: r.try_get("dedupe_key")?,
        channel: r.try_get("channel")?,
        address: r.try_get("address")?,
        recipient: r.try_get("recipient")?,
        unit_id: r.try_get("unit_id")?,
        kind: r.try_get("kind")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        payload: r.try_get("payload")?,
        items: i64::from(r.try_get::<i32, _>("items")?),
        state: r.try_get("state")?,
        attempts: i64::from(r.try_get::<i32, _>("attempts")?),
        not_before: from_millis(r.try_get("not_before")?),
        lease_owner: r.try_get("lease_owner")?,
        lease_until: r.try_get::<Option<i64>, _>("lease_until")?.map(from_millis),
        last_error: r.try_get("last_error")?,
        provider_id: r.try_get("provider_id")?,
        created_at: from_millis(r.try_get("created_at")?),
        updated_at: from_millis(r.try_get("updated_at")?),
        sent_at: r.try_get::<Option<i64>, _>("sent_at")?.map(from_millis),
    })
}

/// Messages per statement when queueing, and the most text (bodies and payloads) one statement
/// carries.
const MESSAGES_PER_INSERT: usize = 500;
const MESSAGE_BYTES_PER_INSERT: usize = 8 << 20;

/// Inserts messages and their notices, a few statements for thousands of messages (a province's
/// notify queues ten thousand digests: one round trip each took most of its time on
/// PostgreSQL). Returns each message's id, or `None` (and nothing of it left written) when its
/// dedupe key or one of its notice keys exists already.
pub(super) async fn insert_messages(
    tx: &mut Transaction<'static, Db>,
    messages: &[NewMessage],
    now: i64,
) -> StoreResult<Vec<Option<i64>>> {
    let mut ids: Vec<Option<i64>> = vec![None; messages.len()];
    let insert = format!(
        "INSERT INTO outbox (dedupe_key, channel, address, recipient, unit_id, kind, subject, body, payload, items, \
         state, attempts, not_before, created_at, updated_at) \
         SELECT {}, {}, 'pending', 0, {}, $2, $2 FROM {JSON_ROWS} \
         WHERE true ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key",
        json_cols(&[JsonCol::Text; 9], 0),
        json_col(9, JsonCol::Int),
        json_col(10, JsonCol::Int),
    );
    let mut from = 0;
    while from < messages.len() {
        // The next chunk: up to MESSAGES_PER_INSERT, and at least one, within the byte budget.
        let mut to = from + 1;
        let mut bytes = text_bytes(&messages[from]);
        while to < messages.len() && to - from < MESSAGES_PER_INSERT {
            bytes += text_bytes(&messages[to]);
            if bytes > MESSAGE_BYTES_PER_INSERT {
                break;
            }
            to += 1;
        }
        let chunk = &messages[from..to];
        let rows: Vec<_> = chunk
            .iter()
            .map(|m| {
                (
                    &m.dedupe_key,
                    &m.channel,
                    &m.address,
                    &m.recipient,
                    &m.unit_id,
                    &m.kind,
                    &m.subject,
                    &m.body,
                    &m.payload,
                    i32::try_from(m.notices.len()).unwrap_or(i32::MAX),
                    to_millis(m.not_before),
                )
            })
            .collect();
        let inserted = sqlx::query(AssertSqlSafe(insert.clone()))
            .bind(serde_json::to_string(&rows).unwrap_or_default())
            .bind(now)
            .fetch_all(&mut **tx)
            .await?;
        let mut by_key: std::collections::HashMap<String, i64> = inserted
            .iter()
            .map(|r| Ok((r.try_get("dedupe_key")?, r.try_get("id")?)))
            .collect::<StoreResult<_>>()?;
        for (i, m) in chunk.iter().enumerate() {
            // A key listed twice in one chunk: the first of them is the message inserted.
            ids[from + i] = by_key.remove(&m.dedupe_key);
        }
        from = to;
    }

    // The notices of the messages inserted, each chunk one JSON parameter unpacked by the
    // database (a digest to the liaison office of a province may carry a hundred thousand).
    let insert = format!(
        "INSERT INTO notices (key, item, finding_key, stage, channel, message_id, queued_at) \
         SELECT {}, {}, $2 FROM {JSON_ROWS} WHERE true ON CONFLICT (key) DO NOTHING \
         RETURNING message_id",
        json_cols(&[JsonCol::Text; 5], 0),
        json_col(5, JsonCol::Int),
    );
    let mut notices: Vec<NoticeRow<'_>> = Vec::new();
    for (m, id) in messages.iter().zip(&ids) {
        let Some(id) = *id else { continue };
        for n in &m.notices {
            notices.push((
                n.key.as_str(),
                n.item.as_str(),
                n.finding_key.as_deref(),
                n.stage.as_str(),
                m.channel.as_str(),
                id,
            ));
        }
    }
    let mut stored: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    for rows in notices.chunks(INSERT_ROWS) {
        let inserted = sqlx::query(AssertSqlSafe(insert.clone()))
            .bind(serde_json::to_string(&rows).unwrap_or_default())
            .bind(now)
            .fetch_all(&mut **tx)
            .await?;
        for r in inserted {
            *stored.entry(r.try_get("message_id")?).or_default() += 1;
        }
    }
    for (m, id) in messages.iter().zip(ids.iter_mut()) {
        let Some(message_id) = *id else { continue };
        if stored.get(&message_id).copied().unwrap_or(0) < m.notices.len() {
            // A notice queued already (by another process meanwhile): the message goes, and
            // the next run plans what is left.
            sqlx::query("DELETE FROM notices WHERE message_id = $1")
                .bind(message_id)
                .execute(&mut **tx)
                .await?;
            sqlx::query("DELETE FROM outbox WHERE id = $1")
                .bind(message_id)
                .execute(&mut **tx)
                .await?;
            *id = None;
        }
    }
    Ok(ids)
}

/// Elements `first..` of a JSON row as the columns `kinds`, separated by commas.
fn json_cols(kinds: &[JsonCol], first: usize) -> String {
    let cols: Vec<String> = kinds
        .iter()
        .enumerate()
        .map(|(i, &kind)| json_col(first + i, kind))
        .collect();
    cols.join(", ")
}

/// A notice as sent to the store: key, item, finding key, stage, channel, message id.
type NoticeRow<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, &'a str, i64);

/// The text a message carries to the store.
fn text_bytes(m: &NewMessage) -> usize {
    m.body.len() + m.payload.as_ref().map_or(0, String::len) + m.subject.len()
}

/// Queues what `planner` finds due among the open findings, inside `tx`. A message one of whose
/// notices another process queued meanwhile is left out (the next `notify` plans it again).
pub(super) async fn queue_planned(
    tx: &mut Transaction<'static, Db>,
    planner: &dyn crate::store::outbox::Planner,
    at: DateTime<Utc>,
) -> StoreResult<usize> {
    let rows = sqlx::query("SELECT * FROM findings WHERE state IN ('upcoming', 'due_soon', 'overdue') ORDER BY due, id")
        .fetch_all(&mut **tx)
        .await?;
    let open: Vec<StoredFinding> = rows.iter().map(read_finding).collect::<StoreResult<_>>()?;
    let keys = planner.due(&open);
    let mut queued = std::collections::HashSet::new();
    for chunk in keys.chunks(5000) {
        let sql = format!(
            "SELECT key FROM notices WHERE key IN ({}$1{})",
            JSON_TEXTS.0, JSON_TEXTS.1
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(serde_json::to_string(chunk).unwrap_or_default())
            .fetch_all(&mut **tx)
            .await?;
        for r in rows {
            queued.insert(r.try_get::<String, _>("key")?);
        }
    }
    let messages = planner
        .messages(&open, &queued)
        .map_err(StoreError::Config)?;
    let ids = insert_messages(tx, &messages, to_millis(at)).await?;
    Ok(ids.iter().flatten().count())
}

#[async_trait]
impl Outbox for Backend {
    async fn queued_notices(
        &self,
        keys: &[String],
    ) -> StoreResult<std::collections::HashSet<String>> {
        let mut found = std::collections::HashSet::new();
        for chunk in keys.chunks(5000) {
            let sql = format!(
                "SELECT key FROM notices WHERE key IN ({}$1{})",
                JSON_TEXTS.0, JSON_TEXTS.1
            );
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(serde_json::to_string(chunk).unwrap_or_default())
                .fetch_all(&self.reader)
                .await?;
            for r in rows {
                found.insert(r.try_get::<String, _>("key")?);
            }
        }
        Ok(found)
    }

    async fn enqueue(&self, messages: &[NewMessage], at: DateTime<Utc>) -> StoreResult<Enqueued> {
        let mut done = Enqueued::default();
        if messages.is_empty() {
            return Ok(done);
        }
        let now = to_millis(at);
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let ids = insert_messages(&mut tx, messages, now).await?;
        done.raced = ids.iter().any(Option::is_none);
        done.ids = ids.into_iter().flatten().collect();
        if done.raced {
            tx.rollback().await?;
            done.ids.clear();
        } else {
            tx.commit().await?;
        }
        Ok(done)
    }

    async fn claim_messages(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        wall: DateTime<Utc>,
        lease: chrono::TimeDelta,
        limit: i64,
    ) -> StoreResult<Vec<OutboxMessage>> {
        // Two statements, each served by its partial index: leases that ran out (a process
        // died), then messages whose time has come.
        let expired = format!(
            "UPDATE outbox SET state = 'sending', lease_owner = $1, lease_until = $2, attempts = attempts + 1, \
             updated_at = $3 WHERE id IN (SELECT id FROM outbox WHERE state = 'sending' AND lease_until <= $5 \
             ORDER BY lease_until LIMIT $4{CLAIM_LOCK}) RETURNING {OUTBOX_COLUMNS}"
        );
        let ready = format!(
            "UPDATE outbox SET state = 'sending', lease_owner = $1, lease_until = $2, attempts = attempts + 1, \
             updated_at = $3 WHERE id IN (SELECT id FROM outbox WHERE state IN ('pending', 'failed') \
             AND not_before <= $5 ORDER BY not_before, id LIMIT $4{CLAIM_LOCK}) RETURNING {OUTBOX_COLUMNS}"
        );
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let mut rows = Vec::new();
        // $5: the wall clock for leases, the policy's time for readiness.
        for (sql, until) in [(expired, wall), (ready, now)] {
            let room = limit - i64::try_from(rows.len()).unwrap_or(limit);
            if room <= 0 {
                break;
            }
            rows.extend(
                sqlx::query(AssertSqlSafe(sql))
                    .bind(owner.to_string())
                    .bind(to_millis(wall + lease))
                    .bind(to_millis(wall))
                    .bind(room)
                    .bind(to_millis(until))
                    .fetch_all(&mut *tx)
                    .await?,
            );
        }
        tx.commit().await?;
        let mut out: Vec<OutboxMessage> =
            rows.iter().map(read_message).collect::<StoreResult<_>>()?;
        out.sort_by_key(|m| (m.not_before, m.id));
        Ok(out)
    }

    async fn complete_message(
        &self,
        m: &OutboxMessage,
        owner: &str,
        started_at: DateTime<Utc>,
        completion: &Completion,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let now = to_millis(at);
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let (state, not_before, error, provider, sent_at, attempts_back) = match completion {
            Completion::Sent { provider_id } => {
                ("sent", None, None, provider_id.clone(), Some(now), 0)
            }
            Completion::Retry { at, error } => (
                "failed",
                Some(to_millis(*at)),
                Some(error.clone()),
                None,
                None,
                0,
            ),
            Completion::Dead { error } => ("dead", None, Some(error.clone()), None, None, 0),
            Completion::Defer { at, reason } => (
                "pending",
                Some(to_millis(*at)),
                Some(reason.clone()),
                None,
                None,
                1,
            ),
        };
        let updated = sqlx::query(
            "UPDATE outbox SET state = $1, not_before = COALESCE($2, not_before), \
             last_error = CASE WHEN $1 = 'sent' THEN last_error ELSE $3 END, provider_id = COALESCE($4, provider_id), \
             sent_at = COALESCE($5, sent_at), attempts = attempts - $6, lease_owner = NULL, lease_until = NULL, \
             updated_at = $7 WHERE id = $8 AND state = 'sending' AND lease_owner = $9",
        )
        .bind(state)
        .bind(not_before)
        .bind(error.clone())
        .bind(provider.clone())
        .bind(sent_at)
        .bind(attempts_back)
        .bind(now)
        .bind(m.id)
        .bind(owner.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO deliveries (message_id, attempt, channel, address, started_at, finished_at, outcome, provider_id, \
             error, owner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(m.id)
        .bind(i32::try_from(m.attempts).unwrap_or(i32::MAX))
        .bind(m.channel.clone())
        .bind(m.address.clone())
        .bind(to_millis(started_at))
        .bind(now)
        .bind(completion.outcome())
        .bind(provider)
        .bind(error)
        .bind(owner.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn outbox_messages(
        &self,
        state: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<OutboxMessage>> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE ($1 IS NULL OR state = $1) ORDER BY id DESC LIMIT $2"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(state.map(str::to_string))
            .bind(limit)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(read_message).collect()
    }

    async fn outbox_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        let rows =
            sqlx::query("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state ORDER BY state")
                .fetch_all(&self.reader)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
            .collect()
    }

    async fn deliveries(&self, message_id: i64) -> StoreResult<Vec<Delivery>> {
        let rows = sqlx::query("SELECT * FROM deliveries WHERE message_id = $1 ORDER BY id")
            .bind(message_id)
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Delivery {
                    message_id: r.try_get("message_id")?,
                    attempt: i64::from(r.try_get::<i32, _>("attempt")?),
                    channel: r.try_get("channel")?,
                    address: r.try_get("address")?,
                    started_at: from_millis(r.try_get("started_at")?),
                    finished_at: from_millis(r.try_get("finished_at")?),
                    outcome: r.try_get("outcome")?,
                    provider_id: r.try_get("provider_id")?,
                    error: r.try_get("error")?,
                    owner: r.try_get("owner")?,
                })
            })
            .collect()
    }

    async fn sent_since(
        &self,
        channel: &str,
        address: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM deliveries WHERE channel = $1 AND address = $2 AND finished_at >= $3 AND outcome = 'sent'",
        )
        .bind(channel.to_string())
        .bind(address.to_string())
        .bind(to_millis(since))
        .fetch_one(&self.reader)
        .await?;
        Ok(row.try_get("n")?)
    }

    async fn cancel_closed(&self, at: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let n = sqlx::query(
            "UPDATE outbox SET state = 'cancelled', updated_at = $1, \
             last_error = 'every item it carried was resolved or waived before it left' \
             WHERE state IN ('pending', 'failed') AND kind = 'digest' \
             AND EXISTS (SELECT 1 FROM notices n WHERE n.message_id = outbox.id) \
             AND NOT EXISTS (SELECT 1 FROM notices n WHERE n.message_id = outbox.id AND n.finding_key IS NULL) \
             AND NOT EXISTS (SELECT 1 FROM notices n JOIN findings f ON f.key = n.finding_key \
                             WHERE n.message_id = outbox.id AND f.state IN ('upcoming', 'due_soon', 'overdue'))",
        )
        .bind(to_millis(at))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }
}
