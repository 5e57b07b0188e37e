//! Property tests of the readers of outside data (issue 22): CSV in each encoding, XLSX, HTML
//! tables and JSON records. Whatever bytes an export holds, a reader never panics, holds the
//! `[limits]`, and either loads a row with exactly the values written or quarantines it with a
//! reason — never stores a changed value, never drops a row.
//!
//! The oracle is [`Mapper`] applied to the cells as they were written: reading a file must be
//! transparent, so each written row comes back as the record (or the quarantine) that a direct
//! parse of its cells gives. The readers are the daemon's own (`file::read_rows` with
//! `file::RowMapper`, `http::JsonMapper`), on real files in a temporary folder; the black-box
//! tests in `tests/it/source_properties.rs` run fewer cases through the store.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::config::{Encoding, LimitsConfig, SourceConfig, UnitConfig};
use crate::records::Feed;
use crate::sources::file::{Export, RowMapper};
use crate::sources::mapping::Mapper;
use crate::sources::{Item, quarantine_items};
use crate::store::QuarantineItem;
use crate::units::Units;

/// The columns every generated export has, in order: unit, case number, two free texts, an ID
/// number, a date, an amount and a yes/no flag; with Chinese headers, or English ones (then the
/// only non-ASCII text, which `encoding = auto` decides by, is in the rows).
const ZH: [&str; 8] = [
    "执法单位",
    "案号",
    "当事人",
    "案件名称",
    "证件号",
    "处罚决定日期",
    "罚没金额(元)",
    "涉嫌犯罪",
];
const EN: [&str; 8] = [
    "unit",
    "case_no",
    "party",
    "title",
    "party_id",
    "decided_on",
    "amount",
    "suspected_crime",
];
type Headers = &'static [&'static str; HEADERS_LEN];
const HEADERS_LEN: usize = 8;

fn headers() -> impl Strategy<Value = Headers> {
    prop::sample::select(vec![&ZH, &EN])
}

/// Small limits, so that generated rows reach them.
fn limits() -> LimitsConfig {
    LimitsConfig {
        http_page_mb: 1,
        line_kb: 2,
        cell_kb: 1,
        raw_kb: 1,
    }
}

fn units() -> Units {
    Units::new(&[
        UnitConfig {
            id: "scjg".into(),
            name: "稻城县市场监督管理局".into(),
            aliases: vec!["县市场监管局".into()],
            ..Default::default()
        },
        UnitConfig {
            id: "zrzy".into(),
            name: "稻城县自然资源局".into(),
            ..Default::default()
        },
    ])
}

// ---------------------------------------------------------------------------------------------
// What rows hold
// ---------------------------------------------------------------------------------------------

/// Characters that exports hold and that break readers: separators, quotes, line ends, spaces
/// of every width, a BOM, NUL, the replacement character, markup, CJK and anything at all.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec![
            ',', '"', '\n', '\r', '\t', ' ', '\u{3000}', '\u{a0}', '\u{feff}', '\u{fffd}', '\0',
            '<', '>', '&', ';', '#', '\'', '=', '\\', '号', '〔', '〕', '（', '）', '【', '】',
        ]),
        3 => prop::char::range('\u{4e00}', '\u{9fa5}'),
        2 => prop::char::range(' ', '~'),
        2 => any::<char>(),
    ]
}

fn text(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(any_char(), len).prop_map(|c| c.into_iter().collect())
}

/// Free text: short mostly, now and then past `limits.cell_kb` or `limits.line_kb`. Long text
/// is not a short piece repeated: GBK text made of a few characters repeated can be made to
/// look like UTF-8 to `encoding = auto` (`滰猕` is E6 BB E2 A8 in GBK), which no export does
/// by chance; a source that holds such text sets its `encoding`.
fn free_text() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => text(0..16),
        1 => text(300..900),
    ]
}

/// A case number as departments write them (any bracket, width, padding), or anything.
fn case_no() -> impl Strategy<Value = String> {
    let written = (
        prop::sample::select(vec![
            "稻市监罚",
            "稻自然资罚",
            "稻交运罚",
            "稻农罚",
            "XZCF-",
        ]),
        prop::sample::select(vec![
            ("〔", "〕"),
            ("[", "]"),
            ("（", "）"),
            ("(", ")"),
            ("【", "】"),
            ("", "-"),
        ]),
        2000u32..2031,
        any::<bool>(),
        0u32..10_000,
        prop::sample::select(vec!["", "0", "00", "第", "第0"]),
        prop::sample::select(vec!["号", "", " 号"]),
    )
        .prop_map(|(p, (open, close), year, wide, n, pad, hao)| {
            let year = year.to_string();
            let year = if wide {
                year.chars()
                    .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c))
                    .collect()
            } else {
                year
            };
            format!("{p}{open}{year}{close}{pad}{n}{hao}")
        });
    prop_oneof![4 => written, 1 => text(0..12)]
}

fn unit() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "稻城县市场监督管理局",
            "县市场监管局",
            " 县市场监管局\u{3000}",
            "稻城县自然资源局",
            "县公安局",
        ])
        .prop_map(String::from),
        1 => text(0..10),
    ]
}

fn party_id() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[1-6][0-9]{5}(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9])[0-9]{3}[0-9X]",
        1 => "91[0-9]{6}[0-9A-Z]{10}",
        1 => text(0..10),
    ]
}

fn date() -> impl Strategy<Value = String> {
    let formats = (1990i32..2035, 1u32..13, 1u32..32, 0u8..6).prop_map(|(y, m, d, f)| match f {
        0 => format!("{y}-{m:02}-{d:02}"),
        1 => format!("{y}/{m}/{d}"),
        2 => format!("{y}年{m}月{d}日"),
        3 => format!("{y}{m:02}{d:02}"),
        4 => format!("{y}-{m:02}-{d:02} 14:30"),
        _ => format!("{}", 30_000 + (y - 1990) * 365 + d as i32),
    });
    prop_oneof![5 => formats, 1 => Just(String::new()), 1 => text(0..10)]
}

fn amount() -> impl Strategy<Value = String> {
    let formats = (0i64..10_000_000, 0u8..7).prop_map(|(fen, f)| {
        let (y, c) = (fen / 100, fen % 100);
        match f {
            0 => format!("{y}"),
            1 => format!("{y}.{c:02}"),
            2 => format!("{y}.{c:02}元"),
            3 => format!("¥{y}.{}", c / 10),
            4 => format!("{}.{}万", y / 10_000, (y % 10_000) / 1000),
            5 => format!("-{y}"),
            _ => format!(" {y} "),
        }
    });
    prop_oneof![5 => formats, 1 => Just(String::new()), 1 => text(0..10)]
}

fn flag() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["是", "否", "Y", "N", "", "√", "×"]).prop_map(String::from),
        1 => text(0..4),
    ]
}

/// One data row, its cells in the order of [`ZH`].
fn row() -> impl Strategy<Value = Vec<String>> {
    (
        unit(),
        case_no(),
        free_text(),
        free_text(),
        party_id(),
        date(),
        amount(),
        flag(),
    )
        .prop_map(|(u, n, p, t, id, d, a, f)| vec![u, n, p, t, id, d, a, f])
}

fn rows() -> impl Strategy<Value = Vec<Vec<String>>> {
    prop::collection::vec(row(), 1..10)
}

// ---------------------------------------------------------------------------------------------
// Writing exports
// ---------------------------------------------------------------------------------------------

/// How a CSV export is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text {
    Utf8,
    Utf8Bom,
    Gbk,
    Gb18030,
    Utf16LeBom,
    Utf16BeBom,
}

impl Text {
    fn all() -> Vec<Text> {
        vec![
            Text::Utf8,
            Text::Utf8Bom,
            Text::Gbk,
            Text::Gb18030,
            Text::Utf16LeBom,
            Text::Utf16BeBom,
        ]
    }

    /// What a source reading this export would say: its own encoding, or `auto`.
    fn configured(self, auto: bool) -> Encoding {
        match (auto, self) {
            (true, _) => Encoding::Auto,
            (false, Text::Gbk) => Encoding::Gbk,
            (false, Text::Gb18030) => Encoding::Gb18030,
            (false, _) => Encoding::Utf8,
        }
    }

    /// Whether the encoding can write `c` so that it reads back as `c` (GBK has no code for
    /// most of Unicode; WHATWG's GB18030 encoder refuses U+E5E5; and the few private-use code
    /// points that GB18030-2022 gave to vertical forms, such as U+E78D, are written as codes
    /// that now read as those forms, U+FE10).
    fn can_write(self, c: char) -> bool {
        let enc = match self {
            Text::Gbk => encoding_rs::GBK,
            Text::Gb18030 => encoding_rs::GB18030,
            _ => return true,
        };
        let mut buf = [0u8; 4];
        let s = c.encode_utf8(&mut buf);
        let (bytes, _, unmappable) = enc.encode(s);
        !unmappable && enc.decode_without_bom_handling(&bytes).0 == *s
    }

    fn encode(self, s: &str) -> Vec<u8> {
        match self {
            Text::Utf8 => s.as_bytes().to_vec(),
            Text::Utf8Bom => [b"\xEF\xBB\xBF".as_slice(), s.as_bytes()].concat(),
            Text::Gbk => encoding_rs::GBK.encode(s).0.into_owned(),
            Text::Gb18030 => encoding_rs::GB18030.encode(s).0.into_owned(),
            Text::Utf16LeBom => [0xFF, 0xFE]
                .into_iter()
                .chain(s.encode_utf16().flat_map(u16::to_le_bytes))
                .collect(),
            Text::Utf16BeBom => [0xFE, 0xFF]
                .into_iter()
                .chain(s.encode_utf16().flat_map(u16::to_be_bytes))
                .collect(),
        }
    }
}

/// `rows` as the text of a CSV export (the header first), quoted where needed; and each data
/// row's length as written, its line end excluded.
fn csv_text(headers: Headers, rows: &[Vec<String>], crlf: bool) -> (String, Vec<usize>) {
    let record = |cells: &[&str]| {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        w.write_record(cells).expect("a record to memory");
        let mut bytes = w.into_inner().expect("a record to memory");
        bytes.pop();
        String::from_utf8(bytes).expect("UTF-8 in, UTF-8 out")
    };
    let end = if crlf { "\r\n" } else { "\n" };
    let mut out = record(headers) + end;
    let mut lens = Vec::new();
    for r in rows {
        let line = record(&r.iter().map(String::as_str).collect::<Vec<_>>());
        lens.push(line.len());
        out.push_str(&line);
        out.push_str(end);
    }
    (out, lens)
}

// ---------------------------------------------------------------------------------------------
// Reading back, and the oracle
// ---------------------------------------------------------------------------------------------

const LOCATION: &str = "export";

/// Reads `path` as the daemon does: each row the reader hands over, mapped or quarantined by
/// the same [`RowMapper`]. `Err` when the file is refused as a whole.
fn read_back(
    path: &Path,
    src: &SourceConfig,
    limits: &LimitsConfig,
) -> anyhow::Result<Vec<(i64, Item)>> {
    let units = units();
    let export = Export::open(path)?;
    let mut mapper =
        RowMapper::new(Feed::Cases, src, limits, &units, LOCATION.into()).reading(export.format());
    let mut items = Vec::new();
    export.read_rows(src, limits.line_bytes(), &mut |row, cells, flaw| {
        if let Some(item) = mapper.read(row, cells, flaw)? {
            items.push((row, item));
        }
        Ok(())
    })?;
    mapper.finish()?;
    Ok(items)
}

/// What every quarantined row must be, whatever the input: a reason, and its value and raw
/// text within `limits.raw_kb` (plus the note of how much was cut).
fn check_quarantine(items: &[QuarantineItem], limits: &LimitsConfig) -> Result<(), TestCaseError> {
    prop_assert!(!items.is_empty(), "a quarantined row without any reason");
    let bound = limits.raw_bytes() + "…(truncated, 99999 KB)".len();
    for q in items {
        prop_assert!(!q.reason.trim().is_empty(), "{q:?}");
        prop_assert!(!q.field.is_empty(), "{q:?}");
        prop_assert!(q.raw.len() <= bound, "raw of {} bytes", q.raw.len());
        prop_assert!(q.value.len() <= bound, "value of {} bytes", q.value.len());
    }
    Ok(())
}

/// A data row as written, for [`check_transparent`].
#[derive(Debug, Clone)]
struct Written {
    /// Its cells, as the text the export holds.
    cells: Vec<String>,
    /// Its length as the reader sees it (UTF-8, line end excluded), where a line limit applies.
    line: Option<usize>,
    /// The column whose bytes are not text in the file's encoding, if any.
    undecodable: Option<usize>,
}

impl Written {
    fn text(cells: Vec<String>, line: Option<usize>) -> Written {
        Written {
            cells,
            line,
            undecodable: None,
        }
    }
}

/// The property of a transparent reader. `written[i]` is data row `first + i`; `read` is what
/// came back. Each non-blank written row comes back once, under its own row number: as the
/// record a direct parse of its cells gives, or quarantined — for the same reasons as the direct
/// parse (the same quarantine entries, raw text included), because its line passed
/// `limits.line_kb`, or because it holds bytes that are not text.
fn check_transparent(
    read: &[(i64, Item)],
    written: &[Written],
    headers: Headers,
    first: i64,
    limits: &LimitsConfig,
) -> Result<(), TestCaseError> {
    let units = units();
    let names: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let mut direct = Mapper::new(Feed::Cases, &names, &BTreeMap::new(), None)
        .expect("the headers map")
        .with_limits(limits);
    let mut got = read.iter().peekable();
    for (i, w) in written.iter().enumerate() {
        let (n, cells) = (first + i as i64, &w.cells);
        if w.undecodable.is_none() && cells.iter().all(|c| c.trim().is_empty()) {
            // A blank row is no row (exports end with some).
            if let Some((m, _)) = got.peek() {
                prop_assert_ne!(*m, n, "a blank row was read as a row");
            }
            continue;
        }
        let Some((m, item)) = got.next() else {
            return Err(TestCaseError::fail(format!(
                "row {n} was dropped: {cells:?}"
            )));
        };
        prop_assert_eq!(*m, n, "row {} read under another number: {:?}", n, cells);
        let over_line = w.line.is_some_and(|l| l > limits.line_bytes());
        if w.undecodable.is_some() || over_line {
            let Item::Bad(q) = item else {
                return Err(TestCaseError::fail(format!(
                    "row {n} was loaded though it {}: {item:?}",
                    if over_line {
                        "passed limits.line_kb"
                    } else {
                        "holds bytes that are not text"
                    }
                )));
            };
            check_quarantine(q, limits)?;
            let (reason, column) = (&q[0].reason, q[0].column.as_deref());
            let bad = w.undecodable.map(|c| headers[c]);
            // A row of bytes that are not text has no known length: it may pass the line limit.
            let may_be_long = over_line || (bad.is_some() && w.line.is_none());
            prop_assert!(
                (may_be_long && reason.contains("exceeds limits.line_kb"))
                    || (bad.is_some() && column == bad && reason.contains("bytes that are not")),
                "row {}: {:?}",
                n,
                q
            );
            continue;
        }
        match (item, direct.map(cells, &units)) {
            (Item::Record(r, _), Ok(want)) => prop_assert_eq!(r, &want, "row {}", n),
            (Item::Bad(q), Err(errors)) => {
                check_quarantine(q, limits)?;
                let raw = serde_json::Value::Object(
                    headers
                        .iter()
                        .zip(cells)
                        .map(|(h, c)| (h.to_string(), serde_json::Value::String(c.clone())))
                        .collect(),
                );
                let want = quarantine_items(LOCATION, n, errors, raw, limits);
                prop_assert_eq!(q, &want, "row {}", n);
            }
            (Item::Record(r, _), Err(errors)) => {
                return Err(TestCaseError::fail(format!(
                    "row {n} loaded as {r:?} though its cells {cells:?} do not parse: {errors:?}"
                )));
            }
            (Item::Bad(q), Ok(want)) => {
                return Err(TestCaseError::fail(format!(
                    "row {n} quarantined as {q:?} though its cells {cells:?} parse as {want:?}"
                )));
            }
        }
    }
    if let Some((m, _)) = got.next() {
        return Err(TestCaseError::fail(format!("row {m} was never written")));
    }
    Ok(())
}

/// What any input may give, however broken: rows loaded or quarantined with a reason, within
/// the limits, and no loaded text the file does not hold: `holds` is asked about each word of
/// each stored text and case number (so no U+FFFD put in for a bad byte, no mojibake of bytes
/// the file does not have).
fn check_any_input(
    read: &[(i64, Item)],
    limits: &LimitsConfig,
    holds: &dyn Fn(&str) -> bool,
) -> Result<(), TestCaseError> {
    for (n, item) in read {
        match item {
            Item::Bad(q) => check_quarantine(q, limits)?,
            Item::Record(r, _) => {
                let texts = r.values.iter().filter_map(|v| match v {
                    crate::records::Value::Text(t) => Some(t.as_str()),
                    _ => None,
                });
                for t in texts.chain([r.case_no.as_written()]) {
                    prop_assert!(
                        t.len() <= limits.cell_bytes(),
                        "row {}: a cell of {} bytes",
                        n,
                        t.len()
                    );
                    for word in t.split_whitespace() {
                        prop_assert!(holds(word), "row {}: {:?} is not in the file", n, word);
                    }
                }
            }
        }
    }
    Ok(())
}

/// The text of `bytes` in `encoding` (a BOM of it skipped), in the pieces between the places
/// that are not text in it.
fn text_pieces(bytes: &[u8], encoding: &'static encoding_rs::Encoding) -> Vec<String> {
    let mut decoder = encoding.new_decoder_with_bom_removal();
    let mut pieces = vec![String::new()];
    let mut rest = bytes;
    loop {
        let mut out = String::with_capacity(rest.len() * 3 + 16);
        let (result, read) = decoder.decode_to_string_without_replacement(rest, &mut out, true);
        rest = &rest[read..];
        pieces
            .last_mut()
            .expect("one piece at least")
            .push_str(&out);
        match result {
            encoding_rs::DecoderResult::Malformed(..) => pieces.push(String::new()),
            encoding_rs::DecoderResult::InputEmpty => return pieces,
            encoding_rs::DecoderResult::OutputFull => {}
        }
    }
}

/// Whether CSV `bytes` in `encoding` hold `word`, quotes aside: a quoted cell doubles its
/// quotes, and the `csv` crate drops a quote that ends a cell early and reads on (in UTF-8 and
/// GB18030 files before decoding, in UTF-16 files after).
fn csv_holds(bytes: &[u8], encoding: &'static encoding_rs::Encoding) -> impl Fn(&str) -> bool {
    let pieces: Vec<String> = if [encoding_rs::UTF_16LE, encoding_rs::UTF_16BE].contains(&encoding)
    {
        text_pieces(bytes, encoding)
            .into_iter()
            .map(|p| p.replace('"', ""))
            .collect()
    } else {
        let unquoted: Vec<u8> = bytes.iter().copied().filter(|b| *b != b'"').collect();
        text_pieces(&unquoted, encoding)
    };
    move |word: &str| {
        let word = word.replace('"', "");
        pieces.iter().any(|p| p.contains(&word))
    }
}

fn source(encoding: Encoding) -> SourceConfig {
    SourceConfig {
        name: "export".into(),
        encoding,
        ..Default::default()
    }
}

fn temp_file(bytes: &[u8], name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("the export written");
    (dir, path)
}

// ---------------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Rows of arbitrary text, written as CSV in each encoding liandong reads (UTF-8 with and
    /// without BOM, GBK, GB18030, UTF-16 with BOM) and read with `encoding = auto` or the
    /// file's own: each row comes back as a direct parse of its cells gives, or is quarantined
    /// with that parse's reasons or for its line's length.
    #[test]
    fn csv_rows_in_every_encoding_read_back_as_written(
        text in prop::sample::select(Text::all()),
        auto in any::<bool>(),
        headers in headers(),
        crlf in any::<bool>(),
        rows in rows(),
    ) {
        let rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|r| r.into_iter().map(|c| c.chars().filter(|ch| text.can_write(*ch)).collect()).collect())
            .collect();
        let (csv, lens) = csv_text(headers, &rows, crlf);
        let (_dir, path) = temp_file(&text.encode(&csv), "export.csv");
        let read = read_back(&path, &source(text.configured(auto)), &limits())
            .map_err(|e| TestCaseError::fail(format!("the file was refused: {e:#}")))?;
        let written: Vec<_> = rows
            .into_iter()
            .zip(lens)
            .map(|(cells, len)| Written::text(cells, Some(len)))
            .collect();
        check_transparent(&read, &written, headers, 2, &limits())?;
    }
}

// ---------------------------------------------------------------------------------------------
// Broken exports
// ---------------------------------------------------------------------------------------------

/// A change to an export's bytes, as a broken copy, a hand edit or a hostile writer makes one.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR a byte.
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, Vec<u8>),
    /// Insert before the markup (`<`) at or after the place.
    InsertAtTag(prop::sample::Index, Vec<u8>),
    Delete(prop::sample::Index, usize),
    /// Cut the file there.
    Truncate(prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let piece = prop_oneof![
        prop::collection::vec(any::<u8>(), 1..8),
        prop::sample::select(vec![
            b"\"".to_vec(),
            b"\"\"".to_vec(),
            b"\xEF\xBB\xBF".to_vec(),
            b"\xFF\xFE".to_vec(),
            b"\0".to_vec(),
            b"\r".to_vec(),
            b"\n".to_vec(),
            b",".to_vec(),
            b"\t".to_vec(),
            b"\x80".to_vec(),
            b"\xE6\x89".to_vec(),
            b"<tr><td>".to_vec(),
            b"</td>".to_vec(),
            b"&#".to_vec(),
            b"<".to_vec(),
        ]),
    ];
    prop_oneof![
        any::<(prop::sample::Index, u8)>().prop_map(|(i, b)| Mutation::Flip(i, b.max(1))),
        (any::<prop::sample::Index>(), piece).prop_map(|(i, p)| Mutation::Insert(i, p)),
        (any::<prop::sample::Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        match m {
            Mutation::Flip(i, b) if len > 0 => bytes[i.index(len)] ^= b,
            Mutation::Insert(i, piece) => {
                let at = i.index(len + 1);
                bytes.splice(at..at, piece.iter().copied());
            }
            Mutation::Delete(i, n) if len > 0 => {
                let at = i.index(len);
                bytes.drain(at..(at + n).min(len));
            }
            Mutation::InsertAtTag(i, piece) => {
                let from = i.index(len + 1);
                let at = bytes[from..]
                    .iter()
                    .position(|b| *b == b'<')
                    .map_or(len, |p| from + p);
                bytes.splice(at..at, piece.iter().copied());
            }
            Mutation::Truncate(i) => bytes.truncate(i.index(len + 1)),
            _ => {}
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A CSV export broken anyhow — bytes flipped, inserted (stray quotes, BOMs, NULs, line ends,
    /// bytes that are not text) or cut — or bytes that are no export at all: the reader never
    /// panics, refuses the file or hands over rows that are loaded or quarantined with a reason,
    /// within the limits, and loads no text the file does not hold.
    #[test]
    fn csv_of_any_bytes_loads_only_what_the_file_holds(
        text in prop::sample::select(Text::all()),
        auto in any::<bool>(),
        headers in headers(),
        rows in rows(),
        mutations in prop::collection::vec(mutation(), 1..6),
        noise in prop::option::weighted(0.2, prop::collection::vec(any::<u8>(), 0..3000)),
    ) {
        let (csv, _) = csv_text(headers, &rows, false);
        let bytes = noise.unwrap_or_else(|| mutate(text.encode(&csv), &mutations));
        let (_dir, path) = temp_file(&bytes, "export.csv");
        let src = source(text.configured(auto));
        let head = &bytes[..bytes.len().min(1 << 20)];
        let Ok(read) = read_back(&path, &src, &limits()) else {
            return Ok(());
        };
        if crate::sources::file::sniff(head) == crate::sources::file::Format::Csv {
            let encoding = crate::sources::file::choose_encoding(head, src.encoding);
            check_any_input(&read, &limits(), &csv_holds(&bytes, encoding))?;
        } else {
            check_any_input(&read, &limits(), &|_| true)?;
        }
    }
}

/// Stands for a cell of arbitrary bytes while an export is written.
const SLOT: &str = "@@SLOT@@";

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// One cell of an export holds arbitrary bytes (no separator, quote or line end): that row
    /// is quarantined, naming the cell, when the bytes are not text in the file's encoding, and
    /// otherwise is read as those bytes say; every other row reads back as written. `auto` reads
    /// the file in the encoding it was written in unless the damage outnumbers its Chinese.
    #[test]
    fn csv_with_a_cell_of_any_bytes_quarantines_that_row_or_reads_it_as_its_bytes_say(
        text in prop::sample::select(vec![Text::Utf8, Text::Utf8Bom, Text::Gbk, Text::Gb18030]),
        auto in any::<bool>(),
        headers in headers(),
        rows in rows(),
        at in any::<(prop::sample::Index, prop::sample::Index)>(),
        garbage in prop::collection::vec(
            any::<u8>().prop_filter("a cell's bytes", |b| !b",\"\r\n".contains(b)),
            0..12,
        ),
    ) {
        let mut rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|r| r.into_iter().map(|c| c.chars().filter(|ch| text.can_write(*ch)).collect()).collect())
            .collect();
        let (k, c) = (at.0.index(rows.len()), at.1.index(HEADERS_LEN));
        rows[k][c] = SLOT.into();
        let (csv, lens) = csv_text(headers, &rows, false);
        let mut bytes = text.encode(&csv);
        let slot = bytes
            .windows(SLOT.len())
            .position(|w| w == SLOT.as_bytes())
            .expect("the slot is written");
        bytes.splice(slot..slot + SLOT.len(), garbage.iter().copied());
        let (_dir, path) = temp_file(&bytes, "export.csv");
        let src = source(text.configured(auto));
        let read = read_back(&path, &src, &limits())
            .map_err(|e| TestCaseError::fail(format!("the file was refused: {e:#}")))?;

        let written_in = match text {
            Text::Utf8 | Text::Utf8Bom => encoding_rs::UTF_8,
            _ => encoding_rs::GB18030,
        };
        let read_as = crate::sources::file::choose_encoding(&bytes, src.encoding);
        if read_as != written_in {
            // Only `auto` may choose, and only UTF-8 outnumbered by its damage is read as GBK.
            let chinese = csv.chars().filter(|ch| ch.len_utf8() >= 3).count();
            prop_assert!(auto && written_in == encoding_rs::UTF_8 && garbage.len() >= chinese,
                "a {:?} export read as {}", text, read_as.name());
            check_any_input(&read, &limits(), &csv_holds(&bytes, read_as))?;
            return Ok(());
        }
        let pieces = text_pieces(&garbage, read_as);
        let written: Vec<Written> = rows
            .into_iter()
            .zip(lens)
            .enumerate()
            .map(|(i, (mut cells, len))| {
                if i != k {
                    return Written::text(cells, Some(len));
                }
                if pieces.len() > 1 {
                    return Written { cells, line: None, undecodable: Some(c) };
                }
                cells[c] = pieces[0].clone();
                Written::text(cells, Some(len - SLOT.len() + pieces[0].len()))
            })
            .collect();
        check_transparent(&read, &written, headers, 2, &limits())?;
    }
}

// ---------------------------------------------------------------------------------------------
// HTML tables (the "Excel" exports of many government systems)
// ---------------------------------------------------------------------------------------------

/// How a cell's text is put in markup.
#[derive(Debug, Clone, Copy)]
enum Markup {
    /// `& < > "` as entities, spaces as `&nbsp;` now and then.
    Escaped,
    /// `<` and `&` written raw where HTML takes them as text (not before a letter, `/`, `!`,
    /// `?` or `#`).
    Raw,
    /// Escaped, and split in two by inline tags (`<b>`, `<span …>`, `<font …>`).
    Nested(usize, u8),
}

fn markup() -> impl Strategy<Value = Markup> {
    prop_oneof![
        Just(Markup::Escaped),
        Just(Markup::Raw),
        (any::<usize>(), 0u8..4).prop_map(|(at, tag)| Markup::Nested(at, tag)),
    ]
}

fn escape(s: &str, nbsp: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            ' ' if nbsp => out.push_str("&nbsp;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as the markup of a cell.
fn cell_markup(text: &str, how: Markup) -> String {
    match how {
        Markup::Escaped => escape(text, text.len().is_multiple_of(3)),
        Markup::Raw => {
            let chars: Vec<char> = text.chars().collect();
            let mut out = String::new();
            for (i, c) in chars.iter().enumerate() {
                let next = chars.get(i + 1).copied().unwrap_or(' ');
                let opens = next.is_ascii_alphanumeric() || "/!?#".contains(next);
                match c {
                    '<' | '&' if opens => out.push_str(if *c == '<' { "&lt;" } else { "&amp;" }),
                    c => out.push(*c),
                }
            }
            out
        }
        Markup::Nested(at, tag) => {
            let cut = text
                .char_indices()
                .map(|(i, _)| i)
                .chain([text.len()])
                .nth(at % (text.chars().count() + 1))
                .unwrap_or(0);
            let (open, close) = [
                ("<b>", "</b>"),
                ("<span style=\"color:red\">", "</span>"),
                ("<font color=red face='宋体'>", "</font>"),
                ("<i>", "</i>"),
            ][usize::from(tag)];
            format!(
                "{open}{}{close}<u>{}</u>",
                escape(&text[..cut], false),
                escape(&text[cut..], false)
            )
        }
    }
}

/// What a browser (or Excel) shows of a cell written as `text`: HTML's spaces (and `&nbsp;`)
/// collapsed, nothing else changed.
fn rendered(text: &str) -> String {
    text.split([' ', '\t', '\n', '\r', '\x0c'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `rows` as an HTML export: a title row above the header row now and then, each cell in its
/// markup. Returns the text and the number of the first data row.
fn html_text(
    headers: Headers,
    rows: &[Vec<String>],
    markups: &[Markup],
    charset: Option<&str>,
    title: bool,
) -> (String, i64) {
    let mut out = String::from("<html><head>");
    if let Some(cs) = charset {
        out.push_str(&format!(
            "<meta http-equiv=\"Content-Type\" content=\"text/html; charset={cs}\">"
        ));
    }
    out.push_str("</head><body><table border=\"1\">\n");
    if title {
        out.push_str("<tr><td colspan=\"8\">稻城县行政处罚案件台账</td></tr>\n");
    }
    out.push_str("<tr>");
    for h in headers.iter() {
        out.push_str(&format!("<th>{h}</th>"));
    }
    out.push_str("</tr>\n");
    let mut m = markups.iter().cycle();
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let how = m.next().copied().unwrap_or(Markup::Escaped);
            out.push_str(&format!("<td>{}</td>", cell_markup(c, how)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></body></html>\n");
    (out, if title { 3 } else { 2 })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Rows of arbitrary text in an HTML export (UTF-8 or GBK, declared or left to `auto`),
    /// each cell escaped, written with raw `<` and `&` where HTML reads them as text, or split
    /// by inline tags: each row comes back as a direct parse of what a browser shows of it
    /// gives, or is quarantined with that parse's reasons.
    #[test]
    fn html_rows_read_back_as_a_browser_shows_them(
        gbk in any::<bool>(),
        declared in any::<bool>(),
        headers in headers(),
        title in any::<bool>(),
        rows in rows(),
        markups in prop::collection::vec(markup(), 1..8),
    ) {
        let text = if gbk { Text::Gbk } else { Text::Utf8 };
        let rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|r| r.into_iter().map(|c| c.chars().filter(|ch| text.can_write(*ch)).collect()).collect())
            .collect();
        let charset = declared.then_some(if gbk { "gbk" } else { "utf-8" });
        let (html, first) = html_text(headers, &rows, &markups, charset, title);
        let (_dir, path) = temp_file(&text.encode(&html), "export.xls");
        let read = read_back(&path, &source(Encoding::Auto), &limits())
            .map_err(|e| TestCaseError::fail(format!("the file was refused: {e:#}")))?;
        let written: Vec<Written> = rows
            .iter()
            .map(|r| Written::text(r.iter().map(|c| rendered(c)).collect(), None))
            .collect();
        check_transparent(&read, &written, headers, first, &limits())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// One cell of an HTML export holds arbitrary bytes (no markup, entity or space): that row is
    /// quarantined, naming the cell, when the bytes are not text in the declared encoding, and
    /// otherwise read as they say; every other row reads back as a browser shows it.
    #[test]
    fn html_with_a_cell_of_any_bytes_quarantines_that_row_or_reads_it_as_its_bytes_say(
        gbk in any::<bool>(),
        headers in headers(),
        rows in rows(),
        at in any::<(prop::sample::Index, prop::sample::Index)>(),
        garbage in prop::collection::vec(
            any::<u8>().prop_filter("a cell's bytes", |b| !b"<>& \t\n\r\x0c".contains(b)),
            0..12,
        ),
    ) {
        let text = if gbk { Text::Gbk } else { Text::Utf8 };
        let mut rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|r| r.into_iter().map(|c| c.chars().filter(|ch| text.can_write(*ch)).collect()).collect())
            .collect();
        let (k, c) = (at.0.index(rows.len()), at.1.index(HEADERS_LEN));
        rows[k][c] = SLOT.into();
        let charset = if gbk { "gbk" } else { "utf-8" };
        let (html, first) = html_text(headers, &rows, &[Markup::Escaped], Some(charset), false);
        let mut bytes = text.encode(&html);
        let slot = bytes
            .windows(SLOT.len())
            .position(|w| w == SLOT.as_bytes())
            .expect("the slot is written");
        bytes.splice(slot..slot + SLOT.len(), garbage.iter().copied());
        let (_dir, path) = temp_file(&bytes, "export.xls");
        let read = read_back(&path, &source(Encoding::Auto), &limits())
            .map_err(|e| TestCaseError::fail(format!("the file was refused: {e:#}")))?;
        let pieces = text_pieces(&garbage, if gbk { encoding_rs::GB18030 } else { encoding_rs::UTF_8 });
        let written: Vec<Written> = rows
            .into_iter()
            .enumerate()
            .map(|(i, mut cells)| {
                if i == k && pieces.len() > 1 {
                    return Written { cells, line: None, undecodable: Some(c) };
                }
                if i == k {
                    cells[c] = pieces[0].clone();
                }
                Written::text(cells.iter().map(|c| rendered(c)).collect(), None)
            })
            .collect();
        check_transparent(&read, &written, headers, first, &limits())?;
    }

    /// An HTML export broken anyhow, or bytes that only begin like one: the reader never panics,
    /// refuses the file or hands over rows loaded or quarantined with a reason, within the
    /// limits, and stores no U+FFFD the file does not hold.
    #[test]
    fn html_of_any_bytes_stores_no_character_the_file_does_not_hold(
        gbk in any::<bool>(),
        declared in any::<bool>(),
        headers in headers(),
        rows in rows(),
        markups in prop::collection::vec(markup(), 1..8),
        mutations in prop::collection::vec(mutation(), 1..6),
        noise in prop::option::weighted(0.2, prop::collection::vec(any::<u8>(), 0..3000)),
    ) {
        let text = if gbk { Text::Gbk } else { Text::Utf8 };
        let charset = declared.then_some(if gbk { "gbk" } else { "utf-8" });
        let (html, _) = html_text(headers, &rows, &markups, charset, false);
        let bytes = match noise {
            Some(n) => [b"<table><tr><td>".as_slice(), &n].concat(),
            None => mutate(text.encode(&html), &mutations),
        };
        let (_dir, path) = temp_file(&bytes, "export.xls");
        let Ok(read) = read_back(&path, &source(Encoding::Auto), &limits()) else {
            return Ok(());
        };
        let holds_fffd = [encoding_rs::UTF_8, encoding_rs::GB18030]
            .iter()
            .any(|enc| text_pieces(&bytes, enc).iter().any(|p| p.contains('\u{FFFD}')))
            || String::from_utf8_lossy(&bytes).contains("&#");
        check_any_input(&read, &limits(), &|word| holds_fffd || !word.contains('\u{FFFD}'))?;
    }
}

/// A cell as the `csv` crate writes it within a record: quoted when it holds a separator, a
/// quote or a line end.
fn csv_cell(cell: &str) -> String {
    if cell.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

/// Where a stray quote goes into a cell of an export, and what the reader can know of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stray {
    /// Inside a cell that is not quoted, not at its start: a quote that is text (`12" pipe`).
    Text,
    /// Inside a quoted cell, before text with no separator or line end up to the cell's end: it
    /// ends the cell early and text follows it, which the `csv` crate joins to the cell
    /// (`"他说"好"的"`).
    Early,
    /// At the start of a cell that is not quoted, with no quote after it in the file: it takes
    /// the rest of the file into that cell.
    Unclosed,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A quote put into a cell of a CSV export, as a hand edit or an exporter that does not
    /// double quotes does. Inside an unquoted cell it is text, and the row reads with it. Where
    /// it breaks the quoting in a way the file shows — text after a closing quote, or a quote
    /// never closed — the rows before it read as written, that row is quarantined for its quote,
    /// and the rows after it read as written. (A stray quote can also make text that is valid
    /// CSV of another meaning, such as `"a,",b"` for the cells `a` and `,b`: no reader can tell;
    /// the width check quarantines most of those, see `RowMapper::reading`.)
    #[test]
    fn csv_with_a_stray_quote_reads_it_as_text_or_quarantines_the_row_it_breaks(
        headers in headers(),
        rows in rows(),
        at in any::<(prop::sample::Index, prop::sample::Index, prop::sample::Index)>(),
        crlf in any::<bool>(),
    ) {
        let (k, c) = (at.0.index(rows.len()), at.1.index(HEADERS_LEN));
        let end = if crlf { "\r\n" } else { "\n" };
        let mut lines: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().map(|c| csv_cell(c)).collect())
            .collect();
        let cell = &lines[k][c];
        let quoted = cell.starts_with('"');
        let mut bounds: Vec<usize> = cell.char_indices().map(|(b, _)| b).chain([cell.len()]).collect();
        if quoted {
            // Where an early end can be told: before text with no separator or line end after it.
            bounds.retain(|&b| {
                b > 0
                    && b < cell.len() - 1
                    && !cell[b..].contains(['\r', '\n', ','])
                    && !cell[b..].starts_with(['"', ' ', '\t'])
            });
        }
        let Some(&p) = bounds.get(at.2.index(bounds.len().max(1))) else {
            return Ok(());
        };
        let later_quote = lines[k][c + 1..].iter().chain(lines[k + 1..].iter().flatten()).any(|c| c.contains('"'));
        let stray = if !quoted && p > 0 {
            Stray::Text
        } else if !quoted && !later_quote {
            Stray::Unclosed
        } else if quoted {
            Stray::Early
        } else {
            // A quote whose meaning no reader can tell (see above).
            return Ok(());
        };
        lines[k][c].insert(p, '"');
        let mut text = headers.join(",") + end;
        let mut lens = Vec::new();
        for l in &lines {
            let line = l.join(",");
            lens.push(line.len());
            text.push_str(&line);
            text.push_str(end);
        }
        let (_dir, path) = temp_file(text.as_bytes(), "export.csv");
        let read = read_back(&path, &source(Encoding::Utf8), &limits())
            .map_err(|e| TestCaseError::fail(format!("the file was refused: {e:#}")))?;
        let mut written: Vec<Written> = rows
            .into_iter()
            .zip(lens)
            .map(|(cells, len)| Written::text(cells, Some(len)))
            .collect();
        if stray == Stray::Text {
            written[k].cells[c] = lines[k][c].clone();
            return check_transparent(&read, &written, headers, 2, &limits());
        }
        let row_k = 2 + k as i64;
        let before = read.iter().take_while(|(n, _)| *n < row_k).count();
        check_transparent(&read[..before], &written[..k], headers, 2, &limits())?;
        let Some((n, Item::Bad(q))) = read.get(before) else {
            return Err(TestCaseError::fail(format!(
                "the row with the broken quote was not quarantined: {:?}",
                read.get(before)
            )));
        };
        prop_assert_eq!(*n, row_k);
        check_quarantine(q, &limits())?;
        let why = if stray == Stray::Early { "text after the closing quote" } else { "never closed" };
        prop_assert!(
            q[0].reason.contains(why) || q[0].reason.contains("exceeds limits.line_kb"),
            "{:?}",
            q
        );
        if q[0].reason.contains(why) {
            prop_assert_eq!(q[0].column.as_deref(), Some(headers[c]));
        }
        match stray {
            Stray::Early => check_transparent(&read[before + 1..], &written[k + 1..], headers, row_k + 1, &limits())?,
            _ => prop_assert_eq!(read.len(), before + 1, "rows after a quote never closed"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// XLSX workbooks
// ---------------------------------------------------------------------------------------------

/// `rows` as an XLSX workbook, each cell a text cell, with a merged title row above the header
/// row now and then (as department ledgers have). Returns its bytes and the first data row.
fn xlsx_bytes(headers: Headers, rows: &[Vec<String>], title: bool) -> (Vec<u8>, i64) {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    let top = u32::from(title);
    if title {
        ws.merge_range(
            0,
            0,
            0,
            7,
            "稻城县行政处罚案件台账",
            &rust_xlsxwriter::Format::new(),
        )
        .expect("a title");
    }
    for (i, h) in headers.iter().enumerate() {
        ws.write_string(top, i as u16, *h).expect("a header");
    }
    for (r, cells) in rows.iter().enumerate() {
        for (i, c) in cells.iter().enumerate() {
            ws.write_string(top + 1 + r as u32, i as u16, c)
                .expect("a cell");
        }
    }
    (wb.save_to_buffer().expect("a workbook"), i64::from(top) + 2)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Rows of arbitrary text in an XLSX workbook come back as a direct parse of their cells
    /// gives, or quarantined with that parse's reasons.
    #[test]
    fn xlsx_rows_read_back_as_written(
        headers in headers(),
        title in any::<bool>(),
        rows in rows(),
    ) {
        let (bytes, first) = xlsx_bytes(headers, &rows, title);
        let (_dir, path) = temp_file(&bytes, "export.xlsx");
        let read = read_back(&path, &source(Encoding::Auto), &limits())
            .map_err(|e| TestCaseError::fail(format!("the file was refused: {e:#}")))?;
        let written: Vec<Written> = rows.into_iter().map(|r| Written::text(r, None)).collect();
        check_transparent(&read, &written, headers, first, &limits())?;
    }

    /// A workbook broken anyhow — its ZIP bytes flipped, cut, or with bytes put in — never
    /// panics the reader: the file is refused, or its rows loaded or quarantined with a reason,
    /// within the limits, with no text the workbook did not hold.
    #[test]
    fn xlsx_of_any_bytes_never_panics_and_loads_only_what_it_holds(
        headers in headers(),
        rows in rows(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let (bytes, _) = xlsx_bytes(headers, &rows, false);
        let bytes = mutate(bytes, &mutations);
        let (_dir, path) = temp_file(&bytes, "export.xlsx");
        let Ok(read) = read_back(&path, &source(Encoding::Auto), &limits()) else {
            return Ok(());
        };
        // A flipped byte inside the compressed XML changes its text and its CRC: what loads
        // is what the workbook held before, or the reader must have refused it.
        let cells: Vec<&str> = rows.iter().flatten().map(String::as_str).chain(headers.iter().copied()).collect();
        check_any_input(&read, &limits(), &|word| cells.iter().any(|c| c.contains(word)))?;
    }
}

/// A change to the XML inside a workbook: a cell put far away, a shared string that does not
/// exist, markup cut or doubled.
fn xml_mutation() -> impl Strategy<Value = Mutation> {
    let far = prop::sample::select(vec![
        br#"<c r="XFD1048576" t="inlineStr"><is><t>far</t></is></c>"#.to_vec(),
        br#"<c r="XFD1"><v>1</v></c>"#.to_vec(),
        br#"<row r="1048576"><c r="A1048576"><v>1</v></c></row>"#.to_vec(),
    ]);
    let other = prop::sample::select(vec![
        br#"<c r="ZZZZ1"><v>1</v></c>"#.to_vec(),
        br#"<c r="A0"><v>1</v></c>"#.to_vec(),
        br#"<c t="s"><v>99999</v></c>"#.to_vec(),
        br#"<c t="s"><v>-1</v></c>"#.to_vec(),
        br#"<c t="n"><v>1e999</v></c>"#.to_vec(),
        br#"<c t="d"><v>not a date</v></c>"#.to_vec(),
        br#"<row r="4294967295">"#.to_vec(),
        br#"<dimension ref="A1:XFD1048576"/>"#.to_vec(),
        b"</row>".to_vec(),
        b"</c>".to_vec(),
        b"<v>".to_vec(),
        b"&#0;".to_vec(),
        b"&bogus;".to_vec(),
        b"_x0000_".to_vec(),
        b"\xFF\xFE".to_vec(),
    ]);
    prop_oneof![
        2 => (any::<prop::sample::Index>(), far).prop_map(|(i, p)| Mutation::InsertAtTag(i, p)),
        2 => (any::<prop::sample::Index>(), other).prop_map(|(i, p)| Mutation::InsertAtTag(i, p)),
        1 => mutation(),
    ]
}

/// `xlsx` with `mutations` made to the XML of its worksheet or shared strings, zipped again.
fn mutate_xml(xlsx: &[u8], which: bool, mutations: &[Mutation]) -> Vec<u8> {
    use std::io::Write as _;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).expect("a workbook");
    let target = if which {
        "xl/worksheets/sheet1.xml"
    } else {
        "xl/sharedStrings.xml"
    };
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("an entry");
        let name = entry.name().expect("an entry's name").to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).expect("an entry's bytes");
        if name == target {
            bytes = mutate(bytes, mutations);
        }
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .expect("an entry");
        out.write_all(&bytes).expect("an entry's bytes");
    }
    out.finish().expect("a workbook").into_inner()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A workbook whose worksheet or shared-string XML is broken — a cell put at XFD1048576, a
    /// shared string that does not exist, markup cut or doubled — never panics the reader and
    /// never makes it hold more than the cells the workbook has: the file is refused, or its
    /// rows are loaded or quarantined with a reason, within the limits.
    #[test]
    fn xlsx_with_broken_xml_never_panics_nor_holds_more_than_its_cells(
        headers in headers(),
        rows in rows(),
        sheet in prop::bool::weighted(0.75),
        mutations in prop::collection::vec(xml_mutation(), 1..3),
    ) {
        let (bytes, _) = xlsx_bytes(headers, &rows, false);
        let bytes = mutate_xml(&bytes, sheet, &mutations);
        let (_dir, path) = temp_file(&bytes, "export.xlsx");
        if let Ok(read) = read_back(&path, &source(Encoding::Auto), &limits()) {
            check_any_input(&read, &limits(), &|_| true)?;
        }
    }
}

/// A workbook with a table at the top and one cell at XFD1048576, the last of a sheet: the
/// reader holds the cells the workbook has, not the 17 billion its corners span.
#[test]
fn a_cell_at_the_far_corner_of_a_sheet_costs_one_cell() {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (i, h) in ZH.iter().enumerate() {
        ws.write_string(0, i as u16, *h).expect("a header");
    }
    for (i, c) in ["县市场监管局", "稻市监罚〔2024〕1号", "张三"]
        .iter()
        .enumerate()
    {
        ws.write_string(1, i as u16, *c).expect("a cell");
    }
    ws.write_string(1_048_575, 16_383, "far")
        .expect("the far cell");
    let bytes = wb.save_to_buffer().expect("a workbook");
    let (_dir, path) = temp_file(&bytes, "export.xlsx");
    let read = read_back(&path, &source(Encoding::Auto), &limits()).expect("the workbook is read");
    let rows: Vec<(i64, bool)> = read
        .iter()
        .map(|(n, i)| (*n, matches!(i, Item::Record(..))))
        .collect();
    // The far row has no case number: quarantined, under its own number.
    assert_eq!(rows, [(2, true), (1_048_576, false)]);
}

// ---------------------------------------------------------------------------------------------
// JSON pages of HTTP sources
// ---------------------------------------------------------------------------------------------

/// How a record's value is written in a page.
#[derive(Debug, Clone, Copy)]
enum JsonStyle {
    /// A string, non-ASCII written as it is.
    Raw,
    /// A string, every non-ASCII character written `\uXXXX`.
    Escaped,
    /// A number where the cell is an amount (`1234.50`), `true`/`false` where it is a flag,
    /// `null` where it is empty; a string otherwise.
    Typed,
}

fn json_string(s: &str, escaped: bool) -> String {
    let quoted = serde_json::to_string(s).expect("a string");
    if !escaped {
        return quoted;
    }
    let mut out = String::with_capacity(quoted.len());
    for c in quoted.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

/// A yuan amount as a JSON number would write it, if `s` is one: digits, a point, two digits.
fn as_json_number(s: &str) -> Option<&str> {
    let (int, frac) = s.split_once('.')?;
    let plain = !int.is_empty()
        && int.len() <= 12
        && int.bytes().all(|b| b.is_ascii_digit())
        && (int == "0" || !int.starts_with('0'))
        && frac.len() == 2
        && frac.bytes().all(|b| b.is_ascii_digit());
    plain.then_some(s)
}

/// `rows` as a page of JSON records under `data`, keyed by `headers`; and each row's cells as
/// the page writes them (a number's text, `true`/`false`, empty for `null`).
fn json_page(
    headers: Headers,
    rows: &[Vec<String>],
    styles: &[JsonStyle],
) -> (String, Vec<Vec<String>>) {
    let mut style = styles.iter().cycle();
    let mut records = Vec::new();
    let mut written = Vec::new();
    for r in rows {
        let how = *style.next().unwrap_or(&JsonStyle::Raw);
        let mut fields = Vec::new();
        let mut cells = Vec::new();
        for (i, (h, c)) in headers.iter().zip(r).enumerate() {
            let (json, cell) = match (how, i, c.as_str()) {
                (JsonStyle::Typed, _, "") => ("null".to_string(), String::new()),
                (JsonStyle::Typed, 6, c) if as_json_number(c).is_some() => {
                    (c.to_string(), c.to_string())
                }
                (JsonStyle::Typed, 7, "Y") => ("true".to_string(), "true".to_string()),
                (JsonStyle::Typed, 7, "N") => ("false".to_string(), "false".to_string()),
                (JsonStyle::Escaped, _, c) => (json_string(c, true), c.to_string()),
                (_, _, c) => (json_string(c, false), c.to_string()),
            };
            fields.push(format!("{}:{json}", json_string(h, false)));
            cells.push(cell);
        }
        records.push(format!("{{{}}}", fields.join(",")));
        written.push(cells);
    }
    (
        format!("{{\"code\":0,\"data\":[{}]}}", records.join(",\n")),
        written,
    )
}

/// The records of a parsed page, mapped as an HTTP source maps them.
fn map_page(page: &crate::sources::http::Page, limits: &LimitsConfig) -> Vec<Item> {
    let units = units();
    let src = source(Encoding::Auto);
    let secrets = crate::config::Redactor::new();
    let mut mapper =
        crate::sources::http::JsonMapper::new(Feed::Cases, &src, limits, &units, &secrets);
    let records = page.body["data"].as_array().cloned().unwrap_or_default();
    records
        .iter()
        .enumerate()
        .map(|(i, r)| match r.as_object() {
            Some(obj) => mapper.map(obj, "page 1", i as i64 + 1),
            None => Item::Bad(Vec::new()),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Records of arbitrary text in a JSON page (UTF-8 or GBK, strings raw or `\u`-escaped,
    /// amounts as numbers, flags as booleans, empty values as null) map to exactly what a direct
    /// parse of the values as written gives, or are quarantined with that parse's reasons.
    #[test]
    fn json_records_read_back_as_written(
        gbk in any::<bool>(),
        headers in headers(),
        rows in rows(),
        styles in prop::collection::vec(
            prop::sample::select(vec![JsonStyle::Raw, JsonStyle::Escaped, JsonStyle::Typed]),
            1..4,
        ),
    ) {
        let text = if gbk { Text::Gbk } else { Text::Utf8 };
        let rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|r| r.into_iter().map(|c| c.chars().filter(|ch| text.can_write(*ch)).collect()).collect())
            .collect();
        let (body, written) = json_page(headers, &rows, &styles);
        let charset = if gbk { encoding_rs::GBK } else { encoding_rs::UTF_8 };
        let page = crate::sources::http::parse_page(&text.encode(&body), charset)
            .map_err(|e| TestCaseError::fail(format!("the page is not JSON: {e}")))?;
        prop_assert_eq!(page.undecodable, None);
        let names: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        let mut direct = Mapper::new(Feed::Cases, &names, &BTreeMap::new(), None)
            .expect("the headers map")
            .with_limits(&limits());
        let units = units();
        let items = map_page(&page, &limits());
        prop_assert_eq!(items.len(), written.len());
        for (i, (item, cells)) in items.iter().zip(&written).enumerate() {
            match (item, direct.map(cells, &units)) {
                (Item::Record(r, _), Ok(want)) => prop_assert_eq!(r, &want, "record {}", i + 1),
                (Item::Bad(q), Err(errors)) => {
                    check_quarantine(q, &limits())?;
                    // Field by field, in any order: a record's keys come sorted.
                    let mut got: Vec<(&str, &str)> = q.iter().map(|e| (e.field.as_str(), e.reason.as_str())).collect();
                    let reasons: Vec<String> = errors.iter().map(|e| crate::mask::mask_text(&e.reason)).collect();
                    let mut want: Vec<(&str, &str)> = errors.iter().zip(&reasons).map(|(e, r)| (e.field.as_str(), r.as_str())).collect();
                    got.sort();
                    want.sort();
                    prop_assert_eq!(got, want, "record {}", i + 1);
                }
                (got, want) => {
                    return Err(TestCaseError::fail(format!(
                        "record {}: read as {got:?}, written as {cells:?}, which parses as {want:?}",
                        i + 1
                    )));
                }
            }
        }
    }

    /// A JSON page broken anyhow, or bytes that are no page: parsing never panics; a page
    /// that parses says whether some of its bytes were not text, and then every record holding
    /// a U+FFFD is one to quarantine; a page whose bytes all decode holds no U+FFFD it did not
    /// write.
    #[test]
    fn json_pages_of_any_bytes_parse_or_fail_and_note_what_does_not_decode(
        gbk in any::<bool>(),
        headers in headers(),
        rows in rows(),
        mutations in prop::collection::vec(mutation(), 1..5),
        noise in prop::option::weighted(0.2, prop::collection::vec(any::<u8>(), 0..2000)),
    ) {
        let text = if gbk { Text::Gbk } else { Text::Utf8 };
        let (body, _) = json_page(headers, &rows, &[JsonStyle::Raw]);
        let bytes = noise.unwrap_or_else(|| mutate(text.encode(&body), &mutations));
        let charset = if gbk { encoding_rs::GBK } else { encoding_rs::UTF_8 };
        let Ok(page) = crate::sources::http::parse_page(&bytes, charset) else {
            return Ok(());
        };
        let (read_as, bom) = encoding_rs::Encoding::for_bom(&bytes).unwrap_or((charset, 0));
        let pieces = text_pieces(&bytes[bom..], read_as);
        prop_assert_eq!(page.undecodable.is_some(), pieces.len() > 1);
        if page.undecodable.is_none() {
            let clean: serde_json::Value = serde_json::from_str(&pieces[0]).expect("the same text");
            prop_assert_eq!(&page.body, &clean);
        }
        for item in map_page(&page, &limits()) {
            if let Item::Bad(q) = item && !q.is_empty() {
                check_quarantine(&q, &limits())?;
            }
        }
    }
}
