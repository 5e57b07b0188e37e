//! The weekly report as an XLSX workbook: a summary sheet with the table and a native Excel
//! chart (open and overdue findings of the units that rank first), and one sheet per detail
//! list (open findings, new this week, resolved this week). Column widths count a Chinese
//! character as two.

use chrono::{DateTime, Utc};
use chrono_tz::Asia::Shanghai;
use rust_xlsxwriter::{Chart, ChartType, Format, FormatBorder, Workbook, Worksheet, XlsxError};

use super::Weekly;
use super::render::{cells, headers};
use crate::rules::RuleId;
use crate::store::FindingRow;

/// Units shown in the chart at most (the first by rank).
pub const CHART_UNITS: usize = 30;

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

fn widths(headers: &[String], rows: &[Vec<String>]) -> Vec<f64> {
    (0..headers.len())
        .map(|c| {
            let longest = rows
                .iter()
                .filter_map(|r| r.get(c))
                .chain(std::iter::once(&headers[c]))
                .map(|s| text_width(s))
                .fold(0.0, f64::max);
            (longest + 2.0).clamp(6.0, 60.0)
        })
        .collect()
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn sheet_of(
    book: &mut Workbook,
    name: &str,
    headers: &[String],
    rows: &[Vec<String>],
    numeric: &[usize],
    constant_memory: bool,
) -> Result<(), XlsxError> {
    let head = Format::new()
        .set_bold()
        .set_border(FormatBorder::Thin)
        .set_background_color("F2F2F2");
    let cell = Format::new().set_border(FormatBorder::Thin);
    // Detail sheets may hold many thousands of rows: written row by row to a temporary file,
    // not kept in memory (the summary stays in memory: its chart refers to it).
    let sheet: &mut Worksheet = if constant_memory {
        book.add_worksheet_with_constant_memory()?.set_name(name)?
    } else {
        book.add_worksheet().set_name(name)?
    };
    for (c, (h, w)) in headers.iter().zip(widths(headers, rows)).enumerate() {
        let c = u16::try_from(c).unwrap_or(u16::MAX);
        sheet.set_column_width(c, w)?;
        sheet.write_string_with_format(0, c, h, &head)?;
    }
    for (i, row) in rows.iter().enumerate() {
        let r = u32::try_from(i + 1).unwrap_or(u32::MAX);
        for (c, v) in row.iter().enumerate() {
            let col = u16::try_from(c).unwrap_or(u16::MAX);
            match v.parse::<f64>() {
                Ok(n) if numeric.contains(&c) => {
                    sheet.write_number_with_format(r, col, n, &cell)?
                }
                _ => sheet.write_string_with_format(r, col, v, &cell)?,
            };
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

fn finding_row(f: &FindingRow, units: &crate::units::Units) -> Vec<String> {
    vec![
        units.display_name(&f.unit_id).to_string(),
        f.rule.clone(),
        RuleId::parse(&f.rule).map_or_else(String::new, |r| r.title_zh().to_string()),
        f.case_no.clone().unwrap_or_default(),
        local(f.due - chrono::TimeDelta::seconds(1))[..10].to_string(),
    ]
}

/// The workbook's bytes. `findings` are the week's (see [`crate::store::Store::finding_rows`]);
/// the detail sheets take the open ones, and those first seen or resolved in the week.
pub fn workbook(
    r: &Weekly,
    findings: &[FindingRow],
    cfg: &crate::config::Config,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, XlsxError> {
    let units = crate::units::Units::new(&cfg.units);
    let mut book = Workbook::new();

    // The summary: the table, then the chart beside it.
    let h = headers(r);
    let rows: Vec<Vec<String>> = r.units.iter().map(|u| cells(r, u)).collect();
    let numeric: Vec<usize> = (0..h.len())
        .filter(|c| *c == 0 || (3..7).contains(c) || (8..8 + r.rules.len()).contains(c))
        .collect();
    sheet_of(&mut book, "周报汇总", &h, &rows, &numeric, false)?;
    let n = r.units.len().min(CHART_UNITS);
    if n > 0 {
        let last = u32::try_from(n).unwrap_or(u32::MAX);
        let mut chart = Chart::new(ChartType::Column);
        chart
            .title()
            .set_name(&format!("各单位未办结与逾期事项（{}，前{n}名）", r.week));
        // Column 1 is the unit, 3 the open findings, 4 the overdue ones.
        chart
            .add_series()
            .set_name("未办结")
            .set_categories(("周报汇总", 1, 1, last, 1))
            .set_values(("周报汇总", 1, 3, last, 3));
        chart
            .add_series()
            .set_name("逾期")
            .set_categories(("周报汇总", 1, 1, last, 1))
            .set_values(("周报汇总", 1, 4, last, 4));
        chart.set_width(960).set_height(420);
        let sheet = book.worksheet_from_name("周报汇总")?;
        sheet.insert_chart(last + 2, 1, &chart)?;
    }

    let detail = ["单位", "规则", "事项", "案号", "期限"]
        .map(String::from)
        .to_vec();
    let open: Vec<Vec<String>> = findings
        .iter()
        .filter(|f| {
            matches!(f.state.as_str(), "upcoming" | "due_soon" | "overdue")
                && f.first_seen_at <= now
        })
        .map(|f| {
            let mut row = finding_row(f, &units);
            row.push(
                if f.violated || f.due <= now {
                    "已逾期"
                } else {
                    "未到期"
                }
                .into(),
            );
            row
        })
        .collect();
    let mut h_open = detail.clone();
    h_open.push("状态".into());
    sheet_of(&mut book, "未办结事项", &h_open, &open, &[], true)?;

    let new: Vec<Vec<String>> = findings
        .iter()
        .filter(|f| {
            f.first_seen_at > since
                && f.first_seen_at <= now
                && f.resolved_at.is_none_or(|r| r > f.first_seen_at)
        })
        .map(|f| {
            let mut row = finding_row(f, &units);
            row.push(local(f.first_seen_at));
            row
        })
        .collect();
    let mut h_new = detail.clone();
    h_new.push("发现时间".into());
    sheet_of(&mut book, "本周新增", &h_new, &new, &[], true)?;

    let resolved: Vec<Vec<String>> = findings
        .iter()
        .filter(|f| {
            f.resolved_at
                .is_some_and(|r| r > since && r <= now && r > f.first_seen_at)
        })
        .map(|f| {
            let mut row = finding_row(f, &units);
            row.push(f.resolved_at.map(local).unwrap_or_default());
            row.push(f.resolution.clone().unwrap_or_default());
            row
        })
        .collect();
    let mut h_res = detail;
    h_res.extend(["办结时间", "办结情况"].map(String::from));
    sheet_of(&mut book, "本周办结", &h_res, &resolved, &[], true)?;

    book.save_to_buffer()
}
