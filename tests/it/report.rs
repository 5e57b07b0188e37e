//! The weekly lagging-unit report: the binary on a fixed store at fixed times — its JSON, the
//! week-over-week changes from the stored snapshot, and sending once per week.

use std::path::PathBuf;
use std::process::Output;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use liandong::domain::calendar::Calendar;
use liandong::store::EvaluatedFinding;

use crate::common;

const UNITS: &str = r#"
[[units]]
id = "scjg"
name = "稻城县市场监督管理局"

[[units]]
id = "zrzy"
name = "稻城县自然资源局"

[[units]]
id = "fjld"
name = "稻城县府检联动办公室"
kind = "liaison"
contacts = [{ name = "赵六", role = "contact", email = "fjld@example.gov.cn" }]
"#;

struct Env {
    dir: tempfile::TempDir,
    url: String,
    config: PathBuf,
}

fn env(email_toml: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("liandong.db").display());
    let mail = dir.path().join("mail");
    let email = if email_toml.is_empty() {
        format!(
            "[notify.email]\ntransport = \"file\"\ndir = \"{}\"\n",
            mail.display()
        )
    } else {
        email_toml.to_string()
    };
    let config = common::write(
        dir.path(),
        "liandong.toml",
        format!("[store]\nurl = \"{url}\"\n{UNITS}\n{email}"),
    );
    Env { dir, url, config }
}

fn finding(rule: &str, unit: &str, n: u32, due: &str, state: &str) -> EvaluatedFinding {
    EvaluatedFinding {
        key: format!("{rule}|{unit}|K{n}"),
        rule: rule.into(),
        unit_id: unit.into(),
        case_key: Some(format!("K{n}")),
        case_no: Some(format!("稻罚〔2025〕{n}号")),
        due: Calendar::end_of_day_utc(NaiveDate::parse_from_str(due, "%Y-%m-%d").unwrap()),
        violated: false,
        state: state.into(),
        facts: "{}".into(),
        link: None,
    }
}

/// `hour` o'clock Asia/Shanghai on 2025-10-`day`.
fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 10, day, hour, 0, 0).unwrap() - chrono::TimeDelta::hours(8)
}

fn run(env: &Env, args: &[&str]) -> Output {
    common::bin()
        .arg("--config")
        .arg(&env.config)
        .args(args)
        .output()
        .unwrap()
}

fn report_json(env: &Env, as_of: &str) -> serde_json::Value {
    let o = run(
        env,
        &["report", "weekly", "--as-of", as_of, "--format", "json"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn emls(env: &Env) -> usize {
    std::fs::read_dir(env.dir.path().join("mail")).map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_weekly_json_is_exact_and_next_week_says_what_changed() {
    let env = env("");
    let store = common::open(&env.url).await;
    // Monday 2025-10-06 noon: 市场监管 has an overdue R1 and an R4 due 10-20.
    store
        .apply_findings(
            &[
                finding("R1", "scjg", 1, "2025-10-01", "overdue"),
                finding("R4", "scjg", 2, "2025-10-20", "upcoming"),
            ],
            at(6, 12),
        )
        .await
        .unwrap();
    let sampling = serde_json::json!({
        "quarter": "2025Q4", "population": 0, "target": 0, "reviewed": 0,
        "percent_of_target": null, "state": "met"
    });
    let want = serde_json::json!({
        "as_of": "2025-10-13T09:00:00+08:00",
        "week": "2025-W42",
        "since": "2025-10-06T09:00:00+08:00",
        "units": [
            {
                "unit": "稻城县市场监督管理局", "unit_id": "scjg", "rank": 1, "lagging": true,
                "reasons": ["逾期事项1项"], "findings": {"R1": 1, "R4": 1},
                "open": 2, "overdue": 1, "new": 2, "resolved": 0, "sampling": sampling,
                "meeting_held": false, "training_held": false,
                "previous_rank": null, "previous_open": null
            },
            {
                "unit": "稻城县自然资源局", "unit_id": "zrzy", "rank": 2, "lagging": false,
                "reasons": [], "findings": {},
                "open": 0, "overdue": 0, "new": 0, "resolved": 0, "sampling": sampling,
                "meeting_held": false, "training_held": false,
                "previous_rank": null, "previous_open": null
            }
        ],
        "rules": ["R1", "R4"],
        "lagging": 1
    });
    assert_eq!(report_json(&env, "2025-10-13T09:00:00+08:00"), want);

    // Sent on Monday: the snapshot of W42 is kept; sending again that week sends nothing.
    let o = run(
        &env,
        &[
            "report",
            "weekly",
            "--as-of",
            "2025-10-13T09:00:00+08:00",
            "--send",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(emls(&env), 1);
    let o = run(
        &env,
        &[
            "report",
            "weekly",
            "--as-of",
            "2025-10-14T10:00:00+08:00",
            "--send",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("had it already this week"));
    assert_eq!(emls(&env), 1, "sending twice in one week sends once");

    // Wednesday: the R1 is entered (no longer applies), a reply deadline passes (R7).
    store
        .apply_findings(
            &[
                finding("R4", "scjg", 2, "2025-10-20", "upcoming"),
                finding("R7", "scjg", 3, "2025-10-14", "overdue"),
            ],
            at(15, 10),
        )
        .await
        .unwrap();
    let next = report_json(&env, "2025-10-20T09:00:00+08:00");
    assert_eq!(next["week"], "2025-W43");
    let scjg = &next["units"][0];
    assert_eq!(scjg["unit_id"], "scjg");
    assert_eq!(scjg["findings"], serde_json::json!({"R4": 1, "R7": 1}));
    assert_eq!(
        (scjg["open"].as_i64(), scjg["overdue"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        (scjg["new"].as_i64(), scjg["resolved"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (
            scjg["previous_rank"].as_i64(),
            scjg["previous_open"].as_i64()
        ),
        (Some(1), Some(2))
    );
    // The text shows the change against last week.
    let o = run(
        &env,
        &["report", "weekly", "--as-of", "2025-10-20T09:00:00+08:00"],
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("2025-W43") && text.contains("+0"), "{text}");
    // A new week sends again.
    let o = run(
        &env,
        &[
            "report",
            "weekly",
            "--as-of",
            "2025-10-20T09:00:00+08:00",
            "--send",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(emls(&env), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_html_report_reaches_a_real_smtp_server() {
    let Some(smtp) = crate::notify::Smtp::start(&[]) else {
        return;
    };
    let env = env(&smtp.email_toml());
    let store = common::open(&env.url).await;
    store
        .apply_findings(
            &[finding("R1", "zrzy", 7, "2025-10-01", "overdue")],
            at(6, 12),
        )
        .await
        .unwrap();
    let o = run(
        &env,
        &[
            "report",
            "weekly",
            "--as-of",
            "2025-10-13T09:00:00+08:00",
            "--send",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0].subject,
        "【府检联动】落后单位周报 2025-W42：1个单位落后"
    );
    let html = mails[0].html.as_deref().expect("an HTML part");
    assert!(
        html.contains("稻城县自然资源局") && html.contains("<table"),
        "{html}"
    );
    assert!(mails[0].text.contains("稻城县自然资源局"));
}
