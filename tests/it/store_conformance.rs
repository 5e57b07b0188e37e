//! The store's contract, written once and run against both backends: every case below is an
//! `async fn(&dyn Store)`, and the `conformance!` macro at the end generates a `sqlite` and a
//! `postgres` test for each. The PostgreSQL tests run in a fresh database per test and print
//! SKIPPED when the server is unreachable (they fail instead under LIANDONG_REQUIRE_DBS=1).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use liandong::domain::case_no::CaseNo;
use liandong::records::Field;
use liandong::records::{Feed, FieldKind, Record, Value};
use liandong::store::{
    FoldedRepeat, Import, QuarantineItem, RepeatItem, Repeated, RowCounts, RunReport, Store,
};
use serde_json::json;

use crate::common;

const SOURCE: &str = "scjg-cases";

/// The fixed test time plus `minutes`.
fn at(minutes: i64) -> DateTime<Utc> {
    common::now() + Duration::minutes(minutes)
}

fn case_no(s: &str) -> CaseNo {
    CaseNo::parse(s).expect("a valid case number")
}

/// A record with every field null.
fn blank(feed: Feed, unit: &str, no: &str) -> Record {
    Record {
        feed,
        unit_id: unit.into(),
        unit_known: true,
        case_no: case_no(no),
        values: vec![Value::Null; feed.fields().len()],
    }
}

/// Sets one field by name.
fn with(mut r: Record, field: &str, v: Value) -> Record {
    let i = r
        .feed
        .field_index(field)
        .unwrap_or_else(|| panic!("{:?} has no field {field}", r.feed));
    r.values[i] = v;
    r
}

/// A record of `feed` with every field set to a value of its kind, varied by `i`; amounts
/// include negative and very large values.
fn full(feed: Feed, unit: &str, i: i64) -> Record {
    let amounts = [123_450, -98_765, 900_000_000_000_000_007, 0, 1];
    let mut r = blank(feed, unit, &format!("稻市监罚〔2024〕{i}号"));
    for (pos, spec) in feed.fields().iter().enumerate() {
        let k = pos as i64;
        r.values[pos] = match spec.kind {
            FieldKind::Text => Value::Text(format!("{}「{i}」 'q' \"d\" 😀", spec.name)),
            FieldKind::Pii => Value::Text(format!("5133371990010{:05}", 10_000 + i)),
            FieldKind::Date => Value::Date(
                NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + Duration::days(i * 7 + k),
            ),
            FieldKind::DateTime => Value::DateTime(
                Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 59).unwrap()
                    + Duration::seconds(i * 3_601 + k * 61),
            ),
            FieldKind::Amount => Value::Fen(amounts[(i + k) as usize % amounts.len()]),
            FieldKind::Bool => Value::Bool((i + k) % 2 == 0),
        };
    }
    r
}

/// Commits `records` in one import at `when` and returns the counts.
async fn put_all(store: &dyn Store, when: DateTime<Utc>, records: Vec<Record>) -> RowCounts {
    let mut imp = store.begin_import(SOURCE, when).await.unwrap();
    let c = imp.put(records).await.unwrap();
    imp.commit(None).await.unwrap();
    c
}

fn counts(seen: u64, inserted: u64, updated: u64, unchanged: u64) -> RowCounts {
    RowCounts {
        seen,
        inserted,
        updated,
        unchanged,
        ..Default::default()
    }
}

fn qitem(location: &str, row: i64, field: &str, value: &str) -> QuarantineItem {
    QuarantineItem {
        location: location.into(),
        row,
        field: field.into(),
        column: Some("罚没金额".into()),
        value: value.into(),
        reason: format!("not an amount: {value:?}"),
        raw: json!({"罚没金额": value}).to_string(),
    }
}

fn report(minutes: i64, seen: u64, error: Option<&str>) -> RunReport {
    RunReport {
        started_at: at(minutes) - Duration::seconds(5),
        finished_at: at(minutes),
        counts: RowCounts {
            seen,
            inserted: seen / 2,
            updated: 1,
            unchanged: seen - seen / 2 - 1,
            quarantined: 2,
            unknown_unit: 3,
            repeated: 4,
        },
        error: error.map(str::to_string),
    }
}

// ---------------------------------------------------------------------------------------------
// The cases.

async fn every_field_type_of_every_feed_reads_back_equal(store: &dyn Store) {
    for feed in Feed::ALL {
        let mut written: Vec<Record> = (1..=5).map(|i| full(feed, "scjg", i)).collect();
        written.push(blank(feed, "scjg", "稻市监罚〔2024〕99号"));
        let n = written.len() as u64;
        let c = put_all(store, at(0), written.clone()).await;
        assert_eq!(c, counts(n, n, 0, 0), "{feed:?}");
        assert_eq!(
            store.record_count(feed).await.unwrap(),
            n as i64,
            "{feed:?}"
        );

        let stored = store.records(feed, None).await.unwrap();
        assert_eq!(stored.len(), written.len(), "{feed:?}");
        for w in &written {
            let s = stored
                .iter()
                .find(|s| s.record.case_no == w.case_no)
                .unwrap_or_else(|| panic!("{feed:?}: {} was not read back", w.case_no));
            assert_eq!(&s.record, w, "{feed:?}: {}", w.case_no);
            assert_eq!(s.source, SOURCE);
            assert_eq!((s.first_seen_at, s.changed_at), (at(0), at(0)));
        }
        // Ordered by unit and case key.
        let keys: Vec<&str> = stored.iter().map(|s| s.record.case_no.key()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "{feed:?}");
    }
    // Each feed only counts its own rows.
    for feed in Feed::ALL {
        assert_eq!(store.record_count(feed).await.unwrap(), 6);
    }
}

async fn unchanged_rows_are_not_written_again(store: &dyn Store) {
    let written: Vec<Record> = (1..=20).map(|i| full(Feed::Cases, "scjg", i)).collect();
    assert_eq!(
        put_all(store, at(0), written.clone()).await,
        counts(20, 20, 0, 0)
    );
    let before = store.records(Feed::Cases, None).await.unwrap();

    assert_eq!(
        put_all(store, at(60), written.clone()).await,
        counts(20, 0, 0, 20)
    );
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 20);
    let after = store.records(Feed::Cases, None).await.unwrap();
    assert_eq!(after.len(), 20);
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.record, b.record);
        assert_eq!(b.first_seen_at, at(0));
        assert_eq!(b.changed_at, at(0), "an unchanged row must not be touched");
        assert!(store.history(Feed::Cases, b.id).await.unwrap().is_empty());
    }
}

async fn a_changed_field_updates_the_row_with_masked_history(store: &dyn Store) {
    let id_old = "513337199001011234";
    let id_new = "51333719850505567X";
    let base = with(
        with(
            blank(Feed::Cases, "scjg", "稻市监罚〔2024〕7号"),
            "amount",
            Value::Fen(10_000),
        ),
        "party_id",
        Value::Text(id_old.into()),
    );
    let other = full(Feed::Cases, "scjg", 8);
    put_all(store, at(0), vec![base.clone(), other.clone()]).await;

    let changed = with(base.clone(), "amount", Value::Fen(12_050));
    assert_eq!(
        put_all(store, at(10), vec![changed.clone(), other.clone()]).await,
        counts(2, 0, 1, 1)
    );
    let stored = store.records(Feed::Cases, None).await.unwrap();
    let row = stored
        .iter()
        .find(|s| s.record.case_no == base.case_no)
        .unwrap();
    assert_eq!(row.record, changed);
    assert_eq!((row.first_seen_at, row.changed_at), (at(0), at(10)));
    let untouched = stored
        .iter()
        .find(|s| s.record.case_no == other.case_no)
        .unwrap();
    assert_eq!(untouched.changed_at, at(0));

    let h = store.history(Feed::Cases, row.id).await.unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].source, SOURCE);
    assert_eq!(h[0].changed_at, at(10));
    assert_eq!(h[0].changes, json!({"amount": [100.0, 120.5]}));
    assert!(
        store
            .history(Feed::Cases, untouched.id)
            .await
            .unwrap()
            .is_empty()
    );

    // An ID number change is recorded, masked.
    let changed_id = with(changed.clone(), "party_id", Value::Text(id_new.into()));
    assert_eq!(
        put_all(store, at(20), vec![changed_id.clone()]).await,
        counts(1, 0, 1, 0)
    );
    let h = store.history(Feed::Cases, row.id).await.unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[1].changed_at, at(20));
    let shown = h[1].changes.to_string();
    let obj = h[1].changes.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["party_id"], "{shown}");
    assert_eq!(
        h[1].changes["party_id"],
        json!(["513337********1234", "513337********567X"])
    );
    for secret in ["199001011234", "198505055", id_old, id_new] {
        assert!(!shown.contains(secret), "history shows {secret}: {shown}");
    }
    // The store itself keeps what the source sent.
    let rows = store.records(Feed::Cases, Some("scjg")).await.unwrap();
    let row = rows.iter().find(|s| s.id == row.id).unwrap();
    assert_eq!(row.record.get(Field::PartyId), &Value::Text(id_new.into()));
}

async fn case_number_variants_of_one_unit_share_one_row(store: &dyn Store) {
    let variants = [
        "稻市监罚〔2024〕12号",
        "稻市监罚[2024]12号",
        "稻市监罚(2024)12号",
        "稻市监罚（２０２４）１２号",
    ];
    let rec = |no: &str| {
        with(
            blank(Feed::Cases, "scjg", no),
            "party",
            Value::Text("张三".into()),
        )
    };

    assert_eq!(
        put_all(store, at(0), vec![rec(variants[0])]).await,
        counts(1, 1, 0, 0)
    );
    // The same writing again is unchanged; another writing of the same case updates the row
    // (the number as written is kept for display, and it changed).
    assert_eq!(
        put_all(store, at(1), vec![rec(variants[0])]).await,
        counts(1, 0, 0, 1)
    );
    for (i, v) in variants.iter().enumerate().skip(1) {
        assert_eq!(
            put_all(store, at(i as i64 + 1), vec![rec(v)]).await,
            counts(1, 0, 1, 0),
            "{v}"
        );
        assert_eq!(
            put_all(store, at(i as i64 + 1), vec![rec(v)]).await,
            counts(1, 0, 0, 1),
            "{v} again"
        );
    }
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 1);
    let rows = store.records(Feed::Cases, None).await.unwrap();
    assert_eq!(rows[0].record.case_no.as_written(), variants[3]);
    assert_eq!(rows[0].record.case_no.key(), "稻市监罚[2024]12号");
    assert_eq!(rows[0].first_seen_at, at(0));
    let h = store.history(Feed::Cases, rows[0].id).await.unwrap();
    assert_eq!(h.len(), 3);
    assert_eq!(h[2].changes, json!({"case_no": [variants[2], variants[3]]}));

    // Variants inside one import, in separate calls, still meet the same row.
    let mut imp = store.begin_import(SOURCE, at(10)).await.unwrap();
    assert_eq!(
        imp.put(vec![rec(variants[1])]).await.unwrap(),
        counts(1, 0, 1, 0)
    );
    assert_eq!(
        imp.put(vec![rec(variants[1])]).await.unwrap(),
        counts(1, 0, 0, 1)
    );
    imp.commit(None).await.unwrap();
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 1);

    // The same key under another unit is another case.
    let zrzy = Record {
        unit_id: "zrzy".into(),
        ..rec(variants[0])
    };
    assert_eq!(
        put_all(store, at(20), vec![zrzy, rec(variants[1])]).await,
        counts(2, 1, 0, 1)
    );
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 2);
    let units: Vec<String> = store
        .records(Feed::Cases, None)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.record.unit_id)
        .collect();
    assert_eq!(units, ["scjg", "zrzy"]);
}

async fn an_import_dropped_without_commit_leaves_nothing(store: &dyn Store) {
    {
        let mut imp = store.begin_import(SOURCE, at(0)).await.unwrap();
        let c = imp
            .put((1..=3).map(|i| full(Feed::Cases, "scjg", i)).collect())
            .await
            .unwrap();
        assert_eq!(c.inserted, 3);
        imp.quarantine(vec![qitem("a.csv", 2, "amount", "x")])
            .await
            .unwrap();
        // Dropped here: rolled back.
    }
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 0);
    assert!(store.quarantined(None, 10).await.unwrap().is_empty());
    assert!(store.source_state(SOURCE).await.unwrap().is_none());

    // A committed import stores the rows and the cursor together.
    let mut imp = store.begin_import(SOURCE, at(1)).await.unwrap();
    imp.put(vec![full(Feed::Cases, "scjg", 1)]).await.unwrap();
    imp.commit(Some("cursor-1".into())).await.unwrap();
    let st = store.source_state(SOURCE).await.unwrap().unwrap();
    assert_eq!(st.cursor.as_deref(), Some("cursor-1"));
    assert_eq!(st.last_run_at, None, "a commit is not a finished run");
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 1);

    // A dropped import neither writes nor moves the cursor.
    {
        let mut imp = store.begin_import(SOURCE, at(2)).await.unwrap();
        imp.put(vec![
            with(full(Feed::Cases, "scjg", 1), "amount", Value::Fen(7)),
            full(Feed::Cases, "scjg", 2),
        ])
        .await
        .unwrap();
    }
    let st = store.source_state(SOURCE).await.unwrap().unwrap();
    assert_eq!(st.cursor.as_deref(), Some("cursor-1"));
    let rows = store.records(Feed::Cases, None).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].record, full(Feed::Cases, "scjg", 1));
    assert!(
        store
            .history(Feed::Cases, rows[0].id)
            .await
            .unwrap()
            .is_empty()
    );

    // Committing without a cursor keeps the stored one; a new cursor replaces it.
    put_all(store, at(3), vec![full(Feed::Cases, "scjg", 2)]).await;
    let st = store.source_state(SOURCE).await.unwrap().unwrap();
    assert_eq!(st.cursor.as_deref(), Some("cursor-1"));
    let imp = store.begin_import(SOURCE, at(4)).await.unwrap();
    imp.commit(Some("cursor-2".into())).await.unwrap();
    let st = store.source_state(SOURCE).await.unwrap().unwrap();
    assert_eq!(st.cursor.as_deref(), Some("cursor-2"));
    assert!(store.source_state("other").await.unwrap().is_none());
}

/// A batch that fails part-way (here: one case twice in one batch, which `Writer` never sends,
/// so that the store's own unique key refuses the second) fails its `put`; the import then
/// refuses to commit, and what the batch had written before the failure is rolled back with it.
async fn a_batch_that_fails_part_way_cannot_be_committed(store: &dyn Store) {
    put_all(store, at(0), vec![full(Feed::Cases, "scjg", 1)]).await;
    let mut imp = store.begin_import(SOURCE, at(1)).await.unwrap();
    let twice = vec![
        full(Feed::Cases, "scjg", 2),
        with(full(Feed::Cases, "scjg", 2), "amount", Value::Fen(7)),
    ];
    let err = imp
        .put(twice)
        .await
        .expect_err("a key twice in one batch is refused");
    assert!(
        err.to_string().to_lowercase().contains("unique"),
        "the unique key refused it: {err}"
    );
    let err = imp
        .commit(Some("cursor-x".into()))
        .await
        .expect_err("a failed import cannot commit");
    assert!(err.to_string().contains("rolled back"), "{err}");
    let rows = store.records(Feed::Cases, None).await.unwrap();
    assert_eq!(rows.len(), 1, "only the committed case: {rows:?}");
    assert_eq!(rows[0].record, full(Feed::Cases, "scjg", 1));
    let st = store.source_state(SOURCE).await.unwrap();
    assert_eq!(st.and_then(|s| s.cursor), None, "the cursor did not move");
    // The store takes the next import as usual.
    put_all(store, at(2), vec![full(Feed::Cases, "scjg", 2)]).await;
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 2);
}

async fn finished_runs_record_success_and_error_without_touching_the_cursor(store: &dyn Store) {
    let imp = store.begin_import(SOURCE, at(0)).await.unwrap();
    imp.commit(Some("42".into())).await.unwrap();

    let ok1 = report(10, 10, None);
    store.finish_run(SOURCE, &ok1).await.unwrap();
    let st = store.source_state(SOURCE).await.unwrap().unwrap();
    assert_eq!(st.name, SOURCE);
    assert_eq!(st.cursor.as_deref(), Some("42"));
    assert_eq!(st.last_run_at, Some(at(10)));
    assert_eq!(st.last_success_at, Some(at(10)));
    assert_eq!((st.last_error_at, st.last_error.as_deref()), (None, None));
    assert_eq!(st.counts, ok1.counts);

    let failed = report(20, 4, Some("connection refused: 127.0.0.1:1"));
    store.finish_run(SOURCE, &failed).await.unwrap();
    let st = store.source_state(SOURCE).await.unwrap().unwrap();
    assert_eq!(st.cursor.as_deref(), Some("42"));
    assert_eq!(st.last_run_at, Some(at(20)));
    assert_eq!(st.last_success_at, Some(at(10)));
    assert_eq!(st.last_error_at, Some(at(20)));
    assert_eq!(
        st.last_error.as_deref(),
        Some("connection refused: 127.0.0.1:1")
    );
    assert_eq!(st.counts, failed.counts);

    let ok2 = report(30, 6, None);
    store.finish_run(SOURCE, &ok2).await.unwrap();
    let st = store.source_state(SOURCE).await.unwrap().unwrap();
    assert_eq!(st.cursor.as_deref(), Some("42"));
    assert_eq!(st.last_run_at, Some(at(30)));
    assert_eq!(st.last_success_at, Some(at(30)));
    // The last error stays on record with its time; the later success is what makes the
    // source healthy again (see `sync::freshness`).
    assert_eq!(st.last_error_at, Some(at(20)));
    assert_eq!(
        st.last_error.as_deref(),
        Some("connection refused: 127.0.0.1:1")
    );
    assert_eq!(st.counts, ok2.counts);

    // A run of a source never seen before creates its state, without a cursor.
    for name in ["zz-last", "aa-first", "mm-middle"] {
        store.finish_run(name, &report(40, 2, None)).await.unwrap();
    }
    let states = store.source_states().await.unwrap();
    let names: Vec<&str> = states.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["aa-first", "mm-middle", SOURCE, "zz-last"]);
    assert_eq!(states[0].cursor, None);
    assert_eq!(states[0].last_success_at, Some(at(40)));
    assert_eq!(states[2].cursor.as_deref(), Some("42"));
}

async fn quarantine_keeps_one_entry_per_location_row_and_field(store: &dyn Store) {
    let mut imp = store.begin_import(SOURCE, at(0)).await.unwrap();
    imp.quarantine(vec![
        qitem("a.csv", 3, "amount", "一千"),
        qitem("a.csv", 4, "amount", "两千"),
        qitem("a.csv", 4, "decided_on", "2024-02-30"),
    ])
    .await
    .unwrap();
    imp.commit(None).await.unwrap();

    let mut imp = store.begin_import("other-src", at(5)).await.unwrap();
    imp.quarantine(vec![qitem("page 1", 1, "case_no", "")])
        .await
        .unwrap();
    imp.commit(None).await.unwrap();

    // The same (location, row, field) again: one entry, last seen now, with the new value.
    let mut imp = store.begin_import(SOURCE, at(10)).await.unwrap();
    imp.quarantine(vec![qitem("a.csv", 3, "amount", "一千零一")])
        .await
        .unwrap();
    imp.commit(None).await.unwrap();

    let all = store.quarantined(None, 100).await.unwrap();
    assert_eq!(all.len(), 4);
    // Newest first.
    assert_eq!(all[0].source, SOURCE);
    assert_eq!(
        (all[0].item.location.as_str(), all[0].item.row),
        ("a.csv", 3)
    );
    assert_eq!(all[0].item, qitem("a.csv", 3, "amount", "一千零一"));
    assert_eq!((all[0].first_seen_at, all[0].last_seen_at), (at(0), at(10)));
    assert_eq!(all[1].source, "other-src");
    assert_eq!(all[1].item, qitem("page 1", 1, "case_no", ""));
    for e in &all[2..] {
        assert_eq!((e.first_seen_at, e.last_seen_at), (at(0), at(0)));
        assert_eq!(e.item.row, 4);
    }
    let seen = all
        .windows(2)
        .all(|w| w[0].last_seen_at >= w[1].last_seen_at);
    assert!(seen, "not newest first");

    let mine = store.quarantined(Some(SOURCE), 100).await.unwrap();
    assert_eq!(mine.len(), 3);
    assert!(mine.iter().all(|e| e.source == SOURCE));
    let other = store.quarantined(Some("other-src"), 100).await.unwrap();
    assert_eq!(other.len(), 1);
    assert!(
        store
            .quarantined(Some("nobody"), 100)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(store.quarantined(None, 2).await.unwrap().len(), 2);
    let one = store.quarantined(Some(SOURCE), 1).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].item.row, 3);
}

/// Rows marked as repeating a case an earlier call of the import listed are compared with the
/// case as that row left it and applied over it, and the store says what each changed: at
/// once (`put_repeats`), or — in a first load, which stores the rows as they come and builds
/// its unique key at the end — when `fold_repeats` builds the key, in the order the rows came. The repeats recorded with the import are listed apart from the quarantine, one entry
/// per row however often it is seen again.
async fn a_row_repeating_a_case_is_applied_over_it_and_says_what_it_changed(store: &dyn Store) {
    let one = with(full(Feed::Cases, "scjg", 1), "amount", Value::Fen(10_000));
    let two = full(Feed::Cases, "scjg", 2);
    let one_later = with(one.clone(), "amount", Value::Fen(15_000));

    // A first load: the repeats come in the second call.
    let mut imp = store.begin_import(SOURCE, at(0)).await.unwrap();
    assert_eq!(
        imp.put(vec![one.clone(), two.clone()]).await.unwrap(),
        counts(2, 2, 0, 0)
    );
    let (c, outcomes) = imp
        .put_repeats(
            vec![full(Feed::Cases, "scjg", 3), one_later.clone(), two.clone()],
            &[1, 2],
        )
        .await
        .unwrap();
    let folded = imp.fold_repeats().await.unwrap();
    let changed = json!({"amount": [100.0, 150.0]});
    {
        // Stored as they came, folded when the key was built (on both backends: a first load
        // builds its unique key at the end).
        assert_eq!(c, counts(3, 3, 0, 0));
        assert_eq!(outcomes, [Repeated::Later, Repeated::Later]);
        let key = |r: &Record| r.case_no.key().to_string();
        assert_eq!(
            folded,
            [
                FoldedRepeat {
                    unit_id: "scjg".into(),
                    case_key: key(&one),
                    changes: Some(changed.clone()),
                },
                FoldedRepeat {
                    unit_id: "scjg".into(),
                    case_key: key(&two),
                    changes: None,
                },
            ]
        );
    }
    // After the key is built, the import goes on as any other.
    let (c, outcomes) = imp
        .put_repeats(
            vec![with(one_later.clone(), "amount", Value::Fen(15_000))],
            &[0],
        )
        .await
        .unwrap();
    assert_eq!((c, outcomes), (counts(1, 0, 0, 1), vec![Repeated::Same]));
    let repeat = RepeatItem {
        location: "cases.csv".into(),
        row: 9,
        earlier_location: "cases.csv".into(),
        earlier_row: 2,
        case_no: "稻市监罚〔2024〕1号".into(),
        changes: json!({"amount": [100.0, 150.0]}),
    };
    imp.repeats(vec![repeat.clone()]).await.unwrap();
    imp.quarantine(vec![qitem("cases.csv", 5, "amount", "x")])
        .await
        .unwrap();
    imp.commit(None).await.unwrap();

    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 3);
    let rows = store.records(Feed::Cases, None).await.unwrap();
    let stored = rows
        .iter()
        .find(|s| s.record.case_no == one.case_no)
        .unwrap();
    assert_eq!(stored.record, one_later, "the later row is kept");
    let h = store.history(Feed::Cases, stored.id).await.unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].changes, json!({"amount": [100.0, 150.0]}));

    let repeats = store.repeats(None, 10).await.unwrap();
    assert_eq!(repeats.len(), 1);
    assert_eq!(repeats[0].source, SOURCE);
    assert_eq!(repeats[0].item, repeat);
    assert_eq!(repeats[0].item.fields(), ["amount"]);
    assert_eq!(
        (repeats[0].first_seen_at, repeats[0].last_seen_at),
        (at(0), at(0))
    );
    let quarantined = store.quarantined(None, 10).await.unwrap();
    assert_eq!(quarantined.len(), 1, "repeats are not quarantined rows");
    assert_eq!(quarantined[0].item.row, 5);

    // A later import: a new case and its repeat (the call after a batch of new rows inserts
    // first), then a repeat among unchanged rows (compared first).
    let three_later = with(full(Feed::Cases, "scjg", 3), "amount", Value::Fen(1));
    let mut imp = store.begin_import(SOURCE, at(10)).await.unwrap();
    imp.put(vec![full(Feed::Cases, "scjg", 4)]).await.unwrap();
    let (c, outcomes) = imp
        .put_repeats(
            vec![with(full(Feed::Cases, "scjg", 4), "amount", Value::Fen(2))],
            &[0],
        )
        .await
        .unwrap();
    assert_eq!(c, counts(1, 0, 1, 0));
    assert!(
        matches!(&outcomes[..], [Repeated::Changed(c)] if c.get("amount").is_some()),
        "{outcomes:?}"
    );
    let (c, outcomes) = imp
        .put_repeats(vec![one_later.clone(), three_later.clone()], &[1])
        .await
        .unwrap();
    assert_eq!(c, counts(2, 0, 1, 1));
    assert!(
        matches!(&outcomes[..], [Repeated::Changed(c)] if c.get("amount").is_some()),
        "{outcomes:?}"
    );
    assert_eq!(imp.fold_repeats().await.unwrap(), [], "nothing deferred");
    // The same row seen again: still one entry, last seen now.
    imp.repeats(vec![repeat.clone()]).await.unwrap();
    imp.commit(None).await.unwrap();
    let repeats = store.repeats(Some(SOURCE), 10).await.unwrap();
    assert_eq!(repeats.len(), 1);
    assert_eq!(
        (repeats[0].first_seen_at, repeats[0].last_seen_at),
        (at(0), at(10))
    );
    assert!(store.repeats(Some("other"), 10).await.unwrap().is_empty());
    assert_eq!(store.quarantined(None, 10).await.unwrap().len(), 1);

    // An import that lets the store hold rows back (as every source's does; PostgreSQL stages
    // them): a repeat is still compared with the case as the earlier row of the import left it,
    // and the counts of `put`, `put_repeats` and `settle` add up to what happened.
    let title = |r: &Record, t: &str| with(r.clone(), "title", Value::Text(t.into()));
    let five = full(Feed::Cases, "scjg", 5);
    let mut imp = store.begin_import(SOURCE, at(20)).await.unwrap();
    imp.allow_deferred();
    let mut total = imp
        .put(vec![title(&two, "改一"), five.clone()])
        .await
        .unwrap();
    let (c, outcomes) = imp
        .put_repeats(
            vec![
                title(&two, "改二"),
                with(three_later.clone(), "amount", Value::Fen(3)),
            ],
            &[0],
        )
        .await
        .unwrap();
    total.add(&c);
    assert_eq!(
        outcomes,
        [Repeated::Changed(json!({"title": ["改一", "改二"]}))]
    );
    total.add(&imp.settle().await.unwrap());
    assert_eq!(total, counts(4, 1, 3, 0));
    // Held back and settled again: a row of the same case as before, unchanged now.
    total = imp.put(vec![five.clone()]).await.unwrap();
    total.add(&imp.settle().await.unwrap());
    assert_eq!(total, counts(1, 0, 0, 1));
    imp.commit(None).await.unwrap();
    let rows = store.records(Feed::Cases, None).await.unwrap();
    let stored = rows
        .iter()
        .find(|s| s.record.case_no == two.case_no)
        .unwrap();
    assert_eq!(stored.record, title(&two, "改二"));
    let h = store.history(Feed::Cases, stored.id).await.unwrap();
    let titles: Vec<_> = h.iter().filter_map(|e| e.changes.get("title")).collect();
    assert_eq!(titles.len(), 2, "{h:?}");
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 5);
}

async fn rows_of_unknown_units_are_kept_and_counted(store: &dyn Store) {
    let unknown = |feed, unit: &str, no: &str| Record {
        unit_known: false,
        ..blank(feed, unit, no)
    };
    let c = put_all(
        store,
        at(0),
        vec![
            unknown(Feed::Cases, "县公安局", "稻公罚〔2024〕1号"),
            unknown(Feed::Cases, "县公安局", "稻公罚〔2024〕2号"),
            unknown(Feed::Cases, "县林业局", "稻林罚〔2024〕1号"),
            full(Feed::Cases, "scjg", 1),
        ],
    )
    .await;
    assert_eq!(c.unknown_unit, 3);
    assert_eq!(c.inserted, 4);
    let c = put_all(
        store,
        at(1),
        vec![unknown(Feed::Referrals, "县公安局", "稻公罚〔2024〕1号")],
    )
    .await;
    assert_eq!(c.unknown_unit, 1);

    assert_eq!(
        store.unknown_units().await.unwrap(),
        vec![
            (Feed::Cases, "县公安局".to_string(), 2),
            (Feed::Cases, "县林业局".to_string(), 1),
            (Feed::Referrals, "县公安局".to_string(), 1),
        ]
    );
    let kept = store.records(Feed::Cases, Some("县公安局")).await.unwrap();
    assert_eq!(kept.len(), 2);
    assert!(kept.iter().all(|s| !s.record.unit_known));

    // Once the unit is configured, the same row comes in as known: an update, no longer unknown.
    let known = blank(Feed::Cases, "县林业局", "稻林罚〔2024〕1号");
    let c = put_all(store, at(2), vec![known]).await;
    assert_eq!((c.updated, c.unknown_unit), (1, 0));
    assert_eq!(store.unknown_units().await.unwrap().len(), 2);
}

async fn records_can_be_listed_for_one_unit(store: &dyn Store) {
    let mut rs = Vec::new();
    for (unit, n) in [("scjg", 3), ("zrzy", 2), ("jtys", 1)] {
        for i in 1..=n {
            rs.push(full(Feed::Entries, unit, i));
        }
    }
    put_all(store, at(0), rs).await;
    for (unit, n) in [("scjg", 3), ("zrzy", 2), ("jtys", 1), ("nync", 0)] {
        let got = store.records(Feed::Entries, Some(unit)).await.unwrap();
        assert_eq!(got.len(), n, "{unit}");
        assert!(got.iter().all(|s| s.record.unit_id == unit));
    }
    let all = store.records(Feed::Entries, None).await.unwrap();
    let units: Vec<&str> = all.iter().map(|s| s.record.unit_id.as_str()).collect();
    // By case number (1号 of three units, 2号 of two, 3号), then unit.
    assert_eq!(units, ["jtys", "scjg", "zrzy", "scjg", "zrzy", "scjg"]);
    assert!(
        store
            .records(Feed::Cases, Some("scjg"))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn migrating_twice_is_harmless(store: &dyn Store) {
    put_all(store, at(0), vec![full(Feed::Referrals, "scjg", 1)]).await;
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.record_count(Feed::Referrals).await.unwrap(), 1);
    assert_eq!(
        put_all(store, at(1), vec![full(Feed::Referrals, "scjg", 1)]).await,
        counts(1, 0, 0, 1)
    );
}

/// A second import begun while the first is open does not fail. On SQLite (one writer) it waits
/// for the first to commit; on PostgreSQL both may run at once (distinct keys here).
async fn a_second_import_waits_for_the_first_instead_of_failing(store: &dyn Store) {
    let mut first = store.begin_import("first", at(0)).await.unwrap();
    first.put(vec![full(Feed::Cases, "scjg", 1)]).await.unwrap();

    let begun = AtomicBool::new(false);
    let second = async {
        let mut imp = store.begin_import("second", at(1)).await?;
        begun.store(true, Ordering::SeqCst);
        let c = imp.put(vec![full(Feed::Cases, "scjg", 2)]).await?;
        imp.commit(Some("s".into())).await?;
        Ok::<_, liandong::store::StoreError>(c)
    };
    let first_side = async {
        tokio::time::sleep(StdDuration::from_millis(500)).await;
        if store.backend() == "sqlite" {
            assert!(
                !begun.load(Ordering::SeqCst),
                "SQLite has one writer: the second import must wait for the first"
            );
        }
        first.commit(Some("f".into())).await.unwrap();
    };
    let (second, ()) = tokio::time::timeout(StdDuration::from_secs(30), async {
        tokio::join!(second, first_side)
    })
    .await
    .expect("the second import never finished");
    assert_eq!(second.unwrap().inserted, 1);
    assert!(begun.load(Ordering::SeqCst));
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 2);
    let st = store.source_states().await.unwrap();
    let cursors: Vec<_> = st
        .iter()
        .map(|s| (s.name.as_str(), s.cursor.as_deref()))
        .collect();
    assert_eq!(cursors, [("first", Some("f")), ("second", Some("s"))]);
}

/// On SQLite the same wait also holds across tasks: a spawned import blocks until the open one
/// commits, then succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_a_spawned_second_import_waits_and_then_succeeds() {
    let tmp = common::temp_sqlite();
    let store: std::sync::Arc<dyn Store> = common::open(&tmp.url).await.into();
    let mut first = store.begin_import("first", at(0)).await.unwrap();
    first.put(vec![full(Feed::Cases, "scjg", 1)]).await.unwrap();
    let s2 = store.clone();
    let second = tokio::spawn(async move {
        let mut imp = s2.begin_import("second", at(1)).await?;
        let c = imp.put(vec![full(Feed::Cases, "scjg", 2)]).await?;
        imp.commit(None).await?;
        Ok::<_, liandong::store::StoreError>(c)
    });
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    assert!(!second.is_finished(), "the second import did not wait");
    first.commit(None).await.unwrap();
    let c = tokio::time::timeout(StdDuration::from_secs(30), second)
        .await
        .expect("the second import never finished")
        .unwrap()
        .expect("the second import failed");
    assert_eq!(c.inserted, 1);
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 2);
}

/// The journal mode of the SQLite file at `url`, as a connection of its own sees it.
async fn journal_mode(url: &str) -> String {
    use sqlx::Connection as _;
    let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    mode
}

/// The files beside a SQLite store: its rollback journal and its WAL.
fn journal_files(tmp: &common::TempStore) -> (bool, bool) {
    let db = tmp.dir.path().join("liandong.db");
    let beside = |suffix: &str| {
        let mut p = db.clone().into_os_string();
        p.push(suffix);
        std::path::PathBuf::from(p).exists()
    };
    (beside("-journal"), beside("-wal"))
}

/// One import of case `i` into the SQLite store in `tmp`, which runs in WAL mode: a WAL beside
/// the file while it runs, no rollback journal.
async fn loads_one_case_in_wal_mode(tmp: &common::TempStore, store: &dyn Store, i: i64) {
    let mut imp = store.begin_import(SOURCE, at(i)).await.unwrap();
    imp.put(vec![full(Feed::Cases, "scjg", i)]).await.unwrap();
    assert_eq!(
        journal_files(tmp),
        (false, true),
        "(rollback journal, WAL) while the import runs"
    );
    imp.commit(None).await.unwrap();
}

/// A new SQLite store allowed an exclusive first load, with that load begun and three cases put.
async fn exclusive_first_load_under_way() -> (common::TempStore, Box<dyn Store>, Box<dyn Import>) {
    let tmp = common::temp_sqlite();
    let store = common::open(&tmp.url).await;
    store.allow_exclusive_first_load();
    let mut imp = store.begin_import(SOURCE, at(0)).await.unwrap();
    imp.put((1..=3).map(|i| full(Feed::Cases, "scjg", i)).collect())
        .await
        .unwrap();
    (tmp, store, imp)
}

/// A first load into a store that holds no records, allowed to take it to itself and with
/// nobody else connected, writes through a rollback journal instead of the WAL; once committed
/// the store is back in WAL mode, and the next import (the store is no longer empty) uses it.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_an_exclusive_first_load_uses_a_rollback_journal_then_wal_again() {
    let (tmp, store, imp) = exclusive_first_load_under_way().await;
    assert_eq!(
        journal_files(&tmp),
        (true, false),
        "(rollback journal, WAL) during the first load"
    );
    imp.commit(Some("c1".into())).await.unwrap();
    assert!(
        !journal_files(&tmp).0,
        "the journal is gone after the commit"
    );
    assert_eq!(journal_mode(&tmp.url).await, "wal");
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 3);
    let st = store.source_state(SOURCE).await.unwrap().unwrap();
    assert_eq!(st.cursor.as_deref(), Some("c1"));

    loads_one_case_in_wal_mode(&tmp, store.as_ref(), 4).await;
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 4);
}

/// The same first load while another connection has the file open runs in WAL mode as usual:
/// leaving WAL mode needs the file to itself, and the import does not wait for it. Without
/// the allowance (the service), a first load never leaves WAL mode.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_a_first_load_stays_in_wal_mode_when_the_store_is_open_elsewhere_or_not_allowed() {
    use sqlx::Connection as _;
    let tmp = common::temp_sqlite();
    let store = common::open(&tmp.url).await;
    store.allow_exclusive_first_load();
    let mut other = sqlx::SqliteConnection::connect(&tmp.url).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
        .fetch_one(&mut other)
        .await
        .unwrap();
    assert_eq!(n, 0);
    let started = std::time::Instant::now();
    loads_one_case_in_wal_mode(&tmp, store.as_ref(), 1).await;
    assert!(
        started.elapsed() < StdDuration::from_secs(10),
        "the import waited for the other connection: {:?}",
        started.elapsed()
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
        .fetch_one(&mut other)
        .await
        .unwrap();
    assert_eq!(n, 1, "the other connection reads the load");
    other.close().await.unwrap();

    let tmp = common::temp_sqlite();
    let store = common::open(&tmp.url).await;
    loads_one_case_in_wal_mode(&tmp, store.as_ref(), 1).await;
}

/// While an exclusive first load runs, opening the store elsewhere (as another `liandong`
/// process does: its writer asks for WAL mode, which needs the load's write lock) waits for
/// the load instead of failing at once, and then finds it.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_opening_the_store_during_an_exclusive_first_load_waits_for_it() {
    let (tmp, _store, imp) = exclusive_first_load_under_way().await;
    let url = tmp.url.clone();
    let other = tokio::spawn(async move {
        let store = common::open(&url).await;
        store.record_count(Feed::Cases).await.unwrap()
    });
    tokio::time::sleep(StdDuration::from_millis(700)).await;
    assert!(
        !other.is_finished(),
        "the other opening did not wait for the load"
    );
    imp.commit(None).await.unwrap();
    let n = tokio::time::timeout(StdDuration::from_secs(30), other)
        .await
        .expect("the other opening never finished")
        .expect("the other opening failed");
    assert_eq!(n, 3);
    assert_eq!(journal_mode(&tmp.url).await, "wal");
}

/// An exclusive first load dropped without commit leaves no record, and the writer is back in
/// WAL mode before its next write; the next load into the still empty store succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_an_exclusive_first_load_dropped_leaves_nothing_and_wal_mode() {
    let (tmp, store, imp) = exclusive_first_load_under_way().await;
    assert!(journal_files(&tmp).0, "in rollback-journal mode");
    drop(imp);
    // The next write waits for the writer, whose release rolled back and left the mode.
    store
        .finish_run(SOURCE, &report(1, 3, Some("stopped")))
        .await
        .unwrap();
    assert_eq!(journal_mode(&tmp.url).await, "wal");
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 0);

    let mut imp = store.begin_import(SOURCE, at(2)).await.unwrap();
    imp.put((1..=2).map(|i| full(Feed::Cases, "scjg", i)).collect())
        .await
        .unwrap();
    imp.commit(None).await.unwrap();
    assert_eq!(journal_mode(&tmp.url).await, "wal");
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 2);
}

// ---------------------------------------------------------------------------------------------
// One test per case and backend.

async fn records_page_after_one_another_in_case_and_unit_order(store: &dyn Store) {
    for feed in [Feed::Entries, Feed::Cases] {
        let mut rs = Vec::new();
        for (unit, n) in [("scjg", 13), ("zrzy", 9), ("jtys", 5)] {
            for i in 1..=n {
                rs.push(full(feed, unit, i));
            }
        }
        put_all(store, at(0), rs).await;
        for unit in [None, Some("scjg")] {
            let all = store.records(feed, unit).await.unwrap();
            let mut paged = Vec::new();
            let mut after: Option<(String, String)> = None;
            loop {
                let page = store
                    .records_after(
                        feed,
                        unit,
                        after.as_ref().map(|(u, k)| (u.as_str(), k.as_str())),
                        4,
                    )
                    .await
                    .unwrap();
                assert!(page.len() <= 4);
                let Some(last) = page.last() else { break };
                after = Some((
                    last.record.unit_id.clone(),
                    last.record.case_no.key().to_string(),
                ));
                paged.extend(page);
            }
            let ids =
                |v: &[liandong::store::StoredRecord]| v.iter().map(|s| s.id).collect::<Vec<_>>();
            assert_eq!(ids(&paged), ids(&all), "{feed:?} {unit:?}");
            assert_eq!(paged.len(), if unit.is_some() { 13 } else { 27 });
            // By case number first: the units sharing a number are listed together, in unit
            // order (the numbers' own order is the database's collation).
            let mut seen_keys: Vec<&str> = Vec::new();
            for pair in paged.windows(2) {
                let (a, b) = (&pair[0].record, &pair[1].record);
                if a.case_no.key() == b.case_no.key() {
                    assert!(
                        a.unit_id < b.unit_id,
                        "{feed:?}: {} before {}",
                        a.unit_id,
                        b.unit_id
                    );
                } else {
                    seen_keys.push(a.case_no.key());
                    assert!(
                        !seen_keys.contains(&b.case_no.key()),
                        "{feed:?}: {} listed apart",
                        b.case_no.key()
                    );
                }
            }
        }
    }
}

fn evaluated(key: &str, state: &str, due_day: u32) -> liandong::store::EvaluatedFinding {
    liandong::store::EvaluatedFinding {
        key: key.to_string(),
        rule: key.split('|').next().unwrap().to_string(),
        unit_id: "scjg".into(),
        case_key: Some(format!("K{due_day}")),
        case_no: Some(format!("稻市监罚〔2025〕{due_day}号")),
        due: chrono::Utc
            .with_ymd_and_hms(2025, 10, due_day, 16, 0, 0)
            .unwrap(),
        arose_at: "2025-06-01T00:00:00+08:00".parse().unwrap(),
        satisfied_at: None,
        violated: false,
        state: state.into(),
        facts: serde_json::json!({"due_date": format!("2025-10-{due_day:02}")}).to_string(),
        link: Some("none".into()),
    }
}

async fn findings_keep_their_lifecycle_across_evaluations(store: &dyn Store) {
    use liandong::store::FindingFilter;
    let open = FindingFilter::default();
    let all = FindingFilter {
        all: true,
        ..Default::default()
    };
    let a = evaluated("R1|scjg|K9", "upcoming", 9);
    let b = evaluated("R1|scjg|K11", "upcoming", 11);
    let c = evaluated("R4|scjg|K12", "upcoming", 12);
    let first = store
        .apply_findings(&[a.clone(), b.clone(), c.clone()], at(0))
        .await
        .unwrap();
    assert_eq!((first.inserted, first.transitions), (3, 3));
    // The same evaluation again changes nothing.
    let again = store
        .apply_findings(&[a.clone(), b.clone(), c.clone()], at(1))
        .await
        .unwrap();
    assert_eq!(
        (
            again.inserted,
            again.updated,
            again.unchanged,
            again.transitions
        ),
        (0, 0, 3, 0)
    );

    let listed = store.findings(&open).await.unwrap();
    assert_eq!(
        listed.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(),
        ["R1|scjg|K9", "R1|scjg|K11", "R4|scjg|K12"]
    );
    let id_of = |key: &str| listed.iter().find(|f| f.key == key).unwrap().id;
    let (ia, ib, ic) = (id_of(&a.key), id_of(&b.key), id_of(&c.key));

    // A waived finding stays waived through re-evaluation.
    assert!(
        store
            .waive_finding(ib, "张三", "已电话核实，系重复录入", at(2))
            .await
            .unwrap()
    );
    assert!(
        !store
            .waive_finding(ib, "张三", "again", at(2))
            .await
            .unwrap()
    );
    assert!(
        !store
            .waive_finding(999_999, "张三", "none", at(2))
            .await
            .unwrap()
    );

    // Later: a is overdue, then resolved by the data; c no longer applies; b was waived.
    let a_over = liandong::store::EvaluatedFinding {
        state: "overdue".into(),
        ..a.clone()
    };
    let b_over = liandong::store::EvaluatedFinding {
        state: "overdue".into(),
        ..b.clone()
    };
    let step = store
        .apply_findings(&[a_over, b_over.clone()], at(3))
        .await
        .unwrap();
    assert_eq!((step.updated, step.gone), (1, 1));
    let a_done = liandong::store::EvaluatedFinding {
        state: "resolved".into(),
        facts: serde_json::json!({"entered_at": "2025-10-10T09:00:00+08:00"}).to_string(),
        ..a.clone()
    };
    store
        .apply_findings(&[a_done, b_over], at(4))
        .await
        .unwrap();

    let everything = store.findings(&all).await.unwrap();
    let get = |id: i64| everything.iter().find(|f| f.id == id).unwrap().clone();
    let (fa, fb, fc) = (get(ia), get(ib), get(ic));
    assert_eq!(fa.state, "resolved");
    assert_eq!(fa.resolved_at, Some(at(4)));
    assert_eq!(
        fa.resolution.as_deref(),
        Some("the data now satisfies the rule")
    );
    assert_eq!(fb.state, "waived");
    assert_eq!(
        (fb.waived_by.as_deref(), fb.waived_reason.as_deref()),
        (Some("张三"), Some("已电话核实，系重复录入"))
    );
    assert_eq!(fc.state, "resolved");
    assert!(
        fc.resolution
            .as_deref()
            .unwrap()
            .starts_with("no longer applies")
    );
    assert!(store.findings(&open).await.unwrap().is_empty());

    // A resolved finding keeps its history: found, overdue, resolved.
    let h = store.finding_history(ia).await.unwrap();
    let steps: Vec<(Option<&str>, &str)> = h
        .iter()
        .map(|t| (t.from.map(|s| s.as_str()), t.to.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            (None, "upcoming"),
            (Some("upcoming"), "overdue"),
            (Some("overdue"), "resolved")
        ]
    );
    let hb = store.finding_history(ib).await.unwrap();
    assert_eq!(hb.last().unwrap().to, "waived");
    assert!(hb.last().unwrap().note.as_deref().unwrap().contains("张三"));

    // Filters.
    let r4 = store
        .findings(&FindingFilter {
            all: true,
            rule: Some(liandong::rules::RuleId::R4),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(r4.len(), 1);
    let other = store
        .findings(&FindingFilter {
            all: true,
            unit: Some("zrzy".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(other.is_empty());
}

/// A page of findings (the console's list) holds what `findings` and `state_at` say stood in
/// the wanted states at its instant — open, overdue, due soon, upcoming, resolved, waived,
/// recorded, all — filtered by rule and unit, in due order, counted whole and paged.
async fn a_page_of_findings_is_what_stood_at_its_instant(store: &dyn Store) {
    use liandong::rules::{RuleId, State};
    use liandong::store::{FindingFilter, FindingPage, StatesWanted, StoredFinding};
    let day = |s: &str| -> DateTime<Utc> { format!("{s}T00:00:00Z").parse().unwrap() };
    let made = |key: &str, unit: &str, due: &str, arose: &str, violated: bool, state: &str| {
        liandong::store::EvaluatedFinding {
            unit_id: unit.into(),
            due: day(due) + Duration::hours(16),
            arose_at: day(arose),
            violated,
            ..evaluated(key, state, 9)
        }
    };
    let findings = vec![
        made(
            "R1|scjg|A",
            "scjg",
            "2025-07-05",
            "2025-06-01",
            false,
            "upcoming",
        ),
        made(
            "R1|scjg|B",
            "scjg",
            "2025-07-02",
            "2025-06-20",
            true,
            "overdue",
        ),
        made(
            "R4|scjg|C",
            "scjg",
            "2025-07-10",
            "2025-07-01",
            false,
            "upcoming",
        ),
        made(
            "R1|zrzy|D",
            "zrzy",
            "2025-06-25",
            "2025-05-01",
            false,
            "overdue",
        ),
        made(
            "R2|zrzy|E",
            "zrzy",
            "2025-07-03",
            "2025-06-10",
            false,
            "due_soon",
        ),
        made(
            "R1|scjg|F",
            "scjg",
            "2025-07-20",
            "2025-06-02",
            false,
            "upcoming",
        ),
        made(
            "R3|scjg|G",
            "scjg",
            "2025-07-01",
            "2025-06-15",
            true,
            "recorded",
        ),
        made(
            "R1|zrzy|H",
            "zrzy",
            "2025-07-02",
            "2025-06-05",
            false,
            "due_soon",
        ),
        made(
            "R1|zrzy|I",
            "zrzy",
            "2025-08-01",
            "2025-06-05",
            false,
            "upcoming",
        ),
    ];
    store.apply_findings(&findings, at(0)).await.unwrap();
    let all = FindingFilter {
        all: true,
        ..Default::default()
    };
    let id_of = |stored: &[StoredFinding], key: &str| {
        stored.iter().find(|f| f.key.ends_with(key)).unwrap().id
    };
    let stored = store.findings(&all).await.unwrap();
    assert!(
        store
            .waive_finding(id_of(&stored, "|F"), "张三", "重复", at(5))
            .await
            .unwrap()
    );
    // E is resolved at the data's time (after this evaluation), I at the evaluation's.
    let mut later = findings.clone();
    later[4].state = "resolved".into();
    later[4].satisfied_at = Some(day("2025-07-01"));
    later[8].state = "resolved".into();
    store.apply_findings(&later, at(6)).await.unwrap();
    let stored = store.findings(&all).await.unwrap();
    assert_eq!(stored.len(), 9);

    let instants = [
        day("2025-05-15"),
        day("2025-06-12"),
        at(0),
        at(5),
        at(6),
        day("2025-07-01") + Duration::hours(12),
        day("2025-07-04"),
        day("2025-09-01"),
    ];
    let mut wanted = vec![StatesWanted::Open, StatesWanted::All];
    wanted.extend(State::ALL.into_iter().map(StatesWanted::One));
    let windows = [
        liandong::domain::rule::due_soon_window(3),
        liandong::domain::rule::due_soon_window(i64::MAX),
    ];
    let filters = [
        (None, None),
        (Some(RuleId::R1), None),
        (None, Some("zrzy".to_string())),
    ];
    let mut listed_somewhere = std::collections::BTreeSet::new();
    for t in instants {
        for due_soon in windows {
            for states in wanted.iter().copied() {
                for (rule, unit) in &filters {
                    let expected: Vec<&str> = stored
                        .iter()
                        .filter(|f| rule.is_none_or(|r| f.rule == r))
                        .filter(|f| unit.as_ref().is_none_or(|u| &f.unit_id == u))
                        .filter(|f| match (f.state_at(t, due_soon), states) {
                            (None, _) => false,
                            (Some(s), StatesWanted::Open) => s.is_open(),
                            (Some(_), StatesWanted::All) => true,
                            (Some(s), StatesWanted::One(w)) => s == w,
                        })
                        .map(|f| f.key.as_str())
                        .collect();
                    // Pages of two, to the last and one past it.
                    let mut got = Vec::new();
                    for offset in (0..=expected.len() as u64 + 2).step_by(2) {
                        let (total, page) = store
                            .findings_page(&FindingPage {
                                at: t,
                                due_soon,
                                states,
                                rule: *rule,
                                unit: unit.clone(),
                                offset,
                                limit: 2,
                            })
                            .await
                            .unwrap();
                        assert_eq!(
                            total,
                            expected.len() as u64,
                            "{t} {states:?} {rule:?} {unit:?}"
                        );
                        assert!(page.len() <= 2);
                        got.extend(page.into_iter().map(|f| f.key));
                    }
                    assert_eq!(got, expected, "{t} {due_soon} {states:?} {rule:?} {unit:?}");
                    if let (StatesWanted::One(s), false) = (states, got.is_empty()) {
                        listed_somewhere.insert(s.as_str());
                    }
                }
            }
        }
    }
    // Every state was met at some instant (the comparisons above were not all of empty lists).
    assert_eq!(
        listed_somewhere.into_iter().collect::<Vec<_>>(),
        [
            "due_soon", "overdue", "recorded", "resolved", "upcoming", "waived"
        ]
    );
}

/// The console's accounts: a login is taken once; a session is found by its token's hash until
/// it expires, and ends when the password changes or the account is disabled; failed sign-ins
/// are counted per login and per address over the window asked.
async fn accounts_sessions_and_failed_sign_ins(store: &dyn Store) {
    use liandong::store::accounts::{Role, User};
    let user = |login: &str, role: Role, unit: Option<&str>| User {
        login: login.into(),
        role,
        unit_id: unit.map(Into::into),
        created_at: at(0),
        changed_at: at(0),
        disabled_at: None,
    };
    assert!(
        store
            .add_user(&user("scjg", Role::Unit, Some("scjg")), "$argon2id$h1")
            .await
            .unwrap()
    );
    assert!(
        store
            .add_user(&user("fjld", Role::Liaison, None), "$argon2id$h2")
            .await
            .unwrap()
    );
    assert!(
        !store
            .add_user(&user("scjg", Role::Admin, None), "$argon2id$h3")
            .await
            .unwrap()
    );
    let (u, hash) = store.user_with_hash("scjg").await.unwrap().unwrap();
    assert_eq!(
        (u.role, u.unit_id.as_deref(), hash.as_str()),
        (Role::Unit, Some("scjg"), "$argon2id$h1")
    );
    assert_eq!(
        store
            .users()
            .await
            .unwrap()
            .iter()
            .map(|u| u.login.as_str())
            .collect::<Vec<_>>(),
        ["fjld", "scjg"]
    );

    store
        .open_session("t1", "scjg", "c1", at(0), at(60))
        .await
        .unwrap();
    let s = store.session("t1", at(59)).await.unwrap().unwrap();
    assert_eq!(
        (s.user.login.as_str(), s.csrf.as_str(), s.expires_at),
        ("scjg", "c1", at(60))
    );
    assert!(
        store.session("t1", at(60)).await.unwrap().is_none(),
        "expired"
    );
    assert!(store.session("t2", at(1)).await.unwrap().is_none());
    store.close_session("t1").await.unwrap();
    assert!(
        store.session("t1", at(1)).await.unwrap().is_none(),
        "signed out"
    );

    store
        .open_session("t3", "scjg", "c3", at(0), at(60))
        .await
        .unwrap();
    assert!(
        store
            .set_password("scjg", "$argon2id$h4", at(2))
            .await
            .unwrap()
    );
    assert!(
        store.session("t3", at(3)).await.unwrap().is_none(),
        "a new password ends sessions"
    );
    assert_eq!(
        store.user_with_hash("scjg").await.unwrap().unwrap().1,
        "$argon2id$h4"
    );
    store
        .open_session("t4", "fjld", "c4", at(0), at(60))
        .await
        .unwrap();
    assert!(store.disable_user("fjld", at(4)).await.unwrap());
    assert!(
        store.session("t4", at(5)).await.unwrap().is_none(),
        "disabling ends sessions"
    );
    assert_eq!(
        store
            .user_with_hash("fjld")
            .await
            .unwrap()
            .unwrap()
            .0
            .disabled_at,
        Some(at(4))
    );
    assert!(!store.disable_user("nobody", at(4)).await.unwrap());
    assert!(!store.set_password("nobody", "x", at(4)).await.unwrap());

    for m in [10, 10, 11] {
        store
            .sign_in_failed("scjg", "10.0.0.1", at(m))
            .await
            .unwrap();
    }
    store
        .sign_in_failed("other", "10.0.0.1", at(11))
        .await
        .unwrap();
    assert_eq!(
        store
            .sign_in_failures("scjg", "10.0.0.1", at(10))
            .await
            .unwrap(),
        (3, 4)
    );
    assert_eq!(
        store
            .sign_in_failures("scjg", "10.0.0.2", at(11))
            .await
            .unwrap(),
        (1, 0)
    );
    assert_eq!(
        store
            .sign_in_failures("nobody", "10.0.0.1", at(12))
            .await
            .unwrap(),
        (0, 0)
    );
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $case() {
                    let tmp = crate::common::temp_sqlite();
                    let store = crate::common::open(&tmp.url).await;
                    assert_eq!(store.backend(), "sqlite");
                    super::$case(store.as_ref()).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $case() {
                    let what = concat!("store conformance on PostgreSQL: ", stringify!($case));
                    let Some(db) = crate::common::fresh_pg(what).await else {
                        return;
                    };
                    // Declared after `db`, so the pool closes before the database is dropped.
                    let store = crate::common::open(&db.url).await;
                    assert_eq!(store.backend(), "postgres");
                    super::$case(store.as_ref()).await;
                }
            )*
        }
    };
}

conformance!(
    every_field_type_of_every_feed_reads_back_equal,
    unchanged_rows_are_not_written_again,
    a_changed_field_updates_the_row_with_masked_history,
    case_number_variants_of_one_unit_share_one_row,
    an_import_dropped_without_commit_leaves_nothing,
    a_batch_that_fails_part_way_cannot_be_committed,
    finished_runs_record_success_and_error_without_touching_the_cursor,
    quarantine_keeps_one_entry_per_location_row_and_field,
    a_row_repeating_a_case_is_applied_over_it_and_says_what_it_changed,
    rows_of_unknown_units_are_kept_and_counted,
    records_can_be_listed_for_one_unit,
    migrating_twice_is_harmless,
    a_second_import_waits_for_the_first_instead_of_failing,
    records_page_after_one_another_in_case_and_unit_order,
    findings_keep_their_lifecycle_across_evaluations,
    a_page_of_findings_is_what_stood_at_its_instant,
    accounts_sessions_and_failed_sign_ins,
);

/// The indexes and constraints of `table`, as PostgreSQL defines them.
async fn pg_keys(url: &str, table: &str) -> Vec<(String, String)> {
    use sqlx::{Connection, Row};
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let mut keys: Vec<(String, String)> = sqlx::query(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1 \
         UNION ALL SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1::regclass \
         ORDER BY 1, 2",
    )
    .bind(table)
    .fetch_all(&mut c)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    keys.sort();
    keys
}

/// A first load into an empty PostgreSQL table builds its keys and indexes at commit: afterwards
/// the table has exactly the constraints and indexes the migrations gave it, a case the load
/// listed twice is one row (with its history), and a reader that came meanwhile waited for the
/// load and saw all of it, never part.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_first_load_builds_the_keys_the_migrations_gave_and_readers_wait_for_it() {
    let Some(db) = common::fresh_pg("a first load on PostgreSQL").await else {
        return;
    };
    let store: std::sync::Arc<dyn Store> = common::open(&db.url).await.into();
    let before = pg_keys(&db.url, "cases").await;
    assert!(
        before.iter().any(|(_, d)| d.starts_with("PRIMARY KEY")),
        "{before:?}"
    );
    assert!(
        before
            .iter()
            .any(|(_, d)| d.starts_with("UNIQUE (case_key, unit_id)")),
        "{before:?}"
    );
    let one = full(Feed::Cases, "scjg", 1);
    let one_later = with(one.clone(), "amount", Value::Fen(1));
    let mut imp = store.begin_import(SOURCE, at(0)).await.unwrap();
    imp.allow_deferred();
    let rows: Vec<Record> = (1..=3000).map(|i| full(Feed::Cases, "scjg", i)).collect();
    imp.put(rows).await.unwrap();
    let (_, outcomes) = imp
        .put_repeats(vec![one_later.clone()], &[0])
        .await
        .unwrap();
    assert_eq!(outcomes, [Repeated::Later]);
    // A reader meanwhile waits for the load (the table is locked to its commit).
    let reader = store.clone();
    let counted = tokio::spawn(async move { reader.record_count(Feed::Cases).await });
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    assert!(
        !counted.is_finished(),
        "a reader saw the table during its first load"
    );
    imp.commit(None).await.unwrap();
    let n = tokio::time::timeout(StdDuration::from_secs(30), counted)
        .await
        .expect("the reader never finished")
        .unwrap()
        .unwrap();
    assert_eq!(n, 3000, "the reader saw the whole load");
    assert_eq!(pg_keys(&db.url, "cases").await, before);
    let stored = store.records(Feed::Cases, Some("scjg")).await.unwrap();
    let first = stored
        .iter()
        .find(|s| s.record.case_no == one.case_no)
        .unwrap();
    assert_eq!(first.record, one_later, "the later row is kept");
    assert_eq!(store.history(Feed::Cases, first.id).await.unwrap().len(), 1);
    // The keys work: a later import compares and updates through them.
    let c = put_all(store.as_ref(), at(5), vec![full(Feed::Cases, "scjg", 2)]).await;
    assert_eq!(c, counts(1, 0, 0, 1));
    drop(store);
    drop(db);
}
