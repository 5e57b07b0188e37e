//! R4, R5 and R9: a record of a penalty decision that must exist elsewhere by a deadline — its
//! entry on the two-law platform (R4), its copy to the police and the procuratorate (R5), its
//! filing for review (R9). One pattern: the case is the subject, a matching record resolves the
//! finding at the record's time, a late record still resolves it and the facts say how late.

use serde_json::{Map, Value as Json, json};

use super::matching::{Match, Matcher, matched_by};
use super::{
    Ctx, Deadline, Finding, RuleId, Seen, case_finding, local, platform_time, record_facts,
    referrals::ambiguous, ymd,
};
use crate::records::Field;
use crate::records::Record;

/// What differs between the rules of this pattern.
struct Presence {
    rule: RuleId,
    /// The facts' name for the record looked for (`"entry"`, `"copy"`, `"filing"`).
    record: &'static str,
    days: u32,
    /// Working days (R4) or calendar days rolled forward to a working day (R5, R9).
    working_days: bool,
    /// Whether a case with a `decided_on` is a subject of the rule.
    subject: fn(&Record, &Ctx<'_>) -> bool,
}

/// **R4** — 《甘孜藏族自治州人民代表大会常务委员会关于加强行政执法与刑事司法衔接工作的决定》
/// (2020-06-24), part 一: “有案必录” (SPEC §3); it sets no deadline, so the deadline is local
/// (default 7 working days, `r4_entry_working_days`). Every case with a `decided_on` must have a matching
/// platform case entry by the end of the N-th working day after the decision. Evaluated only when
/// `r4_enabled` (where a source feeds platform entries).
pub(super) fn evaluate_entries(
    matcher: &Matcher<'_>,
    ctx: &Ctx<'_>,
    emit: &mut impl FnMut(Finding),
) {
    let spec = Presence {
        rule: RuleId::R4,
        record: "entry",
        days: ctx.cfg.r4_entry_working_days,
        working_days: true,
        subject: |_, _| true,
    };
    presence(&spec, matcher, ctx, emit);
}

/// **R5** — 高检会〔2006〕2号《关于在行政执法中及时移送涉嫌犯罪案件的意见》 part 一 (SPEC §3): a
/// suspected crime that was not transferred in time and was penalised has its 《行政处罚决定书》
/// copied to the police and the procuratorate within ten days of the penalty decision
/// (`decided_on`; 十日以内: `r5_days` calendar days); a deadline on a day off moves to the next
/// working day. Subjects: cases with a `decided_on`, no `transfer_decided_on`, flagged
/// `suspected_crime` (`r5_suspected_only`, the default, as the source says); with
/// `r5_suspected_only = false`, every penalty without a transfer. Resolved by a matching copy at
/// its `copied_on`. Evaluated
/// only when `r5_enabled` (where a source feeds copies).
pub(super) fn evaluate_copies(
    matcher: &Matcher<'_>,
    ctx: &Ctx<'_>,
    emit: &mut impl FnMut(Finding),
) {
    let spec = Presence {
        rule: RuleId::R5,
        record: "copy",
        days: ctx.cfg.r5_days,
        working_days: false,
        subject: |case, ctx| {
            case.get(Field::TransferDecidedOn).is_null()
                && (!ctx.cfg.r5_suspected_only || case.flag(Field::SuspectedCrime) == Some(true))
        },
    };
    presence(&spec, matcher, ctx, emit);
}

/// **R9** — 川办发〔2014〕3号 (重大行政处罚备案, SPEC §3; no copy of its text was found to check
/// the 15 days against, so they are as SPEC §3 gives them): a major penalty (`major` true) is
/// filed for review within 15 calendar days (`r9_days`) of `decided_on`; a deadline on a day off
/// moves to the next working day. Resolved by a matching filing at its `filed_on`. Evaluated only
/// when `r9_enabled` (where a source feeds filings).
pub(super) fn evaluate_filings(
    matcher: &Matcher<'_>,
    ctx: &Ctx<'_>,
    emit: &mut impl FnMut(Finding),
) {
    let spec = Presence {
        rule: RuleId::R9,
        record: "filing",
        days: ctx.cfg.r9_days,
        working_days: false,
        subject: |case, _| case.flag(Field::Major) == Some(true),
    };
    presence(&spec, matcher, ctx, emit);
}

fn presence(spec: &Presence, matcher: &Matcher<'_>, ctx: &Ctx<'_>, emit: &mut impl FnMut(Finding)) {
    let mut seen = Seen::default();
    for &(case, decided) in matcher.subjects() {
        if decided > ctx.today || !(spec.subject)(case, ctx) || !seen.first(case) {
            continue;
        }
        let mut facts = Map::new();
        facts.insert("decided_on".into(), json!(ymd(decided)));
        let deadline = if spec.working_days {
            facts.insert("working_days".into(), json!(spec.days));
            Deadline::working_days(ctx.cal, decided, spec.days)
        } else {
            facts.insert("days".into(), json!(spec.days));
            Deadline::calendar_days(ctx.cal, decided, spec.days)
        };
        deadline.describe(ctx.cal, &mut facts);
        let mut f = case_finding(spec.rule, case, decided, deadline.due, Json::Null);
        match matcher.find(case) {
            Match::Matched(record) => {
                facts.insert("match".into(), json!("matched"));
                facts.insert("matched_by".into(), json!(matched_by(case, record)));
                facts.insert(spec.record.into(), record_facts(record));
                match platform_time(record) {
                    Some((t, field)) => {
                        f.satisfied_at = Some(t);
                        if t >= deadline.due {
                            facts.insert(field.into(), json!(when(t, field)));
                            facts.insert("days_late".into(), json!(deadline.days_late(t)));
                        }
                    }
                    None => {
                        facts.insert(format!("{}_without_date", spec.record), json!(true));
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

/// A record's time as the facts show it: a day for date fields, a local time otherwise.
fn when(t: chrono::DateTime<chrono::Utc>, field: &str) -> String {
    if field.ends_with("_on") {
        ymd(super::matching::shanghai_day(t))
    } else {
        local(t)
    }
}

#[cfg(test)]
mod r4_tests {
    use super::super::testkit::*;
    use super::super::*;
    use crate::domain::calendar::Calendar;

    fn run(cases: &[Record], entries: &[Record], now: &str, cfg: &RulesConfig) -> Vec<Finding> {
        let cal = Calendar::china().expect("shipped calendar");
        evaluate(
            &Data {
                cases,
                entries,
                ..Data::default()
            },
            &cal,
            cfg,
            at(now),
        )
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

#[cfg(test)]
mod r5_r9_tests {
    //! R5 (copies) and R9 (filings): calendar-day deadlines rolled to a working day.
    use super::super::testkit::*;
    use super::super::*;
    use crate::domain::calendar::Calendar;
    use crate::domain::case_no::CaseNo;

    const NO: &str = "稻市监罚〔2025〕12号";
    const KEY: &str = "稻市监罚[2025]12号";

    /// A copy (`Feed::Copies`) or filing (`Feed::Filings`) sent on `sent` (`copied_on` /
    /// `filed_on`); an empty `sent` leaves the date out.
    fn sent(feed: Feed, no: &str, party: &str, sent: &str) -> Record {
        let mut r = Record {
            feed,
            unit_id: "scjg".to_owned(),
            unit_known: true,
            case_no: CaseNo::parse(no).expect("case number"),
            values: vec![Value::Null; feed.fields().len()],
        };
        if !party.is_empty() {
            r = set(r, "party", Value::Text(party.to_owned()));
        }
        if !sent.is_empty() {
            let field = match feed {
                Feed::Copies => "copied_on",
                _ => "filed_on",
            };
            r = set(r, field, Value::Date(day(sent)));
        }
        r
    }

    fn copy(no: &str, party: &str, copied: &str) -> Record {
        sent(Feed::Copies, no, party, copied)
    }

    fn filing(no: &str, party: &str, filed: &str) -> Record {
        sent(Feed::Filings, no, party, filed)
    }

    fn major(no: &str, party: &str, decided_on: &str) -> Record {
        set(
            decided("scjg", no, party, decided_on),
            "major",
            Value::Bool(true),
        )
    }

    /// R5 over every penalty without transfer (`r5_suspected_only = false`), so that the tests
    /// of matching need no 涉嫌犯罪 flag; the default scope has a test of its own.
    fn r5() -> RulesConfig {
        RulesConfig {
            r5_enabled: true,
            r5_suspected_only: false,
            ..RulesConfig::default()
        }
    }

    fn r9() -> RulesConfig {
        RulesConfig {
            r9_enabled: true,
            ..RulesConfig::default()
        }
    }

    /// The findings of `rule` when evaluating `cases` with `rows` as copies (R5) or filings
    /// (R9) at `now`.
    fn run(
        rule: RuleId,
        cases: &[Record],
        rows: &[Record],
        now: &str,
        cfg: &RulesConfig,
    ) -> Vec<Finding> {
        let cal = Calendar::china().expect("shipped calendar");
        let data = match rule {
            RuleId::R5 => Data {
                cases,
                copies: rows,
                ..Data::default()
            },
            _ => Data {
                cases,
                filings: rows,
                ..Data::default()
            },
        };
        evaluate(&data, &cal, cfg, at(now))
            .into_iter()
            .filter(|f| f.rule == rule)
            .collect()
    }

    /// The only finding of `rule`.
    fn one(
        rule: RuleId,
        cases: &[Record],
        rows: &[Record],
        now: &str,
        cfg: &RulesConfig,
    ) -> Finding {
        let mut got = run(rule, cases, rows, now, cfg);
        assert_eq!(got.len(), 1, "one {rule} finding at {now}: {got:?}");
        got.remove(0)
    }

    fn due(d: &str) -> DateTime<Utc> {
        Calendar::end_of_day_utc(day(d))
    }

    // ---- R5 ----

    #[test]
    fn r5_is_evaluated_only_when_enabled() {
        let cases = [decided("scjg", NO, "张三", "2025-09-25")];
        let now = "2025-12-01 00:00";
        assert!(run(RuleId::R5, &cases, &[], now, &RulesConfig::default()).is_empty());
        assert!(
            run(RuleId::R5, &cases, &[], now, &r9()).is_empty(),
            "R9 enabled does not enable R5"
        );
        let f = one(RuleId::R5, &cases, &[], now, &r5());
        assert_eq!(f.key, format!("R5|scjg|{KEY}"));
        assert_eq!(f.case_no.as_deref(), Some(NO));
        assert_eq!(f.unit_id, "scjg");
        assert_eq!(f.facts["match"], "none");
        assert_eq!(f.facts["days"], 10);
        assert_eq!(f.facts["decided_on"], "2025-09-25");
        assert_eq!(f.satisfied_at, None);
        assert_eq!(f.state(at(now), &r5()), State::Overdue);
    }

    #[test]
    fn r5_deadlines_are_ten_calendar_days_rolled_to_the_next_working_day() {
        // (decided, due day)
        let table = [
            // 10-05 is in the National Day break 10-01..08.
            ("2025-09-25", "2025-10-09"),
            // 10-01 itself, the first day of the break.
            ("2025-09-21", "2025-10-09"),
            // 02-18 is in the Spring Festival break 02-15..23.
            ("2026-02-08", "2026-02-24"),
            // 09-28 is a Sunday worked (调休): no roll.
            ("2025-09-18", "2025-09-28"),
            // 11-15 is a plain Saturday.
            ("2025-11-05", "2025-11-17"),
            // 11-13 is a Thursday.
            ("2025-11-03", "2025-11-13"),
            // Across the new year: 2026-01-01..03 off, 01-04 Sunday worked.
            ("2025-12-22", "2026-01-04"),
        ];
        for (decided_on, due_day) in table {
            let cases = [decided("scjg", NO, "张三", decided_on)];
            let f = one(RuleId::R5, &cases, &[], "2026-06-01 00:00", &r5());
            assert_eq!(f.due, due(due_day), "decided {decided_on}");
            assert_eq!(f.facts["due_date"], due_day, "decided {decided_on}");
            assert!(f.facts.get("calendar_fallback_years").is_none());
        }
    }

    #[test]
    fn r5_subjects_are_penalties_without_a_transfer_and_optionally_only_suspected_ones() {
        let transferred = set(
            transfer("scjg", "稻市监罚〔2025〕1号", "甲", "2025-09-20"),
            "decided_on",
            Value::Date(day("2025-09-25")),
        );
        let plain = decided("scjg", "稻市监罚〔2025〕2号", "乙", "2025-09-25");
        let not_suspected = set(
            decided("scjg", "稻市监罚〔2025〕3号", "丙", "2025-09-25"),
            "suspected_crime",
            Value::Bool(false),
        );
        let suspected = set(
            decided("scjg", "稻市监罚〔2025〕4号", "丁", "2025-09-25"),
            "suspected_crime",
            Value::Bool(true),
        );
        let undecided = plain_case("scjg", "稻市监罚〔2025〕5号", "戊");
        let cases = [transferred, plain, not_suspected, suspected, undecided];
        // 高检会〔2006〕2号 §一: the copy is owed for 涉嫌犯罪 cases penalised without transfer
        // (the default); a county may widen R5 to every penalty without transfer.
        let by_default = RulesConfig {
            r5_enabled: true,
            ..RulesConfig::default()
        };
        // (config, numbers of the subjects)
        let table: [(&RulesConfig, &[&str]); 2] =
            [(&by_default, &["4"]), (&r5(), &["2", "3", "4"])];
        for (cfg, want) in table {
            let mut got: Vec<String> = run(RuleId::R5, &cases, &[], "2025-12-01 00:00", cfg)
                .into_iter()
                .map(|f| f.key)
                .collect();
            got.sort();
            let want: Vec<String> = want
                .iter()
                .map(|n| format!("R5|scjg|稻市监罚[2025]{n}号"))
                .collect();
            assert_eq!(got, want, "suspected only: {}", cfg.r5_suspected_only);
        }
    }

    #[test]
    fn a_copy_on_the_due_day_is_on_time_and_a_later_one_records_the_days_late() {
        // Decided 2025-09-25, due 2025-10-09 (end of day).
        // (copied, days late)
        let table = [
            ("2025-09-26", None),
            // The unrolled deadline, a holiday: on time.
            ("2025-10-05", None),
            ("2025-10-09", None),
            ("2025-10-10", Some(1)),
            ("2025-10-14", Some(5)),
        ];
        let now = "2025-11-01 00:00";
        for (copied, late) in table {
            let cases = [decided("scjg", NO, "张三", "2025-09-25")];
            let copies = [copy(NO, "张三", copied)];
            let f = one(RuleId::R5, &cases, &copies, now, &r5());
            assert_eq!(f.satisfied_at, Some(at(&format!("{copied} 00:00"))));
            assert_eq!(f.state(at(now), &r5()), State::Resolved, "{copied}");
            assert_eq!(f.facts["match"], "matched");
            assert_eq!(f.facts["copy"]["copied_on"], copied);
            assert_eq!(f.facts["days_late"].as_i64(), late, "copied {copied}");
            let shown = f.facts.get("copied_on").and_then(|v| v.as_str());
            assert_eq!(shown, late.map(|_| copied), "copied {copied}");
        }
    }

    #[test]
    fn a_copy_numbered_with_other_brackets_and_full_width_digits_matches_by_number() {
        let cases = [decided("scjg", NO, "张三", "2025-09-25")];
        // (copy's number, copy's party, matched by)
        let table = [
            ("稻市监罚（２０２５）第12号", "李四", Some("case_no")),
            ("稻市监罚【2025】第０１２号", "", Some("case_no")),
            (" 稻市监罚 [2025] 12 号 ", "李四", Some("case_no")),
            ("稻市监罚〔2025〕13号", "李四", None),
            ("稻市监罚〔2024〕12号", "李四", None),
        ];
        for (no, party, by) in table {
            let copies = [copy(no, party, "2025-10-09")];
            let f = one(RuleId::R5, &cases, &copies, "2025-11-01 00:00", &r5());
            assert_eq!(f.facts["matched_by"].as_str(), by, "{no}");
            assert_eq!(f.satisfied_at.is_some(), by.is_some(), "{no}");
        }
    }

    #[test]
    fn a_copy_without_a_number_matches_by_party_and_date() {
        let cases = [decided("scjg", NO, "张三", "2025-09-25")];
        // (copy's number, party, copied, matched)
        let table = [
            ("无", "张三", "2025-10-08", true),
            ("/", "张 三", "2025-10-08", true),
            ("无", "李四", "2025-10-08", false),
            // More than the 30-day window after the decision.
            ("无", "张三", "2025-10-26", false),
        ];
        for (no, party, copied, matched) in table {
            let copies = [copy(no, party, copied)];
            let f = one(RuleId::R5, &cases, &copies, "2025-11-01 00:00", &r5());
            if matched {
                assert_eq!(f.facts["matched_by"], "party_and_date", "{no} {party}");
                assert_eq!(f.satisfied_at, Some(at(&format!("{copied} 00:00"))));
            } else {
                assert_eq!(f.facts["match"], "none", "{no} {party} {copied}");
                assert_eq!(f.satisfied_at, None);
            }
        }
    }

    #[test]
    fn a_matched_copy_without_a_date_leaves_r5_open_and_says_so() {
        let cases = [decided("scjg", NO, "张三", "2025-09-25")];
        let copies = [copy(NO, "张三", "")];
        let now = "2025-10-09 12:00";
        let f = one(RuleId::R5, &cases, &copies, now, &r5());
        assert_eq!(f.facts["match"], "matched");
        assert_eq!(f.facts["copy_without_date"], true);
        assert_eq!(f.satisfied_at, None);
        assert_eq!(f.state(at(now), &r5()), State::DueSoon);
    }

    #[test]
    fn a_copy_dated_after_now_is_not_seen_yet() {
        // Decided 2025-09-25, due 2025-10-09.
        // (copied, now, state, satisfied at, days late)
        let table = [
            ("2025-10-09", "2025-10-08 12:00", State::DueSoon, None, None),
            (
                "2025-10-09",
                "2025-10-08 23:59:59",
                State::DueSoon,
                None,
                None,
            ),
            (
                "2025-10-09",
                "2025-10-09 00:00",
                State::Resolved,
                Some("2025-10-09 00:00"),
                None,
            ),
            (
                "2025-10-12",
                "2025-10-11 23:59:59",
                State::Overdue,
                None,
                None,
            ),
            (
                "2025-10-12",
                "2025-10-12 00:00",
                State::Resolved,
                Some("2025-10-12 00:00"),
                Some(3),
            ),
            (
                "2025-10-20",
                "2025-10-01 00:00",
                State::Upcoming,
                None,
                None,
            ),
        ];
        for (copied, now, state, satisfied, late) in table {
            let cases = [decided("scjg", NO, "张三", "2025-09-25")];
            let copies = [copy(NO, "张三", copied)];
            let f = one(RuleId::R5, &cases, &copies, now, &r5());
            assert_eq!(f.state(at(now), &r5()), state, "copied {copied}, now {now}");
            assert_eq!(
                f.satisfied_at,
                satisfied.map(at),
                "copied {copied}, now {now}"
            );
            assert_eq!(
                f.facts["days_late"].as_i64(),
                late,
                "copied {copied}, now {now}"
            );
            let want_match = if satisfied.is_some() {
                "matched"
            } else {
                "none"
            };
            assert_eq!(f.facts["match"], want_match, "copied {copied}, now {now}");
        }
    }

    #[test]
    fn r5_states_at_the_edges_of_the_due_instant() {
        // Decided 2025-09-25, due 2025-10-09, i.e. before 2025-10-10 00:00 Asia/Shanghai.
        let cases = [decided("scjg", NO, "张三", "2025-09-25")];
        let table = [
            ("2025-09-25 00:00", State::Upcoming),
            ("2025-10-06 23:59:59", State::Upcoming),
            ("2025-10-07 00:00", State::DueSoon),
            ("2025-10-09 23:59:59", State::DueSoon),
            ("2025-10-10 00:00", State::Overdue),
        ];
        for (now, want) in table {
            let f = one(RuleId::R5, &cases, &[], now, &r5());
            assert_eq!(f.due, at("2025-10-10 00:00"));
            assert_eq!(f.state(at(now), &r5()), want, "now {now}");
        }
        assert!(
            run(RuleId::R5, &cases, &[], "2025-09-24 23:59:59", &r5()).is_empty(),
            "no finding before the decision"
        );
    }

    // ---- R9 ----

    #[test]
    fn r9_is_evaluated_only_when_enabled_and_only_for_major_cases() {
        let cases = [
            major(NO, "张三", "2025-09-20"),
            decided("scjg", "稻市监罚〔2025〕13号", "李四", "2025-09-20"),
            set(
                decided("scjg", "稻市监罚〔2025〕14号", "王五", "2025-09-20"),
                "major",
                Value::Bool(false),
            ),
            // Major but not decided: no subject.
            set(
                plain_case("scjg", "稻市监罚〔2025〕15号", "赵六"),
                "major",
                Value::Bool(true),
            ),
        ];
        let now = "2025-12-01 00:00";
        assert!(run(RuleId::R9, &cases, &[], now, &RulesConfig::default()).is_empty());
        assert!(
            run(RuleId::R9, &cases, &[], now, &r5()).is_empty(),
            "R5 enabled does not enable R9"
        );
        let f = one(RuleId::R9, &cases, &[], now, &r9());
        assert_eq!(f.key, format!("R9|scjg|{KEY}"));
        assert_eq!(f.facts["days"], 15);
        assert_eq!(f.facts["match"], "none");
        assert_eq!(f.state(at(now), &r9()), State::Overdue);
        // A transfer does not exempt a major penalty from filing.
        let transferred = [set(
            transfer("scjg", NO, "张三", "2025-09-19"),
            "decided_on",
            Value::Date(day("2025-09-20")),
        )];
        assert!(run(RuleId::R9, &transferred, &[], now, &r9()).is_empty());
        let transferred_major = [set(transferred[0].clone(), "major", Value::Bool(true))];
        assert_eq!(
            run(RuleId::R9, &transferred_major, &[], now, &r9()).len(),
            1
        );
    }

    #[test]
    fn r9_deadlines_are_fifteen_calendar_days_rolled_to_the_next_working_day() {
        // (decided, due day)
        let table = [
            // 10-05 in the National Day break 10-01..08.
            ("2025-09-20", "2025-10-09"),
            ("2025-09-16", "2025-10-09"),
            // 09-30 is a Tuesday before the break.
            ("2025-09-15", "2025-09-30"),
            // 09-28 is a Sunday worked.
            ("2025-09-13", "2025-09-28"),
            // 02-16 in the Spring Festival break 02-15..23.
            ("2026-02-01", "2026-02-24"),
            // 02-14 is a Saturday worked before the break.
            ("2026-01-30", "2026-02-14"),
            // 11-16 is a plain Sunday.
            ("2025-11-01", "2025-11-17"),
        ];
        for (decided_on, due_day) in table {
            let cases = [major(NO, "张三", decided_on)];
            let f = one(RuleId::R9, &cases, &[], "2026-06-01 00:00", &r9());
            assert_eq!(f.due, due(due_day), "decided {decided_on}");
            assert_eq!(f.facts["due_date"], due_day, "decided {decided_on}");
        }
    }

    #[test]
    fn r9_edges_across_the_national_day_break_and_the_spring_festival() {
        // (decided, filed ("" for none), now, state, days late)
        let table = [
            // Decided 2025-09-20, due 2025-10-09.
            (
                "2025-09-20",
                "",
                "2025-10-06 23:59:59",
                State::Upcoming,
                None,
            ),
            ("2025-09-20", "", "2025-10-07 00:00", State::DueSoon, None),
            (
                "2025-09-20",
                "",
                "2025-10-09 23:59:59",
                State::DueSoon,
                None,
            ),
            ("2025-09-20", "", "2025-10-10 00:00", State::Overdue, None),
            (
                "2025-09-20",
                "2025-10-05",
                "2025-10-10 00:00",
                State::Resolved,
                None,
            ),
            (
                "2025-09-20",
                "2025-10-09",
                "2025-10-10 00:00",
                State::Resolved,
                None,
            ),
            (
                "2025-09-20",
                "2025-10-10",
                "2025-10-10 00:00",
                State::Resolved,
                Some(1),
            ),
            (
                "2025-09-20",
                "2025-10-10",
                "2025-10-09 23:59:59",
                State::DueSoon,
                None,
            ),
            // Decided 2026-02-01, due 2026-02-24.
            (
                "2026-02-01",
                "",
                "2026-02-21 23:59:59",
                State::Upcoming,
                None,
            ),
            ("2026-02-01", "", "2026-02-22 00:00", State::DueSoon, None),
            (
                "2026-02-01",
                "",
                "2026-02-24 23:59:59",
                State::DueSoon,
                None,
            ),
            ("2026-02-01", "", "2026-02-25 00:00", State::Overdue, None),
            (
                "2026-02-01",
                "2026-02-16",
                "2026-03-01 00:00",
                State::Resolved,
                None,
            ),
            (
                "2026-02-01",
                "2026-02-24",
                "2026-03-01 00:00",
                State::Resolved,
                None,
            ),
            (
                "2026-02-01",
                "2026-02-25",
                "2026-03-01 00:00",
                State::Resolved,
                Some(1),
            ),
            (
                "2026-02-01",
                "2026-02-25",
                "2026-02-24 12:00",
                State::DueSoon,
                None,
            ),
        ];
        for (decided_on, filed, now, state, late) in table {
            let cases = [major(NO, "张三", decided_on)];
            let filings: Vec<Record> = if filed.is_empty() {
                Vec::new()
            } else {
                vec![filing("稻市监罚（２０２５）第12号", "张三", filed)]
            };
            let f = one(RuleId::R9, &cases, &filings, now, &r9());
            let what = format!("decided {decided_on}, filed {filed:?}, now {now}");
            assert_eq!(f.state(at(now), &r9()), state, "{what}");
            assert_eq!(f.facts["days_late"].as_i64(), late, "{what}");
            if state == State::Resolved {
                assert_eq!(
                    f.satisfied_at,
                    Some(at(&format!("{filed} 00:00"))),
                    "{what}"
                );
                assert_eq!(f.facts["filing"]["filed_on"], filed, "{what}");
            } else {
                assert_eq!(f.satisfied_at, None, "{what}");
            }
        }
    }

    #[test]
    fn a_filing_without_a_number_matches_by_party_and_date() {
        let cases = [major(NO, "张三", "2025-09-20")];
        let filings = [filing("暂无", "张三", "2025-10-09")];
        let f = one(RuleId::R9, &cases, &filings, "2025-11-01 00:00", &r9());
        assert_eq!(f.facts["matched_by"], "party_and_date");
        assert_eq!(f.satisfied_at, Some(at("2025-10-09 00:00")));
        assert!(f.facts.get("days_late").is_none());
    }
}
