//! Notifications end to end: the built binary against a real SMTP server process (aiosmtpd,
//! `tests/support/smtp_server.py`), HTTP servers on 127.0.0.1 standing in for the SMS gateways
//! and the group robots (the Aliyun and Tencent ones verify every request's signature), on
//! SQLite and PostgreSQL stores. Faults: refusals, 500s, timeouts, permanent errors, SIGKILL.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use liandong::domain::calendar::Calendar;
use liandong::store::EvaluatedFinding;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common;

// ---------------------------------------------------------------------------------------------
// A real SMTP server process
// ---------------------------------------------------------------------------------------------

pub(crate) struct Smtp {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

/// An inline image or attachment: (content type, Content-ID, file name, bytes).
pub(crate) type File = (String, Option<String>, Option<String>, Vec<u8>);

#[derive(Debug, Clone)]
pub(crate) struct Mail {
    pub(crate) to: String,
    pub(crate) subject: String,
    pub(crate) message_id: String,
    /// `Auto-Submitted` (RFC 3834).
    pub(crate) auto_submitted: String,
    pub(crate) text: String,
    pub(crate) html: Option<String>,
    pub(crate) files: Vec<File>,
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Smtp {
    /// Starts the server, or says why not (and fails in CI, where aiosmtpd is installed).
    pub(crate) fn start(extra: &[&str]) -> Option<Smtp> {
        let ok = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            common::skip(
                "an SMTP test",
                "python3 cannot import aiosmtpd (pip install aiosmtpd)",
            );
            return None;
        }
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_server.py");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", &port.to_string(), "--dir"])
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("listening"),
            "the SMTP server said {line:?}"
        );
        Some(Smtp { child, port, dir })
    }

    /// Every message the server accepted.
    pub(crate) fn messages(&self) -> Vec<Mail> {
        let new = self.dir.path().join("new");
        let Ok(entries) = std::fs::read_dir(&new) else {
            return Vec::new();
        };
        let mut out: Vec<Mail> = entries
            .map(|e| {
                let bytes = std::fs::read(e.unwrap().path()).unwrap();
                let m = mailparse::parse_mail(&bytes).unwrap();
                let header = |h: &str| {
                    m.headers
                        .iter()
                        .find(|x| x.get_key().eq_ignore_ascii_case(h))
                        .map(|x| x.get_value())
                        .unwrap_or_default()
                };
                // Every leaf part, however deeply nested (mixed → related → alternative).
                fn leaves<'a>(
                    p: &'a mailparse::ParsedMail<'a>,
                    out: &mut Vec<&'a mailparse::ParsedMail<'a>>,
                ) {
                    if p.subparts.is_empty() {
                        out.push(p);
                    }
                    for s in &p.subparts {
                        leaves(s, out);
                    }
                }
                let mut all = Vec::new();
                leaves(&m, &mut all);
                let part = |mime: &str| {
                    all.iter()
                        .find(|p| p.ctype.mimetype == mime)
                        .map(|p| p.get_body().unwrap())
                };
                let text = part("text/plain").unwrap_or_else(|| m.get_body().unwrap());
                let files = all
                    .iter()
                    .filter(|p| !p.ctype.mimetype.starts_with("text/"))
                    .map(|p| {
                        let h = |k: &str| {
                            p.headers
                                .iter()
                                .find(|x| x.get_key().eq_ignore_ascii_case(k))
                                .map(|x| x.get_value())
                        };
                        let name = p.get_content_disposition().params.get("filename").cloned();
                        (
                            p.ctype.mimetype.clone(),
                            h("Content-ID"),
                            name,
                            p.get_body_raw().unwrap(),
                        )
                    })
                    .collect();
                Mail {
                    to: header("To"),
                    subject: header("Subject"),
                    message_id: header("Message-ID"),
                    auto_submitted: header("Auto-Submitted"),
                    text,
                    html: part("text/html"),
                    files,
                }
            })
            .collect();
        out.sort_by(|a, b| a.to.cmp(&b.to));
        out
    }

    pub(crate) fn email_toml(&self) -> String {
        format!(
            "[notify.email]\ntransport = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n\
             from = \"稻城县府检联动办公室 <fjld@example.gov.cn>\"\ntimeout_secs = 5\n",
            self.port
        )
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// A county, its findings and the binary
// ---------------------------------------------------------------------------------------------

const UNITS: &str = r#"
[[units]]
id = "scjg"
name = "稻城县市场监督管理局"
contacts = [
  { name = "张三", role = "contact", email = "scjg@example.gov.cn", phone = "13800000001" },
  { name = "李四", role = "head", email = "scjg-head@example.gov.cn" },
]

[[units]]
id = "zrzy"
name = "稻城县自然资源局"
contacts = [{ name = "王五", role = "contact", email = "ZRZY_EMAIL" }]

[[units]]
id = "fjld"
name = "稻城县府检联动办公室"
kind = "liaison"
contacts = [{ name = "赵六", role = "contact", email = "fjld@example.gov.cn" }]
"#;

struct Env {
    _dir: tempfile::TempDir,
    url: String,
    config: PathBuf,
}

/// A configuration with the three units above, `notify` (top-level `[notify]` keys first, then
/// its sub-tables) and the yearly duties' reminders off, so that only the findings speak.
fn env(store_url: Option<&str>, notify: &str, zrzy_email: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = store_url.map_or_else(
        || format!("sqlite://{}", dir.path().join("liandong.db").display()),
        str::to_string,
    );
    let text = format!(
        "[store]\nurl = \"{url}\"\n{}\n[notify]\n{notify}\n[notify.stages.meeting]\nenabled = false\n\
         [notify.stages.training]\nenabled = false\n",
        UNITS.replace("ZRZY_EMAIL", zrzy_email)
    );
    let config = common::write(dir.path(), "liandong.toml", text);
    Env {
        _dir: dir,
        url,
        config,
    }
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A finding of `unit` about `case_no`, arisen on 2025-09-01, due at the end of `due`.
pub(crate) fn finding(
    rule: &str,
    unit: &str,
    case_no: &str,
    due: &str,
    state: &str,
) -> EvaluatedFinding {
    EvaluatedFinding {
        key: format!("{rule}|{unit}|{case_no}"),
        rule: rule.into(),
        unit_id: unit.into(),
        case_key: Some(case_no.into()),
        case_no: Some(case_no.into()),
        due: Calendar::end_of_day_utc(day(due)),
        arose_at: "2025-09-01T00:00:00+08:00".parse().unwrap(),
        satisfied_at: None,
        violated: false,
        state: state.into(),
        facts: "{}".into(),
        link: None,
    }
}

/// Three findings: an R1 of 市场监管 overdue since 10-01 (its head and the liaison office hear of
/// it too), an R7 reply of 市场监管 due 10-15, and an R1 of 自然资源 overdue since 10-12.
fn county_findings() -> Vec<EvaluatedFinding> {
    vec![
        finding("R1", "scjg", "稻市监罚〔2025〕1号", "2025-10-01", "overdue"),
        finding("R7", "scjg", "稻检建〔2025〕7号", "2025-10-15", "due_soon"),
        finding(
            "R1",
            "zrzy",
            "稻自然资罚〔2025〕3号",
            "2025-10-12",
            "overdue",
        ),
    ]
}

async fn seed(url: &str, findings: &[EvaluatedFinding]) {
    let store = common::open(url).await;
    store.apply_findings(findings, common::now()).await.unwrap();
}

fn liandong(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut c = common::bin();
    c.arg("--config")
        .arg(&env.config)
        .args(args)
        .envs(vars.iter().copied());
    c
}

async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

async fn notify(env: &Env, as_of: &str) -> Output {
    run(liandong(env, &["notify", "--as-of", as_of], &[])).await
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn outbox(env: &Env, state: Option<&str>) -> Vec<serde_json::Value> {
    let mut args = vec!["outbox", "--format", "json"];
    if let Some(s) = state {
        args.extend(["--state", s]);
    }
    let o = run(liandong(env, &args, &[])).await;
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice::<Vec<serde_json::Value>>(&o.stdout).unwrap()
}

// ---------------------------------------------------------------------------------------------
// E-mail
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn digests_reach_a_real_smtp_server_once_with_their_chinese_intact() {
    let Some(smtp) = Smtp::start(&[]) else { return };
    let env = env(None, &smtp.email_toml(), "zrzy@example.gov.cn");
    seed(&env.url, &county_findings()).await;

    let o = notify(&env, "2025-10-13T10:00:00+08:00").await;
    assert!(o.status.success(), "{}", text(&o));
    let mails = smtp.messages();
    let to: Vec<&str> = mails.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(
        to,
        [
            "张三 <scjg@example.gov.cn>",
            "李四 <scjg-head@example.gov.cn>",
            "王五 <zrzy@example.gov.cn>",
            "赵六 <fjld@example.gov.cn>",
        ],
        "{mails:#?}"
    );
    let contact = &mails[0];
    assert_eq!(
        contact.subject,
        "【府检联动】稻城县市场监督管理局：2项事项待办（已逾期1项）"
    );
    assert!(
        contact.text.contains("张三（联络员）："),
        "{}",
        contact.text
    );
    assert!(
        contact.text.contains("稻市监罚〔2025〕1号") && contact.text.contains("稻检建〔2025〕7号")
    );
    assert!(contact.text.contains("移送涉嫌犯罪案件未录入两法衔接平台"));
    assert!(contact.text.contains("还剩2天"), "{}", contact.text);
    let html = contact.html.as_deref().expect("an HTML alternative");
    // One block per item, readable on a phone: what raised it, what to do, what closes it.
    assert!(
        html.contains("稻检建〔2025〕7号") && html.contains("办理：") && html.contains("销号："),
        "{html}"
    );
    // A unit's message carries only its own items.
    assert!(!contact.text.contains("稻自然资罚"));
    let zrzy = &mails[2];
    assert!(zrzy.text.contains("稻自然资罚〔2025〕3号") && !zrzy.text.contains("稻市监罚"));
    // The head hears of the item overdue 12 days, not of the reminder.
    let head = &mails[1];
    assert!(
        head.text.contains("提请负责人督办") && !head.text.contains("稻检建"),
        "{}",
        head.text
    );
    // The liaison office hears of what is overdue 10 days or more.
    let office = &mails[3];
    assert!(office.text.contains("报府检联动办公室") && !office.text.contains("稻自然资罚"));
    assert!(
        contact.message_id.starts_with("<liandong."),
        "{}",
        contact.message_id
    );
    // Every digest says it was made by a machine (RFC 3834), as its text says 请勿直接回复.
    assert!(
        mails.iter().all(|m| m.auto_submitted == "auto-generated"),
        "{mails:#?}"
    );

    // Again at the same time, and later the same day: nothing new.
    for at in ["2025-10-13T10:00:00+08:00", "2025-10-13T16:00:00+08:00"] {
        let o = notify(&env, at).await;
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("0 messages queued"), "{}", text(&o));
    }
    assert_eq!(smtp.messages().len(), 4);
    let sent = outbox(&env, Some("sent")).await;
    assert_eq!(sent.len(), 4);
    assert!(
        sent.iter()
            .all(|m| m["deliveries"].as_array().unwrap().len() == 1)
    );
    assert!(
        sent.iter()
            .all(|m| m["provider_id"].as_str().unwrap().contains("250")),
        "{sent:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_refusing_the_first_tries_gets_every_message_exactly_once() {
    let Some(smtp) = Smtp::start(&["--refuse-first", "3"]) else {
        return;
    };
    let notify_toml = format!(
        "concurrency = 1\nretry_base_secs = 60\n{}",
        smtp.email_toml()
    );
    let env = env(None, &notify_toml, "zrzy@example.gov.cn");
    seed(&env.url, &county_findings()).await;

    let first = notify(&env, "2025-10-13T10:00:00+08:00").await;
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    assert!(
        text(&first).contains("sent 1, retrying 3"),
        "{}",
        text(&first)
    );
    let failed = outbox(&env, Some("failed")).await;
    assert_eq!(failed.len(), 3);
    for m in &failed {
        assert!(m["last_error"].as_str().unwrap().contains("451"), "{m}");
        // The first retry comes after 48–60 s (60 s less up to 20 % jitter).
        let next: DateTime<Utc> = serde_json::from_value(m["not_before"].clone()).unwrap();
        let wait = next
            - DateTime::parse_from_rfc3339("2025-10-13T10:00:00+08:00")
                .unwrap()
                .with_timezone(&Utc);
        assert!((48..=60).contains(&wait.num_seconds()), "{wait}");
    }
    // Before the retry is due nothing goes; after it everything does.
    let early = notify(&env, "2025-10-13T10:00:30+08:00").await;
    assert!(text(&early).contains("sent 0"), "{}", text(&early));
    let later = notify(&env, "2025-10-13T10:05:00+08:00").await;
    assert!(later.status.success(), "{}", text(&later));
    let mails = smtp.messages();
    assert_eq!(mails.len(), 4, "{mails:#?}");
    let mut ids: Vec<&str> = mails.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    let sent = outbox(&env, Some("sent")).await;
    let attempts: usize = sent
        .iter()
        .map(|m| m["deliveries"].as_array().unwrap().len())
        .sum();
    assert_eq!(attempts, 7, "4 sends and 3 refusals are on record");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_refusal_is_dead_lettered_and_the_administrator_told() {
    let Some(smtp) = Smtp::start(&["--reject", "nobody@"]) else {
        return;
    };
    let notify_toml = format!(
        "admin_emails = [\"运维 <admin@example.gov.cn>\"]\n{}",
        smtp.email_toml()
    );
    let env = env(None, &notify_toml, "nobody@example.gov.cn");
    seed(&env.url, &county_findings()).await;

    let o = notify(&env, "2025-10-13T10:00:00+08:00").await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let dead = outbox(&env, Some("dead")).await;
    assert_eq!(dead.len(), 1, "{dead:#?}");
    assert_eq!(dead[0]["address"], "nobody@example.gov.cn");
    assert!(
        dead[0]["last_error"].as_str().unwrap().contains("550"),
        "{}",
        dead[0]
    );
    assert_eq!(dead[0]["attempts"], 1, "a permanent error is not retried");
    let mails = smtp.messages();
    let alert = mails
        .iter()
        .find(|m| m.to.contains("admin@example.gov.cn"))
        .expect("the administrator is told");
    assert!(alert.subject.contains("消息投递失败"), "{}", alert.subject);
    assert!(
        alert.text.contains("nobody@example.gov.cn") && alert.text.contains("550"),
        "{}",
        alert.text
    );
    // The others went out; telling the administrator happens once.
    assert_eq!(mails.len(), 4);
    let again = notify(&env, "2025-10-13T12:00:00+08:00").await;
    assert!(text(&again).contains("sent 0"), "{}", text(&again));
    assert_eq!(smtp.messages().len(), 4);
}

/// Starts `liandong notify`, waits until the SMTP server holds its first DATA command (started
/// with `--hold-first-data`), and kills it there.
fn kill_while_held(config: &std::path::Path, smtp_dir: &std::path::Path, as_of: &str) {
    let mut child = common::bin()
        .arg("--config")
        .arg(config)
        .args(["notify", "--as-of", as_of])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let held = smtp_dir.join("held");
    let started = std::time::Instant::now();
    while !held.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("notify ended ({status}) before the server held a message");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server held no message within a minute"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // SIGKILL: no chance to clean up.
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_between_claim_and_send_nothing_is_lost_or_doubled() {
    let Some(smtp) = Smtp::start(&["--hold-first-data", "unsent"]) else {
        return;
    };
    let notify_toml = format!("lease_secs = 1\nconcurrency = 1\n{}", smtp.email_toml());
    let env = env(None, &notify_toml, "zrzy@example.gov.cn");
    seed(&env.url, &county_findings()).await;
    let at = "2025-10-13T10:00:00+08:00";
    let config = env.config.clone();
    let smtp_dir = smtp.dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || kill_while_held(&config, &smtp_dir, at))
        .await
        .unwrap();
    assert_eq!(smtp.messages().len(), 0, "killed before the first send");
    let sending = outbox(&env, Some("sending")).await;
    assert_eq!(
        sending.len(),
        1,
        "one message was claimed when the process died"
    );
    // The lease runs out; the next run sends everything, once.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let o = run(liandong(&env, &["notify", "--as-of", at], &[])).await;
    assert!(o.status.success(), "{}", text(&o));
    let mails = smtp.messages();
    assert_eq!(mails.len(), 4, "{mails:#?}");
    let mut ids: Vec<&str> = mails.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_between_send_and_commit_the_one_duplicate_is_recognisable() {
    let Some(smtp) = Smtp::start(&["--hold-first-data", "accepted"]) else {
        return;
    };
    let notify_toml = format!("lease_secs = 1\nconcurrency = 1\n{}", smtp.email_toml());
    let env = env(None, &notify_toml, "zrzy@example.gov.cn");
    seed(&env.url, &county_findings()).await;
    let at = "2025-10-13T10:00:00+08:00";
    let config = env.config.clone();
    let smtp_dir = smtp.dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || kill_while_held(&config, &smtp_dir, at))
        .await
        .unwrap();
    let before = smtp.messages();
    assert_eq!(
        before.len(),
        1,
        "the provider had accepted the first message"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let o = run(liandong(&env, &["notify", "--as-of", at], &[])).await;
    assert!(o.status.success(), "{}", text(&o));
    let mails = smtp.messages();
    // The documented window: the message accepted but not yet recorded goes again, with the
    // same Message-ID; every other message once.
    assert_eq!(mails.len(), 5, "{mails:#?}");
    let twice: Vec<&Mail> = mails
        .iter()
        .filter(|m| m.message_id == before[0].message_id)
        .collect();
    assert_eq!(twice.len(), 2);
    let mut ids: Vec<&str> = mails.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    assert_eq!(outbox(&env, Some("sent")).await.len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_that_skipped_three_days_sends_one_catch_up_digest() {
    let Some(smtp) = Smtp::start(&[]) else { return };
    let env = env(None, &smtp.email_toml(), "zrzy@example.gov.cn");
    // Three deadlines; their 3-day reminders fall on 10-13, 10-14 and 10-15.
    seed(
        &env.url,
        &[
            finding("R7", "zrzy", "稻检建〔2025〕1号", "2025-10-16", "upcoming"),
            finding("R7", "zrzy", "稻检建〔2025〕2号", "2025-10-17", "upcoming"),
            finding("R7", "zrzy", "稻检建〔2025〕3号", "2025-10-18", "upcoming"),
        ],
    )
    .await;
    let o = notify(&env, "2025-10-12T09:00:00+08:00").await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        smtp.messages().len(),
        1,
        "the 7-day reminders, in one digest"
    );
    // Down on 10-13, 10-14 and 10-15; back on 10-16.
    let o = notify(&env, "2025-10-16T09:00:00+08:00").await;
    assert!(o.status.success(), "{}", text(&o));
    let mails = smtp.messages();
    assert_eq!(mails.len(), 2, "one catch-up digest, not three: {mails:#?}");
    let catch_up = mails
        .iter()
        .find(|m| m.text.contains("今日到期"))
        .expect("the catch-up digest");
    assert!(
        catch_up.subject.contains("3项事项待办"),
        "{}",
        catch_up.subject
    );
    for n in 1..=3 {
        assert_eq!(
            catch_up
                .text
                .matches(&format!("稻检建〔2025〕{n}号"))
                .count(),
            1
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_notify_processes_on_one_postgresql_store_send_nothing_twice() {
    let Some(db) = common::fresh_pg("two notify processes on PostgreSQL").await else {
        return;
    };
    let Some(smtp) = Smtp::start(&[]) else { return };
    let env = env(
        Some(&db.url),
        &format!("concurrency = 3\n{}", smtp.email_toml()),
        "zrzy@example.gov.cn",
    );
    // 40 units, each with its contact and an overdue finding; the first unit's head too.
    let mut units = String::new();
    let mut findings = Vec::new();
    for i in 0..40 {
        units.push_str(&format!(
            "[[units]]\nid = \"u{i}\"\nname = \"测试单位{i}\"\ncontacts = [{{ name = \"联络员{i}\", role = \"contact\", email = \"u{i}@example.gov.cn\" }}]\n"
        ));
        findings.push(finding(
            "R1",
            &format!("u{i}"),
            &format!("稻测罚〔2025〕{i}号"),
            "2025-10-10",
            "overdue",
        ));
    }
    let text0 = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        text0.replacen("\n[notify]\n", &format!("\n{units}\n[notify]\n"), 1),
    )
    .unwrap();
    seed(&env.url, &findings).await;
    let at = "2025-10-13T10:00:00+08:00";
    let a = liandong(&env, &["notify", "--as-of", at], &[])
        .spawn()
        .unwrap();
    let b = liandong(&env, &["notify", "--as-of", at], &[])
        .spawn()
        .unwrap();
    let (ra, rb) = tokio::task::spawn_blocking(move || {
        (a.wait_with_output().unwrap(), b.wait_with_output().unwrap())
    })
    .await
    .unwrap();
    assert!(ra.status.success() && rb.status.success());
    let mails = smtp.messages();
    // 40 units' contacts, plus 市场监管 (contact, head), 自然资源 and the office have nothing.
    assert_eq!(
        mails.len(),
        40,
        "{:#?}",
        mails.iter().map(|m| &m.to).collect::<Vec<_>>()
    );
    let mut to: Vec<&str> = mails.iter().map(|m| m.to.as_str()).collect();
    to.sort_unstable();
    to.dedup();
    assert_eq!(to.len(), 40, "each recipient once");
    let sent = outbox(&env, Some("sent")).await;
    assert_eq!(sent.len(), 40);
    assert!(
        sent.iter()
            .all(|m| m["deliveries"].as_array().unwrap().len() == 1)
    );
}

// ---------------------------------------------------------------------------------------------
// SMS gateways
// ---------------------------------------------------------------------------------------------

/// The SMS part of a configuration for a provider at `endpoint`, with its secret in a file.
fn sms_toml(env_dir: &std::path::Path, provider: &str, endpoint: &str, extra: &str) -> String {
    let secret = common::write(env_dir, "sms-secret", "TestSecret123\n");
    format!(
        "[notify.sms]\nprovider = \"{provider}\"\nendpoint = \"{endpoint}\"\nkey_id = \"TestKeyId\"\n\
         secret_file = \"{}\"\nsign_name = \"稻城县府检联动\"\ntemplate = \"SMS_0001\"\n\
         template_params = [\"unit\", \"count\", \"overdue\"]\ntimeout_secs = 2\n{extra}",
        secret.display()
    )
}

fn header(r: &wiremock::Request, name: &str) -> String {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Accepts a request only when its `ACS3-HMAC-SHA256` signature is right for its method, path,
/// query, signed headers and body, as the request arrived.
struct AliyunSigned;

impl wiremock::Match for AliyunSigned {
    fn matches(&self, r: &wiremock::Request) -> bool {
        let auth = header(r, "authorization");
        let Some(rest) = auth.strip_prefix("ACS3-HMAC-SHA256 ") else {
            return false;
        };
        let field = |k: &str| {
            rest.split(',')
                .find_map(|p| p.trim().strip_prefix(k))
                .unwrap_or_default()
        };
        let signed = field("SignedHeaders=");
        let headers: Vec<(String, String)> = signed
            .split(';')
            .map(|h| (h.to_string(), header(r, h)))
            .collect();
        let query: Vec<(String, String)> = r
            .url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let (again, sig) = liandong::notify::sms::aliyun_v3_signature(
            r.method.as_str(),
            r.url.path(),
            &query,
            &headers,
            &r.body,
            "TestSecret123",
        );
        let body_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&r.body));
        field("Credential=") == "TestKeyId"
            && again == signed
            && sig == field("Signature=")
            && header(r, "x-acs-content-sha256") == body_hash
            && signed.contains("host")
            && signed.contains("x-acs-date")
    }
}

/// Accepts a request only when its `TC3-HMAC-SHA256` signature is right.
struct TencentSigned;

impl wiremock::Match for TencentSigned {
    fn matches(&self, r: &wiremock::Request) -> bool {
        let auth = header(r, "authorization");
        let Some(rest) = auth.strip_prefix("TC3-HMAC-SHA256 ") else {
            return false;
        };
        let field = |k: &str| {
            rest.split(',')
                .find_map(|p| p.trim().strip_prefix(k))
                .unwrap_or_default()
        };
        let Ok(ts) = header(r, "x-tc-timestamp").parse::<i64>() else {
            return false;
        };
        let date = DateTime::from_timestamp(ts, 0)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string();
        let sig = liandong::notify::sms::tc3_signature(
            "TestSecret123",
            "sms",
            &header(r, "host"),
            &header(r, "content-type"),
            ts,
            &r.body,
        );
        field("Credential=") == format!("TestKeyId/{date}/sms/tc3_request")
            && field("SignedHeaders=") == "content-type;host"
            && field("Signature=") == sig
            && header(r, "x-tc-action") == "SendSms"
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn aliyun_and_tencent_gateways_verify_every_signature_and_receive_the_digest() {
    for provider in ["aliyun", "tencent"] {
        let server = MockServer::start().await;
        let ok = if provider == "aliyun" {
            Mock::given(method("POST")).and(AliyunSigned).respond_with(
                ResponseTemplate::new(200).set_body_json(
                    serde_json::json!({"Code": "OK", "BizId": "biz-42", "Message": "OK"}),
                ),
            )
        } else {
            Mock::given(method("POST")).and(TencentSigned).respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"Response": {
                    "SendStatusSet": [{"SerialNo": "serial-42", "Code": "Ok", "Message": "send success"}],
                    "RequestId": "r1"}})),
            )
        };
        ok.expect(1).mount(&server).await;
        let dir = tempfile::tempdir().unwrap();
        let notify_toml = format!(
            "[notify.email]\ntransport = \"file\"\ndir = \"{}\"\n{}",
            dir.path().join("mail").display(),
            sms_toml(
                dir.path(),
                provider,
                &server.uri(),
                "sdk_app_id = \"1400000001\"\n"
            )
        );
        let env = env(None, &notify_toml, "zrzy@example.gov.cn");
        seed(&env.url, &county_findings()).await;
        // Monday 10:00: inside the SMS window.
        let o = notify(&env, "2025-10-13T10:00:00+08:00").await;
        assert!(o.status.success(), "{provider}: {}", text(&o));
        let requests = server.received_requests().await.unwrap();
        assert_eq!(
            requests.len(),
            1,
            "{provider}: one SMS, to the one contact with a phone"
        );
        let r = &requests[0];
        let (phones, params) = if provider == "aliyun" {
            let q: std::collections::HashMap<String, String> = r
                .url
                .query_pairs()
                .map(|(k, v)| (k.into(), v.into()))
                .collect();
            assert_eq!(q["SignName"], "稻城县府检联动");
            assert_eq!(q["TemplateCode"], "SMS_0001");
            let p: serde_json::Value = serde_json::from_str(&q["TemplateParam"]).unwrap();
            (q["PhoneNumbers"].clone(), p)
        } else {
            let b: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(b["SmsSdkAppId"], "1400000001");
            let set = b["TemplateParamSet"].as_array().unwrap().clone();
            let p = serde_json::json!({"unit": set[0], "count": set[1], "overdue": set[2]});
            (b["PhoneNumberSet"][0].as_str().unwrap().to_string(), p)
        };
        assert!(phones.ends_with("13800000001"), "{phones}");
        assert_eq!(params["unit"], "稻城县市场监督管理局");
        assert_eq!(params["count"], "2");
        assert_eq!(params["overdue"], "1");
        let sms: Vec<_> = outbox(&env, Some("sent"))
            .await
            .into_iter()
            .filter(|m| m["channel"] == "sms")
            .collect();
        assert_eq!(sms.len(), 1);
        // Phone numbers are masked wherever a person reads them.
        assert_eq!(sms[0]["address"], "138****0001");
        assert!(!text(&o).contains("13800000001"), "{}", text(&o));
        let want = if provider == "aliyun" {
            "biz-42"
        } else {
            "serial-42"
        };
        assert_eq!(sms[0]["provider_id"], want);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_answering_500_and_timing_out_is_retried_with_growing_backoff() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("busy"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(4))
                .set_body_string("{\"code\":0}"),
        )
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"code\":0,\"msgid\":\"gw-7\"}"))
        .with_priority(3)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let http = format!(
        "[notify.sms]\nprovider = \"http\"\nurl = \"{}/send\"\nsign_name = \"稻城县府检联动\"\ntimeout_secs = 1\n\
         body = '{{\"mobile\": \"{{{{ phone }}}}\", \"content\": \"{{{{ text }}}}\", \"ref\": \"{{{{ message_id }}}}\"}}'\n\
         success_pointer = \"/code\"\nsuccess_value = \"0\"\nid_pointer = \"/msgid\"\n\
         [notify.sms.headers]\nContent-Type = \"application/json\"\n",
        server.uri()
    );
    let notify_toml = format!(
        "retry_base_secs = 60\n[notify.email]\ntransport = \"file\"\ndir = \"{}\"\n{http}",
        dir.path().join("mail").display()
    );
    let env = env(None, &notify_toml, "zrzy@example.gov.cn");
    seed(&env.url, &county_findings()).await;
    let sms =
        |list: Vec<serde_json::Value>| list.into_iter().find(|m| m["channel"] == "sms").unwrap();

    let o = notify(&env, "2025-10-13T10:00:00+08:00").await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let m1 = sms(outbox(&env, None).await);
    assert_eq!(m1["state"], "failed");
    assert!(m1["last_error"].as_str().unwrap().contains("500"), "{m1}");
    let o = notify(&env, "2025-10-13T10:05:00+08:00").await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let m2 = sms(outbox(&env, None).await);
    assert_eq!(m2["state"], "failed");
    assert!(
        m2["last_error"].as_str().unwrap().contains("timed out"),
        "{m2}"
    );
    let o = notify(&env, "2025-10-13T10:10:00+08:00").await;
    assert!(o.status.success(), "{}", text(&o));
    let m3 = sms(outbox(&env, None).await);
    assert_eq!(m3["state"], "sent");
    assert_eq!(m3["provider_id"], "gw-7");
    let d = m3["deliveries"].as_array().unwrap();
    let outcomes: Vec<&str> = d.iter().map(|x| x["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["failed", "failed", "sent"]);
    // The waits after each failure: about 60 s, then about 120 s (less up to 20 %), from the
    // policy's time (the as-of of each run).
    let t = |v: &serde_json::Value| serde_json::from_value::<DateTime<Utc>>(v.clone()).unwrap();
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let wait1 = (t(&m1["not_before"]) - at("2025-10-13T10:00:00+08:00")).num_seconds();
    let wait2 = (t(&m2["not_before"]) - at("2025-10-13T10:05:00+08:00")).num_seconds();
    // The audit keeps the wall-clock time of every attempt.
    assert!(
        d.iter()
            .all(|x| t(&x["started_at"]) > at("2026-01-01T00:00:00Z"))
    );
    assert!(
        (48..=60).contains(&wait1) && (96..=120).contains(&wait2),
        "{wait1} {wait2}"
    );
    let body: serde_json::Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[2].body).unwrap();
    assert_eq!(body["mobile"], "13800000001");
    assert!(
        body["content"]
            .as_str()
            .unwrap()
            .starts_with("【稻城县府检联动】稻城县市场监督管理局：府检联动待办2项"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_sms_due_at_night_leaves_in_the_next_working_days_window() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"Code": "OK", "BizId": "b"})),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let notify_toml = format!(
        "[notify.email]\ntransport = \"file\"\ndir = \"{}\"\n{}",
        dir.path().join("mail").display(),
        sms_toml(dir.path(), "aliyun", &server.uri(), "")
    );
    let env = env(None, &notify_toml, "zrzy@example.gov.cn");
    seed(&env.url, &county_findings()).await;
    // Friday 10-10 at 23:00; Saturday 10-11 is a working day of the National Day swap.
    let o = notify(&env, "2025-10-10T23:00:00+08:00").await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(server.received_requests().await.unwrap().len(), 0);
    let pending = outbox(&env, Some("pending")).await;
    assert_eq!(
        pending.len(),
        1,
        "the SMS waits; the e-mails went: {pending:#?}"
    );
    let at: DateTime<Utc> = serde_json::from_value(pending[0]["not_before"].clone()).unwrap();
    assert_eq!(
        at,
        DateTime::parse_from_rfc3339("2025-10-11T08:30:00+08:00").unwrap()
    );
    // New e-mails may go at 08:29 (10-11 brings new stages); the SMS does not.
    let o = notify(&env, "2025-10-11T08:29:00+08:00").await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(server.received_requests().await.unwrap().len(), 0);
    let o = notify(&env, "2025-10-11T08:30:00+08:00").await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Group robots
// ---------------------------------------------------------------------------------------------

/// Accepts a DingTalk request only with a fresh timestamp and its right `sign`.
struct DingtalkSigned;

impl wiremock::Match for DingtalkSigned {
    fn matches(&self, r: &wiremock::Request) -> bool {
        let q: std::collections::HashMap<String, String> = r
            .url
            .query_pairs()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let Some(ts) = q.get("timestamp").and_then(|t| t.parse::<i64>().ok()) else {
            return false;
        };
        let want = liandong::notify::robot::dingtalk_sign("SECtest", ts);
        let want = percent_encoding::percent_decode_str(&want)
            .decode_utf8()
            .unwrap()
            .into_owned();
        q.get("access_token").map(String::as_str) == Some("dt-token")
            && q.get("sign") == Some(&want)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wecom_and_dingtalk_robots_receive_their_units_digests() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/webhook/send"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"errcode": 0, "errmsg": "ok"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/robot/send"))
        .and(DingtalkSigned)
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"errcode": 0, "errmsg": "ok"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let url_file = common::write(
        dir.path(),
        "wecom-url",
        format!("{}/cgi-bin/webhook/send?key=wk\n", server.uri()),
    );
    let secret = common::write(dir.path(), "dt-secret", "SECtest\n");
    let notify_toml = format!(
        "[notify.email]\ntransport = \"file\"\ndir = \"{}\"\n\
         [[notify.robots]]\nname = \"市场监管群\"\nkind = \"wecom\"\nunit = \"scjg\"\nurl_file = \"{}\"\n\
         [[notify.robots]]\nname = \"联动办群\"\nkind = \"dingtalk\"\nunit = \"fjld\"\n\
         url = \"{}/robot/send?access_token=dt-token\"\nsecret_file = \"{}\"\n",
        dir.path().join("mail").display(),
        url_file.display(),
        server.uri(),
        secret.display()
    );
    let env = env(None, &notify_toml, "zrzy@example.gov.cn");
    seed(&env.url, &county_findings()).await;
    let o = notify(&env, "2025-10-13T10:00:00+08:00").await;
    assert!(o.status.success(), "{}", text(&o));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let wecom: serde_json::Value = serde_json::from_slice(
        &requests
            .iter()
            .find(|r| r.url.path() == "/cgi-bin/webhook/send")
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(wecom["msgtype"], "markdown");
    let content = wecom["markdown"]["content"].as_str().unwrap();
    assert!(
        content.contains("稻城县市场监督管理局") && content.contains("稻检建〔2025〕7号"),
        "{content}"
    );
    assert!(
        !content.contains("稻自然资罚"),
        "only the unit's own items: {content}"
    );
    let ding: serde_json::Value = serde_json::from_slice(
        &requests
            .iter()
            .find(|r| r.url.path() == "/robot/send")
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(ding["msgtype"], "markdown");
    assert!(
        ding["markdown"]["text"]
            .as_str()
            .unwrap()
            .contains("稻市监罚〔2025〕1号")
    );
    // The webhook key never shows in what people or logs see.
    assert!(!text(&o).contains("key=wk"), "{}", text(&o));
}

// ---------------------------------------------------------------------------------------------
// TLS to the mail server
// ---------------------------------------------------------------------------------------------

/// A private CA and a certificate it signed for localhost / 127.0.0.1, made by openssl:
/// (ca.pem, server.pem, server.key) in `dir`.
fn private_ca(dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=liandong test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    common::write(
        dir,
        "ext.cnf",
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    );
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_and_implicit_tls_reach_a_server_whose_certificate_a_private_ca_signed() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca(certs.path());
    for (mode, security) in [("starttls", "starttls"), ("implicit", "tls")] {
        let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
        let Some(smtp) = Smtp::start(&["--tls", mode, "--cert", &cert_s, "--key", &key_s]) else {
            return;
        };
        let email = |ca_line: &str| {
            format!(
                "retry_base_secs = 60\n[notify.email]\ntransport = \"smtp\"\nhost = \"localhost\"\nport = {}\n\
                 security = \"{security}\"\nfrom = \"稻城县府检联动办公室 <fjld@example.gov.cn>\"\ntimeout_secs = 5\n{ca_line}",
                smtp.port
            )
        };
        // Without the private CA the certificate is not trusted: nothing leaves, it is retried.
        let untrusted = env(None, &email(""), "zrzy@example.gov.cn");
        seed(&untrusted.url, &county_findings()).await;
        let o = notify(&untrusted, "2025-10-13T10:00:00+08:00").await;
        assert_eq!(o.status.code(), Some(1), "{mode}: {}", text(&o));
        let failed = outbox(&untrusted, Some("failed")).await;
        assert_eq!(failed.len(), 4, "{mode}: {failed:#?}");
        assert_eq!(smtp.messages().len(), 0);
        // With it, everything arrives.
        let trusted = env(
            None,
            &email(&format!("ca_file = \"{}\"\n", ca.display())),
            "zrzy@example.gov.cn",
        );
        seed(&trusted.url, &county_findings()).await;
        let o = notify(&trusted, "2025-10-13T10:00:00+08:00").await;
        assert!(o.status.success(), "{mode}: {}", text(&o));
        let mails = smtp.messages();
        assert_eq!(mails.len(), 4, "{mode}");
        assert!(
            mails
                .iter()
                .any(|m| m.subject.contains("稻城县市场监督管理局"))
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn send_test_reaches_the_mail_server_and_says_when_it_cannot() {
    let Some(smtp) = Smtp::start(&[]) else { return };
    let up = env(None, &smtp.email_toml(), "zrzy@example.gov.cn");
    let o = run(liandong(
        &up,
        &[
            "send-test",
            "--channel",
            "email",
            "--to",
            "it@example.gov.cn",
        ],
        &[],
    ))
    .await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("sent a test email message to it@example.gov.cn"),
        "{}",
        text(&o)
    );
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].subject, "【府检联动】测试消息");
    assert!(
        mails[0].text.contains("email渠道配置正确"),
        "{}",
        mails[0].text
    );
    // A server that is not there: exit 1 and why.
    let down = env(
        None,
        &format!(
            "[notify.email]\ntransport = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\ntimeout_secs = 2\n",
            free_port()
        ),
        "zrzy@example.gov.cn",
    );
    let o = run(liandong(
        &down,
        &[
            "send-test",
            "--channel",
            "email",
            "--to",
            "it@example.gov.cn",
        ],
        &[],
    ))
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("failed") && text(&o).contains("connecting"),
        "{}",
        text(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shared_mailbox_gets_one_digest_and_a_moved_deadline_its_reminders_again() {
    let Some(smtp) = Smtp::start(&[]) else { return };
    let env = env(None, &smtp.email_toml(), "zrzy@example.gov.cn");
    // The liaison office's contact and head share one mailbox.
    let cfg = std::fs::read_to_string(&env.config).unwrap().replace(
        r#"contacts = [{ name = "赵六", role = "contact", email = "fjld@example.gov.cn" }]"#,
        r#"contacts = [{ name = "赵六", role = "contact", email = "fjld@example.gov.cn" }, { name = "钱七", role = "head", email = "fjld@example.gov.cn" }]"#,
    );
    std::fs::write(&env.config, cfg).unwrap();
    seed(
        &env.url,
        &[finding(
            "R7",
            "fjld",
            "稻检建〔2025〕9号",
            "2025-10-16",
            "upcoming",
        )],
    )
    .await;
    let o = notify(&env, "2025-10-13T10:00:00+08:00").await;
    assert!(o.status.success(), "{}", text(&o));
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(mails[0].text.matches("稻检建〔2025〕9号").count(), 1);
    // The deadline moves by a day: the reminder due for the new deadline goes again.
    seed(
        &env.url,
        &[finding(
            "R7",
            "fjld",
            "稻检建〔2025〕9号",
            "2025-10-17",
            "upcoming",
        )],
    )
    .await;
    let o = notify(&env, "2025-10-13T16:00:00+08:00").await;
    assert!(o.status.success(), "{}", text(&o));
    let mails = smtp.messages();
    assert_eq!(mails.len(), 2, "{mails:#?}");
    assert!(mails.iter().any(|m| m.text.contains("2025-10-17")));
}
