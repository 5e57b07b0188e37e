//! R4: penalty cases entered on the two-law platform (有案必录).

use serde_json::{Map, Value as Json, json};

use super::matching::{Match, Matcher, matched_by};
use super::{
    Ctx, Deadline, Finding, RuleId, Seen, case_finding, local, platform_time, record_facts,
    referrals::ambiguous, ymd,
};

/// **R4** — 甘孜州人大常委会决定 (2020) “有案必录” (SPEC §3); the
/// deadline is set locally (default 7 working days, `r4_entry_working_days`). Every case with a
/// `decided_on` must have a matching platform case entry by the end of the N-th working day after
/// the decision. Resolved by a matching entry at its `entered_at`; an entry made after the due
/// instant still resolves it, and the facts record the days late. Evaluated only when
/// `r4_enabled` (where a source feeds platform entries).
pub(super) fn evaluate(matcher: &Matcher<'_>, ctx: &Ctx<'_>, emit: &mut impl FnMut(Finding)) {
    let mut seen = Seen::default();
    for &(case, decided) in matcher.subjects() {
        if decided > ctx.today {
            continue;
        }
        if !seen.first(case) {
            continue;
        }
        let days = ctx.cfg.r4_entry_working_days;
        let deadline = Deadline::working_days(ctx.cal, decided, days);
        let mut facts = Map::new();
        facts.insert("decided_on".into(), json!(ymd(decided)));
        facts.insert("working_days".into(), json!(days));
        deadline.describe(ctx.cal, decided, &mut facts);
        let mut f = case_finding(RuleId::R4, case, deadline.due, Json::Null);
        match matcher.find(case) {
            Match::Matched(entry) => {
                facts.insert("match".into(), json!("matched"));
                facts.insert("matched_by".into(), json!(matched_by(case, entry)));
                facts.insert("entry".into(), record_facts(entry));
                match platform_time(entry) {
                    Some((t, _)) => {
                        f.satisfied_at = Some(t);
                        if t >= deadline.due {
                            facts.insert("entered_at".into(), json!(local(t)));
                            facts.insert("days_late".into(), json!(deadline.days_late(t)));
                        }
                    }
                    None => {
                        facts.insert("entry_without_entry_time".into(), json!(true));
                    }
                }
            }
            Match::None => {
                facts.insert("match".into(), json!("none"));
            }
            Match::Ambiguous(candidates) => ambiguous(case, &candidates, matcher, &mut facts),
        }
        f.facts = Json::Object(facts);
        emit(f);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::super::*;
    use crate::domain::calendar::Calendar;

    fn run(cases: &[Record], entries: &[Record], now: &str, cfg: &RulesConfig) -> Vec<Finding> {
        let cal = Calendar::china().expect("shipped calendar");
        evaluate(cases, &[], entries, &cal, cfg, at(now))
    }

    fn enabled() -> RulesConfig {
        RulesConfig {
            r4_enabled: true,
            ..RulesConfig::default()
        }
    }

    const NO: &str = "稻市监罚〔2025〕12号";

    #[test]
    fn r4_is_evaluated_only_when_enabled() {
        let cases = [decided("scjg", NO, "张三", "2025-09-30")];
        assert!(run(&cases, &[], "2025-12-01 00:00", &RulesConfig::default()).is_empty());
        let got = run(&cases, &[], "2025-12-01 00:00", &enabled());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].rule, RuleId::R4);
        assert_eq!(got[0].key, "R4|scjg|稻市监罚[2025]12号");
        assert_eq!(
            got[0].state(at("2025-12-01 00:00"), &enabled()),
            State::Overdue
        );
    }

    #[test]
    fn r4_deadlines_count_seven_working_days_across_the_holidays() {
        // (decided, due day)
        let table = [
            // 10-01..08 off, 10-11 Sat worked: 10-09, 10-10, 10-11, 10-13, 10-14, 10-15, 10-16.
            ("2025-09-30", "2025-10-16"),
            // 09-28 Sun worked: 09-28, 09-29, 09-30, 10-09, 10-10, 10-11, 10-13.
            ("2025-09-26", "2025-10-13"),
            // 02-14 Sat worked, 02-15..23 off: 02-13, 02-14, 02-24, 02-25, 02-26, 02-27, 02-28.
            ("2026-02-12", "2026-02-28"),
        ];
        for (decided_on, due) in table {
            let cases = [decided("scjg", NO, "张三", decided_on)];
            let got = run(&cases, &[], "2026-06-01 00:00", &enabled());
            assert_eq!(got.len(), 1);
            assert_eq!(
                got[0].due,
                Calendar::end_of_day_utc(day(due)),
                "{decided_on}"
            );
            assert_eq!(got[0].facts["due_date"], due);
        }
    }

    #[test]
    fn a_matching_entry_resolves_r4_and_a_late_one_records_the_days_late() {
        // Decided 2025-09-30, due 2025-10-16 end of day.
        let table = [
            ("2025-10-16 23:59:59", None),
            ("2025-10-17 00:00:00", Some(1)),
        ];
        for (entered, late) in table {
            let cases = [decided("scjg", NO, "张三", "2025-09-30")];
            let entries = [entry("scjg", "稻市监罚（2025）第12号", "张三", entered)];
            let now = "2025-11-01 00:00";
            let got = run(&cases, &entries, now, &enabled());
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].satisfied_at, Some(at(entered)));
            assert_eq!(got[0].state(at(now), &enabled()), State::Resolved);
            assert_eq!(got[0].facts["days_late"].as_i64(), late, "{entered}");
        }
    }

    #[test]
    fn an_entry_without_a_number_matches_by_party_and_decision_date() {
        let cases = [decided("scjg", NO, "张三", "2025-09-30")];
        let entries = [entry("scjg", "无", "张三", "2025-10-09 10:00")];
        let got = run(&cases, &entries, "2025-11-01 00:00", &enabled());
        assert_eq!(got[0].facts["matched_by"], "party_and_date");
        assert!(got[0].satisfied_at.is_some());
    }
}
