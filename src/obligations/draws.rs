//! Review sample draws against the store: which closed files of a unit form a quarter's
//! population as of a day, the draw itself (recorded with its seed, population, focused picks and
//! the share of the target focused picks could take), and its verification.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::ObligationsConfig;
use super::sampling::{self, CaseFile, Focus, FocusShare, PopulationBasis, Quarter};
use crate::domain::rule::RuleId;
use crate::domain::text;
use crate::records::Field;
use crate::records::{Feed, Value};
use crate::store::{FindingFilter, SampleDraw, Selection, Store, StoreResult};

/// A unit's closed case files as of `as_of` that `quarter`'s population can draw from, each
/// with whether it is a focused pick and when it was reviewed (on or before `as_of`).
pub async fn unit_files(
    store: &dyn Store,
    cfg: &ObligationsConfig,
    basis: PopulationBasis,
    unit_id: &str,
    quarter: Quarter,
    as_of: NaiveDate,
) -> StoreResult<Vec<CaseFile>> {
    let from = match basis {
        PopulationBasis::YearToDate => {
            NaiveDate::from_ymd_opt(quarter.year, 1, 1).unwrap_or(NaiveDate::MIN)
        }
        PopulationBasis::Quarter => quarter.first_day(),
    };
    let to = quarter.last_day().min(as_of);
    if to < from {
        return Ok(Vec::new());
    }
    let cases = store
        .select_records(Feed::Cases, &Selection::ClosedBetween(unit_id, from, to))
        .await?;
    let reviewed: HashMap<String, NaiveDate> = store
        .records(Feed::Reviews, Some(unit_id))
        .await?
        .into_iter()
        .filter_map(|s| {
            let d = s.record.date(Field::ReviewedOn).filter(|d| *d <= as_of)?;
            Some((s.record.case_no.key().to_owned(), d))
        })
        .collect();
    // The rules of the open findings of each case, for the focus on open findings.
    let mut open: HashMap<String, BTreeSet<RuleId>> = HashMap::new();
    for f in store
        .findings(&FindingFilter {
            unit: Some(unit_id.to_owned()),
            ..FindingFilter::default()
        })
        .await?
    {
        let wanted = cfg
            .focus_open_rules
            .iter()
            .any(|r| r.eq_ignore_ascii_case(f.rule.as_str()));
        if let (true, Some(key)) = (wanted, f.case_key) {
            open.entry(key).or_default().insert(f.rule);
        }
    }
    let causes: Vec<String> = cfg
        .focus_causes
        .iter()
        .map(|c| text::squeeze(c))
        .filter(|c| !c.is_empty())
        .collect();
    Ok(cases
        .into_iter()
        .filter_map(|s| {
            let r = s.record;
            let Value::Date(closed_on) = r.get(Field::ClosedOn) else {
                return None;
            };
            let key = r.case_no.key().to_owned();
            let mut focus = Vec::new();
            if cfg.focus_major && r.flag(Field::Major) == Some(true) {
                focus.push(Focus::Major);
            }
            if let Some(rules) = open.get(&key) {
                focus.extend(rules.iter().map(|rule| Focus::OpenFinding(*rule)));
            }
            if let Some(c) = r.text(Field::Cause) {
                let c = text::squeeze(c);
                focus.extend(
                    causes
                        .iter()
                        .filter(|f| c.contains(f.as_str()))
                        .map(|f| Focus::Cause(f.clone())),
                );
            }
            let text_of = |f: Field| r.text(f).unwrap_or_default().trim().to_owned();
            Some(CaseFile {
                reviewed_on: reviewed.get(&key).copied(),
                case_no: r.case_no.as_written().to_owned(),
                closed_on: *closed_on,
                title: text_of(Field::Title),
                party: text_of(Field::Party),
                focused: !focus.is_empty(),
                focus,
                key,
            })
        })
        .collect())
}

/// A fresh seed: 16 random bytes from the operating system, in hex.
pub fn fresh_seed() -> String {
    hex::encode(crate::random::bytes::<16>())
}

fn basis_name(b: PopulationBasis) -> &'static str {
    match b {
        PopulationBasis::YearToDate => "year_to_date",
        PopulationBasis::Quarter => "quarter",
    }
}

fn parse_basis(s: &str) -> PopulationBasis {
    if s == "quarter" {
        PopulationBasis::Quarter
    } else {
        PopulationBasis::YearToDate
    }
}

/// Draws the sample of `unit_id` for `quarter` from its population as of `as_of` and records it.
/// Returns the record and the drawn files in draw order.
#[allow(clippy::too_many_arguments)]
pub async fn draw(
    store: &dyn Store,
    cfg: &ObligationsConfig,
    unit_id: &str,
    quarter: Quarter,
    as_of: NaiveDate,
    seed: &str,
    by: &str,
    now: DateTime<Utc>,
) -> StoreResult<(SampleDraw, Vec<CaseFile>)> {
    let files = unit_files(store, cfg, cfg.population, unit_id, quarter, as_of).await?;
    let population = sampling::population(&files, quarter, cfg.population);
    let target = sampling::target(population.len(), cfg.review_ratio_percent);
    let focus_max_percent = cfg.focus_max_percent.min(100);
    let share = FocusShare::AtMost(focus_max_percent);
    let drawn: Vec<CaseFile> = sampling::draw(seed, unit_id, &population, target, share)
        .into_iter()
        .cloned()
        .collect();
    let keys: BTreeSet<&str> = population.iter().map(|f| f.key.as_str()).collect();
    let focused: BTreeSet<&str> = population
        .iter()
        .filter(|f| f.focused)
        .map(|f| f.key.as_str())
        .collect();
    let mut record = SampleDraw {
        id: 0,
        unit_id: unit_id.to_owned(),
        quarter: quarter.to_string(),
        seed: seed.to_owned(),
        as_of,
        basis: basis_name(cfg.population).to_owned(),
        ratio_percent: i64::from(cfg.review_ratio_percent),
        focus_max_percent: Some(i64::from(focus_max_percent)),
        population_hash: sampling::population_hash(keys.iter().copied()),
        population: keys.iter().map(|k| k.to_string()).collect(),
        focused: focused.iter().map(|k| k.to_string()).collect(),
        target: target as i64,
        drawn: drawn.iter().map(|f| f.key.clone()).collect(),
        drawn_at: now,
        drawn_by: by.to_owned(),
    };
    record.id = store.save_draw(&record).await?;
    Ok((record, drawn))
}

/// What re-running a recorded draw shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub draw_id: i64,
    /// Re-running the draw from the recorded seed, population, focused picks and share gives
    /// the recorded list.
    pub replays: bool,
    /// The population as the store now shows it as of the draw's day is the recorded one.
    pub same_population: bool,
    /// Files now in the population that the record does not have, and the other way round.
    pub population_added: Vec<String>,
    pub population_removed: Vec<String>,
    /// Focus changes among the files in both.
    pub focus_gained: Vec<String>,
    pub focus_lost: Vec<String>,
    /// The draw re-run on the population as the store now shows it (with the recorded share).
    pub drawn_now: Vec<String>,
    pub drawn_added: Vec<String>,
    pub drawn_removed: Vec<String>,
}

impl Verification {
    /// The recorded draw is confirmed: it replays and nothing it was drawn from changed.
    pub fn confirmed(&self) -> bool {
        self.replays
            && self.same_population
            && self.focus_gained.is_empty()
            && self.focus_lost.is_empty()
    }
}

/// Re-runs a recorded draw, from its record and from the store as it is now, with the share of
/// the target focused picks could take when it was drawn ([`FocusShare::recorded`]): a draw keeps
/// replaying whatever `focus_max_percent` says later, and one recorded before the share existed
/// replays with the rule it was made by.
pub async fn verify(
    store: &dyn Store,
    cfg: &ObligationsConfig,
    d: &SampleDraw,
) -> StoreResult<Verification> {
    let quarter: Quarter = d
        .quarter
        .parse()
        .map_err(|e: sampling::BadQuarter| crate::store::StoreError::Corrupt(e.to_string()))?;
    let target = usize::try_from(d.target).unwrap_or(0);
    let share = FocusShare::recorded(d.focus_max_percent);
    let focused: HashSet<&str> = d.focused.iter().map(String::as_str).collect();
    let recorded: Vec<CaseFile> = d
        .population
        .iter()
        .map(|k| CaseFile {
            key: k.clone(),
            case_no: k.clone(),
            closed_on: quarter.first_day(),
            title: String::new(),
            party: String::new(),
            focused: focused.contains(k.as_str()),
            focus: Vec::new(),
            reviewed_on: None,
        })
        .collect();
    let refs: Vec<&CaseFile> = recorded.iter().collect();
    let replay: Vec<String> = sampling::draw(&d.seed, &d.unit_id, &refs, target, share)
        .iter()
        .map(|f| f.key.clone())
        .collect();
    let replays = replay == d.drawn
        && sampling::population_hash(d.population.iter().map(String::as_str)) == d.population_hash;

    let basis = parse_basis(&d.basis);
    let files = unit_files(store, cfg, basis, &d.unit_id, quarter, d.as_of).await?;
    let now_pop = sampling::population(&files, quarter, basis);
    let now_keys: BTreeSet<&str> = now_pop.iter().map(|f| f.key.as_str()).collect();
    let was: BTreeSet<&str> = d.population.iter().map(String::as_str).collect();
    let diff = |a: &BTreeSet<&str>, b: &BTreeSet<&str>| -> Vec<String> {
        a.difference(b).map(|k| k.to_string()).collect()
    };
    let now_focused: BTreeSet<&str> = now_pop
        .iter()
        .filter(|f| f.focused && was.contains(f.key.as_str()))
        .map(|f| f.key.as_str())
        .collect();
    let was_focused: BTreeSet<&str> = d
        .focused
        .iter()
        .map(String::as_str)
        .filter(|k| now_keys.contains(k))
        .collect();
    let now_target = sampling::target(now_pop.len(), u32::try_from(d.ratio_percent).unwrap_or(10));
    let drawn_now: Vec<String> = sampling::draw(&d.seed, &d.unit_id, &now_pop, now_target, share)
        .iter()
        .map(|f| f.key.clone())
        .collect();
    let before: BTreeSet<&str> = d.drawn.iter().map(String::as_str).collect();
    let after: BTreeSet<&str> = drawn_now.iter().map(String::as_str).collect();
    Ok(Verification {
        draw_id: d.id,
        replays,
        same_population: now_keys == was,
        population_added: diff(&now_keys, &was),
        population_removed: diff(&was, &now_keys),
        focus_gained: diff(&now_focused, &was_focused),
        focus_lost: diff(&was_focused, &now_focused),
        drawn_added: diff(&after, &before),
        drawn_removed: diff(&before, &after),
        drawn_now,
    })
}

/// The day a draw without `--as-of` takes its population at: today, or the last day of a
/// quarter that has ended.
pub fn default_as_of(quarter: Quarter, today: NaiveDate) -> NaiveDate {
    today.min(quarter.last_day())
}

/// How a file came into the sample, as the worksheet says it: the criteria that made it a
/// focused pick (重点检查), or the random draw. `filled`: a focused file that took a random place
/// because too few other files were left (see [`sampling::draw`]).
pub fn pick_reason(f: &CaseFile, filled: bool) -> String {
    if !f.focused {
        return "按随机种子排序抽取".into();
    }
    let criteria = if f.focus.is_empty() {
        "重点检查".to_string()
    } else {
        f.focus
            .iter()
            .map(Focus::label_zh)
            .collect::<Vec<_>>()
            .join("；")
    };
    if filled {
        format!("{criteria}（非重点案卷已全部抽取，按随机种子排序补足）")
    } else {
        criteria
    }
}

/// The columns of the worksheet and their widths (in characters; a Chinese character takes
/// two). The first seven are filled from the draw, the rest by the reviewers.
const SHEET_COLUMNS: [(&str, f64); 13] = [
    ("序号", 5.0),
    ("案号", 24.0),
    ("案件名称", 26.0),
    ("当事人", 16.0),
    ("结案日期", 11.0),
    ("抽取方式", 9.0),
    ("抽取理由", 24.0),
    ("评查日期", 11.0),
    ("评查人（至少两人）", 16.0),
    ("得分", 6.0),
    ("等次", 6.0),
    ("否决项", 14.0),
    ("应移送未移送", 12.0),
];

/// Writes a draw as a worksheet the justice bureau can print on A4 and fill in (案卷评查抽查表):
/// a title, what the draw was made from, and one row per drawn file — its case number, name,
/// party (ID and phone numbers masked), closing day, and why it was picked — with the review
/// columns left blank.
pub fn write_xlsx(
    path: &std::path::Path,
    unit_name: &str,
    d: &SampleDraw,
    files: &[CaseFile],
) -> Result<(), rust_xlsxwriter::XlsxError> {
    use chrono::Datelike as _;
    use rust_xlsxwriter::{ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("抽查清单")?;
    let title = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center);
    let head = Format::new()
        .set_bold()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
        .set_text_wrap();
    let cell = Format::new()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::VerticalCenter)
        .set_text_wrap();
    let date = cell.clone().set_num_format("yyyy-mm-dd");
    let last = (SHEET_COLUMNS.len() - 1) as u16;
    let quarter = d
        .quarter
        .parse::<Quarter>()
        .map_or_else(|_| d.quarter.clone(), Quarter::label_zh);
    sheet.merge_range(
        0,
        0,
        0,
        last,
        &format!("{unit_name} {quarter} 行政执法案卷评查抽查表"),
        &title,
    )?;
    let zh = crate::domain::values::zh_date;
    let share = FocusShare::recorded(d.focus_max_percent);
    let how_drawn = match d.focus_max_percent {
        Some(p) => format!("重点检查至多占 {p}%，其余随机抽查"),
        None => "重点检查案卷优先".into(),
    };
    let info = format!(
        "抽取日期 {}；案卷范围 截至 {} 已办结（{}）共 {} 件；抽取 {} 件（不低于 {}%，{how_drawn}）；随机种子 {}；案卷清单校验值 {}",
        zh(d.drawn_at
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .date_naive()),
        zh(d.as_of),
        if d.basis == "quarter" {
            "本季度"
        } else {
            "当年"
        },
        d.population.len(),
        d.target,
        d.ratio_percent,
        d.seed,
        d.population_hash
    );
    sheet.merge_range(1, 0, 1, last, &info, &Format::new().set_text_wrap())?;
    sheet.set_row_height(1, 36)?;
    for (c, (h, w)) in SHEET_COLUMNS.iter().enumerate() {
        let c = c as u16;
        sheet.set_column_width(c, *w)?;
        sheet.write_string_with_format(3, c, *h, &head)?;
    }
    sheet.set_row_height(3, 30)?;
    // The focused picks lead the list; a focused file after them filled a random place.
    let picks = sampling::focus_picks(files, share, d.population.len() > d.focused.len());
    for (i, f) in files.iter().enumerate() {
        let r = 4 + i as u32;
        let texts = [
            f.case_no.clone(),
            crate::mask::mask_text(&f.title),
            crate::mask::mask_text(&f.party),
        ];
        let reason = pick_reason(f, i >= picks);
        sheet.write_number_with_format(r, 0, (i + 1) as f64, &cell)?;
        for (c, t) in texts.iter().enumerate() {
            sheet.write_string_with_format(r, 1 + c as u16, t, &cell)?;
        }
        let closed = ExcelDateTime::from_ymd(
            u16::try_from(f.closed_on.year()).unwrap_or(1900),
            f.closed_on.month() as u8,
            f.closed_on.day() as u8,
        )?;
        sheet.write_datetime_with_format(r, 4, &closed, &date)?;
        let how = if f.focused {
            "重点检查"
        } else {
            "随机抽查"
        };
        sheet.write_string_with_format(r, 5, how, &cell)?;
        sheet.write_string_with_format(r, 6, &reason, &cell)?;
        for c in 7..=last {
            sheet.write_blank(r, c, &cell)?;
        }
        // Room for the wrapped texts, and to write by hand.
        let lines = [(1, &texts[0]), (2, &texts[1]), (3, &texts[2]), (6, &reason)]
            .iter()
            .map(|(c, t)| (text::display_width(t) as f64 / (SHEET_COLUMNS[*c].1 - 1.0)).ceil())
            .fold(1.0, f64::max);
        sheet.set_row_height(r, (15.0 * lines + 6.0).max(26.0))?;
    }
    let foot = 5 + files.len() as u32;
    sheet.write_string(foot, 0, "评查人签字：")?;
    sheet.write_string(foot, 8, "复核人签字：")?;
    // A4 landscape, one page wide, the column headers on every page.
    sheet.set_paper_size(9);
    sheet.set_landscape();
    sheet.set_print_fit_to_pages(1, 0);
    sheet.set_print_center_horizontally(true);
    sheet.set_repeat_rows(3, 3)?;
    sheet.set_header(format!(
        "&L{}&R{quarter} 案卷评查抽查表",
        unit_name.replace('&', "&&")
    ));
    sheet.set_footer("&C第 &P 页，共 &N 页");
    book.save(path)
}
