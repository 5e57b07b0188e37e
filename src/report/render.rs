//! The weekly report as a text table, CSV and JSON (the HTML e-mail, its chart and the XLSX
//! workbook have modules of their own).

use super::{UnitRow, Weekly};
use crate::domain::rule::RuleId;

pub(crate) fn yes(b: bool) -> String {
    if b { "是" } else { "否" }.to_string()
}

/// A rule column's name: the rule's short Chinese name (`移送未录平台`), or the code as the
/// report holds it when it names no rule.
pub fn rule_header(code: &str) -> String {
    RuleId::parse(code).map_or_else(|| code.to_string(), |r| r.short_zh().to_string())
}

/// The columns of the table, the CSV and the workbook: the rules by their short Chinese names
/// ([`legend`] says what each means).
pub fn headers(r: &Weekly) -> Vec<String> {
    let mut h: Vec<String> = [
        "排名",
        "单位",
        "落后",
        "未办结",
        "逾期",
        "本周新增",
        "本周办结",
        "本周记录违规",
        "较上周",
    ]
    .map(String::from)
    .to_vec();
    h.extend(r.rules.iter().map(|code| rule_header(code)));
    h.extend(
        [
            "评查季度",
            "评查已查/应查",
            "评查进度",
            "联席会议",
            "专题培训",
            "落后原因",
        ]
        .map(String::from),
    );
    h
}

/// One line of the legend of the rule columns.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LegendRow {
    /// The column's name ([`RuleId::short_zh`]).
    pub short: &'static str,
    /// The rule's code, `R1`.
    pub code: &'static str,
    /// What the rule asks ([`RuleId::title_zh`]).
    pub meaning: &'static str,
    /// Its legal source ([`RuleId::source`]).
    pub source: &'static str,
}

/// What the report's rule columns mean, in their order.
pub fn legend(r: &Weekly) -> Vec<LegendRow> {
    r.rules
        .iter()
        .filter_map(|code| RuleId::parse(code))
        .map(|rule| LegendRow {
            short: rule.short_zh(),
            code: rule.as_str(),
            meaning: rule.title_zh(),
            source: rule.source(),
        })
        .collect()
}

/// A cell of the summary table, typed for the workbook; [`Cell::text`] is how the text table
/// and the CSV write it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Count(i64),
    Text(String),
    /// The change of a count since last week (none without last week's snapshot).
    Change(Option<i64>),
    /// A share in percent (none when there is nothing to take a share of).
    Percent(Option<u32>),
}

impl Cell {
    pub fn text(&self) -> String {
        match self {
            Cell::Count(n) => n.to_string(),
            Cell::Text(s) => s.clone(),
            Cell::Change(c) => c.map_or_else(String::new, |c| format!("{c:+}")),
            Cell::Percent(p) => p.map_or_else(|| "—".into(), |p| format!("{p}%")),
        }
    }
}

/// One unit's cells, typed, in the order of [`headers`].
pub fn typed_cells(r: &Weekly, u: &UnitRow) -> Vec<Cell> {
    let rank = i64::try_from(u.rank).unwrap_or(i64::MAX);
    let mut c = vec![
        Cell::Count(rank),
        Cell::Text(u.unit.clone()),
        Cell::Text(yes(u.lagging)),
        Cell::Count(u.open),
        Cell::Count(u.overdue),
        Cell::Count(u.new),
        Cell::Count(u.resolved),
        Cell::Count(u.recorded),
        Cell::Change(u.previous_open.map(|b| u.open - b)),
    ];
    c.extend(
        r.rules
            .iter()
            .map(|rule| Cell::Count(u.findings.get(rule).copied().unwrap_or(0))),
    );
    c.extend([
        Cell::Text(quarter_label(&u.sampling.quarter)),
        Cell::Text(format!("{}/{}", u.sampling.reviewed, u.sampling.target)),
        Cell::Percent(u.sampling.percent_of_target),
        Cell::Text(yes(u.meeting_held)),
        Cell::Text(yes(u.training_held)),
        Cell::Text(u.reasons.join("；")),
    ]);
    c
}

/// `2025Q4` as people read it, `2025年第四季度` (as it was, if it is not a quarter).
fn quarter_label(q: &str) -> String {
    q.parse::<crate::obligations::sampling::Quarter>()
        .map_or_else(|_| q.to_string(), |q| q.label_zh())
}

/// One unit's cells as text, in the order of [`headers`].
pub fn cells(r: &Weekly, u: &UnitRow) -> Vec<String> {
    typed_cells(r, u).iter().map(Cell::text).collect()
}

/// The legend as lines of text: `移送未录平台（R1）：移送涉嫌犯罪案件未录入两法衔接平台`.
fn legend_text(r: &Weekly) -> String {
    legend(r)
        .iter()
        .map(|l| format!("{}（{}）：{}\n", l.short, l.code, l.meaning))
        .collect()
}

pub fn text(r: &Weekly) -> String {
    let headers = headers(r);
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = r.units.iter().map(|u| cells(r, u)).collect();
    let legend = legend_text(r);
    format!(
        "府检联动落后单位周报 {}（统计截至 {}）：{} 个单位，{} 个落后\n{}{}{}",
        r.week_label,
        r.as_of_label,
        r.units.len(),
        r.lagging,
        crate::output::table(&h, &rows),
        if legend.is_empty() {
            ""
        } else {
            "\n规则说明：\n"
        },
        legend
    )
}

pub fn csv(r: &Weekly, w: impl std::io::Write) -> anyhow::Result<()> {
    let headers = headers(r);
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = r.units.iter().map(|u| cells(r, u)).collect();
    crate::output::csv(w, &h, &rows)
}

pub fn json(r: &Weekly) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(r)?)
}

/// Where the report's HTML goes: that decides how it shows the chart and where it says the
/// details are.
#[derive(Debug, Clone, Copy)]
pub enum HtmlTarget<'a> {
    /// The e-mail: the chart, when drawn, is its inline image of this Content-ID
    /// (`chart-2025w42@…`); the workbook is attached.
    Mail { chart_cid: Option<&'a str> },
    /// A file: the chart's PNG, when drawn, goes inside it as a `data:` URI, so that the file
    /// shows it wherever it is opened; `workbook` names the workbook written beside it, if one.
    File {
        chart_png: Option<&'a [u8]>,
        workbook: Option<&'a str>,
    },
}

/// The HTML e-mail (and `--format html`): the summary, the chart when there is one, the table,
/// the legend of its rule columns, and where the details are.
pub fn html(
    r: &Weekly,
    templates: &crate::notify::templates::Templates,
    cfg: &crate::config::Config,
    target: HtmlTarget<'_>,
) -> anyhow::Result<String> {
    let (chart_src, details, mail) = match target {
        HtmlTarget::Mail { chart_cid } => (
            chart_cid.map(|c| format!("cid:{c}")),
            Some("附件".to_string()),
            true,
        ),
        HtmlTarget::File {
            chart_png,
            workbook,
        } => (
            chart_png.map(super::chart::data_uri),
            workbook.map(|w| format!("同一文件夹中的 {w}")),
            false,
        ),
    };
    let rows: Vec<serde_json::Value> = r
        .units
        .iter()
        .map(|u| serde_json::json!({"lagging": u.lagging, "cells": cells(r, u)}))
        .collect();
    let office = crate::units::office_name(&cfg.units);
    let ctx = serde_json::json!({
        "r": r,
        // What templates written before as_of_label read.
        "as_of": r.as_of_label,
        "new": r.units.iter().map(|u| u.new).sum::<i64>(),
        "resolved": r.units.iter().map(|u| u.resolved).sum::<i64>(),
        "headers": headers(r),
        "rows": rows,
        // What each rule column means and where the duty comes from.
        "legend": legend(r),
        "chart_src": chart_src,
        "chart_width": super::chart::DISPLAY_WIDTH,
        "details": details,
        "mail": mail,
        // The report's page in the web console, from a mail (`[web] public_url` set).
        "link": cfg.web.public_url.as_deref().filter(|_| mail).map(|u| {
            format!("{}/reports/{}", u.trim_end_matches('/'), r.week)
        }),
        "rule": {
            "overdue": cfg.report.lagging_overdue,
            "sampling": cfg.report.lagging_sampling,
            "annual": cfg.report.lagging_annual,
        },
        "office": office,
    });
    Ok(templates.render("report_weekly.html", &ctx)?)
}

/// The subject of the report's e-mail.
pub fn subject(
    r: &Weekly,
    templates: &crate::notify::templates::Templates,
) -> anyhow::Result<String> {
    Ok(templates.render("report_weekly_subject.txt", &serde_json::json!({ "r": r }))?)
}
