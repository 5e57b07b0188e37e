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
        "week_label": "2025年第42周（2025年10月13日—2025年10月19日）",
        "as_of_label": "2025年10月13日 09:00",
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
    // The chart inline, referred to by the HTML; the workbook attached.
    assert!(html.contains("cid:chart"), "{html}");
    let chart = mails[0]
        .files
        .iter()
        .find(|f| f.0 == "image/png")
        .expect("the chart");
    assert_eq!(chart.1.as_deref(), Some("<chart>"));
    assert!(not_blank(&chart.3) > 0.02, "the chart has ink");
    let book = mails[0]
        .files
        .iter()
        .find(|f| f.2.as_deref().is_some_and(|n| n.ends_with(".xlsx")))
        .expect("the workbook");
    assert_eq!(
        book.2.as_deref(),
        Some("府检联动落后单位周报-2025-W42.xlsx")
    );
    assert_eq!(
        sheet_names(&book.3),
        ["周报汇总", "未办结事项", "本周新增", "本周办结"]
    );
}

/// Decodes a PNG: (width, height, RGB bytes).
fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut d = png::Decoder::new(std::io::Cursor::new(bytes));
    d.set_transformations(png::Transformations::EXPAND);
    let mut reader = d.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// The share of pixels that are not white.
fn not_blank(bytes: &[u8]) -> f64 {
    let (_, _, rgb) = decode_png(bytes);
    let ink = rgb.chunks(3).filter(|p| p.iter().any(|c| *c < 240)).count();
    ink as f64 / (rgb.len() / 3) as f64
}

fn sheet_names(xlsx: &[u8]) -> Vec<String> {
    use calamine::Reader as _;
    let book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx.to_vec())).unwrap();
    book.sheet_names()
}

/// Two units' findings as of W42.
async fn w42(env: &Env) {
    let store = common::open(&env.url).await;
    store
        .apply_findings(
            &[
                finding("R1", "scjg", 1, "2025-10-01", "overdue"),
                finding("R4", "scjg", 2, "2025-10-20", "upcoming"),
                finding("R4", "zrzy", 3, "2025-10-02", "overdue"),
            ],
            at(6, 12),
        )
        .await
        .unwrap();
}

/// Writes the W42 report in `format` to a file: (its path, how the command ended).
fn w42_file(env: &Env, format: &str) -> (PathBuf, Output) {
    let out = env.dir.path().join(format!("weekly.{format}"));
    let out_s = out.display().to_string();
    let args = [
        "report",
        "weekly",
        "--as-of",
        "2025-10-13T09:00:00+08:00",
        "--format",
        format,
        "--output",
        &out_s,
    ];
    (out, run(env, &args))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_chart_png_matches_its_reference_within_a_tolerance() {
    let env = env("");
    w42(&env).await;
    let (out, o) = w42_file(&env, "png");
    if !o.status.success()
        && String::from_utf8_lossy(&o.stderr).contains("no font with Chinese glyphs")
    {
        common::skip(
            "the chart test",
            "no CJK font installed (apt-get install fonts-droid-fallback)",
        );
        return;
    }
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = std::fs::read(&out).unwrap();
    let reference =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/report/weekly-chart.png");
    // LIANDONG_BLESS=1 writes a new reference (look at it before committing it).
    if std::env::var("LIANDONG_BLESS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(reference.parent().unwrap()).unwrap();
        std::fs::write(&reference, &got).unwrap();
    }
    let (w, h, a) = decode_png(&got);
    let (w2, h2, b) = decode_png(&std::fs::read(&reference).unwrap());
    assert_eq!((w, h), (w2, h2));
    assert!(not_blank(&got) > 0.02, "the chart is not blank");
    // Pixels that differ noticeably: fewer than 1 % (font rendering may move a few).
    let differ = a
        .chunks(3)
        .zip(b.chunks(3))
        .filter(|(p, q)| p.iter().zip(q.iter()).any(|(x, y)| x.abs_diff(*y) > 48))
        .count();
    let share = differ as f64 / f64::from(w * h);
    assert!(
        share < 0.01,
        "{:.2} % of the pixels differ from the reference",
        share * 100.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_workbook_has_its_sheets_numbers_and_a_native_chart() {
    use calamine::{Data, Reader as _};
    let env = env("");
    w42(&env).await;
    let (out, o) = w42_file(&env, "xlsx");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(&out).unwrap();
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.clone())).unwrap();
    assert_eq!(
        book.sheet_names(),
        ["周报汇总", "未办结事项", "本周新增", "本周办结"]
    );
    let summary = book.worksheet_range("周报汇总").unwrap();
    assert_eq!(summary.get((0, 1)), Some(&Data::String("单位".into())));
    // Rank 1: 市场监管, 2 open, 1 overdue — stored as numbers.
    assert_eq!(summary.get((1, 0)), Some(&Data::Float(1.0)));
    assert_eq!(
        summary.get((1, 1)),
        Some(&Data::String("稻城县市场监督管理局".into()))
    );
    assert_eq!(summary.get((1, 3)), Some(&Data::Float(2.0)));
    assert_eq!(summary.get((1, 4)), Some(&Data::Float(1.0)));
    assert_eq!(
        summary.get((2, 1)),
        Some(&Data::String("稻城县自然资源局".into()))
    );
    let open = book.worksheet_range("未办结事项").unwrap();
    assert_eq!(open.height(), 4, "a header and three open findings");
    // The chart is Excel's own, over the summary's cells.
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("xl/charts/chart1.xml").unwrap(), &mut xml)
        .unwrap();
    assert!(
        xml.contains("<c:barChart>") && xml.contains("未办结") && xml.contains("逾期"),
        "{xml}"
    );
    assert!(xml.contains("周报汇总!$D$2:$D$3"), "{xml}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_annual_scorecard_counts_each_rules_deadlines_and_the_quarters() {
    let env = env("");
    let store = common::open(&env.url).await;
    let mut late = finding("R2", "scjg", 5, "2025-04-10", "resolved");
    late.violated = true;
    store
        .apply_findings(
            &[
                // Met: resolved, not a violation.
                finding("R1", "scjg", 1, "2025-03-01", "resolved"),
                finding("R1", "scjg", 2, "2025-06-01", "resolved"),
                // Missed: still open after its deadline; a late entry.
                finding("R1", "scjg", 3, "2025-09-01", "overdue"),
                late,
                // Next year's deadline does not count.
                finding("R7", "scjg", 6, "2026-01-20", "upcoming"),
            ],
            at(6, 12),
        )
        .await
        .unwrap();
    let o = run(
        &env,
        &[
            "report",
            "annual",
            "--year",
            "2025",
            "--as-of",
            "2026-01-05",
            "--format",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(a["year"], 2025);
    assert_eq!(a["as_of"], "2025-12-31");
    let scjg = &a["units"][0];
    assert_eq!(scjg["unit_id"], "scjg");
    assert_eq!(
        scjg["rules"]["R1"],
        serde_json::json!({"due": 3, "on_time": 2, "late": 1, "waived": 0, "on_time_percent": 66})
    );
    assert_eq!(scjg["rules"]["R2"]["late"], 1);
    assert!(scjg["rules"].get("R7").is_none());
    assert_eq!(
        (
            scjg["due"].as_i64(),
            scjg["on_time"].as_i64(),
            scjg["late"].as_i64()
        ),
        (Some(4), Some(2), Some(2))
    );
    let quarters: Vec<&str> = scjg["sampling"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["quarter"].as_str().unwrap())
        .collect();
    assert_eq!(quarters, ["2025Q1", "2025Q2", "2025Q3", "2025Q4"]);
    // Nothing closed, nothing owed: every quarter met.
    assert_eq!(scjg["quarters_met"], 4);
    assert_eq!(a["units"][1]["due"], 0);
    // The text table carries the same.
    let o = run(
        &env,
        &[
            "report",
            "annual",
            "--year",
            "2025",
            "--as-of",
            "2026-01-05",
        ],
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("2/3") && text.contains("50%"), "{text}");
}
