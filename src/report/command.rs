//! `liandong report weekly`.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::cli::ReportFormat;
use crate::config::{Config, UnitKind};
use crate::notify::dispatch::{Clock, Dispatcher};
use crate::notify::templates::Templates;
use crate::store::Store;
use crate::store::outbox::NewMessage;

/// The addresses the weekly report goes to: the liaison office's contacts and `[report]
/// recipients`, each once.
pub fn recipients(cfg: &Config) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |name: &str, addr: &str| {
        let addr = addr.trim();
        if !addr.is_empty() && !out.iter().any(|(_, a)| a.eq_ignore_ascii_case(addr)) {
            out.push((name.to_string(), addr.to_string()));
        }
    };
    for u in cfg.units.iter().filter(|u| u.kind == UnitKind::Liaison) {
        for c in &u.contacts {
            if let Some(e) = &c.email {
                add(&c.name, e);
            }
        }
    }
    for r in &cfg.report.recipients {
        let mb = r.parse::<lettre::message::Mailbox>().ok();
        let name = mb.as_ref().and_then(|m| m.name.clone()).unwrap_or_default();
        let addr = mb.map_or_else(|| r.clone(), |m| m.email.to_string());
        add(&name, &addr);
    }
    out
}

pub async fn weekly(
    cfg: &Config,
    store: &dyn Store,
    as_of: Option<DateTime<Utc>>,
    format: ReportFormat,
    output: Option<&Path>,
    send: bool,
) -> anyhow::Result<ExitCode> {
    let now = as_of.unwrap_or_else(Utc::now);
    let report = super::weekly(store, cfg, now).await?;
    let templates = Arc::new(Templates::load(cfg.notify.templates_dir.as_deref())?);
    let bytes: Vec<u8> = match format {
        ReportFormat::Text => super::render::text(&report).into_bytes(),
        ReportFormat::Json => format!("{}\n", super::render::json(&report)?).into_bytes(),
        ReportFormat::Csv => {
            let mut b = Vec::new();
            super::render::csv(&report, &mut b)?;
            b
        }
        ReportFormat::Html => super::render::html(&report, &templates, cfg, None)?.into_bytes(),
    };
    match output {
        Some(p) => std::fs::write(p, &bytes)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?,
        None => std::io::stdout().lock().write_all(&bytes)?,
    }
    if !send {
        return Ok(ExitCode::SUCCESS);
    }
    let to = recipients(cfg);
    if to.is_empty() {
        anyhow::bail!(
            "nobody to send the report to: give the liaison unit a contact with an e-mail, or set [report] recipients"
        );
    }
    let subject = super::render::subject(&report, &templates)?;
    let html = super::render::html(&report, &templates, cfg, None)?;
    let text = super::render::text(&report);
    let mut queued = 0;
    for (name, addr) in &to {
        // Once per week and address, whatever happens: the dedupe key is the week.
        let m = NewMessage {
            dedupe_key: format!("report:{}:{addr}", super::period(&report.week)),
            channel: "email".into(),
            address: addr.clone(),
            recipient: if name.is_empty() {
                "府检联动办公室".into()
            } else {
                name.clone()
            },
            unit_id: None,
            kind: "report".into(),
            subject: subject.clone(),
            body: text.clone(),
            payload: Some(html.clone()),
            not_before: now,
            notices: Vec::new(),
        };
        if !store.enqueue(std::slice::from_ref(&m), now).await?.raced {
            queued += 1;
        }
    }
    super::save_snapshot(store, &report, Utc::now()).await?;
    let clock = as_of.map_or(Clock::Wall, Clock::Fixed);
    let dispatch = Dispatcher::new(cfg, cfg.calendar()?, templates)?
        .run(store, clock)
        .await?;
    eprintln!(
        "weekly report {}: queued for {queued} of {} recipients ({} had it already this week); sent {}, retrying {}, dead {}",
        report.week,
        to.len(),
        to.len() - queued,
        dispatch.sent,
        dispatch.retrying,
        dispatch.dead
    );
    Ok(if dispatch.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
