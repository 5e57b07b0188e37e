//! The weekly report as an XLSX workbook: a summary sheet with the table and a native Excel
//! chart (open and overdue findings of the units that rank first), and one sheet per detail
//! list (open findings, new this week, resolved this week). Column widths count a Chinese
//! character as two.
//!
//! The detail lists come from the store alone and the summary from the computed report, so the
//! workbook is made in two steps that can run apart: [`details`] writes the detail sheets (most
//! of the work: one row per finding), [`Details::finish`] the summary and the file.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hash;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Asia::Shanghai;
use rust_xlsxwriter::{Chart, ChartType, Format, FormatBorder, Workbook, Worksheet, XlsxError};

use super::Weekly;
use super::render::{cells, headers};
use crate::store::FindingRow;
use crate::units::Units;

/// Units shown in the chart at most (the first by rank).
pub const CHART_UNITS: usize = 30;

/// The summary sheet, first in the workbook; the chart refers to its cells by this name.
const SUMMARY: &str = "周报汇总";

/// Deflate level of the file. The detail sheets are tens of megabytes of XML (70 MB for 82,000
/// findings): level 2 deflates them in about a third of the time of the default (6), for a
/// file 16 % larger (5.7 MB instead of 4.9 MB); level 1 would save a little more time for a
/// file 60 % larger.
const ZIP_LEVEL: u8 = 2;

/// A column width for text as Excel counts it: CJK and full-width characters take two.
pub fn text_width(s: &str) -> f64 {
    let w: usize = s
        .chars()
        .map(|c| {
            if (c as u32) >= 0x1100 && !c.is_ascii() {
                2
            } else {
                1
            }
        })
        .sum();
    w as f64
}

/// The width of a column whose longest text is `longest` wide.
fn fit(longest: f64) -> f64 {
    (longest + 2.0).clamp(6.0, 60.0)
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn head_format() -> Format {
    Format::new()
        .set_bold()
        .set_border(FormatBorder::Thin)
        .set_background_color("F2F2F2")
}

fn cell_format() -> Format {
    Format::new().set_border(FormatBorder::Thin)
}

fn col(c: usize) -> u16 {
    u16::try_from(c).unwrap_or(u16::MAX)
}

fn row(r: usize) -> u32 {
    u32::try_from(r).unwrap_or(u32::MAX)
}

/// The columns every detail list starts with; [`finding_cells`] fills them.
const FINDING_HEADERS: [&str; 5] = ["单位", "规则", "事项", "案号", "期限"];

/// Writes a detail list into its sheet: the headers ([`FINDING_HEADERS`], then `more`), a row
/// per item of `rows`, the column widths fitted at the end. Data cells carry no format: a
/// format is looked up per cell, the larger part of the cost of a cell.
fn detail_sheet<'a>(
    sheet: &mut Worksheet,
    more: &[&str],
    rows: impl Iterator<Item = Vec<Cow<'a, str>>>,
) -> Result<(), XlsxError> {
    let head = head_format();
    let headers: Vec<&str> = FINDING_HEADERS.iter().chain(more).copied().collect();
    let mut longest: Vec<f64> = headers.iter().map(|h| text_width(h)).collect();
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(0, col(c), *h, &head)?;
    }
    for (i, cells) in rows.enumerate() {
        for (c, v) in cells.into_iter().enumerate() {
            if let Some(l) = longest.get_mut(c) {
                *l = l.max(text_width(&v));
            }
            sheet.write_string(row(i + 1), col(c), v)?;
        }
    }
    for (c, w) in longest.into_iter().enumerate() {
        sheet.set_column_width(col(c), fit(w))?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

/// `f` of each key, computed once: a week's findings share a few hundred deadlines and one or
/// two evaluation times, and formatting a time in Asia/Shanghai is much of the cost of a row.
fn memo<K: Hash + Eq + Copy>(f: impl Fn(K) -> String) -> impl FnMut(K) -> String {
    let mut seen: HashMap<K, String> = HashMap::new();
    move |k| seen.entry(k).or_insert_with(|| f(k)).clone()
}

/// A detail list's row: unit, rule, what the rule asks, case, deadline (`due`), then `more`.
fn finding_cells<'a>(
    f: &'a FindingRow,
    units: &'a Units,
    due: String,
    more: impl IntoIterator<Item = Cow<'a, str>>,
) -> Vec<Cow<'a, str>> {
    let mut cells: Vec<Cow<'a, str>> = vec![
        units.display_name(&f.unit_id).into(),
        f.rule.as_str().into(),
        f.rule.title_zh().into(),
        f.case_no.as_deref().unwrap_or_default().into(),
        due.into(),
    ];
    cells.extend(more);
    cells
}

/// A workbook whose detail sheets are written and whose summary sheet waits for the report.
pub struct Details {
    book: Workbook,
}

/// The detail sheets of the week's `findings` (see [`crate::store::Store::finding_rows`]): the
/// open ones, and those first seen or resolved after `since` and at or before `now`.
pub fn details(
    findings: &[FindingRow],
    units: &Units,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Details, XlsxError> {
    let mut book = Workbook::new();
    book.set_zip_compression_level(ZIP_LEVEL);
    // The summary comes first; it is filled when the report is there. The detail sheets are
    // written row by row to temporary files, not kept in memory: a week may list every open
    // finding of the county.
    book.add_worksheet().set_name(SUMMARY)?;
    for name in ["未办结事项", "本周新增", "本周办结"] {
        book.add_worksheet_with_constant_memory()?.set_name(name)?;
    }
    let [_, open, new, resolved] = &mut book.worksheets_mut()[..] else {
        return Err(XlsxError::ParameterError(
            "the workbook has not the four sheets it was given".into(),
        ));
    };
    // The deadline's day: a deadline is the end of its last day (00:00 of the next).
    let day = || memo(|due: DateTime<Utc>| local(due - TimeDelta::seconds(1))[..10].to_string());
    // The two long lists at once, each on a thread of its own (each sheet has its own file).
    std::thread::scope(|s| {
        let writing_new = s.spawn(|| {
            let (mut day, mut time) = (day(), memo(local));
            let rows = findings
                .iter()
                .filter(|f| f.is_new_in(since, now))
                .map(|f| finding_cells(f, units, day(f.due), [time(f.first_seen_at).into()]));
            detail_sheet(new, &["发现时间"], rows)
        });
        let mut day = day();
        let rows = findings.iter().filter(|f| f.is_open_at(now)).map(|f| {
            let state = if f.is_overdue_at(now) {
                "已逾期"
            } else {
                "未到期"
            };
            finding_cells(f, units, day(f.due), [state.into()])
        });
        detail_sheet(open, &["状态"], rows)?;
        writing_new
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })?;
    let (mut day, mut time) = (day(), memo(local));
    let rows = findings
        .iter()
        .filter(|f| f.is_resolved_in(since, now))
        .map(|f| {
            finding_cells(
                f,
                units,
                day(f.due),
                [
                    f.resolved_at.map(&mut time).unwrap_or_default().into(),
                    f.resolution.as_deref().unwrap_or_default().into(),
                ],
            )
        });
    detail_sheet(resolved, &["办结时间", "办结情况"], rows)?;
    Ok(Details { book })
}

impl Details {
    /// Writes the summary of `r` — the table, then the chart beside it — and returns the
    /// workbook's bytes.
    pub fn finish(mut self, r: &Weekly) -> Result<Vec<u8>, XlsxError> {
        let (head, cell) = (head_format(), cell_format());
        let sheet: &mut Worksheet = self.book.worksheet_from_name(SUMMARY)?;
        let h = headers(r);
        let rows: Vec<Vec<String>> = r.units.iter().map(|u| cells(r, u)).collect();
        // Rank, the counts and the findings by rule are numbers.
        let numeric =
            |c: usize| c == 0 || (3..7).contains(&c) || (8..8 + r.rules.len()).contains(&c);
        for (c, name) in h.iter().enumerate() {
            let longest = rows
                .iter()
                .filter_map(|r| r.get(c))
                .map(|s| text_width(s))
                .fold(text_width(name), f64::max);
            sheet.set_column_width(col(c), fit(longest))?;
            sheet.write_string_with_format(0, col(c), name, &head)?;
        }
        for (i, cells) in rows.iter().enumerate() {
            for (c, v) in cells.iter().enumerate() {
                match v.parse::<f64>() {
                    Ok(n) if numeric(c) => {
                        sheet.write_number_with_format(row(i + 1), col(c), n, &cell)?
                    }
                    _ => sheet.write_string_with_format(row(i + 1), col(c), v, &cell)?,
                };
            }
        }
        sheet.set_freeze_panes(1, 0)?;
        let n = r.units.len().min(CHART_UNITS);
        if n > 0 {
            let last = row(n);
            let mut chart = Chart::new(ChartType::Column);
            chart
                .title()
                .set_name(&format!("各单位未办结与逾期事项（{}，前{n}名）", r.week));
            // Column 1 is the unit, 3 the open findings, 4 the overdue ones.
            chart
                .add_series()
                .set_name("未办结")
                .set_categories((SUMMARY, 1, 1, last, 1))
                .set_values((SUMMARY, 1, 3, last, 3));
            chart
                .add_series()
                .set_name("逾期")
                .set_categories((SUMMARY, 1, 1, last, 1))
                .set_values((SUMMARY, 1, 4, last, 4));
            chart.set_width(960).set_height(420);
            sheet.insert_chart(last + 2, 1, &chart)?;
        }
        self.book.save_to_buffer()
    }
}

/// The workbook's bytes in one go: [`details`], then [`Details::finish`].
pub fn workbook(
    r: &Weekly,
    findings: &[FindingRow],
    cfg: &crate::config::Config,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, XlsxError> {
    details(findings, &Units::new(&cfg.units), since, now)?.finish(r)
}
