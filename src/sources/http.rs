//! HTTP JSON API sources: page, offset or cursor pagination; bearer, basic or API-key auth; an
//! incremental `updated_since` cursor; timeouts and retries with backoff on 5xx, 429 and network
//! failures; bodies decoded by their declared charset (GBK APIs exist), a record holding bytes
//! that are not text in it quarantined rather than stored with U+FFFD.
//!
//! A run fetches every page first (spooled to a temporary file, so the store's write lock is not
//! held while the API answers), then writes them in one import transaction and commits the new
//! cursor with it, so a run that fails half-way leaves the store and the cursor as they were, and
//! the next run starts from the same point. The cursor is the newest `updated_at` seen; the API is asked for records
//! updated since then (inclusive), and records seen again are recognised as unchanged.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde_json::Value as Json;

use crate::config::{AuthKind, Pagination, Redactor, SourceConfig, read_secret};
use crate::records::{Feed, Value};
use crate::sources::mapping::Mapper;
use crate::sources::{Item, Progress, SourceRun, Writer, quarantine_items};
use crate::store::RowCounts;
use crate::units::Units;

/// Why one request failed, and whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Permanent(String),
}

pub struct HttpSource<'a> {
    src: &'a SourceConfig,
    client: reqwest::Client,
    auth: Option<(String, String)>,
    /// The source's credentials ([`Redactor::for_source`]), blanked out of every error text:
    /// some servers echo the credentials they rejected in the body, and error texts end up in
    /// logs, in `status` and in the administrator's alert.
    secrets: Redactor,
    /// `limits.http_page_mb`: a response body larger than this is refused.
    page_mb: u32,
}

/// How much of an error answer's body is read (only its start is shown).
const ERROR_BODY_BYTES: u64 = 64 << 10;

impl<'a> HttpSource<'a> {
    pub fn new(
        src: &'a SourceConfig,
        limits: &crate::config::LimitsConfig,
        secrets: Redactor,
    ) -> anyhow::Result<HttpSource<'a>> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(src.timeout_secs))
            .connect_timeout(Duration::from_secs(src.connect_timeout_secs))
            .user_agent(concat!("liandong/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        let a = &src.auth;
        let prefix = format!("sources.{}.auth", src.name);
        let auth = match a.kind {
            AuthKind::None => None,
            AuthKind::Bearer => {
                let t = read_secret(
                    &format!("{prefix}.token_file"),
                    a.token_file.as_deref(),
                    a.token_credential.as_deref(),
                )?
                .ok_or_else(|| anyhow!("{prefix}: bearer auth needs a token"))?;
                Some((
                    "Authorization".to_string(),
                    format!("Bearer {}", t.expose_secret()),
                ))
            }
            AuthKind::Basic => {
                use base64_lite::encode;
                let p = read_secret(
                    &format!("{prefix}.password_file"),
                    a.password_file.as_deref(),
                    a.password_credential.as_deref(),
                )?
                .ok_or_else(|| anyhow!("{prefix}: basic auth needs a password"))?;
                let user = a.username.clone().unwrap_or_default();
                let credentials = encode(format!("{user}:{}", p.expose_secret()).as_bytes());
                Some(("Authorization".to_string(), format!("Basic {credentials}")))
            }
            AuthKind::ApiKey => {
                let k = read_secret(
                    &format!("{prefix}.key_file"),
                    a.key_file.as_deref(),
                    a.key_credential.as_deref(),
                )?
                .ok_or_else(|| anyhow!("{prefix}: api_key auth needs a key"))?;
                Some((a.header.clone(), k.expose_secret().to_string()))
            }
        };
        Ok(HttpSource {
            src,
            client,
            auth,
            secrets,
            page_mb: limits.http_page_mb,
        })
    }

    /// `text` with every credential replaced by `***`.
    fn redact(&self, text: &str) -> String {
        self.secrets.redact(text)
    }

    /// One GET with retries: 5xx, 429, timeouts and connection failures are retried with
    /// exponential backoff and jitter; other 4xx answers are final.
    async fn get(&self, query: &[(String, String)]) -> anyhow::Result<Page> {
        let url = self.src.url.as_deref().unwrap_or_default();
        let mut attempt = 0;
        loop {
            // Every error text is redacted whole here, before it is logged or returned: the
            // URL it names may carry a credential, and so may what the server answered.
            match self.get_once(url, query).await {
                Ok(v) => return Ok(v),
                Err(FetchError::Permanent(e)) => bail!("{}", self.redact(&e)),
                Err(FetchError::Transient(e)) if attempt >= self.src.retries => {
                    bail!(
                        "{} (gave up after {} attempts)",
                        self.redact(&e),
                        attempt + 1
                    )
                }
                Err(FetchError::Transient(e)) => {
                    let e = self.redact(&e);
                    let base = self
                        .src
                        .retry_backoff_ms
                        .saturating_mul(1u64 << attempt.min(10));
                    let jitter = crate::random::below(base / 4 + 1);
                    tracing::warn!(source = %self.src.name, attempt = attempt + 1, error = %crate::mask::mask_text(&e.to_string()), "request failed; retrying");
                    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn get_once(&self, url: &str, query: &[(String, String)]) -> Result<Page, FetchError> {
        let mut req = self.client.get(url).query(query);
        // Credentials written into the URL never reach an error text, a log or `status`.
        let shown = crate::config::redact_url(url);
        let url = shown.as_str();
        for (k, v) in &self.src.headers {
            req = req.header(k, v);
        }
        if let Some((k, v)) = &self.auth {
            req = req.header(k, v);
        }
        let resp = req.send().await.map_err(|e| {
            let e = e.without_url();
            // A request that cannot be built (a header name or value HTTP does not allow, such
            // as a secret file with two lines) fails the same way every time: do not retry it.
            if e.is_builder() {
                return FetchError::Permanent(format!(
                    "GET {url} cannot be sent: {}",
                    error_chain(&e)
                ));
            }
            let kind = if e.is_timeout() {
                "timed out"
            } else {
                "failed"
            };
            FetchError::Transient(format!("GET {url} {kind}: {}", error_chain(&e)))
        })?;
        let status = resp.status();
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            return Err(FetchError::Transient(format!(
                "GET {url} answered {status}"
            )));
        }
        if !status.is_success() {
            // Redacted before shortening, so that no prefix of a secret survives the cut.
            let body = match read_capped(resp, ERROR_BODY_BYTES).await {
                Ok(b) | Err(BodyError::TooLarge(b)) => String::from_utf8_lossy(&b).into_owned(),
                Err(BodyError::Read(_)) => String::new(),
            };
            let body = self.redact(&body);
            return Err(FetchError::Permanent(format!(
                "GET {url} answered {status}: {}",
                body.chars().take(200).collect::<String>()
            )));
        }
        // The body is read in chunks and refused beyond `limits.http_page_mb`: a hostile or
        // broken API cannot make a run hold more than that in memory. It is decoded by the
        // charset the server declares (GBK included), UTF-8 when it declares none.
        let cap = u64::from(self.page_mb) << 20;
        let too_large = |size: String| {
            FetchError::Permanent(format!(
                "source {}: GET {url}: the response is {size}, larger than \
                 limits.http_page_mb = {} MB; ask for smaller pages (page_size) or raise the limit",
                self.src.name, self.page_mb
            ))
        };
        if let Some(n) = resp.content_length().filter(|n| *n > cap) {
            return Err(too_large(format!("{} MB", n.div_ceil(1 << 20))));
        }
        let encoding = charset_of(&resp);
        let bytes = match read_capped(resp, cap).await {
            Ok(b) => b,
            Err(BodyError::TooLarge(_)) => {
                return Err(too_large(format!("more than {} MB", self.page_mb)));
            }
            Err(BodyError::Read(e)) => {
                return Err(FetchError::Transient(format!(
                    "GET {url}: reading the body failed: {}",
                    error_chain(&e.without_url())
                )));
            }
        };
        parse_page(&bytes, encoding)
            .map_err(|e| FetchError::Permanent(format!("GET {url}: the body is not JSON: {e}")))
    }
}

/// A page as fetched: its body, and its charset's name when some of its bytes were not text in
/// it (they are U+FFFD in `body`, and the records holding one are quarantined).
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub body: Json,
    pub undecodable: Option<&'static str>,
}

/// Parses a page's body: decoded by `encoding` (a BOM overrides it), each sequence that is not
/// text in it replaced by U+FFFD and noted, never passed off as what the API wrote.
pub fn parse_page(
    bytes: &[u8],
    encoding: &'static encoding_rs::Encoding,
) -> Result<Page, serde_json::Error> {
    let (encoding, bom) = encoding_rs::Encoding::for_bom(bytes).unwrap_or((encoding, 0));
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut text = String::with_capacity(bytes.len() + bytes.len() / 2 + 16);
    let mut rest = &bytes[bom..];
    let mut lossy = false;
    loop {
        let (result, read) = decoder.decode_to_string_without_replacement(rest, &mut text, true);
        rest = &rest[read..];
        match result {
            encoding_rs::DecoderResult::InputEmpty => break,
            encoding_rs::DecoderResult::Malformed(..) => {
                lossy = true;
                text.push('\u{FFFD}');
            }
            encoding_rs::DecoderResult::OutputFull => {
                text.reserve(rest.len() + rest.len() / 2 + 16);
            }
        }
    }
    Ok(Page {
        body: serde_json::from_str(&text)?,
        undecodable: lossy.then(|| encoding.name()),
    })
}

/// Whether a key or a string of `v` holds U+FFFD.
fn holds_replacement(v: &Json) -> bool {
    match v {
        Json::String(s) => s.contains('\u{FFFD}'),
        Json::Array(a) => a.iter().any(holds_replacement),
        Json::Object(m) => m
            .iter()
            .any(|(k, v)| k.contains('\u{FFFD}') || holds_replacement(v)),
        _ => false,
    }
}

enum BodyError {
    /// The body passed the cap; what was read up to it.
    TooLarge(Vec<u8>),
    Read(reqwest::Error),
}

/// Reads a response body chunk by chunk, stopping as soon as it passes `cap` bytes.
async fn read_capped(mut resp: reqwest::Response, cap: u64) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Read)? {
        if out.len() as u64 + chunk.len() as u64 > cap {
            let room = (cap as usize).saturating_sub(out.len());
            out.extend_from_slice(&chunk[..room.min(chunk.len())]);
            return Err(BodyError::TooLarge(out));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The encoding a response's `Content-Type` declares; UTF-8 when it declares none or one
/// unknown.
fn charset_of(resp: &reqwest::Response) -> &'static encoding_rs::Encoding {
    resp.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| {
            ct.split(';').skip(1).find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("charset")
                    .then(|| v.trim().trim_matches('"').to_string())
            })
        })
        .and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes()))
        .unwrap_or(encoding_rs::UTF_8)
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Follows a dotted path (`data.list`) into a JSON value.
fn at_path<'j>(v: &'j Json, path: &str) -> Option<&'j Json> {
    path.split('.')
        .filter(|s| !s.is_empty())
        .try_fold(v, |cur, seg| match cur {
            Json::Object(m) => m.get(seg),
            Json::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        })
}

fn records_of<'j>(body: &'j Json, field: &str) -> anyhow::Result<&'j Vec<Json>> {
    if !field.is_empty() {
        return at_path(body, field)
            .and_then(Json::as_array)
            .ok_or_else(|| anyhow!("the response has no array at {field:?}"));
    }
    if let Json::Array(a) = body {
        return Ok(a);
    }
    for k in ["data", "records", "items", "rows", "list", "result"] {
        if let Some(Json::Array(a)) = body.get(k) {
            return Ok(a);
        }
        if let Some(inner) = body.get(k).filter(|v| v.is_object())
            && let Ok(a) = records_of(inner, "")
        {
            return Ok(a);
        }
    }
    bail!("the response has no record array (set records_field)")
}

/// A JSON scalar as cell text.
pub fn json_cell(v: &Json) -> String {
    match v {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Maps JSON objects with a mapper per key set (most APIs send the same keys every time).
pub struct JsonMapper<'a> {
    feed: Feed,
    src: &'a SourceConfig,
    limits: &'a crate::config::LimitsConfig,
    units: &'a Units,
    secrets: &'a Redactor,
    cache: HashMap<Vec<String>, Result<Mapper, String>>,
}

impl<'a> JsonMapper<'a> {
    pub fn new(
        feed: Feed,
        src: &'a SourceConfig,
        limits: &'a crate::config::LimitsConfig,
        units: &'a Units,
        secrets: &'a Redactor,
    ) -> Self {
        JsonMapper {
            feed,
            src,
            limits,
            units,
            secrets,
            cache: HashMap::new(),
        }
    }

    /// Maps one record of a page or a query: an object, or anything else, which is quarantined.
    pub fn map_value(&mut self, rec: &Json, location: &str, row: i64) -> Item {
        match rec {
            Json::Object(obj) => self.map(obj, location, row),
            // The value is shown cut, after its credentials are blanked: no piece of one
            // survives the cut.
            other => self.bad(
                location,
                row,
                "record",
                None,
                self.secrets
                    .redact(&json_cell(other))
                    .chars()
                    .take(100)
                    .collect(),
                "expected a JSON object".into(),
                other.clone(),
            ),
        }
    }

    /// Maps one object; `location`/`row` name it in the quarantine.
    pub fn map(&mut self, obj: &serde_json::Map<String, Json>, location: &str, row: i64) -> Item {
        let keys: Vec<String> = obj.keys().cloned().collect();
        let cells: Vec<String> = obj.values().map(json_cell).collect();
        // A server that echoes the request into its records (a debug field, the party) would
        // have the source's credential stored and shown: such a row is quarantined, its
        // credential blanked, and nothing of it is stored as a record.
        if !self.secrets.is_empty()
            && let Some(i) = cells.iter().position(|c| self.secrets.finds_in(c))
        {
            return self.bad(
                location,
                row,
                "record",
                Some(self.secrets.redact(&keys[i])),
                String::new(),
                "holds a credential this source sends (does the server echo its requests?)".into(),
                Json::Object(obj.clone()),
            );
        }
        let (feed, src, units, limits) = (self.feed, self.src, self.units, self.limits);
        let mapper = self.cache.entry(keys.clone()).or_insert_with(|| {
            let unit = src.unit.as_deref().and_then(|u| units.resolve(u));
            Mapper::new(feed, &keys, &src.mapping, unit)
                .map(|m| m.with_limits(limits))
                .map_err(|e| e.to_string())
        });
        let errors = match mapper {
            Ok(m) => match m.map(&cells, self.units) {
                Ok(r) => return Item::Record(r, row),
                Err(errors) => errors,
            },
            Err(reason) => vec![crate::sources::mapping::FieldError {
                field: "record".into(),
                column: None,
                value: String::new(),
                reason: reason.clone(),
            }],
        };
        self.quarantine(location, row, errors, Json::Object(obj.clone()))
    }

    #[allow(clippy::too_many_arguments)]
    fn bad(
        &self,
        location: &str,
        row: i64,
        field: &str,
        column: Option<String>,
        value: String,
        reason: String,
        raw: Json,
    ) -> Item {
        let error = crate::sources::mapping::FieldError {
            field: field.into(),
            column,
            value,
            reason,
        };
        self.quarantine(location, row, vec![error], raw)
    }

    /// The quarantine entries of a bad row, the source's credentials blanked out of its values,
    /// reasons and raw text before anything is cut or stored.
    fn quarantine(
        &self,
        location: &str,
        row: i64,
        mut errors: Vec<crate::sources::mapping::FieldError>,
        mut raw: Json,
    ) -> Item {
        if !self.secrets.is_empty() {
            self.secrets.redact_json(&mut raw);
            for e in &mut errors {
                e.value = self.secrets.redact(&e.value);
                e.reason = self.secrets.redact(&e.reason);
                e.column = e.column.as_deref().map(|c| self.secrets.redact(c));
            }
        }
        Item::Bad(quarantine_items(location, row, errors, raw, self.limits))
    }
}

/// One run of an HTTP source, in two phases. Every page is fetched first, its records spooled
/// to an anonymous temporary file (one page's body in memory at a time); only then does the
/// import begin, so the store's write lock — SQLite has one writer for every process — is never
/// held while a department system takes its time to answer (up to `timeout_secs` per try, with
/// retries). A run that fails while fetching writes nothing.
pub async fn run(run: SourceRun<'_>) -> anyhow::Result<RowCounts> {
    let SourceRun {
        store,
        src,
        units,
        feed,
        obligations,
        limits,
        secrets,
        now,
        progress,
    } = run;
    let http = HttpSource::new(src, limits, secrets.clone())?;
    let state = store.source_state(&src.name).await?;
    let since = state.and_then(|s| s.cursor).filter(|c| !c.is_empty());
    let mut bar = Progress::new(&src.name, progress);
    let spool_err =
        |e: std::io::Error| anyhow!("cannot spool the fetched records to a temporary file: {e}");
    let mut spool = std::io::BufWriter::new(tempfile::tempfile().map_err(spool_err)?);

    let mut page = src.first_page;
    let mut offset: u64 = 0;
    let mut next_cursor: Option<String> = None;
    let mut stopped_early = false;
    let mut fetched: u64 = 0;
    for page_no in 1..=src.max_pages {
        let mut query: Vec<(String, String)> = Vec::new();
        if let (false, Some(s)) = (src.since_param.is_empty(), &since) {
            query.push((src.since_param.clone(), s.clone()));
        }
        match src.pagination {
            Pagination::None => {}
            Pagination::Page => {
                query.push((src.page_param.clone(), page.to_string()));
                query.push((src.page_size_param.clone(), src.page_size.to_string()));
            }
            Pagination::Offset => {
                query.push((src.offset_param.clone(), offset.to_string()));
                query.push((src.limit_param.clone(), src.page_size.to_string()));
            }
            Pagination::Cursor => {
                query.push((src.page_size_param.clone(), src.page_size.to_string()));
                if let Some(c) = &next_cursor {
                    query.push((src.cursor_param.clone(), c.clone()));
                }
            }
        }
        let Page { body, undecodable } = http
            .get(&query)
            .await
            .with_context(|| format!("page {page_no}"))?;
        let records =
            records_of(&body, &src.records_field).with_context(|| format!("page {page_no}"))?;
        for (i, rec) in records.iter().enumerate() {
            // One line per record: its page, its position on the page, the record, and the
            // charset its bytes were not text in, if it holds such (a U+FFFD the page put in).
            let bad = undecodable.filter(|_| holds_replacement(rec));
            serde_json::to_writer(&mut spool, &(page_no, i as i64 + 1, rec, bad))
                .map_err(|e| spool_err(e.into()))?;
            std::io::Write::write_all(&mut spool, b"\n").map_err(spool_err)?;
        }
        fetched += records.len() as u64;
        bar.tick(fetched);
        let n = records.len() as u64;
        let more = match src.pagination {
            Pagination::None => false,
            Pagination::Page => {
                page += 1;
                n >= src.page_size as u64
            }
            Pagination::Offset => {
                offset += n;
                n >= src.page_size as u64
            }
            Pagination::Cursor => {
                next_cursor = at_path(&body, &src.next_cursor_field)
                    .map(json_cell)
                    .filter(|c| !c.is_empty());
                next_cursor.is_some() && n > 0
            }
        };
        if !more {
            break;
        }
        if page_no == src.max_pages {
            tracing::warn!(source = %src.name, pages = page_no, "stopped at max_pages; the rest follows next run");
            stopped_early = true;
        }
    }
    bar.done();

    // Everything is here: now the import, in one transaction.
    let mut spooled = spool.into_inner().map_err(|e| spool_err(e.into_error()))?;
    std::io::Seek::rewind(&mut spooled).map_err(spool_err)?;
    let mut writer =
        Writer::new(&src.name, store.begin_import(&src.name, now).await?).grading(obligations);
    let mut mapper = JsonMapper::new(feed, src, limits, units, secrets);
    let mut newest: Option<DateTime<Utc>> = None;
    let updated_idx = feed.field_index("updated_at");
    for line in std::io::BufRead::lines(std::io::BufReader::new(spooled)) {
        let line = line.map_err(spool_err)?;
        let (page_no, row, rec, bad): (u32, i64, Json, Option<String>) =
            serde_json::from_str(&line)
                .map_err(|e| anyhow!("cannot read back a spooled record: {e}"))?;
        let location = format!("page {page_no}");
        let item = match bad {
            Some(charset) => mapper.bad(
                &location,
                row,
                "record",
                None,
                String::new(),
                format!(
                    "bytes that are not {charset} text in this record (shown as U+FFFD): the page \
                     is read as its Content-Type declares, UTF-8 when it declares nothing; fix \
                     the record at the source, or have the API declare its charset"
                ),
                rec.clone(),
            ),
            None => mapper.map_value(&rec, &location, row),
        };
        if let (Item::Record(r, _), Some(idx)) = (&item, updated_idx)
            && let Some(Value::DateTime(t)) = r.values.get(idx)
        {
            newest = newest.max(Some(*t));
        }
        writer.push(&location, item).await?;
    }
    // Stopped before the last page: unread pages may hold older changes than the newest seen,
    // so the cursor stays where it was and the next run reads from there again.
    let cursor = match (newest, since) {
        (_, s) if stopped_early => s,
        (Some(t), _) => Some(
            t.with_timezone(&chrono_tz::Asia::Shanghai)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        ),
        (None, s) => s,
    };
    Ok(writer.commit(cursor).await?)
}

/// Base64 for the Basic authorization header (RFC 4648 alphabet with padding).
mod base64_lite {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(input: &[u8]) -> String {
        let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
        for chunk in input.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[cfg(test)]
    #[test]
    fn rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(i.as_bytes()), o);
        }
    }
}
