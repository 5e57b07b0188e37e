//! The real `liandong` binary: exit codes, configuration commands, sync/status/cases output on
//! the sample county shipped in the repository.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{self, bin, write};
use serde_json::json;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary in the repository with the sample configuration and a store in `db`.
fn sample(db: &Path, args: &[&str]) -> Output {
    sample_with(db, &[], args)
}

/// [`sample`] with configuration overrides in `LIANDONG__…` variables.
fn sample_with(db: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    bin()
        .current_dir(repo())
        .args(["--config", "config/liandong.toml"])
        .args(args)
        .env("LIANDONG__STORE__URL", format!("sqlite://{}", db.display()))
        .envs(env.iter().copied())
        .env_remove("LIANDONG_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// The binary on the configuration file `config` with `args`.
fn with_config(config: &Path, args: &[&str]) -> Output {
    bin()
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

/// `findings --all --as-of` of the sample county's store `db`: "rule case number" → state.
fn states_at(db: &Path, as_of: &str) -> std::collections::BTreeMap<String, String> {
    let out = sample(
        db,
        &["findings", "--all", "--as-of", as_of, "--format", "json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                format!(
                    "{} {}",
                    f["rule"].as_str().unwrap(),
                    f["case_no"].as_str().unwrap_or("")
                ),
                f["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn default_config_prints_the_shipped_example() {
    let out = bin().arg("default-config").output().unwrap();
    assert!(out.status.success());
    let shipped = std::fs::read_to_string(repo().join("config/liandong.example.toml")).unwrap();
    assert_eq!(text(&out.stdout), shipped);
}

#[test]
fn the_shipped_sample_configuration_is_valid() {
    let out = bin()
        .current_dir(repo())
        .args(["--config", "config/liandong.toml", "check-config"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("configuration is valid"));
}

#[test]
fn check_config_lists_every_problem_with_its_key_path_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "bad.toml",
        "[store]\nurl = \"mysql://x\"\ncolour = 1\n[[units]]\nid = \"a\"\nname = \"甲\"\n[[sources]]\nname = \"s\"\nkind = \"file\"\nencoding = \"big5\"\n[[sources]]\nname = \"t\"\nkind = \"http\"\nurl = \"ftp://x\"\npath = \"x\"\n",
    );
    let out = with_config(&f, &["check-config"]);
    assert_eq!(out.status.code(), Some(2));
    // Each problem names the file and the entry by its name; the path that does not exist is
    // among them, not left for a second run.
    assert_eq!(
        text(&out.stderr),
        format!(
            "the configuration has 6 problems:\n\
             \x20 - {f}: store.colour: unknown key\n\
             \x20 - {f}: sources.s.encoding: unknown variant `big5`, expected one of `auto`, `utf-8`, `utf8`, `gbk`, `gb18030` in `encoding`\n\
             \x20 - {f}: store.url: expected sqlite://PATH or postgres://…, found mysql://x\n\
             \x20 - {f}: sources.t.path: does not apply to a source of kind \"http\"\n\
             \x20 - {f}: sources.t.url: not an http(s) URL: \"ftp://x\"\n\
             \x20 - {f}: sources.t.path: x does not exist\n",
            f = f.display()
        )
    );
    // Every command refuses a broken configuration with exit code 2.
    let out = with_config(&f, &["sync"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Issue 22 item 6: a limit of 0, an absurd one, a cell larger than a line or an unknown key
/// under `[limits]` is refused by `check-config` with its key path; sane limits pass.
#[test]
fn check_config_refuses_limits_of_zero_or_absurd_size_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "limits.toml",
        "[limits]\nhttp_page_mb = 0\nline_kb = 100\ncell_kb = 200\nraw_kb = 999999\nrow_kb = 1\n",
    );
    let out = with_config(&f, &["check-config"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    for want in [
        "limits.http_page_mb: must be from 1 to 1024 (MB), found 0",
        "limits.raw_kb: must be from 1 to 1024 (KB), found 999999",
        "limits.cell_kb: must not exceed limits.line_kb (100 KB)",
        "limits.row_kb",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    assert!(!err.contains("limits.line_kb:"), "{err}");

    let f = write(
        dir.path(),
        "ok.toml",
        "[limits]\nhttp_page_mb = 8\nline_kb = 64\ncell_kb = 16\nraw_kb = 4\n",
    );
    let out = with_config(&f, &["check-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn a_missing_configuration_file_is_a_usage_error() {
    let out = bin()
        .args(["--config", "/nonexistent/liandong.toml", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("does not exist"));
}

#[test]
fn the_sample_county_syncs_shows_its_quarantine_and_resyncs_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sample.db");
    let out = sample(&db, &["sync"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains("scjg-cases") && table.contains("platform-referrals"),
        "{table}"
    );

    let status = sample(&db, &["status"]);
    let s = text(&status.stdout);
    assert!(status.status.success());
    // The two deliberately bad rows of the GBK sample file, by file:row:field.
    assert!(s.contains("scjg-2025.csv:5:decided_on"), "{s}");
    assert!(s.contains("scjg-2025.csv:14:amount"), "{s}");
    for l in s
        .lines()
        .filter(|l| l.starts_with("scjg-cases ") || l.starts_with("platform-"))
    {
        assert!(l.contains(" ok "), "every sample source is fresh: {l}");
    }

    let again = sample(&db, &["sync"]);
    assert!(again.status.success());
    let json = sample(&db, &["status", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    for src in v["sources"].as_array().unwrap() {
        assert_eq!(src["last_run"]["inserted"], 0, "{src}");
        assert_eq!(src["last_run"]["updated"], 0, "{src}");
        assert_eq!(src["freshness"], "ok", "{src}");
    }
}

#[test]
fn cases_lists_by_unit_in_json_and_csv_with_id_numbers_masked() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sample.db");
    assert!(sample(&db, &["sync"]).status.success());
    let out = sample(
        &db,
        &["cases", "--unit", "县市场监管局", "--format", "json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let arr = v.as_array().unwrap();
    assert!(!arr.is_empty());
    for c in arr {
        assert_eq!(c["unit"], "稻城县市场监督管理局");
        assert!(c["case_no"].as_str().unwrap().starts_with("稻市监罚"));
        if let Some(id) = c["party_id"].as_str() {
            assert!(id.contains("****"), "unmasked ID number {id}");
        }
    }
    let csv = sample(&db, &["cases", "--format", "csv"]);
    let body = text(&csv.stdout);
    assert!(
        body.starts_with("\u{feff}unit,case_no,title"),
        "{}",
        &body[..60.min(body.len())]
    );
    let referrals = sample(&db, &["cases", "--feed", "referrals", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&referrals.stdout).unwrap();
    assert!(!v.as_array().unwrap().is_empty());
}

#[test]
fn a_failing_source_gives_exit_1_and_the_others_still_sync() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.csv", "执法单位,案号\n县市场监管局,A-1\n");
    let cfg = write(
        dir.path(),
        "l.toml",
        format!(
            "[store]\nurl = \"sqlite://{db}\"\n[[units]]\nid = \"scjg\"\nname = \"稻城县市场监督管理局\"\naliases = [\"县市场监管局\"]\n\
             [[sources]]\nname = \"gone\"\npath = \"{gone}\"\n[[sources]]\nname = \"good\"\npath = \"{good}\"\n",
            db = dir.path().join("x.db").display(),
            gone = dir.path().join("gone.csv").display(),
            good = good.display()
        ),
    );
    let run = |args: &[&str]| {
        bin()
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .env_remove("LIANDONG_CONFIG")
            .output()
            .unwrap()
    };
    let out = run(&["sync"]);
    assert_eq!(out.status.code(), Some(1));
    let status = text(&run(&["status"]).stdout);
    let gone = status.lines().find(|l| l.starts_with("gone ")).unwrap();
    let good_line = status.lines().find(|l| l.starts_with("good ")).unwrap();
    assert!(gone.contains("error"), "{status}");
    assert!(good_line.contains(" ok "), "{status}");
    assert!(
        status.contains("gone failed:") && status.contains("does not exist"),
        "{status}"
    );

    let unknown = run(&["sync", "--source", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("no source named"));
    let _ = common::now();
}

#[test]
fn freshness_is_late_when_evaluated_after_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sample.db");
    assert!(
        sample(&db, &["sync", "--source", "nync-cases"])
            .status
            .success()
    );
    let later = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let out = sample(&db, &["status", "--as-of", &later, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let nync = v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "nync-cases")
        .unwrap();
    assert_eq!(nync["freshness"], "late");
    let bad = sample(&db, &["status", "--as-of", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn evaluating_one_store_at_two_dates_gives_each_dates_states_and_a_waiver_holds() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sample.db");
    assert!(sample(&db, &["sync"]).status.success());
    let states = |as_of: &str| states_at(&db, as_of);
    // 稻市监罚〔2025〕45号 is a sample transfer that never reached the platform.
    let missing = "R1 稻市监罚〔2025〕45号";
    let ev = sample(&db, &["evaluate", "--as-of", "2025-01-02"]);
    assert!(ev.status.success(), "{}", text(&ev.stderr));
    assert!(
        !states("2025-01-02").contains_key(missing),
        "not decided yet on 2025-01-02"
    );

    let ev = sample(&db, &["evaluate", "--as-of", "2025-12-31"]);
    assert!(ev.status.success(), "{}", text(&ev.stderr));
    let late = states("2025-12-31");
    assert_eq!(
        late.get(missing).map(String::as_str),
        Some("overdue"),
        "{late:?}"
    );
    assert_eq!(
        late.get("R2 稻市监罚〔2025〕18号").map(String::as_str),
        // Entered late: nothing can mend it, so it is recorded rather than owed.
        Some("recorded"),
        "late entry: {late:?}"
    );
    assert!(
        late.keys().any(|k| k.starts_with("R3 ")),
        "the sample's amount mismatch: {late:?}"
    );
    // Marked 涉嫌犯罪 by 农业农村, penalised and closed with no transfer decision: 以罚代刑
    // (国务院令第310号 art. 11).
    assert_eq!(
        late.get("R6 稻农罚〔2025〕24号").map(String::as_str),
        Some("overdue"),
        "the marked case penalised without transfer: {late:?}"
    );

    // Evaluating again at the same time changes nothing.
    let again = sample(&db, &["evaluate", "--as-of", "2025-12-31"]);
    assert!(
        text(&again.stdout).contains("0 new, 0 changed"),
        "{}",
        text(&again.stdout)
    );

    // A waiver is kept with who and why, and survives re-evaluation.
    let out = sample(&db, &["findings", "--rule", "R1", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = v
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["case_no"] == "稻市监罚〔2025〕45号")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let w = sample(
        &db,
        &[
            "waive",
            &id.to_string(),
            "--reason",
            "已线下移送，平台故障",
            "--by",
            "李四",
        ],
    );
    assert!(w.status.success(), "{}", text(&w.stderr));
    assert!(
        sample(&db, &["evaluate", "--as-of", "2026-01-05"])
            .status
            .success()
    );
    let out = sample(
        &db,
        &["findings", "--all", "--rule", "R1", "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = v
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap();
    assert_eq!(f["state"], "waived");
    assert_eq!(f["waived_by"], "李四");
    let twice = sample(&db, &["waive", &id.to_string(), "--reason", "again"]);
    assert_eq!(twice.status.code(), Some(2));
}

#[test]
fn a_recommendation_is_recorded_answered_later_and_evaluated_as_r7() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let rec = |extra: &[&str]| {
        let mut args = vec!["record", "recommendation", "--unit", "县市场监管局"];
        args.extend_from_slice(extra);
        sample(&db, &args)
    };
    let out = rec(&[
        "--no",
        "稻检行建〔2025〕9号",
        "--case",
        "稻市监罚〔2025〕12号",
        "--received",
        "2025-08-01",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // 2025-10-01 is National Day: the reply is due on the next working day.
    assert!(
        text(&out.stdout).contains("reply due 2025-10-09"),
        "{}",
        text(&out.stdout)
    );
    let findings = |as_of: &str| {
        let e = sample(&db, &["evaluate", "--as-of", as_of]);
        assert!(e.status.success(), "{}", text(&e.stderr));
        let f = sample(
            &db,
            &[
                "findings", "--all", "--rule", "R7", "--as-of", as_of, "--format", "json",
            ],
        );
        let v: serde_json::Value = serde_json::from_slice(&f.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .filter(|f| f["case_no"] == "稻检行建〔2025〕9号")
            .map(|f| f["state"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(findings("2025-10-08"), ["due_soon"]);
    assert_eq!(findings("2025-10-10"), ["overdue"]);
    // The reply, recorded later under the same number written differently.
    let out = rec(&["--no", "稻检行建(2025)9号", "--replied", "2025-10-12"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("updated recommendation 稻检行建〔2025〕9号"));
    assert_eq!(findings("2025-10-20"), ["resolved"]);
    // Bad input is a usage error that names what is wrong.
    let out = rec(&["--no", "稻检行建〔2025〕10号"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--received"));
    let out = rec(&["--no", "稻检行建〔2025〕10号", "--received", "2025-13-01"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--received \"2025-13-01\" is not a date"));
}

#[test]
fn a_calendar_overlay_moves_deadlines_and_a_year_without_a_table_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let bad = write(
        dir.path(),
        "bad.toml",
        "[calendar.2027]\noff = [\"2027-02-30\"]\n",
    );
    let out = with_config(&bad, &["check-config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("calendar") && text(&out.stderr).contains("2027-02-30"),
        "{}",
        text(&out.stderr)
    );
    // Without an overlay, 2027 has no table: status says so.
    let out = sample(&db, &["status", "--as-of", "2027-03-01"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("warning: no holiday table for 2027"));
    let out = sample(&db, &["status", "--as-of", "2026-03-01"]);
    assert!(!text(&out.stdout).contains("no holiday table"));
    // A local holiday (e.g. 藏历新年) from the overlay moves a recommendation's reply.
    let overlay = write(
        dir.path(),
        "local.toml",
        "[2025]\nsource = \"local\"\noff = [\"2025-10-09..2025-10-10\"]\n",
    );
    let out = bin()
        .current_dir(repo())
        .args(["--config", "config/liandong.toml"])
        .args([
            "record",
            "recommendation",
            "--unit",
            "scjg",
            "--no",
            "稻检行建〔2025〕11号",
            "--received",
            "2025-08-01",
        ])
        .env("LIANDONG__STORE__URL", format!("sqlite://{}", db.display()))
        .env(
            "LIANDONG__CALENDAR__FILES",
            format!("[\"{}\"]", overlay.display()),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("reply due 2025-10-11"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn reviews_meetings_and_trainings_are_recorded_and_a_review_needs_two_reviewers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let ok = |args: &[&str]| {
        let out = sample(&db, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let out = ok(&[
        "record",
        "review",
        "--unit",
        "scjg",
        "--case",
        "稻市监罚〔2025〕12号",
        "--date",
        "2025-08-12",
        "--reviewers",
        "张三、李四",
        "--score",
        "92.5",
        "--grade",
        "优秀",
    ]);
    assert!(
        out.starts_with("recorded review of 稻市监罚〔2025〕12号"),
        "{out}"
    );
    let bad = sample(
        &db,
        &[
            "record",
            "review",
            "--unit",
            "scjg",
            "--case",
            "稻市监罚〔2025〕13号",
            "--date",
            "2025-08-12",
            "--reviewers",
            "张三",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("at least two reviewers"));
    // The meeting is organised by the liaison office unless --unit says otherwise.
    let out = ok(&[
        "record",
        "meeting",
        "--date",
        "2025-03-12",
        "--minutes",
        "稻府检纪〔2025〕1号",
    ]);
    assert!(
        out.contains("meeting-2025-03-12 (稻城县府检联动办公室)"),
        "{out}"
    );
    ok(&[
        "record",
        "training",
        "--date",
        "2025-06-05",
        "--unit",
        "县交通局",
    ]);
    let events = ok(&["cases", "--feed", "events", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&events).unwrap();
    let kinds: Vec<(&str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["unit_id"].as_str().unwrap()))
        .collect();
    // Listed by unit id: fjld before jtys.
    assert_eq!(kinds, [("meeting", "fjld"), ("training", "jtys")]);
    // Without --grade, the score decides it (≥ 90 优秀, ≥ 60 合格).
    ok(&[
        "record",
        "review",
        "--unit",
        "scjg",
        "--case",
        "稻市监罚〔2025〕15号",
        "--date",
        "2025-08-13",
        "--reviewers",
        "张三 李四",
        "--score",
        "85",
    ]);
    let reviews = ok(&["cases", "--feed", "reviews", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&reviews).unwrap();
    assert_eq!(v[0]["score"], 92.5);
    assert_eq!(v[0]["reviewers"], "张三、李四");
    assert_eq!(v[1]["grade"], "合格");
}

#[test]
fn a_sample_draw_is_recorded_and_verify_says_when_its_population_changed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    assert!(sample(&db, &["sync"]).status.success());
    let draw = |format: &str| {
        sample(
            &db,
            &[
                "sample",
                "draw",
                "--unit",
                "县市场监管局",
                "--quarter",
                "2025Q4",
                "--seed",
                "demo",
                "--as-of",
                "2025-12-31",
                "--format",
                format,
            ],
        )
    };
    let out = draw("json");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (a["population"].as_u64(), a["target"].as_u64()),
        (Some(23), Some(3))
    );
    let b: serde_json::Value = serde_json::from_slice(&draw("json").stdout).unwrap();
    assert_eq!(a["files"], b["files"], "the same seed draws the same files");
    // The worksheet to print and fill in.
    let sheet = dir.path().join("draw.xlsx");
    let out = sample(
        &db,
        &[
            "sample",
            "draw",
            "--unit",
            "scjg",
            "--quarter",
            "2025Q4",
            "--seed",
            "demo",
            "--as-of",
            "2025-12-31",
            "--xlsx",
            sheet.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    use calamine::Reader as _;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&sheet).unwrap();
    assert_eq!(book.sheet_names(), ["抽查清单"]);
    let range = book.worksheet_range("抽查清单").unwrap();
    let cell = |r: u32, c: u32| {
        range
            .get_value((r, c))
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    assert!(
        cell(0, 0).contains("稻城县市场监督管理局 2025年第四季度"),
        "{}",
        cell(0, 0)
    );
    assert!(cell(1, 0).contains("随机种子 demo"));
    assert_eq!(cell(3, 1), "案号");
    let first = a["files"][0]["case_no"].as_str().unwrap();
    assert_eq!(cell(4, 1), first);
    assert_eq!(cell(6, 0), "3");
    assert_eq!(cell(7, 1), "", "three files, then the signatures");
    let verify = sample(
        &db,
        &["sample", "verify", "--unit", "scjg", "--quarter", "2025Q4"],
    );
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
    assert!(text(&verify.stdout).contains("confirmed"));
    // A file of the population reviewed in an earlier quarter leaves the year-to-date population.
    let reviewed = sample(
        &db,
        &[
            "record",
            "review",
            "--unit",
            "scjg",
            "--case",
            "稻市监罚〔2025〕12号",
            "--date",
            "2025-05-01",
            "--reviewers",
            "甲 乙",
        ],
    );
    assert!(reviewed.status.success(), "{}", text(&reviewed.stderr));
    let verify = sample(
        &db,
        &["sample", "verify", "--unit", "scjg", "--quarter", "2025Q4"],
    );
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        text(&verify.stdout).contains("removed 稻市监罚[2025]12号"),
        "{}",
        text(&verify.stdout)
    );
    let none = sample(
        &db,
        &["sample", "verify", "--unit", "jtys", "--quarter", "2025Q4"],
    );
    assert_eq!(none.status.code(), Some(2));
}

/// The founding notice (稻府发〔2024〕5号 二(一)3): reviews "以'随机抽查'和'重点检查'相结合的方式".
/// On the sample county the evaluation makes six of 县市场监管局's 23 files focused picks (a major
/// penalty, open R1–R3/R6 findings); at 20 % the target is 5, fewer than the focused files.
#[test]
fn a_sample_whose_focused_files_exceed_the_target_holds_random_ones_and_verify_replays_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    assert!(sample(&db, &["sync"]).status.success());
    assert!(
        sample(&db, &["evaluate", "--as-of", "2025-12-31"])
            .status
            .success()
    );
    let sheet = dir.path().join("draw.xlsx");
    let draw = |focus: &str| {
        let out = sample_with(
            &db,
            &[
                ("LIANDONG__OBLIGATIONS__REVIEW_RATIO_PERCENT", "20"),
                ("LIANDONG__OBLIGATIONS__FOCUS_MAX_PERCENT", focus),
            ],
            &[
                "sample",
                "draw",
                "--unit",
                "scjg",
                "--quarter",
                "2025Q4",
                "--seed",
                "mixed",
                "--as-of",
                "2025-12-31",
                "--format",
                "json",
                "--xlsx",
                sheet.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let kinds = |v: &serde_json::Value| -> Vec<bool> {
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["focused"].as_bool().unwrap())
            .collect()
    };
    // At 100 % focused picks take every place but one: so at least four are focused.
    let most = draw("100");
    assert_eq!(
        (most["population"].as_u64(), most["target"].as_u64()),
        (Some(23), Some(5))
    );
    assert_eq!(kinds(&most), [true, true, true, true, false]);
    // The default half, rounded down: two focused, three random.
    let half = draw("50");
    assert_eq!(half["focus_max_percent"], 50);
    assert_eq!(kinds(&half), [true, true, false, false, false]);
    assert_eq!(
        half["files"].as_array().unwrap()[..2],
        most["files"].as_array().unwrap()[..2],
        "the same best-ranked focused files lead"
    );
    // The worksheet says which is which, and the share.
    use calamine::Reader as _;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&sheet).unwrap();
    let range = book.worksheet_range("抽查清单").unwrap();
    let cell = |r: u32, c: u32| {
        range
            .get_value((r, c))
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    assert!(
        cell(1, 0).contains("抽取 5 件（不低于 20%，重点检查至多占 50%，其余随机抽查）"),
        "{}",
        cell(1, 0)
    );
    let how: Vec<String> = (4..9).map(|r| cell(r, 5)).collect();
    assert_eq!(
        how,
        ["重点检查", "重点检查", "随机抽查", "随机抽查", "随机抽查"]
    );
    assert_ne!(cell(4, 6), "按随机种子排序抽取", "a focus criterion");
    assert_eq!(cell(8, 6), "按随机种子排序抽取");
    // Verify replays the last draw with its own target and share, whatever the configuration
    // says now (the default 10 % and 50 %, or 0 %).
    for env in [
        &[][..],
        &[("LIANDONG__OBLIGATIONS__FOCUS_MAX_PERCENT", "0")][..],
    ] {
        let verify = sample_with(
            &db,
            env,
            &["sample", "verify", "--unit", "scjg", "--quarter", "2025Q4"],
        );
        assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stdout));
        assert!(text(&verify.stdout).contains("confirmed"));
    }
    let bad = sample_with(
        &db,
        &[("LIANDONG__OBLIGATIONS__FOCUS_MAX_PERCENT", "120")],
        &["check-config"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("obligations.focus_max_percent"));
}

#[test]
fn obligations_show_each_units_sampling_and_the_yearly_meeting() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    assert!(sample(&db, &["sync"]).status.success());
    let show = |as_of: &str| {
        let out = sample(&db, &["obligations", "--as-of", as_of, "--format", "json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let o = show("2025-09-20");
    assert_eq!(o["quarter"], "2025Q3");
    assert_eq!(o["meeting"]["state"], "pending");
    let scjg = &o["units"][0];
    assert_eq!(scjg["unit_id"], "scjg");
    assert!(scjg["sampling"]["population"].as_u64().unwrap() > 0);
    assert_eq!(show("2025-10-08")["meeting"]["state"], "remind");
    assert_eq!(show("2025-12-02")["meeting"]["state"], "slipping");
    let out = sample(
        &db,
        &[
            "record",
            "meeting",
            "--date",
            "2025-12-05",
            "--title",
            "年度会议",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let o = show("2025-12-06");
    assert_eq!(o["meeting"]["state"], "held");
    assert_eq!(o["meeting"]["held_on"][0], "2025-12-05");
    assert_eq!(o["training"]["state"], "slipping");
}

#[test]
fn an_evaluation_queues_its_notices_with_its_findings_and_notify_sends_them_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let mail = dir.path().join("mail");
    let run = |args: &[&str]| {
        bin()
            .current_dir(repo())
            .args(["--config", "config/liandong.toml"])
            .args(args)
            .env("LIANDONG__STORE__URL", format!("sqlite://{}", db.display()))
            .env("LIANDONG__NOTIFY__EMAIL__DIR", &mail)
            .env_remove("LIANDONG_CONFIG")
            .output()
            .unwrap()
    };
    assert!(run(&["sync"]).status.success());
    let ev = run(&["evaluate", "--as-of", "2025-10-13", "--queue-notices"]);
    assert!(ev.status.success(), "{}", text(&ev.stderr));
    assert!(
        text(&ev.stdout).contains("messages wait in the outbox"),
        "{}",
        text(&ev.stdout)
    );
    let pending = run(&["outbox", "--state", "pending", "--format", "json"]);
    let pending: Vec<serde_json::Value> = serde_json::from_slice(&pending.stdout).unwrap();
    assert!(
        pending.len() >= 4,
        "one digest per contact with something due: {pending:#?}"
    );
    // The liaison office's digest carries the escalations of every unit.
    assert!(
        pending
            .iter()
            .any(|m| m["address"] == "fjld@example.gov.cn")
    );
    let sent = run(&["notify", "--send-only", "--as-of", "2025-10-13"]);
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    assert!(
        text(&sent.stdout).contains(&format!("sent {}", pending.len())),
        "{}",
        text(&sent.stdout)
    );
    let files = std::fs::read_dir(&mail).unwrap().count();
    assert_eq!(files, pending.len());
    // What the evaluation queued is not queued again.
    let again = run(&["notify", "--as-of", "2025-10-13"]);
    assert!(
        text(&again.stdout).contains("0 messages queued"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(std::fs::read_dir(&mail).unwrap().count(), files);
}

#[test]
fn check_config_names_every_notification_problem() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    write(&templates, "digest.txt", "{% for %}");
    let cfg = write(
        dir.path(),
        "bad.toml",
        format!(
            r#"
[[units]]
id = "scjg"
name = "稻城县市场监督管理局"

[notify]
admin_emails = ["not an address"]
templates_dir = "{}"
[notify.stages.R42]
reminder_days = [1]
[notify.sms]
provider = "aliyun"
sign_name = "稻城县府检联动"
template_params = ["unit", "weather"]
[[notify.robots]]
name = "群"
kind = "wecom"
unit = "nobody"
[report]
schedule = "every monday"
recipients = ["nobody at all"]
"#,
            templates.display()
        ),
    );
    let o = bin()
        .arg("--config")
        .arg(&cfg)
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    for want in [
        "notify.admin_emails[0]",
        "notify.stages.R42",
        "notify.sms.key_id",
        "notify.sms.secret_file",
        "notify.sms.template",
        "notify.sms.template_params: unknown parameter \"weather\"",
        "notify.robots[0].unit",
        "notify.robots[0].url",
        "report.schedule",
        "report.recipients[0]",
    ] {
        assert!(err.contains(want), "{want} missing from:\n{err}");
    }
    // Otherwise valid: the broken template override is named.
    let cfg = write(
        dir.path(),
        "tpl.toml",
        format!("[notify]\ntemplates_dir = \"{}\"\n", templates.display()),
    );
    let o = bin()
        .arg("--config")
        .arg(&cfg)
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("digest.txt"),
        "{}",
        text(&o.stderr)
    );
}

/// `liandong sync` killed outright (SIGKILL) in the middle of a first load that had the store
/// to itself (rollback journal, pages already written into the database file): the next command
/// finds the load rolled back whole — no case, a consistent file, WAL mode — and the next sync
/// loads the whole file.
#[test]
fn a_first_load_killed_half_way_leaves_an_empty_store_and_the_next_sync_loads_it() {
    use std::fmt::Write as _;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    // About 34 MB of pages: more than the writer's page cache (16 MB, `WRITER_CACHE` in
    // src/store/sqlite.rs), so pages reach the database file while the load runs; were the
    // cache ever larger than that, the test says so ("ended before it could be interrupted").
    const CASES: usize = 120_000;
    let mut csv = String::from(
        "执法单位,案号,案件名称,当事人,证件号,案由,立案日期,处罚决定日期,结案日期,罚没金额(元),重大行政处罚,涉嫌犯罪,移送决定日期,更新时间\n",
    );
    for i in 1..=CASES {
        writeln!(
            csv,
            "稻城县市场监督管理局,稻市监罚〔2025〕{i}号,销售过期食品案,稻城县雪域商贸有限公司{i},,销售过期食品,2025-03-01,2025-03-20,2025-03-28,{}.50,否,否,,2025-03-28",
            i % 9000
        )
        .unwrap();
    }
    let csv = write(dir.path(), "cases.csv", csv);
    let cfg = write(
        dir.path(),
        "liandong.toml",
        format!(
            "[store]\nurl = \"sqlite://{}\"\n\n[[units]]\nid = \"scjg\"\nname = \"稻城县市场监督管理局\"\nkind = \"enforcement\"\n\n[[sources]]\nname = \"big\"\nkind = \"file\"\nfeeds = \"cases\"\npath = \"{}\"\n",
            db.display(),
            csv.display()
        ),
    );
    let liandong = |args: &[&str]| {
        let mut c = bin();
        c.args(["--config", cfg.to_str().unwrap()])
            .args(args)
            .env_remove("LIANDONG_CONFIG")
            .env_remove("LIANDONG__STORE__URL")
            .env_remove("RUST_LOG");
        c
    };
    let journal = dir.path().join("store.db-journal");

    let mut child = liandong(&["sync"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let written = std::fs::metadata(&db).map_or(0, |m| m.len());
        if journal.exists() && written > 8 << 20 {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the sync ended ({status}) before it could be interrupted: {written} bytes written"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no rollback journal and 8 MB in the file after 5 minutes ({written} bytes)"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(journal.exists(), "the killed load left its (hot) journal");

    // Any command opening the store rolls the load back.
    let out = liandong(&["cases", "--format", "csv"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "only the header line: no case"
    );
    assert!(!journal.exists(), "the journal was rolled back and removed");
    let check = |want_cases: i64| {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            use sqlx::Connection as _;
            let url = format!("sqlite://{}", db.display());
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            let ok: String = sqlx::query_scalar("PRAGMA integrity_check")
                .fetch_one(&mut c)
                .await
                .unwrap();
            assert_eq!(ok, "ok");
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut c)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
                .fetch_one(&mut c)
                .await
                .unwrap();
            assert_eq!(n, want_cases);
            c.close().await.unwrap();
        })
    };
    check(0);

    let out = liandong(&["sync"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    check(CASES as i64);
}

/// Rows of a query on a SQLite file whose one column is text (use `quote()` and `||`).
fn sqlite_rows(db: &Path, sql: &str) -> Vec<String> {
    let url = format!("sqlite://{}", db.display());
    let sql = sql.to_string();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            use sqlx::Connection as _;
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut c)
                .await
                .unwrap();
            c.close().await.unwrap();
            rows
        })
}

/// An exclusive first load (`liandong sync` into an empty store: rollback journal, indexes
/// built at commit) and the usual import of the same file (forced by another connection
/// holding the store open) store the same rows, quarantine the same bad ones and report the
/// same counts.
#[test]
fn an_exclusive_first_load_stores_what_the_usual_import_stores() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "cases.csv",
        "执法单位,案号,案件名称,当事人,证件号,案由,立案日期,处罚决定日期,结案日期,罚没金额(元),重大行政处罚,涉嫌犯罪,移送决定日期,更新时间\n\
         稻城县市场监督管理局,稻市监罚〔2025〕1号,销售过期食品案,张三,513337199001011234,销售过期食品,2025-03-01,2025-03-20,2025-03-28,1200.50,否,否,,2025-03-28 10:00\n\
         稻城县市场监督管理局,稻市监罚（２０２５）2号,无照经营案,\"雪域商贸, 有限公司\",,无照经营,2025/3/2,,,1.2万,是,是,2025-03-25,\n\
         稻城县自然资源局,稻自然资罚[2025]3号,非法采砂案,李四,,非法采砂,2025-04-01,2025-04-10,2025-04-12,0,否,否,,2025-04-12\n\
         稻城县自然资源局,稻自然资罚[2025]4号,非法占地案,王五,,非法占地,不是日期,2025-04-10,2025-04-12,100,否,否,,\n\
         某未配置单位,某罚〔2025〕5号,其他案,赵六,,其他,2025-05-01,2025-05-02,2025-05-03,5,否,否,,\n",
    );
    let store = |name: &str| dir.path().join(name);
    let config = |db: &Path| {
        write(
            dir.path(),
            &format!("{}.toml", db.file_stem().unwrap().to_string_lossy()),
            format!(
                "[store]\nurl = \"sqlite://{}\"\n\n[[units]]\nid = \"scjg\"\nname = \"稻城县市场监督管理局\"\nkind = \"enforcement\"\n\n[[units]]\nid = \"zrzy\"\nname = \"稻城县自然资源局\"\nkind = \"enforcement\"\n\n[[sources]]\nname = \"cases\"\nkind = \"file\"\nfeeds = \"cases\"\npath = \"{}\"\n",
                db.display(),
                csv.display()
            ),
        )
    };
    let liandong = |cfg: &Path, args: &[&str]| {
        bin()
            .args(["--config", cfg.to_str().unwrap(), "--log", "debug"])
            .args(args)
            .env_remove("LIANDONG_CONFIG")
            .env_remove("LIANDONG__STORE__URL")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };

    // The store to itself.
    let direct = store("direct.db");
    let direct_cfg = config(&direct);
    let out = liandong(&direct_cfg, &["sync"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("first load into an empty store, in rollback-journal mode"),
        "{}",
        text(&out.stderr)
    );
    let direct_summary = text(&out.stdout);

    // The usual import: the store is open elsewhere, so the first load gives way.
    let usual = store("usual.db");
    let usual_cfg = config(&usual);
    let out = liandong(&usual_cfg, &["migrate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let holder_rt = tokio::runtime::Runtime::new().unwrap();
    let holder = holder_rt.block_on(async {
        use sqlx::Connection as _;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", usual.display()))
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 0);
        c
    });
    let out = liandong(&usual_cfg, &["sync"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = text(&out.stderr);
    assert!(
        log.contains("another connection has the store open: the first load runs in WAL mode")
            && !log.contains("first load into an empty store, in rollback-journal mode"),
        "{log}"
    );
    holder_rt.block_on(async {
        use sqlx::Connection as _;
        holder.close().await.unwrap();
    });
    assert_eq!(text(&out.stdout), direct_summary);

    let rows = sqlite_rows;
    // Everything but the bookkeeping times (the two runs ran at different seconds).
    let cases = "SELECT quote(id)||'|'||quote(unit_id)||'|'||quote(unit_known)||'|'||quote(case_key)||'|'||quote(case_no)||'|'||\
                 quote(title)||'|'||quote(party)||'|'||quote(party_id)||'|'||quote(cause)||'|'||quote(filed_on)||'|'||\
                 quote(decided_on)||'|'||quote(closed_on)||'|'||quote(amount)||'|'||quote(major)||'|'||\
                 quote(suspected_crime)||'|'||quote(transfer_decided_on)||'|'||quote(updated_at)||'|'||\
                 quote(fingerprint)||'|'||quote(source)||'|'||quote(rev)||'|'||quote(first_seen_at = changed_at) \
                 FROM cases ORDER BY id";
    let quarantine = "SELECT quote(source)||'|'||quote(location)||'|'||quote(row_no)||'|'||quote(field)||'|'||\
                      quote(column_name)||'|'||quote(value)||'|'||quote(reason)||'|'||quote(raw) FROM quarantine ORDER BY id";
    let direct_cases = rows(&direct, cases);
    assert_eq!(direct_cases.len(), 4, "{direct_cases:#?}");
    assert_eq!(direct_cases, rows(&usual, cases));
    let direct_quarantine = rows(&direct, quarantine);
    assert_eq!(direct_quarantine.len(), 1, "{direct_quarantine:#?}");
    assert!(
        direct_quarantine[0].contains("filed_on"),
        "{direct_quarantine:#?}"
    );
    assert_eq!(direct_quarantine, rows(&usual, quarantine));
    for db in [&direct, &usual] {
        assert_eq!(rows(db, "PRAGMA journal_mode"), vec!["wal"]);
        assert_eq!(rows(db, "PRAGMA integrity_check"), vec!["ok"]);
        assert!(!db.with_extension("db-journal").exists());
    }
    // The indexes the load built are all there, and the next sync finds nothing changed.
    assert_eq!(
        rows(
            &direct,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cases' AND sql IS NOT NULL ORDER BY name"
        ),
        rows(
            &usual,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cases' AND sql IS NOT NULL ORDER BY name"
        ),
    );
    let out = liandong(&direct_cfg, &["sync"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        rows(&direct, "SELECT quote(count(*)) FROM record_history"),
        vec!["0"]
    );
    assert_eq!(rows(&direct, cases), direct_cases);
}

/// A first load whose file lists a case twice folds the later row into the first as an update
/// with its history entry.
#[test]
fn a_first_load_listing_a_case_twice_folds_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let csv = write(
        dir.path(),
        "cases.csv",
        "执法单位,案号,案件名称,罚没金额(元)\n\
         稻城县市场监督管理局,稻市监罚〔2025〕1号,销售过期食品案,100\n\
         稻城县市场监督管理局,稻市监罚〔2025〕2号,无照经营案,200\n\
         稻城县市场监督管理局,稻市监罚[2025]1号,销售过期食品案,150\n",
    );
    let cfg = write(
        dir.path(),
        "liandong.toml",
        format!(
            "[store]\nurl = \"sqlite://{}\"\n\n[[units]]\nid = \"scjg\"\nname = \"稻城县市场监督管理局\"\nkind = \"enforcement\"\n\n[[sources]]\nname = \"cases\"\nkind = \"file\"\nfeeds = \"cases\"\npath = \"{}\"\n",
            db.display(),
            csv.display()
        ),
    );
    let out = bin()
        .args(["--config", cfg.to_str().unwrap(), "--log", "debug", "sync"])
        .env_remove("LIANDONG_CONFIG")
        .env_remove("LIANDONG__STORE__URL")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        sqlite_rows(
            &db,
            "SELECT case_no || '|' || amount FROM cases ORDER BY id"
        ),
        vec!["稻市监罚[2025]1号|15000", "稻市监罚〔2025〕2号|20000"]
    );
    assert_eq!(
        sqlite_rows(&db, "SELECT quote(count(*)) FROM record_history"),
        vec!["1"]
    );
    assert_eq!(sqlite_rows(&db, "PRAGMA journal_mode"), vec!["wal"]);
}

/// Per unit id: (open, overdue) of a `findings --format json` listing.
fn open_and_overdue(listing: &serde_json::Value) -> std::collections::BTreeMap<String, (i64, i64)> {
    let mut out = std::collections::BTreeMap::new();
    for f in listing.as_array().unwrap() {
        let e = out
            .entry(f["unit_id"].as_str().unwrap().to_string())
            .or_insert((0, 0));
        e.0 += 1;
        e.1 += i64::from(f["state"] == "overdue");
    }
    out
}

/// A first installation: the store learns today of deadlines missed months ago. The README's
/// main command mails a weekly report that counts them — its totals are the findings as they
/// stood at the report's time (Monday's slot, 09:00), not the empty report a filter by "first
/// seen" gave.
#[test]
fn the_readme_command_mails_a_report_whose_totals_are_the_findings_at_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let (db, mail) = (dir.path().join("first.db"), dir.path().join("mail"));
    let run = |args: &[&str]| {
        bin()
            .current_dir(repo())
            .args(["--config", "config/liandong.toml"])
            .args(args)
            .env("LIANDONG__STORE__URL", format!("sqlite://{}", db.display()))
            .env("LIANDONG__NOTIFY__EMAIL__DIR", &mail)
            .env_remove("LIANDONG_CONFIG")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let out = run(&["run", "--once", "--as-of", "2025-12-31"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // One line per job, nothing logged twice, and what the cycle found and where the mail is.
    let stdout = text(&out.stdout);
    for job in [
        "sync:scjg-cases",
        "evaluate",
        "notify",
        "report:weekly",
        "alerts",
    ] {
        let lines = stdout
            .lines()
            .filter(|l| l.starts_with(&format!("{job} ")))
            .count();
        assert_eq!(lines, 1, "{job}: {stdout}");
    }
    assert!(
        !text(&out.stderr).contains(" INFO "),
        "{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("open findings") && stdout.contains("units lag: 稻城县"),
        "{stdout}"
    );
    assert!(stdout.contains(&mail.display().to_string()), "{stdout}");

    // The one report mail, and how many units it says lag.
    let subjects: Vec<String> = std::fs::read_dir(&mail)
        .unwrap()
        .map(|e| {
            let raw = std::fs::read(e.unwrap().path()).unwrap();
            let m = mailparse::parse_mail(&raw).unwrap();
            m.headers
                .iter()
                .find(|h| h.get_key_ref().eq_ignore_ascii_case("subject"))
                .map(|h| h.get_value())
                .unwrap_or_default()
        })
        .filter(|s| s.contains("落后单位周报"))
        .collect();
    assert_eq!(subjects.len(), 1, "{subjects:?}");

    // The report of the Monday slot the cycle sent, and one as of the cycle's own day: each
    // counts, per unit, the open and overdue findings `findings` lists for its time.
    let slot = "2025-12-29T09:00:00+08:00";
    for (at, mailed) in [(slot, true), ("2025-12-31", false)] {
        let o = run(&["report", "weekly", "--as-of", at, "--format", "json"]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let lagging = report["lagging"].as_i64().unwrap();
        assert!(lagging > 0, "{at}: {report}");
        if mailed {
            assert!(
                subjects[0].contains(&format!("{lagging}个单位落后")),
                "{} / {report}",
                subjects[0]
            );
        }
        let o = run(&["findings", "--as-of", at, "--format", "json"]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let findings = open_and_overdue(&serde_json::from_slice(&o.stdout).unwrap());
        let reported: std::collections::BTreeMap<String, (i64, i64)> = report["units"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["open"].as_i64() > Some(0))
            .map(|u| {
                (
                    u["unit_id"].as_str().unwrap().to_string(),
                    (u["open"].as_i64().unwrap(), u["overdue"].as_i64().unwrap()),
                )
            })
            .collect();
        assert!(!reported.is_empty(), "{at}: {report}");
        assert_eq!(reported, findings, "{at}: {report}");
    }
}

/// Evaluating for an earlier day after a later one shows each finding as it stood then: one
/// that had not arisen is not there (not `resolved`), one the data met only later is open.
#[test]
fn an_evaluation_for_an_earlier_day_shows_each_finding_as_it_stood_then() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("replay.db");
    let o = sample(&db, &["sync"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let listing = |as_of: &str| states_at(&db, as_of);
    let (early, late) = ("2025-08-01", "2025-12-31");
    assert!(sample(&db, &["evaluate", "--as-of", late]).status.success());
    let at_late = listing(late);
    // Evaluated fresh for the early day, in a store of its own: the reference.
    let fresh = dir.path().join("fresh.db");
    assert!(sample(&fresh, &["sync"]).status.success());
    assert!(
        sample(&fresh, &["evaluate", "--as-of", early])
            .status
            .success()
    );
    let reference = states_at(&fresh, early);
    assert!(!reference.is_empty());
    assert!(
        at_late.len() > reference.len(),
        "findings arise after {early}"
    );

    // The early day after the late one: exactly the fresh store's view of it.
    let o = sample(&db, &["evaluate", "--as-of", early]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(listing(early), reference);
    // And the late day again: as before.
    assert!(sample(&db, &["evaluate", "--as-of", late]).status.success());
    assert_eq!(listing(late), at_late);
}

/// Secrets written where they work but should not be (issue 22): a password inside the store
/// URL and a robot webhook written inline are named by `check-config` (a warning, exit 0) and by
/// `status`, never with the secret itself; a schedule that never fires is refused.
#[test]
fn secrets_written_inline_are_warned_of_and_a_schedule_that_never_fires_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = "[[units]]\nid = \"scjg\"\nname = \"稻城县市场监督管理局\"\n\
                [[notify.robots]]\nname = \"市场监管群\"\nkind = \"wecom\"\nunit = \"scjg\"\n\
                url = \"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=robot-key-4711\"\n";
    let f = write(
        dir.path(),
        "inline.toml",
        format!("[store]\nurl = \"postgres://liandong:pw-s3cret@127.0.0.1:1/x\"\n{base}"),
    );
    let out = with_config(&f, &["check-config"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "warning: {}: store.url: holds a password",
            f.display()
        )) && stderr.contains(&format!(
            "warning: {}: notify.robots[0] (市场监管群): the webhook is written inline",
            f.display()
        )),
        "{stderr}"
    );
    for secret in ["pw-s3cret", "robot-key-4711"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret}: {stdout}{stderr}"
        );
    }

    // status shows the robot's warning too (a SQLite store: no password to warn of).
    let db = dir.path().join("s.db");
    let f = write(
        dir.path(),
        "status.toml",
        format!("[store]\nurl = \"sqlite://{}\"\n{base}", db.display()),
    );
    let out = with_config(&f, &["status"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("warning: {}: notify.robots[0]", f.display())),
        "{stdout}"
    );
    assert!(!stdout.contains("robot-key-4711"), "{stdout}");

    let f = write(
        dir.path(),
        "never.toml",
        format!(
            "[store]\nurl = \"sqlite://{}\"\n{base}[run]\nevaluate_schedule = \"0 0 0 31 2 *\"\n",
            db.display()
        ),
    );
    let out = with_config(&f, &["check-config"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("run.evaluate_schedule") && stderr.contains("never fires"),
        "{stderr}"
    );
}

/// The ID and mobile numbers in `tests/data/hostile/`: none may be shown whole.
const HOSTILE_NUMBERS: [&str; 5] = [
    "513337199001019026",
    "51333719900101902X",
    "13800138000",
    "13912345678",
    "513337199001019027",
];

/// The hostile drop of `tests/data/hostile/` (IDs and mobiles inside parties and titles, an ID
/// in a date column, formulas as party, case numbers and unit) synced by the binary into a
/// store in a temporary folder, with a third source whose path names an ID (it fails, and its
/// error quotes the path). Returns the folder and a runner of the binary on it.
fn hostile_store() -> (tempfile::TempDir, impl Fn(&[&str]) -> Output) {
    let dir = tempfile::tempdir().unwrap();
    let data = repo().join("tests/data/hostile");
    for f in ["cases.csv", "referrals.csv"] {
        std::fs::copy(data.join(f), dir.path().join(f)).unwrap();
    }
    let cfg = write(
        dir.path(),
        "l.toml",
        format!(
            "[store]\nurl = \"sqlite://{d}/x.db\"\n[[units]]\nid = \"scjg\"\nname = \"稻城县市场监督管理局\"\naliases = [\"县市场监管局\"]\nkind = \"enforcement\"\n\
             [[sources]]\nname = \"hostile\"\npath = \"{d}/cases.csv\"\n\
             [[sources]]\nname = \"platform\"\nfeeds = \"referrals\"\npath = \"{d}/referrals.csv\"\n\
             [[sources]]\nname = \"gone\"\npath = \"{d}/李四513337199001019027.csv\"\n",
            d = dir.path().display(),
        ),
    );
    let run = move |args: &[&str]| {
        bin()
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .env_remove("LIANDONG_CONFIG")
            .env("RUST_LOG", "liandong=trace")
            .output()
            .unwrap()
    };
    (dir, run)
}

/// What a command printed, both streams, checked to hold no whole ID or mobile number.
fn shown_masked(what: &str, out: &Output) -> String {
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    for n in HOSTILE_NUMBERS {
        assert!(!all.contains(n), "{what} shows {n} whole:\n{all}");
    }
    all
}

#[test]
fn cases_status_findings_and_logs_mask_id_and_mobile_numbers_inside_text() {
    let (dir, run) = hostile_store();
    let sync = run(&["sync"]);
    assert_eq!(sync.status.code(), Some(1), "the source `gone` fails");
    let log = shown_masked("sync", &sync);
    assert!(log.contains("李四513337********9027"), "{log}");

    let table = shown_masked("cases", &run(&["cases"]));
    assert!(
        table.contains("李四（身份证513337********9026）")
            && table.contains("销售过期食品案（联系电话138****8000）"),
        "{table}"
    );
    let json = run(&["cases", "--format", "json"]);
    shown_masked("cases --format json", &json);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let li = v
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["case_no"] == "稻市监罚〔2025〕1号")
        .unwrap();
    assert_eq!(li["party"], "李四（身份证513337********9026）");
    assert_eq!(li["title"], "销售过期食品案（联系电话138****8000）");
    assert_eq!(li["party_id"], "513337********9026");
    assert_eq!(li["amount"], 86400.0, "amounts are no ID: {li}");
    let csv = shown_masked("cases --format csv", &run(&["cases", "--format", "csv"]));
    assert!(csv.contains(",李四（身份证513337********9026）,"), "{csv}");

    for args in [&["status"][..], &["status", "--format", "json"]] {
        let s = shown_masked(&args.join(" "), &run(args));
        // The ID that landed in the date column: its quarantine value and reason, masked.
        assert!(s.contains("513337********902X"), "{s}");
        assert!(
            s.contains("李四513337********9027"),
            "the failed source: {s}"
        );
    }

    assert!(run(&["evaluate"]).status.success());
    for format in ["table", "json", "csv"] {
        let f = shown_masked("findings", &run(&["findings", "--all", "--format", format]));
        // R3 quotes both parties in its facts (the table cuts them after the first).
        assert!(
            f.contains("李四（身份证513337********9026）"),
            "{format}: {f}"
        );
        assert!(
            format == "table" || f.contains("李四（电话139****5678）"),
            "{format}: {f}"
        );
    }

    // A department changes the party: the stored record keeps what it sent; the history and the
    // quarantine hold no whole number.
    let cases = dir.path().join("cases.csv");
    let body = std::fs::read_to_string(&cases).unwrap().replace(
        "李四（身份证513337199001019026）",
        "李四（身份证513337199001019026，电话13800138000）",
    );
    std::fs::write(&cases, body).unwrap();
    shown_masked("the second sync", &run(&["sync"]));
    let db = dir.path().join("x.db");
    let history = sqlite_rows(&db, "SELECT changes FROM record_history");
    assert_eq!(history.len(), 1, "{history:?}");
    assert!(
        history[0].contains("513337********9026，电话138****8000"),
        "{history:?}"
    );
    let quarantine = sqlite_rows(
        &db,
        "SELECT value || ' ' || reason || ' ' || raw FROM quarantine",
    );
    assert!(!quarantine.is_empty());
    for stored in history.iter().chain(&quarantine) {
        for n in HOSTILE_NUMBERS {
            assert!(!stored.contains(n), "stored whole: {stored}");
        }
    }
    let party = sqlite_rows(&db, "SELECT party FROM cases WHERE party LIKE '李四%'");
    assert_eq!(
        party,
        ["李四（身份证513337199001019026，电话13800138000）"],
        "the store keeps what the department sent"
    );
}

/// The cells of a CSV listing (after the BOM), row by row.
fn csv_cells(out: &Output) -> Vec<Vec<String>> {
    let body = text(&out.stdout);
    let body = body.strip_prefix('\u{feff}').unwrap_or(&body).to_string();
    csv::Reader::from_reader(body.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[test]
fn csv_output_neutralises_formula_cells_of_cases_and_findings() {
    let (_dir, run) = hostile_store();
    run(&["sync"]);
    let cases = run(&["cases", "--format", "csv"]);
    assert!(cases.status.success(), "{}", text(&cases.stderr));
    let rows = csv_cells(&cases);
    let cell = |col: usize, starts: &str| {
        rows.iter()
            .map(|r| r[col].clone())
            .find(|c| c.trim_start_matches('\'').starts_with(starts))
            .unwrap_or_else(|| panic!("no cell {starts} in {rows:?}"))
    };
    // unit, case_no, title, party, … (the header of `cases --feed cases`)
    assert_eq!(
        cell(3, "=HYPERLINK"),
        r#"'=HYPERLINK("http://evil.example/x","点我")"#
    );
    assert_eq!(cell(1, "+稻市监罚"), "'+稻市监罚〔2025〕3号");
    assert_eq!(cell(1, "@稻市监罚"), "'@稻市监罚〔2025〕4号");
    assert_eq!(
        cell(0, "=1+2"),
        "'=1+2",
        "an unknown unit is outside text too"
    );
    // A negative amount is refused at ingest (issue 22 item 9): that row is quarantined.
    assert!(
        !rows.iter().any(|r| r[1] == "稻市监罚〔2025〕7号"),
        "{rows:?}"
    );
    for r in &rows {
        for c in r {
            assert!(
                !c.starts_with(['=', '+', '@', '\t', '\r', '-']),
                "formula cell {c:?}"
            );
        }
    }

    assert!(run(&["evaluate"]).status.success());
    let findings = run(&["findings", "--all", "--format", "csv"]);
    assert!(findings.status.success(), "{}", text(&findings.stderr));
    let rows = csv_cells(&findings);
    let nos: Vec<&str> = rows.iter().map(|r| r[3].as_str()).collect();
    assert!(
        nos.contains(&"'+稻市监罚〔2025〕3号") && nos.contains(&"'@稻市监罚〔2025〕4号"),
        "{nos:?}"
    );
    assert!(
        rows.iter()
            .flatten()
            .all(|c| !c.starts_with(['=', '+', '-', '@'])),
        "{rows:?}"
    );
}

/// Issue 22 item 9: a file that lists a case twice with different values — here 2,600 rows apart,
/// in different batches, with an ID number pasted into the case number — keeps the later row, as
/// always, and now says so: `sync` names the file, both rows, the case number (masked) and the
/// fields that differ; the log has it at warn; `status` lists it for the source; the daemon's
/// sync job sums it up. A case listed twice with the same values is not worth a word. The first
/// sync is a first load (an empty store), the second an ordinary import: both say the same.
#[test]
fn a_case_listed_twice_with_different_values_keeps_its_later_row_and_is_shown_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let id = "513337199001019026";
    let case = format!("稻市监罚〔2025〕{id}号");
    let mut body = String::from("执法单位,案号,案件名称,罚没金额(元)\n");
    body.push_str(&format!("稻城县市场监督管理局,{case},销售过期食品案,100\n"));
    for i in 2..=2600 {
        body.push_str(&format!(
            "稻城县市场监督管理局,稻市监罚〔2025〕{i}号,案{i},{i}\n"
        ));
    }
    body.push_str(&format!(
        "稻城县市场监督管理局,{case},销售过期食品及无照经营案,150\n"
    ));
    body.push_str("稻城县市场监督管理局,稻市监罚〔2025〕2号,案2,2\n");
    let csv = write(dir.path(), "cases.csv", &body);
    let cfg = write(
        dir.path(),
        "liandong.toml",
        format!(
            "[store]\nurl = \"sqlite://{}\"\n\n[[units]]\nid = \"scjg\"\nname = \"稻城县市场监督管理局\"\nkind = \"enforcement\"\n\n[[sources]]\nname = \"cases\"\nkind = \"file\"\nfeeds = \"cases\"\npath = \"{}\"\n",
            db.display(),
            csv.display()
        ),
    );
    let run = |args: &[&str]| {
        bin()
            .current_dir(dir.path())
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .env_remove("LIANDONG_CONFIG")
            .env_remove("RUST_LOG")
            .env_remove("LIANDONG__STORE__URL")
            .output()
            .unwrap()
    };
    let masked = "稻市监罚〔2025〕513337********9026号";
    let line = format!(
        "{}: rows 2 and 2602 list {masked} with different amount, title; the later row is kept",
        csv.display()
    );
    for (n, inserted, updated, unchanged) in [(1, 2600, 1, 1), (2, 0, 2, 2600)] {
        let out = run(&["sync"]);
        assert!(out.status.success(), "sync {n}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert_eq!(
            stdout.lines().skip(2).collect::<Vec<_>>(),
            [
                format!("cases   ok      2602  {inserted:<8}  {updated:<7}  {unchanged:<9}  0            0             1").as_str(),
                "cases: 1 row listed a case again with different values:",
                format!("  {line}").as_str(),
            ],
            "sync {n}:\n{stdout}"
        );
        let stderr = text(&out.stderr);
        let warn = stderr
            .lines()
            .find(|l| l.contains("WARN"))
            .unwrap_or_else(|| panic!("sync {n} logs no warning:\n{stderr}"));
        assert!(
            warn.ends_with(&format!(
                "WARN a case listed twice with different values: the later row is kept source=cases file={csv} row=2602 earlier_file={csv} earlier_row=2 case_no={masked} differs_in=amount, title",
                csv = csv.display()
            )),
            "sync {n}: {warn}"
        );
        assert_eq!(stderr.matches("WARN").count(), 1, "sync {n}:\n{stderr}");
        assert!(
            !stdout.contains(id) && !stderr.contains(id),
            "sync {n} shows the ID number"
        );
    }
    // The later row is what the store keeps.
    assert_eq!(
        sqlite_rows(
            &db,
            "SELECT amount || ' ' || title FROM cases WHERE case_no LIKE '%9026号'"
        ),
        ["15000 销售过期食品及无照经营案"]
    );

    let out = run(&["status"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status = text(&out.stdout);
    let table = status.lines().nth(2).unwrap();
    assert!(table.starts_with("cases   file  cases  ok"), "{status}");
    assert!(
        table.ends_with("2602  0         2        2600       0            1"),
        "{status}"
    );
    let listed: Vec<&str> = status
        .lines()
        .skip_while(|l| !l.starts_with("cases listed twice"))
        .collect();
    assert_eq!(listed.len(), 2, "{status}");
    assert_eq!(
        listed[0],
        "cases listed twice in one import with different values (newest first):"
    );
    assert!(
        listed[1].starts_with(&format!("  cases {line} (last seen 20")),
        "{status}"
    );
    assert!(!status.contains(id), "{status}");
    let out = run(&["status", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &json["repeats"];
    assert_eq!(r.as_array().map(Vec::len), Some(1), "{json}");
    let file = csv.display().to_string();
    assert_eq!(
        (
            &r[0]["source"],
            &r[0]["location"],
            &r[0]["row"],
            &r[0]["earlier_location"],
            &r[0]["earlier_row"],
            &r[0]["case_no"]
        ),
        (
            &json!("cases"),
            &json!(file),
            &json!(2602),
            &json!(file),
            &json!(2),
            &json!(masked)
        )
    );
    assert_eq!(
        r[0]["changes"],
        json!({"amount": [100.0, 150.0], "title": ["销售过期食品案", "销售过期食品及无照经营案"]})
    );
    assert_eq!(json["sources"][0]["last_run"]["repeated"], 1);
    assert_eq!(
        json["quarantine"],
        json!([]),
        "a repeat is not a quarantined row"
    );

    // The daemon's sync job says it in its summary (`run --once` prints each job's).
    let out = run(&["run", "--once"]);
    let stdout = text(&out.stdout);
    let job = stdout
        .lines()
        .find(|l| l.starts_with("sync:cases"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        job.ends_with("ok      2602 seen, 0 inserted, 2 updated, 2600 unchanged, 0 quarantined; 1 row listed a case again with different values (the later row is kept; see `liandong status`)"),
        "{job}"
    );
}

/// Issue 22 item 9: a configuration split across `liandong.toml` and `conf.d/` with problems in
/// every file and one in the environment. `check-config` lists them all in one run — the
/// missing drop folder and templates folder with the rest, not after the others are fixed — each
/// with the file (or variable) to fix, a source by its name (or its place in its file when its
/// name cannot say which), and exits 2. The daemon refuses it with the same problems.
#[test]
fn check_config_names_the_file_of_every_problem_and_reports_missing_folders_with_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    std::fs::create_dir(dir.path().join("existing")).unwrap();
    std::fs::create_dir(dir.path().join("conf.d")).unwrap();
    let main = write(
        dir.path(),
        "liandong.toml",
        format!(
            "[store]\nurl = \"sqlite://{d}/store.db\"\ncolour = \"red\"\n\n\
             [[units]]\nid = \"scjg\"\nname = \"稻城县市场监督管理局\"\nkind = \"enforcement\"\n\n\
             [[sources]]\nname = \"main\"\nkind = \"file\"\nfeeds = \"cases\"\npath = \"{d}/existing\"\n\n\
             [notify]\ntemplates_dir = \"{d}/no-templates\"\n"
        ),
    );
    write(
        &dir.path().join("conf.d"),
        "10-units.toml",
        "[[units]]\nid = \"zrzy\"\nname = \"稻城县自然资源局\"\nkind = \"enforcement\"\n\n\
         [[units]]\nid = \"Bad Id\"\nname = \"稻城县交通运输局\"\nkind = \"enforcement\"\n",
    );
    write(
        &dir.path().join("conf.d"),
        "20-sources.toml",
        format!(
            "[[sources]]\nname = \"z\"\nkind = \"sql\"\nbatch_size = \"many\"\n\n\
             [[sources]]\nname = \"x\"\nkind = \"file\"\nfeeds = \"cases\"\npath = \"{d}/drop\"\n\
             schedule = \"every hour\"\nencodng = \"gbk\"\n\n\
             [[sources]]\nname = \"y\"\nkind = \"http\"\nurl = \"ftp://x\"\nunit = \"nobody\"\n"
        ),
    );
    let run = |args: &[&str]| {
        bin()
            .arg("--config")
            .arg(&main)
            .args(args)
            .env("LIANDONG__RUN__LEASE_SECS", "2")
            .env_remove("LIANDONG_CONFIG")
            .env_remove("LIANDONG__STORE__URL")
            .output()
            .unwrap()
    };
    let out = run(&["check-config"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let (m, s, u) = (
        format!("{d}/liandong.toml"),
        format!("{d}/conf.d/20-sources.toml"),
        format!("{d}/conf.d/10-units.toml"),
    );
    let problems = [
        format!("{m}: store.colour: unknown key"),
        format!(
            "{s}: sources.z.batch_size: invalid type: string \"many\", expected u32 in `batch_size`"
        ),
        format!("{s}: sources.x.encodng: unknown key"),
        format!(
            "{u}: units[1].id: expected a short identifier of a-z, 0-9, '-' or '_', found \"Bad Id\""
        ),
        format!(
            "{s}: sources.x.schedule: not a six-field cron expression (seconds minutes hours day-of-month month day-of-week) such as \"0 */30 * * * *\": \"every hour\" (2 fields)"
        ),
        format!("{s}: sources.y.unit: no [[units]] entry has id or name \"nobody\""),
        format!("{s}: sources.y.url: not an http(s) URL: \"ftp://x\""),
        "LIANDONG__RUN__LEASE_SECS: run.lease_secs: must be from 10 to 86400 (a day)".to_string(),
        format!("{s}: sources.x.path: {d}/drop does not exist"),
        format!("{m}: notify.templates_dir: {d}/no-templates is not a folder"),
    ];
    let mut want = format!("the configuration has {} problems:\n", problems.len());
    for p in &problems {
        want.push_str(&format!("  - {p}\n"));
    }
    assert_eq!(text(&out.stderr), want);

    // The daemon refuses to start on it, naming the same problems (and exits 2).
    let out = run(&["run", "--once"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    for p in &problems {
        assert!(stderr.contains(p.as_str()), "missing {p:?} in:\n{stderr}");
    }
}
