//! `evaluate` and `findings`: the rules' findings, evaluated and listed.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::app::App;
use crate::config::Config;
use crate::domain::rule::{State, due_soon_window};
use crate::output::{self, Format};
use crate::store::{self, Store};
use crate::units::Units;

/// Evaluates the rules at the clock's time (incrementally unless `full`) and prints what changed.
pub(super) async fn evaluate(
    app: &App,
    full: bool,
    queue_notices: bool,
) -> anyhow::Result<ExitCode> {
    let (store, now) = (app.store(), app.now());
    for w in crate::app::preflight::calendar_warnings(&app.cfg, now)? {
        tracing::warn!("{w}");
    }
    let started = std::time::Instant::now();
    let report = crate::app::jobs::evaluate(app, full, queue_notices).await?;
    if queue_notices {
        let pending = store
            .outbox_counts()
            .await?
            .iter()
            .filter(|(s, _)| s == "pending")
            .map(|(_, n)| *n)
            .sum::<i64>();
        println!(
            "notices due were queued with the findings; {pending} messages wait in the outbox"
        );
    }
    let rows: Vec<Vec<String>> = report
        .counts
        .iter()
        .map(|((r, st), n)| vec![r.clone(), st.clone(), n.to_string()])
        .collect();
    print!("{}", output::table(&["rule", "state", "findings"], &rows));
    let c = &report.changes;
    println!(
        "as of {} ({} pass over {} cases in {:.2} s): {} new, {} changed, {} unchanged, {} no longer apply; {} state changes recorded",
        now.with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d %H:%M"),
        report.mode.as_str(),
        report.subjects,
        started.elapsed().as_secs_f64(),
        c.inserted,
        c.updated,
        c.unchanged,
        c.gone,
        c.transitions
    );
    Ok(ExitCode::SUCCESS)
}

/// A due instant as a clerk reads it: the end of a day shows as `24:00` of that day.
fn end_of_day_text(t: DateTime<chrono_tz::Tz>) -> String {
    if t.time() == chrono::NaiveTime::MIN {
        let day = t.date_naive().pred_opt().unwrap_or(t.date_naive());
        format!("{} 24:00", day.format("%Y-%m-%d"))
    } else {
        t.format("%Y-%m-%d %H:%M").to_string()
    }
}

/// A finding's state at `at` (see [`store::StoredFinding::state_at`]); one that had not arisen
/// then is not listed.
fn state_at(f: &store::StoredFinding, at: DateTime<Utc>, due_soon_days: i64) -> State {
    f.state_at(at, due_soon_window(due_soon_days))
        .unwrap_or(f.state)
}

pub(super) async fn findings(
    cfg: &Config,
    store: &dyn Store,
    units: &Units,
    filter: &store::FindingFilter,
    at: DateTime<Utc>,
    format: Format,
) -> anyhow::Result<()> {
    let due_soon = due_soon_window(cfg.rules.due_soon_days);
    let list: Vec<store::StoredFinding> = store
        .findings(filter)
        .await
        .context("while reading the findings")?
        .into_iter()
        .filter(|f| {
            // As it stood at `at`: arisen by then, and open then unless every state is asked for.
            f.state_at(at, due_soon)
                .is_some_and(|s| filter.all || s.is_open())
        })
        .collect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let due = |t: DateTime<Utc>| t.with_timezone(&chrono_tz::Asia::Shanghai);
    // Outside text (units, case numbers, the facts the rules quote) with its ID and mobile
    // numbers masked.
    let m = crate::mask::mask_text;
    match format {
        Format::Json => {
            let arr: Vec<serde_json::Value> = list
                .iter()
                .map(|f| {
                    json!({
                        "id": f.id,
                        "rule": f.rule,
                        "unit": m(units.display_name(&f.unit_id)),
                        "unit_id": f.unit_id,
                        "case_no": f.case_no.as_deref().map(m),
                        "state": state_at(f, at, cfg.rules.due_soon_days),
                        "due": due(f.due).to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                        "facts": crate::mask::mask_json(&f.facts),
                        "key": f.key,
                        "first_seen_at": f.first_seen_at,
                        "resolved_at": f.resolved_at,
                        "resolution": f.resolution.as_deref().map(m),
                        "waived_at": f.waived_at,
                        "waived_by": f.waived_by,
                        "waived_reason": f.waived_reason.as_deref().map(m),
                    })
                })
                .collect();
            serde_json::to_writer_pretty(&mut out, &arr)?;
            writeln!(out)?;
        }
        Format::Table | Format::Csv => {
            let headers = ["id", "rule", "unit", "case_no", "state", "due", "facts"];
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|f| {
                    let facts = crate::mask::mask_text(&f.facts.to_string());
                    let facts = if format == Format::Table && facts.chars().count() > 80 {
                        format!("{}…", facts.chars().take(79).collect::<String>())
                    } else {
                        facts
                    };
                    vec![
                        f.id.to_string(),
                        f.rule.to_string(),
                        m(units.display_name(&f.unit_id)),
                        m(f.case_no.as_deref().unwrap_or_default()),
                        state_at(f, at, cfg.rules.due_soon_days).to_string(),
                        end_of_day_text(due(f.due)),
                        facts,
                    ]
                })
                .collect();
            if format == Format::Csv {
                output::csv(&mut out, &headers, &rows)?;
            } else {
                write!(out, "{}", output::table(&headers, &rows))?;
                writeln!(out, "{} findings", rows.len())?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
