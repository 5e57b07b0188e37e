//! What people print, printed as they would: LibreOffice (headless) turns the weekly workbook and
//! the sampling worksheet into PDF, poppler's `pdfinfo` reads the paper and the pages, and
//! `pdftotext` what is on them. Without those programs the tests say they skipped, and fail
//! when LIANDONG_REQUIRE_DBS=1 (CI installs them: libreoffice-calc-nogui, poppler-utils,
//! fonts-noto-cjk).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use calamine::{Data, Reader as _};
use liandong::domain::case_no::CaseNo;
use liandong::obligations::ObligationsConfig;
use liandong::obligations::draws::{draw, write_xlsx};
use liandong::records::{Feed, Field, Record, Value};

use crate::common;
use crate::report::{at, finding};

/// A4 in PostScript points, landscape: (width, height).
const A4_LANDSCAPE: (f64, f64) = (841.89, 595.28);

/// Whether `program` is on the PATH.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// True when LibreOffice, poppler and a Chinese font are here; otherwise says what is missing
/// (a failure in CI).
fn clients(what: &str) -> bool {
    let missing: Vec<&str> = ["soffice", "pdfinfo", "pdftotext", "fc-list"]
        .into_iter()
        .filter(|p| !on_path(p))
        .collect();
    let why = if !missing.is_empty() {
        format!("{} not installed", missing.join(", "))
    } else {
        let fonts = Command::new("fc-list")
            .args([":lang=zh", "family"])
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default();
        if !fonts.is_empty() {
            return true;
        }
        "no font with Chinese glyphs".into()
    };
    common::skip(
        what,
        &format!("{why} (apt-get install libreoffice-calc-nogui poppler-utils fonts-noto-cjk)"),
    );
    false
}

/// Runs a command to its end, or kills it after `limit`; returns its stdout.
fn run(cmd: &mut Command, limit: Duration) -> String {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{cmd:?}: {status}\n{out}\n{err}");
    out
}

/// The PDF LibreOffice prints of `xlsx`, with a profile of its own (tests run in parallel).
fn print_to_pdf(xlsx: &Path) -> PathBuf {
    let dir = xlsx.parent().unwrap();
    let profile = dir.join("lo-profile");
    run(
        Command::new("soffice")
            .arg(format!(
                "-env:UserInstallation=file://{}",
                profile.display()
            ))
            .args([
                "--headless",
                "--norestore",
                "--convert-to",
                "pdf",
                "--outdir",
            ])
            .arg(dir)
            .arg(xlsx),
        Duration::from_secs(180),
    );
    let pdf = xlsx.with_extension("pdf");
    assert!(pdf.is_file(), "LibreOffice wrote no {}", pdf.display());
    pdf
}

/// Each page's size in points, as `pdfinfo` reads it.
fn page_sizes(pdf: &Path) -> Vec<(f64, f64)> {
    let info = run(
        Command::new("pdfinfo")
            .args(["-f", "1", "-l", "9999"])
            .arg(pdf),
        Duration::from_secs(30),
    );
    info.lines()
        .filter(|l| l.starts_with("Page") && l.contains(" size:"))
        .map(|l| {
            let size = l.split("size:").nth(1).unwrap();
            let mut n = size
                .split_whitespace()
                .filter_map(|w| w.parse::<f64>().ok());
            (n.next().unwrap(), n.next().unwrap())
        })
        .collect()
}

/// The text of pages `first` to `last`.
fn page_text(pdf: &Path, first: usize, last: usize) -> String {
    run(
        Command::new("pdftotext")
            .args(["-layout", "-f", &first.to_string(), "-l", &last.to_string()])
            .arg(pdf)
            .arg("-"),
        Duration::from_secs(30),
    )
}

fn is_a4_landscape((w, h): (f64, f64)) -> bool {
    (w - A4_LANDSCAPE.0).abs() < 1.0 && (h - A4_LANDSCAPE.1).abs() < 1.0
}

/// A part of the XLSX zip as text.
fn xml(xlsx: &[u8], name: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(xlsx.to_vec())).unwrap();
    let mut s = String::new();
    zip.by_name(name).unwrap().read_to_string(&mut s).unwrap();
    s
}

const UNITS: &str = r#"
[[units]]
id = "scjg"
name = "稻城县市场监督管理局"

[[units]]
id = "zrzy"
name = "稻城县自然资源局"

[[units]]
id = "jtys"
name = "稻城县交通运输局"

[[units]]
id = "nync"
name = "稻城县农业农村局"

[[units]]
id = "fjld"
name = "稻城县府检联动办公室"
kind = "liaison"
contacts = [{ name = "赵六", role = "contact", email = "fjld@example.gov.cn" }]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_weekly_workbook_prints_on_a4_landscape_one_page_wide_in_chinese() {
    if !clients("the weekly workbook's print test") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("liandong.db").display());
    let config = common::write(
        dir.path(),
        "liandong.toml",
        format!("[store]\nurl = \"{url}\"\n{UNITS}"),
    );
    let store = common::open(&url).await;
    // Seven rules' columns over four units, every finding arisen by October 1st: 市场监管 and
    // 交通 lag with overdue findings.
    let findings = [
        finding("R1", "scjg", 1, "2025-10-01", "overdue"),
        finding("R5", "scjg", 2, "2025-10-02", "overdue"),
        finding("R4", "scjg", 3, "2025-10-20", "upcoming"),
        finding("R3", "zrzy", 4, "2025-10-25", "upcoming"),
        finding("R6", "jtys", 5, "2025-10-03", "overdue"),
        finding("R7", "jtys", 6, "2025-11-30", "upcoming"),
        finding("R10", "nync", 7, "2025-10-30", "upcoming"),
    ]
    .map(|f| liandong::store::EvaluatedFinding {
        // The R4 arose in the week the report looks back on: it is new.
        arose_at: if f.rule == "R4" { at(8, 10) } else { at(1, 9) },
        ..f
    });
    store.apply_findings(&findings, at(6, 12)).await.unwrap();
    let xlsx = dir.path().join("weekly.xlsx");
    let o = common::bin()
        .arg("--config")
        .arg(&config)
        .args([
            "report",
            "weekly",
            "--as-of",
            "2025-10-13T09:00:00+08:00",
            "--format",
            "xlsx",
            "--output",
        ])
        .arg(&xlsx)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(&xlsx).unwrap();

    // The workbook as a spreadsheet reads it.
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.clone())).unwrap();
    let summary = book.worksheet_range("周报汇总").unwrap();
    let head: Vec<String> = (0..summary.width())
        .map(|c| {
            summary
                .get((2, c))
                .map(|v| v.to_string())
                .unwrap_or_default()
        })
        .collect();
    let rules = [
        "移送未录平台",
        "处罚未抄送",
        "信息不一致",
        "处罚未录平台",
        "疑似以罚代刑",
        "检察建议未回复",
        "立案决定超期",
    ];
    for name in rules {
        assert!(head.iter().any(|h| h == name), "{name} in {head:?}");
    }
    assert!(
        !head.iter().any(|h| h.starts_with('R')),
        "no rule code as a column: {head:?}"
    );
    // Lagging units first.
    let unit = |r: usize| {
        summary
            .get((r, 1))
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    assert_eq!(
        [unit(3), unit(4)],
        ["稻城县市场监督管理局", "稻城县交通运输局"]
    );
    let progress = head.iter().position(|h| h == "评查进度").unwrap();
    assert!(
        matches!(summary.get((3, progress)), Some(Data::String(s)) if s == "—"),
        "no target, no share: {:?}",
        summary.get((3, progress))
    );
    // Deadlines and times are dates, not text.
    let open = book.worksheet_range("未办结事项").unwrap();
    assert_eq!(open.get((0, 4)), Some(&Data::String("期限".into())));
    let due = open.get((1, 4)).unwrap();
    assert!(
        matches!(due, Data::DateTime(_)),
        "the deadline is a date: {due:?}"
    );
    let new = book.worksheet_range("本周新增").unwrap();
    match new.get((1, 5)) {
        Some(Data::DateTime(t)) => assert_eq!(
            t.as_datetime().unwrap().to_string(),
            "2025-10-08 10:00:00",
            "arose at 10:00, Asia/Shanghai"
        ),
        other => panic!("the time it arose is a date and time: {other:?}"),
    }
    let r1 = (1..open.height())
        .find(|r| {
            open.get((*r, 3))
                .is_some_and(|v| *v == Data::String("稻罚〔2025〕1号".into()))
        })
        .expect("the R1 finding listed");
    assert_eq!(
        open.get((r1, 1)).map(|v| v.to_string()).unwrap_or_default(),
        "移送未录平台（R1）"
    );
    // Page setup on every sheet, an autofilter on the detail sheets, percentages as such.
    for n in 1..=4 {
        let sheet = xml(&bytes, &format!("xl/worksheets/sheet{n}.xml"));
        assert!(
            sheet.contains(r#"paperSize="9""#) && sheet.contains(r#"orientation="landscape""#),
            "sheet {n}: {sheet}"
        );
        assert!(
            sheet.contains(r#"<pageSetUpPr fitToPage="1"/>"#)
                && sheet.contains(r#"fitToHeight="0""#),
            "sheet {n} fits one page wide"
        );
        assert_eq!(
            sheet.contains("<autoFilter "),
            n > 1,
            "sheet {n}'s autofilter"
        );
    }
    let workbook = xml(&bytes, "xl/workbook.xml");
    assert!(
        workbook.contains("周报汇总!$3:$3") && workbook.contains("未办结事项!$1:$1"),
        "the header rows repeat on each page: {workbook}"
    );
    let styles = xml(&bytes, "xl/styles.xml");
    assert!(
        styles.contains(r#"formatCode="0%""#) && styles.contains("FFC00000"),
        "{styles}"
    );

    // The workbook as LibreOffice prints it.
    let pdf = print_to_pdf(&xlsx);
    let pages = page_sizes(&pdf);
    assert!(pages.len() >= 4, "the summary and three lists: {pages:?}");
    assert!(
        pages.iter().all(|p| is_a4_landscape(*p)),
        "A4 landscape: {pages:?}"
    );
    // The whole table is on the first page: one page wide, its first and last columns there.
    let first = page_text(&pdf, 1, 1);
    for s in [
        "府检联动落后单位周报 2025年第42周（2025年10月13日—2025年10月19日）",
        "统计截至 2025年10月13日 09:00",
        "排名",
        "落后原因",
        "规则说明",
        "稻城县市场监督管理局",
        "稻城县自然资源局",
        "稻城县交通运输局",
        "稻城县农业农村局",
        "移送涉嫌犯罪案件未录入两法衔接平台",
        "国务院令第310号",
    ] {
        assert!(first.contains(s), "{s:?} on page 1:\n{first}");
    }
    // Rule names may wrap inside their header cells: look for them without the line breaks.
    let squeezed: String = first.split_whitespace().collect();
    for name in rules {
        assert!(squeezed.contains(name), "{name} on page 1:\n{first}");
    }
    // The detail lists print their header on the page and the page number at its foot.
    let rest = page_text(&pdf, 2, pages.len());
    assert!(
        rest.contains("期限") && rest.contains("稻罚〔2025〕1号"),
        "{rest}"
    );
    assert!(
        first.contains(&format!("第 1 页，共 {} 页", pages.len())),
        "{first}"
    );
}

/// A record of `feed` with every field empty.
fn blank(feed: Feed, no: &str) -> Record {
    Record {
        feed,
        unit_id: "scjg".into(),
        unit_known: true,
        case_no: CaseNo::parse(no).unwrap(),
        values: vec![Value::Null; feed.fields().len()],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sampling_worksheet_prints_on_a4_with_names_parties_and_why_each_was_picked() {
    if !clients("the sampling worksheet's print test") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = common::temp_sqlite();
    let store = common::open(&db.url).await;
    // 31 files closed in 2025 (a target of 4): 5号 a major penalty, 9号 a case of illegal
    // mining (a configured cause), 12号 with an open R1 finding — the three focused picks —
    // and the rest drawn at random.
    let no = |i: u32| format!("稻市监罚〔2025〕{i}号");
    let files: Vec<Record> = (1..=31)
        .map(|i| {
            let mut r = blank(Feed::Cases, &no(i));
            let closed = chrono::NaiveDate::from_ymd_opt(2025, 1 + i % 11, 1 + i % 27).unwrap();
            r.set(Field::ClosedOn, Value::Date(closed));
            r.set(Field::Major, Value::Bool(i == 5));
            r.set(Field::Title, Value::Text(format!("第{i}号违法经营案")));
            r.set(
                Field::Party,
                Value::Text(format!(
                    "当事人{i}（身份证号51333719800101{i:04}，电话1380000{i:04}）"
                )),
            );
            let cause = if i == 9 {
                "非法采矿"
            } else {
                "无照经营"
            };
            r.set(Field::Cause, Value::Text(cause.into()));
            r
        })
        .collect();
    let mut imp = store.begin_import("test", common::now()).await.unwrap();
    imp.put(files).await.unwrap();
    imp.commit(None).await.unwrap();
    let mut r1 = finding("R1", "scjg", 12, "2025-10-01", "overdue");
    r1.case_key = Some(CaseNo::parse(&no(12)).unwrap().key().to_owned());
    store.apply_findings(&[r1], at(6, 12)).await.unwrap();

    // Focused picks may take all places but one, so that the sheet shows each focus criterion
    // and one random file.
    let cfg = ObligationsConfig {
        focus_causes: vec!["非法采矿".into()],
        focus_max_percent: 100,
        ..ObligationsConfig::default()
    };
    let q4 = "2025Q4".parse().unwrap();
    let day = chrono::NaiveDate::from_ymd_opt(2025, 12, 31).unwrap();
    let (record, drawn) = draw(
        store.as_ref(),
        &cfg,
        "scjg",
        q4,
        day,
        "print",
        "tester",
        common::now(),
    )
    .await
    .unwrap();
    assert_eq!(drawn.len(), 4);
    let xlsx = dir.path().join("draw.xlsx");
    write_xlsx(&xlsx, "稻城县市场监督管理局", &record, &drawn).unwrap();

    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&xlsx).unwrap();
    let sheet = book.worksheet_range("抽查清单").unwrap();
    let cell = |r: u32, c: u32| {
        sheet
            .get_value((r, c))
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    assert_eq!(
        cell(0, 0),
        "稻城县市场监督管理局 2025年第四季度 行政执法案卷评查抽查表"
    );
    let head: Vec<String> = (0..13).map(|c| cell(3, c)).collect();
    assert_eq!(
        head[..7],
        [
            "序号",
            "案号",
            "案件名称",
            "当事人",
            "结案日期",
            "抽取方式",
            "抽取理由"
        ]
    );
    // The focused files first, each with the criterion that picked it; then the random one.
    let row = |no: &str| (4..8).find(|r| cell(*r, 1) == no).unwrap();
    let why = |no: &str| cell(row(no), 6);
    assert_eq!(why("稻市监罚〔2025〕5号"), "重大行政处罚");
    assert_eq!(why("稻市监罚〔2025〕9号"), "案由涉及“非法采矿”");
    assert_eq!(
        why("稻市监罚〔2025〕12号"),
        "有未办结的“移送未录平台”事项（R1）"
    );
    assert_eq!(cell(7, 5), "随机抽查");
    assert_eq!(cell(7, 6), "按随机种子排序抽取");
    let five = row("稻市监罚〔2025〕5号");
    assert_eq!(cell(five, 2), "第5号违法经营案");
    let party = cell(five, 3);
    assert!(
        party.starts_with("当事人5（身份证号513337") && !party.contains("198001010005"),
        "the ID number masked: {party}"
    );
    assert!(!party.contains("13800000005"), "the phone masked: {party}");
    assert!(
        matches!(sheet.get_value((five, 4)), Some(Data::DateTime(_))),
        "the closing day is a date: {:?}",
        sheet.get_value((five, 4))
    );
    let bytes = std::fs::read(&xlsx).unwrap();
    let sheet1 = xml(&bytes, "xl/worksheets/sheet1.xml");
    assert!(sheet1.contains(r#"paperSize="9""#), "A4, not US Letter");

    let pdf = print_to_pdf(&xlsx);
    let pages = page_sizes(&pdf);
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert!(is_a4_landscape(pages[0]), "A4 landscape: {pages:?}");
    let text = page_text(&pdf, 1, 1);
    for s in [
        "2025年第四季度",
        "案件名称",
        "第5号违法经营案",
        "重大行政处罚",
        "应移送未移送",
        "评查人签字",
    ] {
        assert!(text.contains(s), "{s:?} printed:\n{text}");
    }
    assert!(!text.contains("2025Q4"), "{text}");
    assert!(!text.contains("198001010005"), "no full ID number: {text}");
}
