//! File sources against real files on disk: encodings, spreadsheet formats, drop folders,
//! quarantine of bad rows, case-number variants and idempotent re-syncs.

use liandong::config::Encoding;
use liandong::records::Field;
use liandong::records::{Feed, Value};
use liandong::sync::sync;
use std::str::FromStr;

use crate::common::{self, file_source, write};

const HEADER: &str =
    "执法单位,案号,当事人,证件号,案由,处罚决定日期,结案日期,罚没金额(元),涉嫌犯罪,移送决定日期";

fn gbk(text: &str) -> Vec<u8> {
    encoding_rs::GBK.encode(text).0.into_owned()
}

fn xlsx(path: &std::path::Path) {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    ws.merge_range(
        0,
        0,
        0,
        4,
        "稻城县自然资源局行政处罚案件台账(2024年)",
        &Format::new(),
    )
    .unwrap();
    for (i, h) in ["执法单位", "案号", "当事人", "处罚决定日期", "罚没金额(元)"]
        .iter()
        .enumerate()
    {
        ws.write_string(1, i as u16, *h).unwrap();
    }
    let rows = [
        ("稻自然资罚[2024]1号", "次仁", 2024, 3, 5, 12000.0),
        ("稻自然资罚（2024）2号", "扎西", 2024, 4, 9, 800.5),
    ];
    for (r, (no, party, y, m, d, amount)) in rows.iter().enumerate() {
        let r = r as u32 + 2;
        ws.write_string(r, 0, "县自然资源局").unwrap();
        ws.write_string(r, 1, *no).unwrap();
        ws.write_string(r, 2, *party).unwrap();
        let dt = ExcelDateTime::from_ymd(*y, *m, *d).unwrap();
        ws.write_datetime_with_format(r, 3, &dt, &date).unwrap();
        ws.write_number(r, 4, *amount).unwrap();
    }
    wb.save(path).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn gbk_csv_bom_csv_xlsx_and_html_named_xls_are_all_read() {
    let ts = common::temp_sqlite();
    let d = ts.dir.path();
    let gbk_file = write(
        d,
        "scjg.csv",
        gbk(&format!(
            "{HEADER}\n稻城县市场监督管理局,稻市监罚〔2024〕1号,稻城县某某商贸有限公司,91513337MA62X1234K,销售过期食品,2024/6/12,2024年6月20日,\"1,234.50\",否,\n"
        )),
    );
    let bom_file = write(
        d,
        "nync.csv",
        "\u{feff}执法单位,案号,当事人,办结日期,涉案金额(元),涉嫌犯罪\n县农业农村局,稻农罚〔2024〕3号,卓玛,20240701,1.2万,Y\n",
    );
    let xlsx_file = d.join("zrzy.xlsx");
    xlsx(&xlsx_file);
    let html_file = write(
        d,
        "jtys.xls",
        "<html><head><meta charset=\"utf-8\"></head><body><table border=1>\
         <tr><th>执法单位</th><th>案号</th><th>当事人</th><th>处罚决定日期</th><th>罚没金额(元)</th></tr>\
         <tr><td>县交通局</td><td>稻交运罚〔2024〕7号</td><td>洛绒&nbsp;扎西</td><td>45455</td><td>3000元</td></tr>\
         </table></body></html>",
    );
    let mut gbk_src = file_source("scjg", Feed::Cases, &gbk_file);
    gbk_src.encoding = Encoding::Auto;
    let cfg = common::config(
        &ts.url,
        vec![
            gbk_src,
            file_source("nync", Feed::Cases, &bom_file),
            file_source("zrzy", Feed::Cases, &xlsx_file),
            file_source("jtys", Feed::Cases, &html_file),
        ],
    );
    let store = common::open(&ts.url).await;
    let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    for o in &out {
        assert!(o.error.is_none(), "{}: {:?}", o.source, o.error);
        assert_eq!(o.counts.quarantined, 0, "{}", o.source);
    }
    let recs = store.records(Feed::Cases, None).await.unwrap();
    assert_eq!(recs.len(), 5);
    let by_no = |no: &str| {
        recs.iter()
            .find(|r| r.record.case_no.as_written() == no)
            .unwrap_or_else(|| panic!("{no} missing"))
            .record
            .clone()
    };

    let scjg = by_no("稻市监罚〔2024〕1号");
    assert_eq!(scjg.unit_id, "scjg");
    assert_eq!(
        scjg.get(Field::Party),
        &Value::Text("稻城县某某商贸有限公司".into())
    );
    assert_eq!(scjg.get(Field::Amount), &Value::Fen(123_450));
    assert_eq!(
        scjg.get(Field::DecidedOn),
        &Value::Date(chrono::NaiveDate::from_ymd_opt(2024, 6, 12).unwrap())
    );
    assert_eq!(
        scjg.get(Field::ClosedOn),
        &Value::Date(chrono::NaiveDate::from_ymd_opt(2024, 6, 20).unwrap())
    );

    let nync = by_no("稻农罚〔2024〕3号");
    assert_eq!(nync.unit_id, "nync");
    assert_eq!(nync.get(Field::Amount), &Value::Fen(1_200_000));
    assert_eq!(nync.get(Field::SuspectedCrime), &Value::Bool(true));
    assert_eq!(
        nync.get(Field::ClosedOn),
        &Value::Date(chrono::NaiveDate::from_ymd_opt(2024, 7, 1).unwrap())
    );

    let zrzy = by_no("稻自然资罚[2024]1号");
    assert_eq!(zrzy.unit_id, "zrzy");
    assert_eq!(
        zrzy.get(Field::DecidedOn),
        &Value::Date(chrono::NaiveDate::from_ymd_opt(2024, 3, 5).unwrap())
    );
    assert_eq!(zrzy.get(Field::Amount), &Value::Fen(1_200_000));
    assert_eq!(
        by_no("稻自然资罚（2024）2号").get(Field::Amount),
        &Value::Fen(80_050)
    );

    let jtys = by_no("稻交运罚〔2024〕7号");
    assert_eq!(jtys.unit_id, "jtys");
    assert_eq!(jtys.get(Field::Party), &Value::Text("洛绒 扎西".into()));
    // 45455 is the Excel serial of 2024-06-12.
    assert_eq!(
        jtys.get(Field::DecidedOn),
        &Value::Date(chrono::NaiveDate::from_ymd_opt(2024, 6, 12).unwrap())
    );
    assert_eq!(jtys.get(Field::Amount), &Value::Fen(300_000));
}

#[tokio::test(flavor = "multi_thread")]
async fn case_numbers_written_with_any_bracket_or_digit_width_match_each_other() {
    let ts = common::temp_sqlite();
    let d = ts.dir.path();
    let cases = write(
        d,
        "cases.csv",
        "执法单位,案号,当事人\n县市场监管局,稻市监罚〔2024〕1号,甲\n县市场监管局,稻市监罚〔2024〕2号,乙\n县市场监管局,稻市监罚〔2024〕3号,丙\n县市场监管局,稻市监罚〔2024〕4号,丁\n",
    );
    let referrals = write(
        d,
        "referrals.csv",
        "移送单位,案号,当事人,录入时间\n县市场监管局,稻市监罚〔2024〕1号,甲,2024-06-13 09:00\n县市场监管局,稻市监罚[2024]2号,乙,2024-06-13 09:00\n\
         县市场监管局,稻市监罚(2024)3号,丙,2024-06-13 09:00\n县市场监管局,稻市监罚（２０２４）４号,丁,2024-06-13 09:00\n",
    );
    let cfg = common::config(
        &ts.url,
        vec![
            file_source("cases", Feed::Cases, &cases),
            file_source("referrals", Feed::Referrals, &referrals),
        ],
    );
    let store = common::open(&ts.url).await;
    sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    let case_keys: Vec<(String, String)> = store
        .records(Feed::Cases, None)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.record.unit_id.clone(), r.record.case_no.key().to_string()))
        .collect();
    let referrals = store.records(Feed::Referrals, None).await.unwrap();
    assert_eq!(referrals.len(), 4);
    for r in &referrals {
        let key = (r.record.unit_id.clone(), r.record.case_no.key().to_string());
        assert!(
            case_keys.contains(&key),
            "referral {} does not match a case",
            r.record.case_no.as_written()
        );
    }
    // The text as written is kept for display.
    assert!(
        referrals
            .iter()
            .any(|r| r.record.case_no.as_written() == "稻市监罚（２０２４）４号")
    );

    // The same cases delivered again with other brackets are the same cases, not new ones.
    write(
        d,
        "cases.csv",
        "执法单位,案号,当事人\n县市场监管局,稻市监罚[2024]1号,甲\n县市场监管局,稻市监罚（2024）2号,乙\n",
    );
    sync(&cfg, store.as_ref(), Some("cases"), common::clock(), false).await;
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_with_bad_rows_loads_its_good_rows_and_quarantines_the_bad_ones() {
    let ts = common::temp_sqlite();
    let d = ts.dir.path();
    let f = write(
        d,
        "scjg.csv",
        "执法单位,案号,当事人,处罚决定日期,罚没金额(元)\n\
         县市场监管局,稻市监罚〔2024〕1号,甲,2024-06-12,100\n\
         县市场监管局,稻市监罚〔2024〕2号,乙,2024-02-30,100\n\
         县市场监管局,稻市监罚〔2024〕3号,丙,2024-06-12,一千二\n\
         县市场监管局,,丁,2024-06-12,100\n\
         县市场监管局,稻市监罚〔2024〕5号,戊,2024-06-13,200\n",
    );
    let mut src = file_source("scjg", Feed::Cases, &f);
    src.unit = Some("scjg".into());
    let cfg = common::config(&ts.url, vec![src]);
    let store = common::open(&ts.url).await;
    let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert!(out[0].error.is_none(), "{:?}", out[0].error);
    assert_eq!(out[0].counts.inserted, 2);
    assert_eq!(out[0].counts.quarantined, 3);
    assert_eq!(out[0].counts.seen, 5);
    let q = store.quarantined(Some("scjg"), 100).await.unwrap();
    let mut got: Vec<String> = q
        .iter()
        .map(|e| format!("{}:{}:{}", e.item.location, e.item.row, e.item.field))
        .collect();
    got.sort();
    let file = f.display().to_string();
    assert_eq!(
        got,
        vec![
            format!("{file}:3:decided_on"),
            format!("{file}:4:amount"),
            format!("{file}:5:case_no")
        ]
    );
    for e in &q {
        assert!(!e.item.reason.is_empty());
        // The whole row is kept so nothing is lost.
        assert!(e.item.raw.contains("县市场监管局"), "{}", e.item.raw);
    }
    let date = q.iter().find(|e| e.item.field == "decided_on").unwrap();
    assert_eq!(date.item.column.as_deref(), Some("处罚决定日期"));
    assert_eq!(date.item.value, "2024-02-30");

    // A second pass over the same file quarantines the same rows once, not twice.
    sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert_eq!(store.quarantined(Some("scjg"), 100).await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sync_over_unchanged_data_changes_nothing_and_a_change_keeps_its_history() {
    let ts = common::temp_sqlite();
    let d = ts.dir.path();
    let body = "执法单位,案号,当事人,证件号,罚没金额(元)\n县市场监管局,稻市监罚〔2024〕1号,甲,513337199001011234,100\n县市场监管局,稻市监罚〔2024〕2号,乙,,200\n";
    let f = write(d, "c.csv", body);
    let cfg = common::config(&ts.url, vec![file_source("c", Feed::Cases, &f)]);
    let store = common::open(&ts.url).await;
    let first = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert_eq!(first[0].counts.inserted, 2);
    let before = store.records(Feed::Cases, None).await.unwrap();

    let second = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert_eq!(
        (
            second[0].counts.inserted,
            second[0].counts.updated,
            second[0].counts.unchanged
        ),
        (0, 0, 2)
    );
    let after = store.records(Feed::Cases, None).await.unwrap();
    assert_eq!(
        before
            .iter()
            .map(|r| (r.id, r.changed_at))
            .collect::<Vec<_>>(),
        after
            .iter()
            .map(|r| (r.id, r.changed_at))
            .collect::<Vec<_>>()
    );

    write(
        d,
        "c.csv",
        body.replace(",100\n", ",150\n")
            .replace("199001011234", "199001015678"),
    );
    let third = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert_eq!((third[0].counts.updated, third[0].counts.unchanged), (1, 1));
    let changed = store
        .records(Feed::Cases, None)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.record.case_no.key().ends_with("1号"))
        .unwrap();
    let h = store.history(Feed::Cases, changed.id).await.unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].source, "c");
    assert_eq!(h[0].changes["amount"], serde_json::json!([100.0, 150.0]));
    assert!(
        !h[0].changes.to_string().contains("199001015678"),
        "history must mask ID numbers"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drop_folder_archives_what_it_read_and_keeps_an_unreadable_file_for_a_person() {
    let ts = common::temp_sqlite();
    let drop = ts.dir.path().join("drop");
    write(&drop, "a.csv", "执法单位,案号\n县市场监管局,A-1\n");
    write(
        &drop,
        "b.csv",
        "执法单位,案号\n县市场监管局,A-2\n县市场监管局,A-3\n",
    );
    write(&drop, "broken.csv", "no,header,here\n1,2,3\n");
    write(&drop, "notes.docx", "ignored: not a data file");
    let mut src = file_source("drop", Feed::Cases, &drop);
    src.settle_secs = 0;
    let cfg = common::config(&ts.url, vec![src]);
    let store = common::open(&ts.url).await;
    let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    let err = out[0]
        .error
        .as_deref()
        .expect("the broken file makes the run fail");
    assert!(
        err.contains("broken.csv") && err.contains("case number"),
        "{err}"
    );
    assert_eq!(out[0].counts.inserted, 3);
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 3);
    let left: Vec<String> = std::fs::read_dir(&drop)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.contains(&"broken.csv".to_string()) && left.contains(&"notes.docx".to_string()));
    assert!(!left.contains(&"a.csv".to_string()) && !left.contains(&"b.csv".to_string()));
    let archived = std::fs::read_dir(drop.join(".archive")).unwrap().count();
    assert_eq!(archived, 2);
    let st = store.source_state("drop").await.unwrap().unwrap();
    assert!(st.last_error.is_some());

    // Once the broken file is removed the folder is healthy again.
    std::fs::remove_file(drop.join("broken.csv")).unwrap();
    let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert!(out[0].error.is_none());
    assert_eq!(out[0].counts.seen, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_units_are_kept_and_rows_of_another_unit_are_refused_by_a_unit_source() {
    let ts = common::temp_sqlite();
    let d = ts.dir.path();
    let f = write(
        d,
        "c.csv",
        "执法单位,案号\n县公安局,G-1\n县自然资源局,Z-1\n,S-1\n县市场监管局,S-2\n",
    );
    let mut src = file_source("scjg", Feed::Cases, &f);
    src.unit = Some("scjg".into());
    let cfg = common::config(&ts.url, vec![src]);
    let store = common::open(&ts.url).await;
    let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert_eq!(out[0].counts.inserted, 3);
    assert_eq!(out[0].counts.unknown_unit, 1);
    assert_eq!(out[0].counts.quarantined, 1);
    let unknown = store.unknown_units().await.unwrap();
    assert_eq!(unknown, vec![(Feed::Cases, "县公安局".to_string(), 1)]);
    let q = store.quarantined(None, 10).await.unwrap();
    assert_eq!(q[0].item.field, "unit");
    assert_eq!(q[0].item.row, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_case_listed_twice_in_one_file_ends_as_its_last_row_with_history() {
    let ts = common::temp_sqlite();
    let f = write(
        ts.dir.path(),
        "c.csv",
        "执法单位,案号,罚没金额\n县市场监管局,A-1,100\n县市场监管局,A-1,300\n",
    );
    let cfg = common::config(&ts.url, vec![file_source("c", Feed::Cases, &f)]);
    let store = common::open(&ts.url).await;
    let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert_eq!((out[0].counts.inserted, out[0].counts.updated), (1, 1));
    let r = &store.records(Feed::Cases, None).await.unwrap()[0];
    assert_eq!(r.record.get(Field::Amount), &Value::Fen(30_000));
    assert_eq!(store.history(Feed::Cases, r.id).await.unwrap().len(), 1);
}

/// Migration 14 rebuilds the SQLite cases table to give its (unit, case number) key a name: a
/// store written by the previous version keeps every row, id and value, and the key still holds.
#[tokio::test(flavor = "multi_thread")]
async fn the_cases_table_rebuilt_by_migration_14_keeps_its_rows_and_its_key() {
    let ts = common::temp_sqlite();
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&ts.url)
        .unwrap()
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
    let mut before = sqlx::migrate!("./migrations/sqlite");
    let older: Vec<_> = before
        .migrations
        .iter()
        .filter(|m| m.version < 14)
        .cloned()
        .collect();
    assert_eq!(older.len(), 13);
    before.migrations = older.into();
    before.run(&pool).await.unwrap();
    for (id, unit, key, amount) in [
        (7, "scjg", "K1", 100),
        (9, "scjg", "K2", 200),
        (12, "zrzy", "K1", 300),
    ] {
        sqlx::query(
            "INSERT INTO cases (id, unit_id, unit_known, case_key, case_no, amount, fingerprint, source, \
             first_seen_at, changed_at, rev) VALUES ($1, $2, 1, $3, $3, $4, X'00', 'old', \
             '2025-01-01T00:00:00+00:00', '2025-01-02T00:00:00+00:00', 3)",
        )
        .bind(id)
        .bind(unit)
        .bind(key)
        .bind(amount)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let store = common::open(&ts.url).await; // runs migrations 14 and 15 (listed by case number, then unit)
    let rows = store.records(Feed::Cases, None).await.unwrap();
    let got: Vec<(i64, &str, &str, &Value)> = rows
        .iter()
        .map(|r| {
            (
                r.id,
                r.record.unit_id.as_str(),
                r.record.case_no.as_written(),
                r.record.get(Field::Amount),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (7, "scjg", "K1", &Value::Fen(100)),
            (12, "zrzy", "K1", &Value::Fen(300)),
            (9, "scjg", "K2", &Value::Fen(200)),
        ]
    );
    assert_eq!(rows[0].source, "old");
    assert!(
        case_indexes(&ts.url)
            .await
            .contains(&"cases_case_unit".to_string())
    );
    let pool = sqlx::SqlitePool::connect(&ts.url).await.unwrap();
    let dup = sqlx::query(
        "INSERT INTO cases (unit_id, unit_known, case_key, case_no, fingerprint, source, first_seen_at, changed_at) \
         VALUES ('scjg', 1, 'K1', 'K1', X'01', 'x', 'a', 'b')",
    )
    .execute(&pool)
    .await;
    assert!(dup.is_err(), "the (unit, case key) key is unique");
    pool.close().await;
}

/// A first load builds the unique (unit, case number) key at the end; a case the file lists
/// again, in a later batch or the same one, is folded into its first row there: applied as an
/// update with its history entry when it differs, counted unchanged when it does not. A repeat
/// with other values is recorded (both rows, the fields that differ) — by the first load as by
/// every later sync that reads it again; identical ones are not.
#[tokio::test(flavor = "multi_thread")]
async fn a_first_load_folds_a_case_listed_again_into_its_first_row_and_records_it() {
    let ts = common::temp_sqlite();
    let store = common::open(&ts.url).await;
    let before = case_indexes(&ts.url).await;
    assert!(
        before.contains(&"cases_case_unit".to_string()),
        "{before:?}"
    );
    let mut body = String::from("执法单位,案号,罚没金额\n");
    for i in 1..=3000 {
        body.push_str(&format!("县市场监管局,稻市监罚〔2025〕{i}号,{i}\n"));
        if i == 10 {
            body.push_str("县市场监管局,稻市监罚（２０２５）1号,100\n"); // A again, another amount
        }
        if i == 2500 {
            body.push_str("县市场监管局,稻市监罚（２０２５）1号,100\n"); // A a third time, as the second
            body.push_str("县市场监管局,稻市监罚〔2025〕7号,7\n"); // B again, the same
        }
    }
    let f = write(ts.dir.path(), "c.csv", &body);
    let cfg = common::config(&ts.url, vec![file_source("c", Feed::Cases, &f)]);
    let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert!(out[0].error.is_none(), "{:?}", out[0].error);
    let c = out[0].counts;
    assert_eq!(
        (c.seen, c.inserted, c.updated, c.unchanged, c.repeated),
        (3003, 3000, 1, 2, 1)
    );
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 3000);
    // Rows count from the header (row 1): A on rows 2, 12 and 2503, B on rows 8 and 2504.
    let repeats = store.repeats(None, 10).await.unwrap();
    assert_eq!(repeats.len(), 1, "{repeats:?}");
    let r = &repeats[0].item;
    let file = f.display().to_string();
    assert_eq!(
        (
            r.location.as_str(),
            r.row,
            r.earlier_location.as_str(),
            r.earlier_row
        ),
        (file.as_str(), 12, file.as_str(), 2)
    );
    assert_eq!(r.case_no, "稻市监罚（２０２５）1号");
    assert_eq!(r.fields(), ["amount", "case_no"]);
    assert_eq!(r.changes["amount"], serde_json::json!([1.0, 100.0]));
    assert!(store.quarantined(None, 10).await.unwrap().is_empty());
    let rows = store.records(Feed::Cases, None).await.unwrap();
    let a = rows
        .iter()
        .find(|r| r.record.case_no.as_written() == "稻市监罚（２０２５）1号")
        .expect("case A is stored once, under its later spelling");
    assert_eq!(a.record.get(Field::Amount), &Value::Fen(10_000));
    let history = store.history(Feed::Cases, a.id).await.unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert!(
        history[0].changes.to_string().contains("amount"),
        "{history:?}"
    );
    let b = rows
        .iter()
        .find(|r| r.record.case_no.as_written() == "稻市监罚〔2025〕7号")
        .unwrap();
    assert!(store.history(Feed::Cases, b.id).await.unwrap().is_empty());
    assert!(
        rows.iter().all(|r| r.id >= a.id),
        "A keeps its first row's id"
    );
    assert_eq!(
        case_indexes(&ts.url).await,
        before,
        "the unique key is built"
    );
    // The key holds: syncing the same file again inserts nothing, and the repeat, read again, is
    // the same entry seen again.
    let later = common::now() + chrono::Duration::hours(1);
    let again = sync(
        &cfg,
        store.as_ref(),
        None,
        liandong::domain::clock::Clock::Fixed(later),
        false,
    )
    .await;
    assert_eq!((again[0].counts.inserted, again[0].counts.repeated), (0, 1));
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 3000);
    let repeats = store.repeats(None, 10).await.unwrap();
    assert_eq!(repeats.len(), 1);
    assert_eq!(
        (repeats[0].first_seen_at, repeats[0].last_seen_at),
        (common::now(), later)
    );
    // The cases as stored, each once, two of them changed: the comparison (which runs in chunks
    // of a batch) finds those two, wherever they are, and only them.
    let mut clean = String::from("执法单位,案号,罚没金额\n");
    for i in 1..=3000 {
        clean.push_str(&match i {
            1 => "县市场监管局,稻市监罚（２０２５）1号,100\n".to_string(),
            260 => "县市场监管局,稻市监罚〔2025〕260号,261\n".to_string(),
            2999 => "县市场监管局,稻市监罚〔2025〕2999号,1\n".to_string(),
            _ => format!("县市场监管局,稻市监罚〔2025〕{i}号,{i}\n"),
        });
    }
    write(ts.dir.path(), "c.csv", &clean);
    let third = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    let c = third[0].counts;
    assert_eq!(
        (c.inserted, c.updated, c.unchanged, c.repeated),
        (0, 2, 2998, 0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_still_being_copied_into_a_drop_folder_is_left_until_it_settles() {
    let ts = common::temp_sqlite();
    let drop = ts.dir.path().join("drop");
    write(&drop, "new.csv", "执法单位,案号\n县市场监管局,A-1\n");
    let mut src = file_source("drop", Feed::Cases, &drop);
    src.settle_secs = 3600;
    let cfg = common::config(&ts.url, vec![src]);
    let store = common::open(&ts.url).await;

    let just_now = liandong::domain::clock::Clock::Wall;
    let out = sync(&cfg, store.as_ref(), None, just_now, false).await;
    assert!(out[0].error.is_none());
    assert_eq!(
        out[0].counts.seen, 0,
        "a file changed seconds ago is not read"
    );
    assert!(drop.join("new.csv").exists());

    let two_hours_later = liandong::domain::clock::Clock::Offset(chrono::Duration::hours(2));
    let out = sync(&cfg, store.as_ref(), None, two_hours_later, false).await;
    assert_eq!(out[0].counts.inserted, 1);
    assert!(
        !drop.join("new.csv").exists(),
        "read once it settled, then archived"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_without_a_usable_number_are_each_kept_and_an_update_keeps_its_row() {
    let ts = common::temp_sqlite();
    let d = ts.dir.path();
    let body = "执法单位,案号,当事人,录入时间,公安立案决定\n\
                县市场监管局,无,甲,2025-10-09 10:00,\n\
                县市场监管局,无,乙,2025-10-10 11:00,\n\
                县市场监管局,/,丙,2025-10-11 09:00,\n\
                县市场监管局,稻市监罚〔2025〕3号,丁,2025-10-11 09:30,\n";
    let f = write(d, "r.csv", body);
    let cfg = common::config(&ts.url, vec![file_source("r", Feed::Referrals, &f)]);
    let store = common::open(&ts.url).await;
    let first = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert_eq!(first[0].counts.inserted, 4, "no row overwrites another");
    let rows = store.records(Feed::Referrals, None).await.unwrap();
    assert_eq!(rows.len(), 4);
    let written: Vec<&str> = rows.iter().map(|r| r.record.case_no.as_written()).collect();
    assert_eq!(written.iter().filter(|w| **w == "无").count(), 2);
    // The police decision arrives for 甲's referral: the same row is updated.
    write(
        d,
        "r.csv",
        body.replace("甲,2025-10-09 10:00,", "甲,2025-10-09 10:00,立案"),
    );
    let second = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert_eq!(
        (
            second[0].counts.inserted,
            second[0].counts.updated,
            second[0].counts.unchanged
        ),
        (0, 1, 3)
    );
    assert_eq!(store.records(Feed::Referrals, None).await.unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_review_ledger_is_read_and_a_review_with_one_reviewer_is_quarantined() {
    let ts = common::temp_sqlite();
    let d = ts.dir.path();
    let body = "案号,执法单位,评查日期,评查人,得分,等次,否决项,应移送未移送\n\
                稻市监罚〔2025〕12号,县市场监管局,2025-08-12,张三、李四,92.5,优秀,,否\n\
                稻市监罚〔2025〕13号,县市场监管局,2025-08-13,王五,80,合格,,否\n\
                稻市监罚〔2025〕14号,县市场监管局,2025-08-14,王五 赵六,55,,证据不足,是\n\
                稻市监罚〔2025〕15号,县市场监管局,,王五 赵六,70,,,否\n";
    let f = write(d, "reviews.csv", body);
    let cfg = common::config(&ts.url, vec![file_source("r", Feed::Reviews, &f)]);
    let store = common::open(&ts.url).await;
    let run = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert_eq!((run[0].counts.inserted, run[0].counts.quarantined), (2, 2));
    let rows = store.records(Feed::Reviews, None).await.unwrap();
    let r = &rows[0].record;
    assert_eq!(
        r.get(Field::Score),
        &Value::Fen(9250),
        "scores are kept in hundredths"
    );
    assert_eq!(
        rows[1].record.get(Field::ShouldTransfer),
        &Value::Bool(true)
    );
    // Without 等次, the grade comes from the score and veto items (a veto: 不合格).
    assert_eq!(
        rows[0].record.get(Field::Grade),
        &Value::Text("优秀".into())
    );
    assert_eq!(
        rows[1].record.get(Field::Grade),
        &Value::Text("不合格".into())
    );
    let q = store.quarantined(None, 10).await.unwrap();
    let mut why: Vec<(i64, &str)> = q
        .iter()
        .map(|e| (e.item.row, e.item.field.as_str()))
        .collect();
    why.sort();
    assert_eq!(why, [(3, "reviewers"), (5, "reviewed_on")]);
    assert!(
        q.iter()
            .any(|e| e.item.reason.contains("at least two reviewers"))
    );
}

/// The secondary indexes of the SQLite cases table, by name.
async fn case_indexes(url: &str) -> Vec<String> {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cases' AND sql IS NOT NULL ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.into_iter().map(|(n,)| n).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_load_rebuilds_the_indexes_it_dropped_and_a_failed_one_keeps_them() {
    let ts = common::temp_sqlite();
    let store = common::open(&ts.url).await;
    let before = case_indexes(&ts.url).await;
    assert!(
        before.contains(&"cases_unit_closed".to_string()),
        "{before:?}"
    );
    let body = "执法单位,案号,当事人,结案日期\n县市场监管局,稻市监罚〔2025〕1号,甲,2025-03-01\n县市场监管局,稻市监罚〔2025〕2号,乙,2025-03-02\n";
    // An import that never commits leaves everything as it was.
    {
        let mut imp = store.begin_import("x", common::now()).await.unwrap();
        let rec = liandong::records::Record {
            feed: Feed::Cases,
            unit_id: "scjg".into(),
            unit_known: true,
            case_no: liandong::domain::case_no::CaseNo::parse("稻市监罚〔2025〕9号").unwrap(),
            values: vec![Value::Null; Feed::Cases.fields().len()],
        };
        imp.put(vec![rec]).await.unwrap();
    }
    assert_eq!(case_indexes(&ts.url).await, before);
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 0);
    let f = write(ts.dir.path(), "c.csv", body);
    let cfg = common::config(&ts.url, vec![file_source("c", Feed::Cases, &f)]);
    let run = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert_eq!(run[0].counts.inserted, 2);
    assert_eq!(
        case_indexes(&ts.url).await,
        before,
        "the same indexes after a first load"
    );
}

/// A UTF-8 export with one byte that is not UTF-8 (issue 22): read as UTF-8 whether the source
/// says `auto` or `utf-8` — its good rows as written, never as GB18030 mojibake — and only the
/// row with the bad byte quarantined, naming the file, the row, the column and why.
#[tokio::test(flavor = "multi_thread")]
async fn a_utf8_file_with_one_bad_byte_loads_its_other_rows_and_quarantines_that_row() {
    let hostile = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/hostile/utf8-one-bad-byte.csv");
    for (name, encoding) in [("auto", Encoding::Auto), ("utf-8", Encoding::Utf8)] {
        let ts = common::temp_sqlite();
        let f = ts.dir.path().join("scjg.csv");
        std::fs::copy(&hostile, &f).unwrap();
        let mut src = file_source("scjg", Feed::Cases, &f);
        src.unit = Some("scjg".into());
        src.encoding = encoding;
        let encoding = name;
        let cfg = common::config(&ts.url, vec![src]);
        let store = common::open(&ts.url).await;
        let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
        assert!(out[0].error.is_none(), "{encoding}: {:?}", out[0].error);
        assert_eq!(
            (out[0].counts.inserted, out[0].counts.quarantined),
            (2, 1),
            "{encoding}"
        );
        let parties: Vec<String> = store
            .select_records(Feed::Cases, &liandong::store::Selection::All)
            .await
            .unwrap()
            .iter()
            .map(|r| r.record.text(Field::Party).unwrap_or_default().to_string())
            .collect();
        assert_eq!(parties, ["扎西", "卓玛"], "{encoding}: read as written");
        let q = store.quarantined(Some("scjg"), 10).await.unwrap();
        assert_eq!(q.len(), 1, "{encoding}");
        let e = &q[0].item;
        assert_eq!(
            (
                e.location.as_str(),
                e.row,
                e.field.as_str(),
                e.column.as_deref()
            ),
            (f.display().to_string().as_str(), 3, "party", Some("当事人")),
            "{encoding}"
        );
        assert!(e.reason.contains("not UTF-8"), "{encoding}: {}", e.reason);
        assert_eq!(e.value, "次\u{FFFD}仁", "{encoding}");
    }
}

/// An HTML "xls" export whose cell holds a table of its own (issue 22): the outer row keeps
/// every cell — the inner table is that cell's text — and the inner rows are no rows of their
/// own; a commented-out row is not read.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_nested_in_a_cell_is_that_cells_text_and_the_row_keeps_its_later_cells() {
    let ts = common::temp_sqlite();
    let f = ts.dir.path().join("jtys.xls");
    std::fs::copy(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/hostile/nested-table.xls"),
        &f,
    )
    .unwrap();
    let mut src = file_source("jtys", Feed::Cases, &f);
    src.unit = Some("jtys".into());
    let cfg = common::config(&ts.url, vec![src]);
    let store = common::open(&ts.url).await;
    let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert!(out[0].error.is_none(), "{:?}", out[0].error);
    assert_eq!(
        (out[0].counts.inserted, out[0].counts.quarantined),
        (2, 0),
        "{:?}",
        store.quarantined(None, 10).await.unwrap()
    );
    let rows = store
        .select_records(Feed::Cases, &liandong::store::Selection::All)
        .await
        .unwrap();
    let first = rows
        .iter()
        .find(|r| r.record.case_no.as_written() == "稻交运罚〔2025〕1号")
        .expect("the row with the nested table");
    assert_eq!(
        first.record.text(Field::Party),
        Some("多吉 （驾驶员） 拉姆")
    );
    assert_eq!(
        first.record.date(Field::DecidedOn),
        chrono::NaiveDate::from_ymd_opt(2025, 2, 12),
        "the cells after the nested table are kept"
    );
    assert_eq!(first.record.get(Field::Amount), &Value::Fen(200_000));
}

/// Issue 22 item 6: a CSV line of 2 MB among good rows. The good rows load; that row is
/// quarantined naming `limits.line_kb`, its raw text stored cut to `limits.raw_kb`; the row after
/// it, and a quoted cell that spans lines, are read as written.
#[tokio::test(flavor = "multi_thread")]
async fn a_line_past_limits_line_kb_is_quarantined_with_its_raw_text_cut() {
    let ts = common::temp_sqlite();
    let long = "长".repeat(700_000); // 2.1 MB
    let f = write(
        ts.dir.path(),
        "scjg.csv",
        format!(
            "执法单位,案号,当事人,处罚决定日期,罚没金额(元)\n\
             县市场监管局,稻市监罚〔2024〕1号,甲,2024-06-12,100\n\
             县市场监管局,稻市监罚〔2024〕2号,\"{long}\",2024-06-12,100\n\
             县市场监管局,稻市监罚〔2024〕3号,\"丙\n丁\",2024-06-13,200\n"
        ),
    );
    let mut src = file_source("scjg", Feed::Cases, &f);
    src.unit = Some("scjg".into());
    let cfg = common::config(&ts.url, vec![src]);
    assert_eq!((cfg.limits.line_kb, cfg.limits.raw_kb), (1024, 16));
    let store = common::open(&ts.url).await;
    let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert!(out[0].error.is_none(), "{:?}", out[0].error);
    assert_eq!((out[0].counts.inserted, out[0].counts.quarantined), (2, 1));
    let parties: Vec<String> = store
        .select_records(Feed::Cases, &liandong::store::Selection::All)
        .await
        .unwrap()
        .iter()
        .map(|r| r.record.text(Field::Party).unwrap_or_default().to_string())
        .collect();
    assert_eq!(parties, ["甲", "丙 丁"]);
    let q = store.quarantined(Some("scjg"), 10).await.unwrap();
    assert_eq!(q.len(), 1);
    let e = &q[0].item;
    assert_eq!(e.row, 3);
    assert_eq!(e.reason, "line of 2051 KB exceeds limits.line_kb = 1024");
    let marker = "…(truncated, ";
    assert!(
        e.raw.len() <= 16 * 1024 + 30,
        "raw stored: {} bytes",
        e.raw.len()
    );
    assert!(e.raw.contains(marker), "{}", &e.raw[e.raw.len() - 40..]);
    // The row as far as it was read: the cells after the cut are not there.
    assert!(
        e.raw
            .starts_with("{\"处罚决定日期\":\"\",\"当事人\":\"长长"),
        "{}",
        e.raw.chars().take(40).collect::<String>()
    );
}

/// Issue 22 item 6: a cell of 100 KB in a line under `limits.line_kb` is refused by the cell
/// limit; the value and raw text stored are cut.
#[tokio::test(flavor = "multi_thread")]
async fn a_cell_past_limits_cell_kb_is_quarantined_naming_the_key() {
    let ts = common::temp_sqlite();
    let long = "x".repeat(100 * 1024);
    let f = write(
        ts.dir.path(),
        "scjg.csv",
        format!(
            "执法单位,案号,当事人,处罚决定日期,罚没金额(元)\n\
             县市场监管局,稻市监罚〔2024〕1号,{long},2024-06-12,100\n\
             县市场监管局,稻市监罚〔2024〕2号,乙,2024-06-12,100\n"
        ),
    );
    let mut src = file_source("scjg", Feed::Cases, &f);
    src.unit = Some("scjg".into());
    let cfg = common::config(&ts.url, vec![src]);
    let store = common::open(&ts.url).await;
    let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert!(out[0].error.is_none(), "{:?}", out[0].error);
    assert_eq!((out[0].counts.inserted, out[0].counts.quarantined), (1, 1));
    let q = store.quarantined(Some("scjg"), 10).await.unwrap();
    let e = &q[0].item;
    assert_eq!(
        (e.row, e.field.as_str(), e.column.as_deref()),
        (2, "party", Some("当事人"))
    );
    assert_eq!(e.reason, "cell of 100 KB exceeds limits.cell_kb = 64");
    assert!(e.value.len() <= 100, "{}", e.value.len());
    assert!(e.raw.len() <= 16 * 1024 + 30, "{}", e.raw.len());

    // A lower limit, set in the configuration, is the one applied and named.
    let ts = common::temp_sqlite();
    let f = write(
        ts.dir.path(),
        "scjg.csv",
        format!(
            "执法单位,案号,当事人,处罚决定日期,罚没金额(元)\n\
             县市场监管局,稻市监罚〔2024〕1号,{},2024-06-12,100\n",
            "y".repeat(3000)
        ),
    );
    let mut src = file_source("scjg", Feed::Cases, &f);
    src.unit = Some("scjg".into());
    let mut cfg = common::config(&ts.url, vec![src]);
    cfg.limits.cell_kb = 2;
    let store = common::open(&ts.url).await;
    let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert_eq!(out[0].counts.quarantined, 1);
    let q = store.quarantined(Some("scjg"), 10).await.unwrap();
    assert_eq!(q[0].item.reason, "cell of 3 KB exceeds limits.cell_kb = 2");
}

/// Issue 22 item 9: a drop folder another process is reading (it holds the folder's lock file)
/// is left alone — not read, not an error, no run recorded — and read in full once it is free.
#[tokio::test(flavor = "multi_thread")]
async fn a_drop_folder_another_process_is_reading_is_left_alone_until_it_is_free() {
    let ts = common::temp_sqlite();
    let drop = ts.dir.path().join("drop");
    write(&drop, "a.csv", "执法单位,案号\n县市场监管局,A-1\n");
    write(&drop, "b.csv", "执法单位,案号\n县市场监管局,A-2\n");
    let mut src = file_source("drop", Feed::Cases, &drop);
    src.settle_secs = 0;
    let cfg = common::config(&ts.url, vec![src]);
    let store = common::open(&ts.url).await;
    // Another process reads the folder: it holds the lock.
    let other = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(drop.join(".liandong.lock"))
        .unwrap();
    other.lock().unwrap();
    let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert_eq!(out[0].error, None);
    let why = out[0].skipped.as_deref().expect("skipped");
    assert!(
        why.contains("another process is reading the drop folder") && why.contains("drop"),
        "{why}"
    );
    assert_eq!(out[0].counts.seen, 0);
    assert!(drop.join("a.csv").exists() && drop.join("b.csv").exists());
    assert!(
        store.source_state("drop").await.unwrap().is_none(),
        "a source left alone has no run to record"
    );
    other.unlock().unwrap();
    let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert_eq!(
        (out[0].error.as_deref(), out[0].skipped.as_deref()),
        (None, None)
    );
    assert_eq!(out[0].counts.inserted, 2);
    assert!(!drop.join("a.csv").exists() && !drop.join("b.csv").exists());
}

/// Issue 22 item 9: two `sync` processes started together on one drop folder read each file once
/// between them — no "file not found" for a file the other archived, no error, every row in.
#[test]
fn two_syncs_on_one_drop_folder_read_each_file_once_and_report_no_error() {
    let dir = tempfile::tempdir().unwrap();
    let drop = dir.path().join("drop");
    for i in 0..30 {
        let rows: String = (0..200)
            .map(|j| {
                format!(
                    "县市场监管局,稻市监罚〔2025〕{}号,2025-03-0{}\n",
                    i * 1000 + j,
                    1 + j % 9
                )
            })
            .collect();
        write(
            &drop,
            &format!("f{i:02}.csv"),
            format!("执法单位,案号,立案日期\n{rows}"),
        );
    }
    let config = write(
        dir.path(),
        "liandong.toml",
        format!(
            "[store]\nurl = \"sqlite://{}\"\n\n[[units]]\nid = \"scjg\"\nname = \"县市场监管局\"\n\n\
             [[sources]]\nname = \"drop\"\nkind = \"file\"\nunit = \"scjg\"\npath = \"{}\"\nsettle_secs = 0\n",
            dir.path().join("s.db").display(),
            drop.display()
        ),
    );
    let start = || {
        common::bin()
            .args(["--config"])
            .arg(&config)
            .arg("sync")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let mut inserted = 0;
    for o in &outs {
        let text =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{text}");
        assert!(!text.contains("error"), "{text}");
        // source  result  seen  inserted …
        let line = text.lines().find(|l| l.starts_with("drop")).expect(&text);
        let cells: Vec<&str> = line.split_whitespace().collect();
        inserted += cells[3].parse::<u64>().unwrap();
    }
    assert_eq!(
        inserted,
        30 * 200,
        "every row inserted once between the two"
    );
    let left: Vec<_> = std::fs::read_dir(&drop)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        std::fs::read_dir(drop.join(".archive")).unwrap().count(),
        30
    );
}

/// Issue 22 item 8: a file source whose file never ends (a FIFO another program stalls on, as
/// a read from a hung network mount does) is stopped at its `run_timeout_secs` with a message
/// saying so; its import, begun with the store's write lock, is rolled back, and the store takes
/// the next source's import at once.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_never_ends_is_stopped_at_run_timeout_secs_and_nothing_of_it_is_stored() {
    let ts = common::temp_sqlite();
    let fifo = ts.dir.path().join("stalled.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // The writer sends a header and some rows, then stalls.
    let path = fifo.clone();
    let writer = std::thread::spawn(move || {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        writeln!(f, "执法单位,案号").unwrap();
        for i in 0..1500 {
            writeln!(f, "县市场监管局,稻市监罚〔2025〕{i}号").unwrap();
        }
        f.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_secs(6));
        // Closing it ends the reader thread the stopped run left behind.
    });
    let mut src = file_source("stalled", Feed::Cases, &fifo);
    src.run_timeout_secs = 2;
    let good = write(
        ts.dir.path(),
        "good.csv",
        "执法单位,案号\n县市场监管局,B-1\n",
    );
    let mut then = file_source("good", Feed::Cases, &good);
    then.run_timeout_secs = 2;
    let cfg = common::config(&ts.url, vec![src, then]);
    let store = common::open(&ts.url).await;
    let started = std::time::Instant::now();
    let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    let err = out[0].error.as_deref().expect("stopped");
    assert!(
        err.contains("did not finish within 2 s (sources.stalled.run_timeout_secs)")
            && err.contains("nothing of this run was stored"),
        "{err}"
    );
    assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    // The next source's import went in: the stopped one's transaction did not hold the store.
    assert_eq!(out[1].error, None);
    assert_eq!(out[1].counts.inserted, 1);
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 1);
    let st = store.source_state("stalled").await.unwrap().unwrap();
    assert!(
        st.last_error
            .as_deref()
            .is_some_and(|e| e.contains("run_timeout_secs")),
        "{st:?}"
    );
    writer.join().unwrap();
}
