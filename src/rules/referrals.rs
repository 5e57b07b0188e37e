//! R1–R3: transfers of suspected crimes and their records on the two-law platform (正向衔接).

use serde_json::{Map, Value as Json, json};

use super::matching::{Match, Matcher, matched_by};
use super::{
    Ctx, Deadline, Finding, RuleId, Seen, case_finding, fact_value, local, platform_time,
    record_facts,
};
use crate::domain::values::format_fen;
use crate::records::Field;
use crate::records::{Record, Value};

/// Evaluates R1, R2 and R3 for every case with a transfer decision.
///
/// **R1** — 国务院令第310号《行政执法机关移送涉嫌犯罪案件的规定》art. 5 (the head decides on the
/// transfer within 3 days of the report and, if approved, transfers to the police within 24
/// hours); the platform entry deadline is set locally (default 3
/// working days, `r1_entry_working_days`). Every case with a `transfer_decided_on` whose
/// `suspected_crime` is not explicitly false must have its referral on the platform by the end
/// of the N-th working day after the decision. Resolved when a matching referral exists, at its
/// `entered_at` (or `transferred_at` when the platform gives no entry time). An ambiguous match
/// resolves nothing: the facts list the candidates.
///
/// **R2** — same source: the matched referral was entered at or after the R1 due instant. A
/// violation; facts give the due day, the entry time and the calendar days late.
///
/// **R3** — the platform must carry the case as decided (no specific provision; SPEC §3): the
/// matched referral differs in unit, party (after [`crate::domain::text::squeeze`], when
/// `r3_compare_party`) or amount (beyond `r3_amount_tolerance_fen`; compared only when both
/// sides have one). A unit difference arises when the referral was found by its case number
/// under another unit or an unrecognised unit name (see [`super::matching`]); the fallback by
/// party and date never crosses units. One violation per case listing every differing field.
pub(super) fn evaluate(matcher: &Matcher<'_>, ctx: &Ctx<'_>, emit: &mut impl FnMut(Finding)) {
    let mut seen = Seen::default();
    for &(case, decided) in matcher.subjects() {
        if case.flag(Field::SuspectedCrime) == Some(false) {
            continue;
        }
        if decided > ctx.today {
            continue;
        }
        if !seen.first(case) {
            continue;
        }
        let days = ctx.cfg.r1_entry_working_days;
        let deadline = Deadline::working_days(ctx.cal, decided, days);
        let mut facts = Map::new();
        facts.insert("transfer_decided_on".into(), json!(super::ymd(decided)));
        facts.insert("working_days".into(), json!(days));
        deadline.describe(ctx.cal, &mut facts);

        let mut r1 = case_finding(RuleId::R1, case, decided, deadline.due, Json::Null);
        match matcher.find(case) {
            Match::Matched(referral) => {
                facts.insert("match".into(), json!("matched"));
                facts.insert("matched_by".into(), json!(matched_by(case, referral)));
                facts.insert("referral".into(), record_facts(referral));
                match platform_time(referral) {
                    Some((t, field)) => {
                        r1.satisfied_at = Some(t);
                        if t >= deadline.due {
                            emit(r2(case, referral, decided, &deadline, t, field, &facts));
                        }
                    }
                    None => {
                        facts.insert("referral_without_entry_time".into(), json!(true));
                    }
                }
                if let Some(f) = r3(case, referral, decided, &deadline, ctx, &facts) {
                    emit(f);
                }
            }
            Match::None => {
                facts.insert("match".into(), json!("none"));
            }
            Match::Ambiguous(candidates) => {
                ambiguous(case, &candidates, matcher, &mut facts);
            }
        }
        r1.facts = Json::Object(facts);
        emit(r1);
    }
}

/// Facts of an ambiguous match: the candidates, and the competing cases when a single record
/// fits several cases.
pub(super) fn ambiguous(
    case: &Record,
    candidates: &[&Record],
    matcher: &Matcher<'_>,
    facts: &mut Map<String, Json>,
) {
    facts.insert("match".into(), json!("ambiguous"));
    facts.insert(
        "candidates".into(),
        Json::Array(candidates.iter().map(|r| record_facts(r)).collect()),
    );
    if let [only] = candidates {
        let mut rivals: Vec<(&str, &str)> = matcher
            .rivals(case, only)
            .iter()
            .map(|c| (c.unit_id.as_str(), c.case_no.as_written()))
            .collect();
        // In a stable order, whatever order the cases were read in.
        rivals.sort_unstable();
        let rivals: Vec<Json> = rivals
            .into_iter()
            .map(|(unit, no)| json!({ "unit": unit, "case_no": no }))
            .collect();
        facts.insert("competing_cases".into(), Json::Array(rivals));
    }
}

fn r2(
    case: &Record,
    referral: &Record,
    decided: chrono::NaiveDate,
    deadline: &Deadline,
    t: chrono::DateTime<chrono::Utc>,
    field: &str,
    r1_facts: &Map<String, Json>,
) -> Finding {
    let mut facts = Map::new();
    for k in [
        "transfer_decided_on",
        "working_days",
        "due_date",
        "matched_by",
    ] {
        if let Some(v) = r1_facts.get(k) {
            facts.insert(k.into(), v.clone());
        }
    }
    facts.insert("due".into(), json!(local(deadline.due)));
    facts.insert(field.into(), json!(local(t)));
    facts.insert("days_late".into(), json!(deadline.days_late(t)));
    facts.insert("referral".into(), record_facts(referral));
    let mut f = case_finding(RuleId::R2, case, decided, deadline.due, Json::Object(facts));
    // The violation happened when the late entry was made.
    f.arose_at = t;
    f.violated = true;
    f
}

fn r3(
    case: &Record,
    referral: &Record,
    decided: chrono::NaiveDate,
    deadline: &Deadline,
    ctx: &Ctx<'_>,
    r1_facts: &Map<String, Json>,
) -> Option<Finding> {
    let differences = differences(case, referral, ctx.cfg);
    if differences.is_empty() {
        return None;
    }
    let mut facts = Map::new();
    facts.insert("differences".into(), Json::Array(differences));
    facts.insert(
        "amount_tolerance".into(),
        json!(format_fen(ctx.cfg.r3_amount_tolerance_fen)),
    );
    if let Some(v) = r1_facts.get("matched_by") {
        facts.insert("matched_by".into(), v.clone());
    }
    facts.insert("referral".into(), record_facts(referral));
    let mut f = case_finding(RuleId::R3, case, decided, deadline.due, Json::Object(facts));
    // The difference exists since the referral was put on the platform.
    if let Some((t, _)) = platform_time(referral) {
        f.arose_at = f.arose_at.max(t);
    }
    f.violated = true;
    Some(f)
}

/// Each differing field as `{field, case, platform}` (amounts as yuan strings).
fn differences(case: &Record, referral: &Record, cfg: &super::RulesConfig) -> Vec<Json> {
    let mut out = Vec::new();
    if case.unit_id != referral.unit_id {
        out.push(json!({
            "field": "unit",
            "case": case.unit_id,
            "platform": referral.unit_id,
        }));
    }
    if cfg.r3_compare_party
        && let (Value::Text(a), Value::Text(b)) =
            (case.get(Field::Party), referral.get(Field::Party))
        && crate::domain::text::squeeze(a) != crate::domain::text::squeeze(b)
    {
        out.push(json!({"field": "party", "case": a, "platform": b}));
    }
    if let (Value::Fen(a), Value::Fen(b)) = (case.get(Field::Amount), referral.get(Field::Amount)) {
        let diff = (i128::from(*a) - i128::from(*b)).abs();
        if diff > i128::from(cfg.r3_amount_tolerance_fen.max(0)) {
            out.push(json!({
                "field": "amount",
                "case": fact_value(&Value::Fen(*a)),
                "platform": fact_value(&Value::Fen(*b)),
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::super::*;
    use crate::domain::calendar::Calendar;
    use crate::records::Value;

    fn cal() -> Calendar {
        Calendar::china().expect("shipped calendar")
    }

    fn run(cases: &[Record], referrals: &[Record], now: &str, cfg: &RulesConfig) -> Vec<Finding> {
        evaluate(
            &Data {
                cases,
                referrals,
                ..Data::default()
            },
            &cal(),
            cfg,
            at(now),
        )
    }

    fn only(findings: &[Finding], rule: RuleId) -> Option<&Finding> {
        let mut it = findings.iter().filter(|f| f.rule == rule);
        let f = it.next();
        assert!(it.next().is_none(), "one {rule} finding at most");
        f
    }

    const NO: &str = "稻市监罚〔2025〕12号";

    #[test]
    fn r1_deadlines_count_working_days_across_the_2025_national_day_and_2026_spring_festival() {
        // (transfer decided, working days, due day)
        let table = [
            // 10-01..08 off; 10-09 Thu, 10-10 Fri, 10-11 Sat (make-up) worked.
            ("2025-09-30", 3, "2025-10-11"),
            ("2025-09-29", 3, "2025-10-10"),
            ("2025-09-26", 3, "2025-09-30"), // 09-28 Sun (make-up) counts
            ("2025-09-27", 1, "2025-09-28"),
            ("2025-10-01", 3, "2025-10-11"),
            ("2025-10-08", 1, "2025-10-09"),
            ("2025-10-11", 1, "2025-10-13"),
            // 02-14 Sat worked, 02-15..23 off, 02-28 Sat worked.
            ("2026-02-12", 3, "2026-02-24"),
            ("2026-02-13", 3, "2026-02-25"),
            ("2026-02-13", 1, "2026-02-14"),
            ("2026-02-20", 3, "2026-02-26"),
            ("2026-02-25", 3, "2026-02-28"),
        ];
        for (decided, days, due) in table {
            let cfg = RulesConfig {
                r1_entry_working_days: days,
                ..RulesConfig::default()
            };
            assert_eq!(
                cal().add_working_days(day(decided), days),
                day(due),
                "calendar: {decided} + {days}"
            );
            let cases = [transfer("scjg", NO, "张三", decided)];
            let got = run(&cases, &[], "2026-06-01 00:00", &cfg);
            let r1 = only(&got, RuleId::R1).expect("R1 finding");
            assert_eq!(
                r1.due,
                Calendar::end_of_day_utc(day(due)),
                "{decided} + {days}"
            );
            assert_eq!(r1.facts["due_date"], due);
            assert_eq!(r1.state(at("2026-06-01 00:00"), &cfg), State::Overdue);
        }
    }

    #[test]
    fn an_entry_on_the_due_day_is_on_time_and_one_after_it_is_late() {
        let cfg = RulesConfig::default();
        // Decided 2025-09-30, due 2025-10-11 end of day.
        let table = [
            ("2025-10-09 08:00:00", None),
            ("2025-10-11 23:00:00", None),
            ("2025-10-11 23:59:59", None),
            ("2025-10-12 00:00:00", Some(1)),
            ("2025-10-12 10:00:00", Some(1)),
            ("2025-10-20 10:00:00", Some(9)),
        ];
        for (entered, late) in table {
            let cases = [transfer("scjg", NO, "张三", "2025-09-30")];
            let referrals = [referral("scjg", NO, "张三", entered)];
            let now = "2025-11-01 00:00";
            let got = run(&cases, &referrals, now, &cfg);
            let r1 = only(&got, RuleId::R1).expect("R1 finding");
            assert_eq!(r1.satisfied_at, Some(at(entered)), "{entered}");
            assert_eq!(r1.state(at(now), &cfg), State::Resolved, "{entered}");
            let r2 = only(&got, RuleId::R2);
            assert_eq!(
                r2.map(|f| f.facts["days_late"].as_i64()),
                late.map(Some),
                "{entered}"
            );
            if let Some(r2) = r2 {
                assert!(r2.violated);
                assert_eq!(r2.key, "R2|scjg|稻市监罚[2025]12号");
                assert_eq!(r2.facts["due_date"], "2025-10-11");
                // Nothing can mend a late entry: it is recorded, not owed.
                assert_eq!(r2.state(at(now), &cfg), State::Recorded);
                assert_eq!(r2.arose_at, at(entered));
            }
            assert!(only(&got, RuleId::R3).is_none());
        }
    }

    #[test]
    fn r1_is_upcoming_then_due_soon_then_overdue_without_a_referral() {
        let cfg = RulesConfig::default();
        let cases = [transfer("scjg", NO, "张三", "2026-02-12")]; // due 2026-02-24
        let table = [
            ("2026-02-13 09:00", State::Upcoming),
            ("2026-02-21 23:59", State::Upcoming),
            ("2026-02-22 00:00", State::DueSoon),
            ("2026-02-24 23:59", State::DueSoon),
            ("2026-02-25 00:00", State::Overdue),
        ];
        for (now, want) in table {
            let got = run(&cases, &[], now, &cfg);
            let r1 = only(&got, RuleId::R1).expect("R1 finding");
            assert_eq!(r1.facts["match"], "none");
            assert_eq!(r1.satisfied_at, None);
            assert_eq!(r1.state(at(now), &cfg), want, "{now}");
        }
    }

    #[test]
    fn the_finding_names_the_case_and_keeps_a_stable_key() {
        let cfg = RulesConfig::default();
        let cases = [transfer(
            "scjg",
            " 稻市监罚【2025】第012号 ",
            "张三",
            "2025-09-30",
        )];
        let a = run(&cases, &[], "2025-10-05 00:00", &cfg);
        let b = run(&cases, &[], "2025-12-05 00:00", &cfg);
        let r1 = only(&a, RuleId::R1).expect("R1 finding");
        assert_eq!(r1.key, "R1|scjg|稻市监罚[2025]12号");
        assert_eq!(r1.key, only(&b, RuleId::R1).expect("R1 finding").key);
        assert_eq!(r1.case_no.as_deref(), Some("稻市监罚【2025】第012号"));
        assert_eq!(r1.case_key.as_deref(), Some("稻市监罚[2025]12号"));
        assert_eq!(r1.unit_id, "scjg");
        assert_eq!(r1.facts["transfer_decided_on"], "2025-09-30");
    }

    #[test]
    fn only_cases_with_a_transfer_decision_not_flagged_otherwise_are_subjects() {
        let cfg = RulesConfig::default();
        let not_crime = set(
            transfer("scjg", "稻市监罚〔2025〕1号", "甲", "2025-09-30"),
            "suspected_crime",
            Value::Bool(false),
        );
        let unflagged = set(
            transfer("scjg", "稻市监罚〔2025〕2号", "乙", "2025-09-30"),
            "suspected_crime",
            Value::Null,
        );
        let no_decision = set(
            plain_case("scjg", "稻市监罚〔2025〕3号", "丙"),
            "suspected_crime",
            Value::Bool(true),
        );
        let got = run(
            &[not_crime, unflagged, no_decision],
            &[],
            "2025-12-01 00:00",
            &cfg,
        );
        let keys: Vec<&str> = got.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["R1|scjg|稻市监罚[2025]2号"]);
    }

    #[test]
    fn a_matched_referral_with_a_different_number_spelling_resolves_r1() {
        let cfg = RulesConfig::default();
        let cases = [transfer("scjg", NO, "张三", "2025-09-30")];
        let referrals = [referral(
            "scjg",
            "稻市监罚（２０２５）１２号",
            "张三",
            "2025-10-10 09:00",
        )];
        let got = run(&cases, &referrals, "2025-10-10 10:00", &cfg);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].facts["matched_by"], "case_no");
        assert_eq!(
            got[0].facts["referral"]["case_no"],
            "稻市监罚（２０２５）１２号"
        );
        assert_eq!(got[0].state(at("2025-10-10 10:00"), &cfg), State::Resolved);
    }

    #[test]
    fn a_referral_without_a_number_resolves_r1_by_party_and_date() {
        let cfg = RulesConfig::default();
        let cases = [transfer("scjg", NO, "张三", "2025-09-30")];
        let referrals = [referral("scjg", "无", "张 三", "2025-10-10 09:00")];
        let got = run(&cases, &referrals, "2025-10-20 00:00", &cfg);
        let r1 = only(&got, RuleId::R1).expect("R1 finding");
        assert_eq!(r1.facts["matched_by"], "party_and_date");
        assert_eq!(r1.satisfied_at, Some(at("2025-10-10 09:00")));
        assert!(
            only(&got, RuleId::R3).is_none(),
            "spacing is no party difference"
        );
    }

    #[test]
    fn an_ambiguous_match_is_reported_with_its_candidates_and_resolves_nothing() {
        let cfg = RulesConfig::default();
        let cases = [transfer("scjg", NO, "张三", "2025-09-30")];
        let referrals = [
            referral("scjg", "无", "张三", "2025-10-09 09:00"),
            referral("scjg", "无", "张三", "2025-10-10 09:00"),
        ];
        let got = run(&cases, &referrals, "2025-10-20 00:00", &cfg);
        assert_eq!(got.len(), 1, "no R2/R3 on a guess");
        let r1 = &got[0];
        assert_eq!(r1.facts["match"], "ambiguous");
        assert_eq!(r1.facts["candidates"].as_array().map(Vec::len), Some(2));
        assert_eq!(r1.satisfied_at, None);
        assert_eq!(r1.state(at("2025-10-20 00:00"), &cfg), State::Overdue);
    }

    #[test]
    fn one_referral_fitting_two_cases_names_the_competing_case() {
        let cfg = RulesConfig::default();
        let cases = [
            transfer("scjg", NO, "张三", "2025-09-30"),
            transfer("scjg", "稻市监罚〔2025〕13号", "张三", "2025-10-09"),
        ];
        let referrals = [referral("scjg", "无", "张三", "2025-10-10 09:00")];
        let got = run(&cases, &referrals, "2025-10-20 00:00", &cfg);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].facts["match"], "ambiguous");
        assert_eq!(
            got[0].facts["competing_cases"],
            json!([{"unit": "scjg", "case_no": "稻市监罚〔2025〕13号"}])
        );
    }

    #[test]
    fn r3_reports_each_differing_field_with_both_values() {
        struct Row {
            name: &'static str,
            referral_unit: &'static str,
            party: &'static str,
            amount_fen: i64,
            tolerance_fen: i64,
            compare_party: bool,
            want: &'static [(&'static str, &'static str, &'static str)],
        }
        let table = [
            Row {
                name: "all equal",
                referral_unit: "scjg",
                party: "张三",
                amount_fen: 123_450,
                tolerance_fen: 0,
                compare_party: true,
                want: &[],
            },
            Row {
                name: "amount one fen beyond zero tolerance",
                referral_unit: "scjg",
                party: "张三",
                amount_fen: 123_451,
                tolerance_fen: 0,
                compare_party: true,
                want: &[("amount", "1234.50", "1234.51")],
            },
            Row {
                name: "amount within tolerance",
                referral_unit: "scjg",
                party: "张三",
                amount_fen: 123_350,
                tolerance_fen: 100,
                compare_party: true,
                want: &[],
            },
            Row {
                name: "amount just beyond tolerance",
                referral_unit: "scjg",
                party: "张三",
                amount_fen: 123_349,
                tolerance_fen: 100,
                compare_party: true,
                want: &[("amount", "1234.50", "1233.49")],
            },
            Row {
                name: "party differs",
                referral_unit: "scjg",
                party: "张叁",
                amount_fen: 123_450,
                tolerance_fen: 0,
                compare_party: true,
                want: &[("party", "张三", "张叁")],
            },
            Row {
                name: "party differs but is not compared",
                referral_unit: "scjg",
                party: "张叁",
                amount_fen: 123_450,
                tolerance_fen: 0,
                compare_party: false,
                want: &[],
            },
            Row {
                name: "filed under another unit, found by its number",
                referral_unit: "县公安局",
                party: "张叁",
                amount_fen: 100_000,
                tolerance_fen: 0,
                compare_party: true,
                want: &[
                    ("unit", "scjg", "县公安局"),
                    ("party", "张三", "张叁"),
                    ("amount", "1234.50", "1000.00"),
                ],
            },
        ];
        for row in table {
            let cfg = RulesConfig {
                r3_amount_tolerance_fen: row.tolerance_fen,
                r3_compare_party: row.compare_party,
                ..RulesConfig::default()
            };
            let case = set(
                transfer("scjg", NO, "张三", "2025-09-30"),
                "amount",
                Value::Fen(123_450),
            );
            let case = set(case, "party_id", Value::Text("513337199001011234".into()));
            let referral = set(
                referral(row.referral_unit, NO, row.party, "2025-10-09 09:00"),
                "amount",
                Value::Fen(row.amount_fen),
            );
            let got = run(&[case], &[referral], "2025-10-20 00:00", &cfg);
            let r1 = only(&got, RuleId::R1).expect("R1 finding");
            assert!(r1.satisfied_at.is_some(), "{}", row.name);
            let r3 = only(&got, RuleId::R3);
            let diffs: Vec<(String, String, String)> = r3
                .map(|f| {
                    f.facts["differences"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .unwrap_or_default()
                .iter()
                .map(|d| {
                    let s = |k: &str| d[k].as_str().unwrap_or("?").to_owned();
                    (s("field"), s("case"), s("platform"))
                })
                .collect();
            let want: Vec<(String, String, String)> = row
                .want
                .iter()
                .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
                .collect();
            assert_eq!(diffs, want, "{}", row.name);
            if let Some(r3) = r3 {
                assert!(r3.violated, "{}", row.name);
                assert_eq!(r3.key, "R3|scjg|稻市监罚[2025]12号");
                let text = r3.facts.to_string();
                assert!(!text.contains("199001011234"), "no ID numbers: {text}");
            }
        }
    }

    #[test]
    fn a_referral_entered_after_now_is_not_seen_yet() {
        let cfg = RulesConfig::default();
        let cases = [transfer("scjg", NO, "张三", "2025-09-30")];
        let referrals = [referral("scjg", NO, "张三", "2025-10-15 09:00")];
        let early = run(&cases, &referrals, "2025-10-13 00:00", &cfg);
        assert_eq!(early.len(), 1);
        assert_eq!(early[0].facts["match"], "none");
        assert_eq!(early[0].state(at("2025-10-13 00:00"), &cfg), State::Overdue);
        let later = run(&cases, &referrals, "2025-10-16 00:00", &cfg);
        assert_eq!(later.len(), 2, "R1 resolved and R2 late");
    }

    #[test]
    fn a_referral_without_an_entry_time_falls_back_to_its_transfer_time() {
        let cfg = RulesConfig::default();
        let cases = [transfer("scjg", NO, "张三", "2025-09-30")];
        let r = set(
            referral("scjg", NO, "张三", "2025-10-09 09:00"),
            "entered_at",
            Value::Null,
        );
        let with_transfer = set(
            r.clone(),
            "transferred_at",
            Value::DateTime(at("2025-10-01 09:00")),
        );
        let got = run(&cases, &[with_transfer], "2025-10-20 00:00", &cfg);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].satisfied_at, Some(at("2025-10-01 09:00")));

        let got = run(&cases, &[r], "2025-10-20 00:00", &cfg);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].satisfied_at, None);
        assert_eq!(got[0].facts["referral_without_entry_time"], true);
    }
}
