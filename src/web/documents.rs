//! 文书: the procuratorate's recommendations (检察建议, R7) and opinions (检察意见, R8). A unit
//! records its reply to what is addressed to it (the liaison office may for any unit); the
//! procuratorate and the liaison office record new ones. Each write goes in as `liandong record`
//! does (`record::record_document`), by `<login>（网页）`, so the document's history says who.

use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;

use super::Console;
use super::auth::{Viewer, Write};
use super::pages::{error_page, failed, forbidden, frame, not_found, recorded, unit_names};
use crate::domain::values::local_minute;
use crate::record::{DocumentArgs, record_document};
use crate::records::{Feed, Field, Value};
use crate::store::StoredRecord;

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/documents", get(list).post(create))
        .route("/documents/{kind}/{id}", get(page))
        .route("/documents/{kind}/{id}/reply", post(reply))
}

/// `recommendation` / `opinion` in URLs.
fn feed_of(kind: &str) -> Option<Feed> {
    match kind {
        "recommendation" => Some(Feed::Recommendations),
        "opinion" => Some(Feed::Opinions),
        _ => None,
    }
}

fn kind_of(feed: Feed) -> (&'static str, &'static str) {
    match feed {
        Feed::Opinions => ("opinion", "检察意见"),
        _ => ("recommendation", "检察建议"),
    }
}

fn text(r: &crate::records::Record, f: Field) -> String {
    match r.get(f) {
        Value::Null => String::new(),
        v => crate::mask::mask_text(&v.display()),
    }
}

/// A document as the list and its page show it.
fn view(s: &StoredRecord, names: &std::collections::HashMap<&str, &str>) -> minijinja::Value {
    let r = &s.record;
    let (kind, kind_zh) = kind_of(r.feed);
    context! {
        id => s.id,
        kind => kind,
        kind_zh => kind_zh,
        number => crate::mask::mask_text(r.case_no.as_written()),
        unit => names.get(r.unit_id.as_str()).map_or_else(|| r.unit_id.clone(), |n| (*n).to_string()),
        case_ref => text(r, Field::CaseRef),
        title => text(r, Field::Title),
        issued => text(r, Field::IssuedOn),
        received => text(r, Field::ReceivedOn),
        replied => text(r, Field::RepliedOn),
        reply => text(r, Field::Reply),
        open => matches!(r.get(Field::RepliedOn), Value::Null),
    }
}

/// The documents the viewer may see, newest first.
async fn visible(console: &Console, v: &Viewer) -> anyhow::Result<Vec<StoredRecord>> {
    let store = console.app().store;
    let mut out = Vec::new();
    for feed in [Feed::Recommendations, Feed::Opinions] {
        out.extend(
            store
                .records(feed, v.unit_scope())
                .await?
                .into_iter()
                .filter(|s| v.sees_unit(&s.record.unit_id)),
        );
    }
    out.sort_by(|a, b| b.first_seen_at.cmp(&a.first_seen_at).then(b.id.cmp(&a.id)));
    Ok(out)
}

async fn list(State(console): State<Console>, v: Viewer) -> Response {
    let docs = match visible(&console, &v).await {
        Ok(d) => d,
        Err(e) => return failed(&console, &v, &e),
    };
    let app = console.app();
    let names = unit_names(&app.cfg);
    let rows: Vec<minijinja::Value> = docs.iter().map(|s| view(s, &names)).collect();
    let units: Vec<minijinja::Value> = app
        .cfg
        .units
        .iter()
        .filter(|u| u.kind == crate::config::UnitKind::Enforcement)
        .map(|u| context! { id => u.id.clone(), name => u.name.clone() })
        .collect();
    console.render(
        StatusCode::OK,
        "documents.html",
        context! {
            frame => frame(&console, &v, "/documents"),
            rows => rows,
            may_create => v.may(Write::Documents),
            units => units,
        },
    )
}

/// The document of `kind`/`id` if the viewer may see it.
async fn visible_one(
    console: &Console,
    v: &Viewer,
    kind: &str,
    id: &str,
) -> anyhow::Result<Option<StoredRecord>> {
    let (Some(feed), Ok(id)) = (feed_of(kind), id.parse::<i64>()) else {
        return Ok(None);
    };
    Ok(console
        .app()
        .store
        .records(feed, v.unit_scope())
        .await?
        .into_iter()
        .find(|s| s.id == id && v.sees_unit(&s.record.unit_id)))
}

async fn page(
    State(console): State<Console>,
    v: Viewer,
    Path((kind, id)): Path<(String, String)>,
) -> Response {
    let doc = match visible_one(&console, &v, &kind, &id).await {
        Ok(Some(d)) => d,
        Ok(None) => return not_found(&console, Some(&v)),
        Err(e) => return failed(&console, &v, &e),
    };
    let app = console.app();
    let history = match history(&console, &doc).await {
        Ok(h) => h,
        Err(e) => return failed(&console, &v, &e),
    };
    let names = unit_names(&app.cfg);
    let may_reply = v.may(Write::Reply);
    console.render(
        StatusCode::OK,
        "document.html",
        context! {
            frame => frame(&console, &v, "/documents"),
            d => view(&doc, &names),
            source => who(&doc.source),
            history => history,
            may_reply => may_reply,
        },
    )
}

/// A document's history as people read it: when, who, what changed.
async fn history(console: &Console, doc: &StoredRecord) -> anyhow::Result<Vec<minijinja::Value>> {
    Ok(console
        .app()
        .store
        .history(doc.record.feed, doc.id)
        .await?
        .iter()
        .map(|h| {
            context! {
                at => local_minute(h.changed_at),
                by => who(&h.source),
                changes => changes_zh(doc.record.feed, &h.changes),
            }
        })
        .collect())
}

/// Who wrote a row, as people read it: `record:fjld（网页）` → `fjld（网页）`; a source's name
/// as it is.
fn who(source: &str) -> String {
    source.strip_prefix("record:").unwrap_or(source).to_string()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ReplyForm {
    csrf: String,
    replied: String,
    reply: String,
    reference: String,
}

/// A unit records its written reply (day, what it did, the reply's own number).
async fn reply(
    State(console): State<Console>,
    v: Viewer,
    Path((kind, id)): Path<(String, String)>,
    Form(form): Form<ReplyForm>,
) -> Response {
    if !v.may_post(&form.csrf, Write::Reply) {
        return forbidden(&console, Some(&v));
    }
    let doc = match visible_one(&console, &v, &kind, &id).await {
        Ok(Some(d)) => d,
        Ok(None) => return not_found(&console, Some(&v)),
        Err(e) => return failed(&console, &v, &e),
    };
    let mut reply: String = form.reply.trim().chars().take(1000).collect();
    let reference: String = form.reference.trim().chars().take(100).collect();
    if !reference.is_empty() {
        reply = format!("{reply}（回复文号：{reference}）");
    }
    if form.replied.trim().is_empty() || reply.is_empty() {
        return error_page(
            &console,
            Some(&v),
            StatusCode::BAD_REQUEST,
            "请填写回复日期和回复情况。",
        );
    }
    let args = DocumentArgs {
        unit: doc.record.unit_id.clone(),
        number: doc.record.case_no.as_written().to_string(),
        replied: Some(form.replied.trim().to_string()),
        reply: Some(reply),
        ..Default::default()
    };
    write(
        &console,
        &v,
        doc.record.feed,
        &args,
        &format!("/documents/{kind}/{id}"),
    )
    .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NewForm {
    csrf: String,
    kind: String,
    unit: String,
    number: String,
    case_ref: String,
    title: String,
    issued: String,
    received: String,
}

/// The procuratorate (or the liaison office) records a new recommendation or opinion.
async fn create(State(console): State<Console>, v: Viewer, Form(form): Form<NewForm>) -> Response {
    if !v.may_post(&form.csrf, Write::Documents) {
        return forbidden(&console, Some(&v));
    }
    let Some(feed) = feed_of(&form.kind) else {
        return error_page(
            &console,
            Some(&v),
            StatusCode::BAD_REQUEST,
            "请选择文书类型。",
        );
    };
    let some =
        |t: &str| Some(t.trim().chars().take(500).collect::<String>()).filter(|t| !t.is_empty());
    let args = DocumentArgs {
        unit: form.unit.trim().to_string(),
        number: form.number.trim().to_string(),
        case_ref: some(&form.case_ref),
        title: some(&form.title),
        issued: some(&form.issued),
        received: some(&form.received),
        ..Default::default()
    };
    write(&console, &v, feed, &args, "/documents").await
}

/// Records a document as `liandong record` does, by `<login>（网页）`; a refused value is said
/// back on the page.
async fn write(
    console: &Console,
    v: &Viewer,
    feed: Feed,
    args: &DocumentArgs,
    back: &str,
) -> Response {
    let app = console.app();
    let cal = match app.cfg.calendar() {
        Ok(c) => c,
        Err(e) => return failed(console, v, &anyhow::anyhow!("{e}")),
    };
    let months = match feed {
        Feed::Opinions => app.cfg.rules.r8_months,
        _ => app.cfg.rules.r7_months,
    };
    let units = crate::units::Units::new(&app.cfg.units);
    let by = v.by();
    let result = record_document(
        app.store(),
        &units,
        &cal,
        feed,
        months,
        args,
        &by,
        app.clock.wall(),
    )
    .await;
    recorded(console, v, result, back)
}

/// The recommendation (R7) or opinion (R8) a finding is about, with its reply and its history
/// (who recorded what), for the finding's page.
pub(super) async fn of_finding(
    console: &Console,
    v: &Viewer,
    f: &crate::store::StoredFinding,
) -> anyhow::Result<Option<minijinja::Value>> {
    let feed = match f.rule {
        crate::domain::rule::RuleId::R7 => Feed::Recommendations,
        crate::domain::rule::RuleId::R8 => Feed::Opinions,
        _ => return Ok(None),
    };
    let Some(key) = f.case_key.as_deref() else {
        return Ok(None);
    };
    let app = console.app();
    let Some(doc) = app
        .store
        .records(feed, Some(&f.unit_id))
        .await?
        .into_iter()
        .find(|s| s.record.case_no.key() == key && v.sees_unit(&s.record.unit_id))
    else {
        return Ok(None);
    };
    let history = history(console, &doc).await?;
    let names = unit_names(&app.cfg);
    Ok(Some(context! {
        d => view(&doc, &names),
        source => who(&doc.source),
        history => history,
    }))
}

/// A history entry's changes as people read them: `回复日期：（空）→ 2026-01-05；…`, each field
/// by its first Chinese header, values masked.
fn changes_zh(feed: Feed, changes: &serde_json::Value) -> String {
    let value = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "（空）".to_string(),
        serde_json::Value::String(s) => crate::mask::mask_text(s),
        other => crate::mask::mask_text(&other.to_string()),
    };
    let Some(m) = changes.as_object() else {
        return String::new();
    };
    m.iter()
        .map(|(name, pair)| {
            let label = feed
                .fields()
                .iter()
                .find(|f| f.name == name)
                .and_then(|f| f.headers.iter().find(|h| !h.is_ascii()))
                .copied()
                .unwrap_or(name.as_str());
            match pair.as_array().map(Vec::as_slice) {
                Some([old, new]) => format!("{label}：{} → {}", value(old), value(new)),
                _ => format!("{label}：{}", value(pair)),
            }
        })
        .collect::<Vec<_>>()
        .join("；")
}
