//! Secrets echoed back by every fake server (issue 22, item 1) and hostile values in what is
//! sent (item 5): an SMS gateway answering 500 with the request's headers and body, robots
//! answering with their webhook URL, an SMTP server quoting the AUTH credentials it rejects; HTTP
//! sources' servers quoting the request (a 401, a 500, a page of JSON garbage, an HTML page), SQL
//! sources and the PostgreSQL store refused by MariaDB, failing on PostgreSQL, or talking to a
//! PostgreSQL server that quotes the password it was sent, and passwords written into URLs.
//! The secret must appear nowhere a person or a log can see it: the `--log trace` output of
//! every command of a day, `status`, `outbox --format json|csv`, the store (the SQLite files'
//! bytes, every PostgreSQL table's text), the e-mails (the dead-letter and source alerts).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::common;
use crate::notify::{Smtp, finding};

const UNITS: &str = r#"
[[units]]
id = "scjg"
name = "稻城县市场监督管理局"
contacts = [{ name = "张三", role = "contact", email = "scjg@example.gov.cn", phone = "13800000001" }]

[[units]]
id = "fjld"
name = "稻城县府检联动办公室"
kind = "liaison"
contacts = [{ name = "赵六", role = "contact", email = "fjld@example.gov.cn" }]
"#;

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
    url: String,
}

/// A county of two units, `notify` as the `[notify]` section, one message try (a failure is
/// dead at once and the administrator told).
fn env(notify: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("liandong.db").display());
    let text = format!(
        "[store]\nurl = \"{url}\"\n{UNITS}\n[notify]\nmax_attempts = 1\n\
         admin_emails = [\"运维 <admin@example.gov.cn>\"]\n{notify}\n\
         [notify.stages.meeting]\nenabled = false\n[notify.stages.training]\nenabled = false\n"
    );
    let config = common::write(dir.path(), "liandong.toml", text);
    Env { dir, config, url }
}

async fn seed(env: &Env, case_no: &str) {
    let store = common::open(&env.url).await;
    store
        .apply_findings(
            &[finding("R1", "scjg", case_no, "2025-10-01", "overdue")],
            common::now(),
        )
        .await
        .unwrap();
}

async fn run(env: &Env, args: &[&str]) -> Output {
    run_on(&env.config, args).await
}

fn all(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The store's files (the database and its WAL), as bytes read lossily.
fn store_bytes(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("liandong.db"))
        })
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
        .collect()
}

/// Runs `notify` at `--log trace` and gathers everything a person or a log sees afterwards.
/// Returns (the notify run's output, the outbox as JSON, all of it together).
async fn everything_seen(env: &Env, smtp: &Smtp) -> (String, Vec<serde_json::Value>, String) {
    let o = run(
        env,
        &[
            "--log",
            "trace",
            "notify",
            "--as-of",
            "2025-10-13T10:00:00+08:00",
        ],
    )
    .await;
    let log = all(&o);
    let json = run(env, &["outbox", "--format", "json"]).await;
    assert!(json.status.success(), "{}", all(&json));
    let csv = run(env, &["outbox", "--format", "csv"]).await;
    assert!(csv.status.success(), "{}", all(&csv));
    let status = run(env, &["status"]).await;
    let mails: String = smtp
        .messages()
        .iter()
        .map(|m| {
            format!(
                "{}\n{}\n{}\n",
                m.subject,
                m.text,
                m.html.clone().unwrap_or_default()
            )
        })
        .collect();
    let outbox: Vec<serde_json::Value> = serde_json::from_slice(&json.stdout).unwrap();
    let seen = format!(
        "{log}\n{}\n{}\n{}\n{mails}\n{}",
        all(&json),
        all(&csv),
        all(&status),
        store_bytes(env.dir.path())
    );
    (log, outbox, seen)
}

/// Answers with `status` and a body quoting every header, the URL and the body it was sent.
struct Echo(u16);

impl Respond for Echo {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let headers: Vec<String> = r
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or_default()))
            .collect();
        let echo = format!(
            "bad request {} {} {} {}",
            r.url,
            headers.join("; "),
            String::from_utf8_lossy(&r.body),
            r.url.query().unwrap_or_default()
        );
        ResponseTemplate::new(self.0)
            .set_body_json(serde_json::json!({"errcode": 93000, "errmsg": echo}))
    }
}

fn dead_of<'a>(outbox: &'a [serde_json::Value], channel: &str) -> &'a serde_json::Value {
    outbox
        .iter()
        .find(|m| m["channel"] == channel)
        .unwrap_or_else(|| panic!("no {channel} message: {outbox:#?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_sms_gateway_echoing_its_authorization_header_leaks_the_secret_nowhere() {
    let Some(smtp) = Smtp::start(&[]) else { return };
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Echo(500))
        .mount(&server)
        .await;
    let secret = "Sms-Gw-T0ken-8f3a91c2";
    let dir = tempfile::tempdir().unwrap();
    let secret_file = common::write(dir.path(), "sms-token", format!("{secret}\n"));
    let notify = format!(
        "{}[notify.sms]\nprovider = \"http\"\nurl = \"{}/send\"\nsign_name = \"稻城县府检联动\"\n\
         timeout_secs = 2\nsecret_file = \"{}\"\n\
         body = '{{\"mobile\": \"{{{{ phone }}}}\", \"content\": \"{{{{ text }}}}\", \"token\": \"{{{{ secret }}}}\"}}'\n\
         [notify.sms.headers]\nAuthorization = \"Bearer {{{{ secret }}}}\"\n",
        smtp.email_toml(),
        server.uri(),
        secret_file.display()
    );
    let env = env(&notify);
    seed(&env, "稻市监罚〔2025〕1号").await;
    let (log, outbox, seen) = everything_seen(&env, &smtp).await;

    // The gateway did get the secret, and echoed it.
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "{log}");
    assert_eq!(
        requests[0].headers.get("authorization").unwrap(),
        &format!("Bearer {secret}")
    );
    let sms = dead_of(&outbox, "sms");
    assert_eq!(sms["state"], "dead", "{sms}");
    let error = sms["last_error"].as_str().unwrap();
    assert!(error.contains("500") && error.contains("***"), "{error}");
    assert!(log.contains("message dead"), "{log}");
    let alert = smtp
        .messages()
        .into_iter()
        .find(|m| m.to.contains("admin@example.gov.cn"))
        .expect("the administrator is told");
    assert!(alert.text.contains("***"), "{}", alert.text);
    for leak in [secret, "Sms-Gw-T0ken", "U21zLUd3LVQwa2Vu"] {
        assert!(!seen.contains(leak), "{leak} leaked:\n{seen}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn robots_echoing_their_webhook_urls_leak_no_token() {
    let Some(smtp) = Smtp::start(&[]) else { return };
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Echo(200))
        .mount(&server)
        .await;
    let wecom_key = "wk-693b5a7e-1c0d-4e2f-9a77-f00dfeedbeef";
    let ding_token = "dt0ken4f8e2b7c9d1a3e5f7b9c0d2e4f6a8b";
    let ding_secret = "SECd1ngS3cretValue";
    let dir = tempfile::tempdir().unwrap();
    let url_file = common::write(
        dir.path(),
        "wecom-url",
        format!("{}/cgi-bin/webhook/send?key={wecom_key}\n", server.uri()),
    );
    let ding_url = common::write(
        dir.path(),
        "ding-url",
        format!("{}/robot/send?access_token={ding_token}\n", server.uri()),
    );
    let secret = common::write(dir.path(), "dt-secret", format!("{ding_secret}\n"));
    let notify = format!(
        "{}[[notify.robots]]\nname = \"市场监管群\"\nkind = \"wecom\"\nunit = \"scjg\"\nurl_file = \"{}\"\n\
         [[notify.robots]]\nname = \"联动办群\"\nkind = \"dingtalk\"\nunit = \"fjld\"\n\
         url_file = \"{}\"\nsecret_file = \"{}\"\n",
        smtp.email_toml(),
        url_file.display(),
        ding_url.display(),
        secret.display()
    );
    let env = env(&notify);
    seed(&env, "稻市监罚〔2025〕1号").await;
    let (log, outbox, seen) = everything_seen(&env, &smtp).await;

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "{log}");
    let robots: Vec<&serde_json::Value> =
        outbox.iter().filter(|m| m["channel"] == "robot").collect();
    assert_eq!(robots.len(), 2, "{outbox:#?}");
    for r in &robots {
        assert_eq!(r["state"], "dead", "{r}");
        let e = r["last_error"].as_str().unwrap();
        assert!(e.contains("93000") && e.contains("***"), "{e}");
    }
    let alerts = smtp
        .messages()
        .into_iter()
        .filter(|m| m.to.contains("admin@example.gov.cn"))
        .count();
    assert_eq!(alerts, 2, "the administrator hears of both");
    for leak in [
        wecom_key,
        ding_token,
        ding_secret,
        "wk-693b5a7e",
        "dt0ken4f8",
    ] {
        assert!(!seen.contains(leak), "{leak} leaked:\n{seen}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_smtp_server_quoting_the_rejected_credentials_leaks_none() {
    let Some(smtp) = Smtp::start(&["--auth-reject-echo"]) else {
        return;
    };
    let password = "Mail-Pw-7c41e9";
    let user = "fjld-sender-0815";
    let dir = tempfile::tempdir().unwrap();
    let pw_file = common::write(dir.path(), "smtp-password", format!("{password}\n"));
    let notify = format!(
        "{}username = \"{user}\"\npassword_file = \"{}\"\n",
        smtp.email_toml(),
        pw_file.display()
    );
    let env = env(&notify);
    seed(&env, "稻市监罚〔2025〕1号").await;
    let (log, outbox, seen) = everything_seen(&env, &smtp).await;

    let mail = dead_of(&outbox, "email");
    assert_eq!(mail["state"], "dead", "{mail}");
    let e = mail["last_error"].as_str().unwrap();
    assert!(e.contains("535") && e.contains("***"), "{e}");
    assert!(log.contains("535"), "{log}");
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for leak in [
        password.to_string(),
        user.to_string(),
        b64(&format!("\0{user}\0{password}")),
        b64(password),
    ] {
        assert!(!seen.contains(&leak), "{leak} leaked:\n{seen}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_case_number_with_quotes_stays_one_json_string_in_the_sms_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"code\":0}"))
        .mount(&server)
        .await;
    let case_no = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/leaks/json_injection_case_no.txt"),
    )
    .unwrap()
    .trim_end()
    .to_string();
    assert!(case_no.ends_with('"'));
    let dir = tempfile::tempdir().unwrap();
    let notify = format!(
        "[notify.email]\ntransport = \"file\"\ndir = \"{}\"\n\
         [notify.sms]\nprovider = \"http\"\nurl = \"{}/send\"\nsign_name = \"稻城县府检联动\"\n\
         timeout_secs = 2\ntemplate_params = [\"unit\", \"count\", \"first_case\"]\n\
         body = '{{\"mobile\": \"{{{{ phone }}}}\", \"content\": \"{{{{ text }}}}\", \"case\": \"{{{{ params.first_case }}}}\"}}'\n\
         success_pointer = \"/code\"\nsuccess_value = \"0\"\n",
        dir.path().join("mail").display(),
        server.uri()
    );
    let env = env(&notify);
    seed(&env, &case_no).await;
    let o = run(&env, &["notify", "--as-of", "2025-10-13T10:00:00+08:00"]).await;
    assert!(o.status.success(), "{}", all(&o));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&requests[0].body)));
    let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["case", "content", "mobile"], "{body}");
    // The text carries the case number whole; a template parameter is cut to the providers'
    // 20 characters, and is still a string of the case number's own characters.
    assert!(
        body["content"].as_str().unwrap().contains(&case_no),
        "{body}"
    );
    let param = body["case"].as_str().unwrap();
    assert!(
        param.chars().count() == 20 && case_no.starts_with(param),
        "{body}"
    );
    assert_eq!(body["mobile"], "13800000001");
    assert!(
        requests[0]
            .headers
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("application/json")),
        "{:?}",
        requests[0].headers
    );
}

// ---------------------------------------------------------------------------------------------
// Source credentials and the store's password
// ---------------------------------------------------------------------------------------------

/// Runs liandong on `config` with `args`.
async fn run_on(config: &Path, args: &[&str]) -> Output {
    let mut c: Command = common::bin();
    c.arg("--config").arg(config).args(args);
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

/// Where a county of these tests keeps its store, to read it back.
enum StoreAt {
    /// The folder holding `liandong.db` and its WAL.
    Sqlite(PathBuf),
    /// A PostgreSQL database's URL.
    Postgres(String),
    /// Nothing can be read back (a server that refuses every connection).
    Unreachable,
}

/// A county of two units whose sources are `sources` (TOML), its store `store` (the `[store]`
/// section's keys), e-mail written as .eml files to `mail/`, and an administrator told of every
/// failing source.
struct County {
    dir: tempfile::TempDir,
    config: PathBuf,
    store: StoreAt,
}

fn county(dir: tempfile::TempDir, store_toml: &str, store: StoreAt, sources: &str) -> County {
    let mail = dir.path().join("mail");
    let text = format!(
        "[store]\n{store_toml}\nbusy_timeout_secs = 3\n{UNITS}\n{sources}\n\
         [notify]\nmax_attempts = 1\nadmin_emails = [\"运维 <admin@example.gov.cn>\"]\n\
         [notify.email]\ntransport = \"file\"\ndir = \"{}\"\n\
         [notify.stages.meeting]\nenabled = false\n[notify.stages.training]\nenabled = false\n\
         [run]\nlisten = \"\"\n",
        mail.display()
    );
    let config = common::write(dir.path(), "liandong.toml", text);
    County { dir, config, store }
}

/// A county with a SQLite store in its folder `dir`.
fn sqlite_county(dir: tempfile::TempDir, sources: &str) -> County {
    let url = format!("sqlite://{}", dir.path().join("liandong.db").display());
    let at = StoreAt::Sqlite(dir.path().to_path_buf());
    county(dir, &format!("url = \"{url}\""), at, sources)
}

/// Everything a person or a log saw: each command's output, the store's content, each e-mail.
struct Seen {
    places: Vec<(String, String)>,
    /// Each command's standard output alone.
    stdout: Vec<(String, String)>,
}

impl Seen {
    /// The output of the command run with `args` (joined by spaces).
    fn of(&self, args: &str) -> &str {
        self.places
            .iter()
            .find(|(p, _)| p == &format!("$ liandong {args}"))
            .map(|(_, t)| t.as_str())
            .unwrap_or_else(|| panic!("no output of {args}"))
    }

    /// The standard output of the command run with `args`.
    fn stdout(&self, args: &str) -> &str {
        self.stdout
            .iter()
            .find(|(p, _)| p == args)
            .map(|(_, t)| t.as_str())
            .unwrap_or_else(|| panic!("no output of {args}"))
    }

    /// The decoded texts of the e-mails in the mail folder.
    fn mails(&self) -> Vec<&str> {
        self.places
            .iter()
            .filter(|(p, _)| p.starts_with("mail "))
            .map(|(_, t)| t.as_str())
            .collect()
    }

    /// Fails, naming each place and the text around each leak, when any of `leaks` appears
    /// anywhere.
    fn assert_none_of(&self, leaks: &[String]) {
        let mut found = Vec::new();
        for leak in leaks {
            for (place, text) in &self.places {
                if let Some(at) = text.find(leak.as_str()) {
                    let from = text.floor_char_boundary(at.saturating_sub(200));
                    let to = text.ceil_char_boundary((at + leak.len() + 200).min(text.len()));
                    found.push(format!("{leak:?} in {place}:\n…{}…", &text[from..to]));
                }
            }
        }
        assert!(
            found.is_empty(),
            "{} leaks:\n{}",
            found.len(),
            found.join("\n\n")
        );
    }
}

/// The commands of a day's work, each seen whole (stdout and stderr) at `--log trace`: a `sync`,
/// an `evaluate`, `status` as a table and as JSON, a daemon's cycle (`run --once`, whose alerts
/// job tells the administrator of each failing source by e-mail), `outbox` as JSON and CSV, and
/// `check-config` (which warns of secrets written where they should not be).
const DAY: &[&[&str]] = &[
    &["--log", "trace", "sync"],
    &["--log", "trace", "evaluate"],
    &["--log", "trace", "status"],
    &["--log", "trace", "status", "--format", "json"],
    &["--log", "trace", "run", "--once"],
    &["--log", "trace", "outbox", "--format", "json"],
    &["--log", "trace", "outbox", "--format", "csv"],
    &["--log", "trace", "check-config"],
];

/// Runs [`DAY`] and gathers everything seen afterwards: the outputs, the store (the SQLite files'
/// bytes, or the text of every table of a PostgreSQL store) and the mail folder's e-mails.
async fn a_day(c: &County) -> Seen {
    let (mut places, mut stdout) = (Vec::new(), Vec::new());
    for args in DAY {
        let o = run_on(&c.config, args).await;
        let shown = args[2..].join(" ");
        places.push((format!("$ liandong {shown}"), all(&o)));
        stdout.push((shown, String::from_utf8_lossy(&o.stdout).into_owned()));
    }
    match &c.store {
        StoreAt::Sqlite(dir) => places.push(("the SQLite store".into(), store_bytes(dir))),
        StoreAt::Postgres(url) => places.push(("the PostgreSQL store".into(), pg_text(url).await)),
        StoreAt::Unreachable => {}
    }
    places.extend(mails(&c.dir.path().join("mail")));
    Seen { places, stdout }
}

/// Every table of a PostgreSQL store as text, one row a line, after the table's name.
async fn pg_text(url: &str) -> String {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    for t in ["source_state", "job_runs", "quarantine", "outbox"] {
        assert!(tables.iter().any(|n| n == t), "no table {t}: {tables:?}");
    }
    let mut out = String::new();
    for t in tables {
        let sql = format!("SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM \"{t}\" t");
        let rows: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut c)
            .await
            .unwrap();
        out.push_str(&format!("## {t}\n{rows}\n"));
    }
    out
}

/// Each .eml of the mail folder: its raw bytes, and every part's headers and body decoded (a
/// body in base64 or quoted-printable hides nothing from the grep).
pub(crate) fn mails(dir: &Path) -> Vec<(String, String)> {
    fn walk(p: &mailparse::ParsedMail, out: &mut String) {
        for h in &p.headers {
            out.push_str(&format!("{}: {}\n", h.get_key(), h.get_value()));
        }
        match p.get_body() {
            Ok(b) => out.push_str(&b),
            Err(_) => out.push_str(&String::from_utf8_lossy(&p.get_body_raw().unwrap())),
        }
        out.push('\n');
        for s in &p.subparts {
            walk(s, out);
        }
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            let mut text = String::from_utf8_lossy(&bytes).into_owned();
            text.push('\n');
            walk(&mailparse::parse_mail(&bytes).unwrap(), &mut text);
            (format!("mail {}", p.display()), text)
        })
        .collect()
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// What to grep for a secret: itself, its base64, and its first ten characters (a cut that
/// kept a piece).
fn forms(secret: &str) -> Vec<String> {
    vec![secret.to_string(), b64(secret), secret[..10].to_string()]
}

/// Writes `secret` to `name` in the county's folder, with the newline editors leave.
fn secret_file(dir: &Path, name: &str, secret: &str) -> String {
    common::write(dir, &format!("secrets/{name}"), format!("{secret}\n"))
        .display()
        .to_string()
}

/// Answers by the first segment of the path: `a401` and `a500` with that status, `garbage` with
/// 200 and a JSON page whose records quote the request, `notjson` with 200 and an HTML page
/// quoting it. What is quoted: every header, the URL and the body.
struct EchoSource;

impl Respond for EchoSource {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let headers: Vec<String> = r
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or_default()))
            .collect();
        let echo = format!(
            "{} {} {} {}",
            r.url,
            headers.join("; "),
            String::from_utf8_lossy(&r.body),
            r.url.query().unwrap_or_default()
        );
        let answer = r.url.path().split('/').nth(1).unwrap_or_default();
        match answer {
            "a401" => ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"error": "bad credentials", "request": echo})),
            "a500" => ResponseTemplate::new(500)
                .set_body_json(serde_json::json!({"error": "backend down", "request": echo})),
            "garbage" => ResponseTemplate::new(200).set_body_json(serde_json::json!({"data": [
                // A referral, but for the request headers it quotes as the party.
                {"移送单位": "稻城县市场监督管理局", "案号": "稻联移〔2025〕7号", "当事人": headers.join("; "),
                 "录入时间": "2025-05-20 09:15:00", "移送时间": "2025年5月21日",
                 "接收机关": "稻城县公安局", "涉案金额(元)": 10, "更新时间": "2025-06-01 08:00:00"},
                // No field of a referral: quarantined whole.
                {"debug": echo},
                // Not an object.
                echo,
            ]})),
            _ => ResponseTemplate::new(200)
                .insert_header("content-type", "text/html; charset=utf-8")
                .set_body_string(format!("<html><body><pre>{echo}</pre></body></html>")),
        }
    }
}

const ANSWERS: [&str; 4] = ["a401", "a500", "garbage", "notjson"];

/// Issue 22, item 1, for the sources: every kind of credential an HTTP source can carry — a
/// bearer token, basic auth, an API key, a password and a token written into the URL, a header
/// written inline — sent to a server that quotes the request back in a 401, a 500, a JSON page
/// of garbage and an HTML page. The credential appears nowhere a person or a log sees.
#[tokio::test(flavor = "multi_thread")]
async fn http_sources_echoing_their_credentials_leak_them_nowhere() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(EchoSource)
        .mount(&server)
        .await;
    let token = "Src-Bearer-T0k-91d2c7";
    let (user, password) = ("clerk-basic", "Src-Basic-Pw-5e8a40");
    let key = "Src-ApiKey-3b7f19";
    let (url_user, url_password) = ("clerk-url", "Src-Url-Pw-c04e2d");
    let query_token = "Src-Query-T0k-77a1b3";
    let header_token = "Src-Header-T0k-e91f0a";
    let dir = tempfile::tempdir().unwrap();
    let token_file = secret_file(dir.path(), "token", token);
    let password_file = secret_file(dir.path(), "password", password);
    let key_file = secret_file(dir.path(), "key", key);
    let (host, port) = (server.address().ip().to_string(), server.address().port());
    let mut sources = String::new();
    for answer in ANSWERS {
        let base = |name: &str, url: String| {
            format!(
                "[[sources]]\nname = \"{name}-{answer}\"\nkind = \"http\"\nfeeds = \"referrals\"\n\
                 url = \"{url}\"\ntimeout_secs = 2\nconnect_timeout_secs = 2\nretries = 1\n\
                 retry_backoff_ms = 10\n"
            )
        };
        let plain = format!("{}/{answer}/referrals", server.uri());
        sources += &base("bearer", plain.clone());
        sources += &format!("[sources.auth]\nkind = \"bearer\"\ntoken_file = \"{token_file}\"\n");
        sources += &base("basic", plain.clone());
        sources += &format!(
            "[sources.auth]\nkind = \"basic\"\nusername = \"{user}\"\npassword_file = \"{password_file}\"\n"
        );
        sources += &base("apikey", plain.clone());
        sources += &format!("[sources.auth]\nkind = \"api_key\"\nkey_file = \"{key_file}\"\n");
        sources += &base(
            "inurl",
            format!(
                "http://{url_user}:{url_password}@{host}:{port}/{answer}/referrals?access_token={query_token}"
            ),
        );
        sources += &base("header", plain.clone());
        sources += &format!("[sources.headers]\nX-Auth-Token = \"{header_token}\"\n");
    }
    let c = sqlite_county(dir, &sources);
    let seen = a_day(&c).await;

    // Every credential did reach the server, which quoted it back.
    let requests = server.received_requests().await.unwrap();
    let sent: String = requests
        .iter()
        .map(|r| format!("{} {:?}\n", r.url, r.headers))
        .collect();
    for s in [
        format!("Bearer {token}"),
        format!("Basic {}", b64(&format!("{user}:{password}"))),
        key.to_string(),
        format!("Basic {}", b64(&format!("{url_user}:{url_password}"))),
        format!("access_token={query_token}"),
        header_token.to_string(),
    ] {
        assert!(sent.contains(&s), "{s} was never sent:\n{sent}");
    }
    // First what leaked (naming each place), then that the day went as the test means it to.
    let mut leaks = Vec::new();
    for s in [
        token,
        password,
        key,
        url_password,
        query_token,
        header_token,
    ] {
        leaks.extend(forms(s));
    }
    leaks.push(b64(&format!("{user}:{password}")));
    leaks.push(b64(&format!("{url_user}:{url_password}")));
    seen.assert_none_of(&leaks);
    // Each source that got an error answer failed, and `status` shows the answer, blanked.
    let status: serde_json::Value = serde_json::from_str(seen.stdout("status --format json"))
        .unwrap_or_else(|e| panic!("{e}: {}", seen.of("status --format json")));
    let sources = status["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 20, "{status:#}");
    for s in sources {
        let name = s["name"].as_str().unwrap();
        let error = s["last_error"].as_str().unwrap_or_default();
        if name.ends_with("-garbage") {
            // The page is read; its three records are quarantined, none stored.
            assert_eq!(s["freshness"], "ok", "{s:#}");
            assert_eq!(s["last_run"]["quarantined"], 3, "{s:#}");
            assert_eq!(s["last_run"]["inserted"], 0, "{s:#}");
        } else {
            assert_eq!(s["freshness"], "error", "{s:#}");
            let why = match &name[name.rfind('-').unwrap() + 1..] {
                "a401" => "401",
                "a500" => "500",
                _ => "not JSON",
            };
            assert!(error.contains(why), "{name}: {error}");
        }
        if name.ends_with("-a401") {
            assert!(
                error.contains("***"),
                "{name}: the echo is blanked: {error}"
            );
        }
    }
    let quarantine = status["quarantine"].to_string();
    assert!(
        quarantine.contains("***") && quarantine.contains("holds a credential this source sends"),
        "{quarantine}"
    );
    // A 500 is tried again, after a warning that names the URL (its token blanked).
    let sync = seen.of("sync");
    assert!(
        sync.contains("request failed; retrying") && sync.contains("access_token=***"),
        "{sync}"
    );
    // The administrator heard of each failing source by e-mail.
    let mails = seen.mails();
    for name in ["bearer-a401", "basic-a500", "inurl-a401", "header-notjson"] {
        assert!(
            mails.iter().any(|m| m.contains(&format!("数据源“{name}”"))),
            "no alert of {name} among {} mails",
            mails.len()
        );
    }
}

/// A PostgreSQL server that asks for the password in clear text and rejects it quoting it
/// back, whole and in base64 — as a hostile or badly written server (or proxy) may. Returns its
/// port; it answers every connection the same way until the test ends.
async fn echoing_postgres() -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                // SSLRequest or GSSENCRequest (refused with 'N'), then the StartupMessage.
                let startup = loop {
                    let len = s.read_i32().await.ok()? as usize;
                    let mut body = vec![0; len.checked_sub(4)?];
                    s.read_exact(&mut body).await.ok()?;
                    if body.len() == 4 && matches!(&body[..], [4, 210, 22, 47] | [4, 210, 22, 48]) {
                        s.write_all(b"N").await.ok()?;
                        continue;
                    }
                    break body;
                };
                let params: Vec<&[u8]> = startup.get(4..)?.split(|b| *b == 0).collect();
                let user = params
                    .chunks(2)
                    .find(|kv| kv[0] == b"user")
                    .and_then(|kv| kv.get(1))
                    .map(|u| String::from_utf8_lossy(u).into_owned())
                    .unwrap_or_default();
                // AuthenticationCleartextPassword.
                s.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]).await.ok()?;
                let _tag = s.read_u8().await.ok()?;
                let len = s.read_i32().await.ok()? as usize;
                let mut pw = vec![0; len.checked_sub(4)?];
                s.read_exact(&mut pw).await.ok()?;
                let pw = String::from_utf8_lossy(&pw)
                    .trim_end_matches('\0')
                    .to_string();
                let message = format!(
                    "password authentication failed for user \"{user}\": got \"{pw}\" ({})",
                    b64(&pw)
                );
                let mut fields = Vec::new();
                for (code, value) in [
                    (b'S', "FATAL"),
                    (b'V', "FATAL"),
                    (b'C', "28P01"),
                    (b'M', message.as_str()),
                    (b'D', message.as_str()),
                ] {
                    fields.push(code);
                    fields.extend_from_slice(value.as_bytes());
                    fields.push(0);
                }
                fields.push(0);
                let mut msg = vec![b'E'];
                msg.extend_from_slice(&(fields.len() as i32 + 4).to_be_bytes());
                msg.extend_from_slice(&fields);
                s.write_all(&msg).await.ok()?;
                Some(())
            });
        }
    });
    port
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An SQL source of referrals (TOML), reading `query` from `dsn`, with `extra` keys.
fn sql_source(name: &str, dsn: &str, query: &str, extra: &str) -> String {
    format!(
        "[[sources]]\nname = \"{name}\"\nkind = \"sql\"\nfeeds = \"referrals\"\ndsn = \"{dsn}\"\n\
         query = \"{query}\"\ncursor_column = \"updated_at\"\n{extra}\n"
    )
}

/// Asserts the `status` JSON shows `source` failed with an error holding `why`.
fn assert_failed(seen: &Seen, source: &str, why: &str) {
    let status: serde_json::Value = serde_json::from_str(seen.stdout("status --format json"))
        .unwrap_or_else(|e| panic!("{e}: {}", seen.of("status --format json")));
    let s = status["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == source)
        .unwrap_or_else(|| panic!("no source {source}: {status:#}"));
    assert_eq!(s["freshness"], "error", "{s:#}");
    let error = s["last_error"].as_str().unwrap_or_default();
    assert!(error.contains(why), "{source}: {error}");
    assert!(
        seen.mails()
            .iter()
            .any(|m| m.contains(&format!("数据源“{source}”"))),
        "the administrator was not told of {source}"
    );
}

/// Issue 22, item 1, for SQL sources without a database server of ours: a PostgreSQL server
/// that quotes the password it was sent (from `password_file`), and passwords written into a
/// DSN — as the user part and as `?password=` — of servers that are down.
#[tokio::test(flavor = "multi_thread")]
async fn sql_sources_whose_server_echoes_the_password_leak_it_nowhere() {
    let echo = echoing_postgres().await;
    let (file_pw, dsn_pw, query_pw) = (
        "Sql-File-Pw-2b8e51",
        "Sql-Dsn-Pw-9c03fa",
        "Sql-Query-Pw-41d7e6",
    );
    let dir = tempfile::tempdir().unwrap();
    let pw_file = secret_file(dir.path(), "sql-password", file_pw);
    let query = "SELECT * FROM referrals WHERE updated_at > $1 ORDER BY updated_at";
    let mut sources = sql_source(
        "pg-echo",
        &format!("postgres://clerk@127.0.0.1:{echo}/dept"),
        query,
        &format!("password_file = \"{pw_file}\""),
    );
    sources += &sql_source(
        "maria-down",
        &format!("mysql://clerk:{dsn_pw}@127.0.0.1:{}/dept", closed_port()),
        "SELECT * FROM referrals WHERE updated_at > ? ORDER BY updated_at",
        "",
    );
    sources += &sql_source(
        "pg-down",
        &format!(
            "postgres://clerk@127.0.0.1:{}/dept?password={query_pw}&sslmode=disable",
            closed_port()
        ),
        query,
        "",
    );
    let c = sqlite_county(dir, &sources);
    let seen = a_day(&c).await;

    let mut leaks = Vec::new();
    for s in [file_pw, dsn_pw, query_pw] {
        leaks.extend(forms(s));
    }
    seen.assert_none_of(&leaks);
    assert_failed(&seen, "pg-echo", "password authentication failed");
    assert_failed(&seen, "maria-down", "refused");
    assert_failed(&seen, "pg-down", "refused");
    // The server's answer is shown, its echo blanked.
    let status = seen.of("status");
    assert!(status.contains("got \"***\""), "{status}");
}

/// Issue 22, item 1, on MariaDB: a password (from `password_file`) the server refuses.
#[tokio::test(flavor = "multi_thread")]
async fn an_sql_source_refused_by_mariadb_leaks_its_password_nowhere() {
    let Some(db) = common::fresh_mysql("the SQL source leak test on MariaDB").await else {
        return;
    };
    let password = "Sql-Maria-Pw-6d1e0b";
    let dir = tempfile::tempdir().unwrap();
    let pw_file = secret_file(dir.path(), "maria-password", password);
    // The test database's URL names root, who has no password: the one sent is refused.
    let sources = sql_source(
        "maria-refused",
        &db.url,
        "SELECT * FROM referrals WHERE updated_at > ? ORDER BY updated_at",
        &format!("password_file = \"{pw_file}\""),
    );
    let c = sqlite_county(dir, &sources);
    let seen = a_day(&c).await;
    seen.assert_none_of(&forms(password));
    assert_failed(&seen, "maria-refused", "Access denied");
}

/// Issue 22, item 1, on PostgreSQL: a source whose password (from `password_file`) is taken
/// and whose query then fails on the server.
#[tokio::test(flavor = "multi_thread")]
async fn an_sql_source_whose_query_fails_on_postgres_leaks_its_password_nowhere() {
    let Some(db) = common::fresh_pg("the SQL source leak test on PostgreSQL").await else {
        return;
    };
    let password = "Sql-Pg-Pw-0f5a2c";
    let dir = tempfile::tempdir().unwrap();
    let pw_file = secret_file(dir.path(), "pg-password", password);
    let sources = sql_source(
        "pg-bad-query",
        &db.url,
        "SELECT * FROM no_such_table WHERE updated_at > $1 ORDER BY updated_at",
        &format!("password_file = \"{pw_file}\""),
    );
    let c = sqlite_county(dir, &sources);
    let seen = a_day(&c).await;
    seen.assert_none_of(&forms(password));
    assert_failed(&seen, "pg-bad-query", "no_such_table");
}

/// Issue 22, item 1, for the store: a PostgreSQL store whose server quotes the password it
/// was sent — from `password_file`, written into the URL's user part, or as `?password=` —
/// leaks it into no command's output, whatever the command.
#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_store_that_echoes_its_password_leaks_it_nowhere() {
    let echo = echoing_postgres().await;
    let (file_pw, url_pw, query_pw) = (
        "Store-File-Pw-8a3c17",
        "Store-Url-Pw-d20b6e",
        "Store-Query-Pw-5f91ac",
    );
    for (how, store) in [
        ("password_file", String::new()),
        (
            "url",
            format!("url = \"postgres://liandong:{url_pw}@127.0.0.1:{echo}/liandong\""),
        ),
        (
            "query",
            format!("url = \"postgres://liandong@127.0.0.1:{echo}/liandong?password={query_pw}\""),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = if store.is_empty() {
            let f = secret_file(dir.path(), "store-password", file_pw);
            format!(
                "url = \"postgres://liandong@127.0.0.1:{echo}/liandong\"\npassword_file = \"{f}\""
            )
        } else {
            store
        };
        let c = county(dir, &store, StoreAt::Unreachable, "");
        let seen = a_day(&c).await;
        let mut leaks = Vec::new();
        for s in [file_pw, url_pw, query_pw] {
            leaks.extend(forms(s));
        }
        seen.assert_none_of(&leaks);
        // Every command that needs the store failed, quoting the server's answer blanked.
        for args in [
            "sync",
            "evaluate",
            "status",
            "run --once",
            "outbox --format json",
        ] {
            let out = seen.of(args);
            assert!(
                out.contains("password authentication failed") && out.contains("got \"***\""),
                "{how}: {args}: {out}"
            );
        }
        if how != "password_file" {
            let check = seen.of("check-config");
            assert!(
                check.contains("liandong.toml: store.url: holds a password"),
                "{how}: {check}"
            );
        }
    }
}

/// Issue 22, item 1, on a PostgreSQL store that works: its password — from `password_file`, or
/// written into the URL as its user part or `?password=`, which `status` and `check-config`
/// warn of — and the credentials of a
/// source whose server echoes them are in none of its tables (`source_state`, `job_runs`,
/// `quarantine`, `outbox` and the rest), none of the outputs and none of the e-mails.
#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_store_holds_no_password_in_its_tables() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(EchoSource)
        .mount(&server)
        .await;
    let echo = echoing_postgres().await;
    let (store_pw, url_pw) = ("Store-Pg-Pw-71c4e9", "Store-PgUrl-Pw-e3a85d");
    let (token, sql_pw) = ("Src-PgStore-T0k-4e2b90", "Sql-PgStore-Pw-c6f13a");
    for how in ["password_file", "url", "query"] {
        // A database of its own each time: the alerts go once per database.
        let Some(db) = common::fresh_pg("the store leak test on PostgreSQL").await else {
            return;
        };
        // The test server trusts local connections: any password is taken.
        let (user, host) = db.url.rsplit_once('@').unwrap();
        let (url, shown) = match how {
            "url" => (
                format!("{user}:{url_pw}@{host}"),
                format!("{user}:***@{host}"),
            ),
            "query" => (
                format!("{}?password={url_pw}", db.url),
                format!("{}?password=***", db.url),
            ),
            _ => (db.url.clone(), db.url.clone()),
        };
        let dir = tempfile::tempdir().unwrap();
        let pw_file = secret_file(dir.path(), "store-password", store_pw);
        let token_file = secret_file(dir.path(), "token", token);
        let sql_file = secret_file(dir.path(), "sql-password", sql_pw);
        let store = if how == "password_file" {
            format!("url = \"{url}\"\npassword_file = \"{pw_file}\"")
        } else {
            format!("url = \"{url}\"")
        };
        let mut sources = String::new();
        for answer in ["a401", "garbage"] {
            sources += &format!(
                "[[sources]]\nname = \"bearer-{answer}\"\nkind = \"http\"\nfeeds = \"referrals\"\n\
                 url = \"{}/{answer}/referrals\"\nretries = 0\n\
                 [sources.auth]\nkind = \"bearer\"\ntoken_file = \"{token_file}\"\n",
                server.uri()
            );
        }
        sources += &sql_source(
            "pg-echo",
            &format!("postgres://clerk@127.0.0.1:{echo}/dept"),
            "SELECT * FROM referrals WHERE updated_at > $1 ORDER BY updated_at",
            &format!("password_file = \"{sql_file}\""),
        );
        let c = county(dir, &store, StoreAt::Postgres(db.url.clone()), &sources);
        let seen = a_day(&c).await;
        let mut leaks = Vec::new();
        for s in [store_pw, url_pw, token, sql_pw] {
            leaks.extend(forms(s));
        }
        seen.assert_none_of(&leaks);
        assert_failed(&seen, "bearer-a401", "401");
        assert_failed(&seen, "pg-echo", "password authentication failed");
        let tables = seen
            .places
            .iter()
            .find(|(p, _)| p == "the PostgreSQL store")
            .map(|(_, t)| t.as_str())
            .unwrap();
        // The echoes reached the store, blanked: the errors, the quarantined rows, the alerts.
        for (table, what) in [
            // A row as text doubles the quotes inside a value.
            ("## source_state", "got \"\"***\"\""),
            ("## quarantine", "Bearer ***"),
            ("## outbox", "pg-echo"),
            ("## job_runs", "sync:pg-echo"),
        ] {
            let at = tables
                .find(table)
                .unwrap_or_else(|| panic!("{how}: no {table}"));
            let rows = &tables[at..];
            let rows = &rows[..rows[3..].find("\n## ").map_or(rows.len(), |i| i + 3)];
            assert!(rows.contains(what), "{how}: {what} not in {rows}");
        }
        if how != "password_file" {
            for args in ["status", "check-config"] {
                let out = seen.of(args);
                assert!(
                    out.contains("liandong.toml: store.url: holds a password"),
                    "{args}: {out}"
                );
            }
            let status: serde_json::Value =
                serde_json::from_str(seen.stdout("status --format json")).unwrap();
            assert!(
                status["configuration"]["warnings"]
                    .to_string()
                    .contains("store.url: holds a password"),
                "{status:#}"
            );
        }
        let status: serde_json::Value =
            serde_json::from_str(seen.stdout("status --format json")).unwrap();
        assert_eq!(status["store"]["url"], shown, "{how}");
        assert!(
            seen.of("status")
                .contains(&format!("store: {shown} (postgres)")),
            "{how}"
        );
    }
}
