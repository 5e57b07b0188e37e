//! The weekly report as a text table, CSV and JSON (the HTML e-mail, its chart and the XLSX
//! workbook have modules of their own).

use super::{UnitRow, Weekly};

pub(crate) fn yes(b: bool) -> String {
    if b { "是" } else { "否" }.to_string()
}

/// The change of a count since last week: `+2`, `-1`, `0`, or empty without a snapshot.
fn delta(now: i64, before: Option<i64>) -> String {
    before.map_or_else(String::new, |b| format!("{:+}", now - b))
}

/// The columns of the table and CSV.
pub fn headers(r: &Weekly) -> Vec<String> {
    let mut h: Vec<String> = [
        "排名",
        "单位",
        "落后",
        "未办结",
        "逾期",
        "本周新增",
        "本周办结",
        "较上周",
    ]
    .map(String::from)
    .to_vec();
    h.extend(r.rules.iter().cloned());
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

/// One unit's cells, in the order of [`headers`].
pub fn cells(r: &Weekly, u: &UnitRow) -> Vec<String> {
    let mut c = vec![
        u.rank.to_string(),
        u.unit.clone(),
        yes(u.lagging),
        u.open.to_string(),
        u.overdue.to_string(),
        u.new.to_string(),
        u.resolved.to_string(),
        delta(u.open, u.previous_open),
    ];
    c.extend(
        r.rules
            .iter()
            .map(|rule| u.findings.get(rule).copied().unwrap_or(0).to_string()),
    );
    c.extend([
        u.sampling.quarter.clone(),
        format!("{}/{}", u.sampling.reviewed, u.sampling.target),
        u.sampling
            .percent_of_target
            .map_or_else(|| "—".into(), |p| format!("{p}%")),
        yes(u.meeting_held),
        yes(u.training_held),
        u.reasons.join("；"),
    ]);
    c
}

pub fn text(r: &Weekly) -> String {
    let headers = headers(r);
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = r.units.iter().map(|u| cells(r, u)).collect();
    format!(
        "府检联动落后单位周报 {}（截至 {}）：{} 个单位，{} 个落后\n{}",
        r.week,
        r.as_of,
        r.units.len(),
        r.lagging,
        crate::output::table(&h, &rows)
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
    /// The e-mail: the chart, when drawn, is its inline image `cid:chart`; the workbook is
    /// attached.
    Mail { chart: bool },
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
        HtmlTarget::Mail { chart } => (
            chart.then(|| "cid:chart".to_string()),
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
    // What each rule column means and where the duty comes from.
    let legend: Vec<serde_json::Value> = r
        .rules
        .iter()
        .filter_map(|code| crate::domain::rule::RuleId::parse(code))
        .map(|rule| {
            serde_json::json!({
                "code": rule.as_str(),
                "short": rule.short_zh(),
                "title": rule.title_zh(),
                "source": rule.source(),
            })
        })
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
        "legend": legend,
        "chart_src": chart_src,
        "chart_width": super::chart::DISPLAY_WIDTH,
        "details": details,
        "mail": mail,
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
