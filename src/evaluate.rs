//! The evaluation engine: reads what the rules need from the store, runs them
//! ([`crate::rules`]) and stores the findings with their lifecycle.
//!
//! **Full pass** (the first evaluation, a changed rule configuration or calendar, an as-of
//! earlier than the last one, or `evaluate --full`): the cases that can be a subject of some rule
//! (a transfer decision; with R4/R5 any penalty decision; with R9 major penalties; for R6
//! penalties from the smallest threshold up), every platform row, and — instead of every other
//! case — the (unit, case key) of the cases whose number appears on the platform, so memory
//! follows the subjects, not the store.
//!
//! **Incremental pass** (otherwise): only what can have changed since the last evaluation —
//! rows an import wrote since the store revision it had read, cases whose decision day and
//! platform rows whose time fall between the last as-of and this one — together with their
//! neighbourhood: every case and platform row sharing a changed case number (under any unit),
//! the platform rows no case claims by number (the fallback pool, kept by the last pass) and the
//! cases that found no record by number (they compete for that pool). The rules run over that
//! neighbourhood exactly as in a full pass, so each subject's findings come out the same; the
//! store then applies them within the scope of those subjects, and moves the state of every
//! other open finding along the clock (upcoming → due soon → overdue).

use std::collections::{BTreeMap, HashSet};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use crate::config::{Config, RulesConfig};
use crate::records::Field;
use crate::records::{Feed, Record};
use crate::rules::matching::{party_key, shanghai_day, usable_key};
use crate::rules::{Data, RuleId};
use crate::store::{
    EvaluatedFinding, Evaluation, EvaluationState, FindingChanges, Scope, Selection, Store,
    StoredRecord, SubjectFilter,
};

/// Bumped when a rule's logic or what the store keeps for incremental passes changes (the
/// fallback seekers came with migration 0005), so that the next evaluation is a full pass.
const RULES_VERSION: &str = "rules-5";

/// Which kind of pass ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Full,
    Incremental,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Incremental => "incremental",
        }
    }
}

/// What one evaluation did.
#[derive(Debug, Clone)]
pub struct Report {
    pub mode: Mode,
    /// Cases the rules looked at.
    pub subjects: usize,
    /// Findings produced, by (rule, state).
    pub counts: BTreeMap<(String, String), u64>,
    pub changes: FindingChanges,
}

/// Evaluates the rules at `now` and applies the findings; incremental unless `full` or the
/// last evaluation cannot be continued from (see the module documentation).
pub async fn evaluate(
    cfg: &Config,
    store: &dyn Store,
    now: DateTime<Utc>,
    full: bool,
    planner: Option<&dyn crate::store::outbox::Planner>,
) -> anyhow::Result<Report> {
    let cal = cfg.calendar()?;
    let rules = cfg.effective_rules();
    let config = fingerprint(&rules, &cfg.calendar_overlays);
    // The revision first: rows written from here on are looked at again next time.
    let rev = store.current_rev().await?;
    let last = store.evaluation_state().await?;
    let from = last
        .filter(|s| !full && s.config == config && now >= s.as_of)
        .map(|s| (s.rev, s.as_of));
    let platforms = platform_feeds(&rules);
    let mut loaded = match from {
        None => load_full(store, &rules, &platforms).await?,
        Some((since, as_of)) => load_changes(store, &platforms, since, as_of, now).await?,
    };
    let mode = if from.is_some() {
        Mode::Incremental
    } else {
        Mode::Full
    };

    // Which platform rows are in the fallback pool now (no case claims their number).
    let claimed: HashSet<&str> = loaded.claims.iter().map(|(_, k)| k.as_str()).collect();
    let was_pool = &loaded.was_pool;
    let pool: Vec<(Feed, i64, bool)> = loaded
        .rows
        .iter()
        .flat_map(|(feed, v)| {
            let claimed = &claimed;
            v.iter().map(move |s| {
                let unclaimed = usable_key(&s.record).is_none_or(|k| !claimed.contains(k));
                (*feed, s.id, unclaimed)
            })
        })
        // A full pass rewrites the pool; an incremental one writes what changed.
        .filter(|&(feed, id, member)| match mode {
            Mode::Full => member,
            Mode::Incremental => member != was_pool.contains(&(feed, id)),
        })
        .collect();
    drop(claimed);
    let main_ids: HashSet<i64> = loaded.cases.iter().map(|s| s.id).collect();
    // The records move out of their bookkeeping: a full pass holds many.
    let cases: Vec<Record> = loaded.cases.into_iter().map(|s| s.record).collect();
    let mut by_feed: BTreeMap<Feed, Vec<Record>> = BTreeMap::new();
    for (feed, v) in loaded.rows {
        by_feed
            .entry(feed)
            .or_default()
            .extend(v.into_iter().map(|s| s.record));
    }
    let mut rows = |feed: Feed| by_feed.remove(&feed).unwrap_or_default();
    let (referrals, entries, copies, filings) = (
        rows(Feed::Referrals),
        rows(Feed::Entries),
        rows(Feed::Copies),
        rows(Feed::Filings),
    );
    let reviews: Vec<Record> = std::mem::take(&mut loaded.reviews)
        .into_iter()
        .map(|s| s.record)
        .collect();
    let recommendations: Vec<Record> = loaded
        .recommendations
        .into_iter()
        .map(|s| s.record)
        .collect();
    let opinions: Vec<Record> = loaded.opinions.into_iter().map(|s| s.record).collect();
    let data = Data {
        cases: &cases,
        referrals: &referrals,
        entries: &entries,
        copies: &copies,
        filings: &filings,
        recommendations: &recommendations,
        opinions: &opinions,
        claims: Some(&loaded.claims),
        reviews: &reviews,
        police_decisions: Some(store.referrals_carry_police_decisions().await?),
    };
    // Each finding becomes its stored form as it is made: facts as compact text.
    let to_stored = |f: crate::rules::Finding| EvaluatedFinding {
        state: f.state(now, &rules).as_str().to_string(),
        link: link(&f.facts),
        facts: f.facts.to_string(),
        key: f.key,
        rule: f.rule.to_string(),
        unit_id: f.unit_id,
        case_key: f.case_key,
        case_no: f.case_no,
        arose_at: f.arose_at,
        due: f.due,
        satisfied_at: f.satisfied_at.filter(|t| *t <= now),
        violated: f.violated,
    };
    let mut evaluated: Vec<EvaluatedFinding> = Vec::new();
    crate::rules::evaluate_each(&data, &cal, &rules, now, |f| evaluated.push(to_stored(f)));
    // What an incremental pass covered: every finding its cases, referrals and documents can
    // have, produced or not, and where those are stored.
    let mut scope_keys: HashSet<String> = HashSet::new();
    let mut subjects: HashSet<(String, String)> = HashSet::new();
    let mut keyed: Vec<String> = Vec::new();
    if mode == Mode::Incremental {
        scope_keys.extend(evaluated.iter().map(|f| f.key.clone()));
        for f in &evaluated {
            match &f.case_key {
                Some(k) => subjects.insert((f.unit_id.clone(), k.clone())),
                None => {
                    keyed.push(f.key.clone());
                    true
                }
            };
        }
        // The rules about a case that can have findings under this configuration (a change of
        // it means a full pass, which resolved the findings of rules now off).
        let case_rules: Vec<RuleId> = RuleId::ALL
            .into_iter()
            .filter(|r| match r {
                RuleId::R4 => rules.r4_enabled,
                RuleId::R5 => rules.r5_enabled,
                RuleId::R6 => !rules.r6_thresholds.is_empty(),
                RuleId::R9 => rules.r9_enabled,
                RuleId::R7 | RuleId::R8 => false,
                RuleId::R1 | RuleId::R2 | RuleId::R3 | RuleId::R10 => true,
            })
            .collect();
        for c in &cases {
            for rule in &case_rules {
                scope_keys.insert(format!("{rule}|{}|{}", c.unit_id, c.case_no.key()));
            }
            subjects.insert((c.unit_id.clone(), c.case_no.key().to_owned()));
        }
        for r in &referrals {
            match usable_key(r) {
                Some(k) => {
                    scope_keys.insert(format!("R10|{}|{k}", r.unit_id));
                    subjects.insert((r.unit_id.clone(), k.to_owned()));
                }
                None => {
                    if let Some(k) = crate::rules::referral_key(r) {
                        keyed.push(k.clone());
                        scope_keys.insert(k);
                    }
                }
            }
        }
        for (rule, docs) in [(RuleId::R7, &recommendations), (RuleId::R8, &opinions)] {
            for d in docs.iter() {
                scope_keys.insert(format!("{rule}|{}|{}", d.unit_id, d.case_no.key()));
                subjects.insert((d.unit_id.clone(), d.case_no.key().to_owned()));
            }
        }
    }
    let scope_keys: Vec<String> = scope_keys.into_iter().collect();
    let subjects: Vec<(String, String)> = subjects.into_iter().collect();
    // Which of the cases looked at now seek their platform record by fallback.
    let seeking: HashSet<(&str, &str)> = evaluated
        .iter()
        .filter(|f| {
            matches!(
                f.link.as_deref(),
                Some("none" | "ambiguous" | "party_and_date")
            )
        })
        .filter_map(|f| Some((f.unit_id.as_str(), f.case_key.as_deref()?)))
        .collect();
    let seekers: Vec<(String, String, Option<String>)> = cases
        .iter()
        .map(|c| {
            let key = c.case_no.key();
            let party = party_key(c).filter(|_| seeking.contains(&(c.unit_id.as_str(), key)));
            (c.unit_id.clone(), key.to_owned(), party)
        })
        .filter(|(_, _, p)| mode == Mode::Incremental || p.is_some())
        .collect();
    drop(seeking);
    let subjects_seen = cases.len();
    // The records are done with: free them before R6's pages and the store's work.
    drop((cases, referrals, entries, copies, filings));
    drop((recommendations, opinions, loaded.claims));
    if mode == Mode::Full && stream_r6(&rules) {
        let r6 = r6_by_pages(store, &cal, &rules, now, &main_ids).await?;
        evaluated.extend(r6.into_iter().map(to_stored));
    }
    let changes = store
        .apply_evaluation(&Evaluation {
            findings: &evaluated,
            scope: (mode == Mode::Incremental).then_some(Scope {
                keys: &scope_keys,
                subjects: &subjects,
                keyed: &keyed,
            }),
            at: now,
            due_soon: crate::domain::rule::due_soon_window(rules.due_soon_days),
            pool: &pool,
            seekers: &seekers,
            state: Some(EvaluationState {
                rev,
                as_of: now,
                config,
                mode: mode.as_str().to_string(),
                evaluated_at: crate::domain::clock::wall(),
            }),
            planner,
        })
        .await
        .context("while storing the findings")?;
    let mut counts = BTreeMap::new();
    for f in &evaluated {
        *counts.entry((f.rule.clone(), f.state.clone())).or_default() += 1;
    }
    Ok(Report {
        mode,
        subjects: subjects_seen,
        counts,
        changes,
    })
}

/// The platform feeds the enabled rules read.
fn platform_feeds(rules: &RulesConfig) -> Vec<Feed> {
    let mut v = vec![Feed::Referrals];
    for (on, feed) in [
        (rules.r4_enabled, Feed::Entries),
        (rules.r5_enabled, Feed::Copies),
        (rules.r9_enabled, Feed::Filings),
    ] {
        if on {
            v.push(feed);
        }
    }
    v
}

/// How a finding's case met its platform record, from its facts.
fn link(facts: &serde_json::Value) -> Option<String> {
    facts
        .get("matched_by")
        .or_else(|| facts.get("match"))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// A fingerprint of everything besides the data that decides findings: the rules' numbers, the
/// calendar overlays and the rules' version.
fn fingerprint(rules: &RulesConfig, overlays: &[(String, String)]) -> String {
    let mut h = Sha256::new();
    h.update(RULES_VERSION.as_bytes());
    h.update(format!("{rules:?}").as_bytes());
    for (_, text) in overlays {
        h.update(text.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// What an evaluation reads.
#[derive(Default)]
struct Loaded {
    cases: Vec<StoredRecord>,
    rows: Vec<(Feed, Vec<StoredRecord>)>,
    claims: Vec<(String, String)>,
    recommendations: Vec<StoredRecord>,
    opinions: Vec<StoredRecord>,
    /// Case-file reviews (few): a review's "should have been transferred" feeds R6.
    reviews: Vec<StoredRecord>,
    /// Platform rows that were in the fallback pool before this pass (incremental only).
    was_pool: HashSet<(Feed, i64)>,
}

async fn select(
    store: &dyn Store,
    feed: Feed,
    sel: &Selection<'_>,
) -> anyhow::Result<Vec<StoredRecord>> {
    store
        .select_records(feed, sel)
        .await
        .with_context(|| format!("while reading {}", feed.table()))
}

async fn load_full(
    store: &dyn Store,
    rules: &RulesConfig,
    platforms: &[Feed],
) -> anyhow::Result<Loaded> {
    let min_amount_fen = r6_min_fen(rules);
    let filter = SubjectFilter {
        decided: rules.r4_enabled || rules.r5_enabled,
        major: rules.r9_enabled,
        min_amount_fen: if stream_r6(rules) {
            None
        } else {
            min_amount_fen
        },
    };
    let mut loaded = Loaded {
        cases: select(store, Feed::Cases, &Selection::Subjects(filter)).await?,
        ..Loaded::default()
    };
    loaded.reviews = select(store, Feed::Reviews, &Selection::All).await?;
    let flagged = flagged_cases(&loaded.reviews);
    let mut ids: HashSet<i64> = loaded.cases.iter().map(|s| s.id).collect();
    let more = select(store, Feed::Cases, &Selection::Pairs(&flagged)).await?;
    extend_unique(&mut loaded.cases, &mut ids, more);
    let mut claims = HashSet::new();
    for &feed in platforms {
        loaded
            .rows
            .push((feed, select(store, feed, &Selection::All).await?));
        claims.extend(store.case_claims(None, feed).await?);
    }
    loaded.claims = claims.into_iter().collect();
    loaded.recommendations = select(store, Feed::Recommendations, &Selection::All).await?;
    loaded.opinions = select(store, Feed::Opinions, &Selection::All).await?;
    Ok(loaded)
}

/// The (unit, case key) of the files a review found should have been transferred.
fn flagged_cases(reviews: &[StoredRecord]) -> Vec<(String, String)> {
    reviews
        .iter()
        .filter(|s| s.record.flag(Field::ShouldTransfer) == Some(true))
        .map(|s| (s.record.unit_id.clone(), s.record.case_no.key().to_owned()))
        .collect()
}

/// Whether a full pass feeds R6 its candidates page by page rather than with the subjects:
/// when no rule makes every penalised case a subject anyway (R4, R5). Penalties above the
/// smallest threshold can be a large part of the store, and R6 needs no matching.
fn stream_r6(rules: &RulesConfig) -> bool {
    !(rules.r6_thresholds.is_empty() || rules.r4_enabled || rules.r5_enabled)
}

/// `LIKE` patterns that every cause an R6 threshold applies to matches: the threshold cause's
/// CJK letters with `%` around each, so anything R6 ignores or folds in between (spaces,
/// full-width forms of ASCII, punctuation) still matches — a superset that the rule then
/// narrows. Empty (no filter) when a threshold has no such letter.
fn cause_patterns(rules: &RulesConfig) -> Vec<String> {
    let mut out = Vec::new();
    for t in &rules.r6_thresholds {
        let letters: Vec<char> = t
            .cause
            .chars()
            .filter(|c| !c.is_ascii() && c.is_alphabetic())
            .collect();
        if letters.is_empty() {
            return Vec::new();
        }
        let mut p = String::from("%");
        for c in letters {
            p.push(c);
            p.push('%');
        }
        out.push(p);
    }
    out
}

/// The smallest R6 threshold, in fen: no case below it can be an R6 candidate.
fn r6_min_fen(rules: &RulesConfig) -> Option<i64> {
    rules
        .r6_thresholds
        .iter()
        .filter_map(|t| crate::domain::values::parse_amount_fen(&t.amount_yuan).ok())
        .min()
}

/// Cases per page when R6 is fed page by page.
const R6_PAGE: i64 = 5_000;

/// R6 over the store's penalties a page at a time, skipping the cases of the main pass.
async fn r6_by_pages(
    store: &dyn Store,
    cal: &crate::domain::calendar::Calendar,
    rules: &RulesConfig,
    now: DateTime<Utc>,
    skip: &HashSet<i64>,
) -> anyhow::Result<Vec<crate::rules::Finding>> {
    let Some(min_amount_fen) = r6_min_fen(rules) else {
        return Ok(Vec::new());
    };
    // Only R6 can fire on these cases: no transfer decision, and no platform rows given.
    let only_r6 = RulesConfig {
        r4_enabled: false,
        r5_enabled: false,
        r9_enabled: false,
        ..rules.clone()
    };
    let cause_like = cause_patterns(rules);
    let mut out = Vec::new();
    let mut after_id = 0;
    loop {
        let page = select(
            store,
            Feed::Cases,
            &Selection::Penalties {
                min_amount_fen,
                cause_like: &cause_like,
                after_id,
                limit: R6_PAGE,
            },
        )
        .await?;
        let Some(last) = page.last().map(|s| s.id) else {
            break;
        };
        after_id = last;
        let cases: Vec<Record> = page
            .into_iter()
            .filter(|s| !skip.contains(&s.id))
            .map(|s| s.record)
            .collect();
        let data = Data {
            cases: &cases,
            claims: Some(&[]),
            ..Data::default()
        };
        out.extend(
            crate::rules::evaluate(&data, cal, &only_r6, now)
                .into_iter()
                .filter(|f| f.rule == RuleId::R6),
        );
    }
    Ok(out)
}

/// Adds `more` to `into`, skipping records already there (by id).
fn extend_unique(into: &mut Vec<StoredRecord>, seen: &mut HashSet<i64>, more: Vec<StoredRecord>) {
    for r in more {
        if seen.insert(r.id) {
            into.push(r);
        }
    }
}

async fn load_changes(
    store: &dyn Store,
    platforms: &[Feed],
    since: i64,
    last_as_of: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<Loaded> {
    let mut loaded = Loaded::default();
    let mut case_ids = HashSet::new();
    // What changed: rows written since, and what the clock brought into view.
    let mut dirty_cases = Vec::new();
    extend_unique(
        &mut dirty_cases,
        &mut case_ids,
        select(store, Feed::Cases, &Selection::ChangedSince(since)).await?,
    );
    // Reviews changed since, or whose day the clock has passed: their cases are looked at again.
    let mut review_ids = HashSet::new();
    let mut touched_reviews = Vec::new();
    extend_unique(
        &mut touched_reviews,
        &mut review_ids,
        select(store, Feed::Reviews, &Selection::ChangedSince(since)).await?,
    );
    if now > last_as_of {
        extend_unique(
            &mut touched_reviews,
            &mut review_ids,
            select(
                store,
                Feed::Reviews,
                &Selection::TimeBetween(last_as_of, now),
            )
            .await?,
        );
    }
    let reviewed: Vec<(String, String)> = touched_reviews
        .iter()
        .map(|s| (s.record.unit_id.clone(), s.record.case_no.key().to_owned()))
        .collect();
    extend_unique(
        &mut dirty_cases,
        &mut case_ids,
        select(store, Feed::Cases, &Selection::Pairs(&reviewed)).await?,
    );
    let (from_day, to_day) = (shanghai_day(last_as_of), shanghai_day(now));
    if to_day > from_day {
        extend_unique(
            &mut dirty_cases,
            &mut case_ids,
            select(
                store,
                Feed::Cases,
                &Selection::DecidedBetween(from_day, to_day),
            )
            .await?,
        );
    }
    let mut dirty_rows: Vec<(Feed, Vec<StoredRecord>)> = Vec::new();
    for &feed in platforms {
        let mut ids = HashSet::new();
        let mut v = Vec::new();
        extend_unique(
            &mut v,
            &mut ids,
            select(store, feed, &Selection::ChangedSince(since)).await?,
        );
        if now > last_as_of {
            extend_unique(
                &mut v,
                &mut ids,
                select(store, feed, &Selection::TimeBetween(last_as_of, now)).await?,
            );
        }
        dirty_rows.push((feed, v));
    }
    let keys: Vec<String> = dirty_cases
        .iter()
        .chain(dirty_rows.iter().flat_map(|(_, v)| v.iter()))
        .filter_map(|s| usable_key(&s.record).map(str::to_owned))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();

    // Their neighbourhood: platform rows sharing a key or in the pool…
    // Claims matter for the platform rows looked at: the keys of those rows only.
    let mut claim_keys: HashSet<String> = HashSet::new();
    // (unit, party) of whatever changed or may change the fallback between cases and rows.
    let mut touched: HashSet<(String, String)> = HashSet::new();
    let mut touch = |s: &StoredRecord| {
        if let Some(p) = party_key(&s.record) {
            touched.insert((s.record.unit_id.clone(), p));
        }
    };
    dirty_cases.iter().for_each(&mut touch);
    let mut parts = Vec::new();
    for (feed, dirty) in dirty_rows {
        dirty.iter().for_each(&mut touch);
        let by_key = select(store, feed, &Selection::Keys(&keys)).await?;
        by_key.iter().for_each(&mut touch);
        let pool = select(store, feed, &Selection::Pool).await?;
        parts.push((feed, dirty, by_key, pool));
    }
    // …every case carrying one of those keys, …
    loaded.cases = dirty_cases;
    // Other cases with a changed key (another unit's, or one the platform row names).
    let loaded_ids: Vec<i64> = case_ids.iter().copied().collect();
    let by_key = select(
        store,
        Feed::Cases,
        &Selection::KeysExcept(&keys, &loaded_ids),
    )
    .await?;
    by_key.iter().for_each(&mut touch);
    extend_unique(&mut loaded.cases, &mut case_ids, by_key);
    // …and, of the pool and of the cases that seek a record by fallback, those of a unit and
    // party that something changed for (the others cannot have changed).
    let touched_party = |s: &StoredRecord| {
        party_key(&s.record).is_some_and(|p| touched.contains(&(s.record.unit_id.clone(), p)))
    };
    for (feed, dirty, by_key, pool) in parts {
        let mut ids = HashSet::new();
        let mut v = Vec::new();
        extend_unique(&mut v, &mut ids, dirty);
        extend_unique(&mut v, &mut ids, by_key);
        loaded.was_pool.extend(pool.iter().map(|s| (feed, s.id)));
        extend_unique(
            &mut v,
            &mut ids,
            pool.into_iter().filter(|s| touched_party(s)).collect(),
        );
        claim_keys.extend(
            v.iter()
                .filter_map(|s| usable_key(&s.record).map(str::to_owned)),
        );
        loaded.rows.push((feed, v));
    }
    let touched: Vec<(String, String)> = touched.into_iter().collect();
    let seekers = store.fallback_seekers(&touched).await?;
    let seekers = select(store, Feed::Cases, &Selection::Pairs(&seekers)).await?;
    extend_unique(&mut loaded.cases, &mut case_ids, seekers);
    let claim_keys: Vec<String> = claim_keys.into_iter().collect();
    loaded.claims = store.case_claims(Some(&claim_keys), Feed::Cases).await?;
    // Reviews, recommendations and opinions are few: always read whole.
    loaded.reviews = select(store, Feed::Reviews, &Selection::All).await?;
    loaded.recommendations = select(store, Feed::Recommendations, &Selection::All).await?;
    loaded.opinions = select(store, Feed::Opinions, &Selection::All).await?;
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::R6Threshold;

    fn rules(causes: &[&str]) -> RulesConfig {
        RulesConfig {
            r6_thresholds: causes
                .iter()
                .map(|c| R6Threshold {
                    cause: (*c).into(),
                    amount_yuan: "5万".into(),
                    article: "x".into(),
                })
                .collect(),
            ..RulesConfig::default()
        }
    }

    /// SQL `LIKE` with `%` only, as the patterns use it.
    fn like(text: &str, pattern: &str) -> bool {
        let parts: Vec<&str> = pattern.split('%').filter(|p| !p.is_empty()).collect();
        let mut rest = text;
        for p in parts {
            match rest.find(p) {
                Some(i) => rest = &rest[i + p.len()..],
                None => return false,
            }
        }
        true
    }

    #[test]
    fn cause_patterns_match_every_cause_r6_would_and_skip_what_it_folds() {
        let p = cause_patterns(&rules(&["生产、销售伪劣产品", "非法采矿"]));
        assert_eq!(p, ["%生%产%销%售%伪%劣%产%品%", "%非%法%采%矿%"]);
        for cause in [
            "生产、销售伪劣产品案",
            "涉嫌生产 、销售 伪劣产品",
            "非法 采矿",
        ] {
            assert!(p.iter().any(|p| like(cause, p)), "{cause}");
        }
        assert!(!p.iter().any(|p| like("非法占地", p)));
        // Only ASCII: no filter at all rather than a wrong one.
        assert!(cause_patterns(&rules(&["非法采矿", "ABC"])).is_empty());
        assert!(cause_patterns(&rules(&[])).is_empty());
    }
}
