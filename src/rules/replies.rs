//! R7 and R8: replies to what the procuratorate sends a unit — a recommendation (检察建议) or an
//! opinion after non-prosecution (检察意见, 反向衔接).

use serde_json::{Map, Value as Json, json};

use super::matching::date_of;
use super::{
    Ctx, Deadline, Finding, RuleId, Seen, platform_time, record_facts, start_of_day_utc, ymd,
};
use crate::records::Field;
use crate::records::Record;

/// **R7** — 《人民检察院检察建议工作规定》(2019): the unit a recommendation is addressed to
/// replies in writing within two months of receiving it (`r7_months`). The article (art. 19 by
/// an earlier reading) could not be confirmed against a stored text; see the source table test
/// in `crate::domain::rule`.
///
/// **R8** — 《最高人民检察院关于推进行政执法与刑事司法衔接工作的规定》(高检发释字〔2021〕4号,
/// 2021-09-06): when the procuratorate, after a non-prosecution, sends the competent authority
/// an opinion (检察意见) that the person be penalised, the authority replies in writing with the
/// result within two months of receiving the opinion (自收到检察意见书之日起两个月以内;
/// `r8_months`). The provision's article number was not confirmed against a stored text, so
/// none is cited. 《人民检察院刑事诉讼规则》 (高检发释字〔2019〕4号) art. 373 is where the
/// procuratorate makes the opinion; it asks only that the authority report the result in time
/// (及时通报处理情况) and sets no period.
///
/// One finding per document (`"R7|<unit>|<document key>"`), its `case_no` the document's own
/// number. Due at the end of the day N months after `received_on` (the same day of the month,
/// or that month's last day), moved to the next working day when that is a day off. A document
/// without `received_on` counts from `issued_on` and says so in its facts; one with neither date
/// is no subject yet, and neither is one received after `now`'s day. Resolved on its
/// `replied_on` day (a reply dated after `now`'s day is not yet known); a late reply resolves it
/// and the facts give the days late.
pub(super) fn evaluate(
    rule: RuleId,
    docs: &[Record],
    ctx: &Ctx<'_>,
    emit: &mut impl FnMut(Finding),
) {
    let months = match rule {
        RuleId::R8 => ctx.cfg.r8_months,
        _ => ctx.cfg.r7_months,
    };
    let mut seen = Seen::default();
    for doc in docs {
        let Some((t, from_field)) = platform_time(doc) else {
            continue;
        };
        let received = super::matching::shanghai_day(t);
        if received > ctx.today || !seen.first(doc) {
            continue;
        }
        let deadline = Deadline::months(ctx.cal, received, months);
        let mut facts = Map::new();
        facts.insert("document".into(), record_facts(doc));
        facts.insert("received_on".into(), json!(ymd(received)));
        if from_field != "received_on" {
            facts.insert("received_on_missing".into(), json!(true));
            facts.insert("counted_from".into(), json!(from_field));
        }
        facts.insert("months".into(), json!(months));
        deadline.describe(ctx.cal, &mut facts);
        let mut f = super::case_finding(rule, doc, received, deadline.due, Json::Null);
        if let Some(replied) = date_of(doc.get(Field::RepliedOn)).filter(|d| *d <= ctx.today) {
            let at = start_of_day_utc(replied);
            f.satisfied_at = Some(at);
            facts.insert("replied_on".into(), json!(ymd(replied)));
            if at >= deadline.due {
                facts.insert("days_late".into(), json!(deadline.days_late(at)));
            }
        }
        f.facts = Json::Object(facts);
        emit(f);
    }
}

#[cfg(test)]
mod tests {
    //! R7 (recommendations) and R8 (opinions): N months after receipt, rolled to a working day.
    use super::super::testkit::*;
    use super::super::*;
    use crate::domain::calendar::Calendar;
    use crate::domain::case_no::CaseNo;

    const NO: &str = "稻检建〔2025〕3号";
    const KEY: &str = "稻检建[2025]3号";

    /// A recommendation or opinion addressed to `scjg`; empty dates are left out.
    fn doc(feed: Feed, no: &str, received: &str, issued: &str, replied: &str) -> Record {
        let mut r = Record {
            feed,
            unit_id: "scjg".to_owned(),
            unit_known: true,
            case_no: CaseNo::parse(no).expect("document number"),
            values: vec![Value::Null; feed.fields().len()],
        };
        r = set(
            r,
            "case_ref",
            Value::Text("稻市监罚〔2025〕12号".to_owned()),
        );
        for (field, d) in [
            ("received_on", received),
            ("issued_on", issued),
            ("replied_on", replied),
        ] {
            if !d.is_empty() {
                r = set(r, field, Value::Date(day(d)));
            }
        }
        r
    }

    fn rec(received: &str, replied: &str) -> Record {
        doc(Feed::Recommendations, NO, received, "", replied)
    }

    fn run(data: &Data<'_>, now: &str, cfg: &RulesConfig) -> Vec<Finding> {
        let cal = Calendar::china().expect("shipped calendar");
        evaluate(data, &cal, cfg, at(now))
            .into_iter()
            .filter(|f| matches!(f.rule, RuleId::R7 | RuleId::R8))
            .collect()
    }

    fn recs(docs: &[Record], now: &str) -> Vec<Finding> {
        run(
            &Data {
                recommendations: docs,
                ..Data::default()
            },
            now,
            &RulesConfig::default(),
        )
    }

    fn one(docs: &[Record], now: &str) -> Finding {
        let mut got = recs(docs, now);
        assert_eq!(got.len(), 1, "one finding at {now}: {got:?}");
        got.remove(0)
    }

    /// A month deadline consults the calendar only where it lands (to move off a day off): a
    /// year it merely spans is not one whose days were guessed (the shipped table has
    /// 2024–2026).
    #[test]
    fn only_the_years_a_month_deadline_lands_in_are_flagged_as_counted_without_a_table() {
        // (received, the years flagged)
        let table: [(&str, &[i32]); 3] = [
            // Received in 2023 (no table), lands on 2024-01-15: 2024 has its table.
            ("2023-11-15", &[]),
            // Lands in 2027, which has no table: its day off cannot be known.
            ("2026-12-20", &[2027]),
            ("2025-03-31", &[]),
        ];
        for (received, want) in table {
            let f = one(&[rec(received, "")], "2027-06-01 00:00");
            let got: Vec<i64> = f.facts["calendar_fallback_years"]
                .as_array()
                .map(|a| a.iter().filter_map(serde_json::Value::as_i64).collect())
                .unwrap_or_default();
            let want: Vec<i64> = want.iter().map(|y| i64::from(*y)).collect();
            assert_eq!(got, want, "{received}");
        }
    }

    #[test]
    fn r7_is_due_two_months_after_receipt_rolled_to_the_next_working_day() {
        // (received, due day)
        let table = [
            // 02-31 does not exist: the month's last day, 02-28, a Saturday worked (调休).
            ("2025-12-31", "2026-02-28"),
            // 10-01 is a holiday (10-01..08).
            ("2025-08-01", "2025-10-09"),
            // 02-15 is in the Spring Festival break 02-15..23.
            ("2025-12-15", "2026-02-24"),
            // 09-31 does not exist: 09-30, a Tuesday.
            ("2025-07-31", "2025-09-30"),
            // 05-31 is the Dragon Boat break 05-31..06-02.
            ("2025-03-31", "2025-06-03"),
            // 08-10 is a plain Sunday.
            ("2025-06-10", "2025-08-11"),
            // 11-10 is a Monday.
            ("2025-09-10", "2025-11-10"),
        ];
        for (received, due_day) in table {
            let f = one(&[rec(received, "")], "2026-06-01 00:00");
            assert_eq!(f.rule, RuleId::R7);
            assert_eq!(
                f.due,
                Calendar::end_of_day_utc(day(due_day)),
                "received {received}"
            );
            assert_eq!(f.facts["due_date"], due_day, "received {received}");
            assert_eq!(f.facts["received_on"], received);
            assert_eq!(f.facts["months"], 2);
            assert!(f.facts.get("received_on_missing").is_none());
            assert_eq!(f.satisfied_at, None);
        }
    }

    #[test]
    fn without_received_on_r7_counts_from_issued_on_and_says_so() {
        // (received, issued, due day or none, counted from issued)
        let table = [
            ("", "2025-08-01", Some("2025-10-09"), true),
            // Received wins over issued (issued + 2 months = 09-20, a Saturday → 09-22).
            ("2025-08-01", "2025-07-20", Some("2025-10-09"), false),
            ("", "2025-07-20", Some("2025-09-22"), true),
            ("", "", None, false),
        ];
        for (received, issued, due_day, from_issued) in table {
            let docs = [doc(Feed::Recommendations, NO, received, issued, "")];
            let got = recs(&docs, "2026-01-01 00:00");
            let what = format!("received {received:?}, issued {issued:?}");
            let Some(due_day) = due_day else {
                assert!(got.is_empty(), "{what}: no date, no finding");
                continue;
            };
            assert_eq!(got.len(), 1, "{what}");
            let f = &got[0];
            assert_eq!(f.due, Calendar::end_of_day_utc(day(due_day)), "{what}");
            if from_issued {
                assert_eq!(f.facts["received_on_missing"], true, "{what}");
                assert_eq!(f.facts["counted_from"], "issued_on", "{what}");
                assert_eq!(f.facts["received_on"], issued, "{what}");
            } else {
                assert!(f.facts.get("received_on_missing").is_none(), "{what}");
                assert!(f.facts.get("counted_from").is_none(), "{what}");
            }
        }
    }

    #[test]
    fn a_reply_on_the_due_day_is_on_time_and_a_later_one_records_the_days_late() {
        // Received 2025-08-01, due 2025-10-09 (end of day).
        // (replied, now, state, satisfied, days late)
        let table = [
            (
                "2025-09-01",
                "2025-11-01 00:00",
                State::Resolved,
                true,
                None,
            ),
            // The unrolled deadline, a holiday.
            (
                "2025-10-01",
                "2025-11-01 00:00",
                State::Resolved,
                true,
                None,
            ),
            (
                "2025-10-09",
                "2025-11-01 00:00",
                State::Resolved,
                true,
                None,
            ),
            (
                "2025-10-10",
                "2025-11-01 00:00",
                State::Resolved,
                true,
                Some(1),
            ),
            (
                "2025-10-20",
                "2025-11-01 00:00",
                State::Resolved,
                true,
                Some(11),
            ),
            // Replies dated after now's day are not known yet.
            (
                "2025-10-09",
                "2025-10-08 23:59:59",
                State::DueSoon,
                false,
                None,
            ),
            (
                "2025-10-20",
                "2025-10-15 00:00",
                State::Overdue,
                false,
                None,
            ),
            // A reply dated today is known from the day's start.
            (
                "2025-10-09",
                "2025-10-09 08:00",
                State::Resolved,
                true,
                None,
            ),
            (
                "2025-10-10",
                "2025-10-10 00:00",
                State::Resolved,
                true,
                Some(1),
            ),
        ];
        for (replied, now, state, satisfied, late) in table {
            let f = one(&[rec("2025-08-01", replied)], now);
            let what = format!("replied {replied}, now {now}");
            assert_eq!(f.state(at(now), &RulesConfig::default()), state, "{what}");
            assert_eq!(f.facts["days_late"].as_i64(), late, "{what}");
            if satisfied {
                assert_eq!(
                    f.satisfied_at,
                    Some(at(&format!("{replied} 00:00"))),
                    "{what}"
                );
                assert_eq!(f.facts["replied_on"], replied, "{what}");
            } else {
                assert_eq!(f.satisfied_at, None, "{what}");
                assert!(f.facts.get("replied_on").is_none(), "{what}");
            }
        }
    }

    #[test]
    fn r7_states_at_the_edges_of_the_due_instant_and_no_finding_before_receipt() {
        // Received 2025-12-15, due 2026-02-24, i.e. before 2026-02-25 00:00 Asia/Shanghai.
        let table = [
            ("2025-12-15 00:00", State::Upcoming),
            ("2026-02-21 23:59:59", State::Upcoming),
            ("2026-02-22 00:00", State::DueSoon),
            ("2026-02-24 23:59:59", State::DueSoon),
            ("2026-02-25 00:00", State::Overdue),
        ];
        let docs = [rec("2025-12-15", "")];
        for (now, want) in table {
            let f = one(&docs, now);
            assert_eq!(f.due, at("2026-02-25 00:00"));
            assert_eq!(f.state(at(now), &RulesConfig::default()), want, "now {now}");
        }
        assert!(
            recs(&docs, "2025-12-14 23:59:59").is_empty(),
            "not received yet"
        );
    }

    #[test]
    fn r8_reads_the_opinions_with_r8_months_and_r7_the_recommendations_with_r7_months() {
        let cfg = RulesConfig {
            r7_months: 1,
            r8_months: 3,
            ..RulesConfig::default()
        };
        let recommendations = [rec("2025-06-10", "")];
        let opinions = [doc(
            Feed::Opinions,
            "稻检意〔2025〕7号",
            "2025-06-10",
            "",
            "",
        )];
        let mut got = run(
            &Data {
                recommendations: &recommendations,
                opinions: &opinions,
                ..Data::default()
            },
            "2025-07-01 00:00",
            &cfg,
        );
        got.sort_by_key(|f| f.rule);
        let summary: Vec<(RuleId, &str, DateTime<Utc>, &Json)> = got
            .iter()
            .map(|f| (f.rule, f.key.as_str(), f.due, &f.facts["months"]))
            .collect();
        assert_eq!(
            summary,
            [
                // 07-10 is a Thursday.
                (
                    RuleId::R7,
                    "R7|scjg|稻检建[2025]3号",
                    Calendar::end_of_day_utc(day("2025-07-10")),
                    &json!(1)
                ),
                // 09-10 is a Wednesday.
                (
                    RuleId::R8,
                    "R8|scjg|稻检意[2025]7号",
                    Calendar::end_of_day_utc(day("2025-09-10")),
                    &json!(3)
                ),
            ]
        );
        // Opinions alone give R8 only.
        let only = run(
            &Data {
                opinions: &opinions,
                ..Data::default()
            },
            "2025-07-01 00:00",
            &cfg,
        );
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].rule, RuleId::R8);
    }

    #[test]
    fn the_r7_key_is_the_unit_and_the_normalised_document_number() {
        // (number as written)
        let table = [NO, "稻检建（２０２５）第３号", "稻检建【2025】第003号"];
        for no in table {
            let docs = [doc(Feed::Recommendations, no, "2025-08-01", "", "")];
            let f = one(&docs, "2025-09-01 00:00");
            assert_eq!(f.key, format!("R7|scjg|{KEY}"), "{no}");
            assert_eq!(f.case_key.as_deref(), Some(KEY), "{no}");
            assert_eq!(f.case_no.as_deref(), Some(no.trim()), "{no}");
            assert_eq!(f.unit_id, "scjg");
            assert_eq!(
                f.facts["document"]["case_ref"], "稻市监罚〔2025〕12号",
                "{no}"
            );
        }
        // Two records of one document (one number written two ways) give one finding.
        let docs = [
            doc(Feed::Recommendations, NO, "2025-08-01", "", ""),
            doc(
                Feed::Recommendations,
                "稻检建（2025）3号",
                "2025-08-01",
                "",
                "",
            ),
            doc(
                Feed::Recommendations,
                "稻检建〔2025〕4号",
                "2025-08-01",
                "",
                "",
            ),
        ];
        let mut keys: Vec<String> = recs(&docs, "2025-09-01 00:00")
            .into_iter()
            .map(|f| f.key)
            .collect();
        keys.sort();
        assert_eq!(keys, ["R7|scjg|稻检建[2025]3号", "R7|scjg|稻检建[2025]4号"]);
    }
}
