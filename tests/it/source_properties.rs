//! Properties of every reader of outside data, end to end (issue 22): exports of arbitrary text
//! — CSV in each encoding, HTML tables, XLSX workbooks, JSON pages from an HTTP server on
//! 127.0.0.1 — synced into a real SQLite store: each row is stored exactly as a direct parse of
//! what was written gives, or quarantined with that parse's reasons (or for a limit), and
//! broken exports store nothing they do not hold. The many-case properties of the same readers,
//! without a store, are `sources::props` in the library; these run fewer cases, through `sync`.

use std::collections::{BTreeMap, BTreeSet};

use liandong::config::{Config, LimitsConfig, SourceConfig, SourceKind};
use liandong::records::{Feed, Record};
use liandong::sources::mapping::Mapper;
use liandong::store::Store;
use liandong::sync::sync;
use liandong::units::Units;
use proptest::prelude::*;
use proptest::test_runner::{Config as Cases, FileFailurePersistence, TestCaseError, TestRunner};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common;

const HEADERS: [&str; 8] = [
    "执法单位",
    "案号",
    "当事人",
    "案件名称",
    "证件号",
    "处罚决定日期",
    "罚没金额(元)",
    "涉嫌犯罪",
];

/// Small limits, so that generated rows reach them.
fn limits() -> LimitsConfig {
    LimitsConfig {
        http_page_mb: 1,
        line_kb: 2,
        cell_kb: 1,
        raw_kb: 1,
    }
}

/// A runner of `cases` cases whose failures are kept in `proptest-regressions/` and run first
/// next time, like `proptest!`'s.
fn runner(cases: u32) -> TestRunner {
    // PROPTEST_CASES, as for `proptest!`, runs more (or fewer) cases.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    TestRunner::new(Cases {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        source_file: Some(file!()),
        ..Cases::default()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// What rows hold
// ---------------------------------------------------------------------------------------------

fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec![
            ',', '"', '\n', '\r', '\t', ' ', '\u{3000}', '\u{a0}', '\u{feff}', '\u{fffd}', '\0',
            '<', '>', '&', ';', '#', '\'', '=', '号', '〔', '〕',
        ]),
        3 => prop::char::range('\u{4e00}', '\u{9fa5}'),
        2 => prop::char::range(' ', '~'),
        1 => any::<char>(),
    ]
}

fn text(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(any_char(), len).prop_map(|c| c.into_iter().collect())
}

fn row() -> impl Strategy<Value = Vec<String>> {
    let unit = prop_oneof![
        3 => prop::sample::select(vec!["县市场监管局", "稻城县自然资源局", "县公安局"]).prop_map(String::from),
        1 => text(0..6),
    ];
    let case_no = prop_oneof![
        3 => (prop::sample::select(vec!["稻市监罚〔2024〕", "稻自然资罚[2024]", "XZCF-2024-"]), 0u32..50)
            .prop_map(|(p, n)| format!("{p}{n}号")),
        1 => text(0..8),
    ];
    let date = prop_oneof![
        3 => (2000i32..2030, 1u32..13, 1u32..32).prop_map(|(y, m, d)| format!("{y}年{m}月{d}日")),
        1 => text(0..6),
    ];
    let amount = prop_oneof![
        3 => (0u64..100_000_000).prop_map(|f| format!("{}.{:02}", f / 100, f % 100)),
        1 => text(0..6),
    ];
    let long = prop_oneof![6 => text(0..12), 1 => text(400..700)];
    (
        unit,
        case_no,
        long,
        text(0..12),
        "[1-6][0-9]{16}[0-9X]",
        date,
        amount,
        prop::sample::select(vec!["是", "否", "", "Y"]),
    )
        .prop_map(|(u, n, p, t, id, d, a, f)| vec![u, n, p, t, id, d, a, f.to_string()])
}

fn rows() -> impl Strategy<Value = Vec<Vec<String>>> {
    prop::collection::vec(row(), 1..8)
}

// ---------------------------------------------------------------------------------------------
// Exports
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Export {
    Csv(&'static str),
    Html,
    Xlsx,
}

fn exports() -> Vec<Export> {
    vec![
        Export::Csv("utf-8"),
        Export::Csv("utf-8 bom"),
        Export::Csv("gbk"),
        Export::Csv("gb18030"),
        Export::Csv("utf-16le bom"),
        Export::Html,
        Export::Xlsx,
    ]
}

/// Whether `c` is written in `export` so that it reads back as `c`.
fn writable(export: Export, c: char) -> bool {
    let enc = match export {
        Export::Csv("gbk") => encoding_rs::GBK,
        Export::Csv("gb18030") => encoding_rs::GB18030,
        _ => return true,
    };
    let mut buf = [0u8; 4];
    let s = c.encode_utf8(&mut buf);
    let (bytes, _, unmappable) = enc.encode(s);
    !unmappable && enc.decode_without_bom_handling(&bytes).0 == *s
}

fn csv_record(cells: &[&str]) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(cells).unwrap();
    let mut bytes = w.into_inner().unwrap();
    bytes.pop();
    String::from_utf8(bytes).unwrap()
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What a browser shows of a cell written as `s`: HTML's spaces collapsed.
fn rendered(s: &str) -> String {
    s.split([' ', '\t', '\n', '\r', '\x0c'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A data row as written: its cells as a direct parse sees them, and its line's length where
/// `limits.line_kb` applies.
struct Written {
    cells: Vec<String>,
    line: Option<usize>,
}

/// `rows` as an export's bytes, with the file name it is dropped under, and each row as
/// written.
fn export_bytes(export: Export, rows: &[Vec<String>]) -> (Vec<u8>, &'static str, Vec<Written>) {
    match export {
        Export::Csv(enc) => {
            let mut text = csv_record(&HEADERS) + "\r\n";
            let mut written = Vec::new();
            for r in rows {
                let line = csv_record(&r.iter().map(String::as_str).collect::<Vec<_>>());
                text.push_str(&line);
                text.push_str("\r\n");
                written.push(Written {
                    cells: r.clone(),
                    line: Some(line.len()),
                });
            }
            let bytes = match enc {
                "utf-8" => text.into_bytes(),
                "utf-8 bom" => [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
                "gbk" => encoding_rs::GBK.encode(&text).0.into_owned(),
                "gb18030" => encoding_rs::GB18030.encode(&text).0.into_owned(),
                _ => [0xFF, 0xFE]
                    .into_iter()
                    .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
                    .collect(),
            };
            (bytes, "export.csv", written)
        }
        Export::Html => {
            let mut html =
                String::from("<html><head><meta charset=\"utf-8\"></head><body><table>\n<tr>");
            for h in HEADERS {
                html.push_str(&format!("<th>{h}</th>"));
            }
            html.push_str("</tr>\n");
            for r in rows {
                html.push_str("<tr>");
                for c in r {
                    html.push_str(&format!("<td><span>{}</span></td>", escape_html(c)));
                }
                html.push_str("</tr>\n");
            }
            html.push_str("</table></body></html>");
            let written = rows
                .iter()
                .map(|r| Written {
                    cells: r.iter().map(|c| rendered(c)).collect(),
                    line: None,
                })
                .collect();
            (html.into_bytes(), "export.xls", written)
        }
        Export::Xlsx => {
            let mut wb = rust_xlsxwriter::Workbook::new();
            let ws = wb.add_worksheet();
            for (i, h) in HEADERS.iter().enumerate() {
                ws.write_string(0, i as u16, *h).unwrap();
            }
            for (r, cells) in rows.iter().enumerate() {
                for (i, c) in cells.iter().enumerate() {
                    ws.write_string(r as u32 + 1, i as u16, c).unwrap();
                }
            }
            let written = rows
                .iter()
                .map(|r| Written {
                    cells: r.clone(),
                    line: None,
                })
                .collect();
            (wb.save_to_buffer().unwrap(), "export.xlsx", written)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The oracle, and what the store holds
// ---------------------------------------------------------------------------------------------

/// What the store must hold after a sync of `written` (data rows `first`, `first + 1`, …):
/// the records a direct parse gives, the later of two rows with one key winning, and the
/// quarantine as (row, field, reason) — a row past `limits.line_kb` under `row` with its
/// reason.
fn expected(
    written: &[Written],
    first: i64,
    limits: &LimitsConfig,
) -> (Vec<Record>, BTreeSet<(i64, String, String)>) {
    let units = Units::new(&common::units());
    let headers: Vec<String> = HEADERS.iter().map(|h| h.to_string()).collect();
    let mut direct = Mapper::new(Feed::Cases, &headers, &BTreeMap::new(), None)
        .unwrap()
        .with_limits(limits);
    let mut records: Vec<Record> = Vec::new();
    let mut quarantine = BTreeSet::new();
    for (i, w) in written.iter().enumerate() {
        let n = first + i as i64;
        if w.cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if let Some(len) = w.line.filter(|l| *l > limits.line_bytes()) {
            let reason = format!(
                "line of {} KB exceeds limits.line_kb = {}",
                (len as u64).div_ceil(1024),
                limits.line_kb
            );
            quarantine.insert((n, "row".to_string(), reason));
            continue;
        }
        match direct.map(&w.cells, &units) {
            Ok(r) => {
                let key = (r.unit_id.clone(), r.case_no.key().to_string());
                records.retain(|o| (o.unit_id.clone(), o.case_no.key().to_string()) != key);
                records.push(r);
            }
            Err(errors) => {
                // As the quarantine stores them: masked, NUL shown as ␀.
                let items =
                    liandong::sources::quarantine_items("", n, errors, Default::default(), limits);
                for q in items {
                    quarantine.insert((q.row, q.field, q.reason));
                }
            }
        }
    }
    (records, quarantine)
}

/// The records of the cases feed and the quarantine of `source` in `store`.
async fn stored(store: &dyn Store, source: &str) -> (Vec<Record>, BTreeSet<(i64, String, String)>) {
    let records = store
        .records(Feed::Cases, None)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.record)
        .collect();
    let quarantine = store
        .quarantined(Some(source), 100_000)
        .await
        .unwrap()
        .into_iter()
        .map(|q| (q.item.row, q.item.field, q.item.reason))
        .collect();
    (records, quarantine)
}

/// `got` holds exactly the records of `want`, in any order. (A case number without a digit
/// is keyed by its row's content in the store; read back, its key is its text's.)
fn same_records(got: &[Record], want: &[Record]) -> Result<(), TestCaseError> {
    let shown = |rs: &[Record]| {
        let mut v: Vec<String> = rs
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} {:?}",
                    r.unit_id,
                    r.unit_known,
                    r.case_no.as_written(),
                    r.values
                )
            })
            .collect();
        v.sort();
        v
    };
    prop_assert_eq!(shown(got), shown(want));
    Ok(())
}

/// The text of `bytes` in `encoding`, in the pieces between the places that are not text in it.
fn text_pieces(bytes: &[u8], encoding: &'static encoding_rs::Encoding) -> Vec<String> {
    let mut decoder = encoding.new_decoder_with_bom_removal();
    let mut pieces = vec![String::new()];
    let mut rest = bytes;
    loop {
        let mut out = String::with_capacity(rest.len() * 3 + 16);
        let (result, read) = decoder.decode_to_string_without_replacement(rest, &mut out, true);
        rest = &rest[read..];
        pieces.last_mut().unwrap().push_str(&out);
        match result {
            encoding_rs::DecoderResult::Malformed(..) => pieces.push(String::new()),
            encoding_rs::DecoderResult::InputEmpty => return pieces,
            encoding_rs::DecoderResult::OutputFull => {}
        }
    }
}

fn file_config(store_url: &str, path: &std::path::Path) -> Config {
    let mut cfg = common::config(
        store_url,
        vec![common::file_source("export", Feed::Cases, path)],
    );
    cfg.limits = limits();
    cfg
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/// The rows of `rows` that `export` can write.
fn writable_rows(export: Export, rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.into_iter()
        .map(|r| {
            r.into_iter()
                .map(|c| c.chars().filter(|ch| writable(export, *ch)).collect())
                .collect()
        })
        .collect()
}

/// Syncs `rows` written as `export` into the store at `url`, and checks what it holds.
async fn export_is_stored_as_written(
    url: &str,
    dir: &std::path::Path,
    export: Export,
    rows: Vec<Vec<String>>,
) -> Result<(), TestCaseError> {
    let rows = writable_rows(export, rows);
    let (bytes, name, written) = export_bytes(export, &rows);
    let path = common::write(dir, name, &bytes);
    let cfg = file_config(url, &path);
    let store = common::open(url).await;
    let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    prop_assert!(out[0].error.is_none(), "{:?}: {:?}", export, out[0].error);
    let (records, quarantine) = stored(store.as_ref(), "export").await;
    let (want_records, want_quarantine) = expected(&written, 2, &limits());
    same_records(&records, &want_records)?;
    prop_assert_eq!(quarantine, want_quarantine);
    Ok(())
}

/// Rows of arbitrary text, exported as CSV in each encoding, as an HTML table or as an XLSX
/// workbook and synced into SQLite: the store holds exactly the records a direct parse of the
/// rows as written gives (the later row of a key winning), and the quarantine exactly the rows
/// that parse refuses — with its reasons — and those past `limits.line_kb`.
#[test]
fn an_export_of_any_text_is_stored_as_written_or_quarantined_with_its_reasons() {
    let rt = runtime();
    let strategy = (prop::sample::select(exports()), rows());
    runner(32)
        .run(&strategy, |(export, rows)| {
            let ts = common::temp_sqlite();
            rt.block_on(export_is_stored_as_written(
                &ts.url,
                ts.dir.path(),
                export,
                rows,
            ))
        })
        .unwrap();
}

/// The same on PostgreSQL, whose text cannot hold U+0000: a cell with one was refused by the
/// database and the whole import failed, good rows and quarantine included. Such a row is
/// quarantined (on every backend), and the rest stored. Skipped when PostgreSQL is not
/// reachable (LIANDONG_TEST_PG_URL), unless LIANDONG_REQUIRE_DBS=1.
#[test]
fn an_export_of_any_text_is_stored_as_written_on_postgresql_too() {
    let rt = runtime();
    if rt
        .block_on(common::fresh_pg("the PostgreSQL reader property"))
        .is_none()
    {
        return;
    }
    let strategy = (prop::sample::select(exports()), rows());
    runner(4)
        .run(&strategy, |(export, rows)| {
            rt.block_on(async {
                let db = common::fresh_pg("the PostgreSQL reader property")
                    .await
                    .expect("PostgreSQL answered a moment ago");
                let dir = tempfile::tempdir().unwrap();
                export_is_stored_as_written(&db.url, dir.path(), export, rows).await
            })
        })
        .unwrap();
}

/// A CSV export broken anyhow (bytes flipped, inserted — quotes, BOMs, NULs, line ends — or cut)
/// and synced into SQLite: the sync never panics; it refuses the file or stores rows whose
/// texts are in the file, and quarantined raw text within `limits.raw_kb`.
#[test]
fn a_broken_export_stores_nothing_it_does_not_hold() {
    let rt = runtime();
    let edits = prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            prop::sample::select(vec![
                &b"\""[..],
                b"\xEF\xBB\xBF",
                b"\0",
                b"\n",
                b",",
                b"\xFF",
                b"\xE6",
            ]),
            any::<bool>(),
        ),
        1..5,
    );
    let strategy = (prop::sample::select(vec!["utf-8", "gbk"]), rows(), edits);
    runner(16)
        .run(&strategy, |(enc, rows, edits)| {
            let export = Export::Csv(enc);
            let rows: Vec<Vec<String>> = rows
                .into_iter()
                .map(|r| {
                    r.into_iter()
                        .map(|c| c.chars().filter(|ch| writable(export, *ch)).collect())
                        .collect()
                })
                .collect();
            let (mut bytes, name, _) = export_bytes(export, &rows);
            for (at, piece, cut) in edits {
                let i = at.index(bytes.len() + 1);
                if cut {
                    bytes.truncate(i.max(bytes.len() / 2));
                } else {
                    bytes.splice(i..i, piece.iter().copied());
                }
            }
            // What the file holds as text, quotes aside (the csv crate drops a quote that ends
            // a cell early).
            let unquoted: Vec<u8> = bytes.iter().copied().filter(|b| *b != b'"').collect();
            let read_as = if enc == "gbk" {
                encoding_rs::GB18030
            } else {
                encoding_rs::UTF_8
            };
            let pieces = text_pieces(&unquoted, read_as);
            let ts = common::temp_sqlite();
            let path = common::write(ts.dir.path(), name, &bytes);
            let cfg = file_config(&ts.url, &path);
            rt.block_on(async {
                let store = common::open(&ts.url).await;
                let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
                if out[0].error.is_some() {
                    prop_assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 0);
                    return Ok(());
                }
                for q in store.quarantined(Some("export"), 100_000).await.unwrap() {
                    prop_assert!(!q.item.reason.is_empty());
                    prop_assert!(q.item.raw.len() <= 1024 + 40, "{}", q.item.raw.len());
                }
                for r in stored(store.as_ref(), "export").await.0 {
                    for v in &r.values {
                        if let liandong::records::Value::Text(t) = v {
                            for word in t.split_whitespace() {
                                let word = word.replace('"', "");
                                prop_assert!(
                                    pieces.iter().any(|p| p.contains(&word)),
                                    "{:?} stored, not in the file",
                                    word
                                );
                            }
                        }
                    }
                }
                Ok(())
            })
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// JSON pages
// ---------------------------------------------------------------------------------------------

fn http_config(store_url: &str, url: String) -> Config {
    let src = SourceConfig {
        url: Some(url),
        timeout_secs: 5,
        connect_timeout_secs: 1,
        retries: 0,
        ..common::source("api", SourceKind::Http, Feed::Cases)
    };
    let mut cfg = common::config(store_url, vec![src]);
    cfg.limits = limits();
    cfg
}

/// Records of arbitrary text in a JSON page served from 127.0.0.1, in UTF-8 or GBK (declared in
/// the Content-Type), and synced into SQLite: the store holds exactly the records a direct parse
/// of the values as written gives, and the quarantine exactly the records it refuses.
#[test]
fn a_json_page_of_any_text_is_stored_as_written_or_quarantined_with_its_reasons() {
    let rt = runtime();
    let strategy = (any::<bool>(), rows());
    runner(24)
        .run(&strategy, |(gbk, rows)| {
            let export = Export::Csv(if gbk { "gbk" } else { "utf-8" });
            let rows: Vec<Vec<String>> = rows
                .into_iter()
                .map(|r| {
                    r.into_iter()
                        .map(|c| c.chars().filter(|ch| writable(export, *ch)).collect())
                        .collect()
                })
                .collect();
            let records: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::Value::Object(
                        HEADERS
                            .iter()
                            .zip(r)
                            .map(|(h, c)| (h.to_string(), serde_json::Value::String(c.clone())))
                            .collect(),
                    )
                })
                .collect();
            let body = serde_json::json!({ "code": 0, "data": records }).to_string();
            let (bytes, charset) = if gbk {
                (encoding_rs::GBK.encode(&body).0.into_owned(), "gbk")
            } else {
                (body.into_bytes(), "utf-8")
            };
            let written: Vec<Written> = rows
                .iter()
                .map(|r| Written {
                    cells: r.clone(),
                    line: None,
                })
                .collect();
            let ts = common::temp_sqlite();
            rt.block_on(async {
                let server = MockServer::start().await;
                Mock::given(method("GET"))
                    .respond_with(
                        ResponseTemplate::new(200)
                            .set_body_raw(bytes, &format!("application/json; charset={charset}")),
                    )
                    .mount(&server)
                    .await;
                let cfg = http_config(&ts.url, format!("{}/cases", server.uri()));
                let store = common::open(&ts.url).await;
                let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
                prop_assert!(out[0].error.is_none(), "{:?}", out[0].error);
                let (records, quarantine) = stored(store.as_ref(), "api").await;
                let (want_records, want_quarantine) = expected(&written, 1, &limits());
                same_records(&records, &want_records)?;
                prop_assert_eq!(quarantine, want_quarantine);
                Ok(())
            })
        })
        .unwrap();
}

/// Serves `body` on 127.0.0.1 to every request, in chunks of `chunk` bytes and without a
/// Content-Length (as a streaming API does); returns the URL.
async fn chunked_server(body: Vec<u8>, chunk: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cases", listener.local_addr().unwrap());
    let body = std::sync::Arc::new(body);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut req = vec![0u8; 4096];
                let _ = sock.read(&mut req).await;
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                          Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                    )
                    .await;
                for part in body.chunks(chunk.max(1)) {
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
    url
}

/// A page of any size about `limits.http_page_mb` (1 MB), declared or streamed in chunks of any
/// size: it is read and its record stored when it is at most the limit, and otherwise the run
/// fails naming the limit, with nothing stored.
#[test]
fn a_page_is_refused_exactly_when_it_is_larger_than_limits_http_page_mb() {
    let rt = runtime();
    let strategy = (-200i64..200, any::<bool>(), 1usize..200_000);
    runner(16)
        .run(&strategy, |(delta, streamed, chunk)| {
            let cap = 1usize << 20;
            let record = r#"{"data":[{"执法单位":"县市场监管局","案号":"稻市监罚〔2024〕1号"}]}"#;
            let size = (cap as i64 + delta) as usize;
            let mut body = record.as_bytes().to_vec();
            body.resize(size, b' ');
            let ts = common::temp_sqlite();
            rt.block_on(async {
                let server = MockServer::start().await;
                let url = if streamed {
                    chunked_server(body, chunk).await
                } else {
                    Mock::given(method("GET"))
                        .respond_with(
                            ResponseTemplate::new(200).set_body_raw(body, "application/json"),
                        )
                        .mount(&server)
                        .await;
                    format!("{}/cases", server.uri())
                };
                let cfg = http_config(&ts.url, url);
                let store = common::open(&ts.url).await;
                let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
                let count = store.record_count(Feed::Cases).await.unwrap();
                if size > cap {
                    let err = out[0].error.clone().unwrap_or_default();
                    prop_assert!(
                        err.contains("larger than limits.http_page_mb = 1 MB"),
                        "a page of {} bytes: {:?}",
                        size,
                        out[0].error
                    );
                    prop_assert_eq!(count, 0);
                } else {
                    prop_assert!(
                        out[0].error.is_none(),
                        "a page of {} bytes: {:?}",
                        size,
                        out[0].error
                    );
                    prop_assert_eq!(count, 1);
                }
                Ok(())
            })
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// What the properties found, as a user sees it
// ---------------------------------------------------------------------------------------------

fn hostile(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/hostile")
        .join(name)
}

/// The store's records (by case number) and quarantine (row, field, column, reason, value).
type Holds = (
    BTreeMap<String, Record>,
    Vec<(i64, String, Option<String>, String, String)>,
);

/// Syncs the hostile file `name` (copied into a temporary folder) as the file source `src`
/// with `encoding` into a new SQLite store; returns what it holds, after checking that the
/// sync did not fail.
async fn sync_hostile(name: &str, encoding: liandong::config::Encoding) -> Holds {
    let ts = common::temp_sqlite();
    sync_hostile_into(&ts.url, ts.dir.path(), name, encoding).await
}

async fn sync_hostile_into(
    url: &str,
    dir: &std::path::Path,
    name: &str,
    encoding: liandong::config::Encoding,
) -> Holds {
    let path = dir.join(name);
    std::fs::copy(hostile(name), &path).unwrap();
    let mut src = common::file_source("src", Feed::Cases, &path);
    src.encoding = encoding;
    let cfg = common::config(url, vec![src]);
    let store = common::open(url).await;
    let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert!(out[0].error.is_none(), "{name}: {:?}", out[0].error);
    let records = store
        .records(Feed::Cases, None)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.record.case_no.as_written().to_string(), s.record))
        .collect();
    let mut quarantine: Vec<_> = store
        .quarantined(Some("src"), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|q| {
            let i = q.item;
            (i.row, i.field, i.column, i.reason, i.value)
        })
        .collect();
    quarantine.sort();
    (records, quarantine)
}

fn party(r: &Record) -> &str {
    r.text(liandong::records::Field::Party).unwrap_or_default()
}

/// Found by `sources::props`: an amount written 1,234.50 without quotes was stored as 1 yuan;
/// a quote not doubled inside a quoted cell (`"他说"好"的"`) was joined to its cell; a quote
/// never closed took the next row into its cell. Each such row is quarantined, naming why and
/// (for a quote) the cell; the other rows are stored as written.
#[tokio::test(flavor = "multi_thread")]
async fn a_csv_row_with_a_broken_quote_or_a_separator_out_of_place_is_quarantined() {
    let (records, quarantine) =
        sync_hostile("broken-quotes.csv", liandong::config::Encoding::Auto).await;
    let stored: Vec<(&str, &str)> = records
        .iter()
        .map(|(no, r)| (no.as_str(), party(r)))
        .collect();
    assert_eq!(
        stored,
        [
            ("稻市监罚〔2025〕11号", "甲"),
            ("稻市监罚〔2025〕14号", "丙")
        ]
    );
    let shown: Vec<(i64, &str, Option<&str>, &str)> = quarantine
        .iter()
        .map(|(n, f, c, r, _)| {
            (
                *n,
                f.as_str(),
                c.as_deref(),
                r.split(':').next().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (3, "row", None, "the row has 6 cells but the header row 5"),
            (
                4,
                "party",
                Some("当事人"),
                "text after the closing quote of this cell"
            ),
            (
                6,
                "party",
                Some("当事人"),
                "a quote opened in this cell is never closed, so the rest of the file was read into it; fix the row at the source (a quote inside a cell is written twice"
            ),
        ]
    );
}

/// Found by `sources::props`: a GB18030 export with a byte that is not GB18030, and cut inside
/// its last character, stored those rows with U+FFFD in the party. They are quarantined,
/// naming the cell and the encoding; the other rows load.
#[tokio::test(flavor = "multi_thread")]
async fn a_gbk_file_with_a_bad_byte_or_cut_inside_a_character_quarantines_those_rows() {
    for encoding in [
        liandong::config::Encoding::Gb18030,
        liandong::config::Encoding::Auto,
    ] {
        let (records, quarantine) = sync_hostile("gb18030-cut.csv", encoding).await;
        let parties: Vec<&str> = records.values().map(party).collect();
        assert_eq!(parties, ["次仁", "卓玛"], "{encoding:?}");
        let shown: Vec<(i64, &str, Option<&str>)> = quarantine
            .iter()
            .map(|(n, f, c, _, _)| (*n, f.as_str(), c.as_deref()))
            .collect();
        assert_eq!(
            shown,
            [(3, "party", Some("当事人")), (5, "party", Some("当事人"))],
            "{encoding:?}"
        );
        for (_, _, _, reason, _) in &quarantine {
            assert!(
                reason.starts_with("bytes that are not gb18030 text"),
                "{reason}"
            );
        }
    }
}

/// Found by `sources::props`: inline tags (`<span>`, `<b>`, `<font>`) split words with a space
/// (a date `<b>2025</b>-04-05` refused, a case number stored with spaces), a `<` that opens no
/// tag swallowed the text after it, and a file ending in a tag left open after a Chinese
/// character panicked the reader. Cells are read as a browser shows them.
#[tokio::test(flavor = "multi_thread")]
async fn an_html_export_is_read_as_a_browser_shows_it() {
    let (records, quarantine) =
        sync_hostile("inline-markup.xls", liandong::config::Encoding::Auto).await;
    assert_eq!(quarantine, []);
    let shown: Vec<(&str, &str, &str, String, String)> = records
        .iter()
        .map(|(no, r)| {
            (
                no.as_str(),
                r.unit_id.as_str(),
                party(r),
                r.get(liandong::records::Field::DecidedOn).display(),
                r.get(liandong::records::Field::Amount).display(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (
                "稻交运罚〔2025〕31号",
                "jtys",
                "A&B 运输公司 < 分公司 & 车队",
                "2025-04-05".to_string(),
                "3000.00".to_string()
            ),
            (
                "稻交运罚〔2025〕32号",
                "jtys",
                "洛绒 扎西",
                "2025-04-06".to_string(),
                "1500.00".to_string()
            ),
            (
                "稻交运罚〔2025〕33号",
                "jtys",
                "多吉",
                "2025-04-07".to_string(),
                "800.00".to_string()
            ),
        ]
    );
}

/// Found by `sources::props`: a workbook of a few kilobytes with a table at A1 and one cell at
/// XFD1048576 made the reader allocate 512 GB and abort the process. The table is stored and
/// the far row, which has no case number nor unit, quarantined under its own number.
#[tokio::test(flavor = "multi_thread")]
async fn a_workbook_with_a_cell_at_the_far_corner_is_read_cell_by_cell() {
    let (records, quarantine) =
        sync_hostile("far-cell.xlsx", liandong::config::Encoding::Auto).await;
    let stored: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|(no, r)| (no.as_str(), r.unit_id.as_str(), party(r)))
        .collect();
    assert_eq!(stored, [("稻市监罚〔2024〕1号", "scjg", "张三")]);
    let shown: Vec<(i64, &str)> = quarantine
        .iter()
        .map(|(n, f, _, _, _)| (*n, f.as_str()))
        .collect();
    assert_eq!(shown, [(1_048_576, "case_no"), (1_048_576, "unit")]);
}

/// Found by `sources::props`: a JSON page with a byte that is not UTF-8 in one record stored
/// that record with U+FFFD. It is quarantined, saying so; the page's other records are stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_json_record_with_a_byte_that_is_not_utf8_is_quarantined() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            std::fs::read(hostile("page-bad-byte.json")).unwrap(),
            "application/json",
        ))
        .mount(&server)
        .await;
    let ts = common::temp_sqlite();
    let cfg = http_config(&ts.url, format!("{}/cases", server.uri()));
    let store = common::open(&ts.url).await;
    let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    assert!(out[0].error.is_none(), "{:?}", out[0].error);
    let (records, _) = stored(store.as_ref(), "api").await;
    let mut parties: Vec<&str> = records.iter().map(party).collect();
    parties.sort();
    assert_eq!(parties, ["卓玛", "次仁"]);
    let q = store.quarantined(Some("api"), 10).await.unwrap();
    assert_eq!(q.len(), 1);
    let e = &q[0].item;
    assert_eq!(
        (e.location.as_str(), e.row, e.field.as_str()),
        ("page 1", 2, "record")
    );
    assert!(
        e.reason
            .starts_with("bytes that are not UTF-8 text in this record"),
        "{}",
        e.reason
    );
    assert!(e.raw.contains("扎\u{FFFD}西"), "{}", e.raw);
}

/// Found by the PostgreSQL property: a cell holding U+0000 made PostgreSQL refuse the import
/// ("unsupported Unicode escape sequence"), and the sync failed with nothing stored. On either
/// backend the row is quarantined, its value shown with ␀, and the other rows stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_cell_with_a_nul_character_is_quarantined_on_sqlite_and_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let ts = common::temp_sqlite();
    let pg = common::fresh_pg("a NUL cell on PostgreSQL").await;
    let mut urls = vec![ts.url.clone()];
    urls.extend(pg.as_ref().map(|db| db.url.clone()));
    for url in urls {
        let (records, quarantine) = sync_hostile_into(
            &url,
            dir.path(),
            "nul-cell.csv",
            liandong::config::Encoding::Auto,
        )
        .await;
        let parties: Vec<&str> = records.values().map(party).collect();
        assert_eq!(parties, ["李四"], "{url}");
        assert_eq!(quarantine.len(), 1, "{url}");
        let (row, field, column, reason, value) = &quarantine[0];
        assert_eq!(
            (*row, field.as_str(), column.as_deref()),
            (2, "party", Some("当事人"))
        );
        assert!(reason.starts_with("a NUL character (U+0000"), "{reason}");
        assert_eq!(value, "张␀三");
    }
}

/// Found by `sources::props`: a bit flipped inside a workbook's compressed XML loaded the
/// altered text (`张三` read as `张四`): calamine stops reading before the ZIP's CRC-32 check.
/// The workbook is refused as a whole, naming the damaged member; nothing is stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_workbook_whose_checksum_does_not_match_is_refused() {
    let ts = common::temp_sqlite();
    let path = ts.dir.path().join("bad-crc.xlsx");
    std::fs::copy(hostile("bad-crc.xlsx"), &path).unwrap();
    let cfg = common::config(
        &ts.url,
        vec![common::file_source("src", Feed::Cases, &path)],
    );
    let store = common::open(&ts.url).await;
    let out = sync(&cfg, store.as_ref(), None, common::clock(), false).await;
    let err = out[0].error.clone().expect("a damaged workbook is refused");
    assert!(
        err.contains("not a readable spreadsheet: xl/sharedStrings.xml: Invalid checksum"),
        "{err}"
    );
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 0);
}
