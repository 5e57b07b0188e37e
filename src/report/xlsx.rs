//! The weekly report as an XLSX workbook: a summary sheet — a title and the report's time, the
//! table (lagging units first, in red), a legend of the rule columns and a native Excel chart
//! (open and overdue findings of the units that rank first) under it — and one sheet per detail
//! list (open findings, new this week, resolved this week) with an autofilter. Every sheet
//! prints on A4 landscape, one page wide, its header row repeated on each page; deadlines and
//! times are Excel dates, the sampling progress a percentage. Column widths count a Chinese
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
use rust_xlsxwriter::{
    Chart, ChartType, Color, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet,
    XlsxError,
};

use super::Weekly;
use super::render::{Cell, headers, legend, typed_cells};
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

/// The width of a column whose longest text is `longest` wide (with room for the filter
/// button and the wider glyphs of Chinese fonts).
fn fit(longest: f64) -> f64 {
    (longest * 1.1 + 3.0).clamp(6.0, 60.0)
}

/// An instant as an Excel date and time in Asia/Shanghai (days since 1899-12-30); Excel has no
/// time zones.
fn excel_time(t: DateTime<Utc>) -> f64 {
    let local = t
        .with_timezone(&Shanghai)
        .naive_local()
        .and_utc()
        .timestamp();
    ExcelDateTime::from_timestamp(local).map_or(0.0, |d| d.to_excel())
}

/// The number formats of dates and times.
const DAY_FORMAT: &str = "yyyy-mm-dd";
const TIME_FORMAT: &str = "yyyy-mm-dd hh:mm";

/// Page setup for every sheet: A4 landscape, one page wide and as many long as it takes, the
/// rows `head` repeated at the top of each page, the report and page numbers in the margins.
fn page_setup(sheet: &mut Worksheet, head: u32, title: &str) -> Result<(), XlsxError> {
    sheet.set_paper_size(9);
    sheet.set_landscape();
    sheet.set_print_fit_to_pages(1, 0);
    sheet.set_print_center_horizontally(true);
    sheet.set_margins(0.5, 0.5, 0.6, 0.6, 0.3, 0.3);
    sheet.set_repeat_rows(head, head)?;
    sheet.set_header(format!("&L{}&R&A", title.replace('&', "&&")));
    sheet.set_footer("&C第 &P 页，共 &N 页");
    Ok(())
}

fn head_format() -> Format {
    Format::new()
        .set_bold()
        .set_border(FormatBorder::Thin)
        .set_background_color("F2F2F2")
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
        .set_text_wrap()
}

fn col(c: usize) -> u16 {
    u16::try_from(c).unwrap_or(u16::MAX)
}

fn row(r: usize) -> u32 {
    u32::try_from(r).unwrap_or(u32::MAX)
}

/// The columns every detail list starts with; [`finding_cells`] fills them.
const FINDING_HEADERS: [&str; 5] = ["单位", "规则", "事项", "案号", "期限"];

/// A detail list's cell: text, or an Excel date and time (a number the column formats).
enum Val<'a> {
    Text(Cow<'a, str>),
    Time(f64),
}

/// A detail list's column after the [`FINDING_HEADERS`]: its name and whether it holds times.
#[derive(Clone, Copy)]
struct More {
    name: &'static str,
    time: bool,
}

/// Writes a detail list into its sheet: the headers ([`FINDING_HEADERS`], then `more`), a row
/// per item of `rows`, the column widths fitted at the end, an autofilter over them, the pane
/// frozen under the headers. Data cells carry no format of their own: a format is looked up per
/// cell, the larger part of the cost of a cell; the date columns have a column format instead.
fn detail_sheet<'a>(
    sheet: &mut Worksheet,
    more: &[More],
    title: &str,
    rows: impl Iterator<Item = Vec<Val<'a>>>,
) -> Result<(), XlsxError> {
    let head = head_format();
    let headers: Vec<&str> = FINDING_HEADERS
        .iter()
        .copied()
        .chain(more.iter().map(|m| m.name))
        .collect();
    // The deadline is a day, the other time columns a day and a time.
    let day = Format::new().set_num_format(DAY_FORMAT);
    let time = Format::new().set_num_format(TIME_FORMAT);
    let last = col(headers.len() - 1);
    sheet.set_column_format(4, &day)?;
    for (c, m) in more.iter().enumerate() {
        if m.time {
            sheet.set_column_format(col(FINDING_HEADERS.len() + c), &time)?;
        }
    }
    let mut longest: Vec<f64> = headers.iter().map(|h| text_width(h)).collect();
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(0, col(c), *h, &head)?;
    }
    let mut n = 0;
    for (i, cells) in rows.enumerate() {
        n = i + 1;
        for (c, v) in cells.into_iter().enumerate() {
            match v {
                Val::Text(v) => {
                    if let Some(l) = longest.get_mut(c) {
                        *l = l.max(text_width(&v));
                    }
                    sheet.write_string(row(i + 1), col(c), v)?;
                }
                Val::Time(t) => {
                    sheet.write_number(row(i + 1), col(c), t)?;
                }
            }
        }
    }
    for (c, w) in longest.into_iter().enumerate() {
        let w = match c {
            4 => 12.0,
            c if more
                .get(c.wrapping_sub(FINDING_HEADERS.len()))
                .is_some_and(|m| m.time) =>
            {
                17.0
            }
            _ => fit(w),
        };
        sheet.set_column_width(col(c), w)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, row(n), last)?;
    page_setup(sheet, 0, title)
}

/// `f` of each key, computed once: a week's findings share a few hundred deadlines and one or
/// two evaluation times, and converting a time to Asia/Shanghai is much of the cost of a row.
fn memo<K: Hash + Eq + Copy, V: Copy>(f: impl Fn(K) -> V) -> impl FnMut(K) -> V {
    let mut seen: HashMap<K, V> = HashMap::new();
    move |k| *seen.entry(k).or_insert_with(|| f(k))
}

/// A detail list's row: unit, rule, what the rule asks, case, deadline (`due`, an Excel day),
/// then `more`.
fn finding_cells<'a>(
    f: &'a FindingRow,
    units: &'a Units,
    due: f64,
    more: impl IntoIterator<Item = Val<'a>>,
) -> Vec<Val<'a>> {
    let mut cells: Vec<Val<'a>> = vec![
        Val::Text(units.display_name(&f.unit_id).into()),
        Val::Text(rule_name(f.rule).into()),
        Val::Text(f.rule.title_zh().into()),
        Val::Text(f.case_no.as_deref().unwrap_or_default().into()),
        Val::Time(due),
    ];
    cells.extend(more);
    cells
}

/// A rule as the detail lists name it: `移送未录平台（R1）`, the code a hint to the findings
/// listed elsewhere.
fn rule_name(rule: crate::domain::rule::RuleId) -> &'static str {
    use crate::domain::rule::RuleId;
    // Each rule's name, made once.
    static NAMES: std::sync::OnceLock<Vec<(RuleId, String)>> = std::sync::OnceLock::new();
    NAMES
        .get_or_init(|| {
            RuleId::ALL
                .iter()
                .map(|r| (*r, format!("{}（{}）", r.short_zh(), r.as_str())))
                .collect()
        })
        .iter()
        .find(|(r, _)| *r == rule)
        .map_or("", |(_, n)| n.as_str())
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
    let title = format!("府检联动落后单位周报 {}", super::week_label(now));
    // The deadline's day: a deadline is the end of its last day (00:00 of the next).
    let day = || memo(|due: DateTime<Utc>| excel_time(due - TimeDelta::seconds(1)).floor());
    let more = |name| More { name, time: false };
    let at = |name| More { name, time: true };
    // The two long lists at once, each on a thread of its own (each sheet has its own file).
    std::thread::scope(|s| {
        let writing_new = s.spawn(|| {
            let (mut day, mut time) = (day(), memo(excel_time));
            let rows = findings
                .iter()
                .filter(|f| f.is_new_in(since, now))
                .map(|f| finding_cells(f, units, day(f.due), [Val::Time(time(f.arose_at))]));
            // When the obligation arose, as the data tells (not when liandong first saw it).
            detail_sheet(new, &[at("发生时间")], &title, rows)
        });
        let mut day = day();
        let rows = findings.iter().filter(|f| f.is_open_at(now)).map(|f| {
            let state = if f.is_overdue_at(now) {
                "已逾期"
            } else {
                "未到期"
            };
            finding_cells(f, units, day(f.due), [Val::Text(state.into())])
        });
        detail_sheet(open, &[more("状态")], &title, rows)?;
        writing_new
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })?;
    let (mut day, mut time) = (day(), memo(excel_time));
    let rows = findings
        .iter()
        .filter(|f| f.is_resolved_in(since, now))
        .map(|f| {
            let resolved = f
                .resolved_at
                .map_or(Val::Text("".into()), |t| Val::Time(time(t)));
            finding_cells(
                f,
                units,
                day(f.due),
                [
                    resolved,
                    Val::Text(f.resolution.as_deref().unwrap_or_default().into()),
                ],
            )
        });
    detail_sheet(resolved, &[at("办结时间"), more("办结情况")], &title, rows)?;
    Ok(Details { book })
}

/// The summary's rows: the title and the report's time above the table's header row.
const SUMMARY_HEAD: u32 = 2;

/// The widest a summary column grows before its text wraps.
const SUMMARY_WRAP: f64 = 24.0;

/// The summary column's width: its longest cell, its name wrapped on two lines at most.
fn summary_width(name: &str, longest: f64) -> f64 {
    let name = (text_width(name) / 2.0).ceil().max(4.0) + 1.0;
    (longest.max(name) * 1.1 + 1.5).min(SUMMARY_WRAP + 1.5)
}

/// How many lines `text` takes in a column `width` wide.
fn lines(text: &str, width: f64) -> f64 {
    (text_width(text) / (width - 1.0).max(1.0)).ceil().max(1.0)
}

/// The summary table's cell formats: by kind of cell, in black or (a lagging unit) red.
struct SummaryFormats {
    text: [Format; 2],
    count: [Format; 2],
    change: [Format; 2],
    percent: [Format; 2],
}

impl SummaryFormats {
    fn new() -> SummaryFormats {
        let both = |f: Format| [f.clone(), f.set_font_color(Color::RGB(0xC0_00_00))];
        let cell = Format::new()
            .set_border(FormatBorder::Thin)
            .set_align(FormatAlign::VerticalCenter);
        SummaryFormats {
            text: both(cell.clone().set_text_wrap()),
            count: both(cell.clone()),
            change: both(cell.clone().set_num_format("+0;-0;0")),
            percent: both(cell.set_num_format("0%").set_align(FormatAlign::Center)),
        }
    }
}

impl Details {
    /// Writes the summary of `r` — the title and the report's time, the table, the legend of
    /// the rule columns, the chart under them — and returns the workbook's bytes.
    pub fn finish(mut self, r: &Weekly) -> Result<Vec<u8>, XlsxError> {
        let head = head_format();
        let formats = SummaryFormats::new();
        let sheet: &mut Worksheet = self.book.worksheet_from_name(SUMMARY)?;
        let h = headers(r);
        let rows: Vec<Vec<Cell>> = r.units.iter().map(|u| typed_cells(r, u)).collect();
        let last = col(h.len().saturating_sub(1));
        let widths: Vec<f64> = h
            .iter()
            .enumerate()
            .map(|(c, name)| {
                let longest = rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|v| text_width(&v.text()))
                    .fold(0.0, f64::max);
                summary_width(name, longest)
            })
            .collect();
        for (c, w) in widths.iter().enumerate() {
            sheet.set_column_width(col(c), *w)?;
        }
        let title = format!("府检联动落后单位周报 {}", r.week_label);
        let big = Format::new()
            .set_bold()
            .set_font_size(16)
            .set_align(FormatAlign::Center)
            .set_align(FormatAlign::VerticalCenter);
        sheet.merge_range(0, 0, 0, last, &title, &big)?;
        sheet.set_row_height(0, 30)?;
        let as_of = format!(
            "统计截至 {}　共{}个执法单位，{}个落后（落后单位排在前面，以红色标示）",
            r.as_of_label,
            r.units.len(),
            r.lagging
        );
        sheet.merge_range(
            1,
            0,
            1,
            last,
            &as_of,
            &Format::new().set_align(FormatAlign::Center),
        )?;
        // The header row, its names wrapped.
        let mut head_lines = 1.0_f64;
        for (c, name) in h.iter().enumerate() {
            head_lines = head_lines.max(lines(name, widths[c]));
            sheet.write_string_with_format(SUMMARY_HEAD, col(c), name, &head)?;
        }
        sheet.set_row_height(SUMMARY_HEAD, 15.0 * head_lines + 6.0)?;
        for (i, (u, cells)) in r.units.iter().zip(&rows).enumerate() {
            let at = SUMMARY_HEAD + 1 + row(i);
            let red = usize::from(u.lagging);
            let mut height = 1.0_f64;
            for (c, v) in cells.iter().enumerate() {
                let c16 = col(c);
                match v {
                    Cell::Count(n) => {
                        sheet.write_number_with_format(at, c16, *n as f64, &formats.count[red])?
                    }
                    Cell::Text(t) => {
                        height = height.max(lines(t, widths[c]));
                        sheet.write_string_with_format(at, c16, t, &formats.text[red])?
                    }
                    Cell::Change(Some(n)) => {
                        sheet.write_number_with_format(at, c16, *n as f64, &formats.change[red])?
                    }
                    Cell::Change(None) => sheet.write_blank(at, c16, &formats.change[red])?,
                    Cell::Percent(Some(p)) => sheet.write_number_with_format(
                        at,
                        c16,
                        f64::from(*p) / 100.0,
                        &formats.percent[red],
                    )?,
                    Cell::Percent(None) => {
                        sheet.write_string_with_format(at, c16, "—", &formats.percent[red])?
                    }
                };
            }
            if height > 1.0 {
                sheet.set_row_height(at, 15.0 * height + 4.0)?;
            }
        }
        let mut next = SUMMARY_HEAD + 2 + row(r.units.len());
        next = write_legend(sheet, r, &widths, next)?;
        sheet.set_freeze_panes(SUMMARY_HEAD + 1, 2)?;
        page_setup(sheet, SUMMARY_HEAD, &title)?;
        let n = r.units.len().min(CHART_UNITS);
        if n > 0 {
            let (first, last) = (SUMMARY_HEAD + 1, SUMMARY_HEAD + row(n));
            let mut chart = Chart::new(ChartType::Column);
            chart
                .title()
                .set_name(&format!("各单位未办结与逾期事项（前{n}名）"));
            // Column 1 is the unit, 3 the open findings, 4 the overdue ones.
            chart
                .add_series()
                .set_name("未办结")
                .set_categories((SUMMARY, first, 1, last, 1))
                .set_values((SUMMARY, first, 3, last, 3));
            chart
                .add_series()
                .set_name("逾期")
                .set_categories((SUMMARY, first, 1, last, 1))
                .set_values((SUMMARY, first, 4, last, 4));
            chart.set_width(960).set_height(420);
            // Under the table and the legend, so that the page is as wide as the table.
            sheet.insert_chart(next + 1, 0, &chart)?;
        }
        self.book.save_to_buffer()
    }
}

/// Writes the legend of the rule columns from row `at` of the summary — each column's name,
/// what the rule asks and its legal source, across the table's width — and returns the first
/// row under it.
fn write_legend(
    sheet: &mut Worksheet,
    r: &Weekly,
    widths: &[f64],
    at: u32,
) -> Result<u32, XlsxError> {
    let legend = legend(r);
    if legend.is_empty() || widths.len() < 4 {
        return Ok(at);
    }
    let last = widths.len() - 1;
    // Three blocks: the name over the first two columns, the meaning and the source sharing the
    // rest (the source is longer).
    let rest: f64 = widths[2..].iter().sum();
    let mut meaning_end = 2;
    let mut sum = 0.0;
    for (c, w) in widths.iter().enumerate().skip(2).take(last - 2) {
        sum += w;
        meaning_end = c;
        if sum >= rest * 0.4 {
            break;
        }
    }
    let span = |a: usize, b: usize| widths[a..=b].iter().sum::<f64>();
    let blocks = [(0, 1), (2, meaning_end), (meaning_end + 1, last)];
    let bold = Format::new().set_bold();
    let head = head_format();
    let cell = Format::new()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::VerticalCenter)
        .set_text_wrap();
    let put = |sheet: &mut Worksheet,
               at: u32,
               texts: [&str; 3],
               format: &Format|
     -> Result<(), XlsxError> {
        let mut height = 1.0_f64;
        for ((a, b), t) in blocks.iter().zip(texts) {
            height = height.max(lines(t, span(*a, *b)));
            if a == b {
                sheet.write_string_with_format(at, col(*a), t, format)?;
            } else {
                sheet.merge_range(at, col(*a), at, col(*b), t, format)?;
            }
        }
        sheet.set_row_height(at, 15.0 * height + 4.0)?;
        Ok(())
    };
    sheet.write_string_with_format(at, 0, "规则说明", &bold)?;
    put(sheet, at + 1, ["列名（规则）", "含义", "依据"], &head)?;
    for (i, l) in legend.iter().enumerate() {
        let name = format!("{}（{}）", l.short, l.code);
        put(sheet, at + 2 + row(i), [&name, l.meaning, l.source], &cell)?;
    }
    Ok(at + 2 + row(legend.len()))
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
