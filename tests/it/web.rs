//! The web console over HTTP (SPEC §10, issue 23): the built binary's `liandong web` on the
//! sample county, accounts added with `liandong user add`, every route asked by every role and
//! signed out; sign-in with its CSRF token and its throttle; the security headers; no ID number
//! in any page.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{COOKIE, HeaderMap, LOCATION, SET_COOKIE};

use crate::common;
use crate::notify::free_port;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary on the sample county's configuration with the store `db`.
fn sample(db: &Path, args: &[&str]) -> Command {
    let mut c = common::bin();
    c.current_dir(repo())
        .args(["--config", "config/liandong.toml"])
        .args(args)
        .env("LIANDONG__STORE__URL", format!("sqlite://{}", db.display()))
        .env_remove("LIANDONG_CONFIG")
        .env_remove("RUST_LOG");
    c
}

fn ok(o: Output) -> String {
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{text}");
    text
}

/// The accounts of the tests: (login, role, unit).
const ACCOUNTS: [(&str, &str, Option<&str>); 7] = [
    ("admin", "admin", None),
    ("fjld", "liaison", None),
    ("jcy", "procuratorate", None),
    ("sfj", "justice", None),
    ("scjg", "unit", Some("scjg")),
    ("zrzy", "unit", Some("zrzy")),
    ("jtys", "unit", Some("jtys")),
];

fn password(login: &str) -> String {
    format!("{login}-correct-horse")
}

/// `liandong web` serving the sample county's store, evaluated at the end of 2025, with the
/// test accounts.
struct Console {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Console {
    fn start() -> Console {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("web.db");
        ok(sample(&db, &["sync"]).output().unwrap());
        ok(sample(&db, &["evaluate", "--as-of", "2025-12-31"])
            .output()
            .unwrap());
        // A weekly report sent (its mail to the folder), for the 周报 pages.
        let outbox = dir.path().join("outbox").display().to_string();
        ok(sample(
            &db,
            &[
                "report",
                "weekly",
                "--as-of",
                "2025-12-29T09:00:00+08:00",
                "--send",
            ],
        )
        .env("LIANDONG__NOTIFY__EMAIL__DIR", &outbox)
        .output()
        .unwrap());
        for (login, role, unit) in ACCOUNTS {
            let file = common::write(dir.path(), &format!("{login}.pw"), password(login) + "\n");
            let mut args = vec!["user", "add", login, "--role", role, "--password-file"];
            let file = file.display().to_string();
            args.push(&file);
            if let Some(u) = unit {
                args.extend(["--unit", u]);
            }
            let out = ok(sample(&db, &args).output().unwrap());
            assert!(out.contains(&format!("added {login}")), "{out}");
        }
        let port = free_port();
        let child = sample(&db, &["web"])
            .env("LIANDONG__WEB__LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "liandong web never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Console { child, port, dir }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("web.db")
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A form as a browser posts it.
fn form_body(pairs: &[(&str, &str)]) -> String {
    let enc = |t: &str| {
        percent_encoding::utf8_percent_encode(t, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A cookie's value among a response's `Set-Cookie` headers.
fn set_cookie(h: &HeaderMap, name: &str) -> Option<String> {
    h.get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix(&format!("{name}="))
                .map(|r| r.split(';').next().unwrap_or("").to_string())
        })
}

/// The value of the hidden field `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} in {html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// A signed-in browser: its session cookie and its forms' token.
struct Session {
    cookie: String,
    csrf: String,
}

/// Asks for the sign-in form and posts it: (the answer, the login token's cookie).
async fn sign_in_answer(c: &Console, login: &str, pw: &str) -> reqwest::Response {
    let http = client();
    let form = http.get(c.url("/login")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let token = set_cookie(form.headers(), "liandong_login").expect("the form's token cookie");
    let html = form.text().await.unwrap();
    assert_eq!(hidden(&html, "csrf"), token);
    http.post(c.url("/login"))
        .header(COOKIE, format!("liandong_login={token}"))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form_body(&[
            ("login", login),
            ("password", pw),
            ("csrf", token.as_str()),
            ("next", "/"),
        ]))
        .send()
        .await
        .unwrap()
}

async fn sign_in(c: &Console, login: &str) -> Session {
    let res = sign_in_answer(c, login, &password(login)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{login}");
    let cookie = set_cookie(res.headers(), "liandong_session").expect("a session cookie");
    let all: Vec<&str> = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let session = all
        .iter()
        .find(|v| v.starts_with("liandong_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    let home = get(c, Some(&format!("liandong_session={cookie}")), "/").await;
    assert_eq!(home.0, StatusCode::OK);
    Session {
        csrf: hidden(&home.1, "csrf"),
        cookie: format!("liandong_session={cookie}"),
    }
}

/// GET `path` with the cookie: (status, body, Location).
async fn get(
    c: &Console,
    cookie: Option<&str>,
    path: &str,
) -> (StatusCode, String, Option<String>, HeaderMap) {
    let mut rq = client().get(c.url(path));
    if let Some(k) = cookie {
        rq = rq.header(COOKIE, k);
    }
    let res = rq.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let location = headers
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string());
    (status, res.text().await.unwrap(), location, headers)
}

async fn post(c: &Console, s: &Session, path: &str, form: &[(&str, &str)]) -> StatusCode {
    client()
        .post(c.url(path))
        .header(COOKIE, &s.cookie)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form_body(form))
        .send()
        .await
        .unwrap()
        .status()
}

/// The page of a recommendation or opinion addressed to `unit_name`, by the list the liaison
/// office sees.
async fn a_document_of(c: &Console, s: &Session, unit_name: &str) -> String {
    let (status, html, ..) = get(c, Some(&s.cookie), "/documents").await;
    assert_eq!(status, StatusCode::OK);
    let row = html
        .split("<tr>")
        .find(|r| r.contains(unit_name) && r.contains("href=\"/documents/"))
        .unwrap_or_else(|| panic!("no document of {unit_name}: {html}"));
    let at = row.find("href=\"").unwrap() + 6;
    row[at..at + row[at..].find('"').unwrap()].to_string()
}

/// An open finding of a unit, by the list the liaison office sees: its id.
async fn a_finding_of(c: &Console, s: &Session, unit: &str) -> String {
    let (status, html, ..) = get(c, Some(&s.cookie), &format!("/findings?unit={unit}")).await;
    assert_eq!(status, StatusCode::OK);
    let at = html
        .find("href=\"/findings/")
        .unwrap_or_else(|| panic!("no finding of {unit}: {html}"));
    let rest = &html[at + 16..];
    rest[..rest.find('"').unwrap()].to_string()
}

fn assert_secure_headers(h: &HeaderMap, what: &str) {
    let csp = h
        .get("content-security-policy")
        .map(|v| v.to_str().unwrap())
        .unwrap_or("");
    // No script at all: none allowed by default, none named; inline styles at most.
    let inline = csp
        .split(';')
        .filter(|d| d.contains("unsafe-inline"))
        .all(|d| d.trim().starts_with("style-src"));
    assert!(
        csp.contains("frame-ancestors 'none'")
            && csp.contains("default-src 'none'")
            && !csp.contains("script-src")
            && inline,
        "{what}: {csp}"
    );
    assert_eq!(
        h.get("x-content-type-options").map(|v| v.to_str().unwrap()),
        Some("nosniff"),
        "{what}"
    );
}

/// 18-digit ID numbers (the last may be X) anywhere in a page.
fn id_numbers(html: &str) -> Vec<String> {
    let chars: Vec<char> = html.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 18 <= chars.len() {
        let w = &chars[i..i + 18];
        let boundary = i == 0 || !chars[i - 1].is_ascii_digit();
        if boundary
            && w[..17].iter().all(char::is_ascii_digit)
            && (w[17].is_ascii_digit() || w[17] == 'X')
            && chars.get(i + 18).is_none_or(|c| !c.is_ascii_digit())
        {
            out.push(w.iter().collect());
        }
        i += 1;
    }
    out
}

/// The whole matrix of SPEC §10 for the console's routes: signed out, every page is 303 to the
/// sign-in form; every role reads what it may; a unit sees its own unit only, another unit's
/// finding is 404 like one that does not exist; only the liaison office waives, and only with
/// the form's token; every answer carries the security headers and no ID number.
#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_every_role_as_the_contract_says() {
    let c = Console::start();
    let liaison = sign_in(&c, "fjld").await;
    let scjg_finding = a_finding_of(&c, &liaison, "scjg").await;
    let zrzy_finding = a_finding_of(&c, &liaison, "zrzy").await;
    let scjg_doc = a_document_of(&c, &liaison, "稻城县市场监督管理局").await;
    let zrzy_doc = a_document_of(&c, &liaison, "稻城县自然资源局").await;
    // Every page, with the unit it belongs to (a unit account of another unit gets 404).
    let owned = [
        ("/".to_string(), None),
        ("/findings".to_string(), None),
        ("/findings?state=all".to_string(), None),
        (format!("/findings/{scjg_finding}"), Some("scjg")),
        (format!("/findings/{zrzy_finding}"), Some("zrzy")),
        ("/documents".to_string(), None),
        (scjg_doc.clone(), Some("scjg")),
        (zrzy_doc.clone(), Some("zrzy")),
        ("/sampling".to_string(), None),
        ("/sampling?quarter=2025Q4".to_string(), None),
        ("/meetings".to_string(), None),
        ("/reports".to_string(), None),
        ("/reports/2026-W01".to_string(), None),
        ("/reports/2026-W01.xlsx".to_string(), None),
        ("/reports/2025-W40".to_string(), None),
        ("/admin".to_string(), None),
        ("/findings/999999999".to_string(), None),
        ("/documents/recommendation/999999999".to_string(), None),
        ("/no-such-page".to_string(), None),
    ];
    let pages: Vec<String> = owned.iter().map(|(p, _)| p.clone()).collect();

    // Signed out: every page to the sign-in form, which comes back to it.
    for p in &pages {
        let (status, _, location, headers) = get(&c, None, p).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{p}");
        let location = location.unwrap();
        assert!(location.starts_with("/login"), "{p}: {location}");
        if p != "/" {
            assert!(location.contains("next=%2F"), "{p}: {location}");
        }
        assert_secure_headers(&headers, p);
    }
    // /healthz answers signed out (the store answers).
    let (status, body, ..) = get(&c, None, "/healthz").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));
    // A made-up session cookie is signed out too.
    let fake = format!("liandong_session={}", "ab".repeat(32));
    assert_eq!(get(&c, Some(&fake), "/").await.0, StatusCode::SEE_OTHER);

    for (login, role, unit) in ACCOUNTS {
        let s = if login == "fjld" {
            Session {
                cookie: liaison.cookie.clone(),
                csrf: liaison.csrf.clone(),
            }
        } else {
            sign_in(&c, login).await
        };
        for p in &pages {
            let (status, html, _, headers) = get(&c, Some(&s.cookie), p).await;
            // Nothing there, or another unit's finding for a unit account: the same 404.
            // (No report was sent for 2025-W40; a unit account gets no workbook of every unit.)
            let missing = p.ends_with("999999999")
                || p == "/no-such-page"
                || p == "/reports/2025-W40"
                || (p.ends_with(".xlsx") && unit.is_some());
            let owner = owned.iter().find(|(q, _)| q == p).and_then(|(_, o)| *o);
            let others = unit.is_some() && owner.is_some_and(|o| Some(o) != unit);
            // The administrator's page is no other role's: 404 like a page that is not there.
            let admin_only = p == "/admin" && role != "admin";
            let expected = if missing || others || admin_only {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::OK
            };
            assert_eq!(status, expected, "{login} ({role}) {p}");
            assert_secure_headers(&headers, p);
            assert!(
                id_numbers(&html).is_empty(),
                "{login} {p}: {:?}",
                id_numbers(&html)
            );
            if let Some(u) = unit {
                // No list or page of a unit account names another unit.
                let other = if u == "scjg" {
                    "稻城县自然资源局"
                } else {
                    "稻城县市场监督管理局"
                };
                assert!(!html.contains(other), "{login} {p} shows {other}");
            }
        }
        // The unit filter of another unit is ignored for a unit account.
        if let Some(u) = unit {
            let other = if u == "scjg" { "zrzy" } else { "scjg" };
            let (status, html, ..) = get(
                &c,
                Some(&s.cookie),
                &format!("/findings?unit={other}&state=all"),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            let own = a_finding_of(&c, &s, u).await;
            assert!(
                html.contains(&format!("/findings/{own}")),
                "{login}: own findings listed"
            );
        }
        // Who may write what (SPEC §10): meetings the liaison office; new documents it and the
        // procuratorate; a reply the unit addressed (another unit: 404) and the liaison office.
        let n = ACCOUNTS.iter().position(|a| a.0 == login).unwrap();
        let meeting = post(
            &c,
            &s,
            "/meetings",
            &[
                ("csrf", &s.csrf),
                ("kind", "meeting"),
                ("date", "2025-12-20"),
                ("title", login),
            ],
        )
        .await;
        let may = |roles: &[&str]| {
            if roles.contains(&role) {
                StatusCode::SEE_OTHER
            } else {
                StatusCode::FORBIDDEN
            }
        };
        assert_eq!(meeting, may(&["liaison"]), "{login}: a meeting");
        let number = format!("稻检行建〔2026〕{}号", 100 + n);
        let document = post(
            &c,
            &s,
            "/documents",
            &[
                ("csrf", &s.csrf),
                ("kind", "recommendation"),
                ("unit", "scjg"),
                ("number", &number),
                ("issued", "2025-12-01"),
            ],
        )
        .await;
        assert_eq!(
            document,
            may(&["liaison", "procuratorate"]),
            "{login}: a document"
        );
        let drawn = post(
            &c,
            &s,
            "/sampling/draw",
            &[("csrf", &s.csrf), ("unit", "nync"), ("quarter", "2025Q4")],
        )
        .await;
        assert_eq!(
            drawn,
            may(&["liaison", "justice"]),
            "{login}: a sample draw"
        );
        let new_login = format!("new-{login}");
        let added = post(
            &c,
            &s,
            "/admin/users",
            &[
                ("csrf", &s.csrf),
                ("login", &new_login),
                ("role", "justice"),
                ("password", "a long password"),
            ],
        )
        .await;
        assert_eq!(added, may(&["admin"]), "{login}: an account");
        let reply = post(
            &c,
            &s,
            &format!("{scjg_doc}/reply"),
            &[
                ("csrf", &s.csrf),
                ("replied", "2025-10-27"),
                ("reply", "已回复"),
            ],
        )
        .await;
        let expected = match (role, unit) {
            ("liaison", _) | (_, Some("scjg")) => StatusCode::SEE_OTHER,
            (_, Some(_)) => StatusCode::NOT_FOUND,
            _ => StatusCode::FORBIDDEN,
        };
        assert_eq!(reply, expected, "{login}: a reply");
        // Without the token nothing is written, whoever asks.
        assert_eq!(
            post(
                &c,
                &s,
                "/meetings",
                &[("kind", "meeting"), ("date", "2025-12-21")]
            )
            .await,
            StatusCode::FORBIDDEN,
            "{login}"
        );

        // Only the liaison office waives; everyone else is refused, with or without the token.
        if role != "liaison" {
            let path = format!("/findings/{scjg_finding}/waive");
            let status = post(&c, &s, &path, &[("csrf", &s.csrf), ("reason", "试图豁免")]).await;
            assert!(
                status == StatusCode::FORBIDDEN
                    || (status == StatusCode::NOT_FOUND && unit == Some("zrzy")),
                "{login}: {status}"
            );
        }
    }

    // The liaison office: without the token refused, with it done, and in the history with who.
    let path = format!("/findings/{scjg_finding}/waive");
    assert_eq!(
        post(&c, &liaison, &path, &[("reason", "已核实另案处理")]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(
            &c,
            &liaison,
            &path,
            &[
                ("csrf", "0".repeat(64).as_str()),
                ("reason", "已核实另案处理")
            ]
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(
            &c,
            &liaison,
            &path,
            &[
                ("csrf", liaison.csrf.as_str()),
                ("reason", "已核实另案处理")
            ]
        )
        .await,
        StatusCode::SEE_OTHER
    );
    let (_, html, ..) = get(
        &c,
        Some(&liaison.cookie),
        &format!("/findings/{scjg_finding}"),
    )
    .await;
    assert!(
        html.contains("已豁免") && html.contains("fjld（网页）") && html.contains("已核实另案处理"),
        "{html}"
    );
    let cli = ok(sample(&c.db(), &["findings", "--all", "--format", "json"])
        .output()
        .unwrap());
    assert!(
        cli.contains("fjld（网页）"),
        "the waiver is in the store with who made it"
    );

    // Signing out ends the session: its cookie opens nothing any more.
    assert_eq!(
        post(&c, &liaison, "/logout", &[("csrf", &liaison.csrf)]).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        get(&c, Some(&liaison.cookie), "/").await.0,
        StatusCode::SEE_OTHER
    );
}

/// Sign-in: without the form's token refused; a wrong password five times in a minute, and the
/// sixth try is refused even with the right one; a disabled account cannot sign in; the form
/// never sends anyone to another site afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn sign_in_needs_the_forms_token_and_is_throttled_after_five_failures() {
    let c = Console::start();
    let http = client();
    // No token (a cross-site form): refused.
    let res = http
        .post(c.url("/login"))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form_body(&[
            ("login", "jcy"),
            ("password", password("jcy").as_str()),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(res.headers(), "liandong_session").is_none());

    for i in 0..5 {
        let res = sign_in_answer(&c, "jcy", "wrong password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "try {}", i + 1);
        assert!(res.text().await.unwrap().contains("用户名或密码不正确"));
    }
    let res = sign_in_answer(&c, "jcy", &password("jcy")).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.text().await.unwrap().contains("尝试次数过多"));
    // Another login is not locked out by it.
    assert_eq!(
        sign_in_answer(&c, "sfj", &password("sfj")).await.status(),
        StatusCode::SEE_OTHER
    );

    // A disabled account cannot sign in, and its open session ends.
    let s = sign_in(&c, "zrzy").await;
    ok(sample(&c.db(), &["user", "disable", "zrzy"])
        .output()
        .unwrap());
    assert_eq!(get(&c, Some(&s.cookie), "/").await.0, StatusCode::SEE_OTHER);
    assert_eq!(
        sign_in_answer(&c, "zrzy", &password("zrzy")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let list = ok(sample(&c.db(), &["user", "list"]).output().unwrap());
    assert!(list.contains("zrzy") && list.contains("unit"), "{list}");

    // After signing in, only a path of this site is followed.
    let form = http.get(c.url("/login")).send().await.unwrap();
    let token = set_cookie(form.headers(), "liandong_login").unwrap();
    let res = http
        .post(c.url("/login"))
        .header(COOKIE, format!("liandong_login={token}"))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form_body(&[
            ("login", "admin"),
            ("password", password("admin").as_str()),
            ("csrf", token.as_str()),
            ("next", "//evil.example/"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers().get(LOCATION).unwrap(), "/");
}

/// `liandong user add` refuses what would make a useless or unsafe account.
#[test]
fn user_add_refuses_a_short_password_a_unit_without_unit_and_a_taken_login() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("u.db");
    let add = |args: &[&str], pw: &str| {
        let mut child = sample(&db, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        writeln!(child.stdin.take().unwrap(), "{pw}").unwrap();
        let o = child.wait_with_output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let (code, out) = add(&["user", "add", "li", "--role", "unit"], "long enough pw");
    assert_ne!(code, Some(0));
    assert!(out.contains("--unit"), "{out}");
    let (code, out) = add(
        &["user", "add", "li", "--role", "unit", "--unit", "nosuch"],
        "long enough pw",
    );
    assert_ne!(code, Some(0));
    assert!(out.contains("nosuch") && out.contains("scjg"), "{out}");
    let (code, out) = add(&["user", "add", "li", "--role", "liaison"], "short");
    assert_ne!(code, Some(0));
    assert!(out.contains("at least 10"), "{out}");
    let (code, out) = add(
        &["user", "add", "li", "--role", "liaison"],
        "long enough pw",
    );
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = add(&["user", "add", "li", "--role", "admin"], "long enough pw");
    assert_ne!(code, Some(0));
    assert!(out.contains("taken"), "{out}");
    // The hash, never the password, is in the store (its file and its WAL).
    let mut text = String::new();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("u.db") {
            text.push_str(&String::from_utf8_lossy(&std::fs::read(p).unwrap()));
        }
    }
    assert!(!text.contains("long enough pw") && text.contains("$argon2id$"));
}

/// Issue 23's browser test: in headless Chromium at 1366×768, the transport bureau's clerk signs
/// in, opens the R7 finding from the list, follows it to the recommendation and records the
/// reply; after `evaluate` the finding is resolved and its page shows the reply and who recorded
/// it. Screenshots of the overview and the finding's page are kept in the test's output folder
/// (`target/tmp/web-console/`).
#[tokio::test(flavor = "multi_thread")]
async fn a_units_clerk_records_a_reply_in_chromium_and_the_evaluation_resolves_r7() {
    let Some(b) = crate::webdriver::Browser::start("the console in Chromium").await else {
        return;
    };
    let c = Console::start();
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-console");
    std::fs::create_dir_all(&shots).unwrap();
    let keep = |name: &str, png: &[u8], width: u32| {
        let (w, h, rgb) = crate::report::decode_png(png);
        assert_eq!(w, width, "{name}: the window's width");
        let dark = rgb.chunks(3).filter(|p| p.iter().all(|c| *c < 128)).count();
        assert!(dark > 500, "{name}: the page shows text ({w}×{h})");
        std::fs::write(shots.join(name), png).unwrap();
    };

    b.goto(&c.url("/findings")).await;
    // Signed out: the sign-in form, which comes back to the list.
    b.type_into(&b.find("input[name=login]").await, "jtys")
        .await;
    b.type_into(&b.find("input[name=password]").await, &password("jtys"))
        .await;
    b.click(&b.find("form[action='/login'] button").await).await;
    b.wait_url(|u| u.ends_with("/findings")).await;

    b.click(&b.find("nav a[href='/']").await).await;
    b.wait_url(|u| u.ends_with('/')).await;
    let page = b.wait_text("<h1>总览</h1>").await;
    assert!(page.contains("稻城县交通运输局") && !page.contains("稻城县市场监督管理局"));
    let shot = b.screenshot().await;
    keep("overview.png", &shot, 1366);
    // The chart is drawn inline: its bars' colours are on the screen.
    assert!(page.contains("<svg") && page.contains("其中逾期"), "{page}");
    let (_, _, rgb) = crate::report::decode_png(&shot);
    let red = rgb
        .chunks(3)
        .filter(|p| p[0] > 170 && p[1] < 80 && p[2] < 80)
        .count();
    assert!(red > 200, "the overdue bars show ({red} red pixels)");

    // The list → the R7 finding.
    b.click(&b.find("nav a[href='/findings']").await).await;
    b.wait_url(|u| u.ends_with("/findings")).await;
    let link = b.xpath("//tr[td[contains(., 'R7')]]//a").await;
    b.click(&link).await;
    let finding_url = b.wait_url(|u| u.contains("/findings/")).await;
    let page = b.wait_text("相关文书").await;
    assert!(
        page.contains("<h1>R7 ") && page.contains("未回复"),
        "{page}"
    );
    keep("finding.png", &b.screenshot().await, 1366);

    // Its recommendation → the reply.
    b.click(&b.find("a[href^='/documents/recommendation/']").await)
        .await;
    b.wait_url(|u| u.contains("/documents/recommendation/"))
        .await;
    b.set_value(&b.find("input[name=replied]").await, "2026-01-05")
        .await;
    b.type_into(
        &b.find("textarea[name=reply]").await,
        "已补录平台并建立移送台账",
    )
    .await;
    b.type_into(
        &b.find("input[name=reference]").await,
        "稻交运函〔2026〕1号",
    )
    .await;
    b.click(&b.find("form[action$='/reply'] button").await)
        .await;
    let page = b.wait_text("jtys（网页）").await;
    assert!(page.contains("已补录平台并建立移送台账"), "{page}");

    // The next evaluation resolves R7; the finding's page shows the reply and who recorded it.
    ok(sample(&c.db(), &["evaluate", "--as-of", "2026-01-06"])
        .output()
        .unwrap());
    b.goto(&finding_url).await;
    let page = b.wait_text("已办结").await;
    assert!(
        page.contains("已补录平台并建立移送台账（回复文号：稻交运函〔2026〕1号）"),
        "{page}"
    );
    assert!(
        page.contains("jtys（网页）") && page.contains("回复日期：（空） → 2026-01-05"),
        "{page}"
    );
    keep("finding-resolved.png", &b.screenshot().await, 1366);

    // On a phone (the clerk taps the link in the reminder): the page fits its width — wide
    // tables scroll inside their box, the page itself does not.
    b.set_window(390, 844).await;
    for (path, name) in [
        ("/", "overview-phone.png"),
        ("/findings", "findings-phone.png"),
    ] {
        b.goto(&c.url(path)).await;
        b.find("h1").await;
        let fits = b
            .eval("return document.documentElement.scrollWidth <= window.innerWidth;")
            .await;
        assert_eq!(
            fits,
            serde_json::Value::Bool(true),
            "{path} is wider than a phone"
        );
        let width = b.eval("return window.innerWidth;").await.as_u64().unwrap() as u32;
        keep(name, &b.screenshot().await, width);
    }
}

/// Issue 23 item 5: with `[web] public_url` set, each reminder's item links to its finding's
/// page and the weekly report's mail to its week's page — and the links open those pages.
#[tokio::test(flavor = "multi_thread")]
async fn mails_link_to_the_findings_and_the_report_in_the_console() {
    let c = Console::start();
    let base = c.url("");
    let outbox = c.dir.path().join("links");
    let with_url = |args: &[&str]| {
        ok(sample(&c.db(), args)
            .env("LIANDONG__WEB__PUBLIC_URL", &base)
            .env("LIANDONG__NOTIFY__EMAIL__DIR", outbox.display().to_string())
            .output()
            .unwrap())
    };
    with_url(&["notify", "--as-of", "2025-12-31"]);
    with_url(&[
        "report",
        "weekly",
        "--as-of",
        "2026-01-05T09:00:00+08:00",
        "--send",
    ]);
    let mails = crate::leaks::mails(&outbox);
    let names: Vec<&String> = mails.iter().map(|(n, _)| n).collect();
    assert!(mails.len() > 1, "{names:?}");
    let fjld = sign_in(&c, "fjld").await;
    let mut finding_links = 0;
    for (name, text) in &mails {
        for link in text
            .split(|ch: char| ch.is_whitespace() || matches!(ch, '"' | '<' | '>' | '：'))
            .filter(|w| w.starts_with(&base))
        {
            let path = &link[base.len()..];
            let (status, html, ..) = get(&c, Some(&fjld.cookie), path).await;
            assert_eq!(status, StatusCode::OK, "{name}: {link}");
            if path.starts_with("/findings/") {
                finding_links += 1;
                assert!(html.contains("<h1>R"), "{link}: {html}");
            }
        }
    }
    assert!(
        finding_links > 0,
        "no reminder links to its finding: {mails:?}"
    );
    assert!(
        mails
            .iter()
            .any(|(_, t)| t.contains(&format!("{base}/reports/2026-W02"))),
        "the report's mail links to its page"
    );
}

/// 事项 lists, for each state asked, what `liandong findings` says stood in it now — counted
/// whole, in due order, a page of the store's at a time — and a unit's clerk only its own unit's,
/// whatever the query says; a page past the last shows the last, an unknown state the open ones.
#[tokio::test(flavor = "multi_thread")]
async fn the_findings_list_shows_what_the_findings_command_lists_in_each_state() {
    let c = Console::start();
    let listed: Vec<serde_json::Value> = serde_json::from_str(&ok(sample(
        &c.db(),
        &["findings", "--all", "--format", "json"],
    )
    .output()
    .unwrap()))
    .unwrap();
    // (id, unit, state) in the command's order, which is due time, then id.
    let all: Vec<(String, String, String)> = listed
        .iter()
        .map(|f| {
            (
                f["id"].to_string(),
                f["unit_id"].as_str().unwrap().to_string(),
                f["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let total = |html: &str| -> usize {
        let at = html.find("共 ").expect("a count") + "共 ".len();
        html[at..at + html[at..].find(' ').unwrap()]
            .parse()
            .unwrap()
    };
    let ids = |html: &str| -> Vec<String> {
        html.split("href=\"/findings/")
            .skip(1)
            .map(|r| r[..r.find('"').unwrap()].to_string())
            .collect::<Vec<_>>()
            .into_iter()
            .fold(Vec::new(), |mut v, id| {
                // A row links its finding twice at most (number and title): once each.
                if v.last() != Some(&id) {
                    v.push(id);
                }
                v
            })
    };
    let open = ["upcoming", "due_soon", "overdue"];
    let fjld = sign_in(&c, "fjld").await;
    let scjg = sign_in(&c, "scjg").await;
    let mut seen_states = 0;
    for state in [
        "open", "overdue", "due_soon", "upcoming", "resolved", "waived", "recorded", "all",
    ] {
        for (who, unit, query) in [
            (&fjld, None, format!("/findings?state={state}")),
            (
                &fjld,
                Some("zrzy"),
                format!("/findings?state={state}&unit=zrzy"),
            ),
            // The clerk's own unit, whatever the query names.
            (
                &scjg,
                Some("scjg"),
                format!("/findings?state={state}&unit=zrzy"),
            ),
        ] {
            let expected: Vec<&String> = all
                .iter()
                .filter(|(_, u, s)| {
                    unit.is_none_or(|w| u == w)
                        && match state {
                            "open" => open.contains(&s.as_str()),
                            "all" => true,
                            one => s == one,
                        }
                })
                .map(|(id, ..)| id)
                .collect();
            let (status, html, ..) = get(&c, Some(&who.cookie), &query).await;
            assert_eq!(status, StatusCode::OK, "{query}");
            assert_eq!(total(&html), expected.len(), "{query}");
            let page: Vec<String> = expected.iter().take(50).map(|s| s.to_string()).collect();
            assert_eq!(ids(&html), page, "{query}");
            if !expected.is_empty() && unit.is_none() {
                seen_states += 1;
            }
        }
    }
    // open, overdue, resolved, recorded and all at least: not a comparison of empty lists.
    assert!(seen_states >= 5, "{seen_states} states had findings");
    // Past the last page: the last page (the sample county has more than one of all states).
    let (_, first, ..) = get(&c, Some(&fjld.cookie), "/findings?state=all").await;
    let pages = total(&first).div_ceil(50);
    assert!(pages > 1, "{}", total(&first));
    let (_, last, ..) = get(
        &c,
        Some(&fjld.cookie),
        &format!("/findings?state=all&page={pages}"),
    )
    .await;
    let (status, past, ..) = get(&c, Some(&fjld.cookie), "/findings?state=all&page=99999").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&past), ids(&last));
    assert_eq!(ids(&last).len(), total(&first) - 50 * (pages - 1));
    let ordered: Vec<String> = all.iter().map(|(id, ..)| id.clone()).collect();
    assert_eq!(ids(&last), ordered[50 * (pages - 1)..]);
    assert!(past.contains(&format!("第 {pages}/{pages} 页")), "{past}");
    let (_, open_page, ..) = get(&c, Some(&fjld.cookie), "/findings").await;
    let (status, odd, ..) = get(&c, Some(&fjld.cookie), "/findings?state=%3Cb%3E").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (total(&odd), ids(&odd)),
        (total(&open_page), ids(&open_page))
    );
    assert!(!odd.contains("<b>"));
}

/// 评查 (issue 23): the justice bureau draws a unit's sample for a quarter in the console — the
/// same reproducible draw as `liandong sample draw` (`sample verify` confirms it) — downloads its
/// worksheet, and records a review, which the page then shows; the unit's clerk sees its own
/// sample and may not draw, nor see another unit's worksheet.
#[tokio::test(flavor = "multi_thread")]
async fn the_justice_bureau_draws_a_sample_downloads_its_worksheet_and_records_a_review() {
    let c = Console::start();
    let sfj = sign_in(&c, "sfj").await;
    let status = post(
        &c,
        &sfj,
        "/sampling/draw",
        &[("csrf", &sfj.csrf), ("unit", "scjg"), ("quarter", "2025Q4")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let verify = sample(
        &c.db(),
        &["sample", "verify", "--unit", "scjg", "--quarter", "2025Q4"],
    )
    .output()
    .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let (status, html, ..) = get(&c, Some(&sfj.cookie), "/sampling?quarter=2025Q4").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("sfj（网页）") && html.contains("未评查"),
        "{html}"
    );
    // The first drawn file of the unit's section.
    let section = html
        .split("<section class=\"unit\">")
        .find(|s| s.contains("稻城县市场监督管理局"))
        .unwrap();
    let marker = "<select name=\"case_no\"><option>";
    let at = section.find(marker).unwrap() + marker.len();
    let case_no = section[at..at + section[at..].find('<').unwrap()].to_string();
    let res = client()
        .get(c.url("/sampling/scjg/2025Q4/worksheet.xlsx"))
        .header(COOKIE, &sfj.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.bytes().await.unwrap().starts_with(b"PK"),
        "an XLSX (a zip)"
    );
    let status = post(
        &c,
        &sfj,
        "/sampling/review",
        &[
            ("csrf", &sfj.csrf),
            ("unit", "scjg"),
            ("quarter", "2025Q4"),
            ("case_no", &case_no),
            ("date", "2025-12-20"),
            ("reviewers", "王五、赵六"),
            ("score", "92"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{case_no}");
    let (_, html, ..) = get(&c, Some(&sfj.cookie), "/sampling?quarter=2025Q4").await;
    assert!(html.contains("2025-12-20"), "the review shows: {html}");
    // One reviewer is not a review: refused with the reason.
    let status = post(
        &c,
        &sfj,
        "/sampling/review",
        &[
            ("csrf", &sfj.csrf),
            ("unit", "scjg"),
            ("quarter", "2025Q4"),
            ("case_no", &case_no),
            ("date", "2025-12-21"),
            ("reviewers", "王五"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let zrzy = sign_in(&c, "zrzy").await;
    let (status, html, ..) = get(&c, Some(&zrzy.cookie), "/sampling?quarter=2025Q4").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !html.contains("稻城县市场监督管理局") && !html.contains("action=\"/sampling/draw\""),
        "{html}"
    );
    let (status, ..) = get(
        &c,
        Some(&zrzy.cookie),
        "/sampling/scjg/2025Q4/worksheet.xlsx",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The administrator adds an account in the console (it can sign in) and disables another (its
/// session ends); a too-short password is refused with the reason.
#[tokio::test(flavor = "multi_thread")]
async fn the_administrator_adds_and_disables_accounts_in_the_console() {
    let c = Console::start();
    let admin = sign_in(&c, "admin").await;
    let short = post(
        &c,
        &admin,
        "/admin/users",
        &[
            ("csrf", &admin.csrf),
            ("login", "nync"),
            ("role", "unit"),
            ("unit", "nync"),
            ("password", "short"),
        ],
    )
    .await;
    assert_eq!(short, StatusCode::BAD_REQUEST);
    let added = post(
        &c,
        &admin,
        "/admin/users",
        &[
            ("csrf", &admin.csrf),
            ("login", "nync"),
            ("role", "unit"),
            ("unit", "nync"),
            ("password", &password("nync")),
        ],
    )
    .await;
    assert_eq!(added, StatusCode::SEE_OTHER);
    let nync = sign_in(&c, "nync").await;
    let (_, html, ..) = get(&c, Some(&nync.cookie), "/").await;
    assert!(html.contains("稻城县农业农村局") && !html.contains("稻城县交通运输局"));
    let scjg = sign_in(&c, "scjg").await;
    let disabled = post(
        &c,
        &admin,
        "/admin/users/disable",
        &[("csrf", &admin.csrf), ("login", "scjg")],
    )
    .await;
    assert_eq!(disabled, StatusCode::SEE_OTHER);
    assert_eq!(
        get(&c, Some(&scjg.cookie), "/").await.0,
        StatusCode::SEE_OTHER
    );
    let (_, html, ..) = get(&c, Some(&admin.cookie), "/admin").await;
    assert!(html.contains("nync") && html.contains("执法单位"), "{html}");
    // Not the administrator's own.
    let own = post(
        &c,
        &admin,
        "/admin/users/disable",
        &[("csrf", &admin.csrf), ("login", "admin")],
    )
    .await;
    assert_eq!(own, StatusCode::BAD_REQUEST);
}
