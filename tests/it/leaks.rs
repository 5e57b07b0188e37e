//! Secrets echoed back by every fake server (issue 22, item 1) and hostile values in what is
//! sent (item 5): an SMS gateway answering 500 with the request's headers and body, robots
//! answering with their webhook URL, an SMTP server quoting the AUTH credentials it rejects.
//! The secret must appear nowhere a person or a log can see it: the `--log trace` output,
//! `outbox --format json|csv`, the store's file, the administrators' dead-letter e-mail.

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
    let mut c: Command = common::bin();
    c.arg("--config").arg(&env.config).args(args);
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
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
