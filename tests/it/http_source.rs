//! The HTTP JSON connector against real HTTP servers on 127.0.0.1 (wiremock): pagination of
//! every kind, retries on 5xx and timeouts, the `updated_since` cursor, authentication, declared
//! charsets, quarantine of bad records, rollback of failed runs and failure isolation between
//! sources.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use liandong::config::{AuthConfig, AuthKind, Config, Pagination, SourceConfig, SourceKind};
use liandong::records::Field;
use liandong::records::{Feed, Value};
use liandong::store::Store;
use liandong::sync::{Freshness, SourceOutcome, freshness, sync};
use serde_json::{Value as Json, json};
use wiremock::matchers::{
    basic_auth, bearer_token, header, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::common;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// An HTTP referral source at `url` with short timeouts and backoff, so failures are quick.
fn http_source(name: &str, url: String) -> SourceConfig {
    SourceConfig {
        url: Some(url),
        timeout_secs: 1,
        connect_timeout_secs: 1,
        retries: 3,
        retry_backoff_ms: 10,
        ..common::source(name, SourceKind::Http, Feed::Referrals)
    }
}

async fn run(cfg: &Config, store: &dyn Store) -> Vec<SourceOutcome> {
    sync(cfg, store, None, common::clock(), false).await
}

fn outcome<'a>(out: &'a [SourceOutcome], name: &str) -> &'a SourceOutcome {
    out.iter()
        .find(|o| o.source == name)
        .unwrap_or_else(|| panic!("no outcome for {name}: {out:?}"))
}

/// The unit (name or alias as an API writes it) and its configured id, for record `i`.
fn unit_of(i: usize) -> (&'static str, &'static str) {
    [
        ("稻城县市场监督管理局", "scjg"),
        ("县自然资源局", "zrzy"),
        ("稻城县交通运输局", "jtys"),
        ("县农业农村局", "nync"),
    ][i % 4]
}

fn case_no(i: usize) -> String {
    format!("稻联移〔2025〕{i}号")
}

/// 2025-06-01 08:00 Asia/Shanghai plus `i` minutes, as local text and as UTC.
fn updated_of(i: usize) -> (String, chrono::DateTime<Utc>) {
    let local = NaiveDate::from_ymd_opt(2025, 6, 1)
        .unwrap()
        .and_hms_opt(8, 0, 0)
        .unwrap()
        + chrono::Duration::minutes(i as i64);
    (
        local.format("%Y-%m-%d %H:%M:%S").to_string(),
        (local - chrono::Duration::hours(8)).and_utc(),
    )
}

/// Referral `i` with the Chinese keys of the two-law platform. The amount is `i` yuan 50 fen,
/// written as a JSON number or as text with 元.
fn referral_zh(i: usize) -> Json {
    let amount = if i.is_multiple_of(2) {
        json!(i as f64 + 0.5)
    } else {
        json!(format!("{i}.50元"))
    };
    json!({
        "移送单位": unit_of(i).0,
        "案号": case_no(i),
        "当事人": format!("当事人{i}"),
        "录入时间": "2025-05-20 09:15:00",
        "移送时间": format!("2025年5月{}日", 1 + i % 28),
        "接收机关": "稻城县公安局",
        "涉案金额(元)": amount,
        "更新时间": updated_of(i).0,
    })
}

/// Referral `i` with the English canonical keys.
fn referral_en(i: usize) -> Json {
    json!({
        "unit": unit_of(i).0,
        "case_no": case_no(i),
        "party": format!("party {i}"),
        "entered_at": "2025-05-20T01:15:00Z",
        "transferred_at": "2025/5/21",
        "receiver": "稻城县公安局",
        "amount": format!("{i}.50"),
        "updated_at": updated_of(i).0,
    })
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Value {
    Value::DateTime(Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap())
}

/// The case index `i` back from a stored case number written by [`case_no`].
fn index_of(case_no: &str) -> usize {
    case_no
        .trim_start_matches("稻联移〔2025〕")
        .trim_end_matches('号')
        .parse()
        .unwrap_or_else(|_| panic!("unexpected case number {case_no:?}"))
}

/// Asserts the store holds exactly referrals `0..n`, once each, with the right fields; `party`
/// gives the expected party of record `i`.
async fn assert_referrals(store: &dyn Store, n: usize, party: impl Fn(usize) -> String) {
    let stored = store.records(Feed::Referrals, None).await.unwrap();
    assert_eq!(stored.len(), n, "stored referrals");
    assert_eq!(store.record_count(Feed::Referrals).await.unwrap(), n as i64);
    let distinct: BTreeSet<&str> = stored
        .iter()
        .map(|s| s.record.case_no.as_written())
        .collect();
    assert_eq!(distinct.len(), n, "distinct case numbers");
    let mut seen = BTreeSet::new();
    for s in &stored {
        let r = &s.record;
        let i = index_of(r.case_no.as_written());
        assert!(
            i < n && seen.insert(i),
            "case {i} out of range or stored twice"
        );
        assert_eq!(r.unit_id, unit_of(i).1, "unit of case {i}");
        assert!(r.unit_known);
        assert_eq!(r.get(Field::Party), &text(&party(i)), "party of case {i}");
        assert_eq!(r.get(Field::Receiver), &text("稻城县公安局"));
        assert_eq!(
            r.get(Field::Amount),
            &Value::Fen(i as i64 * 100 + 50),
            "amount of case {i}"
        );
        assert_eq!(r.get(Field::EnteredAt), &utc(2025, 5, 20, 1, 15, 0));
        assert_eq!(
            r.get(Field::UpdatedAt),
            &Value::DateTime(updated_of(i).1),
            "updated_at of case {i}"
        );
        assert_eq!(r.get(Field::PoliceDecision), &Value::Null);
    }
}

fn query_of(req: &Request) -> HashMap<String, String> {
    req.url.query_pairs().into_owned().collect()
}

/// Requests the server received at `p`, in order.
async fn requests_to(server: &MockServer, p: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .expect("request recording is on")
        .into_iter()
        .filter(|r| r.url.path() == p)
        .collect()
}

/// Serves records by `offset`/`limit`, like a real API would, under `items`.
struct OffsetApi(Vec<Json>);

impl Respond for OffsetApi {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let q = query_of(req);
        let offset: usize = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
        let limit: usize = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(10);
        let items: Vec<Json> = self.0.iter().skip(offset).take(limit).cloned().collect();
        ResponseTemplate::new(200).set_body_json(json!({ "total": self.0.len(), "items": items }))
    }
}

/// Serves records by opaque cursor tokens (`c<start>`) under `data.list`, with the next token at
/// the top level in `next_cursor` (null on the last page).
struct CursorApi(Vec<Json>);

impl Respond for CursorApi {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let q = query_of(req);
        let size: usize = q
            .get("page_size")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10);
        let start: usize = match q.get("cursor") {
            None => 0,
            Some(c) => match c.strip_prefix('c').and_then(|n| n.parse().ok()) {
                Some(n) => n,
                None => return ResponseTemplate::new(400).set_body_string("bad cursor"),
            },
        };
        let end = (start + size).min(self.0.len());
        let next = if end < self.0.len() {
            json!(format!("c{end}"))
        } else {
            Json::Null
        };
        ResponseTemplate::new(200).set_body_json(json!({
            "code": 0,
            "data": { "list": &self.0[start.min(end)..end] },
            "next_cursor": next,
        }))
    }
}

/// Answers 401 with a body that echoes every request header back, as careless APIs do.
struct EchoHeaders;

impl Respond for EchoHeaders {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let echoed: Vec<String> = req
            .headers
            .iter()
            .map(|(k, v)| format!("{k}={}", v.to_str().unwrap_or("?")))
            .collect();
        ResponseTemplate::new(401)
            .set_body_string(format!("rejected credentials: {}", echoed.join("; ")))
    }
}

fn write_secret(dir: &Path, name: &str, secret: &str) -> std::path::PathBuf {
    // A trailing newline, as editors leave it: it is not part of the secret.
    common::write(dir, name, format!("{secret}\n"))
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_paged_api_that_fails_once_and_times_out_once_is_stored_completely_and_exactly_once() {
    let server = MockServer::start().await;
    let all: Vec<Json> = (0..250).map(referral_zh).collect();
    // The first request for page 2 answers 500, the first for page 3 comes too late.
    Mock::given(method("GET"))
        .and(path("/api/referrals"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream busy"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/referrals"))
        .and(query_param("page", "3"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "data": &all[200..] }))
                .set_delay(Duration::from_millis(2500)),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    for (page, chunk) in all.chunks(100).enumerate() {
        Mock::given(method("GET"))
            .and(path("/api/referrals"))
            .and(query_param("page", (page + 1).to_string()))
            .and(query_param("page_size", "100"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({ "total": 250, "data": chunk })),
            )
            .mount(&server)
            .await;
    }

    let db = common::temp_sqlite();
    let store = common::open(&db.url).await;
    let cfg = common::config(
        &db.url,
        vec![SourceConfig {
            pagination: Pagination::Page,
            page_size: 100,
            ..http_source("platform", format!("{}/api/referrals", server.uri()))
        }],
    );
    let started = std::time::Instant::now();
    let out = run(&cfg, store.as_ref()).await;
    let o = outcome(&out, "platform");
    assert_eq!(o.error, None, "{o:?}");
    assert_eq!(
        (o.counts.seen, o.counts.inserted, o.counts.quarantined),
        (250, 250, 0),
        "{o:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );

    assert_referrals(store.as_ref(), 250, |i| format!("当事人{i}")).await;
    assert!(
        store
            .quarantined(Some("platform"), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The server saw page 1 once, pages 2 and 3 twice each (the failure, then the retry).
    let pages: Vec<String> = requests_to(&server, "/api/referrals")
        .await
        .iter()
        .map(|r| query_of(r).get("page").cloned().unwrap_or_default())
        .collect();
    assert_eq!(pages, ["1", "2", "2", "3", "3"]);

    let state = store.source_state("platform").await.unwrap().unwrap();
    assert_eq!(state.last_error, None);
    assert_eq!(state.counts.inserted, 250);
    // The newest 更新时间 is record 249's: 2025-06-01 08:00 + 249 min = 12:09 Shanghai time.
    assert_eq!(state.cursor.as_deref(), Some("2025-06-01T12:09:00+08:00"));

    // A second run over the same data changes nothing.
    let out = run(&cfg, store.as_ref()).await;
    let o = outcome(&out, "platform");
    assert_eq!(o.error, None);
    assert_eq!(
        (o.counts.inserted, o.counts.updated, o.counts.unchanged),
        (0, 0, 250),
        "{o:?}"
    );
    assert_eq!(store.record_count(Feed::Referrals).await.unwrap(), 250);
}

#[tokio::test]
async fn offset_and_cursor_pagination_each_store_every_record_once() {
    let server = MockServer::start().await;
    // Offset: exactly two full pages, so the end is found by an empty third page.
    let offset_records: Vec<Json> = (0..200).map(referral_en).collect();
    Mock::given(method("GET"))
        .and(path("/offset"))
        .respond_with(OffsetApi(offset_records))
        .mount(&server)
        .await;
    // Cursor: four full pages and a short one; the end is a null next_cursor.
    let cursor_records: Vec<Json> = (0..205).map(referral_zh).collect();
    Mock::given(method("GET"))
        .and(path("/cursor"))
        .respond_with(CursorApi(cursor_records))
        .mount(&server)
        .await;

    let by_offset = SourceConfig {
        pagination: Pagination::Offset,
        page_size: 100,
        ..http_source("by-offset", format!("{}/offset", server.uri()))
    };
    let by_cursor = SourceConfig {
        pagination: Pagination::Cursor,
        page_size: 50,
        records_field: "data.list".into(),
        ..http_source("by-cursor", format!("{}/cursor", server.uri()))
    };

    let db = common::temp_sqlite();
    let store = common::open(&db.url).await;
    let out = run(
        &common::config(&db.url, vec![by_offset.clone()]),
        store.as_ref(),
    )
    .await;
    let o = outcome(&out, "by-offset");
    assert_eq!(o.error, None, "{o:?}");
    assert_eq!((o.counts.seen, o.counts.inserted), (200, 200));
    assert_referrals(store.as_ref(), 200, |i| format!("party {i}")).await;
    let offsets: Vec<(String, String)> = requests_to(&server, "/offset")
        .await
        .iter()
        .map(|r| {
            let q = query_of(r);
            (q["offset"].clone(), q["limit"].clone())
        })
        .collect();
    let want: Vec<(String, String)> = [("0", "100"), ("100", "100"), ("200", "100")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(offsets, want);

    let db = common::temp_sqlite();
    let store = common::open(&db.url).await;
    let out = run(&common::config(&db.url, vec![by_cursor]), store.as_ref()).await;
    let o = outcome(&out, "by-cursor");
    assert_eq!(o.error, None, "{o:?}");
    assert_eq!((o.counts.seen, o.counts.inserted), (205, 205));
    assert_referrals(store.as_ref(), 205, |i| format!("当事人{i}")).await;
    let cursors: Vec<Option<String>> = requests_to(&server, "/cursor")
        .await
        .iter()
        .map(|r| {
            let q = query_of(r);
            assert_eq!(q.get("page_size").map(String::as_str), Some("50"));
            q.get("cursor").cloned()
        })
        .collect();
    let want: Vec<Option<String>> = vec![
        None,
        Some("c50".into()),
        Some("c100".into()),
        Some("c150".into()),
        Some("c200".into()),
    ];
    assert_eq!(cursors, want);
}

#[tokio::test]
async fn the_updated_since_cursor_is_the_newest_change_and_is_sent_on_the_next_run() {
    let server = MockServer::start().await;
    let rec = |case: &str, party: &str, amount: &str, updated: &str| {
        json!({
            "unit": "稻城县市场监督管理局",
            "case_no": case,
            "party": party,
            "entered_at": "2025-06-01 09:00",
            "amount": amount,
            "updated_at": updated,
        })
    };
    // First run (no cursor yet): three records; the newest change is given in UTC.
    Mock::given(method("GET"))
        .and(path("/changes"))
        .and(query_param_is_missing("updated_since"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "records": [
                rec("A-1", "甲公司", "100", "2025-06-02 10:00:00"),
                rec("A-2", "乙公司", "200", "2025-06-03T01:30:00Z"),
                rec("A-3", "丙公司", "300", "2025-06-01 18:45:10"),
            ]})),
        )
        .mount(&server)
        .await;
    // Second run: asked for changes since 09:30 Shanghai time, the API repeats A-2 (inclusive)
    // and sends A-3 changed.
    Mock::given(method("GET"))
        .and(path("/changes"))
        .and(query_param("updated_since", "2025-06-03T09:30:00+08:00"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "records": [
                rec("A-2", "乙公司", "200", "2025-06-03T01:30:00Z"),
                rec("A-3", "丙公司", "350", "2025-06-04 08:00:00"),
            ]})),
        )
        .mount(&server)
        .await;
    // Third run: nothing new.
    Mock::given(method("GET"))
        .and(path("/changes"))
        .and(query_param("updated_since", "2025-06-04T08:00:00+08:00"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "records": [] })))
        .mount(&server)
        .await;

    let db = common::temp_sqlite();
    let store = common::open(&db.url).await;
    let cfg = common::config(
        &db.url,
        vec![http_source("changes", format!("{}/changes", server.uri()))],
    );

    let out = run(&cfg, store.as_ref()).await;
    let o = outcome(&out, "changes");
    assert_eq!(o.error, None, "{o:?}");
    assert_eq!(
        (o.counts.inserted, o.counts.updated, o.counts.unchanged),
        (3, 0, 0)
    );
    let state = store.source_state("changes").await.unwrap().unwrap();
    assert_eq!(state.cursor.as_deref(), Some("2025-06-03T09:30:00+08:00"));

    let out = run(&cfg, store.as_ref()).await;
    let o = outcome(&out, "changes");
    assert_eq!(o.error, None, "{o:?}");
    assert_eq!(
        (
            o.counts.seen,
            o.counts.inserted,
            o.counts.updated,
            o.counts.unchanged
        ),
        (2, 0, 1, 1)
    );
    let state = store.source_state("changes").await.unwrap().unwrap();
    assert_eq!(state.cursor.as_deref(), Some("2025-06-04T08:00:00+08:00"));

    let requests = requests_to(&server, "/changes").await;
    assert_eq!(requests.len(), 2);
    assert_eq!(query_of(&requests[0]).get("updated_since"), None);
    assert_eq!(
        query_of(&requests[1])
            .get("updated_since")
            .map(String::as_str),
        Some("2025-06-03T09:30:00+08:00")
    );
    // The `+` of the offset is escaped on the wire, not sent as a space.
    assert!(
        requests[1].url.query().unwrap_or("").contains("%2B08%3A00"),
        "{}",
        requests[1].url
    );

    let stored = store.records(Feed::Referrals, None).await.unwrap();
    assert_eq!(stored.len(), 3);
    let a3 = stored
        .iter()
        .find(|s| s.record.case_no.as_written() == "A-3")
        .unwrap();
    assert_eq!(a3.record.get(Field::Amount), &Value::Fen(35_000));
    assert_eq!(a3.record.get(Field::UpdatedAt), &utc(2025, 6, 4, 0, 0, 0));
    let history = store.history(Feed::Referrals, a3.id).await.unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert!(
        history[0].changes.get("amount").is_some(),
        "{:?}",
        history[0].changes
    );
    let a2 = stored
        .iter()
        .find(|s| s.record.case_no.as_written() == "A-2")
        .unwrap();
    assert!(
        store
            .history(Feed::Referrals, a2.id)
            .await
            .unwrap()
            .is_empty()
    );

    // A run that brings nothing new keeps the cursor where it was.
    let out = run(&cfg, store.as_ref()).await;
    assert_eq!(outcome(&out, "changes").error, None);
    let state = store.source_state("changes").await.unwrap().unwrap();
    assert_eq!(state.cursor.as_deref(), Some("2025-06-04T08:00:00+08:00"));
    assert_eq!(requests_to(&server, "/changes").await.len(), 3);
}

#[tokio::test]
async fn bearer_basic_and_api_key_auth_send_their_headers_and_secrets_stay_out_of_errors() {
    const TOKEN: &str = "tok-Bearer-7f3a9c";
    const PASSWORD: &str = "pw-Basic-51e0d2";
    const KEY: &str = "key-ApiKey-c8b4e6";
    let dir = tempfile::tempdir().unwrap();
    let token_file = write_secret(dir.path(), "token", TOKEN);
    let password_file = write_secret(dir.path(), "password", PASSWORD);
    let key_file = write_secret(dir.path(), "key", KEY);

    let server = MockServer::start().await;
    let body = |i: usize| ResponseTemplate::new(200).set_body_json(json!([referral_zh(i)]));
    Mock::given(path("/bearer"))
        .and(bearer_token(TOKEN))
        .respond_with(body(0))
        .mount(&server)
        .await;
    Mock::given(path("/basic"))
        .and(basic_auth("clerk", PASSWORD))
        .respond_with(body(1))
        .mount(&server)
        .await;
    Mock::given(path("/apikey"))
        .and(header("X-Access-Key", KEY))
        .respond_with(body(2))
        .mount(&server)
        .await;
    // Also check the exact header text, independent of wiremock's helpers.
    Mock::given(path("/bearer-exact"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(body(3))
        .mount(&server)
        .await;
    Mock::given(path("/echo"))
        .respond_with(EchoHeaders)
        .mount(&server)
        .await;

    let bearer = AuthConfig {
        kind: AuthKind::Bearer,
        token_file: Some(token_file),
        ..Default::default()
    };
    let basic = AuthConfig {
        kind: AuthKind::Basic,
        username: Some("clerk".into()),
        password_file: Some(password_file),
        ..Default::default()
    };
    let api_key = AuthConfig {
        kind: AuthKind::ApiKey,
        header: "X-Access-Key".into(),
        key_file: Some(key_file),
        ..Default::default()
    };
    let src = |name: &str, p: &str, auth: &AuthConfig| SourceConfig {
        auth: auth.clone(),
        ..http_source(name, format!("{}{p}", server.uri()))
    };
    let db = common::temp_sqlite();
    let store = common::open(&db.url).await;
    let cfg = common::config(
        &db.url,
        vec![
            src("bearer", "/bearer", &bearer),
            src("basic", "/basic", &basic),
            src("api-key", "/apikey", &api_key),
            src("bearer-exact", "/bearer-exact", &bearer),
            src("echo-bearer", "/echo", &bearer),
            src("echo-basic", "/echo", &basic),
            src("echo-api-key", "/echo", &api_key),
            // A missing secret file names the key and the path, and the run fails cleanly.
            src(
                "no-token",
                "/bearer",
                &AuthConfig {
                    token_file: Some(dir.path().join("absent")),
                    ..bearer.clone()
                },
            ),
        ],
    );
    let out = run(&cfg, store.as_ref()).await;
    for name in ["bearer", "basic", "api-key", "bearer-exact"] {
        let o = outcome(&out, name);
        assert_eq!(o.error, None, "{o:?}");
        assert_eq!(o.counts.inserted, 1, "{o:?}");
    }
    assert_eq!(store.record_count(Feed::Referrals).await.unwrap(), 4);

    // Wrong credentials are final (401 is not retried), and the error never shows a secret,
    // not even when the server echoes the credentials back in its answer.
    let basic_header = format!("Basic {}", base64(&format!("clerk:{PASSWORD}")));
    let secrets = [
        TOKEN,
        PASSWORD,
        KEY,
        basic_header.as_str(),
        &basic_header[6..],
    ];
    for name in ["echo-bearer", "echo-basic", "echo-api-key", "no-token"] {
        let o = outcome(&out, name);
        let err = o
            .error
            .as_deref()
            .unwrap_or_else(|| panic!("{name} should fail: {o:?}"));
        let state = store.source_state(name).await.unwrap().unwrap();
        let stored_err = state.last_error.clone().unwrap_or_default();
        assert!(!stored_err.is_empty(), "{name}: no error stored");
        for s in secrets {
            assert!(!err.contains(s), "{name}: secret in the error: {err}");
            assert!(
                !stored_err.contains(s),
                "{name}: secret in the stored error: {stored_err}"
            );
        }
        if name == "no-token" {
            assert!(
                err.contains("token_file") && err.contains("absent"),
                "{err}"
            );
        } else {
            assert!(err.contains("401"), "{name}: {err}");
        }
    }
    assert_eq!(
        requests_to(&server, "/echo").await.len(),
        3,
        "a 401 is not retried"
    );
    let debug = format!("{cfg:?}");
    assert!(
        !secrets.iter().any(|s| debug.contains(s)),
        "a secret in the configuration's Debug"
    );
}

/// Standard base64 with padding, for the expected Basic header.
fn base64(s: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in s.as_bytes().chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() {
                char::from(A[((n >> (18 - 6 * i)) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}

#[tokio::test]
async fn a_gbk_body_declared_in_the_content_type_is_decoded() {
    let body = json!({ "data": [
        {
            "移送单位": "县市场监管局",
            "案号": "稻市监移〔2025〕7号",
            "当事人": "稻城县香格里拉镇某某藏餐馆（个体工商户）",
            "录入时间": "2025年6月3日 14时30分",
            "移送时间": "2025-06-04",
            "接收机关": "稻城县公安局",
            "涉案金额(元)": "1.2万",
            "公安立案决定": "立案侦查",
            "更新时间": "2025-06-05 08:00:00",
        },
    ]})
    .to_string();
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&body);
    assert!(!unmappable);
    assert!(
        std::str::from_utf8(&gbk).is_err(),
        "the body must really be GBK, not UTF-8"
    );

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/gbk"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(gbk.into_owned(), "application/json; charset=GBK"),
        )
        .mount(&server)
        .await;
    let db = common::temp_sqlite();
    let store = common::open(&db.url).await;
    let cfg = common::config(
        &db.url,
        vec![http_source("gbk", format!("{}/gbk", server.uri()))],
    );
    let out = run(&cfg, store.as_ref()).await;
    let o = outcome(&out, "gbk");
    assert_eq!(o.error, None, "{o:?}");
    assert_eq!(o.counts.inserted, 1, "{o:?}");

    let stored = store.records(Feed::Referrals, None).await.unwrap();
    assert_eq!(stored.len(), 1);
    let r = &stored[0].record;
    assert_eq!(r.unit_id, "scjg");
    assert_eq!(r.case_no.as_written(), "稻市监移〔2025〕7号");
    assert_eq!(
        r.get(Field::Party),
        &text("稻城县香格里拉镇某某藏餐馆（个体工商户）")
    );
    assert_eq!(r.get(Field::Receiver), &text("稻城县公安局"));
    assert_eq!(r.get(Field::PoliceDecision), &text("立案侦查"));
    assert_eq!(r.get(Field::Amount), &Value::Fen(1_200_000));
    assert_eq!(r.get(Field::EnteredAt), &utc(2025, 6, 3, 6, 30, 0));
    assert_eq!(r.get(Field::TransferredAt), &utc(2025, 6, 3, 16, 0, 0));
}

#[tokio::test]
async fn client_errors_are_final_and_a_run_that_fails_after_retries_leaves_the_store_as_it_was() {
    let server = MockServer::start().await;
    Mock::given(path("/unauthorized"))
        .respond_with(ResponseTemplate::new(401).set_body_string("login required"))
        .mount(&server)
        .await;
    // `/missing` has no mock: wiremock answers 404.

    // The flaky API: the first run (no cursor) gets two records; later runs get a full page 1
    // (with one bad record) and then a page 2 that always fails.
    Mock::given(path("/flaky"))
        .and(query_param_is_missing("updated_since"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "data": [referral_zh(0), referral_zh(1)] })),
        )
        .mount(&server)
        .await;
    let mut page1: Vec<Json> = (2..5).map(referral_zh).collect();
    page1.push(json!("not a record"));
    Mock::given(path("/flaky"))
        .and(query_param("updated_since", "2025-06-01T08:01:00+08:00"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": page1 })))
        .mount(&server)
        .await;
    Mock::given(path("/flaky"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .mount(&server)
        .await;

    let db = common::temp_sqlite();
    let store = common::open(&db.url).await;
    let flaky = SourceConfig {
        pagination: Pagination::Page,
        page_size: 4,
        retries: 2,
        ..http_source("flaky", format!("{}/flaky", server.uri()))
    };
    let cfg = common::config(
        &db.url,
        vec![
            http_source("unauthorized", format!("{}/unauthorized", server.uri())),
            http_source("missing", format!("{}/missing", server.uri())),
            flaky,
        ],
    );
    let out = run(&cfg, store.as_ref()).await;
    for (idx, name, status) in [(0, "unauthorized", "401"), (1, "missing", "404")] {
        let err = outcome(&out, name)
            .error
            .clone()
            .unwrap_or_else(|| panic!("{name} should fail"));
        assert!(err.contains(status), "{name}: {err}");
        assert!(!err.contains("gave up"), "{name} was retried: {err}");
        assert_eq!(
            requests_to(&server, &format!("/{name}")).await.len(),
            1,
            "{name} was retried"
        );
        let state = store.source_state(name).await.unwrap().unwrap();
        assert!(state.last_error.as_deref().unwrap_or("").contains(status));
        assert_eq!(
            freshness(&cfg.sources[idx], Some(&state), common::now()),
            Freshness::Error
        );
    }
    assert_eq!(
        outcome(&out, "unauthorized")
            .error
            .as_deref()
            .map(|e| e.contains("login required")),
        Some(true)
    );

    // The flaky source's first run succeeds and sets the cursor.
    let o = outcome(&out, "flaky");
    assert_eq!(o.error, None, "{o:?}");
    assert_eq!(o.counts.inserted, 2);
    let before = store.source_state("flaky").await.unwrap().unwrap();
    assert_eq!(before.cursor.as_deref(), Some("2025-06-01T08:01:00+08:00"));

    // The second run, an hour later, reads page 1 (three new records, one bad) and then fails
    // on page 2.
    let later = liandong::domain::clock::Clock::Fixed(common::now() + chrono::Duration::hours(1));
    let out = sync(&cfg, store.as_ref(), Some("flaky"), later, false).await;
    let err = outcome(&out, "flaky")
        .error
        .clone()
        .expect("the flaky run should fail");
    assert!(
        err.contains("503") && err.contains("page 2") && err.contains("gave up after 3 attempts"),
        "{err}"
    );
    let page2 = requests_to(&server, "/flaky")
        .await
        .iter()
        .filter(|r| query_of(r).get("page").map(String::as_str) == Some("2"))
        .count();
    assert_eq!(page2, 3, "one request and two retries");

    // Nothing of the failed run is kept: not the records of page 1, not its quarantine, not
    // its cursor.
    let stored = store.records(Feed::Referrals, None).await.unwrap();
    let cases: Vec<&str> = stored
        .iter()
        .map(|s| s.record.case_no.as_written())
        .collect();
    assert_eq!(cases.len(), 2, "{cases:?}");
    assert!(cases.contains(&case_no(0).as_str()) && cases.contains(&case_no(1).as_str()));
    assert!(
        store
            .quarantined(Some("flaky"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let after = store.source_state("flaky").await.unwrap().unwrap();
    assert_eq!(after.cursor, before.cursor);
    assert!(after.last_error.as_deref().unwrap_or("").contains("503"));
    assert_eq!(after.last_success_at, before.last_success_at);
    assert_eq!(after.last_error_at, Some(later.now()));
    assert_eq!(
        freshness(&cfg.sources[2], Some(&after), later.now()),
        Freshness::Error
    );
}

#[tokio::test]
async fn bad_records_are_quarantined_by_page_row_and_field_while_good_ones_are_stored() {
    let server = MockServer::start().await;
    let mut bad_date = referral_zh(1);
    bad_date["录入时间"] = json!("上周三");
    let mut no_case = referral_zh(6);
    no_case["案号"] = json!("  ");
    let page1 = json!([referral_zh(0), bad_date, 42, referral_zh(3)]);
    let page2 = json!([referral_zh(4), referral_zh(5), no_case]);
    for (p, body) in [("1", page1), ("2", page2)] {
        Mock::given(path("/mixed"))
            .and(query_param("page", p))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({ "result": { "rows": body } })),
            )
            .mount(&server)
            .await;
    }

    let db = common::temp_sqlite();
    let store = common::open(&db.url).await;
    let cfg = common::config(
        &db.url,
        vec![SourceConfig {
            pagination: Pagination::Page,
            page_size: 4,
            ..http_source("mixed", format!("{}/mixed", server.uri()))
        }],
    );
    let out = run(&cfg, store.as_ref()).await;
    let o = outcome(&out, "mixed");
    assert_eq!(o.error, None, "{o:?}");
    assert_eq!(
        (o.counts.seen, o.counts.inserted, o.counts.quarantined),
        (7, 4, 3),
        "{o:?}"
    );

    let cases: BTreeSet<usize> = store
        .records(Feed::Referrals, None)
        .await
        .unwrap()
        .iter()
        .map(|s| index_of(s.record.case_no.as_written()))
        .collect();
    assert_eq!(cases, BTreeSet::from([0, 3, 4, 5]));

    let q = store.quarantined(Some("mixed"), 100).await.unwrap();
    // (location, row, field) → (column, value, reason)
    type Entry = (Option<String>, String, String);
    let mut found: BTreeMap<(String, i64, String), Entry> = BTreeMap::new();
    for e in &q {
        let i = &e.item;
        found.insert(
            (i.location.clone(), i.row, i.field.clone()),
            (i.column.clone(), i.value.clone(), i.reason.clone()),
        );
        assert_eq!(e.source, "mixed");
    }
    let keys: Vec<(&str, i64, &str)> = found
        .keys()
        .map(|(l, r, f)| (l.as_str(), *r, f.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("page 1", 2, "entered_at"),
            ("page 1", 3, "record"),
            ("page 2", 3, "case_no")
        ]
    );

    let (column, value, reason) = &found[&("page 1".to_string(), 2, "entered_at".to_string())];
    assert_eq!(column.as_deref(), Some("录入时间"));
    assert_eq!(value, "上周三");
    assert!(reason.contains("not a date"), "{reason}");
    let (_, value, reason) = &found[&("page 1".to_string(), 3, "record".to_string())];
    assert_eq!(value, "42");
    assert!(reason.contains("JSON object"), "{reason}");
    let (column, _, reason) = &found[&("page 2".to_string(), 3, "case_no".to_string())];
    assert_eq!(column.as_deref(), Some("案号"));
    assert!(reason.contains("empty"), "{reason}");
    // The whole record is kept with the entry, so nothing is lost.
    let raw = &q
        .iter()
        .find(|e| e.item.field == "entered_at")
        .unwrap()
        .item
        .raw;
    assert!(raw.contains("上周三") && raw.contains(&case_no(1)), "{raw}");
}

#[tokio::test]
async fn a_source_whose_server_is_down_fails_alone_while_the_other_source_is_synced() {
    let free_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/up"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "items": [referral_en(0), referral_en(1)] })),
        )
        .mount(&server)
        .await;

    let db = common::temp_sqlite();
    let store = common::open(&db.url).await;
    let cfg = common::config(
        &db.url,
        vec![
            SourceConfig {
                retries: 2,
                ..http_source("down", format!("http://127.0.0.1:{free_port}/api"))
            },
            http_source("up", format!("{}/up", server.uri())),
        ],
    );
    let started = std::time::Instant::now();
    let out = run(&cfg, store.as_ref()).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.len(), 2);

    let err = outcome(&out, "down")
        .error
        .clone()
        .expect("the down source fails");
    assert!(err.contains(&format!("127.0.0.1:{free_port}")), "{err}");
    assert!(err.contains("gave up after 3 attempts"), "{err}");
    let down = store.source_state("down").await.unwrap().unwrap();
    assert_eq!(down.last_error.as_deref(), Some(err.as_str()));
    assert_eq!(down.last_error_at, Some(common::now()));
    assert_eq!(down.last_success_at, None);
    assert_eq!(down.cursor, None);
    assert_eq!(
        freshness(&cfg.sources[0], Some(&down), common::now()),
        Freshness::Error
    );

    let o = outcome(&out, "up");
    assert_eq!(o.error, None, "{o:?}");
    assert_eq!(o.counts.inserted, 2);
    let up = store.source_state("up").await.unwrap().unwrap();
    assert_eq!(up.last_error, None);
    assert_eq!(up.last_success_at, Some(common::now()));
    assert_eq!(
        freshness(&cfg.sources[1], Some(&up), common::now()),
        Freshness::Ok
    );
    assert_referrals(store.as_ref(), 2, |i| format!("party {i}")).await;
}

#[tokio::test]
async fn a_request_that_cannot_be_built_fails_at_once_without_retries() {
    let dir = tempfile::tempdir().unwrap();
    // Two lines in the key file: the second line makes the header value invalid.
    let two_lines = common::write(dir.path(), "key", "key-ApiKey-line1\nkey-ApiKey-line2\n");
    let one_line = write_secret(dir.path(), "key1", "key-ApiKey-ok");
    let server = MockServer::start().await;
    Mock::given(path("/any"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let src = |name: &str, header: &str, key: &Path| SourceConfig {
        auth: AuthConfig {
            kind: AuthKind::ApiKey,
            header: header.into(),
            key_file: Some(key.to_path_buf()),
            ..Default::default()
        },
        // A long backoff: a retry would show in the run time.
        retry_backoff_ms: 2_000,
        ..http_source(name, format!("{}/any", server.uri()))
    };
    let db = common::temp_sqlite();
    let store = common::open(&db.url).await;
    let cfg = common::config(
        &db.url,
        vec![
            src("bad-value", "X-Access-Key", &two_lines),
            src("bad-name", "X Access Key", &one_line),
        ],
    );
    let started = std::time::Instant::now();
    let out = run(&cfg, store.as_ref()).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "retried: took {:?}",
        started.elapsed()
    );
    for name in ["bad-value", "bad-name"] {
        let err = outcome(&out, name)
            .error
            .clone()
            .unwrap_or_else(|| panic!("{name} should fail"));
        assert!(!err.contains("gave up"), "{name}: {err}");
        assert!(
            !err.contains("key-ApiKey"),
            "{name}: secret in the error: {err}"
        );
    }
    assert_eq!(requests_to(&server, "/any").await.len(), 0);
}

#[tokio::test]
async fn credentials_written_into_the_url_never_reach_the_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut src = http_source(
        "creds",
        format!("http://liandong:s3cr3t-pw@127.0.0.1:{port}/api?x=1"),
    );
    src.retries = 0;
    let ts = common::temp_sqlite();
    let store = common::open(&ts.url).await;
    let cfg = common::config(&ts.url, vec![src]);
    let out = run(&cfg, store.as_ref()).await;
    let err = outcome(&out, "creds")
        .error
        .clone()
        .expect("a closed port fails");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!err.contains("s3cr3t-pw"), "{err}");
    let stored = store
        .source_state("creds")
        .await
        .unwrap()
        .unwrap()
        .last_error
        .unwrap();
    assert!(!stored.contains("s3cr3t-pw"), "{stored}");
}

/// Issue 22 item 6: a page larger than `limits.http_page_mb` fails the run with an error naming
/// the source, the page and the limit, and nothing of the run is applied — whether the server
/// declares the body's length or streams it chunked without one.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_past_limits_http_page_mb_fails_the_run_and_applies_nothing() {
    let big = json!({ "data": [{ "案号": "x".repeat(5 << 20) }] });
    let page1 = json!({ "data": [referral_zh(0), referral_zh(1)] });
    let server = MockServer::start().await;
    Mock::given(path("/big"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&page1))
        .mount(&server)
        .await;
    Mock::given(path("/big"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&big))
        .mount(&server)
        .await;
    // The same page streamed in chunks with no Content-Length, from a server of our own.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let chunked = format!("http://{}/big", listener.local_addr().unwrap());
    let (page1_text, big_text) = (page1.to_string(), big.to_string());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (page1_text, big_text) = (page1_text.clone(), big_text.clone());
            tokio::spawn(async move {
                let mut req = vec![0u8; 4096];
                let n = sock.read(&mut req).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&req[..n]).to_string();
                let body = if head.contains("page=1") {
                    page1_text
                } else {
                    big_text
                };
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                          Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                    )
                    .await;
                for part in body.as_bytes().chunks(64 << 10) {
                    let frame =
                        [format!("{:x}\r\n", part.len()).as_bytes(), part, b"\r\n"].concat();
                    if sock.write_all(&frame).await.is_err() {
                        return; // the client stopped reading: what the limit is for
                    }
                }
                let _ = sock.write_all(b"0\r\n\r\n").await;
            });
        }
    });

    for (name, url, size) in [
        (
            "declared",
            format!("{}/big", server.uri()),
            "the response is 6 MB",
        ),
        ("chunked", chunked, "the response is more than 1 MB"),
    ] {
        let db = common::temp_sqlite();
        let store = common::open(&db.url).await;
        let src = SourceConfig {
            pagination: Pagination::Page,
            page_size: 2,
            retries: 0,
            ..http_source(name, url)
        };
        let mut cfg = common::config(&db.url, vec![src]);
        cfg.limits.http_page_mb = 1;
        let out = run(&cfg, store.as_ref()).await;
        let err = outcome(&out, name)
            .error
            .clone()
            .unwrap_or_else(|| panic!("{name}: a 6 MB page must be refused"));
        for part in [
            &format!("source {name}"),
            "page 2",
            size,
            "limits.http_page_mb = 1 MB",
        ] {
            assert!(err.contains(part), "{name}: {part:?} not in {err}");
        }
        assert_eq!(out[0].counts.inserted, 0, "{name}");
        let stored = store
            .select_records(Feed::Referrals, &liandong::store::Selection::All)
            .await
            .unwrap();
        assert!(stored.is_empty(), "{name}: page 1 was applied");
        let state = store.source_state(name).await.unwrap();
        assert_eq!(state.and_then(|s| s.cursor), None, "{name}");
    }
}

/// Issue 22 item 6: a record with a 200 KB string is quarantined naming `limits.cell_kb`, its
/// raw text stored cut; the other records of the page load.
#[tokio::test(flavor = "multi_thread")]
async fn a_record_with_a_value_past_limits_cell_kb_is_quarantined() {
    let mut hostile = referral_zh(1);
    hostile["当事人"] = json!("甲".repeat(70_000)); // 205 KB
    let server = MockServer::start().await;
    Mock::given(path("/api"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "data": [referral_zh(0), hostile, referral_zh(2)] })),
        )
        .mount(&server)
        .await;
    let db = common::temp_sqlite();
    let store = common::open(&db.url).await;
    let cfg = common::config(
        &db.url,
        vec![http_source("api", format!("{}/api", server.uri()))],
    );
    let out = run(&cfg, store.as_ref()).await;
    let o = outcome(&out, "api");
    assert_eq!(o.error, None, "{o:?}");
    assert_eq!((o.counts.inserted, o.counts.quarantined), (2, 1));
    let q = store.quarantined(Some("api"), 10).await.unwrap();
    let e = &q[0].item;
    assert_eq!(
        (e.location.as_str(), e.row, e.field.as_str()),
        ("page 1", 2, "party")
    );
    assert_eq!(e.reason, "cell of 206 KB exceeds limits.cell_kb = 64");
    assert!(e.raw.len() <= 16 * 1024 + 30, "{}", e.raw.len());
    assert!(e.raw.contains("…(truncated, 2"), "{}", e.raw.len());
}

/// Issue 22 item 9: an API that lists a referral on two pages of one run, with another amount
/// the second time: the later record is what the store keeps, and the repeat is recorded by page
/// and position (`page 1` row 2, `page 2` row 1) with the field that differs; a record listed
/// twice the same way is not.
#[tokio::test]
async fn a_referral_listed_on_two_pages_with_different_values_keeps_the_later_and_is_recorded() {
    let server = MockServer::start().await;
    let mut again = referral_zh(1);
    again["涉案金额(元)"] = json!(99);
    let page1 = json!([referral_zh(0), referral_zh(1), referral_zh(2)]);
    let page2 = json!([again, referral_zh(0)]);
    for (p, body) in [("1", page1), ("2", page2)] {
        Mock::given(path("/twice"))
            .and(query_param("page", p))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({ "result": { "rows": body } })),
            )
            .mount(&server)
            .await;
    }
    let db = common::temp_sqlite();
    let store = common::open(&db.url).await;
    let cfg = common::config(
        &db.url,
        vec![SourceConfig {
            pagination: Pagination::Page,
            page_size: 3,
            ..http_source("twice", format!("{}/twice", server.uri()))
        }],
    );
    let out = run(&cfg, store.as_ref()).await;
    let o = outcome(&out, "twice");
    assert_eq!(o.error, None, "{o:?}");
    assert_eq!(
        (
            o.counts.seen,
            o.counts.inserted,
            o.counts.updated,
            o.counts.unchanged,
            o.counts.repeated
        ),
        (5, 3, 1, 1, 1),
        "{o:?}"
    );
    let stored = store.records(Feed::Referrals, None).await.unwrap();
    let one = stored
        .iter()
        .find(|s| s.record.case_no.as_written() == case_no(1))
        .unwrap();
    assert_eq!(one.record.get(Field::Amount), &Value::Fen(9_900));

    let repeats = store.repeats(Some("twice"), 10).await.unwrap();
    assert_eq!(repeats.len(), 1, "{repeats:?}");
    let r = &repeats[0].item;
    assert_eq!(
        (
            r.earlier_location.as_str(),
            r.earlier_row,
            r.location.as_str(),
            r.row
        ),
        ("page 1", 2, "page 2", 1)
    );
    assert_eq!(r.case_no, case_no(1));
    assert_eq!(r.changes, json!({"amount": [1.5, 99.0]}));
    assert!(store.quarantined(None, 10).await.unwrap().is_empty());
}
