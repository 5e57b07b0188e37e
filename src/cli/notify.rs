//! `notify`, `outbox` and `send-test`.

use std::io::Write;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use chrono_tz::Asia::Shanghai;
use serde_json::json;

use crate::config::Config;
use crate::notify::dispatch::{Clock, display_address};
use crate::notify::pass::{Mode, pass, templates};
use crate::output::{self, Format};
use crate::store::Store;

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// `liandong notify`: queue what is due at `as_of` (or now) and dispatch the outbox.
pub(super) async fn notify(
    cfg: &Config,
    store: &dyn Store,
    as_of: Option<DateTime<Utc>>,
    mode: Mode,
) -> anyhow::Result<ExitCode> {
    let clock = as_of.map_or(Clock::Wall, Clock::Fixed);
    let now = clock.now();
    let calendar = cfg.calendar()?;
    let templates = templates(cfg)?;
    let mut out = std::io::stdout().lock();
    if mode == Mode::DryRun {
        let (messages, counts) =
            crate::notify::planned(store, cfg, &calendar, &templates, now).await?;
        writeln!(
            out,
            "dry run as of {}: {} items, {} notices due, {} of them queued before; {} new messages:",
            local(now),
            counts.items,
            counts.due,
            counts.queued_before,
            messages.len()
        )?;
        for m in &messages {
            writeln!(out)?;
            writeln!(
                out,
                "── {} to {} <{}>, {} notices, not before {}",
                m.channel,
                m.recipient,
                display_address(&m.channel, &m.address),
                m.notices.len(),
                local(m.not_before)
            )?;
            writeln!(out, "   subject: {}", m.subject)?;
            for line in m.body.lines() {
                writeln!(out, "   | {line}")?;
            }
        }
        let waiting: Vec<_> = store
            .outbox_messages(None, 10_000)
            .await?
            .into_iter()
            .filter(|m| matches!(m.state.as_str(), "pending" | "failed") && m.not_before <= now)
            .collect();
        writeln!(out)?;
        writeln!(
            out,
            "{} queued messages would be sent now as well:",
            waiting.len()
        )?;
        for m in waiting {
            writeln!(
                out,
                "  #{} {} to {} <{}>: {}",
                m.id,
                m.channel,
                m.recipient,
                display_address(&m.channel, &m.address),
                m.subject
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let summary = pass(cfg, store, clock, mode, None).await?;
    let s = &summary;
    if mode == Mode::QueueOnly {
        writeln!(
            out,
            "as of {}: {} messages queued ({} notices due, {} of them queued before); {} cancelled as resolved",
            local(now),
            s.queued,
            s.due,
            s.queued_before,
            s.cancelled
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let report = s.dispatch;
    writeln!(
        out,
        "as of {}: {} messages queued ({} notices due, {} of them queued before); {} cancelled as resolved; \
         sent {}, retrying {}, dead {}, waiting {}",
        local(now),
        s.queued,
        s.due,
        s.queued_before,
        s.cancelled,
        report.sent,
        report.retrying,
        report.dead,
        report.deferred
    )?;
    Ok(if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `liandong outbox`: messages and their delivery state, newest first.
pub(super) async fn outbox(
    store: &dyn Store,
    state: Option<&str>,
    limit: i64,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let list = store.outbox_messages(state, limit).await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match format {
        Format::Json => {
            let mut arr = Vec::with_capacity(list.len());
            for m in &list {
                let deliveries = store.deliveries(m.id).await?;
                arr.push(json!({
                    "id": m.id,
                    "state": m.state,
                    "channel": m.channel,
                    "recipient": m.recipient,
                    "address": display_address(&m.channel, &m.address),
                    "unit_id": m.unit_id,
                    "kind": m.kind,
                    "subject": m.subject,
                    "items": m.items,
                    "attempts": m.attempts,
                    "not_before": m.not_before,
                    "last_error": m.last_error,
                    "provider_id": m.provider_id,
                    "created_at": m.created_at,
                    "sent_at": m.sent_at,
                    "deliveries": deliveries.iter().map(|d| json!({
                        "attempt": d.attempt,
                        "started_at": d.started_at,
                        "finished_at": d.finished_at,
                        "outcome": d.outcome,
                        "provider_id": d.provider_id,
                        "error": d.error,
                        "by": d.owner,
                    })).collect::<Vec<_>>(),
                }));
            }
            serde_json::to_writer_pretty(&mut out, &arr)?;
            writeln!(out)?;
        }
        Format::Table | Format::Csv => {
            let headers = [
                "id",
                "state",
                "channel",
                "to",
                "subject",
                "items",
                "attempts",
                "next/sent",
                "last error",
            ];
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|m| {
                    let when = m.sent_at.unwrap_or(m.not_before);
                    let err = m.last_error.clone().unwrap_or_default();
                    let err = if format == Format::Table && err.chars().count() > 60 {
                        format!("{}…", err.chars().take(59).collect::<String>())
                    } else {
                        err
                    };
                    vec![
                        m.id.to_string(),
                        m.state.clone(),
                        m.channel.clone(),
                        format!(
                            "{} <{}>",
                            m.recipient,
                            display_address(&m.channel, &m.address)
                        ),
                        m.subject.clone(),
                        m.items.to_string(),
                        m.attempts.to_string(),
                        local(when),
                        err,
                    ]
                })
                .collect();
            if format == Format::Csv {
                output::csv(&mut out, &headers, &rows)?;
            } else {
                write!(out, "{}", output::table(&headers, &rows))?;
                writeln!(out, "{} messages", rows.len())?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `liandong send-test`: one test message through a channel, straight to the provider.
pub(super) async fn send_test(cfg: &Config, channel: &str, to: &str) -> anyhow::Result<ExitCode> {
    let now = Clock::Wall.now();
    let templates = templates(cfg)?;
    let text = templates.render("test.txt", &json!({"at": local(now), "channel": channel}))?;
    let id = now.timestamp();
    let result = match channel {
        "email" => {
            let email = crate::notify::email::Email::new(&cfg.notify.email)?;
            email
                .send(&crate::notify::email::Mail {
                    id,
                    key: &format!("test:{id}"),
                    to_name: "",
                    to,
                    subject: "【府检联动】测试消息",
                    text: &text,
                    html: None,
                })
                .await
        }
        "sms" => {
            let Some(sms_cfg) = &cfg.notify.sms else {
                anyhow::bail!("no [notify.sms] provider is configured");
            };
            let sms = crate::notify::sms::Sms::new(sms_cfg)?;
            let params: serde_json::Map<String, serde_json::Value> = sms_cfg
                .template_params
                .iter()
                .map(|p| (p.clone(), json!(if p == "count" { "0" } else { "测试" })))
                .collect();
            let text = format!("【{}】{text}", sms_cfg.sign_name);
            sms.send(id, to, &text, &serde_json::Value::Object(params), now)
                .await
        }
        "robot" => {
            let Some(r) = cfg.notify.robots.iter().find(|r| r.name == to) else {
                anyhow::bail!("no robot named {to:?} in [[notify.robots]]");
            };
            crate::notify::robot::Robot::new(r)?
                .send("府检联动测试消息", &text, now)
                .await
        }
        other => anyhow::bail!("unknown channel {other:?}: expected email, sms or robot"),
    };
    let shown = display_address(channel, to);
    match result {
        Ok(sent) => {
            println!(
                "sent a test {channel} message to {shown}{}",
                sent.provider_id
                    .map(|p| format!(" (provider id {p})"))
                    .unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: the test {channel} message to {shown} failed: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
