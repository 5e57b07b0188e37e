//! What the administrator must hear of besides dead messages (which the dispatcher reports as
//! they die): a source silent past its freshness limit, and a year without a holiday table.
//! Each alert goes once per episode — per silence (keyed by the source's last success) and per
//! missing year — through the outbox, so a restart or a second replica does not repeat it.

use chrono::{DateTime, Utc};
use chrono_tz::Asia::Shanghai;

use crate::config::Config;
use crate::notify::templates::Templates;
use crate::store::Store;
use crate::store::outbox::NewMessage;

/// One thing to tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// What makes it once: `source:<name>:<last success ms or never>`, `calendar:<year>`.
    pub key: String,
    pub context: serde_json::Value,
    /// For the journal.
    pub summary: String,
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// The alerts due at `now`.
pub async fn due(
    cfg: &Config,
    store: &dyn Store,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Alert>> {
    let mut out = Vec::new();
    let states = store.source_states().await?;
    for src in cfg.sources.iter().filter(|s| s.enabled) {
        let Some(st) = states.iter().find(|s| s.name == src.name) else {
            // Never tried yet: its first run is under way or due; nothing is silent.
            continue;
        };
        let limit = crate::sync::late_after(src, now);
        let silent = match st.last_success_at {
            Some(ok) => now - ok > limit,
            // Tried and never succeeded: a source that has never worked is worth telling at once.
            None => st.last_error_at.is_some(),
        };
        if !silent {
            continue;
        }
        let since = st
            .last_success_at
            .map_or_else(|| "never".to_string(), |t| t.timestamp_millis().to_string());
        out.push(Alert {
            key: format!("source:{}:{since}", src.name),
            summary: format!(
                "source {} has not synced successfully since {} (limit {} min)",
                src.name,
                st.last_success_at.map_or_else(|| "ever".to_string(), local),
                limit.num_minutes()
            ),
            context: serde_json::json!({
                "kind": "source",
                "source": src.name,
                "source_kind": format!("{:?}", src.kind).to_lowercase(),
                "feeds": format!("{:?}", src.feeds).to_lowercase(),
                "last_success": st.last_success_at.map_or_else(|| "从未成功".to_string(), local),
                "limit": human(limit),
                "last_error": st.last_error.as_deref().map_or_else(|| "无".to_string(), crate::mask::mask_text),
            }),
        });
    }
    let today = now.with_timezone(&Shanghai).date_naive();
    let calendar = cfg.calendar()?;
    let ahead = today
        .checked_add_days(chrono::Days::new(u64::from(
            super::preflight::CALENDAR_LOOKAHEAD_DAYS,
        )))
        .unwrap_or(today);
    let mut years = vec![chrono::Datelike::year(&today)];
    if chrono::Datelike::year(&ahead) != years[0] {
        years.push(chrono::Datelike::year(&ahead));
    }
    for year in years.into_iter().filter(|y| !calendar.has_table(*y)) {
        out.push(Alert {
            key: format!("calendar:{year}"),
            summary: format!("the working-day calendar has no holiday table for {year}"),
            context: serde_json::json!({ "kind": "calendar", "year": year }),
        });
    }
    Ok(out)
}

fn human(d: chrono::Duration) -> String {
    let m = d.num_minutes();
    if m % 1440 == 0 {
        format!("{} 天", m / 1440)
    } else if m % 60 == 0 {
        format!("{} 小时", m / 60)
    } else {
        format!("{m} 分钟")
    }
}

/// Queues each alert due for each administrator once; returns (alerts due, messages queued).
pub async fn queue(
    cfg: &Config,
    store: &dyn Store,
    templates: &Templates,
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<Alert>, usize)> {
    let alerts = due(cfg, store, now).await?;
    let mut queued = 0;
    for a in &alerts {
        let subject = templates.render("alert_ops_subject.txt", &a.context)?;
        let body = templates.render("alert_ops.txt", &a.context)?;
        for admin in &cfg.notify.admin_emails {
            let address = admin
                .parse::<lettre::message::Mailbox>()
                .map_or_else(|_| admin.clone(), |mb| mb.email.to_string());
            let m = NewMessage {
                dedupe_key: format!("alert:{}:{address}", a.key),
                channel: "email".into(),
                address,
                recipient: "系统管理员".into(),
                unit_id: None,
                kind: "alert".into(),
                subject: subject.trim().to_string(),
                body: body.clone(),
                payload: None,
                not_before: now,
                notices: Vec::new(),
            };
            if !store
                .enqueue(std::slice::from_ref(&m), now)
                .await?
                .ids
                .is_empty()
            {
                queued += 1;
            }
        }
    }
    Ok((alerts, queued))
}
