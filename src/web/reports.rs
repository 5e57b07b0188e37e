//! 周报: the weekly reports that were sent (their snapshots), each shown again as it stood at its
//! slot — the HTML of the mail with its chart, and for the county-wide roles its workbook. A unit
//! account sees its own unit's line only, and no workbook (it lists every unit's findings).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};
use chrono_tz::Asia::Shanghai;
use minijinja::context;

use super::Console;
use super::auth::Viewer;
use super::pages::{failed, frame, not_found};

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/reports", get(list))
        .route("/reports/{week}", get(report))
}

/// `2025-W42` → the instant its report stood at: the latest slot of `[report] schedule` in that
/// ISO week (Asia/Shanghai), or the week's end when none fell in it.
fn as_of(week: &str, schedule: &str) -> Option<DateTime<Utc>> {
    let (year, w) = week.split_once("-W")?;
    let monday =
        NaiveDate::from_isoywd_opt(year.parse().ok()?, w.parse().ok()?, chrono::Weekday::Mon)?;
    let start = Shanghai
        .from_local_datetime(&monday.and_hms_opt(0, 0, 0)?)
        .single()?
        .with_timezone(&Utc);
    let end = start + chrono::TimeDelta::days(7) - chrono::TimeDelta::seconds(1);
    let slot = crate::schedule::Schedule::parse(schedule)
        .ok()
        .and_then(|s| s.last_at_or_before(end))
        .filter(|t| *t >= start);
    Some(slot.unwrap_or(end))
}

async fn list(State(console): State<Console>, v: Viewer) -> Response {
    let app = console.app();
    let periods = match app.store.snapshot_periods("weekly:").await {
        Ok(p) => p,
        Err(e) => return failed(&console, &v, &e.into()),
    };
    let rows: Vec<minijinja::Value> = periods
        .iter()
        .filter_map(|p| p.strip_prefix("weekly:"))
        .filter_map(|week| {
            let at = as_of(week, &app.cfg.report.schedule)?;
            Some(context! {
                week => week,
                label => crate::report::week_label(at),
                as_of => crate::domain::values::local_minute(at),
            })
        })
        .collect();
    console.render(
        StatusCode::OK,
        "reports.html",
        context! {
            frame => frame(&console, &v, "/reports"),
            rows => rows,
            workbook => v.unit_scope().is_none(),
        },
    )
}

/// `/reports/2025-W42` (the report's HTML) or `/reports/2025-W42.xlsx` (its workbook).
async fn report(State(console): State<Console>, v: Viewer, Path(name): Path<String>) -> Response {
    let (week, xlsx) = match name.strip_suffix(".xlsx") {
        Some(w) => (w.to_string(), true),
        None => (name.clone(), false),
    };
    let app = console.app();
    let sent = match app.store.snapshot_periods("weekly:").await {
        Ok(p) => p,
        Err(e) => return failed(&console, &v, &e.into()),
    };
    let Some(at) = as_of(&week, &app.cfg.report.schedule)
        .filter(|_| sent.contains(&crate::report::period(&week)))
    else {
        return not_found(&console, Some(&v));
    };
    if xlsx {
        if v.unit_scope().is_some() {
            return not_found(&console, Some(&v));
        }
        let made = async {
            let report = crate::report::weekly(app.store(), &app.cfg, at).await?;
            crate::report::deliver::workbook(app.store(), &app.cfg, &report, at).await
        };
        return match made.await {
            Ok(bytes) => (
                [
                    (
                        header::CONTENT_TYPE,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                            .to_string(),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"weekly-{week}.xlsx\""),
                    ),
                ],
                bytes,
            )
                .into_response(),
            Err(e) => failed(&console, &v, &e),
        };
    }
    let made = async {
        let mut report = crate::report::weekly(app.store(), &app.cfg, at).await?;
        if let Some(unit) = v.unit_scope() {
            report.units.retain(|u| u.unit_id == unit);
            report.lagging = report.units.iter().filter(|u| u.lagging).count();
        }
        let templates =
            crate::notify::templates::Templates::load(app.cfg.notify.templates_dir.as_deref())?;
        let chart = crate::report::chart::font_file(app.cfg.report.font_file.as_deref())
            .map(|font| crate::report::chart::png(&report, &font))
            .transpose()?;
        let target = crate::report::render::HtmlTarget::File {
            chart_png: chart.as_deref(),
            workbook: None,
        };
        crate::report::render::html(&report, &templates, &app.cfg, target)
    };
    match made.await {
        // The mail's HTML is styled inline; it runs no script and loads nothing.
        Ok(html) => (
            [(
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; \
                 frame-ancestors 'none'; base-uri 'none'",
            )],
            Html(html),
        )
            .into_response(),
        Err(e) => failed(&console, &v, &e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_week_stands_at_its_report_slot() {
        let at = super::as_of("2025-W42", "0 0 9 * * MON").unwrap();
        assert_eq!(at.to_rfc3339(), "2025-10-13T01:00:00+00:00");
        // No slot in the week: its last second.
        let at = super::as_of("2025-W42", "0 0 9 1 1 *").unwrap();
        assert_eq!(at.to_rfc3339(), "2025-10-19T15:59:59+00:00");
        assert!(super::as_of("2025-X42", "0 0 9 * * MON").is_none());
    }
}
