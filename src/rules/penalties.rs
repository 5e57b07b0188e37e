//! R6: a penalised case that looks like a crime, with no transfer (以罚代刑).

use serde_json::{Map, Value as Json, json};

use super::{Ctx, Finding, RuleId, Seen, case_finding, fact_value, ymd};
use crate::domain::calendar::Calendar;
use crate::domain::text;
use crate::domain::values::{format_fen, parse_amount_fen};
use crate::records::{Record, Value};

/// A configured threshold, ready to compare: the cause squeezed, the amount in fen.
struct Threshold<'c> {
    cause: String,
    fen: i64,
    article: &'c str,
}

/// **R6** — 最高人民检察院、公安部《关于公安机关管辖的刑事案件立案追诉标准的规定》(立案追诉标准,
/// the threshold per cause; SPEC §3). A case with a penalty decision (`decided_on`, not after
/// `now`'s day) whose `amount` is at or above a configured threshold (`r6_thresholds`) for its
/// `cause`, and which has no transfer (`transfer_decided_on` empty and `suspected_crime` not
/// true), is a possible 以罚代刑: a violation, due at the end of the decision day.
///
/// A threshold applies when its `cause`, after [`text::squeeze`] (widths folded, spaces
/// removed), is a substring of the case's squeezed cause. When several apply, the first in the
/// configuration that the amount reaches is reported. A case without a cause or an amount is no
/// subject. A threshold whose amount does not parse is skipped (configuration loading rejects
/// it already). A later transfer decision makes the finding disappear, and the store resolves
/// it.
pub(super) fn evaluate(cases: &[Record], ctx: &Ctx<'_>, emit: &mut impl FnMut(Finding)) {
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
    if thresholds.is_empty() {
        return;
    }
    let mut seen = Seen::default();
    for case in cases {
        let Value::Date(decided) = case.get("decided_on") else {
            continue;
        };
        if *decided > ctx.today {
            continue;
        }
        if !case.get("transfer_decided_on").is_null()
            || case.get("suspected_crime") == &Value::Bool(true)
        {
            continue;
        }
        let (Value::Text(cause), Value::Fen(amount)) = (case.get("cause"), case.get("amount"))
        else {
            continue;
        };
        let squeezed = text::squeeze(cause);
        let Some(hit) = thresholds
            .iter()
            .find(|t| *amount >= t.fen && squeezed.contains(t.cause.as_str()))
        else {
            continue;
        };
        if !seen.first(case) {
            continue;
        }
        let mut facts = Map::new();
        facts.insert("decided_on".into(), json!(ymd(*decided)));
        facts.insert("cause".into(), json!(cause));
        facts.insert("amount".into(), fact_value(&Value::Fen(*amount)));
        facts.insert("threshold_cause".into(), json!(hit.cause));
        facts.insert("threshold".into(), json!(format_fen(hit.fen)));
        facts.insert("article".into(), json!(hit.article));
        let due = Calendar::end_of_day_utc(*decided);
        let mut f = case_finding(RuleId::R6, case, due, Json::Object(facts));
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
    fn a_case_with_a_transfer_or_flagged_as_a_crime_yields_no_r6() {
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
            (
                "flagged as a suspected crime",
                set(base.clone(), "suspected_crime", Value::Bool(true)),
                0,
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
}
