//! Canonical records of the ingested feeds (SPEC §2): which fields each feed has, how their
//! values are typed, and how a record is fingerprinted and compared.
//!
//! The field lists here are the single description that the mapping (`sources::mapping`), the
//! store's SQL and the CLI output are all generated from, so a feed is described once. The
//! migrations create one column per field with the same name.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::domain::case_no::CaseNo;
use crate::domain::values::format_fen;

/// What a source carries, and the store table it lands in. The configuration names it in
/// lowercase, as the table (`feeds = "cases"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Feed {
    Cases,
    Referrals,
    Entries,
    /// Copies of penalty decisions sent to the police and the procuratorate (R5).
    Copies,
    /// Major penalties filed for review with the justice bureau (R9).
    Filings,
    /// Procuratorial recommendations (检察建议) and their replies (R7). The record's number is
    /// the recommendation's own document number; the case it concerns is `case_ref`.
    Recommendations,
    /// Procuratorial opinions after non-prosecution (检察意见, 反向衔接) and their replies (R8).
    Opinions,
    /// Case-file reviews (案卷评查) by the justice bureau: one per reviewed case file.
    Reviews,
    /// Joint meetings and trainings; the record's number is the event's own (纪要编号 …).
    Events,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    /// Personal data (ID numbers, phone numbers): stored as given, masked in every output.
    Pii,
    Date,
    DateTime,
    /// Yuan, stored as integer fen.
    Amount,
    Bool,
}

/// A field of the canonical feeds. Records are read and written through these, so a misspelt
/// field does not compile; [`Field::name`] is its column name and its name in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    UpdatedAt,
    Party,
    Amount,
    Title,
    PartyId,
    Cause,
    FiledOn,
    DecidedOn,
    ClosedOn,
    Major,
    SuspectedCrime,
    TransferDecidedOn,
    EnteredAt,
    TransferredAt,
    Receiver,
    PoliceDecision,
    PoliceDecidedOn,
    CopiedOn,
    CaseRef,
    IssuedOn,
    ReceivedOn,
    RepliedOn,
    Reply,
    ReviewedOn,
    Reviewers,
    Score,
    Grade,
    Veto,
    ShouldTransfer,
    Kind,
    HeldOn,
    Units,
    Attendees,
    Minutes,
}

impl Field {
    pub const fn name(self) -> &'static str {
        match self {
            Field::UpdatedAt => "updated_at",
            Field::Party => "party",
            Field::Amount => "amount",
            Field::Title => "title",
            Field::PartyId => "party_id",
            Field::Cause => "cause",
            Field::FiledOn => "filed_on",
            Field::DecidedOn => "decided_on",
            Field::ClosedOn => "closed_on",
            Field::Major => "major",
            Field::SuspectedCrime => "suspected_crime",
            Field::TransferDecidedOn => "transfer_decided_on",
            Field::EnteredAt => "entered_at",
            Field::TransferredAt => "transferred_at",
            Field::Receiver => "receiver",
            Field::PoliceDecision => "police_decision",
            Field::PoliceDecidedOn => "police_decided_on",
            Field::CopiedOn => "copied_on",
            Field::CaseRef => "case_ref",
            Field::IssuedOn => "issued_on",
            Field::ReceivedOn => "received_on",
            Field::RepliedOn => "replied_on",
            Field::Reply => "reply",
            Field::ReviewedOn => "reviewed_on",
            Field::Reviewers => "reviewers",
            Field::Score => "score",
            Field::Grade => "grade",
            Field::Veto => "veto",
            Field::ShouldTransfer => "should_transfer",
            Field::Kind => "kind",
            Field::HeldOn => "held_on",
            Field::Units => "units",
            Field::Attendees => "attendees",
            Field::Minutes => "minutes",
        }
    }
}

/// One canonical field: its name (also the column name) and the headers that mean it.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub field: Field,
    pub name: &'static str,
    pub kind: FieldKind,
    /// Recognised headers, most specific first; compared after normalisation (widths, brackets,
    /// spaces and case folded), so `罚没金额（元）` matches `罚没金额(元)`.
    pub headers: &'static [&'static str],
}

const fn f(field: Field, kind: FieldKind, headers: &'static [&'static str]) -> FieldSpec {
    FieldSpec {
        field,
        name: field.name(),
        kind,
        headers,
    }
}

use FieldKind::*;

/// Headers of the unit column, shared by every feed.
pub const UNIT_HEADERS: &[&str] = &[
    "unit",
    "执法单位",
    "移送单位",
    "执法机关",
    "处罚机关",
    "行政机关",
    "办案单位",
    "单位名称",
    "单位",
    "部门",
];
/// Headers of the case number column, shared by every feed.
pub const CASE_NO_HEADERS: &[&str] = &[
    "case_no",
    "案号",
    "案件编号",
    "案件号",
    "处罚决定书文号",
    "决定书文号",
    "行政处罚决定书文号",
    "文号",
];

/// Headers of a procuratorial document's own number (recommendations, opinions), most specific
/// first; `案号` is left to `case_ref`, the case the document concerns.
pub const DOCUMENT_NO_HEADERS: &[&str] = &[
    "case_no",
    "建议书文号",
    "检察建议书文号",
    "检察意见书文号",
    "意见书文号",
    "文书编号",
    "文书号",
    "文号",
    "编号",
];
/// Headers of an event's own number (a meeting's minutes, a training's notice).
pub const EVENT_NO_HEADERS: &[&str] = &[
    "case_no",
    "纪要编号",
    "会议纪要编号",
    "纪要文号",
    "通知文号",
    "活动编号",
    "编号",
    "文号",
];

/// Headers of the unit a procuratorial document is addressed to, then the shared ones.
pub const ADDRESSEE_HEADERS: &[&str] = &[
    "unit",
    "被建议单位",
    "建议对象",
    "被监督单位",
    "收件单位",
    "送达单位",
    "执法单位",
    "行政机关",
    "单位名称",
    "单位",
    "部门",
];

const UPDATED_AT: FieldSpec = f(
    Field::UpdatedAt,
    DateTime,
    &[
        "updated_at",
        "更新时间",
        "修改时间",
        "最后更新时间",
        "最后修改时间",
    ],
);
const PARTY: FieldSpec = f(
    Field::Party,
    Text,
    &[
        "party",
        "当事人",
        "当事人名称",
        "当事人姓名",
        "被处罚人",
        "违法主体",
    ],
);
const AMOUNT: FieldSpec = f(
    Field::Amount,
    Amount,
    &[
        "amount",
        "罚没金额(元)",
        "罚没金额",
        "罚款金额(元)",
        "罚款金额",
        "涉案金额(元)",
        "涉案金额",
        "金额(元)",
        "金额",
    ],
);

const CASE_FIELDS: &[FieldSpec] = &[
    f(
        Field::Title,
        Text,
        &["title", "案件名称", "案名", "案件标题"],
    ),
    PARTY,
    f(
        Field::PartyId,
        Pii,
        &[
            "party_id",
            "证件号",
            "证件号码",
            "身份证号",
            "身份证号码",
            "统一社会信用代码",
            "证件号码/统一社会信用代码",
        ],
    ),
    f(
        Field::Cause,
        Text,
        &["cause", "案由", "违法行为", "违法事实"],
    ),
    f(Field::FiledOn, Date, &["filed_on", "立案日期", "立案时间"]),
    f(
        Field::DecidedOn,
        Date,
        &[
            "decided_on",
            "处罚决定日期",
            "决定日期",
            "处罚日期",
            "作出处罚决定日期",
            "处罚决定时间",
        ],
    ),
    f(
        Field::ClosedOn,
        Date,
        &["closed_on", "结案日期", "办结日期", "结案时间", "办结时间"],
    ),
    AMOUNT,
    f(
        Field::Major,
        Bool,
        &[
            "major",
            "重大行政处罚",
            "是否重大行政处罚",
            "重大案件",
            "是否重大案件",
        ],
    ),
    f(
        Field::SuspectedCrime,
        Bool,
        &["suspected_crime", "涉嫌犯罪", "是否涉嫌犯罪"],
    ),
    f(
        Field::TransferDecidedOn,
        Date,
        &[
            "transfer_decided_on",
            "移送决定日期",
            "移送决定时间",
            "决定移送日期",
        ],
    ),
    UPDATED_AT,
];

const REFERRAL_FIELDS: &[FieldSpec] = &[
    PARTY,
    f(
        Field::EnteredAt,
        DateTime,
        &["entered_at", "录入时间", "录入日期", "填报时间"],
    ),
    f(
        Field::TransferredAt,
        DateTime,
        &["transferred_at", "移送时间", "移送日期"],
    ),
    f(
        Field::Receiver,
        Text,
        &["receiver", "接收机关", "接收单位", "受移送机关"],
    ),
    AMOUNT,
    f(
        Field::PoliceDecision,
        Text,
        &[
            "police_decision",
            "公安立案决定",
            "立案决定",
            "公安处理结果",
            "公安机关处理结果",
        ],
    ),
    f(
        Field::PoliceDecidedOn,
        Date,
        &[
            "police_decided_on",
            "公安决定日期",
            "立案决定日期",
            "公安立案日期",
        ],
    ),
    UPDATED_AT,
];

const ENTRY_FIELDS: &[FieldSpec] = &[
    f(Field::Title, Text, &["title", "案件名称", "案名"]),
    PARTY,
    f(
        Field::DecidedOn,
        Date,
        &["decided_on", "处罚决定日期", "决定日期", "处罚日期"],
    ),
    AMOUNT,
    f(
        Field::EnteredAt,
        DateTime,
        &["entered_at", "录入时间", "录入日期", "填报时间"],
    ),
    UPDATED_AT,
];

const COPY_FIELDS: &[FieldSpec] = &[
    PARTY,
    f(
        Field::DecidedOn,
        Date,
        &["decided_on", "处罚决定日期", "决定日期", "处罚日期"],
    ),
    f(
        Field::CopiedOn,
        Date,
        &["copied_on", "抄送日期", "抄送时间", "送达日期", "报送日期"],
    ),
    f(
        Field::Receiver,
        Text,
        &["receiver", "抄送机关", "抄送单位", "接收机关", "接收单位"],
    ),
    UPDATED_AT,
];

const FILING_FIELDS: &[FieldSpec] = &[
    PARTY,
    f(
        Field::DecidedOn,
        Date,
        &["decided_on", "处罚决定日期", "决定日期", "处罚日期"],
    ),
    f(
        Field::FiledOn,
        Date,
        &[
            "filed_on",
            "备案日期",
            "报备日期",
            "备案时间",
            "报送备案日期",
        ],
    ),
    f(
        Field::Receiver,
        Text,
        &["receiver", "备案机关", "备案单位", "接收机关"],
    ),
    UPDATED_AT,
];

/// Recommendations and opinions share their fields.
const DOCUMENT_FIELDS: &[FieldSpec] = &[
    f(
        Field::CaseRef,
        Text,
        &[
            "case_ref",
            "关联案号",
            "涉及案号",
            "所涉案号",
            "相关案号",
            "案号",
        ],
    ),
    f(
        Field::Title,
        Text,
        &["title", "建议事项", "意见事项", "事由", "标题", "主要内容"],
    ),
    f(
        Field::IssuedOn,
        Date,
        &["issued_on", "发出日期", "制发日期", "发文日期"],
    ),
    f(
        Field::ReceivedOn,
        Date,
        &[
            "received_on",
            "签收日期",
            // Service (送达) is when the addressee received it.
            "送达日期",
            "收到日期",
            "接收日期",
            "收文日期",
        ],
    ),
    f(
        Field::RepliedOn,
        Date,
        &[
            "replied_on",
            "回复日期",
            "书面回复日期",
            "答复日期",
            "复函日期",
        ],
    ),
    f(
        Field::Reply,
        Text,
        &["reply", "回复情况", "回复内容", "整改情况"],
    ),
    UPDATED_AT,
];

const REVIEW_FIELDS: &[FieldSpec] = &[
    f(
        Field::ReviewedOn,
        Date,
        &["reviewed_on", "评查日期", "评查时间", "检查日期"],
    ),
    f(
        Field::Reviewers,
        Text,
        &[
            "reviewers",
            "评查人",
            "评查人员",
            "检查人员",
            "评查人(至少两人)",
        ],
    ),
    // Hundredths, as amounts are kept: 92.5 is stored as 9250.
    f(Field::Score, Amount, &["score", "得分", "评查得分", "分数"]),
    f(
        Field::Grade,
        Text,
        &["grade", "等次", "评查等次", "评定等次", "结果"],
    ),
    f(Field::Veto, Text, &["veto", "否决项", "一票否决项"]),
    f(
        Field::ShouldTransfer,
        Bool,
        &[
            "should_transfer",
            "应移送未移送",
            "是否应移送未移送",
            "应移送而未移送",
        ],
    ),
    UPDATED_AT,
];

const EVENT_FIELDS: &[FieldSpec] = &[
    f(Field::Kind, Text, &["kind", "类型", "活动类型", "类别"]),
    f(
        Field::HeldOn,
        Date,
        &[
            "held_on",
            "召开日期",
            "举办日期",
            "培训日期",
            "会议日期",
            "日期",
        ],
    ),
    f(
        Field::Title,
        Text,
        &["title", "名称", "会议名称", "培训名称", "主题"],
    ),
    f(
        Field::Units,
        Text,
        &["units", "参会单位", "参训单位", "参加单位"],
    ),
    f(
        Field::Attendees,
        Text,
        &["attendees", "参会人员", "参训人员", "参加人员", "人数"],
    ),
    f(
        Field::Minutes,
        Text,
        &["minutes", "会议纪要", "纪要", "备注"],
    ),
    UPDATED_AT,
];

impl Feed {
    pub const ALL: [Feed; 9] = [
        Feed::Cases,
        Feed::Referrals,
        Feed::Entries,
        Feed::Copies,
        Feed::Filings,
        Feed::Recommendations,
        Feed::Opinions,
        Feed::Reviews,
        Feed::Events,
    ];

    /// The feed's fields besides `unit` and `case_no`, in column order.
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            Feed::Cases => CASE_FIELDS,
            Feed::Referrals => REFERRAL_FIELDS,
            Feed::Entries => ENTRY_FIELDS,
            Feed::Copies => COPY_FIELDS,
            Feed::Filings => FILING_FIELDS,
            Feed::Recommendations | Feed::Opinions => DOCUMENT_FIELDS,
            Feed::Reviews => REVIEW_FIELDS,
            Feed::Events => EVENT_FIELDS,
        }
    }

    /// The headers of the record's number: a case number, or for recommendations and opinions
    /// the document's own number.
    pub fn case_no_headers(self) -> &'static [&'static str] {
        match self {
            Feed::Recommendations | Feed::Opinions => DOCUMENT_NO_HEADERS,
            Feed::Events => EVENT_NO_HEADERS,
            _ => CASE_NO_HEADERS,
        }
    }

    /// The headers of the unit column: the deciding unit, or for recommendations and opinions
    /// the unit they are addressed to (which owes the reply).
    pub fn unit_headers(self) -> &'static [&'static str] {
        match self {
            Feed::Recommendations | Feed::Opinions => ADDRESSEE_HEADERS,
            _ => UNIT_HEADERS,
        }
    }

    /// Table name in the store (also the stable name used in history rows).
    pub fn table(self) -> &'static str {
        match self {
            Feed::Cases => "cases",
            Feed::Referrals => "referrals",
            Feed::Entries => "entries",
            Feed::Copies => "copies",
            Feed::Filings => "filings",
            Feed::Recommendations => "recommendations",
            Feed::Opinions => "opinions",
            Feed::Reviews => "reviews",
            Feed::Events => "events",
        }
    }

    /// What a row of this feed needs beyond its fields' types, as (field, reason) when it is
    /// missing: a review names its day and at least two reviewers (SPEC §4), an event its day;
    /// a platform record, a copy, a filing and a procuratorial document the time the rules count
    /// from. Without that time a record that exists would leave its rule's finding open as
    /// "missing" forever (or, for a document, raise none): such a row is a data problem, so it
    /// is quarantined with this reason and `status` shows it.
    pub fn check(self, r: &Record) -> Result<(), (Field, String)> {
        let undated = |fields: &[Field]| fields.iter().all(|f| r.get(*f).is_null());
        // A fine, a confiscation or an amount involved is never below zero: a minus sign is a
        // slip of the export (or a refund booked in the wrong ledger), not a case's amount.
        if self.index_of(Field::Amount).is_some() && r.fen(Field::Amount).is_some_and(|f| f < 0) {
            return Err((
                Field::Amount,
                "an amount cannot be negative (罚没金额/涉案金额 are never below zero)".into(),
            ));
        }
        match self {
            Feed::Referrals if undated(&[Field::EnteredAt, Field::TransferredAt]) => Err((
                Field::EnteredAt,
                "a platform referral needs the time it was entered (录入时间) or transferred (移送时间): R1 counts the platform entry from it".into(),
            )),
            Feed::Entries if undated(&[Field::EnteredAt]) => Err((
                Field::EnteredAt,
                "a platform case entry needs the time it was entered (录入时间): R4 counts the entry from it".into(),
            )),
            Feed::Copies if undated(&[Field::CopiedOn]) => Err((
                Field::CopiedOn,
                "a copy needs the day it was sent (抄送日期): R5 counts the copy from it".into(),
            )),
            Feed::Filings if undated(&[Field::FiledOn]) => Err((
                Field::FiledOn,
                "a filing needs its day (备案日期): R9 counts the filing from it".into(),
            )),
            Feed::Recommendations | Feed::Opinions
                if undated(&[Field::ReceivedOn, Field::IssuedOn]) =>
            {
                Err((
                    Field::ReceivedOn,
                    "a procuratorial document needs the day it was received (签收日期/送达日期) or issued (发出日期): the reply period counts from it".into(),
                ))
            }
            Feed::Reviews => {
                if r.get(Field::ReviewedOn).is_null() {
                    return Err((
                        Field::ReviewedOn,
                        "a review needs its day (评查日期)".into(),
                    ));
                }
                let n = match r.get(Field::Reviewers) {
                    Value::Text(t) => reviewer_names(t).len(),
                    _ => 0,
                };
                if n < 2 {
                    return Err((
                        Field::Reviewers,
                        format!(
                            "a review needs at least two reviewers (评查人), separated by 、 , ; or spaces; found {n}"
                        ),
                    ));
                }
                Ok(())
            }
            Feed::Events => {
                if r.get(Field::HeldOn).is_null() {
                    return Err((Field::HeldOn, "an event needs its day (召开日期)".into()));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    pub fn parse(name: &str) -> Option<Feed> {
        Feed::ALL.into_iter().find(|f| f.table() == name)
    }

    /// Where a field named in outside text (a mapping, a column) stands among the feed's.
    pub fn field_index(self, name: &str) -> Option<usize> {
        self.fields().iter().position(|f| f.name == name)
    }

    /// Where `field` stands among the feed's fields, if the feed has it.
    pub fn index_of(self, field: Field) -> Option<usize> {
        self.fields().iter().position(|f| f.field == field)
    }
}

/// The reviewers named in a 评查人 cell: split at 、 , ， ; ； / and spaces.
pub fn reviewer_names(text: &str) -> Vec<&str> {
    text.split(|c: char| matches!(c, '、' | ',' | '，' | ';' | '；' | '/') || c.is_whitespace())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// A typed field value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Text(String),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    Fen(i64),
    Bool(bool),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Plain text for display and CSV; datetimes in Asia/Shanghai.
    pub fn display(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Text(s) => s.clone(),
            Value::Date(d) => d.format("%Y-%m-%d").to_string(),
            Value::DateTime(t) => t
                .with_timezone(&chrono_tz::Asia::Shanghai)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            Value::Fen(f) => format_fen(*f),
            Value::Bool(b) => if *b { "是" } else { "否" }.to_string(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Text(s) => json!(s),
            Value::Date(d) => json!(d.format("%Y-%m-%d").to_string()),
            Value::DateTime(t) => json!(
                t.with_timezone(&chrono_tz::Asia::Shanghai)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
            ),
            Value::Fen(f) => serde_json::Number::from_f64(*f as f64 / 100.0)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Bool(b) => json!(b),
        }
    }

    /// Bytes fed to the fingerprint: a type tag and an unambiguous rendering.
    fn fingerprint_into(&self, h: &mut Sha256) {
        match self {
            Value::Null => h.update([0u8]),
            Value::Text(s) => {
                h.update([1u8]);
                h.update((s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
            Value::Date(d) => {
                h.update([2u8]);
                h.update(chrono::Datelike::num_days_from_ce(d).to_le_bytes());
            }
            Value::DateTime(t) => {
                h.update([3u8]);
                h.update(t.timestamp().to_le_bytes());
                h.update(t.timestamp_subsec_nanos().to_le_bytes());
            }
            Value::Fen(f) => {
                h.update([4u8]);
                h.update(f.to_le_bytes());
            }
            Value::Bool(b) => h.update([5u8, u8::from(*b)]),
        }
    }
}

/// One row of a feed, mapped and typed, ready to upsert by (unit, case key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub feed: Feed,
    /// The configured unit id, or — when the row names a unit that is not configured — the
    /// unit's name as written (then `unit_known` is false; the row is kept, never dropped).
    pub unit_id: String,
    pub unit_known: bool,
    pub case_no: CaseNo,
    /// One value per `feed.fields()`.
    pub values: Vec<Value>,
}

/// A 16-byte fingerprint of a record's content: equal fingerprints mean nothing changed.
pub type Fingerprint = [u8; 16];

impl Record {
    pub fn fingerprint(&self) -> Fingerprint {
        let mut h = Sha256::new();
        h.update(self.case_no.as_written().as_bytes());
        h.update([0xff]);
        h.update([u8::from(self.unit_known)]);
        for v in &self.values {
            v.fingerprint_into(&mut h);
        }
        let full = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// A short tag, in letters only (`a`–`p`), of what identifies a row when its case number
    /// does not: its party and its own dates (decided, entered, transferred, sent, received) —
    /// not the fields that change later (a police decision, a reply), so an update keeps the tag.
    pub fn content_tag(&self) -> String {
        const IDENTITY: [Field; 9] = [
            Field::Party,
            Field::Title,
            Field::DecidedOn,
            Field::TransferDecidedOn,
            Field::EnteredAt,
            Field::TransferredAt,
            Field::CopiedOn,
            Field::FiledOn,
            Field::IssuedOn,
        ];
        let mut h = Sha256::new();
        for field in IDENTITY {
            self.get(field).fingerprint_into(&mut h);
        }
        h.finalize()[..6]
            .iter()
            .flat_map(|b| [b >> 4, b & 0x0f])
            .map(|n| char::from(b'a' + n))
            .collect()
    }

    /// Sets a field by name; a name the feed does not have changes nothing.
    /// Sets `field` (nothing when the feed has no such field).
    pub fn set(&mut self, field: Field, v: Value) {
        if let Some(slot) = self
            .feed
            .index_of(field)
            .and_then(|i| self.values.get_mut(i))
        {
            *slot = v;
        }
    }

    /// The value of `field` (null when empty, or when the feed has no such field).
    pub fn get(&self, field: Field) -> &Value {
        self.feed
            .index_of(field)
            .and_then(|i| self.values.get(i))
            .unwrap_or(&Value::Null)
    }

    /// A text field's value, when it has one.
    pub fn text(&self, field: Field) -> Option<&str> {
        match self.get(field) {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// A date field's value, when it has one.
    pub fn date(&self, field: Field) -> Option<NaiveDate> {
        match self.get(field) {
            Value::Date(d) => Some(*d),
            _ => None,
        }
    }

    /// A time field's value, when it has one.
    pub fn time(&self, field: Field) -> Option<DateTime<Utc>> {
        match self.get(field) {
            Value::DateTime(t) => Some(*t),
            _ => None,
        }
    }

    /// An amount field's value in fen, when it has one.
    pub fn fen(&self, field: Field) -> Option<i64> {
        match self.get(field) {
            Value::Fen(n) => Some(*n),
            _ => None,
        }
    }

    /// A yes/no field's value, when it has one.
    pub fn flag(&self, field: Field) -> Option<bool> {
        match self.get(field) {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// What changed between two versions of a record: `{field: [old, new]}` as JSON, with personal
/// data masked so that history never spreads it further: the ID fields whole, ID and mobile
/// numbers inside any text.
pub fn diff(old: &Record, new: &Record) -> serde_json::Value {
    let mut changes = serde_json::Map::new();
    if old.case_no.as_written() != new.case_no.as_written() {
        changes.insert(
            "case_no".into(),
            json!([
                crate::mask::mask_text(old.case_no.as_written()),
                crate::mask::mask_text(new.case_no.as_written())
            ]),
        );
    }
    for (i, spec) in new.feed.fields().iter().enumerate() {
        let (a, b) = (
            old.values.get(i).unwrap_or(&Value::Null),
            new.values.get(i).unwrap_or(&Value::Null),
        );
        if a != b {
            let show = |v: &Value| match (spec.kind, v) {
                (Pii, Value::Text(s)) => json!(crate::mask::mask_id(s)),
                (_, Value::Text(s)) => json!(crate::mask::mask_text(s)),
                _ => v.to_json(),
            };
            changes.insert(spec.name.into(), json!([show(a), show(b)]));
        }
    }
    serde_json::Value::Object(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(amount: i64) -> Record {
        let mut values = vec![Value::Null; Feed::Cases.fields().len()];
        values[Feed::Cases.field_index("amount").unwrap()] = Value::Fen(amount);
        values[Feed::Cases.field_index("party_id").unwrap()] =
            Value::Text("513337199001011234".into());
        Record {
            feed: Feed::Cases,
            unit_id: "scjg".into(),
            unit_known: true,
            case_no: CaseNo::parse("稻市监罚〔2025〕1号").unwrap(),
            values,
        }
    }

    #[test]
    fn same_content_same_fingerprint_and_a_change_shows_in_the_diff() {
        let a = case(10_000);
        assert_eq!(a.fingerprint(), case(10_000).fingerprint());
        let mut b = case(12_000);
        assert_ne!(a.fingerprint(), b.fingerprint());
        b.values[Feed::Cases.field_index("party_id").unwrap()] =
            Value::Text("513337199001015678".into());
        let d = diff(&a, &b);
        assert_eq!(d["amount"], json!([100.0, 120.0]));
        let shown = d["party_id"].to_string();
        assert!(
            !shown.contains("199001011234"),
            "history must mask ID numbers: {shown}"
        );
        assert!(d.get("title").is_none());
    }

    #[test]
    fn every_feed_has_distinct_field_names() {
        for feed in Feed::ALL {
            let mut names: Vec<&str> = feed.fields().iter().map(|f| f.name).collect();
            names.sort();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "{feed:?}");
            assert!(!names.contains(&"unit") && !names.contains(&"case_no"));
        }
    }
}
