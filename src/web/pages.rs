//! The console's pages. Each one reads through a query scoped to the viewer (a `unit` account's
//! own unit; another unit's item by URL is 404, exactly as an item that does not exist), fills a
//! template's context, and answers; every write checks the role and the form's CSRF token.

use std::collections::HashMap;

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::Console;
use super::auth::{self, Viewer, Write};
use crate::domain::rule::{RuleId, State as FindingState};
use crate::domain::values::local_minute;
use crate::store::{FindingFilter, FindingPage, StatesWanted, StoredFinding};

/// Findings per page of the list.
const PAGE: usize = 50;

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/", get(overview))
        .route("/findings", get(findings))
        .route("/findings/{id}", get(finding))
        .route("/findings/{id}/waive", post(waive))
        .fallback(fallback)
}

/// The parts every page's frame shows: who is signed in, the menu of what the role may open,
/// and the token of the sign-out form.
pub(super) fn frame(console: &Console, v: &Viewer, active: &str) -> minijinja::Value {
    let app = console.app();
    let unit = v.user.unit_id.as_deref().map(|id| unit_name(&app.cfg, id));
    let mut items = vec![
        ("/", "总览"),
        ("/findings", "事项"),
        ("/documents", "文书"),
        ("/sampling", "评查"),
        ("/meetings", "会议与培训"),
        ("/reports", "周报"),
    ];
    if v.user.role == crate::store::accounts::Role::Admin {
        items.push(("/admin", "运维"));
    }
    let menu: Vec<minijinja::Value> = items
        .into_iter()
        .map(|(href, label)| context! { href, label, active => href == active })
        .collect();
    context! {
        login => v.user.login.clone(),
        role => v.user.role.zh(),
        unit => unit,
        csrf => v.csrf.clone(),
        menu => menu,
    }
}

/// Unit id → name, for the configured units.
pub(super) fn unit_names(cfg: &crate::config::Config) -> HashMap<&str, &str> {
    cfg.units
        .iter()
        .map(|u| (u.id.as_str(), u.name.as_str()))
        .collect()
}

fn unit_name(cfg: &crate::config::Config, id: &str) -> String {
    cfg.units
        .iter()
        .find(|u| u.id == id)
        .map_or_else(|| id.to_string(), |u| u.name.clone())
}

/// 404, the same page for what does not exist and for what the viewer may not see.
pub(super) fn not_found(console: &Console, v: Option<&Viewer>) -> Response {
    error_page(
        console,
        v,
        StatusCode::NOT_FOUND,
        "页面不存在，或您无权查看。",
    )
}

/// 403: a write the role may not make, or a form without this session's token.
pub(super) fn forbidden(console: &Console, v: Option<&Viewer>) -> Response {
    error_page(
        console,
        v,
        StatusCode::FORBIDDEN,
        "无权进行此操作，或表单已过期（请返回后刷新页面再试）。",
    )
}

pub(super) fn error_page(
    console: &Console,
    v: Option<&Viewer>,
    status: StatusCode,
    message: &str,
) -> Response {
    let frame = v.map(|v| frame(console, v, ""));
    console.render(
        status,
        "error.html",
        context! { frame => frame, message => message, status => status.as_u16() },
    )
}

/// The answer to a write made as `liandong record` does: 303 to `back` when stored; a value
/// the record refused said on the page (400); a store failure logged (503).
pub(super) fn recorded<T>(
    console: &Console,
    v: &Viewer,
    result: Result<T, crate::record::RecordError>,
    back: &str,
) -> Response {
    match result {
        Ok(_) => auth::see_other(back),
        Err(crate::record::RecordError::Store(e)) => failed(console, v, &e.into()),
        Err(e) => error_page(
            console,
            Some(v),
            StatusCode::BAD_REQUEST,
            &format!("未保存：{}", crate::mask::mask_text(&e.to_string())),
        ),
    }
}

pub(super) fn failed(console: &Console, v: &Viewer, e: &anyhow::Error) -> Response {
    tracing::error!("web: {e:#}");
    error_page(
        console,
        Some(v),
        StatusCode::SERVICE_UNAVAILABLE,
        "暂时无法读取数据，请稍后再试。",
    )
}

async fn fallback(State(console): State<Console>, v: Viewer) -> Response {
    not_found(&console, Some(&v))
}

/// 总览: the units as the weekly report ranks them, the lagging first.
async fn overview(State(console): State<Console>, v: Viewer) -> Response {
    let app = console.app();
    let now = app.now();
    let report = match crate::report::weekly(app.store(), &app.cfg, now).await {
        Ok(r) => r,
        Err(e) => return failed(&console, &v, &e),
    };
    let shown: Vec<&crate::report::UnitRow> = report
        .units
        .iter()
        .filter(|u| v.sees_unit(&u.unit_id))
        .collect();
    let chart = chart_svg(&shown);
    let units: Vec<minijinja::Value> = shown
        .iter()
        .map(|u| {
            context! {
                rank => u.rank,
                unit => u.unit.clone(),
                link => format!("/findings?{}", query_string(&[("unit", u.unit_id.as_str())])),
                lagging => u.lagging,
                reasons => u.reasons.join("；"),
                open => u.open,
                overdue => u.overdue,
                new => u.new,
                resolved => u.resolved,
                sampling => format!("{}/{}", u.sampling.reviewed, u.sampling.target),
                sampling_quarter => u.sampling.quarter.clone(),
                meeting => u.meeting_held,
                training => u.training_held,
            }
        })
        .collect();
    console.render(
        StatusCode::OK,
        "overview.html",
        context! {
            frame => frame(&console, &v, "/"),
            week => report.week_label.clone(),
            as_of => report.as_of_label.clone(),
            lagging => units.iter().filter(|u| u.get_attr("lagging").is_ok_and(|l| l.is_true())).count(),            chart => minijinja::Value::from_safe_string(chart),

            units => units,
        },
    )
}

/// Text for an SVG or HTML element.
fn xml_escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The overview's chart as inline SVG (no script, no request): per unit, a bar of its open
/// findings with the overdue part in red, the lagging units' names in red.
fn chart_svg(units: &[&crate::report::UnitRow]) -> String {
    use std::fmt::Write as _;
    const LABEL: i64 = 200;
    const BAR: i64 = 460;
    const ROW: i64 = 30;
    let max = units.iter().map(|u| u.open).max().unwrap_or(0).max(1);
    let height = 40 + ROW * units.len() as i64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {height}\" role=\"img\" \
         aria-label=\"各单位未办结与逾期事项\" class=\"chart\">\
         <rect x=\"{LABEL}\" y=\"8\" width=\"14\" height=\"14\" fill=\"#5b8def\"/>\
         <text x=\"{lx}\" y=\"20\" font-size=\"14\">未办结</text>\
         <rect x=\"{rx}\" y=\"8\" width=\"14\" height=\"14\" fill=\"#c62828\"/>\
         <text x=\"{rlx}\" y=\"20\" font-size=\"14\">其中逾期</text>",
        w = LABEL + BAR + 60,
        lx = LABEL + 20,
        rx = LABEL + 90,
        rlx = LABEL + 110,
    );
    for (i, u) in units.iter().enumerate() {
        let y = 32 + ROW * i as i64;
        let open = BAR * u.open / max;
        let overdue = BAR * u.overdue.min(u.open) / max;
        let colour = if u.lagging { "#c62828" } else { "#1f2328" };
        let _ = write!(
            svg,
            "<text x=\"{tx}\" y=\"{ty}\" font-size=\"14\" text-anchor=\"end\" fill=\"{colour}\">{name}</text>\
             <rect x=\"{LABEL}\" y=\"{y}\" width=\"{open}\" height=\"20\" fill=\"#5b8def\"/>\
             <rect x=\"{LABEL}\" y=\"{y}\" width=\"{overdue}\" height=\"20\" fill=\"#c62828\"/>\
             <text x=\"{vx}\" y=\"{ty}\" font-size=\"14\">{n}</text>",
            tx = LABEL - 8,
            ty = y + 15,
            name = xml_escape(&u.unit),
            vx = LABEL + open + 6,
            n = u.open,
        );
    }
    svg.push_str("</svg>");
    svg
}

#[derive(Debug, Default, Deserialize)]
struct FindingsQuery {
    unit: Option<String>,
    rule: Option<String>,
    state: Option<String>,
    page: Option<usize>,
}

/// A finding as the list and the page show it.
#[derive(Debug, Serialize)]
struct FindingView {
    id: i64,
    rule: String,
    rule_title: &'static str,
    unit: String,
    case_no: String,
    state: &'static str,
    state_key: &'static str,
    due: String,
    arose: String,
}

fn view(f: &StoredFinding, state: FindingState, names: &HashMap<&str, &str>) -> FindingView {
    FindingView {
        id: f.id,
        rule: f.rule.to_string(),
        rule_title: f.rule.title_zh(),
        unit: names
            .get(f.unit_id.as_str())
            .map_or_else(|| f.unit_id.clone(), |n| (*n).to_string()),
        case_no: f
            .case_no
            .as_deref()
            .map(crate::mask::mask_text)
            .unwrap_or_default(),
        state: state.zh(),
        state_key: state.as_str(),
        due: deadline(f.due),
        arose: day_or_minute(f.arose_at),
    }
}

/// A deadline as people read it: one that ends with a day (midnight, Asia/Shanghai) is that day
/// (`2025-12-23`, the last day to act); otherwise the minute.
fn deadline(t: chrono::DateTime<chrono::Utc>) -> String {
    let local = t.with_timezone(&chrono_tz::Asia::Shanghai);
    if local.time() == chrono::NaiveTime::MIN {
        (local.date_naive() - chrono::Days::new(1)).to_string()
    } else {
        local_minute(t)
    }
}

/// A start as people read it: the day when it is a day's start, otherwise the minute.
fn day_or_minute(t: chrono::DateTime<chrono::Utc>) -> String {
    let local = t.with_timezone(&chrono_tz::Asia::Shanghai);
    if local.time() == chrono::NaiveTime::MIN {
        local.date_naive().to_string()
    } else {
        local_minute(t)
    }
}

/// 事项: the findings the viewer may see, filtered by unit, rule and state, a page at a time.
async fn findings(
    State(console): State<Console>,
    v: Viewer,
    Query(q): Query<FindingsQuery>,
) -> Response {
    let app = console.app();
    let now = app.now();
    let due_soon = crate::domain::rule::due_soon_window(app.cfg.rules.due_soon_days);
    let rule = q
        .rule
        .as_deref()
        .filter(|r| !r.is_empty())
        .and_then(RuleId::parse);
    // A unit account sees its own unit whatever the query says.
    let unit = match v.unit_scope() {
        Some(u) => Some(u.to_string()),
        None => q.unit.clone().filter(|u| !u.is_empty()),
    };
    // The states wanted, as they stand now; a state the console does not offer lists the
    // open ones.
    let (state, states) = match q.state.as_deref().unwrap_or("open") {
        "all" => ("all".to_string(), StatesWanted::All),
        name => match FindingState::parse(name) {
            Some(s) => (name.to_string(), StatesWanted::One(s)),
            None => ("open".to_string(), StatesWanted::Open),
        },
    };
    // One page read from the store (a province holds hundreds of thousands of findings); a
    // page past the last shows the last.
    let want = q.page.unwrap_or(1).max(1);
    let mut page_of = FindingPage {
        at: now,
        due_soon,
        states,
        rule,
        unit: unit.clone(),
        offset: ((want - 1).saturating_mul(PAGE)) as u64,
        limit: PAGE as u64,
    };
    let (total, mut stored) = match app.store.findings_page(&page_of).await {
        Ok(found) => found,
        Err(e) => return failed(&console, &v, &e.into()),
    };
    let total = usize::try_from(total).unwrap_or(usize::MAX);
    let pages = total.div_ceil(PAGE).max(1);
    let page = want.min(pages);
    if page != want {
        page_of.offset = ((page - 1) * PAGE) as u64;
        stored = match app.store.findings_page(&page_of).await {
            Ok((_, found)) => found,
            Err(e) => return failed(&console, &v, &e.into()),
        };
    }
    let names = unit_names(&app.cfg);
    let rows: Vec<FindingView> = stored
        .iter()
        .filter(|f| v.sees_unit(&f.unit_id))
        .map(|f| view(f, f.state_at(now, due_soon).unwrap_or(f.state), &names))
        .collect();
    let unit_choices: Vec<minijinja::Value> = app
        .cfg
        .units
        .iter()
        .filter(|u| v.sees_unit(&u.id))
        .map(|u| context! { id => u.id.clone(), name => u.name.clone() })
        .collect();
    let rule_choices: Vec<minijinja::Value> = RuleId::ALL
        .into_iter()
        .map(|r| context! { id => r.to_string(), name => format!("{} {}", r, r.title_zh()) })
        .collect();
    let state_choices: Vec<minijinja::Value> = [
        ("open", "未办结"),
        ("overdue", "逾期"),
        ("due_soon", "即将到期"),
        ("upcoming", "未到期"),
        ("resolved", "已办结"),
        ("waived", "已豁免"),
        ("recorded", "已记录违规"),
        ("all", "全部"),
    ]
    .into_iter()
    .map(|(id, name)| context! { id, name })
    .collect();
    // The filters as a query string, for the pages' links.
    let query = query_string(&[
        (
            "unit",
            unit.as_deref()
                .filter(|_| v.unit_scope().is_none())
                .unwrap_or(""),
        ),
        ("rule", q.rule.as_deref().unwrap_or("")),
        ("state", state.as_str()),
    ]);
    console.render(
        StatusCode::OK,
        "findings.html",
        context! {
            frame => frame(&console, &v, "/findings"),
            rows => rows,
            total => total,
            page => page,
            pages => pages,
            query => query,
            unit => unit.unwrap_or_default(),
            rule => q.rule.unwrap_or_default(),
            state => state,
            units => unit_choices,
            unit_fixed => v.unit_scope().is_some(),
            rules => rule_choices,
            states => state_choices,
        },
    )
}

/// `a=1&b=2` of the non-empty pairs, percent-encoded.
fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The finding of `id` if the viewer may see it.
async fn visible_finding(
    console: &Console,
    v: &Viewer,
    id: i64,
) -> anyhow::Result<Option<StoredFinding>> {
    let found = console
        .app()
        .store
        .findings(&FindingFilter {
            all: true,
            id: Some(id),
            unit: v.unit_scope().map(str::to_string),
            ..Default::default()
        })
        .await?;
    Ok(found
        .into_iter()
        .find(|f| f.id == id && v.sees_unit(&f.unit_id)))
}

/// A finding's page: its facts, deadline, legal source, what to do and what closes it, and its
/// whole history; the liaison office can waive it with a reason.
async fn finding(State(console): State<Console>, v: Viewer, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return not_found(&console, Some(&v));
    };
    let f = match visible_finding(&console, &v, id).await {
        Ok(Some(f)) => f,
        Ok(None) => return not_found(&console, Some(&v)),
        Err(e) => return failed(&console, &v, &e),
    };
    let app = console.app();
    let now = app.now();
    let due_soon = crate::domain::rule::due_soon_window(app.cfg.rules.due_soon_days);
    let state = f.state_at(now, due_soon).unwrap_or(f.state);
    let names = unit_names(&app.cfg);
    let history = match app.store.finding_history(f.id).await {
        Ok(h) => h,
        Err(e) => return failed(&console, &v, &e.into()),
    };
    let history: Vec<minijinja::Value> = history
        .iter()
        .map(|t| {
            context! {
                at => local_minute(t.at),
                from => t.from.map(FindingState::zh),
                to => t.to.zh(),
                note => t.note.as_deref().map(crate::mask::mask_text),
            }
        })
        .collect();
    let facts = facts_rows(&f.facts);
    let document = match super::documents::of_finding(&console, &v, &f).await {
        Ok(d) => d,
        Err(e) => return failed(&console, &v, &e),
    };
    console.render(
        StatusCode::OK,
        "finding.html",
        context! {
            frame => frame(&console, &v, "/findings"),
            f => view(&f, state, &names),
            open => state.is_open(),
            source => f.rule.source(),
            action => f.rule.action_zh(),
            closes => f.rule.closes_zh(),
            facts => facts,
            history => history,
            document => document,
            waived_by => f.waived_by.clone(),
            waived_reason => f.waived_reason.as_deref().map(crate::mask::mask_text),
            may_waive => v.may(Write::Waive) && state.is_open(),
        },
    )
}

/// A finding's facts as (name, value) rows people read: each name in Chinese where one is known
/// (the rules' own facts, or a field's Chinese header), a record inside as its fields, ID and
/// phone numbers masked.
fn facts_rows(facts: &serde_json::Value) -> Vec<(String, String)> {
    match crate::mask::mask_json(facts) {
        serde_json::Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| (fact_label(&k), fact_value(&v)))
            .collect(),
        _ => Vec::new(),
    }
}

fn fact_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        serde_json::Value::Bool(true) => "是".into(),
        serde_json::Value::Bool(false) => "否".into(),
        serde_json::Value::Array(a) => a.iter().map(fact_value).collect::<Vec<_>>().join("、"),
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{}：{}", fact_label(k), fact_value(v)))
            .collect::<Vec<_>>()
            .join("；"),
        other => other.to_string(),
    }
}

/// A fact's name in Chinese: the rules' own facts, then any feed field of that name by its first
/// Chinese header; otherwise the name as it is.
fn fact_label(key: &str) -> String {
    let own = match key {
        "due_date" | "due" => Some("期限"),
        "days_late" => Some("逾期天数"),
        "decided_on" => Some("决定日期"),
        "received_on" => Some("签收日期"),
        "replied_on" => Some("回复日期"),
        "months" => Some("回复期限（月）"),
        "working_days" => Some("期限（工作日）"),
        "days" | "calendar_days" => Some("期限（日）"),
        "document" => Some("文书"),
        "referral" => Some("平台移送记录"),
        "entry" => Some("平台录入记录"),
        "copy" => Some("抄送记录"),
        "filing" => Some("备案记录"),
        "review" => Some("评查记录"),
        "match" => Some("平台匹配"),
        "matched_by" => Some("匹配依据"),
        "differences" => Some("不一致之处"),
        "cause" | "threshold_cause" => Some("案由"),
        "threshold" => Some("立案追诉标准"),
        "counted_from" => Some("起算依据"),
        "unit" => Some("单位"),
        "case_no" => Some("案号"),
        _ => None,
    };
    if let Some(l) = own {
        return l.to_string();
    }
    crate::records::Feed::ALL
        .iter()
        .flat_map(|f| f.fields().iter())
        .find(|f| f.name == key)
        .and_then(|f| f.headers.iter().find(|h| !h.is_ascii()))
        .map_or_else(|| key.to_string(), |h| (*h).to_string())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WaiveForm {
    csrf: String,
    reason: String,
}

/// The liaison office sets a finding aside with a reason (recorded with who and when).
async fn waive(
    State(console): State<Console>,
    v: Viewer,
    Path(id): Path<String>,
    Form(form): Form<WaiveForm>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return not_found(&console, Some(&v));
    };
    if !v.may_post(&form.csrf, Write::Waive) {
        return forbidden(&console, Some(&v));
    }
    match visible_finding(&console, &v, id).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_found(&console, Some(&v)),
        Err(e) => return failed(&console, &v, &e),
    }
    let reason: String = form.reason.trim().chars().take(500).collect();
    if reason.is_empty() {
        return error_page(
            &console,
            Some(&v),
            StatusCode::BAD_REQUEST,
            "豁免须写明理由。",
        );
    }
    let app = console.app();
    let by = v.by();
    match app
        .store
        .waive_finding(id, &by, &reason, app.clock.wall())
        .await
    {
        Ok(_) => auth::see_other(&format!("/findings/{id}")),
        Err(e) => failed(&console, &v, &e.into()),
    }
}
