//! The review sample against a real store (SQLite and PostgreSQL): a recorded draw replays to the
//! same list, focused files come first but take at most their share (随机抽查和重点检查相结合), and
//! `verify` names the files that changed.

use chrono::NaiveDate;
use liandong::domain::case_no::CaseNo;
use liandong::obligations::ObligationsConfig;
use liandong::obligations::draws::{draw, verify, write_xlsx};
use liandong::obligations::sampling;
use liandong::records::Field;
use liandong::records::{Feed, Record, Value};
use liandong::store::Store;

use crate::common;

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A record of `feed` with every field empty.
fn blank(feed: Feed, unit: &str, no: &str) -> Record {
    Record {
        feed,
        unit_id: unit.into(),
        unit_known: true,
        case_no: CaseNo::parse(no).unwrap(),
        values: vec![Value::Null; feed.fields().len()],
    }
}

fn closed(no: u32, closed_on: &str, major: bool) -> Record {
    closed_in("scjg", no, closed_on, major)
}

fn closed_in(unit: &str, no: u32, closed_on: &str, major: bool) -> Record {
    let mut r = blank(Feed::Cases, unit, &format!("稻市监罚〔2025〕{no}号"));
    r.set(Field::ClosedOn, Value::Date(day(closed_on)));
    r.set(Field::Major, Value::Bool(major));
    r
}

fn review(no: u32, on: &str) -> Record {
    let mut r = blank(Feed::Reviews, "scjg", &format!("稻市监罚〔2025〕{no}号"));
    r.set(Field::ReviewedOn, Value::Date(day(on)));
    r.set(Field::Reviewers, Value::Text("甲、乙".into()));
    r
}

async fn put(store: &dyn Store, records: Vec<Record>) {
    let mut imp = store.begin_import("test", common::now()).await.unwrap();
    imp.put(records).await.unwrap();
    imp.commit(None).await.unwrap();
}

async fn a_recorded_draw_replays_and_verify_names_what_changed(store: &dyn Store) {
    let cfg = ObligationsConfig::default();
    // 25 files closed in 2025 up to September; 17号 is a major penalty (a focused pick).
    let files: Vec<Record> = (1..=25)
        .map(|i| closed(i, &format!("2025-{:02}-{:02}", 1 + (i % 9), 1 + i), i == 17))
        .collect();
    put(store, files).await;
    let q3 = "2025Q3".parse().unwrap();
    let (first, drawn) = draw(
        store,
        &cfg,
        "scjg",
        q3,
        day("2025-09-30"),
        "s1",
        "tester",
        common::now(),
    )
    .await
    .unwrap();
    assert_eq!((first.population.len(), first.target), (25, 3));
    assert_eq!(drawn[0].key, "稻市监罚[2025]17号", "the focused file first");
    assert!(drawn[0].focused && !drawn[1].focused);
    let (second, again) = draw(
        store,
        &cfg,
        "scjg",
        q3,
        day("2025-09-30"),
        "s1",
        "tester",
        common::now(),
    )
    .await
    .unwrap();
    assert_eq!(
        second.drawn, first.drawn,
        "same seed, same population, same list"
    );
    assert_eq!(second.population_hash, first.population_hash);
    assert_eq!(again.len(), 3);
    let stored = store.draws("scjg", "2025Q3").await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].id, second.id, "newest first");
    assert_eq!(stored[0].drawn, first.drawn);

    let v = verify(store, &cfg, &stored[0]).await.unwrap();
    assert!(v.confirmed(), "{v:?}");

    // A file closed before the draw's day arrives late, one is reviewed in an earlier quarter
    // (year to date leaves it out): verify names both.
    put(store, vec![closed(26, "2025-09-15", false)]).await;
    put(store, vec![review(3, "2025-05-10")]).await;
    let v = verify(store, &cfg, &stored[0]).await.unwrap();
    assert!(v.replays, "the record itself still replays");
    assert!(!v.confirmed());
    assert_eq!(v.population_added, ["稻市监罚[2025]26号"]);
    assert_eq!(v.population_removed, ["稻市监罚[2025]3号"]);
    // A file closed after the draw's day does not count against it.
    put(store, vec![closed(27, "2025-10-02", false)]).await;
    let v2 = verify(store, &cfg, &stored[0]).await.unwrap();
    assert_eq!(v2.population_added, v.population_added);
}

/// The founding notice (稻府发〔2024〕5号 二(一)3) has case files reviewed
/// "以'随机抽查'和'重点检查'相结合的方式": when focused files alone exceed the target, the sample
/// still holds both kinds, in the configured proportion, and `verify` replays it.
async fn a_sample_holds_random_files_when_focused_ones_alone_exceed_the_target(store: &dyn Store) {
    // 100 files closed in 2025 up to September, 30 of them major penalties (focused picks):
    // the target at 10 % is 10.
    let files: Vec<Record> = (1..=100)
        .map(|i| {
            closed(
                i,
                &format!("2025-{:02}-{:02}", 1 + (i % 9), 1 + i % 28),
                i <= 30,
            )
        })
        .collect();
    put(store, files).await;
    let q3 = "2025Q3".parse().unwrap();
    let as_of = day("2025-09-30");
    let cfg = ObligationsConfig::default();
    let (record, drawn) = draw(
        store,
        &cfg,
        "scjg",
        q3,
        as_of,
        "s2",
        "tester",
        common::now(),
    )
    .await
    .unwrap();
    assert_eq!((record.population.len(), record.focused.len()), (100, 30));
    assert_eq!(record.target, 10);
    assert_eq!(
        record.focus_max_percent,
        Some(50),
        "the draw records its share"
    );
    let kinds: Vec<bool> = drawn.iter().map(|f| f.focused).collect();
    assert_eq!(
        kinds,
        [
            true, true, true, true, true, false, false, false, false, false
        ],
        "half focused, then half random"
    );
    // The focused picks are the best-ranked focused files, the random ones the best-ranked
    // others: ranked by SHA-256 of the seed, the unit and the key.
    let best = |focused: bool| {
        let mut keys: Vec<&String> = record
            .population
            .iter()
            .filter(|k| record.focused.contains(*k) == focused)
            .collect();
        keys.sort_by_key(|k| (sampling::rank("s2", "scjg", k), (*k).clone()));
        keys.into_iter().take(5).cloned().collect::<Vec<String>>()
    };
    assert_eq!(record.drawn[..5], best(true));
    assert_eq!(record.drawn[5..], best(false));
    let stored = store.draws("scjg", "2025Q3").await.unwrap();
    assert_eq!(stored[0], record, "stored as drawn, share included");
    let v = verify(store, &cfg, &stored[0]).await.unwrap();
    assert!(v.confirmed(), "{v:?}");
    // A later change of the share does not change what the recorded draw replays to.
    let all_but_one = ObligationsConfig {
        focus_max_percent: 100,
        ..ObligationsConfig::default()
    };
    let v = verify(store, &all_but_one, &stored[0]).await.unwrap();
    assert!(v.confirmed(), "{v:?}");
    assert_eq!(v.drawn_now, record.drawn);
    // At 100 % focused files take every place but one: one file is still random.
    let (_, drawn) = draw(
        store,
        &all_but_one,
        "scjg",
        q3,
        as_of,
        "s2",
        "tester",
        common::now(),
    )
    .await
    .unwrap();
    assert_eq!(drawn.iter().filter(|f| !f.focused).count(), 1);

    // A draw recorded before the share existed (no focus_max_percent) was made by the earlier
    // rule, focused files first as many as the target holds: it still replays.
    let mut focused_first = record.focused.clone();
    focused_first.sort_by_key(|k| (sampling::rank("s2", "scjg", k), k.clone()));
    let mut old = record.clone();
    old.focus_max_percent = None;
    old.drawn = focused_first[..10].to_vec();
    old.id = store.save_draw(&old).await.unwrap();
    let stored = store.draws("scjg", "2025Q3").await.unwrap();
    assert_eq!(stored[0].focus_max_percent, None);
    let v = verify(store, &cfg, &stored[0]).await.unwrap();
    assert!(v.confirmed(), "{v:?}");
    // Replayed with today's share instead, the same record would not.
    let mut misread = stored[0].clone();
    misread.focus_max_percent = Some(50);
    assert!(!verify(store, &cfg, &misread).await.unwrap().replays);

    // A unit whose files are all focused gets an all-focus sample; a target of one is the random
    // file while any file is not focused.
    put(
        store,
        (1..=12)
            .map(|i| closed_in("jtys", i, "2025-08-01", true))
            .chain((1..=3).map(|i| closed_in("zrzy", i, "2025-08-01", i != 2)))
            .collect(),
    )
    .await;
    let (all, drawn) = draw(
        store,
        &cfg,
        "jtys",
        q3,
        as_of,
        "s3",
        "tester",
        common::now(),
    )
    .await
    .unwrap();
    assert_eq!(all.target, 2);
    assert!(drawn.iter().all(|f| f.focused));
    let (one, drawn) = draw(
        store,
        &cfg,
        "zrzy",
        q3,
        as_of,
        "s3",
        "tester",
        common::now(),
    )
    .await
    .unwrap();
    assert_eq!((one.target, one.focused.len()), (1, 2));
    assert_eq!(
        one.drawn,
        ["稻市监罚[2025]2号"],
        "the one file that is not focused"
    );
    assert!(!drawn[0].focused);
    for unit in ["jtys", "zrzy"] {
        let d = &store.draws(unit, "2025Q3").await.unwrap()[0];
        assert!(verify(store, &cfg, d).await.unwrap().confirmed(), "{unit}");
    }

    // Too few files that are not focused for the random places: focused files fill them (the
    // target is met), last, and the worksheet says why.
    put(
        store,
        (1..=4)
            .map(|i| closed_in("nync", i, "2025-08-01", i != 4))
            .collect(),
    )
    .await;
    let every = ObligationsConfig {
        review_ratio_percent: 100,
        ..ObligationsConfig::default()
    };
    let (filled, drawn) = draw(
        store,
        &every,
        "nync",
        q3,
        as_of,
        "s4",
        "tester",
        common::now(),
    )
    .await
    .unwrap();
    let kinds: Vec<bool> = drawn.iter().map(|f| f.focused).collect();
    assert_eq!(kinds, [true, true, false, true]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nync.xlsx");
    write_xlsx(&path, "稻城县农业农村局", &filled, &drawn).unwrap();
    use calamine::Reader as _;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&path).unwrap();
    let sheet = book.worksheet_range("抽查清单").unwrap();
    let why: Vec<String> = (4..8)
        .map(|r| {
            sheet
                .get_value((r, 6))
                .map(|v| v.to_string())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        why,
        [
            "重大行政处罚",
            "重大行政处罚",
            "按随机种子排序抽取",
            "重大行政处罚（非重点案卷已全部抽取，按随机种子排序补足）"
        ]
    );
    let d = &store.draws("nync", "2025Q3").await.unwrap()[0];
    assert!(verify(store, &cfg, d).await.unwrap().confirmed());
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_a_sample_holds_random_files_when_focused_ones_alone_exceed_the_target() {
    let tmp = common::temp_sqlite();
    let store = common::open(&tmp.url).await;
    a_sample_holds_random_files_when_focused_ones_alone_exceed_the_target(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_sample_holds_random_files_when_focused_ones_alone_exceed_the_target() {
    let Some(db) = common::fresh_pg("mixed sample draws on PostgreSQL").await else {
        return;
    };
    let store = common::open(&db.url).await;
    a_sample_holds_random_files_when_focused_ones_alone_exceed_the_target(store.as_ref()).await;
}

async fn sampling_counts_follow_the_population_basis_and_the_review_days(store: &dyn Store) {
    let mut other = closed(1, "2025-08-01", false);
    other.unit_id = "jtys".into();
    put(
        store,
        vec![
            closed(1, "2025-02-01", false),
            closed(2, "2025-07-01", false),
            closed(3, "2025-09-30", false),
            closed(4, "2025-10-01", false),
            closed(5, "2024-12-31", false),
            other,
        ],
    )
    .await;
    // 1号 reviewed in Q2 (leaves the year-to-date population of Q3), 2号 in Q3, 3号 after the day
    // looked at.
    put(
        store,
        vec![
            review(1, "2025-05-01"),
            review(2, "2025-08-15"),
            review(3, "2025-09-20"),
        ],
    )
    .await;
    let (q3_first, q3_last) = (day("2025-07-01"), day("2025-09-30"));
    let counts = |ytd: bool, as_of: &str| {
        let as_of = day(as_of);
        async move {
            store
                .sampling_counts(q3_first, q3_last, ytd, as_of)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        counts(true, "2025-09-30").await,
        [("jtys".to_string(), 1, 0), ("scjg".to_string(), 2, 2)]
    );
    assert_eq!(
        counts(true, "2025-09-01").await,
        [("jtys".to_string(), 1, 0), ("scjg".to_string(), 1, 1)],
        "3号 closed and reviewed after the day looked at"
    );
    assert_eq!(
        counts(false, "2025-12-31").await,
        [("jtys".to_string(), 1, 0), ("scjg".to_string(), 2, 2)],
        "closed in the quarter: 2号 and 3号"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_sampling_counts_follow_the_population_basis_and_the_review_days() {
    let tmp = common::temp_sqlite();
    let store = common::open(&tmp.url).await;
    sampling_counts_follow_the_population_basis_and_the_review_days(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_sampling_counts_follow_the_population_basis_and_the_review_days() {
    let Some(db) = common::fresh_pg("sampling counts on PostgreSQL").await else {
        return;
    };
    let store = common::open(&db.url).await;
    sampling_counts_follow_the_population_basis_and_the_review_days(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_a_recorded_draw_replays_and_verify_names_what_changed() {
    let tmp = common::temp_sqlite();
    let store = common::open(&tmp.url).await;
    a_recorded_draw_replays_and_verify_names_what_changed(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_recorded_draw_replays_and_verify_names_what_changed() {
    let Some(db) = common::fresh_pg("sample draws on PostgreSQL").await else {
        return;
    };
    let store = common::open(&db.url).await;
    a_recorded_draw_replays_and_verify_names_what_changed(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_training_owed_per_unit_counts_for_the_unit_that_held_it_or_took_part() {
    let tmp = common::temp_sqlite();
    let store = common::open(&tmp.url).await;
    let event = |unit: &str, no: &str, kind: &str, on: &str, units: Option<&str>| {
        let mut r = blank(Feed::Events, unit, no);
        r.set(Field::Kind, Value::Text(kind.into()));
        r.set(Field::HeldOn, Value::Date(day(on)));
        if let Some(u) = units {
            r.set(Field::Units, Value::Text(u.into()));
        }
        r
    };
    put(
        store.as_ref(),
        vec![
            event("jtys", "培训-1", "专题培训", "2025-06-05", None),
            event(
                "fjld",
                "培训-2",
                "training",
                "2025-07-01",
                Some("县自然资源局、县农业农村局"),
            ),
            event("fjld", "会议-1", "府检联动工作会议", "2025-12-02", None),
        ],
    )
    .await;
    let cfg = ObligationsConfig {
        training_scope: liandong::obligations::annual::TrainingScope::PerUnit,
        ..ObligationsConfig::default()
    };
    let o = liandong::obligations::status::obligations(
        store.as_ref(),
        &cfg,
        &common::units(),
        day("2025-11-01"),
    )
    .await
    .unwrap();
    let states: Vec<(&str, &str)> = o
        .units
        .iter()
        .map(|u| {
            (
                u.unit_id.as_str(),
                u.training.as_ref().unwrap().state.as_str(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("scjg", "remind"),
            ("zrzy", "held"),
            ("jtys", "held"),
            ("nync", "held")
        ]
    );
    assert!(
        o.training.is_none(),
        "no county-wide training when owed per unit"
    );
    assert_eq!(
        o.meeting.state.as_str(),
        "remind",
        "the meeting is after the day looked at"
    );
}
