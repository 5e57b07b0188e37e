//! 评查: each unit's case-file review sampling by quarter (population, target, reviewed, the
//! pro-rata line), its last recorded draw with the files drawn and whether each is reviewed;
//! the justice bureau (and the liaison office) draws a sample — the same reproducible draw as
//! `liandong sample draw` — downloads its worksheet, and records reviews.

use std::str::FromStr as _;

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;

use super::Console;
use super::auth::{Viewer, Write, see_other};
use super::pages::{error_page, failed, forbidden, frame, not_found, recorded, unit_names};
use crate::obligations::draws;
use crate::obligations::sampling::{CaseFile, Quarter};

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/sampling", get(page))
        .route("/sampling/draw", post(draw))
        .route("/sampling/review", post(review))
        .route("/sampling/{unit}/{quarter}/worksheet.xlsx", get(worksheet))
}

#[derive(Deserialize, Default)]
struct QuarterQuery {
    quarter: Option<String>,
}

/// The day the console looks at a quarter from: today, or the quarter's last day if it is over.
fn day_of(console: &Console, quarter: Quarter) -> chrono::NaiveDate {
    let today = console
        .app()
        .now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    draws::default_as_of(quarter, today)
}

/// The files of a recorded draw, in draw order, as the store shows them now.
async fn drawn_files(
    console: &Console,
    d: &crate::store::SampleDraw,
    quarter: Quarter,
) -> anyhow::Result<Vec<CaseFile>> {
    let app = console.app();
    let cfg = &app.cfg.obligations;
    let files = draws::unit_files(
        app.store(),
        cfg,
        cfg.population,
        &d.unit_id,
        quarter,
        d.as_of,
    )
    .await?;
    Ok(d.drawn
        .iter()
        .filter_map(|k| files.iter().find(|f| &f.key == k).cloned())
        .collect())
}

async fn page(
    State(console): State<Console>,
    v: Viewer,
    Query(q): Query<QuarterQuery>,
) -> Response {
    let app = console.app();
    let today = app
        .now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let quarter = q
        .quarter
        .as_deref()
        .and_then(|t| Quarter::from_str(t).ok())
        .unwrap_or_else(|| Quarter::of(today));
    let day = day_of(&console, quarter);
    let status = match crate::obligations::status::obligations(
        app.store(),
        &app.cfg.obligations,
        &app.cfg.units,
        day,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return failed(&console, &v, &e.into()),
    };
    let mut units = Vec::new();
    for u in status.units.iter().filter(|u| v.sees_unit(&u.unit_id)) {
        let draws = match app.store.draws(&u.unit_id, &quarter.to_string()).await {
            Ok(d) => d,
            Err(e) => return failed(&console, &v, &e.into()),
        };
        let last = draws.last();
        let files = match last {
            Some(d) => match drawn_files(&console, d, quarter).await {
                Ok(f) => f,
                Err(e) => return failed(&console, &v, &e),
            },
            None => Vec::new(),
        };
        let s = &u.sampling;
        units.push(context! {
            id => u.unit_id.clone(),
            name => u.unit.clone(),
            population => s.population,
            target => s.target,
            reviewed => s.reviewed,
            expected => s.expected,
            state => s.state.as_str(),
            draw => last.map(|d| context! {
                at => crate::domain::values::local_minute(d.drawn_at),
                by => d.drawn_by.clone(),
                seed => d.seed.clone(),
            }),
            files => files.iter().map(|f| context! {
                case_no => crate::mask::mask_text(&f.case_no),
                closed_on => f.closed_on.to_string(),
                pick => if f.focused { "重点检查" } else { "随机抽查" },
                reviewed_on => f.reviewed_on.map(|d| d.to_string()),
            }).collect::<Vec<_>>(),
        });
    }
    let quarters: Vec<String> = {
        let mut q = Quarter::of(today);
        let mut out = Vec::new();
        for _ in 0..4 {
            out.push(q.to_string());
            q = q.previous();
        }
        out
    };
    console.render(
        StatusCode::OK,
        "sampling.html",
        context! {
            frame => frame(&console, &v, "/sampling"),
            quarter => quarter.to_string(),
            quarter_zh => quarter.label_zh(),
            quarters => quarters,
            units => units,
            may_write => v.may(Write::Reviews),
            today => today.to_string(),
        },
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DrawForm {
    csrf: String,
    unit: String,
    quarter: String,
}

/// Draws a unit's sample for a quarter with a fresh seed, recorded by `<login>（网页）`.
async fn draw(State(console): State<Console>, v: Viewer, Form(form): Form<DrawForm>) -> Response {
    if !v.may_post(&form.csrf, Write::Reviews) {
        return forbidden(&console, Some(&v));
    }
    let app = console.app();
    let Ok(quarter) = Quarter::from_str(&form.quarter) else {
        return error_page(&console, Some(&v), StatusCode::BAD_REQUEST, "季度无效。");
    };
    if !app.cfg.units.iter().any(|u| u.id == form.unit) || !v.sees_unit(&form.unit) {
        return not_found(&console, Some(&v));
    }
    let by = v.by();
    let day = day_of(&console, quarter);
    match draws::draw(
        app.store(),
        &app.cfg.obligations,
        &form.unit,
        quarter,
        day,
        &draws::fresh_seed(),
        &by,
        app.clock.wall(),
    )
    .await
    {
        Ok(_) => see_other(&format!("/sampling?quarter={quarter}")),
        Err(e) => failed(&console, &v, &e.into()),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ReviewForm {
    csrf: String,
    unit: String,
    quarter: String,
    case_no: String,
    date: String,
    reviewers: String,
    score: String,
}

/// Records a review (as `liandong record review`), by `<login>（网页）`.
async fn review(
    State(console): State<Console>,
    v: Viewer,
    Form(form): Form<ReviewForm>,
) -> Response {
    if !v.may_post(&form.csrf, Write::Reviews) {
        return forbidden(&console, Some(&v));
    }
    let app = console.app();
    if !app.cfg.units.iter().any(|u| u.id == form.unit) || !v.sees_unit(&form.unit) {
        return not_found(&console, Some(&v));
    }
    let args = crate::record::ReviewArgs {
        unit: form.unit.clone(),
        case_no: form.case_no.trim().to_string(),
        date: form.date.trim().to_string(),
        reviewers: form.reviewers.trim().chars().take(200).collect(),
        score: Some(form.score.trim().to_string()).filter(|s| !s.is_empty()),
        ..Default::default()
    };
    let units = crate::units::Units::new(&app.cfg.units);
    let by = v.by();
    let result = crate::record::record_review(
        app.store(),
        &units,
        &app.cfg.obligations,
        &args,
        &by,
        app.clock.wall(),
    )
    .await;
    recorded(
        &console,
        &v,
        result,
        &format!("/sampling?quarter={}", form.quarter),
    )
}

/// The worksheet of a unit's last draw of a quarter (案卷评查抽查表), as `sample draw --xlsx`
/// writes it.
async fn worksheet(
    State(console): State<Console>,
    v: Viewer,
    Path((unit, quarter)): Path<(String, String)>,
) -> Response {
    let app = console.app();
    let Ok(q) = Quarter::from_str(&quarter) else {
        return not_found(&console, Some(&v));
    };
    if !v.sees_unit(&unit) {
        return not_found(&console, Some(&v));
    }
    let last = match app.store.draws(&unit, &q.to_string()).await {
        Ok(d) => d.into_iter().last(),
        Err(e) => return failed(&console, &v, &e.into()),
    };
    let Some(d) = last else {
        return not_found(&console, Some(&v));
    };
    let made = async {
        let files = drawn_files(&console, &d, q).await?;
        let names = unit_names(&app.cfg);
        let name = names.get(unit.as_str()).copied().unwrap_or(unit.as_str());
        let tmp = tempfile::NamedTempFile::new()?;
        draws::write_xlsx(tmp.path(), name, &d, &files)?;
        anyhow::Ok(std::fs::read(tmp.path())?)
    };
    match made.await {
        Ok(bytes) => (
            [
                (
                    header::CONTENT_TYPE,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"sample-{unit}-{q}.xlsx\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => failed(&console, &v, &e),
    }
}
