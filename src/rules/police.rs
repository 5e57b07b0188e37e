//! R10: the police's filing decision on a transfer received through the two-law platform.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json, json};

use super::matching::{Match, Matcher, shanghai_day, usable_key};
use super::{
    Ctx, Deadline, Finding, RuleId, case_finding, existed_at, local, record_facts,
    start_of_day_utc, ymd,
};
use crate::domain::text;
use crate::records::Field;
use crate::records::Record;

/// **R10** — 国务院令第310号《行政执法机关移送涉嫌犯罪案件的规定》art. 8: the police decide
/// whether to file a transferred case within 3 days of receiving it (`r10_days`). For a
/// transferred economic crime, 《公安机关办理经济犯罪案件的若干规定》 art. 16 asks for the
/// decision within 3 days and at the latest within 10 (至迟应当在十日以内; `r10_economic_days`;
/// SPEC §3), and allows 30 more days for a major or complex case with approval, which R10 does
/// not model. The days are calendar days counted from the day after the receipt
/// (`transferred_at`, its Asia/Shanghai day); a last day that is a holiday moves to the next
/// working day (民法典 art. 203, [`Calendar::add_calendar_days`]).
///
/// **Subjects**: every platform referral with a `transferred_at` at or before `now`. A referral
/// without one gives no receipt to count from and is no subject.
///
/// **Scope**: SPEC §3 applies R10 only where the platform source carries police decisions.
/// That is read from the data: R10 is evaluated only when at least one referral (at any time)
/// has a `police_decision` or a `police_decided_on`; a feed without either column, or with them
/// always empty, yields no R10 at all.
///
/// **Economic crime**: when the referral is the matched record of a case (the same
/// [`Matcher`] as R1, seen from the case side), the case's `cause`, after [`text::squeeze`],
/// contains one of `r10_economic_causes`. An unmatched or ambiguously matched referral has no
/// cause and counts 3 days; the facts say so.
///
/// **Resolution**: when the referral carries both a `police_decision` and a
/// `police_decided_on` on or before `now`'s day, at the *start* (00:00 Asia/Shanghai) of the
/// decision day — the platform gives the day, not the hour, and a decision on the due day must
/// count as on time. A decision after the due day still resolves the finding; its facts give
/// the days late. A decision without a date (or a date without a decision) resolves nothing,
/// and the facts say so.
///
/// **Identity**: the matched case's (`R10|unit|case_key`); for a referral matched to no case,
/// the referral's unit and case key, and when its number holds no digit also its receipt time
/// (`R10|unit|无@2025-09-30T10:00:00+08:00`), so unnumbered referrals stay apart. A second
/// referral with the same key is skipped.
pub(super) fn evaluate(
    matcher: &Matcher<'_>,
    referrals: &[Record],
    carries_decisions: Option<bool>,
    now: DateTime<Utc>,
    ctx: &Ctx<'_>,
    emit: &mut impl FnMut(Finding),
) {
    let carries_decisions = carries_decisions.unwrap_or_else(|| {
        referrals.iter().any(|r| {
            !r.get(Field::PoliceDecision).is_null() || !r.get(Field::PoliceDecidedOn).is_null()
        })
    });
    if !carries_decisions {
        return;
    }
    // Referral (by address) → the case it is the matched record of.
    let mut case_of: HashMap<*const Record, &Record> = HashMap::new();
    for &(case, _) in matcher.subjects() {
        if let Match::Matched(r) = matcher.find(case) {
            case_of.entry(std::ptr::from_ref(r)).or_insert(case);
        }
    }
    let economic: Vec<String> = ctx
        .cfg
        .r10_economic_causes
        .iter()
        .map(|c| text::squeeze(c))
        .filter(|c| !c.is_empty())
        .collect();
    let mut seen: HashSet<String> = HashSet::new();
    for r in referrals.iter().filter(|r| existed_at(r, now)) {
        let Some(received) = r.time(Field::TransferredAt) else {
            continue;
        };
        if received > now {
            continue;
        }
        let case = case_of.get(&std::ptr::from_ref(r)).copied();
        let cause = case.and_then(|c| c.text(Field::Cause));
        let is_economic = cause.is_some_and(|c| {
            let c = text::squeeze(c);
            economic.iter().any(|e| c.contains(e.as_str()))
        });
        let days = if is_economic {
            ctx.cfg.r10_economic_days
        } else {
            ctx.cfg.r10_days
        };
        let receipt = shanghai_day(received);
        let deadline = Deadline::calendar_days(ctx.cal, receipt, days);
        let mut f = match case {
            Some(case) => case_finding(RuleId::R10, case, receipt, deadline.due, Json::Null),
            None => referral_finding(r, start_of_day_utc(receipt), deadline.due),
        };
        if !seen.insert(f.key.clone()) {
            continue;
        }

        let mut facts = Map::new();
        facts.insert("transferred_at".into(), json!(local(received)));
        facts.insert("received_on".into(), json!(ymd(receipt)));
        facts.insert("calendar_days".into(), json!(days));
        facts.insert("economic".into(), json!(is_economic));
        match (case, cause) {
            (Some(_), Some(c)) => {
                facts.insert("cause".into(), json!(c));
            }
            (Some(_), None) => {}
            (None, _) => {
                facts.insert("case_match".into(), json!("none"));
            }
        }
        deadline.describe(ctx.cal, &mut facts);
        let decision = r
            .text(Field::PoliceDecision)
            .filter(|s| !s.trim().is_empty());
        let decided_on = r.date(Field::PoliceDecidedOn).filter(|d| *d <= ctx.today);
        match (decision, decided_on) {
            (Some(_), Some(d)) => {
                f.satisfied_at = Some(start_of_day_utc(d));
                if d > deadline.day {
                    facts.insert("days_late".into(), json!((d - deadline.day).num_days()));
                }
            }
            (Some(_), None) => {
                facts.insert("police_decision_without_date".into(), json!(true));
            }
            (None, Some(_)) => {
                facts.insert("police_decided_on_without_decision".into(), json!(true));
            }
            (None, None) => {}
        }
        facts.insert("referral".into(), record_facts(r));
        f.facts = Json::Object(facts);
        emit(f);
    }
}

/// A finding about a referral that no case claims: identified by the referral itself.
/// The key of R10's finding about a referral matched to no case: its unit and case key, and
/// for a number that holds no digit also its receipt time. `None` without a receipt time.
pub fn referral_key(r: &Record) -> Option<String> {
    let received = r.time(Field::TransferredAt)?;
    Some(match usable_key(r) {
        Some(k) => format!("{}|{}|{k}", RuleId::R10, r.unit_id),
        None => format!(
            "{}|{}|{}@{}",
            RuleId::R10,
            r.unit_id,
            r.case_no.key(),
            local(received)
        ),
    })
}

fn referral_finding(r: &Record, arose_at: DateTime<Utc>, due: DateTime<Utc>) -> Finding {
    let key = referral_key(r)
        .unwrap_or_else(|| format!("{}|{}|{}", RuleId::R10, r.unit_id, r.case_no.key()));
    Finding {
        rule: RuleId::R10,
        key,
        unit_id: r.unit_id.clone(),
        case_no: Some(r.case_no.as_written().to_owned()),
        case_key: usable_key(r).map(str::to_owned),
        arose_at,
        due,
        satisfied_at: None,
        violated: false,
        facts: Json::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::super::*;
    use super::start_of_day_utc;
    use crate::domain::calendar::Calendar;
    use crate::records::Value;

    const NO: &str = "稻市监罚〔2025〕12号";

    fn received(no: &str, at_: &str) -> Record {
        let r = referral("scjg", no, "张三", at_);
        set(r, "transferred_at", Value::DateTime(at(at_)))
    }

    fn decided_by_police(r: Record, on: &str) -> Record {
        let r = set(r, "police_decision", Value::Text("立案".into()));
        set(r, "police_decided_on", Value::Date(day(on)))
    }

    /// A referral elsewhere on the platform that carries a police decision, so that the source
    /// is in scope.
    fn witness() -> Record {
        decided_by_police(
            received("稻市监罚〔2025〕99号", "2025-09-01 09:00"),
            "2025-09-02",
        )
    }

    fn case_with_cause(cause: &str) -> Record {
        let c = transfer("scjg", NO, "张三", "2025-09-29");
        set(c, "cause", Value::Text(cause.into()))
    }

    fn r10(cases: &[Record], referrals: &[Record], now: &str) -> Vec<Finding> {
        let cal = Calendar::china().expect("shipped calendar");
        evaluate(
            &Data {
                cases,
                referrals,
                ..Data::default()
            },
            &cal,
            &RulesConfig::default(),
            at(now),
        )
        .into_iter()
        .filter(|f| f.rule == RuleId::R10 && f.key.contains("12号"))
        .collect()
    }

    #[test]
    fn r10_counts_calendar_days_from_receipt_and_rolls_a_holiday_to_the_next_working_day() {
        // (receipt, case cause, due day)
        let table = [
            // 10-03 is in the National Day break (10-01..08): the next working day is 10-09.
            ("2025-09-30 10:00", "销售不合格产品", "2025-10-09"),
            ("2025-09-26 10:00", "销售不合格产品", "2025-09-29"),
            // 09-25 + 3 = 09-28, a Sunday worked (调休): no roll.
            ("2025-09-25 10:00", "销售不合格产品", "2025-09-28"),
            // Economic crimes: 10 days.
            ("2025-09-30 10:00", "涉嫌非法经营", "2025-10-10"),
            ("2025-09-25 10:00", "合同 诈骗", "2025-10-09"),
            // Late in the evening still counts from that Asia/Shanghai day.
            ("2025-09-30 23:59", "销售不合格产品", "2025-10-09"),
        ];
        for (receipt, cause, due) in table {
            let cases = [case_with_cause(cause)];
            let referrals = [received(NO, receipt), witness()];
            let got = r10(&cases, &referrals, "2025-11-01 00:00");
            assert_eq!(got.len(), 1, "{receipt} {cause}");
            let f = &got[0];
            assert_eq!(f.key, "R10|scjg|稻市监罚[2025]12号");
            assert_eq!(
                f.due,
                Calendar::end_of_day_utc(day(due)),
                "{receipt} {cause}"
            );
            assert_eq!(f.facts["due_date"], due);
            assert_eq!(f.facts["cause"], cause);
            assert_eq!(f.satisfied_at, None);
            assert!(!f.violated);
            assert_eq!(
                f.state(at("2025-11-01 00:00"), &RulesConfig::default()),
                State::Overdue
            );
        }
    }

    #[test]
    fn a_police_decision_resolves_r10_from_the_start_of_its_day() {
        let cfg = RulesConfig::default();
        // Received 2025-09-30, due 2025-10-09.
        let table = [
            // (decided on, now, state, days late)
            ("2025-10-09", "2025-10-09 08:00", State::Resolved, None),
            ("2025-10-10", "2025-10-09 23:00", State::DueSoon, None),
            ("2025-10-10", "2025-10-10 00:00", State::Resolved, Some(1)),
            ("2025-10-20", "2025-10-15 00:00", State::Overdue, None),
        ];
        for (on, now, want, late) in table {
            let cases = [case_with_cause("销售不合格产品")];
            let referrals = [decided_by_police(received(NO, "2025-09-30 10:00"), on)];
            let got = r10(&cases, &referrals, now);
            assert_eq!(got.len(), 1, "{on} at {now}");
            assert_eq!(got[0].state(at(now), &cfg), want, "{on} at {now}");
            assert_eq!(got[0].facts["days_late"].as_i64(), late, "{on} at {now}");
            if want == State::Resolved {
                assert_eq!(got[0].satisfied_at, Some(start_of_day_utc(day(on))));
            }
        }
    }

    #[test]
    fn r10_applies_only_where_the_platform_source_carries_police_decisions() {
        let cases = [case_with_cause("销售不合格产品")];
        let now = "2025-11-01 00:00";
        assert!(
            r10(&cases, &[received(NO, "2025-09-30 10:00")], now).is_empty(),
            "no police columns at all"
        );
        let date_only = set(
            received("稻市监罚〔2025〕99号", "2025-09-01 09:00"),
            "police_decided_on",
            Value::Date(day("2025-09-02")),
        );
        assert_eq!(
            r10(&cases, &[received(NO, "2025-09-30 10:00"), date_only], now).len(),
            1
        );
        let decision_only = set(
            received(NO, "2025-09-30 10:00"),
            "police_decision",
            Value::Text("不予立案".into()),
        );
        let got = r10(&cases, &[decision_only], now);
        assert_eq!(got.len(), 1, "its own column puts the source in scope");
        assert_eq!(got[0].satisfied_at, None);
        assert_eq!(got[0].facts["police_decision_without_date"], true);
    }

    #[test]
    fn a_referral_of_no_case_is_its_own_subject_and_one_not_yet_received_is_none() {
        let now = "2025-11-01 00:00";
        let got = r10(&[], &[received(NO, "2025-09-30 10:00"), witness()], now);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].key, "R10|scjg|稻市监罚[2025]12号");
        assert_eq!(got[0].facts["case_match"], "none");
        assert_eq!(got[0].facts["economic"], false);
        let got = r10(&[], &[received(NO, "2025-11-02 10:00"), witness()], now);
        assert!(got.is_empty(), "received after now");
    }
}
