//! Who is asking, and what they may do: the session cookie, `/login` and `/logout`, the CSRF
//! token every form carries, and the viewer's scope (a `unit` account sees its own unit only).

use std::net::SocketAddr;

use axum::Form;
use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::Console;
use crate::app::accounts::{self, SignIn};
use crate::store::accounts::{Role, User};

/// The session's cookie: a random token whose hash the store keeps.
pub const SESSION_COOKIE: &str = "liandong_session";
/// The sign-in form's own CSRF token (there is no session yet): a cookie the form repeats.
pub const LOGIN_COOKIE: &str = "liandong_login";

/// A signed-in person.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: User,
    /// The token this session's forms carry back.
    pub csrf: String,
    token: String,
}

/// What a person may write (SPEC §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Set a finding aside with a reason.
    Waive,
    /// Joint meetings and trainings.
    Events,
    /// Procuratorial recommendations and opinions.
    Documents,
    /// A unit's reply to a recommendation or opinion addressed to it.
    Reply,
    /// Sample draws and reviews.
    Reviews,
    /// Accounts.
    Users,
}

impl Viewer {
    /// The one unit this viewer may see, for a `unit` account; `None`: every unit.
    pub fn unit_scope(&self) -> Option<&str> {
        match self.user.role {
            Role::Unit => Some(self.user.unit_id.as_deref().unwrap_or("")),
            _ => None,
        }
    }

    /// Whether this viewer may see what belongs to `unit_id`.
    pub fn sees_unit(&self, unit_id: &str) -> bool {
        self.unit_scope().is_none_or(|u| u == unit_id)
    }

    /// Whether this viewer may write `what`.
    pub fn may(&self, what: Write) -> bool {
        use Role::*;
        match what {
            Write::Waive | Write::Events => self.user.role == Liaison,
            Write::Documents => matches!(self.user.role, Liaison | Procuratorate),
            Write::Reviews => matches!(self.user.role, Liaison | Justice),
            Write::Reply => matches!(self.user.role, Liaison | Unit),
            Write::Users => self.user.role == Admin,
        }
    }

    /// Whether a form carrying `token` may write `what`: this session's token, and the role.
    pub fn may_post(&self, token: &str, what: Write) -> bool {
        self.csrf_ok(token) && self.may(what)
    }

    /// Who a write made in the console is recorded as: `<login>（网页）`.
    pub fn by(&self) -> String {
        format!("{}（网页）", self.user.login)
    }

    /// Whether a form's token is this session's.
    pub fn csrf_ok(&self, token: &str) -> bool {
        !token.is_empty() && same(token.as_bytes(), self.csrf.as_bytes())
    }
}

/// Equal bytes, compared in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The signed-in person of a request, if any.
pub async fn viewer(console: &Console, headers: &HeaderMap) -> Option<Viewer> {
    let token = cookie(headers, SESSION_COOKIE)?;
    // A token is 64 hex digits; anything else is not looked up.
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match accounts::session(&console.app(), token).await {
        Ok(Some(s)) => Some(Viewer {
            user: s.user,
            csrf: s.csrf,
            token: token.to_string(),
        }),
        Ok(None) => None,
        Err(e) => {
            tracing::error!("cannot read a session: {e:#}");
            None
        }
    }
}

/// A page's viewer: signed out, the request is answered 303 to the sign-in form instead.
impl axum::extract::FromRequestParts<Console> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        console: &Console,
    ) -> Result<Viewer, Response> {
        match viewer(console, &parts.headers).await {
            Some(v) => Ok(v),
            None => Err(to_login(
                parts.uri.path_and_query().map_or("/", |p| p.as_str()),
            )),
        }
    }
}

/// The answer to a signed-out request for `path_and_query`: 303 to the sign-in form, which
/// comes back here after.
pub fn to_login(path_and_query: &str) -> Response {
    let next =
        percent_encoding::utf8_percent_encode(path_and_query, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let to = if path_and_query == "/" {
        "/login".to_string()
    } else {
        format!("/login?next={next}")
    };
    see_other(&to)
}

/// 303 See Other to `to`.
pub fn see_other(to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/")),
        )],
    )
        .into_response()
}

/// Where to go after signing in: a path of this site only (no `//host`, no scheme).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.len() <= 512
                && !n.chars().any(char::is_control) =>
        {
            n
        }
        _ => "/",
    }
}

/// Whether the console is reached over HTTPS (its public address says so, or the reverse proxy
/// does): the cookies are then `Secure`.
fn over_https(console: &Console, headers: &HeaderMap) -> bool {
    console
        .app()
        .cfg
        .web
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    same_site: &str,
    secure: bool,
) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"
    ))
    .unwrap_or(HeaderValue::from_static(""))
}

/// The address a failed sign-in is counted against: the peer, or — when the peer is a reverse
/// proxy on this host — the last address it puts in `X-Forwarded-For`.
fn client_address(peer: SocketAddr, headers: &HeaderMap) -> String {
    if peer.ip().is_loopback()
        && let Some(fwd) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .filter(|v| v.parse::<std::net::IpAddr>().is_ok())
    {
        return fwd.to_string();
    }
    peer.ip().to_string()
}

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_form(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    if viewer(&console, &headers).await.is_some() {
        return see_other(safe_next(q.next.as_deref()));
    }
    login_page(
        &console,
        &headers,
        StatusCode::OK,
        q.next.as_deref(),
        None,
        "",
    )
}

/// The sign-in form with its token: the one the browser holds already (a second form opened
/// meanwhile — another tab, a redirected request — must not void the first), or a fresh one
/// whose cookie is set beside it.
fn login_page(
    console: &Console,
    headers: &HeaderMap,
    status: StatusCode,
    next: Option<&str>,
    error: Option<&str>,
    login: &str,
) -> Response {
    let held = cookie(headers, LOGIN_COOKIE)
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string);
    let Some(token) = held.or_else(|| accounts::new_token().ok()) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "暂时无法登录，请稍后再试。\n",
        )
            .into_response();
    };
    let mut res = console.render(
        status,
        "login.html",
        minijinja::context! {
            csrf => token,
            next => safe_next(next),
            error => error,
            login => login,
        },
    );
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            LOGIN_COOKIE,
            &token,
            "/login",
            3600,
            "Strict",
            over_https(console, headers),
        ),
    );
    res
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    login: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

async fn login(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = form.next.as_deref();
    let login_name: String = form.login.trim().chars().take(64).collect();
    let token_ok = cookie(&headers, LOGIN_COOKIE)
        .is_some_and(|c| !form.csrf.is_empty() && same(c.as_bytes(), form.csrf.as_bytes()));
    if !token_ok {
        return login_page(
            &console,
            &headers,
            StatusCode::FORBIDDEN,
            next,
            Some("登录表单已过期，请重新输入。"),
            &login_name,
        );
    }
    let app = console.app();
    let address = client_address(peer, &headers);
    let hours = app.cfg.web.session_hours;
    match accounts::sign_in(&app, &login_name, &form.password, &address, hours).await {
        Ok(SignIn::Opened { token, .. }) => {
            let secure = over_https(&console, &headers);
            let mut res = see_other(safe_next(next));
            let h = res.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(
                    SESSION_COOKIE,
                    &token,
                    "/",
                    i64::from(hours) * 3600,
                    "Lax",
                    secure,
                ),
            );
            h.append(
                header::SET_COOKIE,
                set_cookie(LOGIN_COOKIE, "", "/login", 0, "Strict", secure),
            );
            res
        }
        Ok(SignIn::Refused) => login_page(
            &console,
            &headers,
            StatusCode::UNAUTHORIZED,
            next,
            Some("用户名或密码不正确。"),
            &login_name,
        ),
        Ok(SignIn::Throttled) => login_page(
            &console,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            next,
            Some("尝试次数过多，请一分钟后再试。"),
            &login_name,
        ),
        Err(e) => {
            tracing::error!("sign-in failed: {e:#}");
            login_page(
                &console,
                &headers,
                StatusCode::SERVICE_UNAVAILABLE,
                next,
                Some("暂时无法登录，请稍后再试。"),
                &login_name,
            )
        }
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

async fn logout(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let Some(v) = viewer(&console, &headers).await else {
        return see_other("/login");
    };
    if !v.csrf_ok(&form.csrf) {
        return super::pages::forbidden(&console, Some(&v));
    }
    if let Err(e) = accounts::sign_out(&console.app(), &v.token).await {
        tracing::error!("sign-out: {e:#}");
    }
    let mut res = see_other("/login");
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            "",
            "/",
            0,
            "Lax",
            over_https(&console, &headers),
        ),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/findings/3")), "/findings/3");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(Some("/a\r\nSet-Cookie: x=1")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn a_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; liandong_session=abc"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
