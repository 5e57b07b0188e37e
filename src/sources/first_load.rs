//! A file's first load into an empty SQLite store, written through SQLite's own API.
//!
//! The usual import binds each chunk of rows on one thread and hands it to sqlx's SQLite thread,
//! which copies every value into SQLite: on a million-case load that hand-over costs more than
//! SQLite's inserting itself. Here one thread reads and maps the file (and fingerprints the
//! rows) while this one inserts them through one prepared single-row statement, with the
//! table's secondary indexes dropped and built at the end, in rollback-journal mode so that the
//! pages go to the file once (`liandong sync` only: see `Store::allow_exclusive_first_load`).
//!
//! It gives way to the usual import, which then does the whole load, when SQLite does not let
//! it have the file to itself (another connection has it open), when the table is not empty
//! after all, or when the file lists a case twice (the usual import folds the later row into
//! the first as an update). Any other error rolls everything back and fails the import, as
//! the usual import does.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};

use crate::config::SourceConfig;
use crate::obligations::ObligationsConfig;
use crate::records::{Feed, Record, Value};
use crate::sources::file::{RowMapper, read_rows};
use crate::sources::{Item, Progress};
use crate::store::{
    QUARANTINE_UPSERT, QuarantineItem, RowCounts, cheap_to_keep, columns, is_unique_index,
    push_value_text,
};
use crate::units::Units;

/// Rows a message from the reader to the writer.
const CHUNK: usize = 1000;
/// Messages the reader may be ahead.
const QUEUE: usize = 8;

/// How a first load ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Committed.
    Loaded(RowCounts),
    /// Nothing written: the usual import is to load the file (why, for the log).
    GiveWay(&'static str),
}

/// One first load: the store's file and what the usual import would be given.
pub struct FirstLoad<'a> {
    pub db: &'a Path,
    pub src: &'a SourceConfig,
    pub units: &'a Units,
    pub feed: Feed,
    pub obligations: &'a ObligationsConfig,
    pub now: DateTime<Utc>,
    pub path: &'a Path,
    pub progress: bool,
}

/// A row from the reader: a record with its fingerprint, or a bad row's quarantine entries.
enum Row {
    Record(Record, [u8; 16]),
    Bad(Vec<QuarantineItem>),
}

/// Loads the file; blocking (run it on a blocking thread).
pub fn load(job: &FirstLoad<'_>) -> anyhow::Result<Outcome> {
    let conn = Connection::open_with_flags(
        job.db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open the store {}", job.db.display()))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // Leaving WAL mode is SQLite's own test that nobody else has the file open; it does not wait.
    match conn.query_row("PRAGMA journal_mode = DELETE", [], |r| {
        r.get::<_, String>(0)
    }) {
        Ok(mode) if mode.eq_ignore_ascii_case("delete") => {}
        _ => return Ok(Outcome::GiveWay("another connection has the store open")),
    }
    let guard = BackToWal(&conn);
    let outcome = load_alone(&conn, job);
    drop(guard);
    outcome
}

/// Whatever happens after the switch: anything not committed is rolled back and the file goes
/// back to WAL mode (a killed process leaves a hot journal, which SQLite rolls back, and the
/// store's next writer asks for WAL mode).
struct BackToWal<'c>(&'c Connection);

impl Drop for BackToWal<'_> {
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            let _ = self.0.execute_batch("ROLLBACK");
        }
        if let Err(e) = self
            .0
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
        {
            tracing::warn!(error = %e, "the store stays in rollback-journal mode after a first load; its next writer asks for WAL mode again");
        }
    }
}

fn load_alone(conn: &Connection, job: &FirstLoad<'_>) -> anyhow::Result<Outcome> {
    let table = job.feed.table();
    // One transaction, so syncing fully costs a few flushes; the sorts of the index builds
    // spill to a temporary file instead of growing the process.
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA cache_size = -16000; PRAGMA temp_store = file; BEGIN IMMEDIATE",
    )?;
    let empty: bool = conn.query_row(
        &format!("SELECT NOT EXISTS (SELECT 1 FROM {table})"),
        [],
        |r| r.get(0),
    )?;
    if !empty {
        return Ok(Outcome::GiveWay("the table holds rows"));
    }
    let rev: i64 = conn.query_row(
        "UPDATE store_clock SET rev = rev + 1 WHERE id = 1 RETURNING rev",
        [],
        |r| r.get(0),
    )?;
    // The indexes to build at the end, the unique ones first (as the usual import does).
    let mut deferred: Vec<String> = Vec::new();
    {
        let mut st = conn.prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL",
        )?;
        // Read them all first: SQLite does not drop an index while a statement reads the schema.
        let indexes = st
            .query_map([table], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        for (name, sql) in indexes {
            if cheap_to_keep(&sql) {
                continue;
            }
            conn.execute_batch(&format!("DROP INDEX \"{name}\""))?;
            if is_unique_index(&sql) {
                deferred.insert(0, sql);
            } else {
                deferred.push(sql);
            }
        }
    }

    let at = chrono::DurationRound::duration_trunc(job.now, chrono::Duration::seconds(1))
        .unwrap_or(job.now)
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
    let counts = std::thread::scope(|scope| -> anyhow::Result<Option<RowCounts>> {
        let (tx, rx) = mpsc::sync_channel::<Vec<Row>>(QUEUE);
        let reader = scope.spawn(move || read(job, tx));
        let written = write(conn, job, rev, &at, rx);
        // The reader stops when the writer has (its channel is gone); its own error, if any,
        // is the one to report.
        let read = reader
            .join()
            .map_err(|_| anyhow::anyhow!("the file reader thread failed"))?;
        read?;
        written
    })?;
    let Some(counts) = counts else {
        return Ok(Outcome::GiveWay("the file lists a case twice"));
    };

    let helpers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    conn.execute_batch(&format!(
        "PRAGMA cache_size = -4000; PRAGMA threads = {helpers}"
    ))?;
    for sql in &deferred {
        match conn.execute_batch(sql) {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => {
                return Ok(Outcome::GiveWay("the file lists a case twice"));
            }
            Err(e) => return Err(e.into()),
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok(Outcome::Loaded(counts))
}

/// Reads and maps the file, fingerprinting each record; sends chunks to the writer.
fn read(job: &FirstLoad<'_>, tx: mpsc::SyncSender<Vec<Row>>) -> anyhow::Result<()> {
    let mut mapper = RowMapper::new(job.feed, job.src, job.units, job.path.display().to_string());
    let mut chunk = Vec::with_capacity(CHUNK);
    read_rows(job.path, job.src, &mut |row, cells| {
        match mapper.row(row, cells)? {
            Some(Item::Record(mut r)) => {
                job.obligations.fill_grade(&mut r);
                let fp = r.fingerprint();
                chunk.push(Row::Record(r, fp));
            }
            Some(Item::Bad(items)) => chunk.push(Row::Bad(items)),
            None => {}
        }
        if chunk.len() >= CHUNK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
            // The receiver is gone only when the writer stopped; stop reading then.
            tx.send(full)
                .map_err(|_| anyhow::anyhow!("the writer stopped"))?;
        }
        Ok(())
    })?;
    mapper.finish()?;
    if !chunk.is_empty() {
        let _ = tx.send(chunk);
    }
    Ok(())
}

/// Inserts what the reader sends; `None` when a row repeats a key that a unique constraint
/// (one that cannot be dropped) already holds.
fn write(
    conn: &Connection,
    job: &FirstLoad<'_>,
    rev: i64,
    at: &str,
    rx: mpsc::Receiver<Vec<Row>>,
) -> anyhow::Result<Option<RowCounts>> {
    let fields = job.feed.fields();
    let columns = columns(job.feed);
    let per_row = 4 + fields.len() + 1;
    let marks: Vec<String> = (1..=per_row + 3).map(|i| format!("?{i}")).collect();
    let (source_at, at_at, rev_at) = (per_row + 1, per_row + 2, per_row + 3);
    let mut insert = conn.prepare(&format!(
        "INSERT OR FAIL INTO {} ({columns}, fingerprint, source, first_seen_at, changed_at, rev) VALUES ({}, ?{at_at}, ?{rev_at})",
        job.feed.table(),
        marks[..per_row + 2].join(", "),
    ))?;
    // The values every row shares stay bound from one row to the next.
    insert.raw_bind_parameter(source_at, job.src.name.as_str())?;
    insert.raw_bind_parameter(at_at, at)?;
    insert.raw_bind_parameter(rev_at, rev)?;
    // `$N` parameters, numbered in the order they first appear, bind by position here too.
    let mut quarantine = conn.prepare(QUARANTINE_UPSERT)?;
    quarantine.raw_bind_parameter(1, job.src.name.as_str())?;
    quarantine.raw_bind_parameter(9, at)?;

    let mut counts = RowCounts::default();
    let mut bar = Progress::new(
        &format!("{} {}", job.src.name, job.path.display()),
        job.progress,
    );
    let mut text = String::with_capacity(40);
    for chunk in rx {
        for row in chunk {
            counts.seen += 1;
            match row {
                Row::Record(r, fp) => {
                    insert.raw_bind_parameter(1, r.unit_id.as_str())?;
                    insert.raw_bind_parameter(2, r.unit_known)?;
                    insert.raw_bind_parameter(3, r.case_no.key())?;
                    insert.raw_bind_parameter(4, r.case_no.as_written())?;
                    for (i, v) in r.values.iter().enumerate() {
                        let at = 5 + i;
                        match v {
                            Value::Null => insert.raw_bind_parameter(at, rusqlite::types::Null)?,
                            Value::Text(s) => insert.raw_bind_parameter(at, s.as_str())?,
                            Value::Date(_) | Value::DateTime(_) => {
                                text.clear();
                                push_value_text(&mut text, v);
                                insert.raw_bind_parameter(at, text.as_str())?
                            }
                            Value::Fen(f) => insert.raw_bind_parameter(at, *f)?,
                            Value::Bool(b) => insert.raw_bind_parameter(at, *b)?,
                        }
                    }
                    insert.raw_bind_parameter(per_row, &fp[..])?;
                    match insert.raw_execute() {
                        Ok(_) => {}
                        Err(e) if is_unique_violation(&e) => return Ok(None),
                        Err(e) => return Err(e.into()),
                    }
                    counts.inserted += 1;
                    counts.unknown_unit += u64::from(!r.unit_known);
                }
                Row::Bad(items) => {
                    counts.quarantined += 1;
                    for it in items {
                        quarantine.raw_bind_parameter(2, it.location.as_str())?;
                        quarantine.raw_bind_parameter(3, it.row)?;
                        quarantine.raw_bind_parameter(4, it.field.as_str())?;
                        quarantine.raw_bind_parameter(5, it.column.as_deref())?;
                        quarantine.raw_bind_parameter(6, it.value.as_str())?;
                        quarantine.raw_bind_parameter(7, it.reason.as_str())?;
                        quarantine.raw_bind_parameter(8, it.raw.as_str())?;
                        quarantine.raw_execute()?;
                    }
                }
            }
        }
        bar.tick(counts.seen);
    }
    bar.done();
    Ok(Some(counts))
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}
