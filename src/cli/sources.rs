//! `sync`, `status` and `cases`: the sources, their freshness and quarantine, and what the
//! store holds.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::config::Config;
use crate::output::{self, Format};
use crate::records::{Feed, FieldKind, Value};
use crate::store::Store;
use crate::sync::{self, Freshness};
use crate::units::Units;

use super::*;

/// One case listed twice with different values, as `sync` and `status` show it: the file, both
/// rows, the case number (masked) and the fields that differ.
pub(super) fn repeat_line(it: &crate::store::RepeatItem) -> String {
    let m = crate::mask::mask_text;
    let rows = if it.earlier_location == it.location {
        format!(
            "{}: rows {} and {}",
            m(&it.location),
            it.earlier_row,
            it.row
        )
    } else {
        format!(
            "{} row {} and {} row {}",
            m(&it.earlier_location),
            it.earlier_row,
            m(&it.location),
            it.row
        )
    };
    format!(
        "{rows} list {} with different {}; the later row is kept",
        m(&it.case_no),
        it.fields().join(", ")
    )
}

/// The table of what each source did, each source's error, and the cases its files listed
/// twice with different values (`repeats`: those recorded by this run, newest first).
pub(super) fn print_sync(outcomes: &[sync::SourceOutcome], repeats: &[crate::store::RepeatEntry]) {
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            let c = &o.counts;
            vec![
                o.source.clone(),
                if o.error.is_some() {
                    "error".into()
                } else if o.skipped.is_some() {
                    "skipped".into()
                } else {
                    "ok".into()
                },
                c.seen.to_string(),
                c.inserted.to_string(),
                c.updated.to_string(),
                c.unchanged.to_string(),
                c.quarantined.to_string(),
                c.unknown_unit.to_string(),
                c.repeated.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        output::table(
            &[
                "source",
                "result",
                "seen",
                "inserted",
                "updated",
                "unchanged",
                "quarantined",
                "unknown unit",
                "repeated"
            ],
            &rows
        )
    );
    for o in outcomes {
        if let Some(e) = o.error.as_ref().or(o.skipped.as_ref()) {
            println!("{}: {}", o.source, crate::mask::mask_text(e));
        }
    }
    for o in outcomes.iter().filter(|o| o.counts.repeated > 0) {
        let n = o.counts.repeated;
        println!(
            "{}: {n} row{} listed a case again with different values:",
            o.source,
            if n == 1 { "" } else { "s" }
        );
        let shown: Vec<_> = repeats.iter().filter(|r| r.source == o.source).collect();
        for r in &shown {
            println!("  {}", repeat_line(&r.item));
        }
        if (shown.len() as u64) < n {
            println!(
                "  … and {} more: see `liandong status --quarantine {n}`",
                n - shown.len() as u64
            );
        }
    }
    if outcomes.is_empty() {
        println!("no sources configured or enabled");
    }
}

pub(super) async fn status(
    cfg: &Config,
    store: &dyn Store,
    now: DateTime<Utc>,
    format: Format,
    limit: i64,
) -> anyhow::Result<ExitCode> {
    let states = store.source_states().await?;
    let mut sources = Vec::new();
    for src in &cfg.sources {
        let st = states.iter().find(|s| s.name == src.name);
        let fresh = sync::freshness(src, st, now);
        sources.push((src, st.cloned().unwrap_or_default(), fresh));
    }
    let quarantined: Vec<_> = store
        .quarantined(None, limit)
        .await?
        .iter()
        .map(masked_quarantine)
        .collect();
    let repeats = store.repeats(None, limit).await?;
    let unknown: Vec<_> = store
        .unknown_units()
        .await?
        .into_iter()
        .map(|(f, u, n)| (f, crate::mask::mask_text(&u), n))
        .collect();
    let cal = cfg.calendar()?;
    let today = now.with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let calendar_warnings = cal.warnings(today, crate::app::preflight::CALENDAR_LOOKAHEAD_DAYS);
    let config_warnings = crate::app::preflight::warnings(cfg);
    let mut counts = Vec::new();
    for feed in Feed::ALL {
        counts.push((feed, store.record_count(feed).await?));
    }
    let outbox = store.outbox_counts().await?;
    let jobs = store.job_states(crate::domain::clock::wall()).await?;
    let outbox_of = |state: &str| {
        outbox
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n)
    };
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            let v = json!({
                "as_of": now.with_timezone(&chrono_tz::Asia::Shanghai).to_rfc3339(),
                "store": { "url": cfg.store.url.redacted(), "backend": store.backend(),
                           "records": counts.iter().map(|(f, n)| (f.table().to_string(), json!(n))).collect::<serde_json::Map<_, _>>() },
                "sources": sources.iter().map(|(src, st, fresh)| json!({
                    "name": src.name, "kind": format!("{:?}", src.kind).to_lowercase(), "feeds": format!("{:?}", src.feeds).to_lowercase(),
                    "freshness": fresh, "last_run_at": st.last_run_at, "last_success_at": st.last_success_at,
                    "last_error_at": st.last_error_at, "last_error": st.last_error.as_deref().map(crate::mask::mask_text),
                    "cursor": st.cursor, "last_run": st.counts,
                })).collect::<Vec<_>>(),
                "quarantine": quarantined,
                "repeats": repeats.iter().map(|r| {
                    let mut r = r.clone();
                    let m = crate::mask::mask_text;
                    (r.item.location, r.item.earlier_location, r.item.case_no) =
                        (m(&r.item.location), m(&r.item.earlier_location), m(&r.item.case_no));
                    r
                }).collect::<Vec<_>>(),
                "unknown_units": unknown.iter().map(|(f, u, n)| json!({"feed": f.table(), "unit": u, "rows": n})).collect::<Vec<_>>(),
                "calendar": { "years": cal.years(), "warnings": calendar_warnings },
                "configuration": { "warnings": config_warnings },
                "outbox": outbox.iter().map(|(s, n)| (s.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
                "jobs": jobs,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        Format::Table | Format::Csv => {
            let headers = [
                "source",
                "kind",
                "feeds",
                "freshness",
                "last success",
                "last error",
                "seen",
                "inserted",
                "updated",
                "unchanged",
                "quarantined",
                "repeated",
            ];
            let rows: Vec<Vec<String>> = sources
                .iter()
                .map(|(src, st, fresh)| {
                    let c = &st.counts;
                    vec![
                        src.name.clone(),
                        format!("{:?}", src.kind).to_lowercase(),
                        format!("{:?}", src.feeds).to_lowercase(),
                        fresh.as_str().to_string(),
                        time(st.last_success_at),
                        time(st.last_error_at),
                        c.seen.to_string(),
                        c.inserted.to_string(),
                        c.updated.to_string(),
                        c.unchanged.to_string(),
                        c.quarantined.to_string(),
                        c.repeated.to_string(),
                    ]
                })
                .collect();
            if format == Format::Csv {
                output::csv(&mut out, &headers, &rows)?;
                return Ok(ExitCode::SUCCESS);
            }
            write!(out, "{}", output::table(&headers, &rows))?;
            for w in calendar_warnings.iter().chain(&config_warnings) {
                writeln!(out, "warning: {w}")?;
            }
            for (src, st, fresh) in &sources {
                if *fresh == Freshness::Error
                    && let Some(e) = &st.last_error
                {
                    writeln!(out, "  {} failed: {}", src.name, crate::mask::mask_text(e))?;
                }
            }
            let totals: Vec<String> = counts
                .iter()
                .map(|(f, n)| format!("{n} {}", f.table()))
                .collect();
            writeln!(
                out,
                "\nstore: {} ({}), {}",
                cfg.store.url,
                store.backend(),
                totals.join(", ")
            )?;
            if !outbox.is_empty() {
                let states: Vec<String> = outbox.iter().map(|(s, n)| format!("{n} {s}")).collect();
                writeln!(out, "outbox: {}", states.join(", "))?;
                if outbox_of("dead") > 0 {
                    writeln!(
                        out,
                        "  {} messages could not be delivered: see `liandong outbox --state dead`",
                        outbox_of("dead")
                    )?;
                }
            }
            if !jobs.is_empty() {
                writeln!(out, "\njobs of the daemon (latest finished slot):")?;
                for j in &jobs {
                    let running = j
                        .running
                        .as_ref()
                        .map(|r| {
                            format!(
                                " — running the slot of {} in {}",
                                time(Some(r.slot)),
                                r.owner
                            )
                        })
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "  {:<24} {} {} {}{running}",
                        j.job,
                        time(j.last_slot),
                        j.last_outcome.as_deref().unwrap_or("-"),
                        crate::mask::mask_text(j.last_detail.as_deref().unwrap_or(""))
                    )?;
                    for a in &j.abandoned {
                        let then = match a.superseded_by {
                            Some(l) => format!(
                                "the slot of {} was claimed since: it is closed as superseded at a daemon's next tick",
                                time(Some(l))
                            ),
                            None => {
                                "not run again yet: a daemon runs it again at its next tick".into()
                            }
                        };
                        writeln!(
                            out,
                            "    abandoned: the slot of {}, left unfinished by {} (its lease ran out at {}); {then}",
                            time(Some(a.slot)),
                            a.owner,
                            time(Some(a.since))
                        )?;
                    }
                    if let Some(r) = &j.last_superseded
                        && j.last_slot != Some(r.slot)
                    {
                        writeln!(
                            out,
                            "    superseded: the slot of {}: {}",
                            time(Some(r.slot)),
                            crate::mask::mask_text(r.detail.as_deref().unwrap_or(""))
                        )?;
                    }
                }
            }
            if !unknown.is_empty() {
                writeln!(
                    out,
                    "\nrows whose unit is not configured (add it to [[units]] or as an alias):"
                )?;
                for (f, u, n) in &unknown {
                    writeln!(out, "  {u}: {n} {}", f.table())?;
                }
            }
            if !quarantined.is_empty() {
                writeln!(
                    out,
                    "\nquarantined rows (newest first; file:row:field: reason):"
                )?;
                for q in &quarantined {
                    let it = &q.item;
                    let col = it
                        .column
                        .as_deref()
                        .map(|c| format!(" [{c}]"))
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "  {} {}:{}:{}{}: {} (value {:?})",
                        q.source, it.location, it.row, it.field, col, it.reason, it.value
                    )?;
                }
            }
            if !repeats.is_empty() {
                writeln!(
                    out,
                    "\ncases listed twice in one import with different values (newest first):"
                )?;
                for r in &repeats {
                    writeln!(
                        out,
                        "  {} {} (last seen {})",
                        r.source,
                        repeat_line(&r.item),
                        time(Some(r.last_seen_at))
                    )?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One stored value as text for a person: ID fields masked whole, ID and mobile numbers inside
/// any other text masked where they stand.
fn shown(kind: FieldKind, v: &Value) -> String {
    match (kind, v) {
        (FieldKind::Pii, Value::Text(s)) => crate::mask::mask_id(s),
        (_, Value::Text(s)) => crate::mask::mask_text(s),
        _ => v.display(),
    }
}

/// Rows read from the store per page while listing.
const LIST_PAGE: i64 = 5000;

pub(super) async fn cases(
    store: &dyn Store,
    units: &Units,
    feed: Feed,
    unit: Option<&str>,
    format: Format,
) -> anyhow::Result<()> {
    let mut headers = vec!["unit", "case_no"];
    headers.extend(feed.fields().iter().map(|f| f.name));
    headers.push("source");
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // CSV goes through its own writer (stdout's lock is reentrant); nothing else is written then.
    let mut csv_out = match format {
        Format::Csv => Some(output::csv_writer(
            std::io::BufWriter::new(std::io::stdout()),
            &headers,
        )?),
        _ => None,
    };
    let mut widths: Option<Vec<usize>> = None;
    let mut after: Option<(String, String)> = None;
    let mut n: u64 = 0;
    if format == Format::Json {
        write!(out, "[")?;
    }
    // Page by page, so that listing millions of cases needs no more memory than one page.
    loop {
        let page = store
            .records_after(
                feed,
                unit,
                after.as_ref().map(|(u, k)| (u.as_str(), k.as_str())),
                LIST_PAGE,
            )
            .await
            .context("while reading the store")?;
        let Some(last) = page.last() else { break };
        after = Some((
            last.record.unit_id.clone(),
            last.record.case_no.key().to_string(),
        ));
        match format {
            Format::Json => {
                for s in &page {
                    write!(out, "{}\n  ", if n == 0 { "" } else { "," })?;
                    serde_json::to_writer(&mut out, &case_json(units, feed, s))?;
                    n += 1;
                }
            }
            Format::Table | Format::Csv => {
                let rows: Vec<Vec<String>> =
                    page.iter().map(|s| case_row(units, feed, s)).collect();
                n += rows.len() as u64;
                if let Some(w) = csv_out.as_mut() {
                    for r in &rows {
                        w.write_record(r)?;
                    }
                } else {
                    let w = match widths.as_ref() {
                        Some(w) => w,
                        None => {
                            let w = widths.insert(output::widths(&headers, &rows));
                            write!(out, "{}", output::table_header(&headers, w))?;
                            w
                        }
                    };
                    for r in &rows {
                        write!(out, "{}", output::table_line(r, w))?;
                    }
                }
            }
        }
        if (page.len() as i64) < LIST_PAGE {
            break;
        }
    }
    match format {
        Format::Json => writeln!(out, "{}]", if n == 0 { "" } else { "\n" })?,
        Format::Csv => {
            if let Some(mut w) = csv_out {
                w.flush()?;
            }
        }
        Format::Table => {
            if widths.is_none() {
                write!(out, "{}", output::table(&headers, &[]))?;
            }
            writeln!(out, "{n} {}", feed.table())?;
        }
    }
    out.flush()?;
    Ok(())
}

/// One stored record as the JSON object of `cases --format json`; ID and mobile numbers masked
/// in every text (see [`shown`]).
fn case_json(units: &Units, feed: Feed, s: &crate::store::StoredRecord) -> serde_json::Value {
    let r = &s.record;
    let mut m = serde_json::Map::new();
    m.insert("id".into(), json!(s.id));
    m.insert(
        "unit".into(),
        json!(crate::mask::mask_text(units.display_name(&r.unit_id))),
    );
    m.insert("unit_id".into(), json!(r.unit_known.then_some(&r.unit_id)));
    m.insert("unit_known".into(), json!(r.unit_known));
    m.insert(
        "case_no".into(),
        json!(crate::mask::mask_text(r.case_no.as_written())),
    );
    m.insert(
        "case_key".into(),
        json!(crate::mask::mask_text(r.case_no.key())),
    );
    for (spec, v) in feed.fields().iter().zip(&r.values) {
        let val = match v {
            Value::Text(_) => json!(shown(spec.kind, v)),
            _ => v.to_json(),
        };
        m.insert(spec.name.into(), val);
    }
    m.insert("source".into(), json!(s.source));
    m.insert(
        "first_seen_at".into(),
        Value::DateTime(s.first_seen_at).to_json(),
    );
    m.insert("changed_at".into(), Value::DateTime(s.changed_at).to_json());
    serde_json::Value::Object(m)
}

/// One stored record as a table or CSV row; ID and mobile numbers masked in every text.
fn case_row(units: &Units, feed: Feed, s: &crate::store::StoredRecord) -> Vec<String> {
    let r = &s.record;
    let mut row = vec![
        crate::mask::mask_text(units.display_name(&r.unit_id)),
        crate::mask::mask_text(r.case_no.as_written()),
    ];
    row.extend(
        feed.fields()
            .iter()
            .zip(&r.values)
            .map(|(spec, v)| shown(spec.kind, v)),
    );
    row.push(s.source.clone());
    row
}

/// A quarantined row as `status` shows it: its value, reason and raw text masked again, for rows
/// quarantined before the masking found numbers inside text (new ones are masked as they are
/// written, see [`crate::sources::quarantine_items`]).
fn masked_quarantine(q: &crate::store::QuarantineEntry) -> crate::store::QuarantineEntry {
    let m = crate::mask::mask_text;
    let mut q = q.clone();
    let it = &mut q.item;
    (it.location, it.field, it.value, it.reason, it.raw) = (
        m(&it.location),
        m(&it.field),
        m(&it.value),
        m(&it.reason),
        m(&it.raw),
    );
    it.column = it.column.as_deref().map(m);
    q
}
