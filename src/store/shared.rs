//! The statements both backends run, written once. `sqlite.rs` and `postgres.rs` each compile
//! this module (and `outbox_sql.rs`, `ops_sql.rs`) as a child of their own, so that `super::Db`
//! is that backend's sqlx database: sqlx's types are per database, and code generic over the
//! database would need a bound for every type it binds or reads. What differs between the
//! backends is the dialect seam below — the items each backend module defines:
//!
//! - `Db`, `Backend` (the store struct, with its `writer` and `reader` pools), `BACKEND_NAME`;
//! - `BEGIN_WRITE`, how a write transaction begins (SQLite: `BEGIN IMMEDIATE`);
//! - `CLOSED_PER_UNIT`, `REVIEWED_BEFORE_PER_UNIT`: the review sampling's counts, each in the
//!   form its backend's planner runs fastest;
//! - how a batch is bound (`BOUND_CHUNK`, `COMPARE_CHUNK`, `JSON_ROWS`, `json_col`, `JsonCol`,
//!   the `JSON_*` subqueries, `HITS`) and the few statements written per backend.

use super::*;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Transaction};

use crate::domain::case_no::CaseNo;
use crate::domain::rule::{RuleId, State};
use crate::records::{Feed, FieldKind, Record, Value, diff};
use crate::store::{
    EvaluatedFinding, Evaluation, EvaluationState, FindingChanges, FindingFilter, FindingPage,
    FindingTransition, Folded, FoldedRepeat, HistoryEntry, Import, QuarantineEntry, QuarantineItem,
    RepeatEntry, RepeatItem, Repeated, RowCounts, Selection, SourceState, StatesWanted, Store,
    StoreError, StoreResult, StoredFinding, StoredRecord,
};

pub(super) type DbRow = <Db as sqlx::Database>::Row;

/// Rows per INSERT statement (one JSON parameter each).
pub(super) const INSERT_ROWS: usize = 2000;

pub(super) fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A quarantine entry, or a newer sighting of the same one: (source, location, row, field,
/// column, value, reason, raw, time, kind). Kind `row`: a row that could not be taken (raw: the
/// row); `repeat`: a row that listed a case again with other values (raw: see [`repeat_raw`]).
/// The latest sighting of a row says what it is.
pub(super) const QUARANTINE_UPSERT: &str = "INSERT INTO quarantine (source, location, row_no, field, column_name, value, reason, raw, first_seen_at, last_seen_at, kind) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) \
     ON CONFLICT (source, location, row_no, field) DO UPDATE SET \
     column_name = excluded.column_name, value = excluded.value, reason = excluded.reason, \
     raw = excluded.raw, last_seen_at = excluded.last_seen_at, kind = excluded.kind";

/// A repeat's details as the quarantine's `raw` keeps them.
pub(super) fn repeat_raw(it: &RepeatItem) -> String {
    serde_json::json!({
        "earlier": { "location": it.earlier_location, "row": it.earlier_row },
        "changes": it.changes,
    })
    .to_string()
}

/// A repeat's reason, for whoever reads the quarantine table itself.
pub(super) fn repeat_reason(it: &RepeatItem) -> String {
    let earlier = if it.earlier_location == it.location {
        format!("row {}", it.earlier_row)
    } else {
        format!("{} row {}", it.earlier_location, it.earlier_row)
    };
    format!(
        "the case is also listed on {earlier}, with another {}; the later row is kept",
        it.fields().join(", ")
    )
}

/// A feed's record columns, in the order inserts bind them.
pub(super) fn columns(feed: Feed) -> String {
    let mut cols = String::from("unit_id, unit_known, case_key, case_no");
    for f in feed.fields() {
        cols.push_str(", ");
        cols.push_str(f.name);
    }
    cols
}

pub(super) fn bind_value(q: &mut QueryBuilder<Db>, kind: FieldKind, v: &Value) {
    // Bind with the column's type even for NULL, so PostgreSQL never has to guess.
    match kind {
        FieldKind::Text | FieldKind::Pii => q.push_bind(match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }),
        FieldKind::Date => q.push_bind(match v {
            Value::Date(d) => Some(*d),
            _ => None,
        }),
        FieldKind::DateTime => q.push_bind(match v {
            Value::DateTime(t) => Some(*t),
            _ => None,
        }),
        FieldKind::Amount => q.push_bind(match v {
            Value::Fen(f) => Some(*f),
            _ => None,
        }),
        FieldKind::Bool => q.push_bind(match v {
            Value::Bool(b) => Some(*b),
            _ => None,
        }),
    };
}

pub(super) fn read_value(row: &DbRow, name: &str, kind: FieldKind) -> StoreResult<Value> {
    Ok(match kind {
        FieldKind::Text | FieldKind::Pii => {
            row.try_get::<Option<String>, _>(name)?.map(Value::Text)
        }
        FieldKind::Date => row.try_get::<Option<NaiveDate>, _>(name)?.map(Value::Date),
        FieldKind::DateTime => row
            .try_get::<Option<DateTime<Utc>>, _>(name)?
            .map(Value::DateTime),
        FieldKind::Amount => row.try_get::<Option<i64>, _>(name)?.map(Value::Fen),
        FieldKind::Bool => row.try_get::<Option<bool>, _>(name)?.map(Value::Bool),
    }
    .unwrap_or(Value::Null))
}

pub(super) fn read_record(feed: Feed, row: &DbRow) -> StoreResult<StoredRecord> {
    let case_no_text: String = row.try_get("case_no")?;
    let case_no = CaseNo::parse(&case_no_text).map_err(|e| {
        StoreError::Corrupt(format!(
            "{}: case number {case_no_text:?}: {e}",
            feed.table()
        ))
    })?;
    let mut values = Vec::with_capacity(feed.fields().len());
    for f in feed.fields() {
        values.push(read_value(row, f.name, f.kind)?);
    }
    Ok(StoredRecord {
        id: row.try_get("id")?,
        record: Record {
            feed,
            unit_id: row.try_get("unit_id")?,
            unit_known: row.try_get("unit_known")?,
            case_no,
            values,
        },
        source: row.try_get("source")?,
        first_seen_at: row.try_get("first_seen_at")?,
        changed_at: row.try_get("changed_at")?,
    })
}

pub(super) struct ImportTx {
    pub(super) tx: Transaction<'static, Db>,
    pub(super) source: String,
    pub(super) at: DateTime<Utc>,
    /// Feeds whose table this import has looked at for a first load.
    pub(super) checked: Vec<Feed>,
    /// Indexes dropped for a first load, as their table's feed and CREATE statement, rebuilt at
    /// commit.
    pub(super) deferred: Vec<(Feed, String)>,
    /// Feeds whose unique (unit, case key) index is among `deferred`: their rows are inserted
    /// without a conflict check, and a key listed twice is folded at commit.
    pub(super) unique_deferred: Vec<Feed>,
    /// The store revision this import stamps on the rows it writes.
    pub(super) rev: i64,
    /// The last batch was all new rows (a first load): try inserting before comparing.
    pub(super) insert_first: bool,
    /// What building a deferred unique key before commit folded (see `fold_now`), added to
    /// what commit returns.
    pub(super) folded: Folded,
    /// A batch failed part-way: nothing more is written and the import cannot commit.
    pub(super) failed: bool,
    /// The store, and whether this import has it to itself (SQLite's exclusive first load).
    pub(super) store: Backend,
    pub(super) exclusive: bool,
    /// Rows held back to be applied together (see `Import::allow_deferred`): the backend's.
    pub(super) stage: Stage,
}

impl ImportTx {
    /// Builds a first load's deferred unique key on `feed`'s table. When the load listed a key
    /// twice the build fails; then every later row of a repeated key is applied, in the order
    /// the rows came, to the first row as an update (with its history entry) or found
    /// unchanged, and deleted, and the key is built again. With `log`, what each later row did
    /// goes there.
    async fn build_unique(
        &mut self,
        feed: Feed,
        sql: &str,
        mut log: Option<&mut Vec<FoldedRepeat>>,
    ) -> StoreResult<Folded> {
        if self.create_unique(sql).await? {
            return Ok(Folded::default());
        }
        let table = feed.table();
        // A plain index over the key (and the row order) to find each repeat's first row.
        sqlx::query(AssertSqlSafe(format!(
            "CREATE INDEX fold_repeats ON {table} (unit_id, case_key, id)"
        )))
        .execute(&mut *self.tx)
        .await?;
        let mut folded = Folded::default();
        let mut after = 0i64;
        loop {
            // The next rows, in the order they came, that repeat an earlier row's key.
            let page = sqlx::query(AssertSqlSafe(format!(
                "SELECT * FROM {table} AS x WHERE x.id > $1 AND EXISTS (SELECT 1 FROM {table} AS y \
                 WHERE y.unit_id = x.unit_id AND y.case_key = x.case_key AND y.id < x.id) ORDER BY x.id LIMIT 500"
            )))
            .bind(after)
            .fetch_all(&mut *self.tx)
            .await?;
            let Some(last) = page.last() else { break };
            after = last.try_get("id")?;
            for row in &page {
                let later = read_record(feed, row)?;
                let fp: Vec<u8> = row.try_get("fingerprint")?;
                let first = sqlx::query(AssertSqlSafe(format!(
                    "SELECT id, fingerprint FROM {table} WHERE unit_id = $1 AND case_key = $2 ORDER BY id LIMIT 1"
                )))
                .bind(&later.record.unit_id)
                .bind(later.record.case_no.key())
                .fetch_one(&mut *self.tx)
                .await?;
                let (first_id, first_fp): (i64, Vec<u8>) =
                    (first.try_get("id")?, first.try_get("fingerprint")?);
                let changes = if first_fp == fp {
                    folded.unchanged += 1;
                    None
                } else {
                    let fp: [u8; 16] = fp.as_slice().try_into().map_err(|_| {
                        StoreError::Corrupt(format!(
                            "{table} row {}: fingerprint of {} bytes",
                            later.id,
                            fp.len()
                        ))
                    })?;
                    folded.updated += 1;
                    Some(self.update(feed, first_id, &later.record, fp).await?)
                };
                if let Some(log) = log.as_deref_mut() {
                    log.push(FoldedRepeat {
                        unit_id: later.record.unit_id.clone(),
                        case_key: later.record.case_no.key().to_string(),
                        changes,
                    });
                }
                sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE id = $1")))
                    .bind(later.id)
                    .execute(&mut *self.tx)
                    .await?;
            }
        }
        sqlx::query("DROP INDEX fold_repeats")
            .execute(&mut *self.tx)
            .await?;
        if !self.create_unique(sql).await? {
            return Err(StoreError::Corrupt(format!(
                "{table}: a case is still listed twice after its repeats were folded"
            )));
        }
        Ok(folded)
    }

    /// Writes `new` over the stored row `id` with its history entry; returns the changes
    /// (`{field: [old, new]}`, masked).
    pub(super) async fn update(
        &mut self,
        feed: Feed,
        id: i64,
        new: &Record,
        fp: [u8; 16],
    ) -> StoreResult<serde_json::Value> {
        let sql = format!("SELECT * FROM {} WHERE id = ", feed.table());
        let mut q = QueryBuilder::<Db>::new(sql);
        q.push_bind(id);
        let row = q.build().fetch_one(&mut *self.tx).await?;
        let old = read_record(feed, &row)?;
        let changes = diff(&old.record, new);

        let mut q = QueryBuilder::<Db>::new(format!("UPDATE {} SET case_no = ", feed.table()));
        q.push_bind(new.case_no.as_written().to_string());
        q.push(", unit_known = ");
        q.push_bind(new.unit_known);
        for (spec, v) in feed.fields().iter().zip(&new.values) {
            q.push(format!(", {} = ", spec.name));
            bind_value(&mut q, spec.kind, v);
        }
        q.push(", fingerprint = ");
        q.push_bind(fp.to_vec());
        q.push(", source = ");
        q.push_bind(self.source.clone());
        q.push(", changed_at = ");
        q.push_bind(self.at);
        q.push(", rev = ");
        q.push_bind(self.rev);
        q.push(" WHERE id = ");
        q.push_bind(id);
        q.build().execute(&mut *self.tx).await?;

        sqlx::query("INSERT INTO record_history (feed, record_id, source, changed_at, changes) VALUES ($1, $2, $3, $4, $5)")
            .bind(feed.table())
            .bind(id)
            .bind(self.source.clone())
            .bind(self.at)
            .bind(changes.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(changes)
    }
}

#[async_trait]
impl Import for ImportTx {
    async fn put_repeats(
        &mut self,
        records: Vec<Record>,
        repeats: &[usize],
    ) -> StoreResult<(RowCounts, Vec<Repeated>)> {
        let put = self.put_rows(records, repeats).await;
        self.failed |= put.is_err();
        put
    }

    async fn fold_repeats(&mut self) -> StoreResult<Vec<FoldedRepeat>> {
        let done = self.fold_now().await;
        self.failed |= done.is_err();
        done
    }

    fn allow_deferred(&mut self) {
        self.stage.allow();
    }

    async fn settle(&mut self) -> StoreResult<RowCounts> {
        let done = self.settle_rows(&[]).await.map(|(counts, _)| counts);
        self.failed |= done.is_err();
        done
    }

    async fn quarantine(&mut self, items: Vec<QuarantineItem>) -> StoreResult<()> {
        let done = self.quarantine_rows(items).await;
        self.failed |= done.is_err();
        done
    }

    async fn repeats(&mut self, items: Vec<RepeatItem>) -> StoreResult<()> {
        let done = self.repeat_rows(items).await;
        self.failed |= done.is_err();
        done
    }

    async fn commit(mut self: Box<Self>, cursor: Option<String>) -> StoreResult<Folded> {
        if self.failed {
            // Part of a failed batch may be written (SQLite's inserts do not undo their own
            // earlier rows, see `insert`): the import goes no further, and dropping it rolls
            // back everything it wrote.
            return Err(StoreError::Aborted(
                "an import whose batch failed is rolled back, not committed",
            ));
        }
        self.commit_rows(cursor).await
    }
}

impl ImportTx {
    async fn put_rows(
        &mut self,
        records: Vec<Record>,
        repeats: &[usize],
    ) -> StoreResult<(RowCounts, Vec<Repeated>)> {
        let mut counts = RowCounts {
            seen: records.len() as u64,
            ..Default::default()
        };
        // What each repeating row did: nothing, until an update says otherwise.
        let mut changed = vec![Repeated::Same; repeats.len()];
        let Some(feed) = records.first().map(|r| r.feed) else {
            return Ok((counts, changed));
        };
        if DEFER_INDEXES && !self.checked.contains(&feed) {
            self.checked.push(feed);
            self.defer_indexes_of_empty(feed).await?;
        }
        counts.unknown_unit = records.iter().filter(|r| !r.unit_known).count() as u64;
        let fps: Vec<[u8; 16]> = records.iter().map(Record::fingerprint).collect();
        if self.unique_deferred.contains(&feed) {
            // A first load whose unique key is built at commit: every row goes in as it is, a
            // repeat included, to be folded into its first row then (or at `fold_repeats`).
            let all: Vec<(&Record, [u8; 16])> = records.iter().zip(fps.iter().copied()).collect();
            counts.inserted = self.insert_all(feed, &all).await?;
            changed.fill(Repeated::Later);
            return Ok((counts, changed));
        }
        self.upsert(feed, records, fps, repeats, &mut counts, &mut changed)
            .await?;
        Ok((counts, changed))
    }

    /// Builds a first load's deferred unique keys now, as commit would, and returns what each
    /// row that repeated an earlier row's case did. The load's other indexes are still built at
    /// commit; a later `put` compares with what is stored, as any import does.
    async fn fold_now(&mut self) -> StoreResult<Vec<FoldedRepeat>> {
        self.send_gathered().await?;
        let mut log = Vec::new();
        let unique: Vec<(Feed, String)> = self
            .deferred
            .iter()
            .filter(|(_, sql)| is_unique_index(sql))
            .cloned()
            .collect();
        if unique.is_empty() {
            return Ok(log);
        }
        self.deferred.retain(|(_, sql)| !is_unique_index(sql));
        self.building(true).await?;
        for (feed, sql) in unique {
            self.unique_deferred.retain(|f| *f != feed);
            let f = self.build_unique(feed, &sql, Some(&mut log)).await?;
            self.folded.updated += f.updated;
            self.folded.unchanged += f.unchanged;
        }
        self.building(false).await?;
        self.insert_first = true;
        Ok(log)
    }

    async fn quarantine_rows(&mut self, items: Vec<QuarantineItem>) -> StoreResult<()> {
        for it in items {
            sqlx::query(QUARANTINE_UPSERT)
                .bind(self.source.clone())
                .bind(it.location)
                .bind(it.row)
                .bind(it.field)
                .bind(it.column)
                .bind(it.value)
                .bind(it.reason)
                .bind(it.raw)
                .bind(self.at)
                .bind("row")
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    async fn repeat_rows(&mut self, items: Vec<RepeatItem>) -> StoreResult<()> {
        for it in items {
            sqlx::query(QUARANTINE_UPSERT)
                .bind(self.source.clone())
                .bind(it.location.clone())
                .bind(it.row)
                .bind("case_no")
                .bind(None::<String>)
                .bind(it.case_no.clone())
                .bind(repeat_reason(&it))
                .bind(repeat_raw(&it))
                .bind(self.at)
                .bind("repeat")
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    async fn commit_rows(mut self: Box<Self>, cursor: Option<String>) -> StoreResult<Folded> {
        // Whoever held rows back settled them (their counts are theirs to report); anything
        // still held is applied before the commit all the same.
        self.settle_rows(&[]).await?;
        self.send_gathered().await?;
        // A first load's indexes, built now in one sorted pass each (see `building`).
        let deferred = std::mem::take(&mut self.deferred);
        let mut loaded: Vec<Feed> = deferred.iter().map(|(f, _)| *f).collect();
        loaded.dedup();
        let mut folded = self.folded;
        if !deferred.is_empty() {
            self.building(true).await?;
            for (feed, sql) in deferred {
                if is_unique_index(&sql) {
                    let f = self.build_unique(feed, &sql, None).await?;
                    folded.updated += f.updated;
                    folded.unchanged += f.unchanged;
                } else {
                    sqlx::query(AssertSqlSafe(sql))
                        .execute(&mut *self.tx)
                        .await?;
                }
            }
            self.building(false).await?;
        }
        if let Some(c) = cursor {
            sqlx::query(
                "INSERT INTO source_state (name, cursor) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor",
            )
            .bind(self.source.clone())
            .bind(c)
            .execute(&mut *self.tx)
            .await?;
        }
        let (store, exclusive) = (self.store.clone(), self.exclusive);
        self.tx.commit().await?;
        store.end_write(exclusive).await;
        store.after_first_load(&loaded).await;
        Ok(folded)
    }
}

/// Whether an index's CREATE statement (as `sqlite_master` keeps it) makes a unique index.
pub(super) fn is_unique_index(sql: &str) -> bool {
    sql.split_whitespace()
        .take(2)
        .map(str::to_ascii_uppercase)
        .eq(["CREATE", "UNIQUE"])
}

pub(super) fn read_state(row: &DbRow) -> StoreResult<SourceState> {
    let n = |c: &str| -> StoreResult<u64> { Ok(row.try_get::<i64, _>(c)?.max(0) as u64) };
    Ok(SourceState {
        name: row.try_get("name")?,
        cursor: row.try_get("cursor")?,
        last_run_at: row.try_get("last_run_at")?,
        last_success_at: row.try_get("last_success_at")?,
        last_error_at: row.try_get("last_error_at")?,
        last_error: row.try_get("last_error")?,
        counts: RowCounts {
            seen: n("rows_seen")?,
            inserted: n("rows_inserted")?,
            updated: n("rows_updated")?,
            unchanged: n("rows_unchanged")?,
            quarantined: n("rows_quarantined")?,
            unknown_unit: n("rows_unknown_unit")?,
            repeated: n("rows_repeated")?,
        },
    })
}

/// A rule as the store keeps it (`R1` …).
pub(super) fn read_rule(row: &DbRow, column: &str) -> StoreResult<RuleId> {
    let text: String = row.try_get(column)?;
    RuleId::parse(&text)
        .ok_or_else(|| StoreError::Corrupt(format!("{column}: {text:?} is not a rule")))
}

/// A finding's state as the store keeps it (`due_soon` …).
pub(super) fn read_finding_state(row: &DbRow, column: &str) -> StoreResult<Option<State>> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| {
        State::parse(&t)
            .ok_or_else(|| StoreError::Corrupt(format!("{column}: {t:?} is not a finding state")))
    })
    .transpose()
}

/// A state that must be there.
pub(super) fn read_state_required(row: &DbRow, column: &str) -> StoreResult<State> {
    read_finding_state(row, column)?
        .ok_or_else(|| StoreError::Corrupt(format!("{column}: no finding state")))
}

pub(super) fn read_finding(row: &DbRow) -> StoreResult<StoredFinding> {
    let facts: String = row.try_get("facts")?;
    Ok(StoredFinding {
        id: row.try_get("id")?,
        key: row.try_get("key")?,
        rule: read_rule(row, "rule")?,
        unit_id: row.try_get("unit_id")?,
        case_key: row.try_get("case_key")?,
        case_no: row.try_get("case_no")?,
        arose_at: row
            .try_get::<Option<DateTime<Utc>>, _>("arose_at")?
            .map_or_else(|| row.try_get("first_seen_at"), Ok)?,
        due: row.try_get("due")?,
        violated: row.try_get("violated")?,
        state: read_state_required(row, "state")?,
        facts: serde_json::from_str(&facts)
            .map_err(|e| StoreError::Corrupt(format!("findings.facts: {e}")))?,
        first_seen_at: row.try_get("first_seen_at")?,
        changed_at: row.try_get("changed_at")?,
        resolved_at: row.try_get("resolved_at")?,
        resolution: row.try_get("resolution")?,
        waived_at: row.try_get("waived_at")?,
        waived_by: row.try_get("waived_by")?,
        waived_reason: row.try_get("waived_reason")?,
    })
}

pub(super) async fn record_transition(
    tx: &mut Transaction<'static, Db>,
    finding_id: i64,
    at: DateTime<Utc>,
    from: Option<&str>,
    to: &str,
    note: Option<&str>,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO finding_history (finding_id, at, from_state, to_state, note) VALUES ($1, $2, $3, $4, $5)")
        .bind(finding_id)
        .bind(at)
        .bind(from.map(str::to_string))
        .bind(to.to_string())
        .bind(note.map(str::to_string))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Inserts new findings, with the first entry of each one's history, a batch per statement: a
/// first evaluation writes every finding at once.
pub(super) async fn insert_findings(
    tx: &mut Transaction<'static, Db>,
    new: &[&EvaluatedFinding],
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
    let opt = |out: &mut String, v: Option<&str>| match v {
        Some(s) => push_json_str(out, s),
        None => out.push_str("null"),
    };
    let cols = [
        JsonCol::Text,
        JsonCol::Text,
        JsonCol::Text,
        JsonCol::Text,
        JsonCol::Text,
        JsonCol::Time,
        JsonCol::Bool,
        JsonCol::Text,
        JsonCol::Text,
        JsonCol::Time,
        JsonCol::Time,
        JsonCol::Text,
        JsonCol::Text,
        JsonCol::Time,
    ];
    let select: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| json_col(i, *c))
        .collect();
    let sql = format!(
        "INSERT INTO findings (key, rule, unit_id, case_key, case_no, due, violated, state, facts, \
         first_seen_at, resolved_at, resolution, link, arose_at, changed_at) \
         SELECT {}, {} FROM {JSON_ROWS} WHERE true RETURNING id, state",
        select.join(", "),
        json_col(9, JsonCol::Time),
    );
    let at_text = time(at);
    for chunk in new.chunks(INSERT_ROWS) {
        let mut json = String::with_capacity(chunk.len() * 600);
        json.push('[');
        for (i, f) in chunk.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            let resolved = f.state == "resolved";
            // Resolved when the data says it was satisfied, else at this evaluation.
            let resolved_at = f.satisfied_at.map_or_else(|| at_text.clone(), time);
            json.push('[');
            for (j, v) in [
                Some(f.key.as_str()),
                Some(f.rule.as_str()),
                Some(f.unit_id.as_str()),
                f.case_key.as_deref(),
                f.case_no.as_deref(),
            ]
            .into_iter()
            .enumerate()
            {
                if j > 0 {
                    json.push(',');
                }
                opt(&mut json, v);
            }
            json.push(',');
            push_json_str(&mut json, &time(f.due));
            json.push_str(if f.violated { ",true," } else { ",false," });
            push_json_str(&mut json, &f.state);
            json.push(',');
            push_json_str(&mut json, &f.facts);
            json.push(',');
            push_json_str(&mut json, &at_text);
            json.push(',');
            opt(&mut json, resolved.then_some(resolved_at.as_str()));
            json.push(',');
            opt(&mut json, resolved.then_some(RESOLVED_BY_DATA));
            json.push(',');
            opt(&mut json, f.link.as_deref());
            json.push(',');
            push_json_str(&mut json, &time(f.arose_at));
            json.push(']');
        }
        json.push(']');
        let rows = sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(json)
            .fetch_all(&mut **tx)
            .await?;
        let mut history = String::with_capacity(rows.len() * 64);
        history.push('[');
        for (i, r) in rows.iter().enumerate() {
            if i > 0 {
                history.push(',');
            }
            let id: i64 = r.try_get("id")?;
            let state: String = r.try_get("state")?;
            history.push_str(&format!("[{id},"));
            push_json_str(&mut history, &at_text);
            history.push(',');
            push_json_str(&mut history, &state);
            history.push(']');
        }
        history.push(']');
        let sql = format!(
            "INSERT INTO finding_history (finding_id, at, from_state, to_state, note) SELECT {}, {}, NULL, {}, NULL FROM {JSON_ROWS} WHERE true",
            json_col(0, JsonCol::Int),
            json_col(1, JsonCol::Time),
            json_col(2, JsonCol::Text),
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(history)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// A digest of a finding's facts as stored, to tell whether they changed.
/// A stored finding as an evaluation compares it with what the rules produce now.
struct Known {
    id: i64,
    state: String,
    due: DateTime<Utc>,
    violated: bool,
    /// Of the facts' text (see [`facts_digest`]).
    facts: [u8; 16],
    /// Produced again by this evaluation.
    seen: bool,
    link: Option<String>,
    arose_at: Option<DateTime<Utc>>,
}

pub(super) fn facts_digest(facts: &str) -> [u8; 16] {
    use sha2::Digest as _;
    let full = sha2::Sha256::digest(facts.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// Why a finding is resolved, for people reading the history.
pub(super) const RESOLVED_BY_DATA: &str = "the data now satisfies the rule";
pub(super) const RESOLVED_GONE: &str = "no longer applies: the data that raised it changed";

#[async_trait]
impl Store for Backend {
    fn backend(&self) -> &'static str {
        BACKEND_NAME
    }

    fn allow_exclusive_first_load(&self) {
        self.set_exclusive_first_load();
    }

    async fn migrate(&self) -> StoreResult<()> {
        let _one_at_a_time = self.migration_guard().await?;
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }

    async fn begin_import(&self, source: &str, at: DateTime<Utc>) -> StoreResult<Box<dyn Import>> {
        let (mut tx, exclusive) = self.begin_write().await?;
        // Bookkeeping times are kept to the second: finer is noise, and it is 20 bytes a row.
        let at =
            chrono::DurationRound::duration_trunc(at, chrono::Duration::seconds(1)).unwrap_or(at);
        let rev: i64 =
            sqlx::query("UPDATE store_clock SET rev = rev + 1 WHERE id = 1 RETURNING rev")
                .fetch_one(&mut *tx)
                .await?
                .try_get("rev")?;
        Ok(Box::new(ImportTx {
            tx,
            source: source.to_string(),
            at,
            checked: Vec::new(),
            deferred: Vec::new(),
            unique_deferred: Vec::new(),
            rev,
            insert_first: false,
            folded: Folded::default(),
            failed: false,
            store: self.clone(),
            exclusive,
            stage: Stage::default(),
        }))
    }

    async fn finish_run(&self, source: &str, run: &crate::store::RunReport) -> StoreResult<()> {
        let c = &run.counts;
        let ok = run.error.is_none();
        sqlx::query(
            "INSERT INTO source_state (name, last_run_at, last_success_at, last_error_at, last_error, \
             rows_seen, rows_inserted, rows_updated, rows_unchanged, rows_quarantined, rows_unknown_unit, rows_repeated) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (name) DO UPDATE SET last_run_at = excluded.last_run_at, \
             last_success_at = COALESCE(excluded.last_success_at, source_state.last_success_at), \
             last_error_at = COALESCE(excluded.last_error_at, source_state.last_error_at), \
             last_error = COALESCE(excluded.last_error, source_state.last_error), \
             rows_seen = excluded.rows_seen, rows_inserted = excluded.rows_inserted, \
             rows_updated = excluded.rows_updated, rows_unchanged = excluded.rows_unchanged, \
             rows_quarantined = excluded.rows_quarantined, rows_unknown_unit = excluded.rows_unknown_unit, \
             rows_repeated = excluded.rows_repeated",
        )
        .bind(source.to_string())
        .bind(run.finished_at)
        .bind(ok.then_some(run.finished_at))
        .bind((!ok).then_some(run.finished_at))
        .bind(run.error.clone())
        .bind(c.seen as i64)
        .bind(c.inserted as i64)
        .bind(c.updated as i64)
        .bind(c.unchanged as i64)
        .bind(c.quarantined as i64)
        .bind(c.unknown_unit as i64)
        .bind(c.repeated as i64)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn source_state(&self, source: &str) -> StoreResult<Option<SourceState>> {
        let row = sqlx::query("SELECT * FROM source_state WHERE name = $1")
            .bind(source.to_string())
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(read_state).transpose()
    }

    async fn source_states(&self) -> StoreResult<Vec<SourceState>> {
        let rows = sqlx::query("SELECT * FROM source_state ORDER BY name")
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(read_state).collect()
    }

    async fn records(&self, feed: Feed, unit: Option<&str>) -> StoreResult<Vec<StoredRecord>> {
        let mut q = QueryBuilder::<Db>::new(format!("SELECT * FROM {}", feed.table()));
        if let Some(u) = unit {
            q.push(" WHERE unit_id = ");
            q.push_bind(u.to_string());
        }
        q.push(" ORDER BY case_key, unit_id");
        let rows = q.build().fetch_all(&self.reader).await?;
        rows.iter().map(|r| read_record(feed, r)).collect()
    }

    async fn records_after(
        &self,
        feed: Feed,
        unit: Option<&str>,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> StoreResult<Vec<StoredRecord>> {
        let mut q = QueryBuilder::<Db>::new(format!("SELECT * FROM {} WHERE true", feed.table()));
        if let Some(u) = unit {
            // The unit as an expression, not a column an index can seek: SQLite would otherwise
            // pick the cases' (unit, closing day) index and sort all of the unit's cases for
            // every page. Walking the (case key, unit) key in order and skipping other units'
            // entries reads the key once over the whole listing.
            q.push(" AND unit_id || '' = ");
            q.push_bind(u.to_string());
        }
        if let Some((u, k)) = after {
            q.push(" AND (case_key, unit_id) > (");
            q.push_bind(k.to_string());
            q.push(", ");
            q.push_bind(u.to_string());
            q.push(")");
        }
        q.push(" ORDER BY case_key, unit_id LIMIT ");
        q.push_bind(limit);
        let rows = q.build().fetch_all(&self.reader).await?;
        rows.iter().map(|r| read_record(feed, r)).collect()
    }

    async fn record_count(&self, feed: Feed) -> StoreResult<i64> {
        let sql = format!("SELECT COUNT(*) AS n FROM {}", feed.table());
        let row = sqlx::query(AssertSqlSafe(sql))
            .fetch_one(&self.reader)
            .await?;
        Ok(row.try_get("n")?)
    }

    async fn history(&self, feed: Feed, record_id: i64) -> StoreResult<Vec<HistoryEntry>> {
        let rows = sqlx::query(
            "SELECT source, changed_at, changes FROM record_history WHERE feed = $1 AND record_id = $2 ORDER BY id",
        )
        .bind(feed.table())
        .bind(record_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let text: String = r.try_get("changes")?;
                Ok(HistoryEntry {
                    source: r.try_get("source")?,
                    changed_at: r.try_get("changed_at")?,
                    changes: serde_json::from_str(&text)
                        .map_err(|e| StoreError::Corrupt(format!("record_history.changes: {e}")))?,
                })
            })
            .collect()
    }

    async fn quarantined(
        &self,
        source: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<QuarantineEntry>> {
        let mut q = QueryBuilder::<Db>::new("SELECT * FROM quarantine WHERE kind = 'row'");
        if let Some(s) = source {
            q.push(" AND source = ");
            q.push_bind(s.to_string());
        }
        q.push(" ORDER BY last_seen_at DESC, source, location, row_no, field LIMIT ");
        q.push_bind(limit);
        let rows = q.build().fetch_all(&self.reader).await?;
        rows.iter()
            .map(|r| {
                Ok(QuarantineEntry {
                    source: r.try_get("source")?,
                    item: QuarantineItem {
                        location: r.try_get("location")?,
                        row: r.try_get("row_no")?,
                        field: r.try_get("field")?,
                        column: r.try_get("column_name")?,
                        value: r.try_get("value")?,
                        reason: r.try_get("reason")?,
                        raw: r.try_get("raw")?,
                    },
                    first_seen_at: r.try_get("first_seen_at")?,
                    last_seen_at: r.try_get("last_seen_at")?,
                })
            })
            .collect()
    }

    async fn repeats(&self, source: Option<&str>, limit: i64) -> StoreResult<Vec<RepeatEntry>> {
        let mut q = QueryBuilder::<Db>::new("SELECT * FROM quarantine WHERE kind = 'repeat'");
        if let Some(s) = source {
            q.push(" AND source = ");
            q.push_bind(s.to_string());
        }
        q.push(" ORDER BY last_seen_at DESC, source, location, row_no LIMIT ");
        q.push_bind(limit);
        let rows = q.build().fetch_all(&self.reader).await?;
        rows.iter()
            .map(|r| {
                let raw: String = r.try_get("raw")?;
                let raw: serde_json::Value = serde_json::from_str(&raw)
                    .map_err(|e| StoreError::Corrupt(format!("quarantine.raw of a repeat: {e}")))?;
                let earlier = &raw["earlier"];
                Ok(RepeatEntry {
                    source: r.try_get("source")?,
                    item: RepeatItem {
                        location: r.try_get("location")?,
                        row: r.try_get("row_no")?,
                        earlier_location: earlier["location"].as_str().unwrap_or("").to_string(),
                        earlier_row: earlier["row"].as_i64().unwrap_or(0),
                        case_no: r.try_get("value")?,
                        changes: raw["changes"].clone(),
                    },
                    first_seen_at: r.try_get("first_seen_at")?,
                    last_seen_at: r.try_get("last_seen_at")?,
                })
            })
            .collect()
    }

    async fn unknown_units(&self) -> StoreResult<Vec<(Feed, String, i64)>> {
        let mut out = Vec::new();
        for feed in Feed::ALL {
            let sql = format!(
                // A literal, so that the partial index of unknown units (migration 0008) serves it.
                "SELECT unit_id, COUNT(*) AS n FROM {} WHERE unit_known = false GROUP BY unit_id ORDER BY unit_id",
                feed.table()
            );
            let rows = sqlx::query(AssertSqlSafe(sql))
                .fetch_all(&self.reader)
                .await?;
            for r in rows {
                out.push((feed, r.try_get("unit_id")?, r.try_get("n")?));
            }
        }
        Ok(out)
    }

    async fn apply_evaluation(&self, ev: &Evaluation<'_>) -> StoreResult<FindingChanges> {
        let (findings, at) = (ev.findings, ev.at);
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        // What is stored, with the facts as a digest: a full pass compares every finding, and
        // the facts are most of a finding's size.
        let mut existing = std::collections::HashMap::new();
        let in_scope: Option<std::collections::HashSet<&str>> = ev
            .scope
            .map(|sc| sc.keys.iter().map(String::as_str).collect());
        let cols = "SELECT id, key, state, due, violated, facts, link, arose_at FROM findings";
        let queries: Vec<(String, Option<String>)> = match ev.scope {
            None => vec![(cols.to_string(), None)],
            Some(sc) => vec![
                (
                    format!(
                        "{cols} WHERE (unit_id, case_key) IN (SELECT u, k FROM ({}$1{}) AS t)",
                        JSON_PAIRS.0, JSON_PAIRS.1
                    ),
                    Some(serde_json::to_string(sc.subjects).unwrap_or_default()),
                ),
                (
                    format!("{cols} WHERE key IN ({}$1{})", JSON_TEXTS.0, JSON_TEXTS.1),
                    Some(serde_json::to_string(sc.keyed).unwrap_or_default()),
                ),
            ],
        };
        for (sql, bind) in queries {
            let mut q = sqlx::query(AssertSqlSafe(sql));
            if let Some(b) = bind {
                q = q.bind(b);
            }
            let mut rows = q.fetch(&mut *tx);
            while let Some(r) = futures_util::TryStreamExt::try_next(&mut rows).await? {
                let key: String = r.try_get("key")?;
                if in_scope.as_ref().is_some_and(|s| !s.contains(key.as_str())) {
                    continue;
                }
                let facts: String = r.try_get("facts")?;
                existing.insert(
                    key,
                    Known {
                        id: r.try_get("id")?,
                        state: r.try_get("state")?,
                        due: r.try_get("due")?,
                        violated: r.try_get("violated")?,
                        facts: facts_digest(&facts),
                        seen: false,
                        link: r.try_get("link")?,
                        arose_at: r.try_get("arose_at")?,
                    },
                );
            }
        }
        let mut changes = FindingChanges::default();
        let mut new: Vec<&EvaluatedFinding> = Vec::new();
        for f in findings {
            let facts = f.facts.as_str();
            match existing.get_mut(&f.key) {
                None => new.push(f),
                Some(known) => {
                    known.seen = true;
                    let state = known.state.as_str();
                    // A person's waiver outlives re-evaluation; only the facts are refreshed.
                    let new_state = if state == "waived" {
                        "waived"
                    } else {
                        f.state.as_str()
                    };
                    if new_state == state
                        && known.due == f.due
                        && known.violated == f.violated
                        && known.facts == facts_digest(facts)
                        && known.link == f.link
                        && known.arose_at == Some(f.arose_at)
                    {
                        changes.unchanged += 1;
                        continue;
                    }
                    let reopened_or_resolved = new_state != state;
                    // Resolved when the data says it was satisfied, else at this evaluation.
                    sqlx::query(
                        "UPDATE findings SET state = $1, due = $2, violated = $3, facts = $4, changed_at = $5, \
                         resolved_at = CASE WHEN $1 = 'resolved' THEN COALESCE($9, resolved_at, $5) WHEN $1 = 'waived' THEN resolved_at ELSE NULL END, \
                         resolution = CASE WHEN $1 = 'resolved' THEN COALESCE(resolution, $6) WHEN $1 = 'waived' THEN resolution ELSE NULL END, \
                         link = $8, arose_at = $10 WHERE id = $7",
                    )
                    .bind(new_state.to_string())
                    .bind(f.due)
                    .bind(f.violated)
                    .bind(facts)
                    .bind(at)
                    .bind(RESOLVED_BY_DATA)
                    .bind(known.id)
                    .bind(f.link.clone())
                    .bind(f.satisfied_at)
                    .bind(f.arose_at)
                    .execute(&mut *tx)
                    .await?;
                    if reopened_or_resolved {
                        let note = (new_state == "resolved").then_some(RESOLVED_BY_DATA);
                        record_transition(&mut tx, known.id, at, Some(state), new_state, note)
                            .await?;
                        changes.transitions += 1;
                    }
                    changes.updated += 1;
                }
            }
        }
        insert_findings(&mut tx, &new, at).await?;
        changes.inserted += new.len() as u64;
        changes.transitions += new.len() as u64;
        for known in existing.values() {
            let (id, state) = (&known.id, known.state.as_str());
            // Not produced because it had not arisen yet at `at` (an evaluation for an earlier
            // time than a finding's facts): it did not go away, it was not there yet.
            if known.seen
                || matches!(state, "resolved" | "waived")
                || known.arose_at.is_some_and(|t| t > at)
            {
                continue;
            }
            sqlx::query(
                "UPDATE findings SET state = 'resolved', changed_at = $1, resolved_at = $1, resolution = $2 WHERE id = $3",
            )
            .bind(at)
            .bind(RESOLVED_GONE)
            .bind(*id)
            .execute(&mut *tx)
            .await?;
            record_transition(
                &mut tx,
                *id,
                at,
                Some(state),
                "resolved",
                Some(RESOLVED_GONE),
            )
            .await?;
            changes.gone += 1;
            changes.transitions += 1;
        }
        if let Some(in_scope) = &in_scope {
            // Outside the scope nothing was re-evaluated, but the clock still moves states on.
            let rows = sqlx::query(
                "SELECT id, key, state, due, violated FROM findings WHERE state IN ('upcoming', 'due_soon') AND due <= $1",
            )
            .bind(at + ev.due_soon)
            .fetch_all(&mut *tx)
            .await?;
            for r in &rows {
                let key: String = r.try_get("key")?;
                if in_scope.contains(key.as_str()) {
                    continue;
                }
                let (id, state): (i64, String) = (r.try_get("id")?, r.try_get("state")?);
                let due: DateTime<Utc> = r.try_get("due")?;
                let violated = r.try_get::<bool, _>("violated")?;
                let new_state = State::open(violated, due, at, ev.due_soon).as_str();
                if new_state == state {
                    continue;
                }
                sqlx::query("UPDATE findings SET state = $1, changed_at = $2 WHERE id = $3")
                    .bind(new_state)
                    .bind(at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                record_transition(&mut tx, id, at, Some(&state), new_state, None).await?;
                changes.updated += 1;
                changes.transitions += 1;
            }
        }
        if ev.scope.is_none() && ev.state.is_some() {
            sqlx::query("DELETE FROM platform_pool")
                .execute(&mut *tx)
                .await?;
        }
        for (feed, id, member) in ev.pool {
            if ev.scope.is_some() {
                sqlx::query("DELETE FROM platform_pool WHERE feed = $1 AND record_id = $2")
                    .bind(feed.table())
                    .bind(*id)
                    .execute(&mut *tx)
                    .await?;
            }
            if *member {
                sqlx::query("INSERT INTO platform_pool (feed, record_id) VALUES ($1, $2)")
                    .bind(feed.table())
                    .bind(*id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if ev.scope.is_none() && ev.state.is_some() {
            sqlx::query("DELETE FROM fallback_seekers")
                .execute(&mut *tx)
                .await?;
        } else if !ev.seekers.is_empty() {
            let pairs: Vec<(&str, &str)> = ev
                .seekers
                .iter()
                .map(|(u, k, _)| (u.as_str(), k.as_str()))
                .collect();
            let sql = format!(
                "DELETE FROM fallback_seekers WHERE (unit_id, case_key) IN (SELECT u, k FROM ({}$1{}) AS t)",
                JSON_PAIRS.0, JSON_PAIRS.1
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(serde_json::to_string(&pairs).unwrap_or_default())
                .execute(&mut *tx)
                .await?;
        }
        let seekers: Vec<(&str, &str, &str)> = ev
            .seekers
            .iter()
            .filter_map(|(u, k, p)| p.as_deref().map(|p| (u.as_str(), k.as_str(), p)))
            .collect();
        for chunk in seekers.chunks(5000) {
            let sql = format!(
                "INSERT INTO fallback_seekers (unit_id, case_key, party_key) SELECT u, k, p FROM ({}$1{}) AS t WHERE true ON CONFLICT DO NOTHING",
                JSON_TRIPLES.0, JSON_TRIPLES.1
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(serde_json::to_string(chunk).unwrap_or_default())
                .execute(&mut *tx)
                .await?;
        }
        if let Some(st) = &ev.state {
            sqlx::query(
                "INSERT INTO evaluation_state (id, rev, as_of, config, mode, evaluated_at) VALUES (1, $1, $2, $3, $4, $5) \
                 ON CONFLICT (id) DO UPDATE SET rev = excluded.rev, as_of = excluded.as_of, config = excluded.config, \
                 mode = excluded.mode, evaluated_at = excluded.evaluated_at",
            )
            .bind(st.rev)
            .bind(st.as_of)
            .bind(st.config.clone())
            .bind(st.mode.clone())
            .bind(st.evaluated_at)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(planner) = ev.planner {
            queue_planned(&mut tx, planner, ev.at).await?;
        }
        tx.commit().await?;
        Ok(changes)
    }

    async fn current_rev(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT rev FROM store_clock WHERE id = 1")
            .fetch_one(&self.reader)
            .await?;
        Ok(row.try_get("rev")?)
    }

    async fn evaluation_state(&self) -> StoreResult<Option<EvaluationState>> {
        let row = sqlx::query(
            "SELECT rev, as_of, config, mode, evaluated_at FROM evaluation_state WHERE id = 1",
        )
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| {
            Ok(EvaluationState {
                rev: r.try_get("rev")?,
                as_of: r.try_get("as_of")?,
                config: r.try_get("config")?,
                mode: r.try_get("mode")?,
                evaluated_at: r.try_get("evaluated_at")?,
            })
        })
        .transpose()
    }

    async fn select_records(
        &self,
        feed: Feed,
        selection: &Selection<'_>,
    ) -> StoreResult<Vec<StoredRecord>> {
        let table = feed.table();
        let mut q = QueryBuilder::<Db>::new(format!("SELECT * FROM {table} WHERE "));
        match selection {
            Selection::All => {
                q.push("true");
            }
            Selection::ChangedSince(rev) => {
                q.push("rev > ");
                q.push_bind(*rev);
            }
            Selection::Keys(keys) => {
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                q.push(format!("case_key IN ({}", JSON_TEXTS.0));
                q.push_bind(serde_json::to_string(keys).unwrap_or_default());
                q.push(format!("{})", JSON_TEXTS.1));
            }
            Selection::KeysExcept(keys, ids) => {
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                q.push(format!("case_key IN ({}", JSON_TEXTS.0));
                q.push_bind(serde_json::to_string(keys).unwrap_or_default());
                q.push(format!("{}) AND id NOT IN ({}", JSON_TEXTS.1, JSON_IDS.0));
                q.push_bind(serde_json::to_string(ids).unwrap_or_default());
                q.push(format!("{})", JSON_IDS.1));
            }
            Selection::Pairs(pairs) => {
                if pairs.is_empty() {
                    return Ok(Vec::new());
                }
                q.push(format!(
                    "(unit_id, case_key) IN (SELECT u, k FROM ({}",
                    JSON_PAIRS.0
                ));
                q.push_bind(serde_json::to_string(pairs).unwrap_or_default());
                q.push(format!("{}) AS p)", JSON_PAIRS.1));
            }
            Selection::Pool => {
                q.push("id IN (SELECT record_id FROM platform_pool WHERE feed = ");
                q.push_bind(table);
                q.push(")");
            }
            Selection::Penalties {
                min_amount_fen,
                cause_like,
                after_id,
                limit,
            } => {
                q.push("decided_on IS NOT NULL AND transfer_decided_on IS NULL AND amount >= ");
                q.push_bind(*min_amount_fen);
                for (i, pattern) in cause_like.iter().enumerate() {
                    q.push(if i == 0 {
                        " AND (cause LIKE "
                    } else {
                        " OR cause LIKE "
                    });
                    q.push_bind(pattern.clone());
                }
                if !cause_like.is_empty() {
                    q.push(")");
                }
                q.push(" AND id > ");
                q.push_bind(*after_id);
                q.push(" ORDER BY id LIMIT ");
                q.push_bind(*limit);
            }
            Selection::Subjects(f) => {
                q.push("(transfer_decided_on IS NOT NULL");
                if f.decided {
                    q.push(" OR decided_on IS NOT NULL");
                }
                if f.major {
                    q.push(" OR major = ");
                    q.push_bind(true);
                }
                if let Some(min) = f.min_amount_fen {
                    q.push(" OR (decided_on IS NOT NULL AND amount >= ");
                    q.push_bind(min);
                    q.push(")");
                }
                q.push(")");
            }
            Selection::DecidedBetween(from, to) => {
                q.push("(transfer_decided_on > ");
                q.push_bind(*from);
                q.push(" AND transfer_decided_on <= ");
                q.push_bind(*to);
                q.push(") OR (decided_on > ");
                q.push_bind(*from);
                q.push(" AND decided_on <= ");
                q.push_bind(*to);
                q.push(")");
            }
            Selection::ClosedBetween(unit, from, to) => {
                q.push("unit_id = ");
                q.push_bind(unit.to_string());
                q.push(" AND closed_on >= ");
                q.push_bind(*from);
                q.push(" AND closed_on <= ");
                q.push_bind(*to);
            }
            Selection::TimeBetween(from, to) => {
                let (times, days): (&[&str], &[&str]) = match feed {
                    Feed::Referrals => (&["entered_at", "transferred_at"], &[]),
                    Feed::Entries => (&["entered_at"], &[]),
                    Feed::Copies => (&[], &["copied_on"]),
                    Feed::Filings => (&[], &["filed_on"]),
                    Feed::Recommendations | Feed::Opinions => {
                        (&[], &["received_on", "issued_on", "replied_on"])
                    }
                    Feed::Cases => (&[], &["transfer_decided_on", "decided_on"]),
                    Feed::Reviews => (&[], &["reviewed_on"]),
                    Feed::Events => (&[], &["held_on"]),
                };
                let day =
                    |t: &DateTime<Utc>| t.with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
                q.push("false");
                for c in times {
                    q.push(format!(" OR ({c} > "));
                    q.push_bind(*from);
                    q.push(format!(" AND {c} <= "));
                    q.push_bind(*to);
                    q.push(")");
                }
                for c in days {
                    q.push(format!(" OR ({c} > "));
                    q.push_bind(day(from));
                    q.push(format!(" AND {c} <= "));
                    q.push_bind(day(to));
                    q.push(")");
                }
            }
        }
        // Decoded as the rows stream in, so a large selection is held once, not twice.
        let mut out = Vec::new();
        let mut rows = q.build().fetch(&self.reader);
        while let Some(r) = futures_util::TryStreamExt::try_next(&mut rows).await? {
            out.push(read_record(feed, &r)?);
        }
        Ok(out)
    }

    async fn case_claims(
        &self,
        keys: Option<&[String]>,
        platform: Feed,
    ) -> StoreResult<Vec<(String, String)>> {
        let rows = match keys {
            Some(keys) => {
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!(
                    "SELECT unit_id, case_key FROM cases WHERE case_key IN ({}$1{})",
                    JSON_TEXTS.0, JSON_TEXTS.1
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(serde_json::to_string(keys).unwrap_or_default())
                    .fetch_all(&self.reader)
                    .await?
            }
            None => {
                let sql = format!(
                    "SELECT unit_id, case_key FROM cases WHERE case_key IN (SELECT case_key FROM {})",
                    platform.table()
                );
                sqlx::query(AssertSqlSafe(sql))
                    .fetch_all(&self.reader)
                    .await?
            }
        };
        rows.iter()
            .map(|r| Ok((r.try_get("unit_id")?, r.try_get("case_key")?)))
            .collect()
    }

    async fn sampling_counts(
        &self,
        quarter_first: NaiveDate,
        quarter_last: NaiveDate,
        year_to_date: bool,
        as_of: NaiveDate,
    ) -> StoreResult<Vec<(String, i64, i64)>> {
        use chrono::Datelike as _;
        let end = quarter_last.min(as_of);
        let from = if year_to_date {
            NaiveDate::from_ymd_opt(quarter_first.year(), 1, 1).unwrap_or(quarter_first)
        } else {
            quarter_first
        };
        // Three counts per unit, each on a reader of its own: closed in the period (from the
        // (unit_id, closed_on) index alone); with the population year to date, less the files
        // reviewed (on or before as_of) before the quarter — from the reviews, which are few, to
        // their cases by key; and the reviews done in the quarter.
        // Each backend counts in its own way (`CLOSED_PER_UNIT`, `REVIEWED_BEFORE_PER_UNIT`).
        let closed = sqlx::query(CLOSED_PER_UNIT)
            .bind(from)
            .bind(end)
            .fetch_all(&self.reader);
        let reviewed_before = async {
            if !year_to_date {
                return Ok(Vec::new());
            }
            sqlx::query(REVIEWED_BEFORE_PER_UNIT)
                .bind(quarter_first)
                .bind(as_of)
                .bind(from)
                .bind(end)
                .fetch_all(&self.reader)
                .await
        };
        // Grouped by an expression: grouping by the column itself, SQLite walks the (unit_id,
        // case_key) key to have the groups in order and looks every review up in the table
        // (44,671 reviews: 0.06 s); one pass over the table and a sort of the few groups, 0.01 s.
        let reviewed = sqlx::query(
            "SELECT unit_id || '' AS unit_id, COUNT(*) AS n FROM reviews WHERE reviewed_on >= $1 AND reviewed_on <= $2 GROUP BY 1",
        )
        .bind(quarter_first)
        .bind(end)
        .fetch_all(&self.reader);
        let (closed, reviewed_before, reviewed) =
            tokio::try_join!(closed, reviewed_before, reviewed)?;
        let mut out: std::collections::BTreeMap<String, (i64, i64)> =
            std::collections::BTreeMap::new();
        for r in &closed {
            // Every unit with cases answers; those that closed none in the period are left out
            // (as from the other counts).
            let n: i64 = r.try_get("n")?;
            if n > 0 {
                out.entry(r.try_get("unit_id")?).or_default().0 = n;
            }
        }
        for r in &reviewed_before {
            out.entry(r.try_get("unit_id")?).or_default().0 -= r.try_get::<i64, _>("n")?;
        }
        for r in &reviewed {
            out.entry(r.try_get("unit_id")?).or_default().1 = r.try_get("n")?;
        }
        Ok(out.into_iter().map(|(u, (p, n))| (u, p, n)).collect())
    }

    async fn save_draw(&self, d: &crate::store::SampleDraw) -> StoreResult<i64> {
        let row = sqlx::query(
            "INSERT INTO sample_draws (unit_id, quarter, seed, as_of, basis, ratio_percent, population_hash, population, \
             target, drawn, drawn_at, drawn_by, focused, focus_max_percent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
        )
        .bind(d.unit_id.clone())
        .bind(d.quarter.clone())
        .bind(d.seed.clone())
        .bind(d.as_of)
        .bind(d.basis.clone())
        .bind(d.ratio_percent as i32)
        .bind(d.population_hash.clone())
        .bind(serde_json::to_string(&d.population).unwrap_or_default())
        .bind(d.target as i32)
        .bind(serde_json::to_string(&d.drawn).unwrap_or_default())
        .bind(d.drawn_at)
        .bind(d.drawn_by.clone())
        .bind(serde_json::to_string(&d.focused).unwrap_or_default())
        .bind(d.focus_max_percent.map(|p| p as i32))
        .fetch_one(&self.writer)
        .await?;
        Ok(row.try_get("id")?)
    }

    async fn draws(
        &self,
        unit_id: &str,
        quarter: &str,
    ) -> StoreResult<Vec<crate::store::SampleDraw>> {
        let rows = sqlx::query(
            "SELECT * FROM sample_draws WHERE unit_id = $1 AND quarter = $2 ORDER BY id DESC",
        )
        .bind(unit_id.to_string())
        .bind(quarter.to_string())
        .fetch_all(&self.reader)
        .await?;
        let list = |r: &DbRow, c: &str| -> StoreResult<Vec<String>> {
            let text: String = r.try_get(c)?;
            serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("sample_draws.{c}: {e}")))
        };
        rows.iter()
            .map(|r| {
                Ok(crate::store::SampleDraw {
                    id: r.try_get("id")?,
                    unit_id: r.try_get("unit_id")?,
                    quarter: r.try_get("quarter")?,
                    seed: r.try_get("seed")?,
                    as_of: r.try_get("as_of")?,
                    basis: r.try_get("basis")?,
                    ratio_percent: i64::from(r.try_get::<i32, _>("ratio_percent")?),
                    focus_max_percent: r
                        .try_get::<Option<i32>, _>("focus_max_percent")?
                        .map(i64::from),
                    population_hash: r.try_get("population_hash")?,
                    population: list(r, "population")?,
                    focused: list(r, "focused")?,
                    target: i64::from(r.try_get::<i32, _>("target")?),
                    drawn: list(r, "drawn")?,
                    drawn_at: r.try_get("drawn_at")?,
                    drawn_by: r.try_get("drawn_by")?,
                })
            })
            .collect()
    }

    async fn referrals_carry_police_decisions(&self) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM referrals WHERE police_decision IS NOT NULL OR police_decided_on IS NOT NULL) AS yes",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(row.try_get("yes")?)
    }

    async fn fallback_seekers(
        &self,
        touched: &[(String, String)],
    ) -> StoreResult<Vec<(String, String)>> {
        if touched.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT unit_id, case_key FROM fallback_seekers WHERE (unit_id, party_key) IN (SELECT u, k FROM ({}$1{}) AS t)",
            JSON_PAIRS.0, JSON_PAIRS.1
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(serde_json::to_string(touched).unwrap_or_default())
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("unit_id")?, r.try_get("case_key")?)))
            .collect()
    }

    async fn findings(&self, filter: &FindingFilter) -> StoreResult<Vec<StoredFinding>> {
        let mut q = QueryBuilder::<Db>::new("SELECT * FROM findings WHERE true");
        if !filter.all {
            q.push(" AND (state IN ('upcoming', 'due_soon', 'overdue')");
            if let Some(t) = filter.closed_after {
                q.push(" OR (state = 'resolved' AND resolved_at > ");
                q.push_bind(t);
                q.push(") OR (state = 'waived' AND waived_at > ");
                q.push_bind(t);
                q.push(")");
            }
            q.push(")");
        }
        push_rule_and_unit(&mut q, filter.rule, filter.unit.as_deref());
        if let Some(id) = filter.id {
            q.push(" AND id = ");
            q.push_bind(id);
        }
        q.push(" ORDER BY due, id");
        let rows = q.build().fetch_all(&self.reader).await?;
        rows.iter().map(read_finding).collect()
    }

    async fn findings_page(&self, page: &FindingPage) -> StoreResult<(u64, Vec<StoredFinding>)> {
        let mut q = QueryBuilder::<Db>::new("SELECT COUNT(*) AS n FROM findings");
        push_page_filter(&mut q, page);
        let total: i64 = q.build().fetch_one(&self.reader).await?.try_get("n")?;
        let mut q = QueryBuilder::<Db>::new("SELECT * FROM findings");
        push_page_filter(&mut q, page);
        q.push(" ORDER BY due, id LIMIT ");
        q.push_bind(i64::try_from(page.limit).unwrap_or(i64::MAX));
        q.push(" OFFSET ");
        q.push_bind(i64::try_from(page.offset).unwrap_or(i64::MAX));
        let rows = q.build().fetch_all(&self.reader).await?;
        let found = rows.iter().map(read_finding).collect::<StoreResult<_>>()?;
        Ok((u64::try_from(total).unwrap_or(0), found))
    }

    async fn finding_rows(
        &self,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<crate::store::FindingRow>> {
        // Read in table order and sorted here: ordered by unit in SQL, SQLite walks an index and
        // looks every row up in the table, several times slower than one pass over it.
        let mut rows = sqlx::query(
            "SELECT unit_id, rule, case_no, arose_at, due, violated, state, first_seen_at, resolved_at, waived_at, resolution \
             FROM findings WHERE arose_at <= $2 AND (state IN ('upcoming', 'due_soon', 'overdue') \
             OR arose_at > $1 OR resolved_at > $1 OR waived_at > $1) ORDER BY id",
        )
        .bind(since)
        .bind(at)
        .fetch(&self.reader);
        let mut out = Vec::new();
        while let Some(r) = futures_util::TryStreamExt::try_next(&mut rows).await? {
            let first_seen_at: DateTime<Utc> = r.try_get("first_seen_at")?;
            out.push(crate::store::FindingRow {
                unit_id: r.try_get("unit_id")?,
                rule: read_rule(&r, "rule")?,
                case_no: r.try_get("case_no")?,
                due: r.try_get("due")?,
                violated: r.try_get("violated")?,
                state: read_state_required(&r, "state")?,
                arose_at: r
                    .try_get::<Option<DateTime<Utc>>, _>("arose_at")?
                    .unwrap_or(first_seen_at),
                first_seen_at,
                resolved_at: r.try_get("resolved_at")?,
                waived_at: r.try_get("waived_at")?,
                resolution: r.try_get("resolution")?,
            });
        }
        // By unit and due time; the sort is stable, so ties keep the order of their ids.
        out.sort_by(|a, b| a.unit_id.cmp(&b.unit_id).then(a.due.cmp(&b.due)));
        Ok(out)
    }

    async fn year_counts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<crate::store::YearCount>> {
        let rows = sqlx::query(
            // Met: resolved by the deadline, at the data's time (a late reply is late however
            // soon liandong saw it), or no longer applying. Missed: a violation, still open, or
            // resolved after the deadline. Every row's deadline is at or before `to`.
            "SELECT unit_id, rule, COUNT(*) AS due_n, \
             SUM(CASE WHEN state = 'resolved' AND violated = FALSE AND (resolved_at <= due OR resolution = $3) THEN 1 ELSE 0 END) AS on_time_n, \
             SUM(CASE WHEN state = 'waived' THEN 0 \
                      WHEN violated = TRUE THEN 1 \
                      WHEN state IN ('upcoming', 'due_soon', 'overdue') THEN 1 \
                      WHEN state = 'resolved' AND resolved_at > due AND resolution <> $3 THEN 1 ELSE 0 END) AS late_n, \
             SUM(CASE WHEN state = 'waived' THEN 1 ELSE 0 END) AS waived_n \
             FROM findings WHERE due > $1 AND due <= $2 GROUP BY unit_id, rule ORDER BY unit_id, rule",
        )
        .bind(from)
        .bind(to)
        .bind(RESOLVED_GONE)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(crate::store::YearCount {
                    unit_id: r.try_get("unit_id")?,
                    rule: r.try_get("rule")?,
                    due: r.try_get("due_n")?,
                    on_time: r.try_get::<Option<i64>, _>("on_time_n")?.unwrap_or(0),
                    late: r.try_get::<Option<i64>, _>("late_n")?.unwrap_or(0),
                    waived: r.try_get::<Option<i64>, _>("waived_n")?.unwrap_or(0),
                })
            })
            .collect()
    }

    async fn save_snapshot(
        &self,
        period: &str,
        rows: &[(String, String)],
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        sqlx::query("DELETE FROM report_snapshots WHERE period = $1")
            .bind(period.to_string())
            .execute(&mut *tx)
            .await?;
        for (unit, data) in rows {
            sqlx::query("INSERT INTO report_snapshots (period, unit_id, data, taken_at) VALUES ($1, $2, $3, $4)")
                .bind(period.to_string())
                .bind(unit.clone())
                .bind(data.clone())
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn snapshot_periods(&self, prefix: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT period FROM report_snapshots WHERE substr(period, 1, length($1)) = $1 \
             ORDER BY period DESC",
        )
        .bind(prefix.to_string())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("period")?)).collect()
    }

    async fn snapshot(&self, period: &str) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT unit_id, data FROM report_snapshots WHERE period = $1 ORDER BY unit_id",
        )
        .bind(period.to_string())
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("unit_id")?, r.try_get("data")?)))
            .collect()
    }

    async fn finding_history(&self, id: i64) -> StoreResult<Vec<FindingTransition>> {
        let rows = sqlx::query("SELECT at, from_state, to_state, note FROM finding_history WHERE finding_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(FindingTransition {
                    at: r.try_get("at")?,
                    from: read_finding_state(r, "from_state")?,
                    to: read_state_required(r, "to_state")?,
                    note: r.try_get("note")?,
                })
            })
            .collect()
    }

    async fn waive_finding(
        &self,
        id: i64,
        by: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let row = sqlx::query("SELECT state FROM findings WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(false) };
        let state: String = row.try_get("state")?;
        if state == "waived" {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE findings SET state = 'waived', waived_at = $1, waived_by = $2, waived_reason = $3, changed_at = $1 WHERE id = $4",
        )
        .bind(at)
        .bind(by.to_string())
        .bind(reason.to_string())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let note = format!("waived by {by}: {reason}");
        record_transition(&mut tx, id, at, Some(&state), "waived", Some(&note)).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// The `WHERE` of a page of findings: the states wanted as they stood at the page's instant,
/// as [`StoredFinding::state_at`] and [`State::open`] judge them, in SQL.
fn push_page_filter(q: &mut QueryBuilder<Db>, page: &FindingPage) {
    let at = page.at;
    // The end of the due-soon window, kept within what the stores write (a window of "never"
    // is the year 9999).
    let never = DateTime::<Utc>::from_naive_utc_and_offset(
        NaiveDate::from_ymd_opt(9999, 12, 31)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or_default(),
        Utc,
    );
    let soon = at
        .checked_add_signed(page.due_soon)
        .map_or(never, |t| t.min(never));
    q.push(" WHERE COALESCE(arose_at, first_seen_at) <= ");
    q.push_bind(at);
    let open = |q: &mut QueryBuilder<Db>| {
        q.push(" AND (state IN ('upcoming', 'due_soon', 'overdue') OR (state = 'resolved' AND resolved_at > ");
        q.push_bind(at);
        q.push(") OR (state = 'waived' AND waived_at > ");
        q.push_bind(at);
        q.push("))");
    };
    match page.states {
        StatesWanted::All => {}
        StatesWanted::Open => open(q),
        StatesWanted::One(State::Overdue) => {
            open(q);
            q.push(" AND (violated OR due <= ");
            q.push_bind(at);
            q.push(")");
        }
        StatesWanted::One(State::DueSoon) => {
            open(q);
            q.push(" AND NOT violated AND due > ");
            q.push_bind(at);
            q.push(" AND due <= ");
            q.push_bind(soon);
        }
        StatesWanted::One(State::Upcoming) => {
            open(q);
            q.push(" AND NOT violated AND due > ");
            q.push_bind(soon);
        }
        StatesWanted::One(State::Resolved) => {
            q.push(" AND state = 'resolved' AND (resolved_at IS NULL OR resolved_at <= ");
            q.push_bind(at);
            q.push(")");
        }
        StatesWanted::One(State::Waived) => {
            q.push(" AND state = 'waived' AND (waived_at IS NULL OR waived_at <= ");
            q.push_bind(at);
            q.push(")");
        }
        StatesWanted::One(State::Recorded) => {
            q.push(" AND state = 'recorded'");
        }
    }
    push_rule_and_unit(q, page.rule, page.unit.as_deref());
}

/// The findings of one rule and one unit, when given.
fn push_rule_and_unit(q: &mut QueryBuilder<Db>, rule: Option<RuleId>, unit: Option<&str>) {
    if let Some(r) = rule {
        q.push(" AND rule = ");
        q.push_bind(r.to_string());
    }
    if let Some(u) = unit {
        q.push(" AND unit_id = ");
        q.push_bind(u.to_string());
    }
}
