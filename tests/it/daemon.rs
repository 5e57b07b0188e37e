//! The daemon end to end: the built binary under a stand-in for systemd (a datagram socket as
//! `NOTIFY_SOCKET`, a watchdog interval), on the sample county's files, with a real SMTP server
//! process, jobs firing every few seconds, SIGHUP with a broken file, SIGTERM; a restart after
//! a missed weekly slot; two daemons on one PostgreSQL store.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common;
use crate::notify::{Mail, Smtp, free_port};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The sample county's configuration (units and file sources, absolute paths), with `store`,
/// the SMTP server and `extra` (a `[run]` section and the like).
fn county_config(store_url: &str, smtp: &Smtp, extra: &str) -> String {
    let sample = std::fs::read_to_string(repo().join("config/liandong.toml")).unwrap();
    let sample = sample
        .replace(
            "path = \"config/sample",
            &format!("path = \"{}/config/sample", repo().display()),
        )
        .replace(
            "url = \"sqlite://var/liandong.db\"",
            &format!("url = \"{store_url}\""),
        );
    // The sample's own [notify.email] (.eml files) gives way to the SMTP server.
    let without_email = strip_section(&sample, "[notify.email]");
    format!("{without_email}\n{}\n{extra}\n", smtp.email_toml())
}

/// `text` without the table `header` (up to the next table header).
fn strip_section(text: &str, header: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            skipping = t.starts_with(header);
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// A daemon process with its notify socket and stderr captured.
struct Daemon {
    child: Child,
    notes: Arc<Mutex<Vec<String>>>,
    log: Arc<Mutex<String>>,
    port: u16,
    _socket_dir: tempfile::TempDir,
}

impl Daemon {
    fn start(config: &Path, as_of: &str, port: u16) -> Daemon {
        let socket_dir = tempfile::tempdir().unwrap();
        let sock_path = socket_dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&sock_path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut child = common::bin()
            .args(["--config"])
            .arg(config)
            .args(["run", "--as-of", as_of])
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", "2000000")
            .env_remove("WATCHDOG_PID")
            .env_remove("JOURNAL_STREAM")
            .env("LIANDONG_LOG", "info")
            // Daemons run side by side here: no web console on its fixed port.
            .env("LIANDONG__WEB__LISTEN", "")
            .current_dir(config.parent().unwrap())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let notes = Arc::new(Mutex::new(Vec::new()));
        let n = notes.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends when the test drops the socket's directory (the socket errors) or after a
            // long silence.
            let mut idle = 0;
            while idle < 600 {
                match sock.recv(&mut buf) {
                    Ok(len) => {
                        idle = 0;
                        n.lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&buf[..len]).into_owned());
                    }
                    Err(_) => idle += 1,
                }
            }
        });
        let log = Arc::new(Mutex::new(String::new()));
        let l = log.clone();
        let mut stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                l.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Daemon {
            child,
            notes,
            log,
            port,
            _socket_dir: socket_dir,
        }
    }

    fn notes(&self) -> Vec<String> {
        self.notes.lock().unwrap().clone()
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([format!("-{sig}"), self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM, then the exit code and how long it took.
    fn stop(&mut self) -> (Option<i32>, Duration) {
        let t = Instant::now();
        self.signal("TERM");
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), t.elapsed());
            }
            if t.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return (None, t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.port, path)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 GET on 127.0.0.1: (status, body).
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::Write as _;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let t = Instant::now();
    while !check() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of a sample of `/metrics` text, e.g. `liandong_job_runs_total{job="evaluate",outcome="ok"}`.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// Runs `liandong migrate` on `config`'s store: two daemons migrating one new database at once
/// would race, so the tests that start several migrate first.
fn migrate(config: &Path) {
    let ok = common::bin()
        .args(["--config"])
        .arg(config)
        .arg("migrate")
        .status()
        .unwrap()
        .success();
    assert!(ok, "migrate");
}

/// The (job, slot) of every run a daemon's log says ended: each "done"/"failed" line names both.
fn slot_runs(log: &str) -> Vec<(String, String)> {
    log.lines()
        .filter(|l| l.contains(" done in ") || l.contains(" failed after "))
        .filter_map(|l| {
            let field = |k: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(k).map(str::to_string))
            };
            Some((field("job=")?, field("slot=")?))
        })
        .collect()
}

/// Digests and reports per recipient: no message may arrive twice.
fn assert_no_duplicates(mails: &[Mail]) {
    let mut seen = BTreeMap::new();
    for m in mails {
        *seen
            .entry((m.to.clone(), m.subject.clone(), m.text.clone()))
            .or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let ids: BTreeSet<&str> = mails.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids.len(), mails.len(), "a Message-ID arrived twice");
}

const FAST: &str = r#"
[run]
evaluate_schedule = "*/2 * * * * *"
notify_schedule = "*/2 * * * * *"
alerts_schedule = "*/3 * * * * *"
listen = "127.0.0.1:PORT"
stop_timeout_secs = 5
"#;

#[test]
fn the_daemon_signals_systemd_runs_its_jobs_reloads_safely_and_stops_cleanly() {
    let Some(smtp) = Smtp::start(&[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let store = dir.path().join("daemon.db");
    let text = county_config(
        &format!("sqlite://{}", store.display()),
        &smtp,
        &FAST.replace("PORT", &port.to_string()),
    );
    let config = common::write(dir.path(), "liandong.toml", &text);
    // 2025-12-31, a working Wednesday: the sample county has overdue transfers and a late entry.
    let mut d = Daemon::start(&config, "2025-12-31T10:00:00+08:00", port);

    wait_for("READY=1", Duration::from_secs(60), || {
        d.notes().iter().any(|n| n.starts_with("READY=1"))
    });
    // Sync (every source, caught up at start-up), evaluation and delivery: the units' digests
    // and the weekly report reach the mail server.
    wait_for(
        "the digests and the weekly report",
        Duration::from_secs(90),
        || {
            let mails = smtp.messages();
            mails.iter().any(|m| m.to.contains("scjg@example.gov.cn"))
                && mails
                    .iter()
                    .any(|m| m.to.contains("fjld@example.gov.cn") && m.subject.contains("周报"))
        },
    );
    let (status, body) = d.get("/healthz").expect("/healthz answers");
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok", "{body}");
    let (status, metrics) = d.get("/metrics").expect("/metrics answers");
    assert_eq!(status, 200);
    for series in [
        "liandong_job_runs_total{job=\"sync:scjg-cases\",outcome=\"ok\"}",
        "liandong_job_runs_total{job=\"evaluate\",outcome=\"ok\"}",
        "liandong_source_freshness{source=\"scjg-cases\",freshness=\"ok\"}",
        "liandong_outbox_messages{state=\"sent\"}",
        "liandong_job_last_success_timestamp_seconds{job=\"evaluate\"}",
    ] {
        assert!(
            metric(&metrics, series).is_some_and(|v| v >= 1.0),
            "{series} in\n{metrics}"
        );
    }
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("liandong_findings{rule=\"R1\"")),
        "findings by rule in\n{metrics}"
    );
    wait_for("a watchdog ping", Duration::from_secs(10), || {
        d.notes().iter().any(|n| n == "WATCHDOG=1")
    });

    // SIGHUP with a broken file: refused, the old configuration keeps running.
    let evaluations = |d: &Daemon| {
        d.get("/metrics")
            .and_then(|(_, m)| {
                metric(
                    &m,
                    "liandong_job_runs_total{job=\"evaluate\",outcome=\"ok\"}",
                )
            })
            .unwrap_or(0.0)
    };
    std::fs::write(&config, "[store]\nurl = 12\nno_such_key = true\n").unwrap();
    d.signal("HUP");
    wait_for(
        "the refusal in the journal",
        Duration::from_secs(10),
        || d.log().contains("configuration reload refused"),
    );
    assert!(d.alive(), "the daemon died on a broken configuration");
    // The journal line comes first, the STATUS= datagram right after it.
    wait_for(
        "STATUS= saying the reload was refused",
        Duration::from_secs(10),
        || d.notes().iter().any(|n| n.contains("reload refused")),
    );
    assert!(
        d.log().contains("store.url"),
        "the journal names the key:\n{}",
        d.log()
    );
    let before = evaluations(&d);
    wait_for(
        "evaluations after the refused reload",
        Duration::from_secs(15),
        || evaluations(&d) >= before + 2.0,
    );

    // A good file reloads: RELOADING=1, then READY=1 again.
    std::fs::write(&config, &text).unwrap();
    let readies = d
        .notes()
        .iter()
        .filter(|n| n.starts_with("READY=1"))
        .count();
    d.signal("HUP");
    wait_for("RELOADING=1 and READY=1", Duration::from_secs(15), || {
        let notes = d.notes();
        notes.iter().any(|n| n.starts_with("RELOADING=1"))
            && notes.iter().filter(|n| n.starts_with("READY=1")).count() > readies
    });

    // SIGTERM: exit 0 within 10 s, STOPPING=1, nothing left half-done.
    let (code, took) = d.stop();
    assert_eq!(code, Some(0), "exit code; journal:\n{}", d.log());
    assert!(took < Duration::from_secs(10), "took {took:?} to stop");
    wait_for("STOPPING=1", Duration::from_secs(5), || {
        d.notes().iter().any(|n| n.starts_with("STOPPING=1"))
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = common::open(&format!("sqlite://{}", store.display())).await;
        let jobs = s.job_states(chrono::Utc::now()).await.unwrap();
        assert!(
            jobs.iter().all(|j| j.running.is_none()),
            "a job left claimed: {jobs:?}"
        );
        for name in [
            "sync:scjg-cases",
            "evaluate",
            "notify",
            "report:weekly",
            "alerts",
        ] {
            assert!(
                jobs.iter()
                    .any(|j| j.job == name && j.last_outcome.as_deref() == Some("ok")),
                "{name} ran well: {jobs:?}"
            );
        }
        let sending = s.outbox_messages(Some("sending"), 100).await.unwrap();
        assert!(sending.is_empty(), "messages left sending: {sending:?}");
    });
    assert_no_duplicates(&smtp.messages());
    // No colours in what goes to the journal, and no secrets: the log is plain text.
    assert!(!d.log().contains('\u{1b}'), "ANSI escapes in the log");
}

#[test]
fn a_restart_after_a_missed_weekly_slot_sends_that_report_once() {
    let Some(smtp) = Smtp::start(&[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let store = dir.path().join("weekly.db");
    let text = format!(
        "[store]\nurl = \"sqlite://{}\"\n\n[[units]]\nid = \"scjg\"\nname = \"稻城县市场监督管理局\"\n\n\
         [[units]]\nid = \"fjld\"\nname = \"稻城县府检联动办公室\"\nkind = \"liaison\"\n\
         contacts = [{{ name = \"赵六\", role = \"contact\", email = \"fjld@example.gov.cn\" }}]\n\n{}\n\
         [run]\nlisten = \"127.0.0.1:{port}\"\n",
        store.display(),
        smtp.email_toml()
    );
    let config = common::write(dir.path(), "liandong.toml", &text);
    let reports = || {
        smtp.messages()
            .into_iter()
            .filter(|m| m.subject.contains("周报"))
            .map(|m| m.subject)
            .collect::<Vec<_>>()
    };
    let idle = |d: &Daemon| {
        d.get("/healthz").is_some_and(|(s, b)| {
            s == 200
                && serde_json::from_str::<serde_json::Value>(&b)
                    .is_ok_and(|h| h["jobs_running"].as_array().is_some_and(Vec::is_empty))
        })
    };

    // Friday of week 41: the first start sends that week's report (the job never ran).
    let mut d = Daemon::start(&config, "2025-10-10T10:00:00+08:00", port);
    wait_for("the week 41 report", Duration::from_secs(60), || {
        reports().len() == 1
    });
    wait_for("idle", Duration::from_secs(30), || idle(&d));
    assert_eq!(d.stop().0, Some(0));
    assert!(reports()[0].contains("2025年第41周"), "{:?}", reports());

    // Down over Monday 13 October 09:00; started on Tuesday: that slot runs once.
    let mut d = Daemon::start(&config, "2025-10-14T10:00:00+08:00", port);
    wait_for("the week 42 report", Duration::from_secs(60), || {
        reports().len() == 2
    });
    assert!(
        d.log().contains("missed slot 2025-10-13 09:00:00"),
        "the journal says which slot was missed:\n{}",
        d.log()
    );
    wait_for("idle", Duration::from_secs(30), || idle(&d));
    assert_eq!(d.stop().0, Some(0));

    // Started again the same day: nothing more.
    let mut d = Daemon::start(&config, "2025-10-14T11:00:00+08:00", port);
    wait_for("READY=1", Duration::from_secs(30), || {
        d.notes().iter().any(|n| n.starts_with("READY=1"))
    });
    wait_for("idle", Duration::from_secs(30), || idle(&d));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(d.stop().0, Some(0));
    assert!(
        !d.log().contains("job=report:weekly"),
        "the report job ran again on the third start:\n{}",
        d.log()
    );
    let got = reports();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        got.iter().filter(|s| s.contains("2025年第42周")).count(),
        1,
        "{got:?}"
    );
    assert_no_duplicates(&smtp.messages());
}

#[test]
fn two_daemons_on_one_postgresql_store_run_each_slot_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(common::fresh_pg("two daemons on one PostgreSQL store")) else {
        return;
    };
    let Some(smtp) = Smtp::start(&[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (free_port(), free_port());
    let fast = "[run]\nevaluate_schedule = \"*/2 * * * * *\"\nnotify_schedule = \"*/2 * * * * *\"\n\
                alerts_schedule = \"*/3 * * * * *\"\nlisten = \"\"\n";
    let text = county_config(&db.url, &smtp, fast);
    // Every source every 3 seconds, so that both replicas race for the same slots.
    let text = text.replace(
        "kind = \"file\"\n",
        "kind = \"file\"\nschedule = \"*/3 * * * * *\"\n",
    );
    let config = common::write(dir.path(), "liandong.toml", &text);
    // Migrate first: two processes migrating one new database at once would race.
    migrate(&config);
    let mut a = Daemon::start(&config, "2025-12-31T10:00:00+08:00", pa);
    let mut b = Daemon::start(&config, "2025-12-31T10:00:00+08:00", pb);

    let runs = slot_runs;
    let count = |job: &str| {
        runs(&a.log())
            .into_iter()
            .chain(runs(&b.log()))
            .filter(|(j, _)| j == job)
            .count()
    };
    wait_for(
        "four evaluations and three syncs between them",
        Duration::from_secs(90),
        || count("evaluate") >= 4 && count("sync:scjg-cases") >= 3,
    );
    let (ca, _) = a.stop();
    let (cb, _) = b.stop();
    assert_eq!(
        (ca, cb),
        (Some(0), Some(0)),
        "A:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );

    // No slot ran twice, in one daemon or in both.
    let (ra, rb) = (runs(&a.log()), runs(&b.log()));
    let sa: BTreeSet<_> = ra.iter().cloned().collect();
    let sb: BTreeSet<_> = rb.iter().cloned().collect();
    assert_eq!(sa.len(), ra.len(), "A ran a slot twice");
    assert_eq!(sb.len(), rb.len(), "B ran a slot twice");
    let both: Vec<_> = sa.intersection(&sb).collect();
    assert!(both.is_empty(), "slots run by both daemons: {both:?}");
    // And the people got each digest once.
    let mails = smtp.messages();
    assert!(mails.iter().any(|m| m.to.contains("scjg@example.gov.cn")));
    assert_no_duplicates(&mails);
    // The week's report, from whichever replica caught its slot up, came after that slot's
    // syncs and evaluation: it says what `report weekly` says of the same week now, not "0".
    let reports: Vec<&str> = mails
        .iter()
        .filter(|m| m.subject.contains("落后单位周报"))
        .map(|m| m.subject.as_str())
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let o = common::bin()
        .args(["--config"])
        .arg(&config)
        .args([
            "report",
            "weekly",
            "--as-of",
            "2025-12-29T09:00:00+08:00",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let lagging = report["lagging"].as_i64().unwrap();
    assert!(lagging > 0, "{report}");
    assert!(
        reports[0].contains(&format!("：{lagging}个单位落后")),
        "{reports:?} / {report}"
    );
    drop(db);
}

#[test]
fn the_administrator_hears_once_of_a_silent_source_and_of_a_year_without_holidays() {
    let Some(smtp) = Smtp::start(&[]) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(wiremock::MockServer::start());
    rt.block_on(
        wiremock::Mock::given(wiremock::matchers::path("/cases"))
            .respond_with(wiremock::ResponseTemplate::new(200).set_body_string("[]"))
            .mount(&server),
    );
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[store]\nurl = \"sqlite://{}\"\n\n[[units]]\nid = \"scjg\"\nname = \"稻城县市场监督管理局\"\n\n\
         [[units]]\nid = \"fjld\"\nname = \"稻城县府检联动办公室\"\nkind = \"liaison\"\n\
         contacts = [{{ name = \"赵六\", role = \"contact\", email = \"fjld@example.gov.cn\" }}]\n\n\
         [[sources]]\nname = \"scjg-api\"\nkind = \"http\"\nfeeds = \"cases\"\nunit = \"scjg\"\n\
         url = \"{}/cases\"\nretries = 0\n\n[notify]\nadmin_emails = [\"信息中心 <it@example.gov.cn>\"]\n\n{}\n\
         [run]\nlisten = \"\"\n",
        dir.path().join("alerts.db").display(),
        server.uri(),
        smtp.email_toml()
    );
    let config = common::write(dir.path(), "liandong.toml", &text);
    let once = |as_of: &str| {
        let out = common::bin()
            .args(["--config"])
            .arg(&config)
            .args(["run", "--once", "--as-of", as_of])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let alerts = || {
        smtp.messages()
            .into_iter()
            .filter(|m| m.to.contains("it@example.gov.cn"))
            .collect::<Vec<_>>()
    };

    // The source answers: nothing to tell (2026 has its holiday table).
    let (code, out) = once("2026-06-01T10:00:00+08:00");
    assert_eq!(code, Some(0), "{out}");
    assert!(alerts().is_empty(), "{:?}", alerts());

    // Its server goes away (the source now points at a closed port); a day later the source is
    // past its limit (twice its half-hourly schedule): one alert, naming it and when it last
    // worked.
    let closed = format!("http://127.0.0.1:{}", free_port());
    std::fs::write(&config, text.replace(&server.uri(), &closed)).unwrap();
    let (code, out) = once("2026-06-02T10:00:00+08:00");
    assert_eq!(code, Some(1), "the failed sync makes the cycle fail: {out}");
    let got = alerts();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].subject.contains("数据源超时未同步：scjg-api"),
        "{}",
        got[0].subject
    );
    assert!(got[0].text.contains("2026-06-01 10:00"), "{}", got[0].text);
    assert!(got[0].text.contains("1 小时"), "{}", got[0].text);

    // Still silent an hour later: the same silence, no second alert.
    once("2026-06-02T11:00:00+08:00");
    assert_eq!(alerts().len(), 1);

    // In December the next year's holiday table is missing: told once, however often it runs.
    once("2026-12-01T10:00:00+08:00");
    once("2026-12-01T11:00:00+08:00");
    let got = alerts();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got.iter()
            .any(|m| m.subject.contains("工作日历缺少2027年节假日安排")
                && m.text.contains("[calendar]")),
        "{got:?}"
    );
    assert_no_duplicates(&smtp.messages());
}

/// A daemon on the sample county plus a department system that accepts connections and never
/// answers — the first source, with `silent_keys` among its keys — and `run` (the `[run]` table,
/// `PORT` for its listen port) as its configuration; the sample's file sources sync on
/// `file_schedule` when given. Returns once the start-up sync of the silent source waits for an
/// answer. Keep the returned values alive: the folder holds the store, the streams the waiting
/// connections.
#[allow(clippy::type_complexity)]
fn daemon_with_a_silent_source(
    run: &str,
    silent_keys: &str,
    file_schedule: Option<&str>,
) -> (
    tempfile::TempDir,
    Daemon,
    Arc<Mutex<Vec<std::net::TcpStream>>>,
) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let source_port = listener.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    {
        let held = held.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                held.lock().unwrap().push(s);
            }
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut sample = std::fs::read_to_string(repo().join("config/liandong.toml"))
        .unwrap()
        .replace(
            "path = \"config/sample",
            &format!("path = \"{}/config/sample", repo().display()),
        )
        .replace(
            "url = \"sqlite://var/liandong.db\"",
            &format!("url = \"sqlite://{}\"", dir.path().join("d.db").display()),
        );
    if let Some(cron) = file_schedule {
        sample = sample.replace(
            "kind = \"file\"\n",
            &format!("kind = \"file\"\nschedule = \"{cron}\"\n"),
        );
    }
    let silent = format!(
        "[[sources]]\nname = \"silent-system\"\nkind = \"http\"\nfeeds = \"cases\"\n\
         url = \"http://127.0.0.1:{source_port}/cases\"\ntimeout_secs = 600\nretries = 0\n{silent_keys}\n\n\
         [[sources]]\n"
    );
    let text = format!(
        "{}\n{}\n",
        sample.replacen("[[sources]]\n", &silent, 1),
        run.replace("PORT", &port.to_string()),
    );
    let config = common::write(dir.path(), "liandong.toml", &text);
    let d = Daemon::start(&config, "2025-12-31T10:00:00+08:00", port);
    wait_for(
        "the sync waiting on the silent source",
        Duration::from_secs(60),
        || !held.lock().unwrap().is_empty(),
    );
    (dir, d, held)
}

/// Whether every connection the silent source holds has been closed by the daemon.
fn all_dropped(held: &Mutex<Vec<std::net::TcpStream>>) -> bool {
    held.lock().unwrap().iter_mut().all(|s| {
        use std::io::Read as _;
        s.set_nonblocking(true).unwrap();
        matches!(s.read(&mut [0u8; 64]), Ok(0))
    })
}

/// A department system that takes the connection and never answers (issue 22 item 8), listed
/// first: its run is stopped at its `run_timeout_secs` and fails with a message saying so, in the
/// journal and in `status`; meanwhile the file sources synced — slot after slot — and the alerts
/// ran, and only the evaluation of its slot waited for it.
#[test]
fn a_source_that_never_answers_is_stopped_at_its_deadline_and_holds_back_nothing() {
    let (dir, d, held) =
        daemon_with_a_silent_source(FAST, "run_timeout_secs = 8", Some("*/2 * * * * *"));
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    // (job, slot, started_at, finished_at, outcome, detail) of every finished run.
    type Run = (
        String,
        i64,
        i64,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let runs = || -> Vec<Run> {
        rt.block_on(async {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let rows = sqlx::query_as(
                "SELECT job, slot, started_at, finished_at, outcome, detail FROM job_runs ORDER BY started_at",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            pool.close().await;
            rows
        })
    };
    let silent = |runs: &[Run]| -> Option<Run> {
        runs.iter()
            .find(|r| r.0 == "sync:silent-system" && r.3.is_some())
            .cloned()
    };
    wait_for(
        "the silent source's deadline",
        Duration::from_secs(40),
        || silent(&runs()).is_some(),
    );
    let all = runs();
    let (_, _, started, finished, outcome, detail) = silent(&all).unwrap();
    let finished = finished.unwrap();
    let detail = detail.unwrap_or_default();
    assert_eq!(outcome.as_deref(), Some("failed"), "{detail}");
    assert!(
        detail.contains("did not finish within 8 s (sources.silent-system.run_timeout_secs)"),
        "{detail}"
    );
    assert!(
        (8_000..15_000).contains(&(finished - started)),
        "stopped after {} ms",
        finished - started
    );
    wait_for(
        "its connection to be dropped",
        Duration::from_secs(5),
        || all_dropped(&held),
    );
    // Before it ended: each file source synced at least twice (its slots were not skipped
    // behind it), and the alerts ran.
    let done_before = |job: &str| {
        all.iter()
            .filter(|r| r.0 == job && r.3.is_some_and(|f| f <= finished))
            .filter(|r| r.4.as_deref() == Some("ok"))
            .count()
    };
    for source in ["scjg-cases", "zrzy-cases", "jtys-cases", "nync-cases"] {
        assert!(
            done_before(&format!("sync:{source}")) >= 2,
            "{source} was held back: {all:#?}"
        );
    }
    assert!(done_before("alerts") >= 1, "{all:#?}");
    // The evaluation waited for the syncs of its slot, the silent one included.
    let first_evaluation = all.iter().find(|r| r.0 == "evaluate");
    assert!(
        first_evaluation.is_none_or(|r| r.2 >= finished),
        "the evaluation started before the silent source's run ended: {all:#?}"
    );
    wait_for("an evaluation after it", Duration::from_secs(20), || {
        runs()
            .iter()
            .any(|r| r.0 == "evaluate" && r.4.as_deref() == Some("ok"))
    });
    // The journal and `status` say what happened, in the administrator's words.
    assert!(d.log().contains("did not finish within 8 s"), "{}", d.log());
    let status = common::bin()
        .args(["--config"])
        .arg(dir.path().join("liandong.toml"))
        .args(["status", "--format", "json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains("did not finish within 8 s (sources.silent-system.run_timeout_secs)"),
        "{status}"
    );
}

/// When another process takes a slot over (its lease looked expired to a replica), the daemon's
/// next renewal finds the claim gone and cancels the slot's job (its connection to the source
/// is dropped) instead of letting two processes run it; the daemon itself carries on, and the
/// slot stays the other owner's.
#[test]
fn a_job_is_cancelled_when_its_slot_is_taken_over() {
    let (dir, mut d, held) =
        daemon_with_a_silent_source(&FAST.replace("[run]", "[run]\nlease_secs = 10"), "", None);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    // Another process writes to the store while the job waits on the source: the fetch holds
    // no write lock (a source that fetched inside its import made this fail, "database is
    // locked", after the 5-second busy timeout).
    let taken = rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let n = sqlx::query(
            "UPDATE job_runs SET owner = 'another-host:1:takeover' \
             WHERE job = 'sync:silent-system' AND finished_at IS NULL",
        )
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
        pool.close().await;
        n
    });
    assert_eq!(taken, 1, "the running slot's claim\n{}", d.log());
    // Renewals come every third of the lease (3.3 s).
    wait_for(
        "the job to drop its connection",
        Duration::from_secs(20),
        || all_dropped(&held),
    );
    assert!(
        d.log()
            .contains("cancelled: another process took the slot over"),
        "{}",
        d.log()
    );
    assert!(d.log().contains("lost the lease on slot"), "{}", d.log());
    assert!(d.alive(), "the daemon carries on\n{}", d.log());
    let owner: String = rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let (o,): (String,) = sqlx::query_as(
            "SELECT owner FROM job_runs WHERE job = 'sync:silent-system' ORDER BY slot DESC LIMIT 1",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        pool.close().await;
        o
    });
    assert_eq!(owner, "another-host:1:takeover");
}

/// A department system on 127.0.0.1 that takes the first request on each path and never
/// answers it (the sync it serves stays under way until its process dies), and answers every
/// later request at once with an empty list. Returns its base URL and the connections it holds.
fn stalling_system() -> (String, Arc<Mutex<Vec<std::net::TcpStream>>>) {
    use std::io::{BufRead as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let held = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    {
        let held = held.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let (held, seen) = (held.clone(), seen.clone());
                std::thread::spawn(move || {
                    let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    let path = line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or("")
                        .split('?')
                        .next()
                        .unwrap_or("")
                        .to_string();
                    loop {
                        let mut header = String::new();
                        match reader.read_line(&mut header) {
                            Ok(n) if n > 0 && header != "\r\n" => {}
                            _ => break,
                        }
                    }
                    if seen.lock().unwrap().insert(path) {
                        held.lock().unwrap().push(s);
                        return;
                    }
                    let mut s = s;
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]"
                    );
                });
            }
        });
    }
    (base, held)
}

/// Issue 24 item 4: two daemons share one PostgreSQL store with a 15-second lease; the one that
/// started first holds two syncs that hang on their department system and is SIGKILLed there.
/// The other finishes the work once the lease has run out: the killed hourly slot, still the
/// job's latest, is run again; the killed slot of the source synced every 5 seconds, superseded
/// by the slots the survivor ran meanwhile, is closed as superseded. The killed daemon is
/// started again. A file dropped into a drop folder before a slot is notified by that slot's
/// own notify. When both have stopped, `status` shows no slot running or abandoned, each slot
/// ran once, and no mail arrived twice.
#[test]
fn a_replica_killed_in_a_sync_leaves_nothing_running_and_its_peer_finishes_the_work() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(common::fresh_pg("a replica killed in a sync")) else {
        return;
    };
    let Some(smtp) = Smtp::start(&[]) else {
        return;
    };
    let (system, held) = stalling_system();
    let dir = tempfile::tempdir().unwrap();
    let drop_dir = dir.path().join("drop");
    std::fs::create_dir_all(&drop_dir).unwrap();
    let http = |name: &str, cron: &str| {
        format!(
            "[[sources]]\nname = \"{name}\"\nkind = \"http\"\nfeeds = \"cases\"\nunit = \"scjg\"\n\
             url = \"{system}/{name}\"\nschedule = \"{cron}\"\nretries = 0\ntimeout_secs = 600\n\n"
        )
    };
    let text = format!(
        "[store]\nurl = \"{}\"\n\n\
         [[units]]\nid = \"scjg\"\nname = \"稻城县市场监督管理局\"\naliases = [\"县市场监管局\"]\n\
         contacts = [{{ name = \"市场监管局联络员\", role = \"contact\", email = \"scjg@example.gov.cn\" }}]\n\n\
         [[units]]\nid = \"fjld\"\nname = \"稻城县府检联动办公室\"\nkind = \"liaison\"\n\
         contacts = [{{ name = \"府检联动办公室\", role = \"contact\", email = \"fjld@example.gov.cn\" }}]\n\n\
         {}{}\
         [[sources]]\nname = \"drop\"\nkind = \"file\"\nfeeds = \"cases\"\nunit = \"scjg\"\npath = \"{}\"\n\
         settle_secs = 0\nschedule = \"*/10 * * * * *\"\n\n{}\n\
         [run]\nevaluate_schedule = \"*/10 * * * * *\"\nnotify_schedule = \"*/10 * * * * *\"\n\
         alerts_schedule = \"0 0 0 * * *\"\nlease_secs = 15\nstop_timeout_secs = 5\nlisten = \"\"\n",
        db.url,
        http("hourly", "0 0 * * * *"),
        http("fast", "*/5 * * * * *"),
        drop_dir.display(),
        smtp.email_toml()
    );
    let config = common::write(dir.path(), "liandong.toml", &text);
    migrate(&config);

    // (job, slot ms, owner, finished_at, outcome, detail, started_at) of every run in the store.
    type Run = (
        String,
        i64,
        String,
        Option<i64>,
        Option<String>,
        Option<String>,
        i64,
    );
    let runs = || -> Vec<Run> {
        rt.block_on(async {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let rows = sqlx::query_as(
                "SELECT job, slot, owner, finished_at, outcome, detail, started_at FROM job_runs \
                 ORDER BY slot, job",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            pool.close().await;
            rows
        })
    };
    let run_of = |job: &str, slot: i64| -> Option<Run> {
        runs().into_iter().find(|r| r.0 == job && r.1 == slot)
    };

    // Each daemon replays the same day from the same instant: one started later starts as
    // much later in it (the replicas' clocks agree, as NTP keeps real ones).
    let as_of = chrono::DateTime::parse_from_rfc3339("2025-12-31T10:00:00+08:00").unwrap();
    let first = as_of.timestamp_millis();
    let started = Instant::now();
    let start = |port: u16| {
        let at = as_of + chrono::TimeDelta::from_std(started.elapsed()).unwrap();
        Daemon::start(&config, &at.to_rfc3339(), port)
    };
    let ready = |d: &Daemon| d.notes().iter().any(|n| n.starts_with("READY=1"));
    let owned_by =
        |owner: &str, d: &Daemon| owner.split(':').nth(1) == Some(&d.child.id().to_string());

    // A alone catches its slots up: both HTTP syncs hang in it.
    let mut a = start(free_port());
    wait_for("A's two syncs to hang", Duration::from_secs(60), || {
        held.lock().unwrap().len() == 2
            && ["sync:hourly", "sync:fast"]
                .iter()
                .all(|j| run_of(j, first).is_some_and(|r| r.3.is_none() && owned_by(&r.2, &a)))
    });
    let a_owner = run_of("sync:hourly", first).unwrap().2;
    let mut b = start(free_port());
    wait_for("B to sync the fast source", Duration::from_secs(60), || {
        ready(&b)
            && runs()
                .iter()
                .any(|r| r.0 == "sync:fast" && r.4.as_deref() == Some("ok") && owned_by(&r.2, &b))
    });
    a.signal("KILL");
    wait_for("A to die", Duration::from_secs(10), || !a.alive());

    // B finishes A's work once A's lease has run out (15 s).
    wait_for(
        "B to run the hourly slot again and close the fast one",
        Duration::from_secs(120),
        || {
            run_of("sync:hourly", first)
                .is_some_and(|r| r.4.as_deref() == Some("ok") && owned_by(&r.2, &b))
                && run_of("sync:fast", first).is_some_and(|r| r.4.as_deref() == Some("superseded"))
        },
    );

    // A is started again; both run every slot from now on.
    let mut a2 = start(free_port());
    wait_for("A to come back", Duration::from_secs(60), || ready(&a2));
    let latest_drop = || {
        runs()
            .iter()
            .filter(|r| r.0 == "sync:drop" && r.3.is_some())
            .map(|r| r.1)
            .max()
            .unwrap_or(0)
    };
    let before = latest_drop();
    wait_for(
        "the drop folder's next sync",
        Duration::from_secs(60),
        || latest_drop() > before,
    );
    // Just after the drop folder's sync of a slot, the file goes in (whole: renamed into
    // place). X is the slot whose sync read it — normally the next one, 10 s later.
    let part = common::write(
        &drop_dir,
        ".scjg-2025.csv.part",
        std::fs::read(repo().join("config/sample/drop/scjg/scjg-2025.csv")).unwrap(),
    );
    std::fs::rename(&part, drop_dir.join("scjg-2025.csv")).unwrap();
    let read_it = || {
        runs()
            .into_iter()
            .find(|r| {
                r.0 == "sync:drop"
                    && r.4.as_deref() == Some("ok")
                    && !r.5.as_deref().unwrap_or("").contains(" 0 inserted")
            })
            .map(|r| r.1)
    };
    wait_for(
        "the sync that reads the file",
        Duration::from_secs(120),
        || read_it().is_some(),
    );
    let x = read_it().unwrap();
    wait_for("the notify of that slot", Duration::from_secs(120), || {
        run_of("notify", x).is_some_and(|r| r.3.is_some())
    });
    wait_for("the digest to scjg", Duration::from_secs(60), || {
        smtp.messages()
            .iter()
            .any(|m| m.to.contains("scjg@example.gov.cn"))
    });
    let (cb, _) = b.stop();
    let (ca, _) = a2.stop();
    assert_eq!(
        (cb, ca),
        (Some(0), Some(0)),
        "B:\n{}\nA again:\n{}",
        b.log(),
        a2.log()
    );

    let all = runs();
    let journals = format!("A:\n{}\nB:\n{}\nA again:\n{}", a.log(), b.log(), a2.log());
    // The file went in at slot X: no evaluation before it had a case to look at; its own
    // found the file's cases, its notify queued their notices, and no later notify had anything
    // left to queue (the notices of the yearly duties go with the first one).
    let number = |detail: &str, before: &str| -> u64 {
        detail
            .split(before)
            .next()
            .and_then(|d| d.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no number before {before:?} in {detail:?}"))
    };
    let detail = |r: &Run| r.5.clone().unwrap_or_default();
    let drop_x = run_of("sync:drop", x).expect("the drop folder's sync of slot X");
    assert!(number(&detail(&drop_x), " inserted") > 0, "{drop_x:?}");
    let evaluation = run_of("evaluate", x).expect("the evaluation of slot X");
    assert_eq!(evaluation.4.as_deref(), Some("ok"), "{evaluation:?}");
    assert!(
        number(&detail(&evaluation), " new") > 0,
        "{evaluation:?}\n{all:#?}"
    );
    assert!(
        !detail(&evaluation).contains("ran before"),
        "{evaluation:?}"
    );
    let notify = run_of("notify", x).unwrap();
    assert!(
        number(&detail(&notify), " queued") > 0,
        "the notify of the file's slot queued nothing: {notify:?}\n{all:#?}"
    );
    for r in all
        .iter()
        .filter(|r| r.0 == "evaluate" && r.1 < x && r.3.is_some())
    {
        assert!(detail(r).contains("pass over 0 cases"), "{r:?}");
    }
    for r in all
        .iter()
        .filter(|r| r.0 == "notify" && r.1 > x && r.3.is_some())
    {
        assert_eq!(
            number(&detail(r), " queued"),
            0,
            "a notify after the file's slot queued: {r:?}\n{all:#?}"
        );
    }
    // Every notify ran after an evaluation of its slot (or a later one, which read at least as
    // much) had finished, unless it waited for one as long as it may (two leases) — also the
    // first, whose evaluation waited for A's hourly sync until B ran it again.
    for n in all
        .iter()
        .filter(|r| r.0 == "notify" && r.4.as_deref() == Some("ok"))
    {
        assert!(
            detail(n).contains("ran before")
                || all.iter().any(|e| e.0 == "evaluate"
                    && e.1 >= n.1
                    && e.4.as_deref() == Some("ok")
                    && e.3.is_some_and(|f| f <= n.6)),
            "a notify ran before the evaluation of its slot: {n:?}\n{all:#?}\n{journals}"
        );
    }
    // A's killed slots: the hourly one run again by B, saying who left it; the fast one closed
    // as superseded, naming A and the slot that superseded it.
    let hourly = run_of("sync:hourly", first).unwrap();
    assert!(
        detail(&hourly).contains(&format!("run again: {a_owner} left it unfinished")),
        "{hourly:?}"
    );
    let fast = run_of("sync:fast", first).unwrap();
    assert!(
        detail(&fast).contains(&format!("left unfinished by {a_owner}"))
            && detail(&fast).contains("superseded by the slot of 2025-12-31 10:00:"),
        "{fast:?}"
    );

    // Nothing is left running or abandoned, in the store or in `status`.
    assert!(
        all.iter().all(|r| r.3.is_some()),
        "unfinished runs: {:#?}",
        all.iter().filter(|r| r.3.is_none()).collect::<Vec<_>>()
    );
    let status = |args: &[&str]| common::liandong_ok(&config, &[&["status"], args].concat());
    let json: serde_json::Value = serde_json::from_str(&status(&["--format", "json"])).unwrap();
    let jobs = json["jobs"].as_array().unwrap();
    for j in jobs {
        assert!(j["running"].is_null(), "{j:#}");
        assert_eq!(j["abandoned"], serde_json::json!([]), "{j:#}");
    }
    let fast_status = jobs.iter().find(|j| j["job"] == "sync:fast").unwrap();
    assert_eq!(fast_status["last_superseded"]["owner"], a_owner.as_str());
    let text = status(&[]);
    assert!(
        !text.contains("running the slot") && !text.contains("abandoned:"),
        "{text}"
    );
    assert!(
        text.contains("superseded: the slot of 2025-12-31 10:00"),
        "{text}"
    );

    // Each slot ran once, across the three processes.
    let ran = slot_runs;
    let every: Vec<_> = [a.log(), b.log(), a2.log()]
        .iter()
        .flat_map(|l| ran(l))
        .collect();
    let once: BTreeSet<_> = every.iter().cloned().collect();
    assert_eq!(once.len(), every.len(), "a slot ran twice\n{journals}");
    assert!(
        !ran(&a.log())
            .iter()
            .any(|(j, _)| j == "sync:hourly" || j == "sync:fast"),
        "{journals}"
    );
    assert_no_duplicates(&smtp.messages());
    drop(held);
    drop(db);
}
