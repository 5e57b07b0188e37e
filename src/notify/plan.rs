//! What is due to whom: open findings and unmet obligations become items, each item's stage per
//! recipient role comes from [`super::policy`], the notices already queued are left out, and
//! what remains is gathered into one digest per recipient and channel.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike as _, NaiveDate, TimeDelta, Utc};
use chrono_tz::Asia::Shanghai;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::policy::{Policy, Role, Stage, StageKind, sms_window, stage};
use super::templates::{TemplateError, Templates};
use crate::config::{Config, ContactRole, UnitConfig, UnitKind};
use crate::domain::calendar::Calendar;
use crate::domain::rule::RuleId;
use crate::obligations::annual::AnnualState;
use crate::obligations::sampling::SamplingState;
use crate::obligations::status::Obligations;
use crate::store::StoredFinding;
use crate::store::outbox::{NewMessage, NoticeKey};

/// Something a unit has to do by a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// `finding:<finding key>` or `obligation:<kind>:<unit>:<period>`.
    pub key: String,
    pub finding_key: Option<String>,
    /// The finding's id in the store (its page in the web console).
    pub finding_id: Option<i64>,
    /// The rule (`R1` …) or obligation (`sampling`, `meeting`, `training`).
    pub kind: String,
    /// The unit that owes it.
    pub unit_id: String,
    /// The rule's or obligation's title, and below what to do and what closes it: a rule's
    /// are its own static texts, shared by every item of the rule (a province has two hundred
    /// thousand open findings).
    pub title: Cow<'static, str>,
    pub case_no: Option<String>,
    /// Its last day (Asia/Shanghai).
    pub deadline: NaiveDate,
    /// The fact that raised it.
    pub detail: String,
    /// What to do, and where.
    pub action: Cow<'static, str>,
    /// What closes it.
    pub closes: Cow<'static, str>,
    /// Whether the overdue notice repeats while it stays overdue.
    pub repeats: bool,
    /// Stages of its own before the deadline (a yearly duty's reminder window).
    pub early: Vec<(String, NaiveDate)>,
}

/// The last day of a deadline instant (the instant is the end of that day).
fn last_day(due: DateTime<Utc>) -> NaiveDate {
    (due - TimeDelta::seconds(1))
        .with_timezone(&Shanghai)
        .date_naive()
}

/// The items of open findings.
pub fn finding_items(findings: &[StoredFinding], repeat_violations: bool) -> Vec<Item> {
    findings
        .iter()
        .filter(|f| f.state.is_open())
        .map(|f| Item {
            key: format!("finding:{}", f.key),
            finding_key: Some(f.key.clone()),
            finding_id: Some(f.id),
            kind: f.rule.to_string(),
            unit_id: f.unit_id.clone(),
            title: Cow::Borrowed(f.rule.title_zh()),
            case_no: f.case_no.clone(),
            deadline: last_day(f.due),
            detail: fact(f),
            action: Cow::Borrowed(f.rule.action_zh()),
            closes: Cow::Borrowed(f.rule.closes_zh()),
            repeats: !f.violated || repeat_violations,
            early: Vec::new(),
        })
        .collect()
}

/// The fact that raised a finding, from its facts, as a clerk reads it: the dates and
/// deadline, and what the data shows — the fields that differ and both values (R3), the amount
/// against the prosecution threshold (R6), the platform's state of the match.
pub fn fact(f: &StoredFinding) -> String {
    let s = |key: &str| f.facts.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let day = |key: &str| s(key).map_or_else(|| "—".to_owned(), |d| zh_day(&d));
    let due = day("due_date");
    let mut parts: Vec<String> = Vec::new();
    match f.rule {
        RuleId::R1 | RuleId::R2 => {
            parts.push(format!(
                "{}决定移送，应于{due}前录入两法衔接平台",
                day("transfer_decided_on")
            ));
        }
        RuleId::R4 => parts.push(format!(
            "{}作出处罚决定，应于{due}前录入平台",
            day("decided_on")
        )),
        RuleId::R5 => parts.push(format!(
            "{}作出处罚决定，应于{due}前抄送",
            day("decided_on")
        )),
        RuleId::R9 => parts.push(format!(
            "{}作出重大行政处罚决定，应于{due}前报送备案",
            day("decided_on")
        )),
        RuleId::R7 | RuleId::R8 => {
            let what = if f.rule == RuleId::R7 {
                "检察建议"
            } else {
                "检察意见"
            };
            parts.push(format!(
                "{}收到{what}，应于{due}前书面回复",
                day("received_on")
            ));
        }
        RuleId::R10 => {
            let days = f
                .facts
                .get("calendar_days")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0);
            let economic =
                f.facts.get("economic").and_then(serde_json::Value::as_bool) == Some(true);
            parts.push(format!(
                "{}接受移送，应于{due}前作出立案决定（{}{days}日）",
                day("received_on"),
                if economic { "经济犯罪案件" } else { "" }
            ));
        }
        RuleId::R3 | RuleId::R6 => {}
    }
    if let Some(diffs) = f.facts.get("differences").and_then(|d| d.as_array()) {
        parts.extend(diffs.iter().filter_map(|d| {
            let field = d.get("field")?.as_str()?;
            Some(format!(
                "{}：本单位为{}，平台为{}",
                field_label(field),
                value_text(d.get("case").unwrap_or(&serde_json::Value::Null)),
                value_text(d.get("platform").unwrap_or(&serde_json::Value::Null))
            ))
        }));
    }
    if f.rule == RuleId::R6 {
        if let (Some(cause), Some(amount), Some(threshold)) =
            (s("cause"), s("amount"), s("threshold"))
        {
            parts.push(format!(
                "{}作出处罚，案由“{cause}”，金额{amount}元，达到“{}”立案追诉标准{threshold}元{}",
                day("decided_on"),
                s("threshold_cause").unwrap_or_default(),
                s("article").map(|a| format!("（{a}）")).unwrap_or_default()
            ));
        }
        if f.facts
            .get("marked_suspected_crime")
            .and_then(serde_json::Value::as_bool)
            == Some(true)
        {
            parts.push(match s("decided_on") {
                Some(_) => format!(
                    "本单位已认定涉嫌犯罪，未作移送决定即于{}作出行政处罚",
                    day("decided_on")
                ),
                None => format!(
                    "本单位已认定涉嫌犯罪，未作移送决定即于{}结案",
                    day("closed_on")
                ),
            });
        }
        if f.facts.get("review").is_some() {
            parts.push("案卷评查认为该案应当移送".into());
        }
    }
    match f.facts.get("match").and_then(|m| m.as_str()) {
        Some("none") => parts.push("平台上未查到相应记录".into()),
        Some("ambiguous") => parts.push("平台上有多条记录可能对应本案，请核实".into()),
        _ => {}
    }
    if let Some(days) = f.facts.get("days_late").and_then(serde_json::Value::as_i64) {
        parts.push(format!("迟延{days}天"));
    }
    parts.join("；")
}

/// A field of the facts as the reader names it.
fn field_label(field: &str) -> &'static str {
    match field {
        "amount" => "金额",
        "party" => "当事人",
        "unit" => "移送单位",
        "cause" => "案由",
        "decided_on" => "决定日期",
        "transfer_decided_on" => "移送决定日期",
        _ => "字段",
    }
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "（空）".into(),
        other => other.to_string(),
    }
}

/// `2025-10-09` as `2025年10月9日`; other text as it is.
fn zh_day(d: &str) -> String {
    NaiveDate::parse_from_str(d, "%Y-%m-%d")
        .map_or_else(|_| d.to_owned(), crate::domain::values::zh_date)
}

/// The items of unmet obligations: sampling behind its target this quarter (and a quarter
/// just ended short of it), and a yearly meeting or training not yet held (or missed last year).
pub fn obligation_items(
    now: &Obligations,
    ended_quarter: Option<&Obligations>,
    ended_year: Option<&Obligations>,
    cfg: &Config,
) -> Vec<Item> {
    let mut items = Vec::new();
    let liaison = cfg
        .units
        .iter()
        .find(|u| u.kind == UnitKind::Liaison)
        .map(|u| u.id.clone());
    let mut sampling = |o: &Obligations, ended: bool| {
        for u in &o.units {
            let s = &u.sampling;
            let short = s.reviewed < s.target;
            let due = match s.state {
                SamplingState::Missed => ended,
                SamplingState::Behind | SamplingState::OnTrack => !ended && short,
                SamplingState::Met => false,
            };
            if !due {
                continue;
            }
            items.push(Item {
                key: format!("obligation:sampling:{}:{}", u.unit_id, s.quarter),
                finding_key: None,
                finding_id: None,
                kind: "sampling".into(),
                unit_id: u.unit_id.clone(),
                title: format!(
                    "{}案卷评查抽查未达{}%",
                    s.quarter.label_zh(),
                    cfg.obligations.review_ratio_percent
                )
                .into(),
                case_no: None,
                deadline: s.quarter.last_day(),
                detail: format!(
                    "应评查{}件（案卷{}件），已评查{}件，按进度应达{}件",
                    s.target, s.population, s.reviewed, s.expected
                ),
                action: "按季度开展案卷评查抽查（随机抽查与重点检查相结合），并登记评查结果".into(),
                closes: "登记的评查数达到应评查数后自动销号".into(),
                repeats: false,
                early: Vec::new(),
            });
        }
    };
    sampling(now, false);
    if let Some(o) = ended_quarter {
        sampling(o, true);
    }
    let mut annual = |o: &Obligations, ended: bool| {
        let year = o.as_of.year();
        let mut duty = |kind: &str,
                        title: &str,
                        unit: &str,
                        state: AnnualState,
                        acfg: &crate::config::AnnualConfig| {
            let due = match state {
                AnnualState::Missed => true,
                AnnualState::Held => false,
                _ => !ended,
            };
            if !due {
                return;
            }
            items.push(Item {
                key: format!("obligation:{kind}:{unit}:{year}"),
                finding_key: None,
                finding_id: None,
                kind: kind.into(),
                unit_id: unit.to_string(),
                title: format!("{year}年度{title}尚未举行").into(),
                case_no: None,
                deadline: NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or(o.as_of),
                detail: format!("每年至少举行一次，{year}年尚无记录"),
                action: format!("组织{title}，并将举行日期报府检联动办公室登记").into(),
                closes: format!("{title}登记到系统后自动销号").into(),
                repeats: false,
                early: vec![
                    ("annual-remind".into(), acfg.remind_from.in_year(year)),
                    ("annual-slipping".into(), acfg.slipping_from.in_year(year)),
                ],
            });
        };
        if let Some(l) = &liaison {
            duty(
                "meeting",
                "府检联动工作会议",
                l,
                o.meeting.state,
                &cfg.obligations.meeting,
            );
            if let Some(t) = &o.training {
                duty(
                    "training",
                    "府检联动专题培训",
                    l,
                    t.state,
                    &cfg.obligations.training,
                );
            }
        }
        for u in &o.units {
            if let Some(t) = &u.training {
                duty(
                    "training",
                    "府检联动专题培训",
                    &u.unit_id,
                    t.state,
                    &cfg.obligations.training,
                );
            }
        }
    };
    annual(now, false);
    if let Some(o) = ended_year {
        annual(o, true);
    }
    items
}

/// A channel of a recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Email,
    Sms,
    Robot,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Robot => "robot",
        }
    }
}

/// One address of a person or robot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub channel: Channel,
    pub address: String,
    pub name: String,
}

/// Who gets what, per unit and role.
#[derive(Debug, Default)]
pub struct Recipients {
    by_unit: HashMap<String, (Vec<Recipient>, Vec<Recipient>)>,
    liaison: Vec<Recipient>,
    liaison_units: Vec<String>,
}

impl Recipients {
    pub fn new(cfg: &Config) -> Recipients {
        let sms = cfg.notify.sms.is_some();
        let person = |c: &crate::config::Contact| {
            let mut out = Vec::new();
            if let Some(e) = c.email.as_deref().filter(|e| !e.trim().is_empty()) {
                out.push(Recipient {
                    channel: Channel::Email,
                    address: e.trim().to_string(),
                    name: c.name.clone(),
                });
            }
            if sms && let Some(p) = c.phone.as_deref().filter(|p| !p.trim().is_empty()) {
                out.push(Recipient {
                    channel: Channel::Sms,
                    address: p.trim().to_string(),
                    name: c.name.clone(),
                });
            }
            out
        };
        let robots = |u: &UnitConfig| -> Vec<Recipient> {
            cfg.notify
                .robots
                .iter()
                .filter(|r| r.unit == u.id)
                .map(|r| Recipient {
                    channel: Channel::Robot,
                    address: r.name.clone(),
                    name: r.name.clone(),
                })
                .collect()
        };
        let mut me = Recipients::default();
        for u in &cfg.units {
            let of = |role: ContactRole| -> Vec<Recipient> {
                u.contacts
                    .iter()
                    .filter(|c| c.role == role)
                    .flat_map(person)
                    .collect()
            };
            let mut contacts = of(ContactRole::Contact);
            let heads = of(ContactRole::Head);
            if contacts.is_empty() {
                // Nobody named as contact: the head hears the reminders.
                contacts = heads.clone();
            }
            contacts.extend(robots(u));
            if u.kind == UnitKind::Liaison {
                me.liaison.extend(u.contacts.iter().flat_map(person));
                me.liaison.extend(robots(u));
                me.liaison_units.push(u.id.clone());
            }
            me.by_unit.insert(u.id.clone(), (contacts, heads));
        }
        me
    }

    /// The recipients of a unit's items in a role.
    pub fn of(&self, unit_id: &str, role: Role) -> &[Recipient] {
        match role {
            // The liaison office's own items escalate to nobody beyond it.
            Role::Liaison if self.liaison_units.iter().any(|l| l == unit_id) => &[],
            Role::Liaison => &self.liaison,
            Role::Contact => self.by_unit.get(unit_id).map_or(&[], |(c, _)| c),
            Role::Head => self.by_unit.get(unit_id).map_or(&[], |(_, h)| h),
        }
    }
}

/// A notice due: an item's stage for one recipient.
#[derive(Debug, Clone)]
pub struct Due<'a> {
    pub item: &'a Item,
    pub stage: Stage,
    pub role: Role,
    pub recipient: &'a Recipient,
    pub key: String,
}

/// Every notice due on `today` for `items`, queued or not.
pub fn due<'a>(
    cfg: &Config,
    items: &'a [Item],
    recipients: &'a Recipients,
    today: NaiveDate,
) -> Vec<Due<'a>> {
    let mut policies: HashMap<&str, Policy> = HashMap::new();
    let mut out = Vec::new();
    let mut keys = std::collections::HashSet::new();
    for item in items {
        let policy = policies
            .entry(item.kind.as_str())
            .or_insert_with(|| Policy::of(&cfg.notify, &item.kind));
        for role in [Role::Contact, Role::Head, Role::Liaison] {
            let Some(st) = stage(
                policy,
                item.deadline,
                &item.early,
                item.repeats,
                today,
                role,
            ) else {
                continue;
            };
            for r in recipients.of(&item.unit_id, role) {
                // The deadline is part of the key: a deadline that moves has its stages again.
                let key = format!(
                    "{}|{}@{}|{}:{}",
                    item.key,
                    st.name,
                    item.deadline,
                    r.channel.as_str(),
                    r.address
                );
                // One address listed twice (a shared mailbox) is one notice.
                if !keys.insert(key.clone()) {
                    continue;
                }
                out.push(Due {
                    item,
                    key,
                    stage: st.clone(),
                    role,
                    recipient: r,
                });
            }
        }
    }
    out
}

/// One line of a digest, as templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct LineCtx {
    pub title: String,
    pub kind: String,
    pub case_no: Option<String>,
    pub deadline: String,
    pub stage: String,
    /// The fact that raised it.
    pub detail: String,
    /// What to do, and where.
    pub action: String,
    /// What closes it.
    pub closes: String,
    pub overdue: bool,
    /// Its page in the web console (`[web] public_url` set, a finding).
    pub link: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnitCtx {
    pub name: String,
    pub items: Vec<LineCtx>,
}

/// What the digest templates see.
#[derive(Debug, Clone, Serialize)]
pub struct DigestCtx {
    pub subject: String,
    pub recipient: String,
    pub role: String,
    /// How the digest addresses its reader: `张三（联络员）`, or the name alone when it names the
    /// role already (`府检联动办公室`).
    pub greeting: String,
    pub as_of: String,
    pub office: String,
    pub count: usize,
    pub overdue: usize,
    pub due_soon: usize,
    /// The units' names, joined with 、.
    pub unit: String,
    /// The same, shortened to the first and a count beyond two units (for subjects).
    pub unit_short: String,
    pub first_case: String,
    pub first_due: String,
    pub units: Vec<UnitCtx>,
    /// Items not listed one by one (beyond [`DIGEST_LINES`]): how many, and the units they
    /// belong to with their counts (the most first, at most [`DIGEST_MORE_UNITS`]).
    pub omitted: usize,
    pub omitted_units: Vec<OmittedCtx>,
    /// Units with omitted items beyond those named in `omitted_units`.
    pub omitted_more_units: usize,
    /// The console's list of open items, when `[web] public_url` is set.
    pub findings_url: Option<String>,
}

/// A unit's items a digest does not list one by one.
#[derive(Debug, Clone, Serialize)]
pub struct OmittedCtx {
    pub name: String,
    pub count: usize,
}

/// Items a digest lists one by one, the most overdue first; the rest are counted per unit and
/// left to the console. (With R9 on, a province's liaison office is owed over a hundred
/// thousand escalations at once: listed in full, one e-mail of 70 MB that no mail server takes.)
pub const DIGEST_LINES: usize = 200;

/// Units a digest names with their counts of items it does not list.
pub const DIGEST_MORE_UNITS: usize = 20;

impl DigestCtx {
    /// The value of an SMS template parameter (see [`crate::config::sms_params::NAMES`]), all
    /// strings.
    pub fn param(&self, name: &str) -> String {
        match name {
            "unit" => self.unit_short.clone(),
            "count" => self.count.to_string(),
            "overdue" => self.overdue.to_string(),
            "due_soon" => self.due_soon.to_string(),
            "first_case" => self.first_case.clone(),
            "first_due" => self.first_due.clone(),
            "office" => self.office.clone(),
            _ => String::new(),
        }
    }
}

fn stage_label(s: &Stage) -> String {
    match s.kind {
        StageKind::Reminder { days_left: 0 } | StageKind::Early { days_left: 0 } => {
            "今日到期".into()
        }
        StageKind::Reminder { days_left } | StageKind::Early { days_left } => {
            format!("还剩{days_left}天")
        }
        StageKind::Overdue { days } => format!("已逾期{days}天"),
        StageKind::Escalation { level: 1, days } => format!("已逾期{days}天，提请负责人督办"),
        StageKind::Escalation { days, .. } => format!("已逾期{days}天，报府检联动办公室"),
    }
}

/// The context of one recipient's digest.
pub fn digest_ctx(
    units: &crate::units::Units,
    office: &str,
    public_url: Option<&str>,
    notices: &[&Due<'_>],
    today: NaiveDate,
) -> DigestCtx {
    let base = public_url.map(|u| u.trim_end_matches('/'));
    // An item reaches one address once, under the stage of its highest role (a head who is also
    // the contact sees the escalation, not the item twice).
    let mut by_item: BTreeMap<&str, &Due<'_>> = BTreeMap::new();
    for d in notices {
        let e = by_item.entry(d.item.key.as_str()).or_insert(d);
        if d.role > e.role {
            *e = d;
        }
    }
    let mut lines: Vec<&Due<'_>> = by_item.into_values().collect();
    // Most overdue first, then the nearest deadline.
    lines.sort_by(|a, b| {
        (a.item.deadline, &a.item.unit_id, &a.item.key).cmp(&(
            b.item.deadline,
            &b.item.unit_id,
            &b.item.key,
        ))
    });
    let mut by_unit: BTreeMap<&str, Vec<LineCtx>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut omitted: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut overdue, mut due_soon) = (0, 0);
    for (n, d) in lines.iter().enumerate() {
        let is_overdue = d.item.deadline < today;
        if is_overdue {
            overdue += 1;
        } else if (d.item.deadline - today).num_days() <= 3 {
            due_soon += 1;
        }
        let u = d.item.unit_id.as_str();
        if n >= DIGEST_LINES {
            *omitted.entry(u).or_default() += 1;
            continue;
        }
        if !by_unit.contains_key(u) {
            order.push(u);
        }
        by_unit.entry(u).or_default().push(LineCtx {
            title: d.item.title.to_string(),
            kind: d.item.kind.clone(),
            case_no: d.item.case_no.clone(),
            deadline: d.item.deadline.format("%Y-%m-%d").to_string(),
            stage: stage_label(&d.stage),
            detail: d.item.detail.clone(),
            action: d.item.action.to_string(),
            closes: d.item.closes.to_string(),
            overdue: is_overdue,
            link: base
                .zip(d.item.finding_id)
                .map(|(b, id)| format!("{b}/findings/{id}")),
        });
    }
    let units_ctx: Vec<UnitCtx> = order
        .iter()
        .map(|u| UnitCtx {
            name: units.display_name(u).to_string(),
            items: by_unit.remove(u).unwrap_or_default(),
        })
        .collect();
    let mut omitted_units: Vec<OmittedCtx> = omitted
        .iter()
        .map(|(u, n)| OmittedCtx {
            name: units.display_name(u).to_string(),
            count: *n,
        })
        .collect();
    // The most first; a unit's name breaks ties, so the text does not depend on the run.
    omitted_units.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    let omitted_more_units = omitted_units.len().saturating_sub(DIGEST_MORE_UNITS);
    omitted_units.truncate(DIGEST_MORE_UNITS);
    let first = lines.first();
    let role = notices.first().map_or(Role::Contact, |d| d.role);
    DigestCtx {
        subject: String::new(),
        recipient: notices
            .first()
            .map_or_else(String::new, |d| d.recipient.name.clone()),
        greeting: {
            let name = notices.first().map_or("", |d| d.recipient.name.as_str());
            if name.is_empty() || name.contains(role.label()) {
                name.to_string()
            } else {
                format!("{name}（{}）", role.label())
            }
        },
        role: role.label().to_string(),
        as_of: crate::domain::values::zh_date(today),
        office: office.to_string(),
        count: lines.len(),
        overdue,
        due_soon,
        unit: units_ctx
            .iter()
            .map(|u| u.name.as_str())
            .collect::<Vec<_>>()
            .join("、"),
        unit_short: match units_ctx.len() {
            0..=2 => units_ctx
                .iter()
                .map(|u| u.name.as_str())
                .collect::<Vec<_>>()
                .join("、"),
            n => format!("{}等{n}个单位", units_ctx[0].name),
        },
        first_case: first
            .map(|d| {
                d.item
                    .case_no
                    .clone()
                    .unwrap_or_else(|| d.item.title.to_string())
            })
            .unwrap_or_default(),
        first_due: first
            .map(|d| d.item.deadline.format("%m-%d").to_string())
            .unwrap_or_default(),
        units: units_ctx,
        omitted: lines.len().saturating_sub(DIGEST_LINES),
        omitted_units,
        omitted_more_units,
        findings_url: base.map(|b| format!("{b}/findings")),
    }
}

/// How many SMS segments a text bills as: one up to 70 characters, else 67 each.
pub fn sms_segments(text: &str) -> usize {
    let n = text.chars().count();
    if n <= 70 { 1 } else { n.div_ceil(67) }
}

/// Characters of one SMS template parameter at most (the providers cap a variable's length).
const SMS_PARAM_CHARS: usize = 20;

/// Bytes of a robot's markdown at most: WeCom takes 4,096.
const ROBOT_BYTES: usize = 3_800;

/// A robot's markdown cut at a line to fit [`ROBOT_BYTES`], saying how much is left out.
pub fn fit_robot(text: &str, items: usize) -> String {
    if text.len() <= ROBOT_BYTES {
        return text.to_string();
    }
    let tail = format!("\n……共{items}项，其余详见邮件。");
    let mut out = String::new();
    for line in text.lines() {
        if out.len() + line.len() + 1 + tail.len() > ROBOT_BYTES {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(tail.trim_start());
    out
}

/// An SMS text cut to at most `segments` segments, ending with "…" when cut.
pub fn fit_sms(text: &str, segments: usize) -> String {
    let max = if segments <= 1 { 70 } else { 67 * segments };
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Builds one message per (channel, address) from notices not queued before.
pub fn messages(
    cfg: &Config,
    calendar: &Calendar,
    templates: &Templates,
    notices: &[Due<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<NewMessage>, TemplateError> {
    let today = now.with_timezone(&Shanghai).date_naive();
    let mut groups: BTreeMap<(Channel, &str), Vec<&Due<'_>>> = BTreeMap::new();
    for d in notices {
        groups
            .entry((d.recipient.channel, d.recipient.address.as_str()))
            .or_default()
            .push(d);
    }
    let hours = crate::config::parse_hours(&cfg.notify.sms_hours).unwrap_or((510, 1080));
    let mut out = Vec::with_capacity(groups.len());
    let units = crate::units::Units::new(&cfg.units);
    let office = crate::units::office_name(&cfg.units);
    for ((channel, address), group) in groups {
        let mut ctx = digest_ctx(
            &units,
            &office,
            cfg.web.public_url.as_deref(),
            &group,
            today,
        );
        ctx.subject = templates.render("digest_subject.txt", &ctx)?;
        let (body, payload, not_before) = match channel {
            Channel::Email => (
                templates.render("digest.txt", &ctx)?,
                Some(templates.render("digest.html", &ctx)?),
                now,
            ),
            Channel::Sms => {
                let sms = cfg.notify.sms.as_ref();
                let sign = sms.map_or("", |s| s.sign_name.as_str());
                // A digest SMS bills as at most two segments; the e-mail carries the detail.
                let text = fit_sms(
                    &format!("【{sign}】{}", templates.render("digest_sms.txt", &ctx)?),
                    2,
                );
                let params: serde_json::Map<String, serde_json::Value> = sms
                    .map(|s| s.template_params.as_slice())
                    .unwrap_or_default()
                    .iter()
                    .map(|p| {
                        (
                            p.clone(),
                            serde_json::Value::String(crate::mask::mask_text(
                                &ctx.param(p)
                                    .chars()
                                    .take(SMS_PARAM_CHARS)
                                    .collect::<String>(),
                            )),
                        )
                    })
                    .collect();
                (
                    text,
                    Some(serde_json::Value::Object(params).to_string()),
                    sms_window(calendar, hours, now),
                )
            }
            Channel::Robot => (
                fit_robot(&templates.render("digest_robot.md", &ctx)?, ctx.count),
                None,
                now,
            ),
        };
        let mut keys: Vec<&str> = group.iter().map(|d| d.key.as_str()).collect();
        keys.sort_unstable();
        let hash = Sha256::digest(keys.join("\n").as_bytes());
        let unit_id = group.first().map(|d| d.item.unit_id.clone());
        out.push(NewMessage {
            dedupe_key: format!(
                "digest:{}:{address}:{}",
                channel.as_str(),
                hex::encode(&hash[..16])
            ),
            channel: channel.as_str().to_string(),
            address: address.to_string(),
            recipient: format!("{}（{}）", group[0].recipient.name, group[0].role.label()),
            unit_id,
            kind: "digest".into(),
            subject: ctx.subject.clone(),
            body,
            payload,
            not_before,
            notices: group
                .iter()
                .map(|d| NoticeKey {
                    key: d.key.clone(),
                    item: d.item.key.clone(),
                    finding_key: d.item.finding_key.clone(),
                    stage: d.stage.name.clone(),
                })
                .collect(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(
        rule: RuleId,
        state: crate::domain::rule::State,
        facts: serde_json::Value,
    ) -> StoredFinding {
        let t: DateTime<Utc> = "2025-10-20T00:00:00+08:00".parse().unwrap();
        StoredFinding {
            id: 1,
            key: format!("{rule}|scjg|K1"),
            rule,
            unit_id: "scjg".into(),
            case_key: Some("K1".into()),
            case_no: Some("稻市监罚〔2025〕1号".into()),
            arose_at: t,
            due: t,
            violated: matches!(rule, RuleId::R2 | RuleId::R3 | RuleId::R6),
            state,
            facts,
            first_seen_at: t,
            changed_at: t,
            resolved_at: None,
            resolution: None,
            waived_at: None,
            waived_by: None,
            waived_reason: None,
        }
    }

    /// A digest lists at most `DIGEST_LINES` items one by one, the most overdue first, and says
    /// how many more there are, for which units (the most first), and where to see them all;
    /// its notices still cover every item. A small digest says nothing of the kind.
    #[test]
    fn a_digest_of_thousands_lists_the_most_overdue_and_counts_the_rest_by_unit() {
        use crate::config::UnitConfig;
        let today = NaiveDate::from_ymd_opt(2025, 12, 1).unwrap();
        let mut cfg = Config {
            units: (0..30)
                .map(|u| UnitConfig {
                    id: format!("u{u:02}"),
                    name: format!("第{u:02}局"),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        cfg.web.public_url = Some("https://lianban.example.gov.cn/".into());
        // Unit u00 owes 100 items due long ago, the others 60 each due later: 1,840 in all.
        let items: Vec<Item> = (0..30)
            .flat_map(|u| {
                let n = if u == 0 { 100 } else { 60 };
                (0..n).map(move |i| Item {
                    key: format!("finding:u{u:02}:{i}"),
                    finding_key: Some(format!("u{u:02}:{i}")),
                    finding_id: Some(i64::from(u) * 1000 + i64::from(i)),
                    kind: "R4".into(),
                    unit_id: format!("u{u:02}"),
                    title: format!("案件{u}-{i}未录入").into(),
                    case_no: None,
                    deadline: today
                        - chrono::Duration::days(if u == 0 { 90 } else { 10 + i64::from(u) }),
                    detail: String::new(),
                    action: Cow::Borrowed(""),
                    closes: Cow::Borrowed(""),
                    repeats: true,
                    early: Vec::new(),
                })
            })
            .collect();
        let office = Recipient {
            channel: Channel::Email,
            address: "office@example.gov.cn".into(),
            name: "府检联动办公室".into(),
        };
        let dues: Vec<Due<'_>> = items
            .iter()
            .map(|item| Due {
                item,
                stage: Stage {
                    name: "escalation-2".into(),
                    day: today,
                    kind: StageKind::Escalation { level: 2, days: 30 },
                },
                role: Role::Liaison,
                recipient: &office,
                key: format!("{}:escalation-2:office", item.key),
            })
            .collect();
        let calendar = crate::domain::calendar::Calendar::china().unwrap();
        let templates = crate::notify::templates::Templates::load(None).unwrap();
        // 09:00 in Shanghai.
        let now = today.and_hms_opt(1, 0, 0).unwrap().and_utc();
        let digests = messages(&cfg, &calendar, &templates, &dues, now).unwrap();
        let [m] = digests.as_slice() else {
            panic!("one digest, got {}", digests.len());
        };
        assert_eq!(m.notices.len(), 1840, "every item is notified");
        // The first 200 lines: u00's 100 (most overdue), then the next most overdue units'.
        let listed = m.body.matches("未录入").count();
        assert_eq!(listed, DIGEST_LINES, "{}", &m.body[..2000]);
        assert!(m.body.contains("案件0-99未录入"));
        assert!(m.body.contains("共1840项"), "the total still counts all");
        assert!(
            m.body
                .contains("另有1640项（期限在上列各项之后）未逐条列出："),
            "{}",
            &m.body[m.body.len() - 1500..]
        );
        assert!(
            m.body.contains("等，另有8个单位"),
            "30 units less 2 listed whole, 20 named"
        );
        assert!(
            m.body.contains(
                "请登录府检联动平台查看全部事项：https://lianban.example.gov.cn/findings"
            )
        );
        let html = m.payload.as_deref().unwrap();
        assert!(html.contains("另有<b>1640</b>项"));
        // (The HTML escapes the slashes of an address, as a browser reads it back.)
        let html = html.replace("&#x2f;", "/");
        assert!(
            html.contains("<a href=\"https://lianban.example.gov.cn/findings\">"),
            "{}",
            &html[html.len() - 1500..]
        );
        assert!(m.body.len() < 100_000, "{} bytes", m.body.len());

        // A digest within the bound lists everything and no "more" line.
        let few: Vec<Due<'_>> = dues.iter().take(5).cloned().collect();
        let m = &messages(&cfg, &calendar, &templates, &few, now).unwrap()[0];
        assert_eq!(m.body.matches("未录入").count(), 5);
        assert!(!m.body.contains("另有"), "{}", m.body);
    }

    /// Each rule's reminder says what raised it (with the values that matter), what to do and
    /// where, and what closes it; a late entry (R2) is recorded, never a reminder.
    #[test]
    fn each_rules_item_carries_its_fact_its_action_and_what_closes_it() {
        use crate::domain::rule::State;
        use serde_json::json;
        // (rule, facts as the rules write them, what the fact line must say, what the action
        // must name)
        let table = [
            (
                RuleId::R1,
                json!({"transfer_decided_on": "2025-10-09", "due_date": "2025-10-14", "match": "none"}),
                vec!["2025年10月9日决定移送", "2025年10月14日前录入", "未查到"],
                "两法衔接平台",
            ),
            (
                RuleId::R3,
                json!({"differences": [{"field": "amount", "case": "80000.00", "platform": "8000.00"}]}),
                vec!["金额：本单位为80000.00，平台为8000.00"],
                "更正",
            ),
            (
                RuleId::R4,
                json!({"decided_on": "2025-10-09", "due_date": "2025-10-16", "match": "none"}),
                vec!["2025年10月9日作出处罚决定", "2025年10月16日前录入平台"],
                "有案必录",
            ),
            (
                RuleId::R5,
                json!({"decided_on": "2025-10-09", "due_date": "2025-10-20"}),
                vec!["2025年10月20日前抄送"],
                "抄送同级公安机关和人民检察院",
            ),
            (
                RuleId::R6,
                json!({"decided_on": "2025-10-09", "cause": "销售假冒注册商标的商品", "amount": "80000.00",
                                "threshold_cause": "假冒注册商标", "threshold": "50000.00", "article": "立案追诉标准（一）第69条"}),
                vec![
                    "金额80000.00元",
                    "“假冒注册商标”立案追诉标准50000.00元",
                    "第69条",
                ],
                "移送公安机关",
            ),
            (
                RuleId::R6,
                json!({"closed_on": "2025-10-08", "marked_suspected_crime": true}),
                vec!["本单位已认定涉嫌犯罪，未作移送决定即于2025年10月8日结案"],
                "移送公安机关",
            ),
            (
                RuleId::R7,
                json!({"received_on": "2025-08-20", "due_date": "2025-10-20", "months": 2}),
                vec!["2025年8月20日收到检察建议", "2025年10月20日前书面回复"],
                "书面回复",
            ),
            (
                RuleId::R8,
                json!({"received_on": "2025-08-20", "due_date": "2025-10-20", "months": 2}),
                vec!["收到检察意见"],
                "检察意见的处理结果",
            ),
            (
                RuleId::R9,
                json!({"decided_on": "2025-10-01", "due_date": "2025-10-16", "days": 15}),
                vec!["重大行政处罚决定", "2025年10月16日前报送备案"],
                "备案",
            ),
            (
                RuleId::R10,
                json!({"received_on": "2025-10-09", "due_date": "2025-10-19", "calendar_days": 10, "economic": true}),
                vec!["2025年10月9日接受移送", "经济犯罪案件10日"],
                "立案或不予立案",
            ),
        ];
        for (rule, facts, says, action) in table {
            let items = finding_items(&[stored(rule, State::Overdue, facts)], true);
            let [item] = items.as_slice() else {
                panic!("{rule}: one item, got {items:?}");
            };
            for s in says {
                assert!(
                    item.detail.contains(s),
                    "{rule}: {:?} lacks {s:?}",
                    item.detail
                );
            }
            assert!(item.action.contains(action), "{rule}: {:?}", item.action);
            assert!(
                item.closes.contains("销号") || item.closes.contains("核销"),
                "{rule}: {:?}",
                item.closes
            );
        }
        let r2 = stored(
            RuleId::R2,
            State::Recorded,
            json!({"transfer_decided_on": "2025-10-09", "due_date": "2025-10-14", "days_late": 6}),
        );
        assert!(
            finding_items(std::slice::from_ref(&r2), true).is_empty(),
            "recorded, not owed"
        );
        assert!(fact(&r2).contains("迟延6天"), "{}", fact(&r2));
        assert!(RuleId::R2.action_zh().contains("无需补办"));
    }

    #[test]
    fn sms_texts_are_sized_in_70_and_67_character_segments() {
        let t = |n: usize| "字".repeat(n);
        assert_eq!(sms_segments(&t(70)), 1);
        assert_eq!(sms_segments(&t(71)), 2);
        assert_eq!(sms_segments(&t(134)), 2);
        assert_eq!(sms_segments(&t(135)), 3);
        assert_eq!(fit_sms(&t(134), 2), t(134));
        let cut = fit_sms(&t(200), 2);
        assert_eq!(cut.chars().count(), 134);
        assert!(cut.ends_with('…'));
        assert_eq!(sms_segments(&cut), 2);
        assert_eq!(fit_sms(&t(80), 1).chars().count(), 70);
    }

    #[test]
    fn a_long_robot_message_is_cut_at_a_line_under_wecoms_limit() {
        let text: String = (0..200)
            .map(|i| format!("> {i}. 行政处罚案件未录入平台\n"))
            .collect();
        let cut = fit_robot(&text, 200);
        assert!(cut.len() <= ROBOT_BYTES, "{}", cut.len());
        assert!(cut.ends_with("……共200项，其余详见邮件。"), "{cut}");
        assert!(
            cut.lines()
                .all(|l| l.starts_with("> ") || l.starts_with("……"))
        );
        assert_eq!(fit_robot("短", 1), "短");
    }
}
