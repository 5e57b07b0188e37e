//! SQL sources against real servers: a department's MariaDB table read with Chinese column
//! aliases, in cursor-ordered batches, resuming after a failure mid-stream; a PostgreSQL table;
//! and a source whose server is down next to a file source that still syncs. The store is a
//! temporary SQLite file.

use std::collections::HashSet;

use chrono::{Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use liandong::config::{Config, DatabaseUrl, SourceConfig, SourceKind};
use liandong::domain::case_no::CaseNo;
use liandong::records::Field;
use liandong::records::{Feed, Record, Value};
use liandong::store::Store;
use liandong::sync::{SourceOutcome, sync};
use sqlx::{AssertSqlSafe, Connection};

use crate::common;

const NAME: &str = "dept-db";

/// The department query: Chinese aliases, the cursor as its one parameter, ordered by it.
const MYSQL_QUERY: &str = "SELECT id, dw AS 执法单位, ajbh AS 案号, dsr AS 当事人, fmje AS 罚没金额, \
     cfjdrq AS 处罚决定日期, gxsj AS 更新时间, sfsx AS 涉嫌犯罪 FROM t WHERE id > ? ORDER BY id";

/// The same, with a column that makes MariaDB fail ("Subquery returns more than 1 row") when it
/// reaches a row whose `marker` is 1 — a deterministic failure in the middle of the stream.
const MYSQL_QUERY_BOOM: &str = "SELECT id, dw AS 执法单位, ajbh AS 案号, dsr AS 当事人, fmje AS 罚没金额, \
     cfjdrq AS 处罚决定日期, gxsj AS 更新时间, sfsx AS 涉嫌犯罪, \
     IF(marker = 1, (SELECT 1 UNION SELECT 2), 0) AS boom FROM t WHERE id > ? ORDER BY id";

/// The same, with a column that makes MariaDB stall for 30 s when it reaches a row whose
/// `marker` is 1 — a department database that stops answering in the middle of the stream.
const MYSQL_QUERY_STALL: &str = "SELECT id, dw AS 执法单位, ajbh AS 案号, dsr AS 当事人, fmje AS 罚没金额, \
     cfjdrq AS 处罚决定日期, gxsj AS 更新时间, sfsx AS 涉嫌犯罪, \
     IF(marker = 1, SLEEP(30), 0) AS stall FROM t WHERE id > ? ORDER BY id";

/// Unit names as the department writes them (full names and aliases), with their ids.
const UNITS: [(&str, &str); 4] = [
    ("稻城县市场监督管理局", "scjg"),
    ("县自然资源局", "zrzy"),
    ("稻城县交通运输局", "jtys"),
    ("县农业农村局", "nync"),
];

/// One generated department row: what the table holds and the record it must become.
struct Row {
    id: i64,
    unit: &'static str,
    unit_id: &'static str,
    case_no: String,
    /// `None` is SQL NULL.
    party: Option<String>,
    /// Yuan as the DECIMAL(12,2) literal, and the fen it must become.
    amount: (String, i64),
    decided_on: NaiveDate,
    /// Local (Asia/Shanghai) wall time as stored in the DATETIME column.
    updated_local: NaiveDateTime,
    crime: bool,
}

fn row(id: i64) -> Row {
    let (unit, unit_id) = UNITS[(id % 4) as usize];
    // (Amounts are never negative: ingest quarantines a negative one.)
    let fen = if id % 11 == 0 {
        id * 100 + 5
    } else {
        id * 12_345 + id % 100
    };
    let sign = if fen < 0 { "-" } else { "" };
    Row {
        id,
        unit,
        unit_id,
        case_no: format!("稻执罚〔2024〕{id}号"),
        party: (id % 50 != 0).then(|| format!("当事人{id}")),
        amount: (
            format!("{sign}{}.{:02}", fen.abs() / 100, fen.abs() % 100),
            fen,
        ),
        decided_on: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + Duration::days(id % 366),
        updated_local: NaiveDate::from_ymd_opt(2024, 6, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            + Duration::seconds(id * 977),
        crime: id % 3 == 0,
    }
}

impl Row {
    fn record(&self) -> Record {
        let mut values = vec![Value::Null; Feed::Cases.fields().len()];
        let mut set = |field: &str, v: Value| {
            values[Feed::Cases.field_index(field).unwrap()] = v;
        };
        set(
            "party",
            self.party.clone().map(Value::Text).unwrap_or(Value::Null),
        );
        set("amount", Value::Fen(self.amount.1));
        set("decided_on", Value::Date(self.decided_on));
        // DATETIME has no zone: it is Asia/Shanghai local time, UTC+8.
        set(
            "updated_at",
            Value::DateTime((self.updated_local - Duration::hours(8)).and_utc()),
        );
        set("suspected_crime", Value::Bool(self.crime));
        Record {
            feed: Feed::Cases,
            unit_id: self.unit_id.into(),
            unit_known: true,
            case_no: CaseNo::parse(&self.case_no).unwrap(),
            values,
        }
    }

    fn mysql_values(&self) -> String {
        let party = self
            .party
            .as_ref()
            .map_or("NULL".to_string(), |p| format!("'{p}'"));
        format!(
            "({}, '{}', '{}', {party}, {}, '{}', '{}', {}, 0)",
            self.id,
            self.case_no,
            self.unit,
            self.amount.0,
            self.decided_on.format("%Y-%m-%d"),
            self.updated_local.format("%Y-%m-%d %H:%M:%S"),
            u8::from(self.crime),
        )
    }
}

/// Creates the department table in `url` and fills it with rows `ids`, 500 per INSERT.
async fn mysql_table(url: &str, ids: std::ops::RangeInclusive<i64>) -> sqlx::MySqlConnection {
    let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
    sqlx::query(
        "CREATE TABLE t (id BIGINT PRIMARY KEY, ajbh VARCHAR(64), dw VARCHAR(64), dsr VARCHAR(64), \
         fmje DECIMAL(12,2), cfjdrq DATE, gxsj DATETIME, sfsx TINYINT(1), marker INT NOT NULL DEFAULT 0)",
    )
    .execute(&mut c)
    .await
    .unwrap();
    mysql_insert(&mut c, ids).await;
    c
}

async fn mysql_insert(c: &mut sqlx::MySqlConnection, ids: std::ops::RangeInclusive<i64>) {
    let ids: Vec<i64> = ids.collect();
    for chunk in ids.chunks(500) {
        let values: Vec<String> = chunk.iter().map(|&i| row(i).mysql_values()).collect();
        let sql = format!(
            "INSERT INTO t (id, ajbh, dw, dsr, fmje, cfjdrq, gxsj, sfsx, marker) VALUES {}",
            values.join(", ")
        );
        sqlx::query(AssertSqlSafe(sql))
            .execute(&mut *c)
            .await
            .unwrap();
    }
}

fn sql_source(dsn: &str, query: &str, batch_size: u32) -> SourceConfig {
    SourceConfig {
        dsn: Some(DatabaseUrl(dsn.into())),
        query: Some(query.into()),
        cursor_column: Some("id".into()),
        cursor_start: "0".into(),
        batch_size,
        ..common::source(NAME, SourceKind::Sql, Feed::Cases)
    }
}

async fn run(cfg: &Config, store: &dyn Store) -> Vec<SourceOutcome> {
    sync(cfg, store, None, common::clock(), false).await
}

async fn run_one(cfg: &Config, store: &dyn Store) -> SourceOutcome {
    let mut out = run(cfg, store).await;
    assert_eq!(out.len(), 1);
    out.remove(0)
}

async fn cursor(store: &dyn Store) -> Option<String> {
    store
        .source_state(NAME)
        .await
        .unwrap()
        .and_then(|s| s.cursor)
}

/// Stored case ids (the number in the case number), checking each is stored once.
async fn stored_ids(store: &dyn Store) -> Vec<i64> {
    let rows = store.records(Feed::Cases, None).await.unwrap();
    let keys: HashSet<&str> = rows.iter().map(|r| r.record.case_no.key()).collect();
    assert_eq!(keys.len(), rows.len(), "a case is stored twice");
    let mut ids: Vec<i64> = rows
        .iter()
        .map(|r| {
            let n = r.record.case_no.as_written();
            n.trim_start_matches("稻执罚〔2024〕")
                .trim_end_matches('号')
                .parse()
                .unwrap()
        })
        .collect();
    ids.sort_unstable();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_rows_arrive_once_with_typed_values() {
    let Some(db) = common::fresh_mysql("SQL source on MariaDB").await else {
        return;
    };
    let _c = mysql_table(&db.url, 1..=2500).await;
    let tmp = common::temp_sqlite();
    let store = common::open(&tmp.url).await;
    let cfg = common::config(&tmp.url, vec![sql_source(&db.url, MYSQL_QUERY, 500)]);

    let out = run_one(&cfg, store.as_ref()).await;
    assert_eq!(out.error, None);
    assert_eq!(
        (out.counts.seen, out.counts.inserted, out.counts.quarantined),
        (2500, 2500, 0)
    );
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 2500);
    assert_eq!(cursor(store.as_ref()).await.as_deref(), Some("2500"));

    let stored = store.records(Feed::Cases, None).await.unwrap();
    assert_eq!(
        stored_ids(store.as_ref()).await,
        (1..=2500).collect::<Vec<_>>()
    );
    for s in &stored {
        let id: i64 = s
            .record
            .case_no
            .as_written()
            .trim_start_matches("稻执罚〔2024〕")
            .trim_end_matches('号')
            .parse()
            .unwrap();
        assert_eq!(s.record, row(id).record(), "row {id}");
        assert_eq!(s.source, NAME);
        assert_eq!(s.first_seen_at, common::now());
    }
    // Spot checks of the conversions, spelled out.
    let r7 = stored
        .iter()
        .find(|s| s.record.case_no.as_written() == "稻执罚〔2024〕7号")
        .unwrap();
    assert_eq!(r7.record.get(Field::Amount), &Value::Fen(7 * 12_345 + 7));
    assert_eq!(r7.record.get(Field::SuspectedCrime), &Value::Bool(false));
    // 2024-06-01 00:00:00 + 6839 s local = 01:53:59 Shanghai = 2024-05-31 17:53:59 UTC.
    assert_eq!(
        r7.record.get(Field::UpdatedAt),
        &Value::DateTime(Utc.with_ymd_and_hms(2024, 5, 31, 17, 53, 59).unwrap())
    );
    let r22 = stored
        .iter()
        .find(|s| s.record.case_no.as_written() == "稻执罚〔2024〕22号")
        .unwrap();
    assert_eq!(r22.record.get(Field::Amount), &Value::Fen(2205));
    let r150 = stored
        .iter()
        .find(|s| s.record.case_no.as_written() == "稻执罚〔2024〕150号")
        .unwrap();
    assert_eq!(r150.record.get(Field::Party), &Value::Null);
    assert_eq!(r150.record.get(Field::SuspectedCrime), &Value::Bool(true));

    let st = store.source_state(NAME).await.unwrap().unwrap();
    assert_eq!(st.last_success_at, Some(common::now()));
    assert_eq!(st.last_error, None);
    assert_eq!(st.counts, out.counts);
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_source_resumes_from_its_cursor_after_an_interruption() {
    let Some(db) = common::fresh_mysql("SQL source on MariaDB").await else {
        return;
    };
    let mut c = mysql_table(&db.url, 1..=2500).await;
    sqlx::query("UPDATE t SET marker = 1 WHERE id = 1500")
        .execute(&mut c)
        .await
        .unwrap();
    let tmp = common::temp_sqlite();
    let store = common::open(&tmp.url).await;
    let cfg = common::config(&tmp.url, vec![sql_source(&db.url, MYSQL_QUERY_BOOM, 500)]);

    // Rows 1..=1499 are read; batches 1..=500 and 501..=1000 are committed with their cursor,
    // the open batch 1001..=1499 is rolled back when the server fails on row 1500.
    let out = run_one(&cfg, store.as_ref()).await;
    let err = out.error.expect("the run must fail");
    assert!(err.contains("more than 1 row"), "{err}");
    assert_eq!(
        stored_ids(store.as_ref()).await,
        (1..=1000).collect::<Vec<_>>()
    );
    assert_eq!(cursor(store.as_ref()).await.as_deref(), Some("1000"));
    let st = store.source_state(NAME).await.unwrap().unwrap();
    assert_eq!(st.last_error_at, Some(common::now()));
    assert_eq!(st.last_success_at, None);
    assert!(
        st.last_error
            .as_deref()
            .is_some_and(|e| e.contains("more than 1 row")),
        "{:?}",
        st.last_error
    );

    // Fixed at the source: the next run reads only what is left.
    sqlx::query("UPDATE t SET marker = 0")
        .execute(&mut c)
        .await
        .unwrap();
    let out = run_one(&cfg, store.as_ref()).await;
    assert_eq!(out.error, None);
    assert_eq!(
        (
            out.counts.seen,
            out.counts.inserted,
            out.counts.updated,
            out.counts.unchanged
        ),
        (1500, 1500, 0, 0)
    );
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 2500);
    assert_eq!(
        stored_ids(store.as_ref()).await,
        (1..=2500).collect::<Vec<_>>()
    );
    assert_eq!(cursor(store.as_ref()).await.as_deref(), Some("2500"));
    let st = store.source_state(NAME).await.unwrap().unwrap();
    assert_eq!(st.last_success_at, Some(common::now()));
    assert_eq!(st.counts, out.counts);
}

/// Issue 22 item 8: a department database that stops answering half-way is stopped at the
/// source's `run_timeout_secs`; the batches committed before stay with their cursor, the open
/// one is rolled back, and the next run continues from the cursor.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_stalls_half_way_is_stopped_at_run_timeout_secs_keeping_its_batches() {
    let Some(db) = common::fresh_mysql("SQL source on MariaDB").await else {
        return;
    };
    let mut c = mysql_table(&db.url, 1..=2500).await;
    sqlx::query("UPDATE t SET marker = 1 WHERE id = 1500")
        .execute(&mut c)
        .await
        .unwrap();
    let tmp = common::temp_sqlite();
    let store = common::open(&tmp.url).await;
    let mut src = sql_source(&db.url, MYSQL_QUERY_STALL, 500);
    src.run_timeout_secs = 4;
    let cfg = common::config(&tmp.url, vec![src]);

    let started = std::time::Instant::now();
    let out = run_one(&cfg, store.as_ref()).await;
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    let err = out.error.expect("the run must be stopped");
    assert!(
        err.contains("did not finish within 4 s (sources.dept-db.run_timeout_secs)")
            && err.contains("what it had committed stays"),
        "{err}"
    );
    assert_eq!(
        stored_ids(store.as_ref()).await,
        (1..=1000).collect::<Vec<_>>()
    );
    assert_eq!(cursor(store.as_ref()).await.as_deref(), Some("1000"));
    assert_eq!((out.counts.seen, out.counts.inserted), (1000, 1000));

    sqlx::query("UPDATE t SET marker = 0")
        .execute(&mut c)
        .await
        .unwrap();
    let out = run_one(&cfg, store.as_ref()).await;
    assert_eq!(out.error, None);
    assert_eq!((out.counts.seen, out.counts.inserted), (1500, 1500));
    assert_eq!(
        stored_ids(store.as_ref()).await,
        (1..=2500).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn max_rows_per_run_stops_early_and_the_next_run_continues() {
    let Some(db) = common::fresh_mysql("SQL source on MariaDB").await else {
        return;
    };
    let _c = mysql_table(&db.url, 1..=1000).await;
    let tmp = common::temp_sqlite();
    let store = common::open(&tmp.url).await;
    let src = SourceConfig {
        max_rows_per_run: Some(400),
        ..sql_source(&db.url, MYSQL_QUERY, 150)
    };
    let cfg = common::config(&tmp.url, vec![src]);

    for (seen, upto) in [(400, 400), (400, 800), (200, 1000), (0, 1000)] {
        let out = run_one(&cfg, store.as_ref()).await;
        assert_eq!(out.error, None);
        assert_eq!(
            (out.counts.seen, out.counts.inserted),
            (seen, seen),
            "run up to {upto}"
        );
        assert_eq!(
            cursor(store.as_ref()).await.as_deref(),
            Some(upto.to_string().as_str())
        );
        assert_eq!(
            stored_ids(store.as_ref()).await,
            (1..=upto).collect::<Vec<_>>()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sync_without_new_rows_changes_nothing() {
    let Some(db) = common::fresh_mysql("SQL source on MariaDB").await else {
        return;
    };
    let mut c = mysql_table(&db.url, 1..=300).await;
    let tmp = common::temp_sqlite();
    let store = common::open(&tmp.url).await;
    let cfg = common::config(&tmp.url, vec![sql_source(&db.url, MYSQL_QUERY, 100)]);

    assert_eq!(run_one(&cfg, store.as_ref()).await.counts.inserted, 300);
    let before = store.records(Feed::Cases, None).await.unwrap();

    let later = liandong::domain::clock::Clock::Fixed(common::now() + Duration::hours(1));
    let out = sync(&cfg, store.as_ref(), None, later, false).await;
    assert_eq!(out[0].error, None);
    assert_eq!(out[0].counts, Default::default());
    assert_eq!(cursor(store.as_ref()).await.as_deref(), Some("300"));
    let after = store.records(Feed::Cases, None).await.unwrap();
    assert_eq!(after.len(), 300);
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(
            (a.id, &a.record, a.changed_at),
            (b.id, &b.record, b.changed_at)
        );
    }
    let st = store.source_state(NAME).await.unwrap().unwrap();
    assert_eq!(st.last_success_at, Some(later.now()));

    // New rows after the cursor are all that the next run reads; a row without a case number
    // is quarantined (named by its row in this run) and the cursor still moves past it.
    mysql_insert(&mut c, 301..=310).await;
    sqlx::query(
        "INSERT INTO t (id, ajbh, dw, dsr, fmje, cfjdrq, gxsj, sfsx) \
         VALUES (311, '', '县市场监管局', '无案号', 1.00, '2024-01-01', '2024-01-01 08:00:00', 0)",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let out = run_one(&cfg, store.as_ref()).await;
    assert_eq!(out.error, None);
    assert_eq!(
        (out.counts.seen, out.counts.inserted, out.counts.quarantined),
        (11, 10, 1)
    );
    assert_eq!(cursor(store.as_ref()).await.as_deref(), Some("311"));
    let q = store.quarantined(Some(NAME), 10).await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(
        (
            q[0].item.location.as_str(),
            q[0].item.row,
            q[0].item.field.as_str()
        ),
        ("query", 11, "case_no")
    );
    assert!(q[0].item.raw.contains("无案号"), "{}", q[0].item.raw);
    assert_eq!(
        stored_ids(store.as_ref()).await,
        (1..=310).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_source_reads_numeric_date_and_timestamptz() {
    let Some(db) = common::fresh_pg("SQL source on PostgreSQL").await else {
        return;
    };
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query(
        "CREATE TABLE t (id BIGINT PRIMARY KEY, ajbh TEXT, dw TEXT, dsr TEXT, fmje NUMERIC(14,2), \
         cfjdrq DATE, gxsj TIMESTAMPTZ, sfsx BOOLEAN)",
    )
    .execute(&mut c)
    .await
    .unwrap();
    // Amounts include cents that binary floating point cannot hold exactly.
    let amounts = [
        ("0.10", 10),
        ("1234.50", 123_450),
        ("5.05", 505),
        ("99999999999.99", 9_999_999_999_999),
        ("0.29", 29),
    ];
    let mut values = Vec::new();
    let mut expected = Vec::new();
    for id in 1..=60i64 {
        let (unit, unit_id) = UNITS[(id % 4) as usize];
        let (yuan, fen) = amounts[(id % 5) as usize];
        let day = NaiveDate::from_ymd_opt(2024, 2, 28).unwrap() + Duration::days(id);
        // Half the times are written with +08:00, half in UTC; both name one instant.
        let utc = Utc.with_ymd_and_hms(2024, 3, 1, 1, 2, 3).unwrap() + Duration::minutes(id * 37);
        let written = if id % 2 == 0 {
            utc.with_timezone(&chrono_tz::Asia::Shanghai).to_rfc3339()
        } else {
            utc.to_rfc3339()
        };
        let fmje = if id == 13 {
            "NULL".to_string()
        } else {
            yuan.to_string()
        };
        values.push(format!(
            "({id}, '稻执罚〔2024〕{id}号', '{unit}', '当事人{id}', {fmje}, '{day}', '{written}', {})",
            id % 2 == 0
        ));
        let mut r = Record {
            feed: Feed::Cases,
            unit_id: unit_id.into(),
            unit_known: true,
            case_no: CaseNo::parse(&format!("稻执罚〔2024〕{id}号")).unwrap(),
            values: vec![Value::Null; Feed::Cases.fields().len()],
        };
        let mut set = |f: &str, v: Value| r.values[Feed::Cases.field_index(f).unwrap()] = v;
        set("party", Value::Text(format!("当事人{id}")));
        if id != 13 {
            set("amount", Value::Fen(fen));
        }
        set("decided_on", Value::Date(day));
        set("updated_at", Value::DateTime(utc));
        set("suspected_crime", Value::Bool(id % 2 == 0));
        expected.push(r);
    }
    let sql = format!(
        "INSERT INTO t (id, ajbh, dw, dsr, fmje, cfjdrq, gxsj, sfsx) VALUES {}",
        values.join(", ")
    );
    sqlx::query(AssertSqlSafe(sql))
        .execute(&mut c)
        .await
        .unwrap();

    let query = "SELECT id, dw AS 执法单位, ajbh AS 案号, dsr AS 当事人, fmje AS 罚没金额, \
                 cfjdrq AS 处罚决定日期, gxsj AS 更新时间, sfsx AS 涉嫌犯罪 \
                 FROM t WHERE id > $1::bigint ORDER BY id";
    let tmp = common::temp_sqlite();
    let store = common::open(&tmp.url).await;
    let cfg = common::config(&tmp.url, vec![sql_source(&db.url, query, 25)]);
    let out = run_one(&cfg, store.as_ref()).await;
    assert_eq!(out.error, None);
    assert_eq!((out.counts.seen, out.counts.inserted), (60, 60));
    assert_eq!(cursor(store.as_ref()).await.as_deref(), Some("60"));
    let stored = store.records(Feed::Cases, None).await.unwrap();
    assert_eq!(stored.len(), 60);
    for want in &expected {
        let got = stored
            .iter()
            .find(|s| s.record.case_no == want.case_no)
            .unwrap_or_else(|| panic!("{} missing", want.case_no));
        assert_eq!(&got.record, want);
    }

    // New rows only on the next run.
    sqlx::query(
        "INSERT INTO t (id, ajbh, dw, dsr, fmje, cfjdrq, gxsj, sfsx) VALUES \
         (61, '稻执罚〔2024〕61号', '县农业农村局', NULL, 1.00, '2024-12-31', '2024-12-31 23:59:59+08', NULL)",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let out = run_one(&cfg, store.as_ref()).await;
    assert_eq!(out.error, None);
    assert_eq!((out.counts.seen, out.counts.inserted), (1, 1));
    assert_eq!(cursor(store.as_ref()).await.as_deref(), Some("61"));
    let r61 = store.records(Feed::Cases, Some("nync")).await.unwrap();
    let r61 = r61
        .iter()
        .find(|s| s.record.case_no.as_written() == "稻执罚〔2024〕61号")
        .unwrap();
    assert_eq!(
        r61.record.get(Field::UpdatedAt),
        &Value::DateTime(Utc.with_ymd_and_hms(2024, 12, 31, 15, 59, 59).unwrap())
    );
    assert_eq!(r61.record.get(Field::Amount), &Value::Fen(100));
    assert_eq!(r61.record.get(Field::SuspectedCrime), &Value::Null);
    drop(c);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_whose_server_is_down_fails_alone() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let tmp = common::temp_sqlite();
    let csv = common::write(
        tmp.dir.path(),
        "drop/cases.csv",
        "执法单位,案号,当事人\n县市场监管局,稻市监罚〔2025〕1号,张三\n县交通局,稻交罚〔2025〕2号,李四\n",
    );
    let down = sql_source(
        &format!("mysql://root@127.0.0.1:{port}/nothing"),
        MYSQL_QUERY,
        100,
    );
    let file = common::file_source("files", Feed::Cases, &csv);
    let cfg = common::config(&tmp.url, vec![down, file]);
    let store = common::open(&tmp.url).await;

    let out = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        run(&cfg, store.as_ref()),
    )
    .await
    .expect("a closed port must fail fast");
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].source, NAME);
    let err = out[0].error.as_deref().expect("the down source must fail");
    assert!(err.contains(&port.to_string()), "{err}");
    assert_eq!(out[1].source, "files");
    assert_eq!(out[1].error, None);
    assert_eq!(out[1].counts.inserted, 2);

    let st = store.source_state(NAME).await.unwrap().unwrap();
    assert_eq!(st.last_error_at, Some(common::now()));
    assert_eq!(st.last_error.as_deref(), Some(err));
    assert_eq!((st.last_success_at, st.cursor), (None, None));
    let st = store.source_state("files").await.unwrap().unwrap();
    assert_eq!(st.last_success_at, Some(common::now()));
    assert_eq!(st.last_error, None);

    let units: Vec<String> = store
        .records(Feed::Cases, None)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.record.unit_id)
        .collect();
    assert_eq!(units, ["jtys", "scjg"]);
}

/// A TIMESTAMP cursor column: the cursor a run stores must mean the same instant to the server
/// when the next run binds it, so no row is skipped or read twice.
#[tokio::test(flavor = "multi_thread")]
async fn mariadb_timestamp_cursor_resumes_without_skipping_rows() {
    let Some(db) = common::fresh_mysql("SQL source on MariaDB").await else {
        return;
    };
    let mut c = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
    sqlx::query("CREATE TABLE t2 (id BIGINT PRIMARY KEY, ajbh VARCHAR(64), dw VARCHAR(64), lrsj TIMESTAMP NULL)")
        .execute(&mut c)
        .await
        .unwrap();
    // Rows one hour apart, written as UTC instants.
    sqlx::query("SET time_zone = '+00:00'")
        .execute(&mut c)
        .await
        .unwrap();
    let first = Utc.with_ymd_and_hms(2024, 6, 1, 0, 30, 0).unwrap();
    let values: Vec<String> = (1..=20i64)
        .map(|i| {
            let t = first + Duration::hours(i - 1);
            format!(
                "({i}, '稻执罚〔2024〕{i}号', '县市场监管局', '{}')",
                t.format("%Y-%m-%d %H:%M:%S")
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO t2 (id, ajbh, dw, lrsj) VALUES {}",
        values.join(", ")
    );
    sqlx::query(AssertSqlSafe(sql))
        .execute(&mut c)
        .await
        .unwrap();

    let src = SourceConfig {
        cursor_column: Some("更新时间".into()),
        cursor_start: "2000-01-01 00:00:00".into(),
        max_rows_per_run: Some(10),
        ..sql_source(
            &db.url,
            "SELECT ajbh AS 案号, dw AS 执法单位, lrsj AS 更新时间 FROM t2 WHERE lrsj > ? ORDER BY lrsj",
            5,
        )
    };
    let tmp = common::temp_sqlite();
    let store = common::open(&tmp.url).await;
    let cfg = common::config(&tmp.url, vec![src]);

    for (seen, upto) in [(10, 10), (10, 20), (0, 20)] {
        let out = run_one(&cfg, store.as_ref()).await;
        assert_eq!(out.error, None);
        assert_eq!(
            (out.counts.seen, out.counts.inserted),
            (seen, seen),
            "run up to {upto}"
        );
        assert_eq!(
            stored_ids(store.as_ref()).await,
            (1..=upto).collect::<Vec<_>>()
        );
    }
    for s in store.records(Feed::Cases, None).await.unwrap() {
        let i: i64 = s
            .record
            .case_no
            .as_written()
            .trim_start_matches("稻执罚〔2024〕")
            .trim_end_matches('号')
            .parse()
            .unwrap();
        assert_eq!(
            s.record.get(Field::UpdatedAt),
            &Value::DateTime(first + Duration::hours(i - 1)),
            "row {i}"
        );
    }
}

/// Issue 22 item 9: a department table that holds one case twice, with another amount the second
/// time: the later row (in the query's order) is what the store keeps, and within one batch the
/// repeat is recorded by its rows in the run (`query` rows 3 and 11). Rows in different batches
/// are different imports: the later one is an ordinary update there.
#[tokio::test(flavor = "multi_thread")]
async fn a_case_listed_twice_by_the_query_keeps_the_later_row_and_one_batch_records_it() {
    let Some(db) = common::fresh_mysql("SQL source on MariaDB").await else {
        return;
    };
    let mut c = mysql_table(&db.url, 1..=10).await;
    sqlx::query(
        "INSERT INTO t (id, ajbh, dw, dsr, fmje, cfjdrq, gxsj, sfsx) \
         VALUES (11, '稻执罚〔2024〕3号', '县农业农村局', '当事人3', 7.00, '2024-01-04', '2024-06-01 01:00:00', 1)",
    )
    .execute(&mut c)
    .await
    .unwrap();
    for (batch, repeated) in [(100, 1), (5, 0)] {
        let tmp = common::temp_sqlite();
        let store = common::open(&tmp.url).await;
        let cfg = common::config(&tmp.url, vec![sql_source(&db.url, MYSQL_QUERY, batch)]);
        let out = run_one(&cfg, store.as_ref()).await;
        assert_eq!(out.error, None, "batch {batch}");
        assert_eq!(
            (
                out.counts.seen,
                out.counts.inserted,
                out.counts.updated,
                out.counts.repeated
            ),
            (11, 10, 1, repeated),
            "batch {batch}"
        );
        let three = store
            .records(Feed::Cases, None)
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.record.case_no.as_written() == "稻执罚〔2024〕3号")
            .unwrap();
        assert_eq!(
            three.record.get(Field::Amount),
            &Value::Fen(700),
            "batch {batch}"
        );
        let repeats = store.repeats(None, 10).await.unwrap();
        assert_eq!(
            repeats.len(),
            repeated as usize,
            "batch {batch}: {repeats:?}"
        );
        if let Some(r) = repeats.first() {
            let r = &r.item;
            assert_eq!(
                (
                    r.earlier_location.as_str(),
                    r.earlier_row,
                    r.location.as_str(),
                    r.row
                ),
                ("query", 3, "query", 11)
            );
            assert_eq!(r.fields(), ["amount", "updated_at"]);
        }
    }
}
