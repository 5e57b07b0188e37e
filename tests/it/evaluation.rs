//! The evaluation engine against a real store (SQLite and PostgreSQL): an incremental pass
//! leaves the store exactly as a full pass would, whatever changed — new and changed cases and
//! platform records, numbers written differently, matches by party and date, rival cases, a
//! transfer withdrawn, the clock moving on — and a waiver outlives both kinds of pass.

use chrono::{DateTime, NaiveDate, Utc};
use liandong::config::Config;
use liandong::domain::case_no::CaseNo;
use liandong::evaluate::{Mode, evaluate};
use liandong::records::Field;
use liandong::records::{Feed, Record, Value};
use liandong::store::{FindingFilter, Store, StoredFinding};

use crate::common;

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// `YYYY-MM-DD` or `YYYY-MM-DD HH:MM`, Asia/Shanghai.
fn at(s: &str) -> DateTime<Utc> {
    liandong::cli::parse_as_of(s)
        .or_else(|_| liandong::cli::parse_as_of(&format!("{}:00+08:00", s.replace(' ', "T"))))
        .unwrap()
}

fn rec(feed: Feed, unit: &str, no: &str, fields: &[(&str, Value)]) -> Record {
    let mut r = Record {
        feed,
        unit_id: unit.into(),
        unit_known: true,
        case_no: CaseNo::parse(no).unwrap(),
        values: vec![Value::Null; feed.fields().len()],
    };
    for (name, v) in fields {
        let i = feed.field_index(name).unwrap();
        r.values[i] = v.clone();
    }
    r
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

/// A transfer decided on `decided`.
fn transfer(unit: &str, no: &str, party: &str, decided: &str, yuan: i64) -> Record {
    rec(
        Feed::Cases,
        unit,
        no,
        &[
            ("party", text(party)),
            ("cause", text("非法采矿")),
            ("suspected_crime", Value::Bool(true)),
            ("transfer_decided_on", Value::Date(day(decided))),
            ("amount", Value::Fen(yuan * 100)),
        ],
    )
}

fn referral(unit: &str, no: &str, party: &str, entered: &str, yuan: i64) -> Record {
    rec(
        Feed::Referrals,
        unit,
        no,
        &[
            ("party", text(party)),
            ("entered_at", Value::DateTime(at(entered))),
            ("transferred_at", Value::DateTime(at(entered))),
            ("amount", Value::Fen(yuan * 100)),
        ],
    )
}

async fn put(store: &dyn Store, source: &str, records: Vec<Record>) {
    let mut imp = store.begin_import(source, common::now()).await.unwrap();
    for r in records {
        imp.put(vec![r]).await.unwrap();
    }
    imp.commit(None).await.unwrap();
}

/// Every finding with what a person sees of it.
async fn snapshot(store: &dyn Store) -> Vec<(String, String, DateTime<Utc>, String)> {
    let all = store
        .findings(&FindingFilter {
            all: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut v: Vec<_> = all
        .into_iter()
        .map(|f: StoredFinding| (f.key, f.state.to_string(), f.due, f.facts.to_string()))
        .collect();
    v.sort();
    v
}

/// No sources (so R4, R5 and R9 are off) and one R6 threshold.
fn config(url: &str) -> Config {
    let mut cfg = common::config(url, vec![]);
    cfg.rules.r6_thresholds = vec![liandong::rules::R6Threshold {
        cause: "非法采矿".into(),
        amount_yuan: "5万".into(),
        article: "立案追诉标准（一）第68条".into(),
    }];
    cfg
}

/// A penalty decided on `decided`, without transfer.
fn penalty(unit: &str, no: &str, decided: &str, yuan: i64) -> Record {
    rec(
        Feed::Cases,
        unit,
        no,
        &[
            ("party", text("某公司")),
            ("cause", text("非法采矿")),
            ("decided_on", Value::Date(day(decided))),
            ("amount", Value::Fen(yuan * 100)),
        ],
    )
}

/// Runs an incremental pass at `now`, then checks that a full pass at the same time finds
/// nothing to change: the incremental pass had left the store as the full one would.
async fn step(cfg: &Config, store: &dyn Store, now: &str, what: &str) {
    let now = at(now);
    let inc = evaluate(cfg, store, now, false, None).await.unwrap();
    assert_eq!(inc.mode, Mode::Incremental, "{what}: an incremental pass");
    let before = snapshot(store).await;
    let full = evaluate(cfg, store, now, true, None).await.unwrap();
    assert_eq!(full.mode, Mode::Full);
    let c = full.changes;
    assert_eq!(
        (c.inserted, c.updated, c.gone),
        (0, 0, 0),
        "{what}: a full pass after the incremental one changed findings"
    );
    assert_eq!(snapshot(store).await, before, "{what}");
}

async fn open_findings(store: &dyn Store) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = store
        .findings(&FindingFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.key, f.state.to_string()))
        .collect();
    v.sort();
    v
}

async fn incremental_passes_leave_the_store_as_a_full_pass_would(store: &dyn Store, url: &str) {
    let cfg = config(url);
    // Day 0: two transfers, one on the platform.
    put(
        store,
        "cases",
        vec![
            transfer("scjg", "稻市监罚〔2025〕12号", "张三", "2025-09-30", 60_000),
            transfer("scjg", "稻市监罚〔2025〕13号", "李四", "2025-09-30", 10_000),
            transfer(
                "zrzy",
                "稻自然资罚〔2025〕5号",
                "王五",
                "2025-10-20",
                80_000,
            ),
            penalty("zrzy", "稻自然资罚〔2025〕2号", "2025-09-01", 60_000),
            penalty("zrzy", "稻自然资罚〔2025〕3号", "2025-09-02", 40_000),
        ],
    )
    .await;
    put(
        store,
        "platform",
        vec![{
            // The platform carries police decisions, so R10 applies to every referral.
            let mut r = referral(
                "scjg",
                "稻市监罚〔2025〕12号",
                "张三",
                "2025-10-09 10:00",
                60_000,
            );
            r.set(Field::PoliceDecision, text("立案"));
            r.set(Field::PoliceDecidedOn, Value::Date(day("2025-10-10")));
            r
        }],
    )
    .await;
    let first = evaluate(&cfg, store, at("2025-10-10"), false, None)
        .await
        .unwrap();
    assert_eq!(
        first.mode,
        Mode::Full,
        "the first evaluation is a full pass"
    );
    let again = evaluate(&cfg, store, at("2025-10-10"), false, None)
        .await
        .unwrap();
    assert_eq!(again.mode, Mode::Incremental);
    assert_eq!(
        (
            again.changes.inserted,
            again.changes.updated,
            again.changes.gone
        ),
        (0, 0, 0),
        "evaluating twice changes nothing"
    );

    let r6 = |no: &str| format!("R6|zrzy|稻自然资罚[2025]{no}号");
    let open = open_findings(store).await;
    assert!(open.contains(&(r6("2"), "overdue".into())), "{open:?}");
    assert!(!open.iter().any(|(k, _)| *k == r6("3")));
    // Amounts corrected: 2号 below the threshold, 3号 above it.
    put(
        store,
        "cases",
        vec![
            penalty("zrzy", "稻自然资罚〔2025〕2号", "2025-09-01", 40_000),
            penalty("zrzy", "稻自然资罚〔2025〕3号", "2025-09-02", 70_000),
        ],
    )
    .await;
    step(&cfg, store, "2025-10-10", "penalty amounts corrected").await;
    let open = open_findings(store).await;
    assert!(!open.iter().any(|(k, _)| *k == r6("2")), "{open:?}");
    assert!(open.contains(&(r6("3"), "overdue".into())), "{open:?}");

    // A review finds 2号 (now below the threshold) should have been transferred: R6 again, from
    // the review; then the review is corrected.
    let flag = |should: bool| {
        rec(
            Feed::Reviews,
            "zrzy",
            "稻自然资罚〔2025〕2号",
            &[
                ("reviewed_on", Value::Date(day("2025-10-09"))),
                ("reviewers", text("甲、乙")),
                ("should_transfer", Value::Bool(should)),
            ],
        )
    };
    put(store, "reviews", vec![flag(true)]).await;
    step(&cfg, store, "2025-10-10", "a review flags a file").await;
    let open = open_findings(store).await;
    assert!(open.contains(&(r6("2"), "overdue".into())), "{open:?}");
    put(store, "reviews", vec![flag(false)]).await;
    step(&cfg, store, "2025-10-10", "the review corrected").await;
    assert!(
        !open_findings(store)
            .await
            .iter()
            .any(|(k, _)| *k == r6("2"))
    );

    // The referral of 13号 arrives, its number written with other brackets and digit widths.
    put(
        store,
        "platform",
        vec![referral(
            "scjg",
            "稻市监罚（２０２５）第13号",
            "李四",
            "2025-10-11 09:00",
            10_000,
        )],
    )
    .await;
    step(
        &cfg,
        store,
        "2025-10-12",
        "a referral with another bracket style",
    )
    .await;
    let open = open_findings(store).await;
    assert!(
        !open.iter().any(|(k, _)| k == "R1|scjg|稻市监罚[2025]13号"),
        "R1 of 13号 resolved: {open:?}"
    );

    // A changed amount on the case: R3 mismatch for 12号.
    put(
        store,
        "cases",
        vec![transfer(
            "scjg",
            "稻市监罚〔2025〕12号",
            "张三",
            "2025-09-30",
            65_000,
        )],
    )
    .await;
    step(&cfg, store, "2025-10-12", "a changed case amount").await;
    assert!(
        open_findings(store)
            .await
            .contains(&("R3|scjg|稻市监罚[2025]12号".into(), "overdue".into()))
    );

    // A referral without a number, matched by party and date; then a rival case of the same
    // party makes it ambiguous; then the rival's transfer is withdrawn.
    put(
        store,
        "platform",
        vec![referral("zrzy", "无", "王五", "2025-10-22 09:00", 80_000)],
    )
    .await;
    step(
        &cfg,
        store,
        "2025-10-23",
        "a referral matched by party and date",
    )
    .await;
    let r1_5 = "R1|zrzy|稻自然资罚[2025]5号".to_string();
    assert!(!open_findings(store).await.iter().any(|(k, _)| *k == r1_5));
    put(
        store,
        "cases",
        vec![transfer(
            "zrzy",
            "稻自然资罚〔2025〕6号",
            "王五",
            "2025-10-21",
            1_000,
        )],
    )
    .await;
    step(
        &cfg,
        store,
        "2025-10-23",
        "a rival case makes the match ambiguous",
    )
    .await;
    assert!(
        open_findings(store).await.iter().any(|(k, _)| *k == r1_5),
        "ambiguous now: R1 of 5号 open again"
    );
    let mut withdrawn = transfer("zrzy", "稻自然资罚〔2025〕6号", "王五", "2025-10-21", 1_000);
    withdrawn.set(Field::TransferDecidedOn, Value::Null);
    withdrawn.set(Field::SuspectedCrime, Value::Bool(false));
    put(store, "cases", vec![withdrawn]).await;
    step(&cfg, store, "2025-10-23", "the rival's transfer withdrawn").await;
    assert!(!open_findings(store).await.iter().any(|(k, _)| *k == r1_5));

    // A referral filed under another unit carrying the case's number (stage 2, R3 by unit).
    put(
        store,
        "cases",
        vec![transfer(
            "jtys",
            "稻交运罚〔2025〕18号",
            "赵六",
            "2025-10-24",
            30_000,
        )],
    )
    .await;
    put(
        store,
        "platform",
        vec![referral(
            "nync",
            "稻交运罚〔2025〕18号",
            "赵六",
            "2025-10-27 09:00",
            30_000,
        )],
    )
    .await;
    step(&cfg, store, "2025-10-28", "a referral under another unit").await;
    assert!(
        open_findings(store)
            .await
            .contains(&("R3|jtys|稻交运罚[2025]18号".into(), "overdue".into()))
    );

    // Only the clock moves: a transfer decided later comes into view, deadlines pass.
    put(
        store,
        "cases",
        vec![transfer(
            "scjg",
            "稻市监罚〔2025〕40号",
            "孙七",
            "2025-11-03",
            2_000,
        )],
    )
    .await;
    step(
        &cfg,
        store,
        "2025-11-01",
        "a transfer decided after the as-of",
    )
    .await;
    assert!(
        !open_findings(store)
            .await
            .iter()
            .any(|(k, _)| k.contains("40号"))
    );
    step(&cfg, store, "2025-11-04", "the transfer's day has come").await;
    assert!(
        open_findings(store)
            .await
            .contains(&("R1|scjg|稻市监罚[2025]40号".into(), "due_soon".into()))
    );
    step(&cfg, store, "2025-11-20", "weeks later").await;
    assert!(
        open_findings(store)
            .await
            .contains(&("R1|scjg|稻市监罚[2025]40号".into(), "overdue".into()))
    );

    // A waiver outlives incremental and full passes.
    let f = store
        .findings(&FindingFilter::default())
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.key == "R1|scjg|稻市监罚[2025]40号")
        .unwrap();
    assert!(
        store
            .waive_finding(f.id, "tester", "测试", at("2025-11-20"))
            .await
            .unwrap()
    );
    put(
        store,
        "cases",
        vec![transfer(
            "scjg",
            "稻市监罚〔2025〕40号",
            "孙七",
            "2025-11-03",
            2_500,
        )],
    )
    .await;
    step(&cfg, store, "2025-11-21", "after a waiver").await;
    let all = snapshot(store).await;
    let waived = all
        .iter()
        .find(|(k, ..)| k == "R1|scjg|稻市监罚[2025]40号")
        .unwrap();
    assert_eq!(waived.1, "waived");

    // An earlier as-of than the last evaluation is a full pass.
    let back = evaluate(&cfg, store, at("2025-10-15"), false, None)
        .await
        .unwrap();
    assert_eq!(back.mode, Mode::Full);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_incremental_passes_leave_the_store_as_a_full_pass_would() {
    let tmp = common::temp_sqlite();
    let store = common::open(&tmp.url).await;
    incremental_passes_leave_the_store_as_a_full_pass_would(store.as_ref(), &tmp.url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_incremental_passes_leave_the_store_as_a_full_pass_would() {
    let Some(db) = common::fresh_pg("evaluation on PostgreSQL").await else {
        return;
    };
    let store = common::open(&db.url).await;
    incremental_passes_leave_the_store_as_a_full_pass_would(store.as_ref(), &db.url).await;
}
