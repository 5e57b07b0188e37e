//! `/healthz` and `/metrics`: on `[run] listen` (a loopback address) alone, and beside the web
//! console on `[web] listen` (`/metrics` there only when that address is a loopback one too).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::Shared;

/// The daemon's endpoints; `/metrics` only with `metrics`.
pub fn routes(shared: Arc<Shared>, metrics: bool) -> Router {
    let mut r = Router::new().route("/healthz", get(healthz));
    if metrics {
        r = r.route("/metrics", get(render_metrics));
    }
    r.with_state(shared)
}

/// `[run] listen`: the endpoints and nothing else.
pub fn endpoints(shared: Arc<Shared>) -> Router {
    routes(shared, true).fallback(|| async {
        (
            StatusCode::NOT_FOUND,
            "not found: try /healthz or /metrics\n",
        )
    })
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    let h = shared.health().await;
    let status = if h.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::to_string_pretty(&h).unwrap_or_default() + "\n";
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn render_metrics(State(shared): State<Arc<Shared>>) -> Response {
    match shared.render_metrics().await {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!("metrics: {e:#}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!(
                    "the store cannot be read: {}\n",
                    crate::mask::mask_text(&format!("{e:#}"))
                ),
            )
                .into_response()
        }
    }
}
