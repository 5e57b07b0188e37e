//! File sources: one file re-read on every run, or a drop folder whose files are each read once
//! and then archived.
//!
//! A file is read as what its bytes say it is, not what its name claims: ZIP magic is XLSX, the
//! OLE magic is a real XLS, markup with `<table` is an HTML export (many government systems save
//! those as `.xls`), anything else is CSV. CSV text is UTF-8 (with or without BOM), GBK,
//! GB18030 or UTF-16 with a BOM; `encoding = "auto"` decides by evidence — UTF-8 when the file's
//! first megabyte is UTF-8 or its Chinese in UTF-8 outnumbers the bytes that are not, GB18030 (a
//! superset of GBK) otherwise — and a row holding bytes that are not text in the encoding the
//! file is read in is quarantined, never decoded into something else. Title lines above the header row are skipped; the header row is the first
//! one with a case number column. Reading runs on a blocking thread and streams rows to the
//! writer through a bounded channel, so memory stays flat however large the file.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use encoding_rs::{Encoding as TextEncoding, GB18030, UTF_8};
use tokio::sync::mpsc;

use crate::config::{Encoding, SourceConfig};
use crate::records::Feed;
use crate::sources::mapping::{Mapper, MappingError};
use crate::sources::{Item, Progress, SourceRun, Writer, quarantine_items};
use crate::store::RowCounts;
use crate::units::Units;

/// What a file's bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
    Xls,
    Html,
}

/// Recognises the format from the first bytes of the file.
pub fn sniff(head: &[u8]) -> Format {
    if head.starts_with(b"PK\x03\x04") {
        return Format::Xlsx;
    }
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Format::Xls;
    }
    let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let lower: Vec<u8> = body[start..]
        .iter()
        .take(4096)
        .map(u8::to_ascii_lowercase)
        .collect();
    let has = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    if lower.first() == Some(&b'<') && (has(b"<table") || has(b"<html") || has(b"<tr")) {
        return Format::Html;
    }
    Format::Csv
}

/// Chooses the text encoding: a BOM decides; `auto` decides by evidence: UTF-8 when `head` is
/// all valid UTF-8, or when its UTF-8 characters of three or four bytes outnumber its
/// sequences that are not UTF-8; GB18030 otherwise. Chinese in UTF-8 is three bytes a
/// character, which GBK text seldom forms (a few in a hundred characters), and a UTF-8 export
/// with stray bytes is still mostly such characters: it is read as UTF-8 and only the rows
/// holding such bytes are quarantined (see [`read_csv`]), instead of every row turning into
/// nonsense. Two-byte UTF-8 sequences are no evidence either way: many GBK characters (`摊`,
/// CC AF) happen to form one.
pub fn choose_encoding(head: &[u8], configured: Encoding) -> &'static TextEncoding {
    if let Some((enc, _)) = TextEncoding::for_bom(head) {
        return enc;
    }
    match configured {
        Encoding::Utf8 => UTF_8,
        Encoding::Gbk | Encoding::Gb18030 => GB18030,
        Encoding::Auto => {
            let (valid, invalid) = utf8_evidence(head);
            if invalid == 0 || valid > invalid {
                UTF_8
            } else {
                GB18030
            }
        }
    }
}

/// Counts the characters of `bytes` that are valid UTF-8 of three or four bytes, and the
/// sequences that are not UTF-8. A sequence cut at the end of the sample counts as neither.
fn utf8_evidence(bytes: &[u8]) -> (usize, usize) {
    let long = |s: &str| s.chars().filter(|c| c.len_utf8() >= 3).count();
    let (mut valid, mut invalid) = (0, 0);
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                valid += long(s);
                return (valid, invalid);
            }
            Err(e) => {
                let (good, after) = rest.split_at(e.valid_up_to());
                valid += std::str::from_utf8(good).map_or(0, long);
                match e.error_len() {
                    Some(n) => {
                        invalid += 1;
                        rest = &after[n..];
                    }
                    None => return (valid, invalid),
                }
            }
        }
    }
}

/// Errors that make a whole file unusable (its rows are not read at all).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: not a readable spreadsheet: {reason}")]
    Spreadsheet { file: String, reason: String },
    #[error("{file}: {source}")]
    Mapping { file: String, source: MappingError },
    #[error("{file}: no header row with a case number column in the first {scanned} rows")]
    NoHeader { file: String, scanned: usize },
}

const HEADER_SCAN_ROWS: usize = 20;

/// What [`read_rows`] hands each row to: its number, its cells, and what is wrong with it as
/// read, if anything.
pub type OnRow<'a> = dyn FnMut(i64, &[&str], Option<RowFlaw>) -> anyhow::Result<()> + 'a;

/// A CSV row that cannot be taken as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFlaw {
    /// The first cell holding bytes that are not text in the encoding the file was read in
    /// (`encoding`, as `encoding_rs` names it): they are shown as U+FFFD in the cells handed
    /// over.
    Undecodable {
        column: usize,
        encoding: &'static str,
    },
    /// The quoting of the cell in `column` is broken (see [`LineCap`]): text after its closing
    /// quote, or (`unclosed`) a quote never closed, which took the rest of the file.
    Misquoted { column: usize, unclosed: bool },
    /// The line (the record, with the lines a quoted cell spans) was longer than
    /// `limits.line_kb`; its cells hold only its first `line_kb`. `bytes` is its whole length.
    TooLong { bytes: u64 },
}
const SNIFF_BYTES: usize = 1 << 20;

/// A file opened for reading, with the format its first bytes say: the caller learns the format
/// (a CSV row is checked against its header's width) from the same open file that is then read
/// — opening a named pipe a second time would wait for a writer that never comes.
pub struct Export {
    name: String,
    file: File,
    head: Vec<u8>,
    format: Format,
}

impl Export {
    /// Opens `path` and reads its first megabyte to tell its format and encoding.
    pub fn open(path: &Path) -> Result<Export, FileError> {
        let name = path.display().to_string();
        let io = |source| FileError::Io {
            file: name.clone(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        (&mut file)
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut head)
            .map_err(io)?;
        file.rewind().map_err(io)?;
        let format = sniff(&head);
        Ok(Export {
            name,
            file,
            head,
            format,
        })
    }

    /// What the file's bytes say it is.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Streams its rows to `on_row`, as [`read_rows`] does.
    pub fn read_rows(
        self,
        src: &SourceConfig,
        line_bytes: usize,
        on_row: &mut OnRow<'_>,
    ) -> Result<(), anyhow::Error> {
        let Export {
            name,
            file: mut f,
            head,
            format,
        } = self;
        let io = |source| FileError::Io {
            file: name.clone(),
            source,
        };
        match format {
            Format::Csv => read_csv(f, &name, &head, src, line_bytes, on_row),
            Format::Html => {
                let mut bytes = Vec::new();
                f.read_to_end(&mut bytes).map_err(io)?;
                read_html(&bytes, src.encoding, on_row)
            }
            Format::Xlsx => {
                check_zip(BufReader::new(&mut f)).map_err(|reason| FileError::Spreadsheet {
                    file: name.clone(),
                    reason,
                })?;
                f.rewind().map_err(io)?;
                let mut wb: calamine::Xlsx<_> = calamine::Reader::new(BufReader::new(f)).map_err(
                    |e: calamine::XlsxError| FileError::Spreadsheet {
                        file: name.clone(),
                        reason: e.to_string(),
                    },
                )?;
                read_xlsx(&mut wb, &name, src.sheet.as_deref(), &mut |r, c| {
                    on_row(r, c, None)
                })
            }
            Format::Xls => {
                let mut wb: calamine::Xls<_> =
                    calamine::Reader::new(BufReader::new(f)).map_err(|e: calamine::XlsError| {
                        FileError::Spreadsheet {
                            file: name.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                read_sheet(&mut wb, &name, src.sheet.as_deref(), &mut |r, c| {
                    on_row(r, c, None)
                })
            }
        }
    }
}

/// Streams the rows of one table to `on_row(row_number, cells, flaw)`; row numbers count as a
/// person does, from 1, including the header and title rows. `flaw` says what is wrong with a
/// row as read (bytes that are not text, broken quoting, a line past the cap; see [`RowFlaw`]):
/// the caller quarantines such a row; `None` otherwise.
pub fn read_rows(
    path: &Path,
    src: &SourceConfig,
    line_bytes: usize,
    on_row: &mut OnRow<'_>,
) -> Result<(), anyhow::Error> {
    Export::open(path)?.read_rows(src, line_bytes, on_row)
}

fn read_csv(
    f: File,
    name: &str,
    head: &[u8],
    src: &SourceConfig,
    line_bytes: usize,
    on_row: &mut OnRow<'_>,
) -> anyhow::Result<()> {
    let enc = choose_encoding(head, src.encoding);
    // UTF-8 needs no transcoding: each row is checked as it is read, and a row with bytes that
    // are not UTF-8 is handed over for quarantine (never replaced silently). Other encodings are
    // decoded on the fly, what does not decode marked so that its row is quarantined the same
    // way.
    let reader: Box<dyn Read + Send> = if enc == UTF_8 {
        let mut buf = BufReader::with_capacity(1 << 16, f);
        if head.starts_with(b"\xEF\xBB\xBF") {
            let mut bom = [0u8; 3];
            buf.read_exact(&mut bom)?;
        }
        Box::new(buf)
    } else {
        Box::new(Transcode::new(f, enc))
    };
    let delimiter = src
        .delimiter
        .as_deref()
        .and_then(|d| d.bytes().next())
        .unwrap_or_else(|| guess_delimiter(head));
    let capped = LineCap::new(reader, delimiter, line_bytes);
    let marks = capped.marks();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(1 << 16)
        .from_reader(capped);
    let mut rec = csv::ByteRecord::new();
    // Rows are counted as a spreadsheet shows them (a quoted field spanning lines is one row).
    let mut row = 0;
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                row += 1;
                let end = rdr.position().byte();
                // What LineCap noted of this record: a cut makes the others moot.
                let mut flaw = None;
                {
                    let mut q = marks.lock().unwrap_or_else(|e| e.into_inner());
                    while let Some(&(at, mark)) = q.front().filter(|(at, _)| *at <= end) {
                        let _ = at;
                        q.pop_front();
                        flaw = match (flaw, mark) {
                            (Some(RowFlaw::TooLong { .. }), _) => flaw,
                            (_, Mark::Cut { bytes }) => Some(RowFlaw::TooLong { bytes }),
                            (None, Mark::Quote { column, unclosed }) => {
                                Some(RowFlaw::Misquoted { column, unclosed })
                            }
                            (kept, _) => kept,
                        };
                    }
                }
                // Each cell is checked once: the text when all are UTF-8, the first that is
                // not otherwise.
                let mut cells: Vec<&str> = Vec::with_capacity(rec.len());
                let flaw = flaw.or_else(|| {
                    rec.iter()
                        .position(|c| match std::str::from_utf8(c) {
                            Ok(text) => {
                                cells.push(text);
                                false
                            }
                            Err(_) => true,
                        })
                        .map(|column| RowFlaw::Undecodable {
                            column,
                            encoding: enc.name(),
                        })
                });
                if flaw.is_none() {
                    on_row(row, &cells, None)?;
                } else {
                    let lossy: Vec<std::borrow::Cow<'_, str>> =
                        rec.iter().map(String::from_utf8_lossy).collect();
                    let cells: Vec<&str> = lossy.iter().map(AsRef::as_ref).collect();
                    on_row(row, &cells, flaw)?;
                }
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                bail!("{name}: line {line}: not readable as CSV: {e}");
            }
        }
    }
}

/// Decodes text in `encoding` to UTF-8 as it is read. A sequence that is not text in that
/// encoding (a stray byte, a character cut by the end of the file, a lone UTF-16 surrogate)
/// becomes the byte 0xFF, which is never UTF-8: the row holding it is then quarantined like a
/// bad byte in a UTF-8 file, instead of being stored with a U+FFFD the file does not hold.
/// A BOM of the encoding is skipped.
struct Transcode<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Box<[u8]>,
    in_pos: usize,
    in_len: usize,
    eof: bool,
    /// Decoded bytes, with one byte of room past what the decoder may fill for a marker.
    output: Box<[u8]>,
    out_pos: usize,
    out_len: usize,
    finished: bool,
}

/// What [`Transcode`] puts where the input is not text.
const NOT_TEXT: u8 = 0xFF;

impl<R: Read> Transcode<R> {
    fn new(inner: R, encoding: &'static TextEncoding) -> Self {
        Transcode {
            inner,
            decoder: encoding.new_decoder_with_bom_removal(),
            input: vec![0; 1 << 16].into_boxed_slice(),
            in_pos: 0,
            in_len: 0,
            eof: false,
            output: vec![0; (1 << 16) + 1].into_boxed_slice(),
            out_pos: 0,
            out_len: 0,
            finished: false,
        }
    }
}

impl<R: Read> Read for Transcode<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.out_pos < self.out_len {
                let n = (self.out_len - self.out_pos).min(out.len());
                out[..n].copy_from_slice(&self.output[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                return Ok(n);
            }
            if self.finished || out.is_empty() {
                return Ok(0);
            }
            if self.in_pos == self.in_len && !self.eof {
                self.in_len = self.inner.read(&mut self.input)?;
                self.in_pos = 0;
                self.eof = self.in_len == 0;
            }
            let room = self.output.len() - 1;
            let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(
                &self.input[self.in_pos..self.in_len],
                &mut self.output[..room],
                self.eof,
            );
            self.in_pos += read;
            self.out_pos = 0;
            self.out_len = written;
            match result {
                encoding_rs::DecoderResult::InputEmpty => self.finished = self.eof,
                encoding_rs::DecoderResult::OutputFull => {}
                encoding_rs::DecoderResult::Malformed(..) => {
                    self.output[written] = NOT_TEXT;
                    self.out_len += 1;
                }
            }
        }
    }
}

/// What [`LineCap`] noted of a record: where (an offset in what it passed on, at or before the
/// record's end and past the previous record's), and what.
type Marks = std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<(u64, Mark)>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// The record was cut at the cap; `bytes` is its whole length.
    Cut { bytes: u64 },
    /// The quoting of the cell in `column` is broken: text follows its closing quote, or (when
    /// `unclosed`) its quote is never closed before the end of the file.
    Quote { column: usize, unclosed: bool },
}

/// Bounds a CSV record (a line, with the lines a quoted cell spans) to `cap` bytes before the
/// `csv` crate buffers it: the bytes past the cap are read and dropped up to the record's end,
/// the quote left open is closed and the record ended, and the cut is noted in `marks` so that
/// the row is quarantined rather than loaded. Memory stays bounded by `cap` per record, whatever
/// the file holds. Quoting is followed as the `csv` crate does (a quote opens a cell only at its
/// start; `""` inside quotes is a quote), and where it breaks it is noted too: the `csv` crate
/// reads on after text that follows a closing quote (`"他说"好"的"`), and a quote never closed
/// takes the rest of the file into its cell — the cells of such a record are a guess, so its
/// row is quarantined rather than stored with merged or shifted cells.
struct LineCap<R> {
    inner: R,
    delimiter: u8,
    cap: usize,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    state: Quote,
    /// Bytes of the current record so far.
    len: u64,
    /// The cell of the current record being read, and the one whose quote is open.
    column: usize,
    quoted: usize,
    /// The current record's quoting is already noted as broken.
    misquoted: bool,
    /// Bytes passed on so far.
    out: u64,
    /// What ends a cut record, still to pass on.
    marker: &'static [u8],
    marks: Marks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    /// At the start of a cell (or of a record).
    Start,
    Unquoted,
    Quoted,
    /// A quote inside a quoted cell: its end, or the first of `""`.
    Closing,
    /// Spaces after a closing quote (the `csv` crate keeps them; they are trimmed later).
    Trailing,
}

impl<R: Read> LineCap<R> {
    fn new(inner: R, delimiter: u8, cap: usize) -> Self {
        LineCap {
            inner,
            delimiter,
            cap,
            buf: vec![0; 1 << 16].into_boxed_slice(),
            pos: 0,
            filled: 0,
            state: Quote::Start,
            len: 0,
            column: 0,
            quoted: 0,
            misquoted: false,
            out: 0,
            marker: b"",
            marks: Marks::default(),
        }
    }

    fn marks(&self) -> Marks {
        self.marks.clone()
    }

    fn mark(&self, at: u64, mark: Mark) {
        self.marks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back((at, mark));
    }

    /// True when `b` would end the record here.
    fn ends(&self, b: u8) -> bool {
        (b == b'\n' || b == b'\r') && self.state != Quote::Quoted
    }

    /// Follows byte `b`, passed on (or dropped) at offset `at`.
    fn step(&mut self, b: u8, at: u64) {
        if self.ends(b) {
            self.state = Quote::Start;
            self.len = 0;
            self.column = 0;
            self.misquoted = false;
            return;
        }
        self.len += 1;
        self.state = match (self.state, b) {
            (Quote::Quoted, b'"') => Quote::Closing,
            (Quote::Quoted, _) => Quote::Quoted,
            (Quote::Closing, b'"') => Quote::Quoted,
            (_, b) if b == self.delimiter => {
                self.column += 1;
                Quote::Start
            }
            (Quote::Start, b'"') => {
                self.quoted = self.column;
                Quote::Quoted
            }
            (Quote::Closing | Quote::Trailing, b' ' | b'\t') => Quote::Trailing,
            (Quote::Closing | Quote::Trailing, _) => {
                if !self.misquoted {
                    self.misquoted = true;
                    self.mark(
                        at,
                        Mark::Quote {
                            column: self.quoted,
                            unclosed: false,
                        },
                    );
                }
                Quote::Unquoted
            }
            _ => Quote::Unquoted,
        };
    }

    fn fill(&mut self) -> std::io::Result<bool> {
        if self.pos == self.filled {
            self.filled = self.inner.read(&mut self.buf)?;
            self.pos = 0;
        }
        Ok(self.filled > 0)
    }

    /// Cuts the current record: drops the rest of it, notes the cut, queues its end.
    fn cut(&mut self) -> std::io::Result<()> {
        self.marker = if self.state == Quote::Quoted {
            b"\"\n"
        } else {
            b"\n"
        };
        let mut whole = self.len;
        'record: while self.fill()? {
            while self.pos < self.filled {
                let b = self.buf[self.pos];
                self.pos += 1;
                let end = self.ends(b);
                self.step(b, self.out);
                if end {
                    break 'record;
                }
                whole += 1;
            }
        }
        self.state = Quote::Start;
        self.len = 0;
        self.column = 0;
        self.misquoted = false;
        // The cut record ends at or after this offset, and the next begins past it.
        self.mark(self.out, Mark::Cut { bytes: whole });
        Ok(())
    }
}

impl<R: Read> Read for LineCap<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if !self.marker.is_empty() {
            let n = self.marker.len().min(out.len());
            out[..n].copy_from_slice(&self.marker[..n]);
            self.marker = &self.marker[n..];
            self.out += n as u64;
            return Ok(n);
        }
        if !self.fill()? {
            // The end of the file inside a quoted cell: that cell took the rest of the file.
            if self.state == Quote::Quoted && self.len > 0 {
                self.mark(
                    self.out,
                    Mark::Quote {
                        column: self.quoted,
                        unclosed: true,
                    },
                );
                self.state = Quote::Start;
                self.len = 0;
            }
            return Ok(0);
        }
        let max = (self.filled - self.pos).min(out.len());
        let mut n = 0;
        let mut over = false;
        while n < max {
            // Inside a cell only a few bytes change anything but the record's length: a
            // delimiter or a line end in an unquoted cell, a quote in a quoted one. Runs of
            // the others are skipped at once (never past the cap: the byte after is checked).
            let room = usize::try_from((self.cap as u64).saturating_sub(self.len))
                .unwrap_or(usize::MAX)
                .min(max - n);
            let run = &self.buf[self.pos + n..self.pos + n + room];
            let plain = match self.state {
                Quote::Unquoted => memchr::memchr3(self.delimiter, b'\n', b'\r', run),
                Quote::Quoted => memchr::memchr(b'"', run),
                _ => Some(0),
            }
            .unwrap_or(room);
            n += plain;
            self.len += plain as u64;
            if n == max {
                break;
            }
            let b = self.buf[self.pos + n];
            if self.len >= self.cap as u64 && !self.ends(b) {
                over = true;
                break;
            }
            self.step(b, self.out + n as u64);
            n += 1;
        }
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        self.out += n as u64;
        if over {
            self.cut()?;
            if n == 0 {
                return self.read(out);
            }
        }
        Ok(n)
    }
}

/// Tab-separated exports are common; a header line with tabs and no commas is read as TSV.
fn guess_delimiter(head: &[u8]) -> u8 {
    let first_line = head.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let tabs = first_line.iter().filter(|b| **b == b'\t').count();
    let commas = first_line.iter().filter(|b| **b == b',').count();
    if tabs > commas { b'\t' } else { b',' }
}

/// Reads every member of a workbook's ZIP to its end, so that each is checked against its
/// CRC-32. calamine stops reading a worksheet at `</sheetData>` and the shared strings at their
/// end tag, before the ZIP reader's check at the end of the member: a bit flipped in the
/// compressed XML passed altered text off as what the workbook holds. Memory stays flat (the
/// members stream through), and no member may grow past the size it declares.
fn check_zip<R: Read + Seek>(r: R) -> Result<(), String> {
    let mut archive = zip::ZipArchive::new(r).map_err(|e| e.to_string())?;
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).map_err(|e| e.to_string())?;
        let name = member
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| format!("member {}", i + 1));
        std::io::copy(&mut member, &mut std::io::sink()).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

/// The worksheet to read: the one the source names, or the first.
fn sheet_name(names: &[String], file: &str, sheet: Option<&str>) -> Result<String, FileError> {
    match sheet {
        Some(s) => names
            .iter()
            .find(|n| n.as_str() == s)
            .cloned()
            .ok_or_else(|| FileError::Spreadsheet {
                file: file.to_string(),
                reason: format!("no worksheet named {s:?} (found: {})", names.join(", ")),
            }),
        None => names
            .first()
            .cloned()
            .ok_or_else(|| FileError::Spreadsheet {
                file: file.to_string(),
                reason: "the workbook has no worksheet".into(),
            }),
    }
}

/// Reads the rows of a workbook's worksheet from its cells as the XML stores them, so that
/// memory follows the cells the sheet has. (calamine's `worksheet_range` allocates the
/// rectangle between the sheet's first and last cells: a table at A1 and one cell at
/// XFD1048576, a workbook of a few kilobytes, asked for 512 GB and aborted the process.) Rows
/// are handed over in order, each as wide as its last cell; a row without cells is no row.
fn read_xlsx<RS: Read + Seek>(
    wb: &mut calamine::Xlsx<RS>,
    file: &str,
    sheet: Option<&str>,
    on_row: &mut dyn FnMut(i64, &[&str]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let name = sheet_name(&calamine::Reader::sheet_names(wb), file, sheet)?;
    let unreadable = |e: calamine::XlsxError| FileError::Spreadsheet {
        file: file.to_string(),
        reason: e.to_string(),
    };
    let mut reader = match wb.worksheet_cells_reader(&name) {
        Ok(r) => r,
        // A chart sheet or the like: no cells, as calamine's own range gives.
        Err(calamine::XlsxError::NotAWorksheet(_)) => return Ok(()),
        Err(e) => return Err(unreadable(e).into()),
    };
    let mut cells: Vec<(u32, u32, String)> = Vec::new();
    while let Some(cell) = reader.next_cell().map_err(unreadable)? {
        if matches!(cell.get_value(), calamine::DataRef::Empty) {
            continue;
        }
        let (row, col) = cell.get_position();
        let data: calamine::Data = cell.get_value().clone().into();
        cells.push((row, col, cell_text(&data)));
    }
    drop(reader);
    // Stable: of two cells at one place, the later in the file wins, as in calamine's range.
    cells.sort_by_key(|&(row, col, _)| (row, col));
    let mut rest = cells.as_mut_slice();
    while let Some(&(row, _, _)) = rest.first() {
        let n = rest.partition_point(|c| c.0 == row);
        let (this, after) = rest.split_at_mut(n);
        let width = this.last().map_or(0, |c| c.1 as usize + 1);
        let mut texts = vec![String::new(); width];
        for (_, col, text) in this.iter_mut() {
            texts[*col as usize] = std::mem::take(text);
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        on_row(i64::from(row) + 1, &refs)?;
        rest = after;
    }
    Ok(())
}

/// Reads the rows of a real XLS workbook's worksheet. (calamine reads every sheet of an XLS
/// whole when it opens the file.)
fn read_sheet<RS: Read + Seek, R: calamine::Reader<RS>>(
    wb: &mut R,
    file: &str,
    sheet: Option<&str>,
    on_row: &mut dyn FnMut(i64, &[&str]) -> anyhow::Result<()>,
) -> anyhow::Result<()>
where
    R::Error: std::fmt::Display,
{
    let name = sheet_name(&wb.sheet_names(), file, sheet)?;
    let range = wb
        .worksheet_range(&name)
        .map_err(|e| FileError::Spreadsheet {
            file: file.to_string(),
            reason: e.to_string(),
        })?;
    let first_row = range.start().map(|(r, _)| r as i64).unwrap_or(0);
    let first_col = range.start().map(|(_, c)| c as usize).unwrap_or(0);
    for (i, row) in range.rows().enumerate() {
        let mut cells = vec![String::new(); first_col];
        cells.extend(row.iter().map(cell_text));
        let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
        on_row(first_row + i as i64 + 1, &refs)?;
    }
    Ok(())
}

/// A spreadsheet cell as the text a clerk would see.
fn cell_text(d: &calamine::Data) -> String {
    use calamine::Data;
    match d {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{}", *f as i64)
            } else {
                f.to_string()
            }
        }
        Data::Bool(b) => if *b { "true" } else { "false" }.to_string(),
        Data::DateTime(dt) => match dt.as_datetime() {
            Some(t) if t.time() == chrono::NaiveTime::MIN => t.format("%Y-%m-%d").to_string(),
            Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            None => dt.as_f64().to_string(),
        },
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// Reads the rows of the HTML tables in an "Excel" export: `<tr>` rows of `<td>`/`<th>` cells with
/// inline markup. A table nested in a cell is that cell's text; comments are skipped. A `<` that
/// opens no tag (`a < b`, `<5`) is text, as in a browser. A cell holding bytes that are not text
/// in the file's encoding is handed over as [`RowFlaw::Undecodable`], to be quarantined.
fn read_html(bytes: &[u8], configured: Encoding, on_row: &mut OnRow<'_>) -> anyhow::Result<()> {
    let enc = html_encoding(bytes).unwrap_or_else(|| choose_encoding(bytes, configured));
    let (text, bad) = decode_marked(bytes, enc);
    let lower = text.to_ascii_lowercase();
    // Tables nest: only the rows and cells of the outermost table are rows and cells; a table
    // inside a cell is that cell's text (its cells separated by spaces), not rows of its own.
    let mut depth = 0usize;
    let mut row: Option<Row> = None;
    // The cell being read: where its content starts in `text`, and its colspan.
    let mut cell: Option<(usize, usize)> = None;
    let mut row_no = 0;
    let mut pos = 0;
    let end_cell = |cell: &mut Option<(usize, usize)>, row: &mut Option<Row>, at: usize| {
        if let Some((from, colspan)) = cell.take() {
            let r = row.get_or_insert_with(Row::default);
            let from = from.min(at);
            // The first cell with a place that did not decode.
            let i = bad.partition_point(|b| *b < from);
            if r.flaw.is_none() && bad.get(i).is_some_and(|b| *b < at) {
                r.flaw = Some(r.cells.len());
            }
            r.cells.push(html_text(&text[from..at]));
            for _ in 1..colspan.min(100) {
                r.cells.push(String::new());
            }
        }
    };
    let mut emit = |row: &mut Option<Row>, row_no: i64| -> anyhow::Result<()> {
        if let Some(r) = row.take() {
            let refs: Vec<&str> = r.cells.iter().map(String::as_str).collect();
            let flaw = r.flaw.map(|column| RowFlaw::Undecodable {
                column,
                encoding: enc.name(),
            });
            on_row(row_no, &refs, flaw)?;
        }
        Ok(())
    };
    while let Some(lt) = lower[pos..].find('<').map(|i| pos + i) {
        if lower[lt..].starts_with("<!--") {
            pos = lower[lt..].find("-->").map_or(lower.len(), |e| lt + e + 3);
            continue;
        }
        if !opens_tag(&lower[lt + 1..]) {
            pos = lt + 1;
            continue;
        }
        // A tag left open at the end of the file runs to its end (which may be inside a
        // character of several bytes: never cut there).
        let close = lower[lt..].find('>').map_or(lower.len(), |e| lt + e);
        let tag = &lower[lt + 1..close];
        let gt = (close + 1).min(lower.len());
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        pos = gt;
        match (name.as_str(), closing) {
            ("table", false) => depth += 1,
            ("table", true) => depth = depth.saturating_sub(1),
            _ if depth > 1 => {}
            ("tr", false) => {
                end_cell(&mut cell, &mut row, lt);
                emit(&mut row, row_no)?;
                row_no += 1;
                row = Some(Row::default());
            }
            ("tr", true) => {
                end_cell(&mut cell, &mut row, lt);
                emit(&mut row, row_no)?;
            }
            ("td" | "th", false) => {
                end_cell(&mut cell, &mut row, lt);
                if row.is_none() {
                    // A cell outside any <tr>: a row of its own.
                    row_no += 1;
                    row = Some(Row::default());
                }
                cell = Some((gt, attr_number(tag, "colspan").unwrap_or(1)));
            }
            ("td" | "th", true) => end_cell(&mut cell, &mut row, lt),
            _ => {}
        }
    }
    end_cell(&mut cell, &mut row, text.len());
    emit(&mut row, row_no)
}

/// A row of an HTML table being read: its cells, and the first that did not decode.
#[derive(Default)]
struct Row {
    cells: Vec<String>,
    flaw: Option<usize>,
}

/// Whether the text after a `<` makes it a tag (or a comment, a declaration), as an HTML
/// tokenizer decides: a letter, `/` and a letter, `!` or `?`. Otherwise the `<` is text.
fn opens_tag(after: &str) -> bool {
    let mut b = after.bytes();
    match b.next() {
        Some(c) if c.is_ascii_alphabetic() || c == b'!' || c == b'?' => true,
        Some(b'/') => b.next().is_some_and(|c| c.is_ascii_alphabetic()),
        _ => false,
    }
}

/// `bytes` decoded from `encoding` (a BOM of it skipped), each sequence that is not text in it
/// replaced by U+FFFD, and the offsets of those replacements in the text, in order.
fn decode_marked(bytes: &[u8], encoding: &'static TextEncoding) -> (String, Vec<usize>) {
    let mut decoder = encoding.new_decoder_with_bom_removal();
    let mut text = String::with_capacity(
        decoder
            .max_utf8_buffer_length_without_replacement(bytes.len())
            .unwrap_or(bytes.len()),
    );
    let mut bad = Vec::new();
    let mut rest = bytes;
    loop {
        let (result, read) = decoder.decode_to_string_without_replacement(rest, &mut text, true);
        rest = &rest[read..];
        match result {
            encoding_rs::DecoderResult::InputEmpty => return (text, bad),
            encoding_rs::DecoderResult::Malformed(..) => {
                bad.push(text.len());
                text.push('\u{FFFD}');
            }
            encoding_rs::DecoderResult::OutputFull => {
                let more = decoder
                    .max_utf8_buffer_length_without_replacement(rest.len())
                    .unwrap_or(rest.len());
                text.reserve(more.max(16));
            }
        }
    }
}

fn attr_number(tag: &str, attr: &str) -> Option<usize> {
    let i = tag.find(attr)?;
    let rest = tag[i + attr.len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let rest = rest.trim_start_matches(['"', '\'']);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn html_encoding(bytes: &[u8]) -> Option<&'static TextEncoding> {
    let head: Vec<u8> = bytes
        .iter()
        .take(4096)
        .map(u8::to_ascii_lowercase)
        .collect();
    let text = String::from_utf8_lossy(&head);
    let i = text.find("charset=")?;
    let label: String = text[i + 8..]
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    TextEncoding::for_label(label.as_bytes())
}

/// Tags that style text within a line: they do not part what they hold from its neighbours
/// (`<b>张</b>三` shows 张三), where other tags (`<br>`, `<p>`, a nested table's cells) do.
const INLINE_TAGS: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "del", "dfn", "em", "font", "i", "ins",
    "kbd", "mark", "nobr", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup",
    "tt", "u", "var",
];

/// Cell markup to text as a browser shows it: inline tags dropped, other tags (`<br>`, a nested
/// table's cells) as a space, comments skipped, entities decoded, HTML's spaces (and `&nbsp;`)
/// collapsed. A `<` that opens no tag is text.
fn html_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let after = &rest[lt + 1..];
        if let Some(comment) = after.strip_prefix("!--") {
            rest = comment.find("-->").map_or("", |e| &comment[e + 3..]);
            continue;
        }
        if !opens_tag(after) {
            out.push('<');
            rest = after;
            continue;
        }
        let end = after.find('>').map_or(after.len(), |e| e + 1);
        let name: String = after
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if !INLINE_TAGS.contains(&name.as_str()) {
            out.push(' ');
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    let decoded = decode_entities(&out);
    decoded
        .split(is_html_space)
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// HTML's white space (U+3000 and NBSP written as such are text, shown as they are).
fn is_html_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0C')
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail.find(';').filter(|e| *e <= 10);
        let Some(end) = end else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let ent = &tail[1..end];
        let ch = match ent {
            "nbsp" => Some(' '),
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .or_else(|| ent.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Maps rows to items: finds the header row, then maps every data row.
pub struct RowMapper<'a> {
    feed: Feed,
    src: &'a SourceConfig,
    limits: crate::config::LimitsConfig,
    units: &'a Units,
    location: String,
    mapper: Option<Mapper>,
    headers: Vec<String>,
    scanned: usize,
    /// The rows are a CSV file's: their cells are told apart by separators only, so a row with
    /// another number of cells than the header row has one out of place.
    separated: bool,
}

impl<'a> RowMapper<'a> {
    pub fn new(
        feed: Feed,
        src: &'a SourceConfig,
        limits: &crate::config::LimitsConfig,
        units: &'a Units,
        location: String,
    ) -> Self {
        RowMapper {
            feed,
            src,
            limits: *limits,
            units,
            location,
            mapper: None,
            headers: Vec::new(),
            scanned: 0,
            separated: false,
        }
    }

    /// The rows come from a file of `format`: a CSV row whose number of cells is not the
    /// header row's is quarantined. Its cells cannot be where the header says — an amount
    /// written `1,234.50` without quotes puts `234.50` in the next column and leaves `1` as the
    /// amount; a stray quote splits a row or joins two — so it is never mapped as if they were.
    pub fn reading(mut self, format: Format) -> Self {
        self.separated = format == Format::Csv;
        self
    }

    /// One row as [`read_rows`] hands it over: mapped, or quarantined for its flaw.
    /// `Ok(None)` for title lines, the header row and blank rows.
    pub fn read(
        &mut self,
        row: i64,
        cells: &[&str],
        flaw: Option<RowFlaw>,
    ) -> Result<Option<Item>, FileError> {
        Ok(match flaw {
            None => self.row(row, cells)?,
            Some(RowFlaw::Undecodable { column, encoding }) => {
                self.undecodable(row, cells, column, encoding)
            }
            Some(RowFlaw::TooLong { bytes }) => self.too_long(row, cells, bytes),
            Some(RowFlaw::Misquoted { column, unclosed }) => {
                self.misquoted(row, cells, column, unclosed)
            }
        })
    }

    /// `Ok(None)` for title lines, the header row and blank rows.
    pub fn row(&mut self, row: i64, cells: &[&str]) -> Result<Option<Item>, FileError> {
        if cells.iter().all(|c| c.trim().is_empty()) {
            return Ok(None);
        }
        let Some(mapper) = &mut self.mapper else {
            self.scanned += 1;
            let cells: Vec<String> = cells.iter().map(|c| c.to_string()).collect();
            if Mapper::looks_like_header(self.feed, &cells, &self.src.mapping) {
                let unit = self.src.unit.as_deref().and_then(|u| self.units.resolve(u));
                let m = Mapper::new(self.feed, &cells, &self.src.mapping, unit)
                    .map_err(|source| FileError::Mapping {
                        file: self.location.clone(),
                        source,
                    })?
                    .with_limits(&self.limits);
                let unused = m.unused_columns();
                if !unused.is_empty() {
                    tracing::debug!(file = %self.location, columns = ?unused, "columns not used by any field");
                }
                self.mapper = Some(m);
                self.headers = cells;
                return Ok(None);
            }
            if self.scanned >= HEADER_SCAN_ROWS {
                return Err(FileError::NoHeader {
                    file: self.location.clone(),
                    scanned: self.scanned,
                });
            }
            return Ok(None);
        };
        if self.separated && cells.len() != self.headers.len() {
            let (n, m) = (cells.len(), self.headers.len());
            let reason = if n > m {
                format!(
                    "the row has {n} cells but the header row {m}: a separator inside a cell that \
                     is not quoted (such as 1,234.50) moves the cells after it; quote that cell at \
                     the source"
                )
            } else {
                format!(
                    "the row has {n} cells but the header row {m}: a line break inside a cell that \
                     is not quoted, or a stray quote, split it; fix the row at the source"
                )
            };
            let errors = vec![crate::sources::mapping::FieldError {
                field: "row".into(),
                column: None,
                value: String::new(),
                reason,
            }];
            return Ok(Some(Item::Bad(quarantine_items(
                &self.location,
                row,
                errors,
                self.raw(cells),
                &self.limits,
            ))));
        }
        Ok(Some(match mapper.map(cells, self.units) {
            Ok(r) => Item::Record(r, row),
            Err(errors) => Item::Bad(quarantine_items(
                &self.location,
                row,
                errors,
                self.raw(cells),
                &self.limits,
            )),
        }))
    }

    /// A row whose bytes are not all UTF-8 in a file read as UTF-8: quarantined, naming the
    /// first bad cell, with the row as far as it decodes (bad bytes shown as U+FFFD). Before the
    /// header row it is a title line like any other.
    pub fn undecodable(
        &mut self,
        row: i64,
        cells: &[&str],
        column: usize,
        encoding: &str,
    ) -> Option<Item> {
        let mapper = self.mapper.as_ref()?;
        let header = self.headers.get(column).map(|h| h.trim().to_string());
        let field = mapper.field_of_column(column).unwrap_or("row").to_string();
        let reason = if encoding == UTF_8.name() {
            "bytes that are not UTF-8: the file was read as UTF-8 because most of its text is; \
             fix the row at the source, or set the source's `encoding` if the whole file is GBK"
                .to_string()
        } else {
            format!(
                "bytes that are not {encoding} text, or a character cut short: the file was read as \
                 {encoding}; fix the row at the source, or set the source's `encoding` if the file \
                 is in another one"
            )
        };
        let errors = vec![crate::sources::mapping::FieldError {
            field,
            column: header,
            value: cells.get(column).map(|c| c.to_string()).unwrap_or_default(),
            reason,
        }];
        Some(Item::Bad(quarantine_items(
            &self.location,
            row,
            errors,
            self.raw(cells),
            &self.limits,
        )))
    }

    /// A CSV row whose quoting is broken: quarantined naming the cell, with the row as the `csv`
    /// crate read it. Before the header row it is a title line like any other.
    pub fn misquoted(
        &mut self,
        row: i64,
        cells: &[&str],
        column: usize,
        unclosed: bool,
    ) -> Option<Item> {
        let mapper = self.mapper.as_ref()?;
        let reason = if unclosed {
            "a quote opened in this cell is never closed, so the rest of the file was read into it; \
             fix the row at the source (a quote inside a cell is written twice: \"\")"
        } else {
            "text after the closing quote of this cell: a quote inside a quoted cell must be written \
             twice (\"\"), so where the cell ends, and which rows it holds, is a guess; fix the row \
             at the source"
        };
        let errors = vec![crate::sources::mapping::FieldError {
            field: mapper.field_of_column(column).unwrap_or("row").to_string(),
            column: self.headers.get(column).map(|h| h.trim().to_string()),
            value: cells
                .get(column)
                .map(|c| c.chars().take(100).collect())
                .unwrap_or_default(),
            reason: reason.into(),
        }];
        Some(Item::Bad(quarantine_items(
            &self.location,
            row,
            errors,
            self.raw(cells),
            &self.limits,
        )))
    }

    /// A CSV line longer than `limits.line_kb`: quarantined with what of it was read. Before the
    /// header row it is a title line like any other.
    pub fn too_long(&mut self, row: i64, cells: &[&str], bytes: u64) -> Option<Item> {
        self.mapper.as_ref()?;
        let errors = vec![crate::sources::mapping::FieldError {
            field: "row".into(),
            column: None,
            value: String::new(),
            reason: format!(
                "line of {} KB exceeds limits.line_kb = {}",
                bytes.div_ceil(1024),
                self.limits.line_kb
            ),
        }];
        Some(Item::Bad(quarantine_items(
            &self.location,
            row,
            errors,
            self.raw(cells),
            &self.limits,
        )))
    }

    /// The row as JSON (header → cell), for the quarantine; cells past the header row's under
    /// `column N`.
    fn raw(&self, cells: &[&str]) -> serde_json::Value {
        let width = self.headers.len().max(cells.len());
        serde_json::Value::Object(
            (0..width)
                .map(|i| {
                    let h = self.headers.get(i).map_or("", |h| h.trim());
                    let key = if h.is_empty() {
                        format!("column {}", i + 1)
                    } else {
                        h.to_string()
                    };
                    (
                        key,
                        serde_json::Value::String(
                            cells.get(i).map(|c| c.to_string()).unwrap_or_default(),
                        ),
                    )
                })
                .collect(),
        )
    }

    /// After the last row: a file that never showed a header row is an error.
    pub fn finish(&self) -> Result<(), FileError> {
        if self.mapper.is_none() {
            return Err(FileError::NoHeader {
                file: self.location.clone(),
                scanned: self.scanned,
            });
        }
        Ok(())
    }
}

const READ_CHUNK: usize = 1000;

/// Reads one file into the store in one transaction: its good rows go in together, its bad rows
/// are quarantined. Nothing is written when the file cannot be read as a whole.
pub async fn import_file(run: SourceRun<'_>, path: &Path) -> anyhow::Result<RowCounts> {
    let SourceRun {
        store,
        src,
        units,
        feed,
        obligations,
        limits,
        now,
        progress,
        ..
    } = run;
    let limits_owned = *limits;
    let (tx, mut rx) = mpsc::channel::<Result<Vec<Item>, anyhow::Error>>(4);
    let src_owned = src.clone();
    let units_owned = units.clone();
    let path_owned = path.to_path_buf();
    let reader = tokio::task::spawn_blocking(move || {
        let location = path_owned.display().to_string();
        let mut chunk = Vec::with_capacity(READ_CHUNK);
        let line_bytes = limits_owned.line_bytes();
        let result = Export::open(&path_owned)
            .map_err(anyhow::Error::from)
            .and_then(|export| {
                let mut mapper =
                    RowMapper::new(feed, &src_owned, &limits_owned, &units_owned, location)
                        .reading(export.format());
                export.read_rows(&src_owned, line_bytes, &mut |row, cells, flaw| {
                    if let Some(item) = mapper.read(row, cells, flaw)? {
                        chunk.push(item);
                        if chunk.len() >= READ_CHUNK {
                            let full =
                                std::mem::replace(&mut chunk, Vec::with_capacity(READ_CHUNK));
                            // The receiver is gone only when the writer failed; stop reading then.
                            tx.blocking_send(Ok(full))
                                .map_err(|_| anyhow::anyhow!("the writer stopped"))?;
                        }
                    }
                    Ok(())
                })?;
                mapper.finish().map_err(anyhow::Error::from)
            });
        let last = match result {
            Ok(()) => Ok(chunk),
            Err(e) => Err(e),
        };
        let _ = tx.blocking_send(last);
    });

    let mut writer =
        Writer::new(&src.name, store.begin_import(&src.name, now).await?).grading(obligations);
    let location = path.display().to_string();
    let mut bar = Progress::new(&format!("{} {}", src.name, path.display()), progress);
    let mut outcome: anyhow::Result<()> = Ok(());
    while let Some(msg) = rx.recv().await {
        match msg {
            Ok(items) => {
                for item in items {
                    if let Err(e) = writer.push(&location, item).await {
                        outcome = Err(e.into());
                        break;
                    }
                }
                bar.tick(writer.counts().seen);
                if outcome.is_err() {
                    break;
                }
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    drop(rx);
    bar.done();
    reader.await.context("the file reader thread failed")?;
    outcome?;
    let committing = std::time::Instant::now();
    let counts = writer.commit(None).await?;
    tracing::debug!(file = %path.display(), secs = committing.elapsed().as_secs_f64(), "committed");
    Ok(counts)
}

/// The files of a drop folder that are ready at `now`, in name order; hidden files and folders
/// are skipped, and so is a file changed less than `settle_secs` ago (it may still be being
/// copied in: reading it now would archive half a file). Returns the ready files and how many
/// were left to settle.
pub fn drop_files(
    dir: &Path,
    settle_secs: u64,
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<PathBuf>, usize)> {
    let mut files = Vec::new();
    let mut settling = 0;
    for e in std::fs::read_dir(dir)
        .with_context(|| format!("cannot list the drop folder {}", dir.display()))?
    {
        let e = e?;
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name.starts_with('~') || !e.file_type()?.is_file() {
            continue;
        }
        let ext = p
            .extension()
            .map(|x| x.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if !["csv", "txt", "tsv", "xlsx", "xlsm", "xls", "htm", "html"].contains(&ext.as_str()) {
            continue;
        }
        if settle_secs > 0 {
            let modified: DateTime<Utc> = e.metadata()?.modified()?.into();
            if (now - modified).num_seconds() < settle_secs as i64 {
                settling += 1;
                continue;
            }
        }
        files.push(p);
    }
    files.sort();
    Ok((files, settling))
}

/// Moves a processed file out of the drop folder, under a time-stamped name.
pub fn archive(
    src: &SourceConfig,
    dir: &Path,
    file: &Path,
    now: DateTime<Utc>,
) -> anyhow::Result<PathBuf> {
    let archive = src
        .archive_dir
        .clone()
        .unwrap_or_else(|| dir.join(".archive"));
    std::fs::create_dir_all(&archive)
        .with_context(|| format!("cannot create the archive folder {}", archive.display()))?;
    let stamp = now
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y%m%dT%H%M%S");
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut target = archive.join(format!("{stamp}-{name}"));
    let mut n = 1;
    while target.exists() {
        target = archive.join(format!("{stamp}-{n}-{name}"));
        n += 1;
    }
    std::fs::rename(file, &target)
        .with_context(|| format!("cannot move {} to {}", file.display(), target.display()))?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The records `csv` reads through a [`LineCap`] of `cap` bytes, each with what was noted
    /// of it.
    fn marked(input: &[u8], cap: usize) -> Vec<(Vec<String>, Vec<Mark>)> {
        let lc = LineCap::new(input, b',', cap);
        let marks = lc.marks();
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(16)
            .from_reader(lc);
        let mut out = Vec::new();
        let mut rec = csv::ByteRecord::new();
        while rdr.read_byte_record(&mut rec).unwrap() {
            let end = rdr.position().byte();
            let mut q = marks.lock().unwrap();
            let mut noted = Vec::new();
            while let Some(&(_, m)) = q.front().filter(|(at, _)| *at <= end) {
                q.pop_front();
                noted.push(m);
            }
            let cells = rec
                .iter()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            out.push((cells, noted));
        }
        out
    }

    /// The records `csv` reads through a [`LineCap`] of `cap` bytes, each with its cut length.
    fn capped(input: &[u8], cap: usize) -> Vec<(Vec<String>, Option<u64>)> {
        marked(input, cap)
            .into_iter()
            .map(|(cells, marks)| {
                let cut = marks.iter().find_map(|m| match m {
                    Mark::Cut { bytes } => Some(*bytes),
                    Mark::Quote { .. } => None,
                });
                (cells, cut)
            })
            .collect()
    }

    /// Found by sources::props: a quote at the start of a cell that is never closed took the
    /// rest of the file into that cell, and text after a closing quote (a quote not doubled
    /// inside a quoted cell) was joined to the cell; both are noted, naming the cell, and the
    /// rows after a broken quote that closes are read as written.
    #[test]
    fn broken_quoting_is_noted_with_its_cell() {
        let quote = |column, unclosed| Mark::Quote { column, unclosed };
        let rows = marked(
            "h1,h2,h3\nA,\"他说\"好\"的\",x\nB,\"ok\"  ,\"a\"\"b\"\nC,\"\nD,ok\n".as_bytes(),
            1 << 10,
        );
        let shown: Vec<(String, Vec<Mark>)> =
            rows.into_iter().map(|(c, m)| (c.join("|"), m)).collect();
        assert_eq!(
            shown,
            vec![
                ("h1|h2|h3".to_string(), vec![]),
                ("A|他说好\"的\"|x".to_string(), vec![quote(1, false)]),
                ("B|ok  |a\"b".to_string(), vec![]),
                ("C|\nD,ok\n".to_string(), vec![quote(1, true)]),
            ]
        );
    }

    #[test]
    fn a_line_past_the_cap_is_cut_and_the_next_lines_are_intact() {
        let long = "x".repeat(100);
        let input = format!("a,b\n1,{long}\n2,\"{long}\nstill\"\n3,\"q\"\"x\",y\r\n4,ok\n");
        let rows = capped(input.as_bytes(), 20);
        let shown: Vec<(String, Option<u64>)> =
            rows.iter().map(|(c, n)| (c.join("|"), *n)).collect();
        assert_eq!(
            shown,
            vec![
                ("a|b".to_string(), None),
                (format!("1|{}", &long[..18]), Some(102)),
                (format!("2|{}", &long[..17]), Some(110)),
                ("3|q\"x|y".to_string(), None),
                ("4|ok".to_string(), None),
            ]
        );
    }

    #[test]
    fn quotes_inside_an_unquoted_cell_do_not_open_a_quote() {
        // 12" is a length, not a quote: the lines after it are records of their own.
        let input = b"a,12\" pipe\nb,ok\nc,ok\n";
        let rows = capped(input, 12);
        assert!(rows.iter().all(|(_, n)| n.is_none()), "{rows:?}");
        assert_eq!(rows.len(), 3);
    }

    #[test]
    fn formats_are_sniffed_from_bytes_not_names() {
        assert_eq!(sniff(b"PK\x03\x04rest"), Format::Xlsx);
        assert_eq!(
            sniff(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0]),
            Format::Xls
        );
        assert_eq!(sniff(b"\xEF\xBB\xBF  <html><table><tr>"), Format::Html);
        assert_eq!(sniff(b"<table border=1><tr><td>"), Format::Html);
        assert_eq!(sniff("案号,当事人\n".as_bytes()), Format::Csv);
    }

    #[test]
    fn encodings_are_detected() {
        let gbk = encoding_rs::GBK.encode("执法单位,案号").0;
        assert_eq!(choose_encoding(&gbk, Encoding::Auto), GB18030);
        assert_eq!(
            choose_encoding("执法单位".as_bytes(), Encoding::Auto),
            UTF_8
        );
        // A UTF-8 sample cut inside a character is still UTF-8.
        let cut = &"执法单位".as_bytes()[..4];
        assert_eq!(choose_encoding(cut, Encoding::Auto), UTF_8);
        assert_eq!(choose_encoding(b"\xEF\xBB\xBFabc", Encoding::Gbk), UTF_8);
        // Evidence, not a single byte: mostly UTF-8 with a stray byte is UTF-8 (the row with it
        // is quarantined); GBK text with a few sequences that happen to be UTF-8 is GB18030.
        let mut stray = "执法单位,案号,当事人\n县市场监管局,1号,次"
            .as_bytes()
            .to_vec();
        stray.push(0xFF);
        stray.extend_from_slice("仁\n".as_bytes());
        assert_eq!(choose_encoding(&stray, Encoding::Auto), UTF_8);
        let text = "稻城县市场监督管理局行政处罚".repeat(50);
        let long_gbk = encoding_rs::GBK.encode(&text).0;
        assert_eq!(choose_encoding(&long_gbk, Encoding::Auto), GB18030);
        // GBK characters that happen to form two-byte UTF-8 (摊 is CC AF, U+032F) are no
        // evidence of UTF-8, however many (found by sources::props).
        let tan = encoding_rs::GBK
            .encode(&format!(
                "执法单位,案号,当事人\n县局,1号,{}\n",
                "摊".repeat(300)
            ))
            .0
            .into_owned();
        assert_eq!(choose_encoding(&tan, Encoding::Auto), GB18030);
        // A UTF-8 export damaged in places is still read as UTF-8 while its Chinese outnumbers
        // the damage.
        let mut damaged = "执法单位,案号,当事人\n".as_bytes().to_vec();
        damaged.extend_from_slice(&[0xFF; 8]);
        assert_eq!(choose_encoding(&damaged, Encoding::Auto), UTF_8);
        damaged.extend_from_slice(&[0xFF; 1]);
        assert_eq!(choose_encoding(&damaged, Encoding::Auto), GB18030);
        assert_eq!(choose_encoding(b"plain ascii,1,2", Encoding::Auto), UTF_8);
    }

    #[test]
    fn html_tables_become_rows() {
        let html = "<html><meta charset=\"utf-8\"><table><tr><td colspan=3>标题</td></tr>\
                    <tr><th>案号</th><th>当事人</th><th>金额</th></tr>\
                    <tr><td>稻交运罚〔2025〕1号</td><td><b>张&nbsp;三</b></td><td>1&#44;000</td></tr></table>";
        let mut rows = Vec::new();
        read_html(html.as_bytes(), Encoding::Auto, &mut |n, cells, _| {
            rows.push((n, cells.iter().map(|c| c.to_string()).collect::<Vec<_>>()));
            Ok(())
        })
        .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].1, vec!["标题", "", ""]);
        assert_eq!(rows[1].1, vec!["案号", "当事人", "金额"]);
        assert_eq!(rows[2].1, vec!["稻交运罚〔2025〕1号", "张 三", "1,000"]);
    }

    /// The cells of the rows of `html` (UTF-8), each with the column that did not decode.
    fn html_rows(html: &[u8]) -> Vec<(Vec<String>, Option<usize>)> {
        let mut rows = Vec::new();
        read_html(html, Encoding::Utf8, &mut |_, cells, flaw| {
            let bad = flaw.map(|f| match f {
                RowFlaw::Undecodable { column, .. } => column,
                RowFlaw::TooLong { .. } | RowFlaw::Misquoted { .. } => usize::MAX,
            });
            rows.push((cells.iter().map(|c| c.to_string()).collect(), bad));
            Ok(())
        })
        .unwrap();
        rows
    }

    /// Found by sources::props: `<b>1</b><u>990-01-01</u>` was read as `1 990-01-01`, and the
    /// text after a raw `<` was lost up to the next `>` (with the cells in between).
    #[test]
    fn html_cells_are_read_as_a_browser_shows_them() {
        let rows = html_rows(
            "<table><tr><td><b>1</b><u>990-01-01</u></td><td><span style=\"x\">稻</span>城县</td>\
             <td>多吉<br>拉姆</td><td>a < b &amp; c</td><td><5万</td><td>A\u{3000}B\n C</td>\
             <td>x<!-- y > z -->w</td></tr></table>"
                .as_bytes(),
        );
        assert_eq!(
            rows,
            vec![(
                vec![
                    "1990-01-01".to_string(),
                    "稻城县".into(),
                    "多吉 拉姆".into(),
                    "a < b & c".into(),
                    "<5万".into(),
                    "A\u{3000}B C".into(),
                    "xw".into(),
                ],
                None
            )]
        );
    }

    /// A cell with a byte that is not UTF-8 (in a file read as UTF-8) is named; the row is
    /// quarantined by its reader, never stored with a U+FFFD.
    #[test]
    fn an_html_cell_that_does_not_decode_is_named() {
        let rows =
            html_rows(b"<tr><td>ok</td><td>bad\xFF</td><td>\xFE</td></tr><tr><td>fine</td></tr>");
        assert_eq!(
            rows,
            vec![
                (
                    vec!["ok".to_string(), "bad\u{FFFD}".into(), "\u{FFFD}".into()],
                    Some(1)
                ),
                (vec!["fine".to_string()], None),
            ]
        );
    }

    #[test]
    fn html_parsing_never_panics_on_broken_markup() {
        for s in [
            "<tr",
            "<tr><td",
            "<table><tr><td>a</td><td colspan=>b",
            "<tr>&#xFFFFFFFF;&",
            "<tr><th>é</th></tr>",
            // Found by sources::props: a tag left open before a character of several bytes
            // at the end of the file cut that character.
            "<table><tr><td><b稻",
            "<tr><td>x</td><td",
        ] {
            let _ = read_html(s.as_bytes(), Encoding::Auto, &mut |_, _, _| Ok(()));
        }
    }
}
