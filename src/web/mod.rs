//! The web console (SPEC §10): server-rendered Chinese pages for the liaison office, the
//! procuratorate, the justice bureau and the departments, on one axum router with `/healthz`
//! (and, on a loopback address, `/metrics`) when the daemon serves it.
//!
//! - [`auth`]: the session cookie, sign-in and sign-out, CSRF tokens, who may see what.
//! - [`pages`]: the pages, each a query scoped to the viewer's units and a template.
//! - [`documents`]: recommendations and opinions, a unit's reply, new ones.
//! - [`events`]: meetings and trainings; the administrator's page.
//! - [`reports`]: the weekly reports sent, shown again as they stood.
//!
//! Every page is rendered by minijinja from `templates/web/` (auto-escaped), built into the
//! binary with the stylesheet: county intranets have no internet. Every answer carries the
//! security headers of [`secure_headers`]; a request body is capped at 64 KB.

pub mod auth;
pub mod documents;
pub mod events;
pub mod pages;
pub mod reports;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use crate::app::App;

/// Where a request finds the application in force (the daemon swaps it on a reload).
pub type AppSource = Arc<dyn Fn() -> App + Send + Sync>;

/// What every handler shares.
#[derive(Clone)]
pub struct Console {
    app: AppSource,
    templates: Arc<minijinja::Environment<'static>>,
}

/// The templates, as shipped.
const TEMPLATES: [(&str, &str); 11] = [
    (
        "reports.html",
        include_str!("../../templates/web/reports.html"),
    ),
    (
        "meetings.html",
        include_str!("../../templates/web/meetings.html"),
    ),
    ("admin.html", include_str!("../../templates/web/admin.html")),
    (
        "documents.html",
        include_str!("../../templates/web/documents.html"),
    ),
    (
        "document.html",
        include_str!("../../templates/web/document.html"),
    ),
    ("base.html", include_str!("../../templates/web/base.html")),
    ("login.html", include_str!("../../templates/web/login.html")),
    (
        "overview.html",
        include_str!("../../templates/web/overview.html"),
    ),
    (
        "findings.html",
        include_str!("../../templates/web/findings.html"),
    ),
    (
        "finding.html",
        include_str!("../../templates/web/finding.html"),
    ),
    ("error.html", include_str!("../../templates/web/error.html")),
];

const STYLE: &str = include_str!("../../templates/web/style.css");

impl Console {
    pub fn new(app: AppSource) -> Console {
        let mut env = minijinja::Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        // Every page is HTML: escape everything that is not marked safe.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        for (name, text) in TEMPLATES {
            if let Err(e) = env.add_template(name, text) {
                // The shipped templates are checked by the tests; a broken one is a bug.
                tracing::error!("web template {name}: {e}");
            }
        }
        Console {
            app,
            templates: Arc::new(env),
        }
    }

    pub(crate) fn app(&self) -> App {
        (self.app)()
    }

    /// A page from its template and context; a template error is logged and answered 500.
    pub(crate) fn render(&self, status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
        match self
            .templates
            .get_template(name)
            .and_then(|t| t.render(ctx))
        {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!("web page {name}: {e:#}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "页面出错，请联系系统管理员。\n",
                )
                    .into_response()
            }
        }
    }
}

/// The console's routes, with the application from `app`. Signed out, every page answers 303
/// to `/login`; `extra` (the daemon's `/healthz` and `/metrics`) is served as it is.
pub fn router(app: AppSource, extra: Option<Router>) -> Router {
    let console = Console::new(app);
    let mut r = pages::routes()
        .merge(auth::routes())
        .merge(documents::routes())
        .merge(events::routes())
        .merge(reports::routes())
        .route("/static/style.css", axum::routing::get(style))
        // Browsers ask for it on their own: not a page to sign in for.
        .route(
            "/favicon.ico",
            axum::routing::get(|| async { StatusCode::NOT_FOUND }),
        )
        .with_state(console);
    if let Some(extra) = extra {
        r = r.merge(extra);
    }
    r.layer(axum::middleware::from_fn(secure_headers))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

/// The headers every answer carries: no script at all, no framing, no type sniffing, no
/// referrer outside the console, and pages not cached (they hold what a role may see).
async fn secure_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    // A page that needs other rules (the report's mail HTML, styled inline) sets its own,
    // never with script.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        set(
            h,
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        );
    }
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "same-origin");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    res
}

/// Serves `router` on `listener` until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let shutdown = async move {
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                return;
            }
        }
    };
    if let Err(e) = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    {
        tracing::error!("the web server stopped: {e}");
    }
}

/// `liandong web`: the console alone on `[web] listen`, until SIGTERM or Ctrl-C.
pub async fn serve_alone(app: App) -> anyhow::Result<ExitCode> {
    let listen = app.cfg.web.listen.clone();
    if listen.is_empty() {
        anyhow::bail!("[web] listen is empty: set it to host:port (default 127.0.0.1:8470)");
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen} ([web] listen): {e}"))?;
    let users = app.store.users().await?;
    if users.iter().all(|u| u.disabled_at.is_some()) {
        tracing::warn!(
            "no account can sign in: add one with `liandong user add LOGIN --role ROLE`"
        );
    }
    tracing::info!("web console on http://{listen}/");
    eprintln!("web console on http://{listen}/ (Ctrl-C stops it)");
    let (tx, rx) = tokio::sync::watch::channel(false);
    let router = router(Arc::new(move || app.clone()), None);
    let server = tokio::spawn(serve(listener, router, rx));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    let _ = tx.send(true);
    let _ = server.await;
    Ok(ExitCode::SUCCESS)
}
