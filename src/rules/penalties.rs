//! R6: a penalised case that looks like a crime, with no transfer (以罚代刑).

use serde_json::{Map, Value as Json, json};

use std::collections::HashMap;

use chrono::NaiveDate;

use super::{Ctx, Finding, RuleId, Seen, case_finding, fact_value, record_facts, ymd};
use crate::domain::calendar::Calendar;
use crate::domain::text;
use crate::domain::values::{format_fen, parse_amount_fen};
use crate::records::Field;
use crate::records::{Record, Value};

/// A configured threshold, ready to compare: the cause squeezed, the amount in fen.
struct Threshold<'c> {
    cause: String,
    fen: i64,
    article: &'c str,
}

/// **R6** — 国务院令第310号 art. 5 and art. 11 (a penalty does not replace a transfer: 不得以行政
/// 处罚代替移送) and 最高人民检察院、公安部《关于公安机关管辖的刑事案件立案追诉标准的规定》
/// (立案追诉标准, the threshold per cause, each with its article in the configuration; SPEC §3).
/// A case with a penalty decision (`decided_on`, not after
/// `now`'s day) whose `amount` is at or above a configured threshold (`r6_thresholds`) for its
/// `cause`, and which has no transfer decision (`transfer_decided_on` empty), is a possible
/// 以罚代刑: a violation, due at the end of the decision day.
///
/// **The plainest 以罚代刑**: a case the department itself marked 涉嫌犯罪 (`suspected_crime`
/// true) that was penalised (`decided_on`) or closed (`closed_on`), not after `now`'s day, with
/// no transfer decision. 国务院令第310号《行政执法机关移送涉嫌犯罪案件的规定》 art. 5 has the
/// responsible person decide on the transfer within 3 days of the report, and art. 11 forbids
/// replacing the transfer by a penalty (不得以行政处罚代替移送). A violation, due at the end of
/// the decision (or closing) day; the facts say `marked_suspected_crime`. (R1 counts from a
/// transfer decision, so without this such a case raised nothing at all.)
///
/// A threshold applies when its `cause`, after [`text::squeeze`] (widths folded, spaces
/// removed), is a substring of the case's squeezed cause. When several apply, the first in the
/// configuration that the amount reaches is reported. A case without a cause or an amount is no
/// subject. A threshold whose amount does not parse is skipped (configuration loading rejects
/// it already). A later transfer decision makes the finding disappear, and the store resolves
/// it.
///
/// A case-file review (案卷评查, SPEC §4) that marks a file "should have been transferred"
/// (应移送未移送) raises the same finding for a case without a transfer decision, whatever its
/// amount, due at the end of its decision day (or of the review's day); the facts carry the
/// review.
pub(super) fn evaluate(
    cases: &[Record],
    reviews: &[Record],
    ctx: &Ctx<'_>,
    emit: &mut impl FnMut(Finding),
) {
    let thresholds: Vec<Threshold<'_>> = ctx
        .cfg
        .r6_thresholds
        .iter()
        .filter_map(|t| {
            let cause = text::squeeze(&t.cause);
            let fen = parse_amount_fen(&t.amount_yuan).ok()?;
            (!cause.is_empty()).then_some(Threshold {
                cause,
                fen,
                article: &t.article,
            })
        })
        .collect();
    // Reviews (案卷评查) that found a file should have been transferred, by (unit, case key).
    let flagged: HashMap<(&str, &str), (&Record, NaiveDate)> = reviews
        .iter()
        .filter(|r| r.flag(Field::ShouldTransfer) == Some(true))
        .filter_map(|r| match r.get(Field::ReviewedOn) {
            Value::Date(d) if *d <= ctx.today => {
                Some(((r.unit_id.as_str(), r.case_no.key()), (r, *d)))
            }
            _ => None,
        })
        .collect();
    let mut seen = Seen::default();
    for case in cases {
        if !case.get(Field::TransferDecidedOn).is_null() {
            continue;
        }
        let decided = match case.get(Field::DecidedOn) {
            Value::Date(d) if *d <= ctx.today => Some(*d),
            Value::Date(_) => continue,
            _ => None,
        };
        let closed = case.date(Field::ClosedOn).filter(|d| *d <= ctx.today);
        let marked = case.flag(Field::SuspectedCrime) == Some(true)
            && (decided.is_some() || closed.is_some());
        let hit = match (decided, case.get(Field::Cause), case.get(Field::Amount)) {
            (Some(_), Value::Text(cause), Value::Fen(amount)) => {
                let squeezed = text::squeeze(cause);
                thresholds
                    .iter()
                    .find(|t| *amount >= t.fen && squeezed.contains(t.cause.as_str()))
                    .map(|t| (t, cause, *amount))
            }
            _ => None,
        };
        let review = flagged.get(&(case.unit_id.as_str(), case.case_no.key()));
        if hit.is_none() && review.is_none() && !marked {
            continue;
        }
        if !seen.first(case) {
            continue;
        }
        let mut facts = Map::new();
        if let Some(d) = decided {
            facts.insert("decided_on".into(), json!(ymd(d)));
        }
        if marked {
            facts.insert("marked_suspected_crime".into(), json!(true));
            if let (None, Some(c)) = (decided, closed) {
                facts.insert("closed_on".into(), json!(ymd(c)));
            }
        }
        if let Some((t, cause, amount)) = hit {
            facts.insert("cause".into(), json!(cause));
            facts.insert("amount".into(), fact_value(&Value::Fen(amount)));
            facts.insert("threshold_cause".into(), json!(t.cause));
            facts.insert("threshold".into(), json!(format_fen(t.fen)));
            facts.insert("article".into(), json!(t.article));
        }
        if let Some((r, _)) = review {
            facts.insert("review".into(), record_facts(r));
        }
        // Due at the end of the decision day, else of the closing day (a marked case), else of
        // the review's day.
        let day = decided
            .or(closed.filter(|_| marked))
            .or(review.map(|(_, d)| *d))
            .unwrap_or(ctx.today);
        let mut f = case_finding(
            RuleId::R6,
            case,
            day,
            Calendar::end_of_day_utc(day),
            Json::Object(facts),
        );
        f.violated = true;
        emit(f);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::super::*;
    use crate::domain::calendar::Calendar;
    use crate::records::Value;

    const NO: &str = "稻市监罚〔2025〕12号";

    fn cfg() -> RulesConfig {
        RulesConfig {
            r6_thresholds: vec![
                R6Threshold {
                    cause: "生产、销售伪劣产品".into(),
                    amount_yuan: "50000".into(),
                    article: "立案追诉标准（一）第16条".into(),
                },
                R6Threshold {
                    cause: "非法经营".into(),
                    amount_yuan: "5万".into(),
                    article: "立案追诉标准（二）第71条".into(),
                },
            ],
            ..RulesConfig::default()
        }
    }

    fn penalised(cause: &str, fen: i64) -> Record {
        let c = decided("scjg", NO, "张三", "2025-09-30");
        let c = set(c, "cause", Value::Text(cause.into()));
        set(c, "amount", Value::Fen(fen))
    }

    fn run(cases: &[Record], cfg: &RulesConfig) -> Vec<Finding> {
        let cal = Calendar::china().expect("shipped calendar");
        evaluate(
            &Data {
                cases,
                ..Data::default()
            },
            &cal,
            cfg,
            at("2025-10-20 00:00"),
        )
        .into_iter()
        .filter(|f| f.rule == RuleId::R6)
        .collect()
    }

    #[test]
    fn r6_flags_an_amount_at_or_above_the_threshold_for_the_cause_and_nothing_below() {
        // (name, cause, amount in fen, expected threshold)
        let table = [
            (
                "at the threshold",
                "生产、销售伪劣产品",
                5_000_000,
                Some("50000.00"),
            ),
            (
                "above it",
                "生产、销售伪劣产品",
                7_300_050,
                Some("50000.00"),
            ),
            ("one fen below", "生产、销售伪劣产品", 4_999_999, None),
            ("another cause", "无照经营", 9_000_000, None),
            (
                "second threshold",
                "涉嫌非法经营烟草制品",
                5_000_000,
                Some("50000.00"),
            ),
            (
                "full-width and spaced cause",
                "生产、销售 伪劣产品（食品）",
                5_000_000,
                Some("50000.00"),
            ),
            (
                "ideographic space",
                "非法\u{3000}经营",
                6_000_000,
                Some("50000.00"),
            ),
        ];
        for (name, cause, fen, want) in table {
            let got = run(&[penalised(cause, fen)], &cfg());
            assert_eq!(
                got.first()
                    .map(|f| f.facts["threshold"].as_str().unwrap_or("?")),
                want,
                "{name}"
            );
            if let Some(f) = got.first() {
                assert_eq!(got.len(), 1, "{name}");
                assert!(f.violated, "{name}");
                assert_eq!(f.key, "R6|scjg|稻市监罚[2025]12号", "{name}");
                assert_eq!(f.due, Calendar::end_of_day_utc(day("2025-09-30")), "{name}");
                assert_eq!(f.state(at("2025-10-20 00:00"), &cfg()), State::Overdue);
                assert_eq!(f.facts["cause"], cause, "{name}");
                assert!(f.facts["article"].as_str().is_some_and(|a| !a.is_empty()));
            }
        }
    }

    #[test]
    fn a_case_with_a_transfer_decision_yields_no_r6_and_one_flagged_as_a_crime_does() {
        let base = penalised("生产、销售伪劣产品", 9_000_000);
        let table = [
            ("no transfer", base.clone(), 1),
            (
                "transfer decided",
                set(
                    base.clone(),
                    "transfer_decided_on",
                    Value::Date(day("2025-10-09")),
                ),
                0,
            ),
            // Marked 涉嫌犯罪 and penalised without transfer: 以罚代刑 itself (国务院令第310号
            // art. 11), whatever the thresholds.
            (
                "flagged as a suspected crime",
                set(base.clone(), "suspected_crime", Value::Bool(true)),
                1,
            ),
            (
                "flagged as no crime",
                set(base.clone(), "suspected_crime", Value::Bool(false)),
                1,
            ),
            (
                "decided after now",
                set(base.clone(), "decided_on", Value::Date(day("2025-10-21"))),
                0,
            ),
            ("no amount", set(base.clone(), "amount", Value::Null), 0),
        ];
        for (name, case, want) in table {
            assert_eq!(run(&[case], &cfg()).len(), want, "{name}");
        }
        assert!(
            run(&[base], &RulesConfig::default()).is_empty(),
            "no thresholds configured, no R6"
        );
    }

    /// 国务院令第310号《行政执法机关移送涉嫌犯罪案件的规定》 art. 5 (the transfer is decided
    /// within 3 days of the report) and art. 11 (a penalty does not replace the transfer): a case
    /// the department marked 涉嫌犯罪, penalised or closed with no transfer decision, is R6
    /// whatever its amount and whether or not thresholds are configured.
    #[test]
    fn a_case_marked_as_a_crime_and_penalised_or_closed_without_transfer_is_r6() {
        let marked = set(
            decided("scjg", NO, "张三", "2025-09-30"),
            "suspected_crime",
            Value::Bool(true),
        );
        let closed_only = set(
            set(
                plain_case("scjg", NO, "张三"),
                "suspected_crime",
                Value::Bool(true),
            ),
            "closed_on",
            Value::Date(day("2025-10-08")),
        );
        // (name, case, the day it is due at the end of, or none)
        let table = [
            ("penalised", marked.clone(), Some("2025-09-30")),
            (
                "closed without a penalty",
                closed_only.clone(),
                Some("2025-10-08"),
            ),
            (
                "neither penalised nor closed yet",
                set(
                    plain_case("scjg", NO, "张三"),
                    "suspected_crime",
                    Value::Bool(true),
                ),
                None,
            ),
            (
                "transfer decided",
                set(
                    marked.clone(),
                    "transfer_decided_on",
                    Value::Date(day("2025-10-02")),
                ),
                None,
            ),
            (
                "closed after now",
                set(closed_only, "closed_on", Value::Date(day("2025-10-21"))),
                None,
            ),
            (
                "not marked, no threshold reached",
                set(marked, "suspected_crime", Value::Bool(false)),
                None,
            ),
        ];
        for (name, case, due) in table {
            let got = run(std::slice::from_ref(&case), &RulesConfig::default());
            assert_eq!(
                got.iter().map(|f| f.due).collect::<Vec<_>>(),
                due.map(|d| Calendar::end_of_day_utc(day(d)))
                    .into_iter()
                    .collect::<Vec<_>>(),
                "{name}"
            );
            if let Some(f) = got.first() {
                assert!(f.violated, "{name}");
                assert_eq!(f.facts["marked_suspected_crime"], true, "{name}");
            }
        }
    }

    #[test]
    fn a_review_that_says_should_have_been_transferred_raises_r6_whatever_the_amount() {
        let cal = Calendar::china().expect("shipped calendar");
        let review = |no: &str, should: bool, on: &str| {
            let mut r = Record {
                feed: crate::records::Feed::Reviews,
                unit_id: "scjg".into(),
                unit_known: true,
                case_no: crate::domain::case_no::CaseNo::parse(no).expect("number"),
                values: vec![Value::Null; crate::records::Feed::Reviews.fields().len()],
            };
            r = set(r, "reviewed_on", Value::Date(day(on)));
            set(r, "should_transfer", Value::Bool(should))
        };
        let small = penalised("销售过期食品", 50_000);
        let transferred = set(
            decided("scjg", "稻市监罚〔2025〕13号", "李四", "2025-09-01"),
            "transfer_decided_on",
            Value::Date(day("2025-09-05")),
        );
        let cases = [small, transferred];
        let run = |reviews: &[Record], now: &str| {
            evaluate(
                &Data {
                    cases: &cases,
                    reviews,
                    ..Data::default()
                },
                &cal,
                &RulesConfig::default(),
                at(now),
            )
            .into_iter()
            .filter(|f| f.rule == RuleId::R6)
            .collect::<Vec<_>>()
        };
        let flagged = [
            review(NO, true, "2025-10-15"),
            review("稻市监罚〔2025〕13号", true, "2025-10-15"),
        ];
        let got = run(&flagged, "2025-10-20 00:00");
        assert_eq!(got.len(), 1, "not for the transferred case");
        assert_eq!(got[0].key, "R6|scjg|稻市监罚[2025]12号");
        assert_eq!(got[0].facts["review"]["reviewed_on"], "2025-10-15");
        assert!(got[0].facts.get("threshold").is_none());
        assert!(
            run(&flagged, "2025-10-14 00:00").is_empty(),
            "a review after now is not known"
        );
        assert!(run(&[review(NO, false, "2025-10-15")], "2025-10-20 00:00").is_empty());
    }
}
