//! 会议与培训 (the joint meetings and the trainings, recorded by the liaison office) and 运维 (the
//! administrator's view: sources and their freshness, quarantined rows, messages that died, and
//! the accounts).

use axum::Form;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use minijinja::context;
use serde::Deserialize;

use super::Console;
use super::auth::{Viewer, Write, see_other};
use super::pages::{error_page, failed, forbidden, frame, not_found, recorded, unit_names};
use crate::domain::values::local_minute;
use crate::record::{EventArgs, record_event};
use crate::records::{Feed, Field, Value};
use crate::store::accounts::Role;

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/meetings", get(meetings).post(record))
        .route("/admin", get(admin))
        .route("/admin/users", axum::routing::post(add_user))
        .route("/admin/users/disable", axum::routing::post(disable_user))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UserForm {
    csrf: String,
    login: String,
    role: String,
    unit: String,
    password: String,
}

/// The administrator adds an account (as `liandong user add`).
async fn add_user(
    State(console): State<Console>,
    v: Viewer,
    Form(form): Form<UserForm>,
) -> Response {
    if !v.may_post(&form.csrf, Write::Users) {
        return forbidden(&console, Some(&v));
    }
    let Some(role) = Role::parse(&form.role) else {
        return error_page(&console, Some(&v), StatusCode::BAD_REQUEST, "请选择角色。");
    };
    let unit = Some(form.unit.trim()).filter(|u| !u.is_empty() && role == Role::Unit);
    let app = console.app();
    match crate::app::accounts::add_user(&app, form.login.trim(), role, unit, &form.password).await
    {
        Ok(u) => {
            tracing::info!(by = %v.user.login, login = %u.login, role = u.role.as_str(), "account added in the console");
            see_other("/admin")
        }
        Err(e) => error_page(
            &console,
            Some(&v),
            StatusCode::BAD_REQUEST,
            &format!("未添加：{e}"),
        ),
    }
}

/// The administrator disables an account and ends its sessions (as `liandong user disable`).
async fn disable_user(
    State(console): State<Console>,
    v: Viewer,
    Form(form): Form<UserForm>,
) -> Response {
    if !v.may_post(&form.csrf, Write::Users) {
        return forbidden(&console, Some(&v));
    }
    if form.login == v.user.login {
        return error_page(
            &console,
            Some(&v),
            StatusCode::BAD_REQUEST,
            "不能停用自己的账号。",
        );
    }
    let app = console.app();
    match app.store.disable_user(&form.login, app.clock.wall()).await {
        Ok(true) => {
            tracing::info!(by = %v.user.login, login = %form.login, "account disabled in the console");
            see_other("/admin")
        }
        Ok(false) => not_found(&console, Some(&v)),
        Err(e) => failed(&console, &v, &e.into()),
    }
}

fn text(r: &crate::records::Record, f: Field) -> String {
    match r.get(f) {
        Value::Null => String::new(),
        v => crate::mask::mask_text(&v.display()),
    }
}

/// Every unit may read the county's meetings and trainings (a unit account: those it organised
/// and the county-wide ones, which concern it).
async fn meetings(State(console): State<Console>, v: Viewer) -> Response {
    let app = console.app();
    let events = match app.store.records(Feed::Events, None).await {
        Ok(e) => e,
        Err(e) => return failed(&console, &v, &e.into()),
    };
    let names = unit_names(&app.cfg);
    let liaison: Vec<&str> = app
        .cfg
        .units
        .iter()
        .filter(|u| u.kind == crate::config::UnitKind::Liaison)
        .map(|u| u.id.as_str())
        .collect();
    let mut rows: Vec<(String, minijinja::Value)> = events
        .iter()
        .filter(|s| v.sees_unit(&s.record.unit_id) || liaison.contains(&s.record.unit_id.as_str()))
        .map(|s| {
            let r = &s.record;
            let kind = text(r, Field::Kind);
            let held = text(r, Field::HeldOn);
            (
                held.clone(),
                context! {
                    kind => if kind == "training" { "专题培训" } else { "联席会议" },
                    held => held,
                    title => text(r, Field::Title),
                    organiser => names.get(r.unit_id.as_str()).map_or_else(|| r.unit_id.clone(), |n| (*n).to_string()),
                    units => text(r, Field::Units),
                    attendees => text(r, Field::Attendees),
                    minutes => text(r, Field::Minutes),
                    by => s.source.strip_prefix("record:").unwrap_or(&s.source).to_string(),
                },
            )
        })
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0));
    let units: Vec<minijinja::Value> = app
        .cfg
        .units
        .iter()
        .map(|u| context! { id => u.id.clone(), name => u.name.clone() })
        .collect();
    console.render(
        StatusCode::OK,
        "meetings.html",
        context! {
            frame => frame(&console, &v, "/meetings"),
            rows => rows.into_iter().map(|(_, r)| r).collect::<Vec<_>>(),
            may_record => v.may(Write::Events),
            units => units,
        },
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EventForm {
    csrf: String,
    kind: String,
    date: String,
    title: String,
    unit: String,
    units: String,
    attendees: String,
    minutes: String,
}

/// The liaison office records a meeting or a training (as `liandong record meeting|training`).
async fn record(
    State(console): State<Console>,
    v: Viewer,
    Form(form): Form<EventForm>,
) -> Response {
    if !v.may_post(&form.csrf, Write::Events) {
        return forbidden(&console, Some(&v));
    }
    let kind = match form.kind.as_str() {
        "meeting" | "training" => form.kind.clone(),
        _ => {
            return error_page(
                &console,
                Some(&v),
                StatusCode::BAD_REQUEST,
                "请选择会议或培训。",
            );
        }
    };
    let some =
        |t: &str| Some(t.trim().chars().take(500).collect::<String>()).filter(|t| !t.is_empty());
    let args = EventArgs {
        date: form.date.trim().to_string(),
        title: some(&form.title),
        number: None,
        unit: some(&form.unit),
        units: some(&form.units),
        attendees: some(&form.attendees),
        minutes: some(&form.minutes),
    };
    let app = console.app();
    let units = crate::units::Units::new(&app.cfg.units);
    let by = v.by();
    let result = record_event(app.store(), &units, &kind, &args, &by, app.clock.wall()).await;
    recorded(&console, &v, result, "/meetings")
}

/// 运维: for the administrator only (another role is answered 404, as for a page it may not
/// see).
async fn admin(State(console): State<Console>, v: Viewer) -> Response {
    if v.user.role != Role::Admin {
        return not_found(&console, Some(&v));
    }
    let app = console.app();
    let now = app.now();
    let (states, quarantined, dead, users) = match tokio::try_join!(
        async { anyhow::Ok(app.store.source_states().await?) },
        async { anyhow::Ok(app.store.quarantined(None, 50).await?) },
        async { anyhow::Ok(app.store.outbox_messages(Some("dead"), 50).await?,) },
        async { anyhow::Ok(app.store.users().await?) },
    ) {
        Ok(x) => x,
        Err(e) => return failed(&console, &v, &e),
    };
    let sources: Vec<minijinja::Value> = app
        .cfg
        .sources
        .iter()
        .map(|src| {
            let st = states.iter().find(|s| s.name == src.name);
            let fresh = crate::sync::freshness(src, st, now);
            context! {
                name => src.name.clone(),
                freshness => fresh.as_str(),
                last_success => st.and_then(|s| s.last_success_at).map(local_minute),
                last_error => st.and_then(|s| s.last_error.clone()).map(|e| crate::mask::mask_text(&e)),
            }
        })
        .collect();
    let quarantined: Vec<minijinja::Value> = quarantined
        .iter()
        .map(|q| {
            context! {
                source => q.source.clone(),
                location => crate::mask::mask_text(&format!("{}:{}", q.item.location, q.item.row)),
                field => q.item.field.clone(),
                reason => crate::mask::mask_text(&q.item.reason),
            }
        })
        .collect();
    let dead: Vec<minijinja::Value> = dead
        .iter()
        .map(|m| {
            context! {
                channel => m.channel.clone(),
                recipient => crate::mask::mask_text(&m.recipient),
                subject => crate::mask::mask_text(&m.subject),
                error => m.last_error.as_deref().map(crate::mask::mask_text),
            }
        })
        .collect();
    let names = unit_names(&app.cfg);
    let users: Vec<minijinja::Value> = users
        .iter()
        .map(|u| {
            context! {
                login => u.login.clone(),
                me => u.login == v.user.login,
                role => u.role.zh(),
                unit => u.unit_id.as_deref().map(|id| names.get(id).map_or(id, |n| *n).to_string()),
                disabled => u.disabled_at.map(local_minute),
            }
        })
        .collect();
    console.render(
        StatusCode::OK,
        "admin.html",
        context! {
            frame => frame(&console, &v, "/admin"),
            sources => sources,
            quarantined => quarantined,
            dead => dead,
            users => users,
            roles => Role::ALL.iter().map(|r| context! { id => r.as_str(), name => r.zh() }).collect::<Vec<_>>(),
            units => app.cfg.units.iter().map(|u| context! { id => u.id.clone(), name => u.name.clone() }).collect::<Vec<_>>(),
        },
    )
}
