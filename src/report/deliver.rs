//! The weekly report's files and its e-mail: every format written into a folder (the workbook's
//! detail sheets on threads of their own), and the message queued once per week and recipient.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::{Config, UnitKind};
use crate::notify::email::{Part, Payload};
use crate::notify::templates::Templates;
use crate::store::outbox::NewMessage;
use crate::store::{FindingRow, Store};
use crate::units::Units;

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

/// The report's workbook, with the detail lists read from the store.
pub(crate) async fn workbook(
    store: &dyn Store,
    cfg: &Config,
    report: &super::Weekly,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<u8>> {
    let since = super::since(now);
    let findings = store.finding_rows(since, now).await?;
    Ok(super::xlsx::workbook(report, &findings, cfg, since, now)?)
}

/// Computes the report and writes every format into the folder `output`:
/// `weekly-2025-W42.{txt,json,csv,html,xlsx,png}`. The workbook's detail sheets (a row per
/// finding, most of the work) need only the week's findings: they are written on a thread of
/// their own from the moment the findings are read, while the rest of the report is read and
/// computed and the other formats are rendered.
pub(crate) async fn write_all(
    store: &dyn Store,
    cfg: &Config,
    templates: &Templates,
    output: Option<&Path>,
    now: DateTime<Utc>,
) -> anyhow::Result<super::Weekly> {
    let Some(dir) = output else {
        anyhow::bail!("--format all writes one file per format: give it a folder with --output");
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let since = super::since(now);
    let findings_and_details = async {
        let findings: Arc<[FindingRow]> = store.finding_rows(since, now).await?.into();
        let units = Units::new(&cfg.units);
        let details = {
            let findings = Arc::clone(&findings);
            tokio::task::spawn_blocking(move || super::xlsx::details(&findings, &units, since, now))
        };
        anyhow::Ok((findings, details))
    };
    let ((findings, details), context) =
        tokio::try_join!(findings_and_details, super::context(store, cfg, now))?;
    let report = Arc::new(super::compute(&findings, &context, cfg, now));
    drop(findings);
    // The summary sheet and the deflating of the workbook, while the other formats are rendered.
    let details = details.await??;
    let xlsx = {
        let report = Arc::clone(&report);
        tokio::task::spawn_blocking(move || details.finish(&report))
    };
    let name = |ext: &str| dir.join(format!("weekly-{}.{ext}", report.week));
    let write = |ext: &str, bytes: &[u8]| {
        std::fs::write(name(ext), bytes)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", name(ext).display()))
    };
    write("txt", super::render::text(&report).as_bytes())?;
    write("json", super::render::json(&report)?.as_bytes())?;
    let mut csv = Vec::new();
    super::render::csv(&report, &mut csv)?;
    write("csv", &csv)?;
    let font = super::chart::font_file(cfg.report.font_file.as_deref()).ok_or_else(|| {
        anyhow::anyhow!("no font with Chinese glyphs for the chart (see [report] font_file)")
    })?;
    let chart = super::chart::png(&report, &font)?;
    write("png", &chart)?;
    let workbook = format!("weekly-{}.xlsx", report.week);
    let target = super::render::HtmlTarget::File {
        chart_png: Some(&chart),
        workbook: Some(&workbook),
    };
    write(
        "html",
        super::render::html(&report, templates, cfg, target)?.as_bytes(),
    )?;
    write("xlsx", &xlsx.await??)?;
    eprintln!(
        "weekly report {} written to {} in 6 formats",
        report.week,
        dir.display()
    );
    Ok(Arc::unwrap_or_clone(report))
}

/// Queues the weekly report for each recipient — text, HTML with the chart inline, the
/// workbook attached — once per week and address whatever happens (the dedupe key is the
/// week), and saves the week's snapshot. Returns (queued now, recipients).
pub async fn queue_weekly(
    cfg: &Config,
    store: &dyn Store,
    report: &super::Weekly,
    templates: &Templates,
    now: DateTime<Utc>,
) -> anyhow::Result<(usize, usize)> {
    let to = recipients(cfg);
    if to.is_empty() {
        anyhow::bail!(
            "nobody to send the report to: give the liaison unit a contact with an e-mail, or set [report] recipients"
        );
    }
    let subject = super::render::subject(report, templates)?;
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
    // The chart's Content-ID, unique to the week, with a domain as RFC 2392 wants: the sender's.
    let domain = cfg
        .notify
        .email
        .from
        .parse::<lettre::message::Mailbox>()
        .map_or_else(
            |_| "liandong.local".into(),
            |m| m.email.domain().to_string(),
        );
    let cid = format!("chart-{}@{domain}", report.week.replace("-W", "w"));
    let mut parts = Vec::new();
    match super::chart::font_file(cfg.report.font_file.as_deref()) {
        Some(font) => parts.push(Part {
            name: "chart.png".into(),
            content_type: "image/png".into(),
            cid: Some(cid.clone()),
            base64: b64(&super::chart::png(report, &font)?),
        }),
        None => tracing::warn!(
            "the report goes without its chart: no font with Chinese glyphs (install fonts-droid-fallback, or set [report] font_file)"
        ),
    }
    let chart_cid = (!parts.is_empty()).then_some(cid.as_str());
    let html = super::render::html(
        report,
        templates,
        cfg,
        super::render::HtmlTarget::Mail { chart_cid },
    )?;
    parts.push(Part {
        name: format!("府检联动落后单位周报-{}.xlsx", report.week),
        content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".into(),
        cid: None,
        base64: b64(&workbook(store, cfg, report, now).await?),
    });
    let payload = Payload { html, parts }.to_json();
    let mut text = super::render::text(report);
    if let Some(base) = cfg.web.public_url.as_deref() {
        text.push_str(&format!(
            "\n在府检联动平台查看：{}/reports/{}\n",
            base.trim_end_matches('/'),
            report.week
        ));
    }
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
            payload: Some(payload.clone()),
            not_before: now,
            notices: Vec::new(),
        };
        if !store.enqueue(std::slice::from_ref(&m), now).await?.raced {
            queued += 1;
        }
    }
    super::save_snapshot(store, report, crate::domain::clock::wall()).await?;
    Ok((queued, to.len()))
}
