//! What people record by hand (`liandong record …`): procuratorial recommendations (检察建议) and
//! opinions (检察意见) with their receipt and reply. A record goes into the store exactly like a
//! row of the `recommendations` / `opinions` feed, keyed by (addressee unit, document number):
//! recording the same document again updates it (its history kept), and only the fields given
//! change — so the reply can be recorded weeks after the receipt.

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::calendar::Calendar;
use crate::domain::case_no::CaseNo;
use crate::domain::values::parse_date;
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
    #[error("the reply ({replied}) cannot be earlier than the receipt ({received})")]
    ReplyBeforeReceipt {
        received: NaiveDate,
        replied: NaiveDate,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
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
    let existing = store
        .records(feed, Some(&unit.id))
        .await?
        .into_iter()
        .find(|s| s.record.case_no.key() == number.key())
        .map(|s| s.record);
    let is_new = existing.is_none();
    let mut record = existing.unwrap_or_else(|| Record {
        feed,
        unit_id: unit.id.clone(),
        unit_known: true,
        case_no: number.clone(),
        values: vec![Value::Null; feed.fields().len()],
    });
    if is_new {
        record.case_no = number;
    }
    let mut set = |field: &str, v: Value| {
        if let Some(i) = feed.field_index(field) {
            record.values[i] = v;
        }
    };
    for (field, text) in [
        ("case_ref", &args.case_ref),
        ("title", &args.title),
        ("reply", &args.reply),
    ] {
        if let Some(t) = text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            set(field, Value::Text(t.to_owned()));
        }
    }
    for (field, flag, text) in [
        ("issued_on", "issued", &args.issued),
        ("received_on", "received", &args.received),
        ("replied_on", "replied", &args.replied),
    ] {
        if let Some(t) = text {
            let d = parse_date(t).map_err(|_| RecordError::BadDate {
                field: flag,
                value: t.clone(),
            })?;
            set(field, Value::Date(d));
        }
    }
    let date = |field: &str| match record.get(field) {
        Value::Date(d) => Some(*d),
        _ => None,
    };
    let start = date("received_on").or_else(|| date("issued_on"));
    if is_new && start.is_none() {
        return Err(RecordError::NoDate(args.number.clone()));
    }
    if let (Some(received), Some(replied)) = (start, date("replied_on"))
        && replied < received
    {
        return Err(RecordError::ReplyBeforeReceipt { received, replied });
    }
    let due = start.map(|d| cal.add_months(d, months));
    let mut import = store.begin_import(&format!("record:{by}"), now).await?;
    let counts = import.put(vec![record.clone()]).await?;
    import.commit(None).await?;
    Ok(Recorded {
        record,
        counts,
        due,
    })
}
