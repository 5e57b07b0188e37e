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

pub(crate) struct Env {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) url: String,
    config: PathBuf,
}

pub(crate) fn env(email_toml: &str) -> Env {
    env_with_units(UNITS, email_toml)
}

/// A store, its mail folder and a configuration with `units` (TOML) and `email_toml` (the file
/// transport into `mail/` when empty).
fn env_with_units(units: &str, email_toml: &str) -> Env {
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
        format!("[store]\nurl = \"{url}\"\n{units}\n{email}"),
    );
    Env { dir, url, config }
}

/// A finding whose obligation arose a week before its due day; a resolved one was satisfied, by
/// the data, the day before it was due.
pub(crate) fn finding(rule: &str, unit: &str, n: u32, due: &str, state: &str) -> EvaluatedFinding {
    let due = Calendar::end_of_day_utc(NaiveDate::parse_from_str(due, "%Y-%m-%d").unwrap());
    EvaluatedFinding {
        key: format!("{rule}|{unit}|K{n}"),
        rule: rule.into(),
        unit_id: unit.into(),
        case_key: Some(format!("K{n}")),
        case_no: Some(format!("稻罚〔2025〕{n}号")),
        due,
        arose_at: due - chrono::TimeDelta::days(8),
        satisfied_at: (state == "resolved").then(|| due - chrono::TimeDelta::days(1)),
        violated: false,
        state: state.into(),
        facts: "{}".into(),
        link: None,
    }
}

/// `hour` o'clock Asia/Shanghai on 2025-10-`day`.
pub(crate) fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 10, day, hour, 0, 0).unwrap() - chrono::TimeDelta::hours(8)
}

pub(crate) fn run(env: &Env, args: &[&str]) -> Output {
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
    // Monday 2025-10-06 noon: 市场监管 has an overdue R1 and an R4 due 10-20 (arisen 10-12, so
    // new in the week the report of 10-13 looks back on).
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
                "open": 2, "overdue": 1, "new": 1, "resolved": 0, "recorded": 0,
                "sampling": sampling,
                "meeting_held": false, "training_held": false,
                "previous_rank": null, "previous_open": null
            },
            {
                "unit": "稻城县自然资源局", "unit_id": "zrzy", "rank": 2, "lagging": false,
                "reasons": [], "findings": {},
                "open": 0, "overdue": 0, "new": 0, "resolved": 0, "recorded": 0,
                "sampling": sampling,
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

    // Wednesday: the R1 is entered (no longer applies), a reply deadline passes (R7), a penalty
    // decided on 10-16 must be on the platform by 10-24 (R4).
    store
        .apply_findings(
            &[
                finding("R4", "scjg", 2, "2025-10-20", "upcoming"),
                finding("R7", "scjg", 3, "2025-10-14", "overdue"),
                finding("R4", "scjg", 4, "2025-10-24", "upcoming"),
            ],
            at(15, 10),
        )
        .await
        .unwrap();
    let next = report_json(&env, "2025-10-20T09:00:00+08:00");
    assert_eq!(next["week"], "2025-W43");
    let scjg = &next["units"][0];
    assert_eq!(scjg["unit_id"], "scjg");
    assert_eq!(scjg["findings"], serde_json::json!({"R4": 2, "R7": 1}));
    assert_eq!(
        (scjg["open"].as_i64(), scjg["overdue"].as_i64()),
        (Some(3), Some(1))
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
    assert!(
        text.contains("2025年第43周（2025年10月20日—2025年10月26日）") && text.contains("+1"),
        "{text}"
    );
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
        "【府检联动】落后单位周报 2025年第42周（2025年10月13日—2025年10月19日）：1个单位落后"
    );
    let html = mails[0].html.as_deref().expect("an HTML part");
    assert!(
        html.contains("稻城县自然资源局") && html.contains("<table"),
        "{html}"
    );
    assert!(mails[0].text.contains("稻城县自然资源局"));
    // The week and the time as people read them; the rule columns explained.
    assert!(
        html.contains(
            "<title>府检联动落后单位周报 2025年第42周（2025年10月13日—2025年10月19日）</title>"
        ) && html.contains("统计截至 2025年10月13日 09:00"),
        "{html}"
    );
    assert!(!html.contains("+08:00") && !html.contains("W42"), "{html}");
    assert!(
        html.contains("<b>移送未录平台</b>（R1）")
            && html.contains("移送涉嫌犯罪案件未录入两法衔接平台")
            && html.contains("国务院令第310号"),
        "{html}"
    );
    // The chart inline, referred to by the HTML; the workbook attached, and said so.
    // The chart inline, by a Content-ID in the sender's domain.
    assert!(
        html.contains("src=\"cid:chart-2025w42@example.gov.cn\""),
        "{html}"
    );
    assert!(html.contains("明细见附件"), "{html}");
    let chart = mails[0]
        .files
        .iter()
        .find(|f| f.0 == "image/png")
        .expect("the chart");
    assert_eq!(chart.1.as_deref(), Some("<chart-2025w42@example.gov.cn>"));
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
pub(crate) fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut d = png::Decoder::new(std::io::Cursor::new(bytes));
    d.set_transformations(png::Transformations::EXPAND);
    let mut reader = d.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    let rgb = match info.color_type {
        png::ColorType::Rgb => buf,
        // A browser's screenshot: opaque, the alpha dropped.
        png::ColorType::Rgba => buf.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
        other => panic!("a {other:?} PNG"),
    };
    (info.width, info.height, rgb)
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
pub(crate) async fn w42(env: &Env) {
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
pub(crate) fn w42_file(env: &Env, format: &str) -> (PathBuf, Output) {
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
    if !o.status.success() && no_font(&o) {
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

/// The chart inside an HTML file: (the width its `<img>` shows it at, the PNG).
pub(crate) fn chart_of(html: &str) -> Option<(u32, Vec<u8>)> {
    let start = html.find("<img src=\"data:image/png;base64,")?;
    let tag = &html[start..start + html[start..].find('>')?];
    let b64 = tag.split("base64,").nth(1)?.split('"').next()?;
    let width = tag
        .split("width=\"")
        .nth(1)?
        .split('"')
        .next()?
        .parse()
        .ok()?;
    let png = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).ok()?;
    Some((width, png))
}

/// True when the command said it had no font for the chart (then the chart tests skip).
pub(crate) fn no_font(o: &Output) -> bool {
    let no = String::from_utf8_lossy(&o.stderr).contains("no font with Chinese glyphs");
    if no {
        common::skip(
            "the chart test",
            "no CJK font installed (apt-get install fonts-droid-fallback)",
        );
    }
    no
}

#[tokio::test(flavor = "multi_thread")]
async fn an_html_file_shows_its_chart_on_its_own_and_promises_no_attachment() {
    let env = env("");
    w42(&env).await;
    let (out, o) = w42_file(&env, "html");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    if no_font(&o) {
        return;
    }
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(
        html.contains(
            "<title>府检联动落后单位周报 2025年第42周（2025年10月13日—2025年10月19日）</title>"
        ) && html.contains("统计截至 2025年10月13日 09:00"),
        "{html}"
    );
    // Nothing is attached to a file, and nothing outside it is needed.
    assert!(
        !html.contains("明细见附件") && !html.contains("cid:"),
        "{html}"
    );
    assert!(html.contains("本报告由府检联动系统生成"), "{html}");
    let (shown, png) = chart_of(&html).expect("the chart inside the HTML");
    let (w, _, _) = decode_png(&png);
    assert_eq!(
        (shown, w),
        (720, 1440),
        "drawn at twice the width it is shown at"
    );
    assert!(not_blank(&png) > 0.02, "the chart has ink");
    // Both rules of the week explained below the table.
    for (short, code) in [("移送未录平台", "R1"), ("处罚未录平台", "R4")] {
        assert!(
            html.contains(&format!("<b>{short}</b>（{code}）")),
            "{html}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_format_at_once_names_the_workbook_beside_the_html() {
    let env = env("");
    w42(&env).await;
    let dir = env.dir.path().join("all");
    let o = run(
        &env,
        &[
            "report",
            "weekly",
            "--as-of",
            "2025-10-13T09:00:00+08:00",
            "--format",
            "all",
            "--output",
            &dir.display().to_string(),
        ],
    );
    if !o.status.success() && no_font(&o) {
        return;
    }
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for ext in ["txt", "json", "csv", "html", "xlsx", "png"] {
        assert!(
            dir.join(format!("weekly-2025-W42.{ext}")).is_file(),
            "{ext}"
        );
    }
    let html = std::fs::read_to_string(dir.join("weekly-2025-W42.html")).unwrap();
    assert!(
        html.contains("明细见同一文件夹中的 weekly-2025-W42.xlsx") && !html.contains("明细见附件"),
        "{html}"
    );
    let (_, png) = chart_of(&html).expect("the chart inside the HTML");
    assert_eq!(png, std::fs::read(dir.join("weekly-2025-W42.png")).unwrap());
}

/// Rows in `ys` with ink (a pixel darker than mid-grey in some channel) in the columns `xs`,
/// grouped into runs of consecutive rows: (first row, rows).
fn ink_runs(
    (w, rgb): (u32, &[u8]),
    xs: std::ops::Range<u32>,
    ys: std::ops::Range<u32>,
) -> Vec<(u32, u32)> {
    let ink = |x: u32, y: u32| {
        let i = ((y * w + x) * 3) as usize;
        rgb[i..i + 3].iter().any(|c| *c < 128)
    };
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for y in ys {
        if xs.clone().any(|x| ink(x, y)) {
            match runs.last_mut() {
                Some((first, n)) if *first + *n == y => *n += 1,
                _ => runs.push((y, 1)),
            }
        }
    }
    runs
}

#[tokio::test(flavor = "multi_thread")]
async fn every_chart_label_is_at_least_12_px_high_where_it_is_shown() {
    // Fifteen units, one name too long for two lines, one just over one line.
    let mut names: Vec<String> = [
        "甘孜藏族自治州稻城县市场监督管理局综合行政执法大队",
        "稻城县文化广播电视和旅游局",
        "稻城县自然资源局",
        "稻城县交通运输局",
        "稻城县农业农村局",
        "稻城县林业和草原局",
        "稻城县应急管理局",
        "稻城县生态环境局",
        "稻城县卫生健康局",
        "稻城县住房和城乡建设局",
        "稻城县水利局",
        "稻城县教育局",
        "稻城县民政局",
        "稻城县税务局",
    ]
    .map(String::from)
    .to_vec();
    names.push("稻城县人力资源和社会保障局".into());
    let mut units = String::new();
    for (i, name) in names.iter().enumerate() {
        units.push_str(&format!("[[units]]\nid = \"u{i}\"\nname = \"{name}\"\n\n"));
    }
    let env = env_with_units(&units, "");
    let store = common::open(&env.url).await;
    let mut findings = Vec::new();
    for i in 0..names.len() {
        // The first unit 12 open, 7 overdue; the others fewer; the last none.
        let open = 12usize.saturating_sub(i);
        for n in 0..open.min(12) {
            let due = if n < 7 { "2025-10-01" } else { "2025-10-20" };
            let state = if n < 7 { "overdue" } else { "upcoming" };
            let k = u32::try_from(i * 100 + n).unwrap();
            findings.push(finding("R1", &format!("u{i}"), k, due, state));
        }
    }
    store.apply_findings(&findings, at(6, 12)).await.unwrap();
    let (out, o) = w42_file(&env, "html");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    if no_font(&o) {
        return;
    }
    let (shown, png) = chart_of(&std::fs::read_to_string(&out).unwrap()).expect("the chart");
    let (w, h, rgb) = decode_png(&png);
    // PNG pixels per displayed pixel.
    let scale = f64::from(w) / f64::from(shown);
    let displayed = |rows: u32| f64::from(rows) / scale;
    let at_px = |x: u32, y: u32| {
        let i = ((y * w + x) * 3) as usize;
        [rgb[i], rgb[i + 1], rgb[i + 2]]
    };
    let blue =
        |p: [u8; 3]| p[0].abs_diff(70) < 8 && p[1].abs_diff(114) < 8 && p[2].abs_diff(196) < 8;
    // The bars start where the first blue is, left; the legend's blue box is the first, top.
    let blue_px: Vec<(u32, u32)> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .filter(|&(x, y)| blue(at_px(x, y)))
        .collect();
    let plot_left = blue_px.iter().map(|p| p.0).min().expect("blue bars");
    let legend_top = blue_px.iter().map(|p| p.1).min().unwrap();
    let legend_bottom = (legend_top..h)
        .find(|&y| !(0..w).any(|x| blue(at_px(x, y))))
        .unwrap();
    // The axis: the lowest row that is grey and dark for 300 px right of the bars' start.
    let grey = |p: [u8; 3]| p.iter().max().unwrap() - p.iter().min().unwrap() < 10 && p[0] < 128;
    let axis = (0..h)
        .rev()
        .find(|&y| (plot_left..plot_left + 300).all(|x| grey(at_px(x, y))))
        .expect("the axis");
    let image = (w, rgb.as_slice());
    // The title, the week and the legend; the units' names; the axis' numbers.
    let header = ink_runs(image, 0..w, 0..legend_bottom);
    let gap = (8.0 * scale) as u32;
    let names_runs = ink_runs(image, 0..plot_left - gap, legend_bottom..axis - 2);
    let numbers = ink_runs(image, 0..w, axis + 2 * scale as u32..h);
    assert_eq!(header.len(), 3, "title, week, legend: {header:?}");
    assert!(
        names_runs.len() >= 16,
        "fifteen names, two of them in two lines: {names_runs:?}"
    );
    assert_eq!(numbers.len(), 1, "one line of numbers: {numbers:?}");
    for (what, runs) in [
        ("heading", &header),
        ("unit name", &names_runs),
        ("axis", &numbers),
    ] {
        for &(y, rows) in runs {
            assert!(
                displayed(rows) >= 12.0,
                "a {what} line at y = {y} is {:.1} px high where it is shown",
                displayed(rows)
            );
        }
    }
    // Every name starts inside the picture: cut with "…", not clipped.
    let leftmost = (legend_bottom..axis - 2)
        .filter_map(|y| (0..plot_left - gap).find(|&x| at_px(x, y).iter().any(|c| *c < 128)))
        .min()
        .unwrap();
    assert!(
        displayed(leftmost) >= 4.0,
        "a name is clipped at x = {leftmost}"
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
    // A title and the report's time, then the table.
    assert_eq!(
        summary.get((0, 0)),
        Some(&Data::String(
            "府检联动落后单位周报 2025年第42周（2025年10月13日—2025年10月19日）".into()
        ))
    );
    assert!(
        summary
            .get((1, 0))
            .is_some_and(|c| c.to_string().starts_with("统计截至 2025年10月13日 09:00")),
        "{:?}",
        summary.get((1, 0))
    );
    assert_eq!(summary.get((2, 1)), Some(&Data::String("单位".into())));
    // Rank 1: 市场监管, 2 open, 1 overdue — stored as numbers.
    assert_eq!(summary.get((3, 0)), Some(&Data::Float(1.0)));
    assert_eq!(
        summary.get((3, 1)),
        Some(&Data::String("稻城县市场监督管理局".into()))
    );
    assert_eq!(summary.get((3, 3)), Some(&Data::Float(2.0)));
    assert_eq!(summary.get((3, 4)), Some(&Data::Float(1.0)));
    assert_eq!(
        summary.get((4, 1)),
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
    assert!(xml.contains("周报汇总!$D$4:$D$5"), "{xml}");
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

/// A header of a parsed mail or part, decoded.
fn mail_header(headers: &[mailparse::MailHeader], name: &str) -> Option<String> {
    use mailparse::MailHeaderMap as _;
    headers.get_first_value(name)
}

/// The same header as written on the wire, unfolded but not decoded.
fn raw_header(headers: &[mailparse::MailHeader], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|h| h.get_key().eq_ignore_ascii_case(name))
        .map(|h| String::from_utf8_lossy(h.get_value_raw()).replace("\r\n", ""))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_report_mail_is_structured_for_old_and_new_clients() {
    let env = env("");
    w42(&env).await;
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
    let eml = std::fs::read_dir(env.dir.path().join("mail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "eml"))
        .expect("the report's .eml file");
    let bytes = std::fs::read(&eml).unwrap();
    let mail = mailparse::parse_mail(&bytes).unwrap();
    // Made by a machine (RFC 3834): no responder answers it.
    assert_eq!(
        mail_header(&mail.headers, "Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    fn all<'a>(p: &'a mailparse::ParsedMail<'a>, out: &mut Vec<&'a mailparse::ParsedMail<'a>>) {
        out.push(p);
        for s in &p.subparts {
            all(s, out);
        }
    }
    let mut parts = Vec::new();
    all(&mail, &mut parts);
    let kinds: Vec<&str> = parts.iter().map(|p| p.ctype.mimetype.as_str()).collect();
    // mixed → related (→ alternative (text, HTML), the chart), the workbook.
    assert_eq!(
        kinds[..3],
        [
            "multipart/mixed",
            "multipart/related",
            "multipart/alternative"
        ]
    );
    // RFC 2387: multipart/related names its root's type.
    assert_eq!(
        parts[1].ctype.params.get("type").map(String::as_str),
        Some("multipart/alternative"),
        "{:?}",
        parts[1].ctype
    );
    // The chart's Content-ID has a domain, and the HTML refers to it.
    let chart = parts
        .iter()
        .find(|p| p.ctype.mimetype == "image/png")
        .expect("the chart");
    let cid = mail_header(&chart.headers, "Content-ID").unwrap();
    assert_eq!(cid, "<chart-2025w42@localhost>");
    let html = parts
        .iter()
        .find(|p| p.ctype.mimetype == "text/html")
        .unwrap()
        .get_body()
        .unwrap();
    assert!(html.contains("cid:chart-2025w42@localhost"), "{html}");
    // The workbook's name in its Content-Type (RFC 2047, for older Outlook and Foxmail) and in
    // its Content-Disposition (RFC 2231).
    let book = parts
        .iter()
        .find(|p| p.ctype.mimetype.ends_with("spreadsheetml.sheet"))
        .expect("the workbook");
    let name = "府检联动落后单位周报-2025-W42.xlsx";
    assert_eq!(
        book.ctype.params.get("name").map(String::as_str),
        Some(name),
        "{:?}",
        book.ctype
    );
    assert!(
        raw_header(&book.headers, "Content-Type").is_some_and(|v| v.contains("name=\"=?utf-8?b?")),
        "{:?}",
        raw_header(&book.headers, "Content-Type")
    );
    let disposition = book.get_content_disposition();
    assert_eq!(
        disposition.disposition,
        mailparse::DispositionType::Attachment
    );
    assert_eq!(
        disposition.params.get("filename").map(String::as_str),
        Some(name)
    );
    assert_eq!(sheet_names(&book.get_body_raw().unwrap())[0], "周报汇总");
}
