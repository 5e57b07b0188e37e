//! `report weekly` and `report annual`.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::ReportFormat;
use crate::config::Config;
use crate::notify::dispatch::{Clock, Dispatcher};
use crate::notify::templates::Templates;
use crate::store::Store;

pub(super) async fn weekly(
    cfg: &Config,
    store: &dyn Store,
    as_of: Option<DateTime<Utc>>,
    format: ReportFormat,
    output: Option<&Path>,
    send: bool,
) -> anyhow::Result<ExitCode> {
    let now = as_of.unwrap_or_else(Utc::now);
    let templates = Arc::new(Templates::load(cfg.notify.templates_dir.as_deref())?);
    // Every format at once computes the report itself: its workbook is made alongside.
    let report = match format {
        ReportFormat::All => {
            crate::report::deliver::write_all(store, cfg, &templates, output, now).await?
        }
        _ => crate::report::weekly(store, cfg, now).await?,
    };
    let bytes: Vec<u8> = match format {
        ReportFormat::Text => crate::report::render::text(&report).into_bytes(),
        ReportFormat::Json => format!("{}\n", crate::report::render::json(&report)?).into_bytes(),
        ReportFormat::Csv => {
            let mut b = Vec::new();
            crate::report::render::csv(&report, &mut b)?;
            b
        }
        ReportFormat::Html => {
            // The chart inside the file (a data: URI): it shows wherever the file is opened.
            let chart = match crate::report::chart::font_file(cfg.report.font_file.as_deref()) {
                Some(font) => Some(crate::report::chart::png(&report, &font)?),
                None => {
                    eprintln!(
                        "the HTML goes without its chart: no font with Chinese glyphs (install fonts-droid-fallback, or set [report] font_file)"
                    );
                    None
                }
            };
            let target = crate::report::render::HtmlTarget::File {
                chart_png: chart.as_deref(),
                workbook: None,
            };
            crate::report::render::html(&report, &templates, cfg, target)?.into_bytes()
        }
        ReportFormat::Xlsx | ReportFormat::Png if output.is_none() => {
            anyhow::bail!("--format {format:?} writes a binary file: give it one with --output")
        }
        ReportFormat::Xlsx => crate::report::deliver::workbook(store, cfg, &report, now).await?,
        ReportFormat::All => Vec::new(),
        ReportFormat::Png => {
            let font = crate::report::chart::font_file(cfg.report.font_file.as_deref()).ok_or_else(|| {
                anyhow::anyhow!(
                    "no font with Chinese glyphs: install fonts-droid-fallback (or fonts-wqy-microhei), or set [report] font_file"
                )
            })?;
            crate::report::chart::png(&report, &font)?
        }
    };
    match output {
        _ if format == ReportFormat::All => {}
        Some(p) => std::fs::write(p, &bytes)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?,
        None => std::io::stdout().lock().write_all(&bytes)?,
    }
    if !send {
        return Ok(ExitCode::SUCCESS);
    }
    let (queued, to) =
        crate::report::deliver::queue_weekly(cfg, store, &report, &templates, now).await?;
    let clock = as_of.map_or(Clock::Wall, Clock::Fixed);
    let dispatch = Dispatcher::new(cfg, cfg.calendar()?, templates)?
        .run(store, clock)
        .await?;
    eprintln!(
        "weekly report {}: queued for {queued} of {} recipients ({} had it already this week); sent {}, retrying {}, dead {}",
        report.week,
        to,
        to - queued,
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
