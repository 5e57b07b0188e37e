//! What people record by hand (`liandong record …`): procuratorial recommendations (检察建议) and
//! opinions (检察意见) with their receipt and reply, case-file reviews (案卷评查), joint meetings
//! and trainings. A record goes into the store exactly like a
//! row of the `recommendations` / `opinions` feed, keyed by (addressee unit, document number):
//! recording the same document again updates it (its history kept), and only the fields given
//! change — so the reply can be recorded weeks after the receipt.

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::calendar::Calendar;
use crate::domain::case_no::CaseNo;
use crate::domain::values::parse_date;
use crate::records::Field;
use crate::records::{Feed, Record, Value};
use crate::store::{RowCounts, Store};
use crate::units::Units;

/// The fields of one recommendation or opinion as given on the command line.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DocumentArgs {
    /// The unit it is addressed to, which owes the reply (id, name or alias).
    #[arg(long)]
    pub unit: String,
    /// The document's own number (e.g. 稻检行建〔2025〕3号).
    #[arg(long = "no")]
    pub number: String,
    /// The case it concerns (案号), if any.
    #[arg(long = "case")]
    pub case_ref: Option<String>,
    /// What it is about (建议事项).
    #[arg(long)]
    pub title: Option<String>,
    /// The day the procuratorate issued it.
    #[arg(long)]
    pub issued: Option<String>,
    /// The day the unit received it; the reply is due two months later.
    #[arg(long)]
    pub received: Option<String>,
    /// The day the unit replied in writing.
    #[arg(long)]
    pub replied: Option<String>,
    /// How the unit replied (回复情况).
    #[arg(long)]
    pub reply: Option<String>,
}

/// What was stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub record: Record,
    pub counts: RowCounts,
    /// The reply's due day, when a receipt (or issue) day is known.
    pub due: Option<NaiveDate>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("unit {0:?} is not configured (see [[units]] in the configuration)")]
    UnknownUnit(String),
    #[error("--no {0:?} is not a document number: {1}")]
    BadNumber(String, String),
    #[error("--{field} {value:?} is not a date: expected YYYY-MM-DD (2025-10-13)")]
    BadDate { field: &'static str, value: String },
    #[error("{0} is new: give the day it was received (--received) or at least issued (--issued)")]
    NoDate(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the reply ({replied}) cannot be earlier than the receipt ({received})")]
    ReplyBeforeReceipt {
        received: NaiveDate,
        replied: NaiveDate,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The stored record of `feed` with this unit and number, or a blank one (`true`: new).
async fn stored_or_new(
    store: &dyn Store,
    feed: Feed,
    unit_id: &str,
    number: &CaseNo,
) -> Result<(Record, bool), RecordError> {
    let existing = store
        .records(feed, Some(unit_id))
        .await?
        .into_iter()
        .find(|s| s.record.case_no.key() == number.key())
        .map(|s| s.record);
    Ok(match existing {
        Some(r) => (r, false),
        None => (
            Record {
                feed,
                unit_id: unit_id.to_owned(),
                unit_known: true,
                case_no: number.clone(),
                values: vec![Value::Null; feed.fields().len()],
            },
            true,
        ),
    })
}

/// Writes one record as an import of its own, by `record:<who>`.
async fn put(
    store: &dyn Store,
    record: &Record,
    by: &str,
    now: DateTime<Utc>,
) -> Result<RowCounts, RecordError> {
    let mut import = store.begin_import(&format!("record:{by}"), now).await?;
    let mut counts = import.put(vec![record.clone()]).await?;
    import.commit(None).await?.apply(&mut counts);
    Ok(counts)
}

fn date_arg(flag: &'static str, text: &str) -> Result<NaiveDate, RecordError> {
    parse_date(text).map_err(|_| RecordError::BadDate {
        field: flag,
        value: text.to_owned(),
    })
}

/// Stores one recommendation (`Feed::Recommendations`) or opinion (`Feed::Opinions`), merging
/// the given fields into the stored document with the same unit and number. `months` is the
/// reply period (`r7_months` / `r8_months`), for the due day shown back.
#[allow(clippy::too_many_arguments)]
pub async fn record_document(
    store: &dyn Store,
    units: &Units,
    cal: &Calendar,
    feed: Feed,
    months: u32,
    args: &DocumentArgs,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Recorded, RecordError> {
    let unit = units
        .resolve(&args.unit)
        .ok_or_else(|| RecordError::UnknownUnit(args.unit.clone()))?;
    let number = CaseNo::parse(&args.number)
        .map_err(|e| RecordError::BadNumber(args.number.clone(), e.to_string()))?;
    let (mut record, is_new) = stored_or_new(store, feed, &unit.id, &number).await?;
    for (field, text) in [
        (Field::CaseRef, &args.case_ref),
        (Field::Title, &args.title),
        (Field::Reply, &args.reply),
    ] {
        if let Some(t) = text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            record.set(field, Value::Text(t.to_owned()));
        }
    }
    for (field, flag, text) in [
        (Field::IssuedOn, "issued", &args.issued),
        (Field::ReceivedOn, "received", &args.received),
        (Field::RepliedOn, "replied", &args.replied),
    ] {
        if let Some(t) = text {
            record.set(field, Value::Date(date_arg(flag, t)?));
        }
    }
    let date = |field: Field| match record.get(field) {
        Value::Date(d) => Some(*d),
        _ => None,
    };
    let start = date(Field::ReceivedOn).or_else(|| date(Field::IssuedOn));
    if is_new && start.is_none() {
        return Err(RecordError::NoDate(args.number.clone()));
    }
    if let (Some(received), Some(replied)) = (start, date(Field::RepliedOn))
        && replied < received
    {
        return Err(RecordError::ReplyBeforeReceipt { received, replied });
    }
    let due = start.map(|d| cal.add_months(d, months));
    let counts = put(store, &record, by, now).await?;
    Ok(Recorded {
        record,
        counts,
        due,
    })
}

/// A case-file review (案卷评查) as given on the command line.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReviewArgs {
    /// The unit whose case file was reviewed (id, name or alias).
    #[arg(long)]
    pub unit: String,
    /// The case number of the file (案号).
    #[arg(long = "case")]
    pub case_no: String,
    /// The day of the review (评查日期).
    #[arg(long)]
    pub date: String,
    /// The reviewers, at least two (评查人), e.g. "张三、李四".
    #[arg(long)]
    pub reviewers: String,
    /// The score (得分), e.g. 92.5.
    #[arg(long)]
    pub score: Option<String>,
    /// The grade (等次): 优秀, 合格 or 不合格 (default: from the score by the configured
    /// cut-offs; any veto item makes it 不合格).
    #[arg(long)]
    pub grade: Option<String>,
    /// Veto items found (否决项).
    #[arg(long)]
    pub veto: Option<String>,
    /// The file should have been transferred as a suspected crime (应移送未移送).
    #[arg(long)]
    pub should_transfer: bool,
}

/// Stores one review (`Feed::Reviews`), keyed by the unit and the file's case number; recording
/// the same file again updates its review.
pub async fn record_review(
    store: &dyn Store,
    units: &Units,
    grading: &crate::config::ObligationsConfig,
    args: &ReviewArgs,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(Record, RowCounts), RecordError> {
    let feed = Feed::Reviews;
    let unit = units
        .resolve(&args.unit)
        .ok_or_else(|| RecordError::UnknownUnit(args.unit.clone()))?;
    let number = CaseNo::parse(&args.case_no)
        .map_err(|e| RecordError::BadNumber(args.case_no.clone(), e.to_string()))?;
    let (mut record, _) = stored_or_new(store, feed, &unit.id, &number).await?;
    record.set(
        Field::ReviewedOn,
        Value::Date(date_arg("date", &args.date)?),
    );
    record.set(
        Field::Reviewers,
        Value::Text(args.reviewers.trim().to_owned()),
    );
    if let Some(score) = &args.score {
        let fen = crate::domain::values::parse_amount_fen(score).map_err(|_| {
            RecordError::Invalid(format!("--score {score:?} is not a number (92 or 92.5)"))
        })?;
        record.set(Field::Score, Value::Fen(fen));
    }
    for (field, text) in [(Field::Grade, &args.grade), (Field::Veto, &args.veto)] {
        if let Some(t) = text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            record.set(field, Value::Text(t.to_owned()));
        }
    }
    record.set(Field::ShouldTransfer, Value::Bool(args.should_transfer));
    grading.fill_grade(&mut record);
    feed.check(&record)
        .map_err(|(_, reason)| RecordError::Invalid(reason))?;
    let counts = put(store, &record, by, now).await?;
    Ok((record, counts))
}

/// A joint meeting or a training as given on the command line.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EventArgs {
    /// The day it was held.
    #[arg(long)]
    pub date: String,
    /// What it was (名称).
    #[arg(long)]
    pub title: Option<String>,
    /// Its own number (纪要编号); default: the kind and the day, e.g. meeting-2025-03-12.
    #[arg(long = "no")]
    pub number: Option<String>,
    /// The organising unit (id, name or alias); default: the liaison office. A training of one
    /// unit names that unit.
    #[arg(long)]
    pub unit: Option<String>,
    /// The units that took part (参会单位).
    #[arg(long)]
    pub units: Option<String>,
    /// Who took part, or how many (参会人员).
    #[arg(long)]
    pub attendees: Option<String>,
    /// A reference to the minutes (会议纪要).
    #[arg(long)]
    pub minutes: Option<String>,
}

/// Stores one event (`Feed::Events`) of `kind` (`meeting` or `training`).
pub async fn record_event(
    store: &dyn Store,
    units: &Units,
    kind: &str,
    args: &EventArgs,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(Record, RowCounts), RecordError> {
    let feed = Feed::Events;
    let unit = match &args.unit {
        Some(u) => units
            .resolve(u)
            .ok_or_else(|| RecordError::UnknownUnit(u.clone()))?,
        None => units
            .all()
            .iter()
            .find(|u| u.kind == crate::config::UnitKind::Liaison)
            .ok_or_else(|| {
                RecordError::Invalid(
                    "no unit of kind \"liaison\" is configured to organise it: give --unit".into(),
                )
            })?,
    };
    let held = date_arg("date", &args.date)?;
    let number_text = args
        .number
        .clone()
        .unwrap_or_else(|| format!("{kind}-{held}"));
    let number = CaseNo::parse(&number_text)
        .map_err(|e| RecordError::BadNumber(number_text.clone(), e.to_string()))?;
    let (mut record, _) = stored_or_new(store, feed, &unit.id, &number).await?;
    record.set(Field::Kind, Value::Text(kind.to_owned()));
    record.set(Field::HeldOn, Value::Date(held));
    for (field, text) in [
        (Field::Title, &args.title),
        (Field::Units, &args.units),
        (Field::Attendees, &args.attendees),
        (Field::Minutes, &args.minutes),
    ] {
        if let Some(t) = text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            record.set(field, Value::Text(t.to_owned()));
        }
    }
    let counts = put(store, &record, by, now).await?;
    Ok((record, counts))
}
