//! `obligations`, `record` and `sample`: the review sampling, the yearly duties and what people
//! record by hand.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use crate::domain::clock::Clock;
use crate::output::{self, Format};
use crate::records::Field;
use crate::records::{Feed, Value};
use crate::store;
use crate::units::Units;

use super::*;

pub(super) fn print_obligations(
    o: &crate::obligations::status::Obligations,
    format: Format,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let days = |d: &crate::obligations::status::Duty| {
        d.held_on
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    match format {
        Format::Json => {
            writeln!(out, "{}", serde_json::to_string_pretty(o)?)?;
        }
        Format::Table | Format::Csv => {
            let headers = [
                "unit",
                "quarter",
                "population",
                "target",
                "reviewed",
                "expected",
                "sampling",
                "training",
            ];
            let rows: Vec<Vec<String>> = o
                .units
                .iter()
                .map(|u| {
                    let s = &u.sampling;
                    vec![
                        u.unit.clone(),
                        s.quarter.to_string(),
                        s.population.to_string(),
                        s.target.to_string(),
                        s.reviewed.to_string(),
                        s.expected.to_string(),
                        s.state.as_str().to_string(),
                        u.training
                            .as_ref()
                            .or(o.training.as_ref())
                            .map(|d| d.state.as_str().to_string())
                            .unwrap_or_default(),
                    ]
                })
                .collect();
            if format == Format::Csv {
                output::csv(&mut out, &headers, &rows)?;
                return Ok(());
            }
            write!(out, "{}", output::table(&headers, &rows))?;
            writeln!(
                out,
                "as of {}: joint meeting {} {}",
                o.as_of,
                o.meeting.state.as_str(),
                days(&o.meeting)
            )?;
            if let Some(t) = &o.training {
                writeln!(out, "county training {} {}", t.state.as_str(), days(t))?;
            }
        }
    }
    Ok(())
}

/// `liandong record …`: stores what people did and prints one line saying what was stored.
pub(super) async fn record(cli: &Cli, what: &RecordCommand) -> anyhow::Result<ExitCode> {
    use crate::record::{self as rec, RecordError};
    let cfg = load_config(cli)?;
    let units = Units::new(&cfg.units);
    let cal = cfg.calendar()?;
    let store = store::open(&cfg.store).await?;
    let by = current_user();
    let now = Clock::Wall.wall();
    let usage = |e: RecordError| match e {
        RecordError::Store(s) => anyhow::Error::from(s),
        other => UsageError(other.to_string()).into(),
    };
    let verb = |c: store::RowCounts| match (c.inserted, c.updated) {
        (1, _) => "recorded",
        (_, 1) => "updated",
        _ => "unchanged:",
    };
    let line = match what {
        RecordCommand::Recommendation(a) | RecordCommand::Opinion(a) => {
            let (feed, months, noun) = match what {
                RecordCommand::Opinion(_) => (Feed::Opinions, cfg.rules.r8_months, "opinion"),
                _ => (Feed::Recommendations, cfg.rules.r7_months, "recommendation"),
            };
            let done =
                rec::record_document(store.as_ref(), &units, &cal, feed, months, a, &by, now)
                    .await
                    .map_err(usage)?;
            let r = &done.record;
            let mut line = format!(
                "{} {noun} {} to {}",
                verb(done.counts),
                r.case_no.as_written(),
                units.display_name(&r.unit_id)
            );
            match (r.get(Field::RepliedOn), done.due) {
                (Value::Date(d), _) => line.push_str(&format!("; replied {d}")),
                (_, Some(due)) => line.push_str(&format!("; reply due {due}")),
                _ => {}
            }
            line
        }
        RecordCommand::Review(a) => {
            let (r, counts) =
                rec::record_review(store.as_ref(), &units, &cfg.obligations, a, &by, now)
                    .await
                    .map_err(usage)?;
            format!(
                "{} review of {} ({})",
                verb(counts),
                r.case_no.as_written(),
                units.display_name(&r.unit_id)
            )
        }
        RecordCommand::Meeting(a) | RecordCommand::Training(a) => {
            let kind = match what {
                RecordCommand::Meeting(_) => "meeting",
                _ => "training",
            };
            let (r, counts) = rec::record_event(store.as_ref(), &units, kind, a, &by, now)
                .await
                .map_err(usage)?;
            format!(
                "{} {kind} {} ({})",
                verb(counts),
                r.case_no.as_written(),
                units.display_name(&r.unit_id)
            )
        }
    };
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn sample(cli: &Cli, cmd: &SampleCommand) -> anyhow::Result<ExitCode> {
    use crate::obligations::draws;
    let cfg = load_config(cli)?;
    let units = Units::new(&cfg.units);
    let unit_of = |u: &str| {
        units
            .resolve(u)
            .map(|u| u.id.clone())
            .ok_or_else(|| UsageError(format!("unit {u:?} is not configured")))
    };
    let store = store::open(&cfg.store).await?;
    let mut out = std::io::stdout().lock();
    match cmd {
        SampleCommand::Draw {
            unit,
            quarter,
            seed,
            as_of,
            format,
            xlsx,
        } => {
            let unit_id = unit_of(unit)?;
            let today = Clock::at(*as_of)
                .now()
                .with_timezone(&chrono_tz::Asia::Shanghai)
                .date_naive();
            let as_of = draws::default_as_of(*quarter, today);
            let seed = seed.clone().unwrap_or_else(draws::fresh_seed);
            let (record, drawn) = draws::draw(
                store.as_ref(),
                &cfg.obligations,
                &unit_id,
                *quarter,
                as_of,
                &seed,
                &current_user(),
                Clock::Wall.wall(),
            )
            .await?;
            let rows: Vec<Vec<String>> = drawn
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    vec![
                        (i + 1).to_string(),
                        f.case_no.clone(),
                        f.closed_on.to_string(),
                        if f.focused { "重点" } else { "随机" }.to_string(),
                        f.reviewed_on.map(|d| d.to_string()).unwrap_or_default(),
                    ]
                })
                .collect();
            if let Some(path) = xlsx {
                draws::write_xlsx(path, units.display_name(&unit_id), &record, &drawn)
                    .with_context(|| format!("while writing {}", path.display()))?;
            }
            let headers = ["#", "case_no", "closed_on", "pick", "reviewed_on"];
            match format {
                Format::Json => {
                    let v = json!({
                        "draw": record.id, "unit": units.display_name(&record.unit_id), "unit_id": record.unit_id,
                        "quarter": record.quarter, "seed": record.seed, "as_of": record.as_of.to_string(),
                        "basis": record.basis, "population": record.population.len(),
                        "population_hash": record.population_hash, "target": record.target,
                        "focus_max_percent": record.focus_max_percent,
                        "files": drawn.iter().map(|f| json!({
                            "case_no": f.case_no, "key": f.key, "closed_on": f.closed_on.to_string(),
                            "focused": f.focused, "reviewed_on": f.reviewed_on.map(|d| d.to_string()),
                        })).collect::<Vec<_>>(),
                    });
                    writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
                }
                Format::Csv => output::csv(&mut out, &headers, &rows)?,
                Format::Table => {
                    writeln!(
                        out,
                        "draw #{} — {} {}: population {} (as of {}, {}), target {} (focused at most {}%: {} focused, {} random), seed {}",
                        record.id,
                        units.display_name(&record.unit_id),
                        record.quarter,
                        record.population.len(),
                        record.as_of,
                        record.basis,
                        record.target,
                        record.focus_max_percent.unwrap_or(100),
                        drawn.iter().filter(|f| f.focused).count(),
                        drawn.iter().filter(|f| !f.focused).count(),
                        record.seed
                    )?;
                    writeln!(out, "population hash {}", record.population_hash)?;
                    write!(out, "{}", output::table(&headers, &rows))?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SampleCommand::Verify {
            unit,
            quarter,
            format,
        } => {
            let unit_id = unit_of(unit)?;
            let Some(record) = store
                .draws(&unit_id, &quarter.to_string())
                .await?
                .into_iter()
                .next()
            else {
                return Err(UsageError(format!(
                    "no draw is recorded for {} in {quarter}: run `liandong sample draw` first",
                    units.display_name(&unit_id)
                ))
                .into());
            };
            let v = draws::verify(store.as_ref(), &cfg.obligations, &record).await?;
            if *format == Format::Json {
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                let list = |v: &[String]| {
                    if v.is_empty() {
                        "none".to_string()
                    } else {
                        v.join(", ")
                    }
                };
                writeln!(
                    out,
                    "draw #{} of {} {} (seed {}, population as of {}):",
                    record.id,
                    units.display_name(&unit_id),
                    record.quarter,
                    record.seed,
                    record.as_of
                )?;
                writeln!(
                    out,
                    "  replay from the record: {}",
                    if v.replays {
                        "the same list"
                    } else {
                        "a DIFFERENT list — the record was altered"
                    }
                )?;
                if v.confirmed() {
                    writeln!(
                        out,
                        "  confirmed: the same population ({} files) and the same {} files",
                        record.population.len(),
                        record.drawn.len()
                    )?;
                } else {
                    writeln!(
                        out,
                        "  the population as of {} now: added {}; removed {}",
                        record.as_of,
                        list(&v.population_added),
                        list(&v.population_removed)
                    )?;
                    writeln!(
                        out,
                        "  focused picks: gained {}; lost {}",
                        list(&v.focus_gained),
                        list(&v.focus_lost)
                    )?;
                    writeln!(
                        out,
                        "  drawn now: added {}; removed {}",
                        list(&v.drawn_added),
                        list(&v.drawn_removed)
                    )?;
                }
            }
            Ok(if v.confirmed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
