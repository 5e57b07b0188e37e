//! Parsers for the values that arrive from outside (CSV/XLSX cells, API fields, SQL columns):
//! dates, date-times, yuan amounts and yes/no flags, plus the one formatter for fen.
//!
//! Every parser first applies [`text::normalize`], so full-width digits and odd spaces are
//! accepted. Empty input is an error: callers decide which fields are optional before calling.
//! Times without an offset are Asia/Shanghai local time (no DST there since 1991); times with
//! an offset are converted to it. Amounts are parsed digit by digit into integer fen, never
//! through `f64`, so `0.1 + 0.2` problems cannot reach the store.

use chrono::{Days, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Asia::Shanghai;

use crate::domain::text;

/// What went wrong, worded so a clerk can fix the cell. The `String` is the input as given
/// (trimmed, shortened when long).
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ValueError {
    #[error("no value: expected {0}")]
    Empty(&'static str),
    #[error(
        "not a date: {0:?}; expected 2024-06-12, 2024/6/12, 2024年6月12日, 20240612 or an Excel serial number"
    )]
    NotADate(String),
    #[error(
        "not a date and time: {0:?}; expected a date (2024-06-12, 2024/6/12, 2024年6月12日, 20240612) optionally followed by a time (14:30, 14:30:05, 14时30分), an RFC 3339 time (2024-06-12T14:30:00+08:00) or an Excel serial number"
    )]
    NotADateTime(String),
    #[error("no such day: {0:?}; check the month (1-12) and the day of the month")]
    NoSuchDay(String),
    #[error(
        "no such time of day: {0:?}; hours run 0-23, minutes and seconds 0-59, offsets up to ±23:59"
    )]
    NoSuchTime(String),
    #[error(
        "not an amount: {0:?}; expected yuan such as 1234, 1,234.50, 1234.5元, ¥1,234.5, 1.2万 or 0.35亿"
    )]
    NotAnAmount(String),
    #[error("amount out of range: {0:?}; it does not fit in the store")]
    AmountOutOfRange(String),
    #[error(
        "not a yes/no value: {0:?}; expected 是/否, Y/N, yes/no, true/false, 1/0, √/×, ✓/✗, 有/无 or 对/不是"
    )]
    NotABool(String),
}

/// Parses a date; a time part, if present, is validated and then dropped.
pub fn parse_date(s: &str) -> Result<NaiveDate, ValueError> {
    let norm = text::normalize_cow(s);
    if norm.is_empty() {
        return Err(ValueError::Empty("a date"));
    }
    local_datetime(&norm)
        .map(|dt| dt.date())
        .map_err(|f| f.into_error(s, ValueError::NotADate))
}

/// Parses a date with an optional time into Asia/Shanghai local time; a date alone is 00:00:00.
pub fn parse_datetime(s: &str) -> Result<NaiveDateTime, ValueError> {
    let norm = text::normalize_cow(s);
    if norm.is_empty() {
        return Err(ValueError::Empty("a date and time"));
    }
    local_datetime(&norm).map_err(|f| f.into_error(s, ValueError::NotADateTime))
}

/// Parses a yuan amount into integer fen, rounding half away from zero past the fen.
pub fn parse_amount_fen(s: &str) -> Result<i64, ValueError> {
    // Spaces inside an amount (`¥ 1 234.50`) carry no meaning.
    let norm = text::squeeze(s);
    if norm.is_empty() {
        return Err(ValueError::Empty("an amount"));
    }
    amount_fen(&norm).map_err(|f| match f {
        AmountFail::Syntax => ValueError::NotAnAmount(shown(s)),
        AmountFail::Overflow => ValueError::AmountOutOfRange(shown(s)),
    })
}

/// Parses the yes/no spellings found in department spreadsheets.
pub fn parse_bool(s: &str) -> Result<bool, ValueError> {
    match text::normalize_cow(s).as_ref() {
        "" => Err(ValueError::Empty("a yes/no value")),
        "是" | "Y" | "y" | "YES" | "yes" | "Yes" | "true" | "TRUE" | "True" | "1" | "√" | "✓"
        | "有" | "对" => Ok(true),
        "否" | "N" | "n" | "NO" | "no" | "No" | "false" | "FALSE" | "False" | "0" | "×" | "✗"
        | "无" | "不是" => Ok(false),
        _ => Err(ValueError::NotABool(shown(s))),
    }
}

/// A day as people write it: `2025年12月29日`.
pub fn zh_date(d: NaiveDate) -> String {
    use chrono::Datelike as _;
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

/// An instant as people in the county read it: `2025-12-29 09:30` (Asia/Shanghai).
pub fn local_minute(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// Formats fen as yuan with two decimals: `123450` -> `"1234.50"`, `-5` -> `"-0.05"`.
pub fn format_fen(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    // `unsigned_abs` because `i64::MIN.abs()` overflows.
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// The input as it appears in an error message: trimmed, and cut so one bad cell holding a
/// whole paragraph does not flood the log.
fn shown(s: &str) -> String {
    const MAX: usize = 40;
    let t = s.trim();
    if t.chars().count() <= MAX {
        t.to_owned()
    } else {
        let mut out: String = t.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    Syntax,
    NoSuchDay,
    NoSuchTime,
}

impl Fail {
    fn into_error(self, input: &str, syntax: fn(String) -> ValueError) -> ValueError {
        match self {
            Fail::Syntax => syntax(shown(input)),
            Fail::NoSuchDay => ValueError::NoSuchDay(shown(input)),
            Fail::NoSuchTime => ValueError::NoSuchTime(shown(input)),
        }
    }
}

/// A read position over the characters of a normalised string; indexing goes through `get`,
/// so no input can make it panic.
struct Cursor {
    chars: Vec<char>,
    pos: usize,
}

impl Cursor {
    fn new(s: &str) -> Self {
        Cursor {
            chars: s.chars().collect(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_space(&mut self) {
        while self.eat(' ') {}
    }

    fn digit_run(&self) -> usize {
        self.chars
            .get(self.pos..)
            .unwrap_or_default()
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    }

    /// Takes exactly `n` (at most 9) digits, whatever follows them.
    fn take_digits(&mut self, n: usize) -> Option<u32> {
        let mut v: u32 = 0;
        for _ in 0..n {
            let d = self.peek()?.to_digit(10)?;
            v = v.checked_mul(10)?.checked_add(d)?;
            self.pos += 1;
        }
        Some(v)
    }

    /// Takes a whole run of `min..=max` digits; a longer run is a syntax error, not a prefix.
    fn number(&mut self, min: usize, max: usize) -> Result<u32, Fail> {
        let n = self.digit_run();
        if n < min || n > max {
            return Err(Fail::Syntax);
        }
        self.take_digits(n).ok_or(Fail::Syntax)
    }
}

/// Largest serial Excel can show (9999-12-31).
const EXCEL_MAX_SERIAL: u32 = 2_958_465;
const SECS_PER_DAY: u64 = 86_400;

fn local_datetime(norm: &str) -> Result<NaiveDateTime, Fail> {
    if let Some(serial) = excel_serial(norm) {
        return serial;
    }
    let mut cur = Cursor::new(norm);
    let (date, chinese) = date_part(&mut cur)?;
    if cur.at_end() {
        return Ok(date.and_time(NaiveTime::MIN));
    }
    if chinese {
        // After `日` the time may follow with or without a space.
        cur.skip_space();
    } else if !(cur.eat(' ') || cur.eat('T') || cur.eat('t')) {
        return Err(Fail::Syntax);
    }
    let (time, offset) = time_part(&mut cur)?;
    if !cur.at_end() {
        return Err(Fail::Syntax);
    }
    let written = date.and_time(time);
    match offset {
        None => Ok(written),
        Some(offset) => {
            let utc = written
                .checked_sub_signed(Duration::seconds(i64::from(offset.local_minus_utc())))
                .ok_or(Fail::NoSuchDay)?;
            Ok(Shanghai.from_utc_datetime(&utc).naive_local())
        }
    }
}

/// Reads the date at the start; the flag says it was written 年月日-style.
fn date_part(cur: &mut Cursor) -> Result<(NaiveDate, bool), Fail> {
    let (y, m, d, chinese) = match cur.digit_run() {
        8 => {
            let y = cur.take_digits(4).ok_or(Fail::Syntax)?;
            let m = cur.take_digits(2).ok_or(Fail::Syntax)?;
            let d = cur.take_digits(2).ok_or(Fail::Syntax)?;
            (y, m, d, false)
        }
        4 => {
            let y = cur.take_digits(4).ok_or(Fail::Syntax)?;
            match cur.peek() {
                Some(sep @ ('-' | '/' | '.')) => {
                    cur.pos += 1;
                    let m = cur.number(1, 2)?;
                    if !cur.eat(sep) {
                        return Err(Fail::Syntax);
                    }
                    let d = cur.number(1, 2)?;
                    (y, m, d, false)
                }
                _ => {
                    cur.skip_space();
                    if !cur.eat('年') {
                        return Err(Fail::Syntax);
                    }
                    cur.skip_space();
                    let m = cur.number(1, 2)?;
                    cur.skip_space();
                    if !cur.eat('月') {
                        return Err(Fail::Syntax);
                    }
                    cur.skip_space();
                    let d = cur.number(1, 2)?;
                    let before = cur.pos;
                    cur.skip_space();
                    if !cur.eat('日') {
                        cur.pos = before;
                    }
                    (y, m, d, true)
                }
            }
        }
        _ => return Err(Fail::Syntax),
    };
    let y = i32::try_from(y).map_err(|_| Fail::Syntax)?;
    let date = NaiveDate::from_ymd_opt(y, m, d).ok_or(Fail::NoSuchDay)?;
    Ok((date, chinese))
}

/// Reads `H:MM[:SS[.fff]][offset]` or `H时M分[S秒]`.
fn time_part(cur: &mut Cursor) -> Result<(NaiveTime, Option<FixedOffset>), Fail> {
    let h = cur.number(1, 2)?;
    let (mi, sec, nano, offset) = if cur.eat(':') {
        let mi = cur.number(2, 2)?;
        let (mut sec, mut nano) = (0, 0);
        if cur.eat(':') {
            sec = cur.number(2, 2)?;
            if cur.eat('.') || cur.eat(',') {
                nano = fraction_nanos(cur)?;
            }
        }
        (mi, sec, nano, offset_part(cur)?)
    } else {
        cur.skip_space();
        if !cur.eat('时') {
            return Err(Fail::Syntax);
        }
        cur.skip_space();
        let mi = cur.number(1, 2)?;
        cur.skip_space();
        if !cur.eat('分') {
            return Err(Fail::Syntax);
        }
        cur.skip_space();
        let mut sec = 0;
        if !cur.at_end() {
            sec = cur.number(1, 2)?;
            cur.skip_space();
            if !cur.eat('秒') {
                return Err(Fail::Syntax);
            }
        }
        (mi, sec, 0, None)
    };
    let time = NaiveTime::from_hms_nano_opt(h, mi, sec, nano).ok_or(Fail::NoSuchTime)?;
    Ok((time, offset))
}

/// Fractional seconds; digits past nanoseconds are read and ignored.
fn fraction_nanos(cur: &mut Cursor) -> Result<u32, Fail> {
    let n = cur.digit_run();
    if n == 0 {
        return Err(Fail::Syntax);
    }
    let kept = n.min(9);
    let digits = cur.take_digits(kept).ok_or(Fail::Syntax)?;
    cur.pos += n - kept;
    let scale = 10u32.pow(u32::try_from(9 - kept).map_err(|_| Fail::Syntax)?);
    digits.checked_mul(scale).ok_or(Fail::Syntax)
}

fn offset_part(cur: &mut Cursor) -> Result<Option<FixedOffset>, Fail> {
    let sign = match cur.peek() {
        Some('Z' | 'z') => {
            cur.pos += 1;
            return Ok(FixedOffset::east_opt(0));
        }
        Some('+') => 1,
        Some('-') => -1,
        _ => return Ok(None),
    };
    cur.pos += 1;
    let hh = cur.take_digits(2).ok_or(Fail::Syntax)?;
    cur.eat(':');
    let mm = cur.take_digits(2).ok_or(Fail::Syntax)?;
    if hh > 23 || mm > 59 {
        return Err(Fail::NoSuchTime);
    }
    let secs = i32::try_from(hh * 3600 + mm * 60).map_err(|_| Fail::NoSuchTime)?;
    FixedOffset::east_opt(sign * secs)
        .map(Some)
        .ok_or(Fail::NoSuchTime)
}

/// `Some` when the text is an Excel serial (at most 5 integer digits, optional fraction, value
/// in 1..=2958465); `None` lets the other forms have a go.
fn excel_serial(norm: &str) -> Option<Result<NaiveDateTime, Fail>> {
    let (int, frac) = match norm.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (norm, None),
    };
    let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if int.len() > 5 || !all_digits(int) || !frac.is_none_or(all_digits) {
        return None;
    }
    let days: u32 = int.parse().ok()?;
    let frac_secs = frac.map_or(0, fraction_of_day_secs);
    if !(1..=EXCEL_MAX_SERIAL).contains(&days) || (days == EXCEL_MAX_SERIAL && frac_secs > 0) {
        return None;
    }
    let total = u64::from(days) * SECS_PER_DAY + frac_secs;
    Some(excel_day(total / SECS_PER_DAY).and_then(|date| {
        let secs = u32::try_from(total % SECS_PER_DAY).map_err(|_| Fail::NoSuchTime)?;
        let time =
            NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).ok_or(Fail::NoSuchTime)?;
        Ok(date.and_time(time))
    }))
}

/// Rounds `0.<digits>` of a day to the nearest second (halves up). Eighteen digits are plenty:
/// the ignored tail is below 1e-13 s and cannot move a result away from a half.
fn fraction_of_day_secs(digits: &str) -> u64 {
    let mut num: u128 = 0;
    let mut den: u128 = 1;
    for d in digits.bytes().take(18) {
        num = num * 10 + u128::from(d - b'0');
        den *= 10;
    }
    let prod = num * u128::from(SECS_PER_DAY);
    let secs = prod / den + u128::from(prod % den * 2 >= den);
    u64::try_from(secs).unwrap_or(SECS_PER_DAY)
}

/// Excel's 1900 date system, which counts a 1900-02-29 that never existed (serial 60).
fn excel_day(serial: u64) -> Result<NaiveDate, Fail> {
    let (base, offset) = match serial {
        60 => return Err(Fail::NoSuchDay),
        1..=59 => (NaiveDate::from_ymd_opt(1899, 12, 31), serial),
        _ => (NaiveDate::from_ymd_opt(1899, 12, 30), serial),
    };
    base.and_then(|b| b.checked_add_days(Days::new(offset)))
        .ok_or(Fail::NoSuchDay)
}

enum AmountFail {
    Syntax,
    Overflow,
}

fn amount_fen(s: &str) -> Result<i64, AmountFail> {
    let mut rest = s;
    let mut negative = false;
    let (mut seen_sign, mut seen_currency) = (false, false);
    // Sign and currency symbol come in either order: `-¥12`, `¥-12`.
    loop {
        if !seen_sign {
            if let Some(r) = rest.strip_prefix(['-', '\u{2212}']) {
                (rest, negative, seen_sign) = (r, true, true);
                continue;
            }
            if let Some(r) = rest.strip_prefix('+') {
                (rest, seen_sign) = (r, true);
                continue;
            }
        }
        if !seen_currency && let Some(r) = rest.strip_prefix(['¥', '￥']) {
            (rest, seen_currency) = (r, true);
            continue;
        }
        break;
    }
    let rest = rest.strip_suffix('元').unwrap_or(rest);
    // Decimal places from yuan to fen: 2, plus 4 for 万 and 8 for 亿.
    let (rest, places) = if let Some(r) = rest.strip_suffix('万') {
        (r, 6)
    } else if let Some(r) = rest.strip_suffix('亿') {
        (r, 10)
    } else {
        (rest, 2)
    };
    let (int, frac) = match rest.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (rest, None),
    };
    if !thousands_grouped(int) {
        return Err(AmountFail::Syntax);
    }
    let frac = frac.unwrap_or_default();
    if (rest.contains('.') && frac.is_empty()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AmountFail::Syntax);
    }

    let mut fen: i128 = 0;
    for d in int.bytes().filter(u8::is_ascii_digit) {
        fen = fen
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(d - b'0')))
            .ok_or(AmountFail::Overflow)?;
    }
    // Shift the fraction digits in one place at a time; the first digit past the fen decides
    // the rounding (half away from zero, applied to the magnitude before the sign).
    let mut frac_digits = frac.bytes();
    for _ in 0..places {
        let d = frac_digits.next().map_or(0, |d| d - b'0');
        fen = fen
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(d)))
            .ok_or(AmountFail::Overflow)?;
    }
    if frac_digits.next().is_some_and(|d| d >= b'5') {
        fen = fen.checked_add(1).ok_or(AmountFail::Overflow)?;
    }
    if negative {
        fen = -fen;
    }
    i64::try_from(fen).map_err(|_| AmountFail::Overflow)
}

/// Digits, optionally grouped by commas in threes (`1,234,567`); never empty.
fn thousands_grouped(int: &str) -> bool {
    let digits = |g: &str| g.bytes().all(|b| b.is_ascii_digit());
    let mut groups = int.split(',');
    let first = groups.next().unwrap_or_default();
    if first.is_empty() || !digits(first) {
        return false;
    }
    if !int.contains(',') {
        return true;
    }
    first.len() <= 3 && groups.all(|g| g.len() == 3 && digits(g))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike as _;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    fn dt(y: i32, m: u32, day: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
        d(y, m, day).and_hms_opt(h, mi, s).expect("valid time")
    }

    fn full_width(s: &str) -> String {
        s.chars()
            .map(|c| match c {
                '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
                _ => c,
            })
            .collect()
    }

    #[test]
    fn every_documented_date_form_parses() {
        let june12 = d(2024, 6, 12);
        let cases = [
            ("2024-06-12", june12),
            ("2024-6-12", june12),
            ("2024/6/12", june12),
            ("2024/06/12", june12),
            ("2024.6.12", june12),
            ("2024年6月12日", june12),
            ("2024年6月12", june12),
            ("2024 年 6 月 12 日", june12),
            ("2024年06月12日", june12),
            ("20240612", june12),
            ("45455", june12),
            ("45455.75", june12),
            ("２０２４－０６－１２", june12),
            ("２０２４年６月１２日", june12),
            ("\u{3000}2024-06-12\u{00A0}", june12),
            ("2024-06-12 14:30", june12),
            ("2024-06-12T14:30:00+08:00", june12),
            ("2024-06-11T16:00:00Z", june12),
            ("2024-06-12T20:00:00Z", d(2024, 6, 13)),
            ("2024-02-29", d(2024, 2, 29)),
            ("1", d(1900, 1, 1)),
            ("59", d(1900, 2, 28)),
            ("61", d(1900, 3, 1)),
            ("00001", d(1900, 1, 1)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_date(input), Ok(want), "input {input:?}");
        }
    }

    #[test]
    fn bad_dates_are_rejected_with_the_right_error() {
        let e = |s: &str| s.to_owned();
        let cases = [
            ("", ValueError::Empty("a date")),
            ("   ", ValueError::Empty("a date")),
            ("2024-02-30", ValueError::NoSuchDay(e("2024-02-30"))),
            ("2023-02-29", ValueError::NoSuchDay(e("2023-02-29"))),
            ("2024-13-01", ValueError::NoSuchDay(e("2024-13-01"))),
            ("20240230", ValueError::NoSuchDay(e("20240230"))),
            ("60", ValueError::NoSuchDay(e("60"))),
            ("hello", ValueError::NotADate(e("hello"))),
            ("2024-06", ValueError::NotADate(e("2024-06"))),
            ("2024-06/12", ValueError::NotADate(e("2024-06/12"))),
            ("2024-06-12x", ValueError::NotADate(e("2024-06-12x"))),
            ("2024-006-12", ValueError::NotADate(e("2024-006-12"))),
            ("0", ValueError::NotADate(e("0"))),
            ("0.5", ValueError::NotADate(e("0.5"))),
            ("123456", ValueError::NotADate(e("123456"))),
            ("2958465", ValueError::NotADate(e("2958465"))),
            ("45455.", ValueError::NotADate(e("45455."))),
            ("-45455", ValueError::NotADate(e("-45455"))),
            (
                "2024-06-12 25:00",
                ValueError::NoSuchTime(e("2024-06-12 25:00")),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_date(input), Err(want), "input {input:?}");
        }
    }

    #[test]
    fn every_documented_datetime_form_parses() {
        let ms = |h, mi, s, milli| {
            d(2024, 6, 12)
                .and_hms_milli_opt(h, mi, s, milli)
                .expect("valid time")
        };
        let cases = [
            ("2024-06-12", dt(2024, 6, 12, 0, 0, 0)),
            ("2024年6月12日", dt(2024, 6, 12, 0, 0, 0)),
            ("2024-06-12 14:30", dt(2024, 6, 12, 14, 30, 0)),
            ("2024-06-12T14:30", dt(2024, 6, 12, 14, 30, 0)),
            ("2024/6/12 9:05", dt(2024, 6, 12, 9, 5, 0)),
            ("2024.6.12 09:05:07", dt(2024, 6, 12, 9, 5, 7)),
            ("2024-06-12 14:30:05", dt(2024, 6, 12, 14, 30, 5)),
            ("2024-06-12 14:30:05.250", ms(14, 30, 5, 250)),
            ("20240612 14:30", dt(2024, 6, 12, 14, 30, 0)),
            ("2024年6月12日 14时30分", dt(2024, 6, 12, 14, 30, 0)),
            ("2024年6月12日14时30分05秒", dt(2024, 6, 12, 14, 30, 5)),
            ("2024年6月12日 14 时 30 分 5 秒", dt(2024, 6, 12, 14, 30, 5)),
            ("2024年6月12日 14:30", dt(2024, 6, 12, 14, 30, 0)),
            ("2024年6月12 14:30", dt(2024, 6, 12, 14, 30, 0)),
            (
                "２０２４－０６－１２　１４：３０",
                dt(2024, 6, 12, 14, 30, 0),
            ),
            ("2024-06-12T14:30:00+08:00", dt(2024, 6, 12, 14, 30, 0)),
            ("2024-06-12T14:30:00Z", dt(2024, 6, 12, 22, 30, 0)),
            ("2024-06-12t14:30:00z", dt(2024, 6, 12, 22, 30, 0)),
            ("2024-06-12T14:30:00-05:00", dt(2024, 6, 13, 3, 30, 0)),
            ("2024-06-12T14:30:00+0800", dt(2024, 6, 12, 14, 30, 0)),
            ("2024-06-12T14:30:00.5Z", ms(22, 30, 0, 500)),
            ("45455", dt(2024, 6, 12, 0, 0, 0)),
            ("45455.5", dt(2024, 6, 12, 12, 0, 0)),
            ("45455.25", dt(2024, 6, 12, 6, 0, 0)),
            ("45455.000011574", dt(2024, 6, 12, 0, 0, 1)),
            ("45455.99999999", dt(2024, 6, 13, 0, 0, 0)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_datetime(input), Ok(want), "input {input:?}");
        }
    }

    #[test]
    fn bad_datetimes_are_rejected_with_the_right_error() {
        let e = |s: &str| s.to_owned();
        let cases = [
            ("", ValueError::Empty("a date and time")),
            (
                "2024-06-12 14",
                ValueError::NotADateTime(e("2024-06-12 14")),
            ),
            (
                "2024-06-12 14:3",
                ValueError::NotADateTime(e("2024-06-12 14:3")),
            ),
            (
                "2024-06-1214:30",
                ValueError::NotADateTime(e("2024-06-1214:30")),
            ),
            (
                "2024-06-12 14:30 x",
                ValueError::NotADateTime(e("2024-06-12 14:30 x")),
            ),
            (
                "2024-06-12 14:30:00.",
                ValueError::NotADateTime(e("2024-06-12 14:30:00.")),
            ),
            (
                "2024-06-12T14:30+8",
                ValueError::NotADateTime(e("2024-06-12T14:30+8")),
            ),
            (
                "2024年6月12日 14时",
                ValueError::NotADateTime(e("2024年6月12日 14时")),
            ),
            (
                "2024-06-12 24:00",
                ValueError::NoSuchTime(e("2024-06-12 24:00")),
            ),
            (
                "2024-06-12 12:60",
                ValueError::NoSuchTime(e("2024-06-12 12:60")),
            ),
            (
                "2024-06-12 12:00:60",
                ValueError::NoSuchTime(e("2024-06-12 12:00:60")),
            ),
            (
                "2024-06-12T12:00+24:00",
                ValueError::NoSuchTime(e("2024-06-12T12:00+24:00")),
            ),
            (
                "2024-02-30 12:00",
                ValueError::NoSuchDay(e("2024-02-30 12:00")),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_datetime(input), Err(want), "input {input:?}");
        }
    }

    #[test]
    fn every_documented_amount_form_parses() {
        let cases = [
            ("1234", 123_400),
            ("1,234.50", 123_450),
            ("1234.5元", 123_450),
            ("¥1,234.5", 123_450),
            ("￥1234.50", 123_450),
            ("¥ 1 234.50 元", 123_450),
            ("1.2万", 1_200_000),
            ("1.2万元", 1_200_000),
            ("0.35亿", 3_500_000_000),
            ("-12.5", -1_250),
            ("-¥3", -300),
            ("¥-3", -300),
            ("+5", 500),
            ("１２３４．５", 123_450),
            ("１，２３４．５０元", 123_450),
            ("0", 0),
            ("-0", 0),
            ("0.005", 1),
            ("-0.005", -1),
            ("0.0049999", 0),
            ("1.234", 123),
            ("1.235", 124),
            ("1.23456789万", 1_234_568),
            ("1,234,567.891", 123_456_789),
            ("92233720368547758.07", i64::MAX),
            ("-92233720368547758.08", i64::MIN),
        ];
        for (input, want) in cases {
            assert_eq!(parse_amount_fen(input), Ok(want), "input {input:?}");
        }
    }

    #[test]
    fn bad_amounts_are_rejected_with_the_right_error() {
        for bad in [
            "abc", "1.2.3", "NaN", "nan", "inf", "-inf", "Infinity", "1,23", ",123", "1,2345",
            "1e5", "12.", ".5", "--5", "+-5", "¥", "万", "元", "1万亿", "1.-2", "1.2a", "0x10",
        ] {
            assert_eq!(
                parse_amount_fen(bad),
                Err(ValueError::NotAnAmount(bad.to_owned())),
                "input {bad:?}"
            );
        }
        for huge in [
            "92233720368547758.08",
            "-92233720368547758.09",
            "999999999999999999999999999999",
            "1000000000亿",
        ] {
            assert_eq!(
                parse_amount_fen(huge),
                Err(ValueError::AmountOutOfRange(huge.to_owned())),
                "input {huge:?}"
            );
        }
        assert_eq!(parse_amount_fen(""), Err(ValueError::Empty("an amount")));
        assert_eq!(
            parse_amount_fen(" \u{3000} "),
            Err(ValueError::Empty("an amount"))
        );
    }

    #[test]
    fn every_documented_boolean_spelling_parses() {
        for t in [
            "是", "Y", "y", "YES", "yes", "Yes", "true", "TRUE", "True", "1", "√", "✓", "有", "对",
            " 是 ", "Ｙ", "１",
        ] {
            assert_eq!(parse_bool(t), Ok(true), "input {t:?}");
        }
        for f in [
            "否", "N", "n", "NO", "no", "No", "false", "FALSE", "False", "0", "×", "✗", "无",
            "不是", "ｎｏ",
        ] {
            assert_eq!(parse_bool(f), Ok(false), "input {f:?}");
        }
        for bad in ["maybe", "2", "是的吗", "yess"] {
            assert_eq!(parse_bool(bad), Err(ValueError::NotABool(bad.to_owned())));
        }
        assert_eq!(parse_bool(""), Err(ValueError::Empty("a yes/no value")));
    }

    #[test]
    fn fen_formats_as_yuan_with_two_decimals() {
        let cases = [
            (123_450, "1234.50"),
            (-5, "-0.05"),
            (0, "0.00"),
            (100, "1.00"),
            (-100, "-1.00"),
            (7, "0.07"),
            (i64::MAX, "92233720368547758.07"),
            (i64::MIN, "-92233720368547758.08"),
        ];
        for (fen, want) in cases {
            assert_eq!(format_fen(fen), want, "fen {fen}");
        }
    }

    #[test]
    fn error_messages_tell_the_clerk_what_was_expected() {
        let msg = |e: ValueError| e.to_string();
        assert_eq!(
            msg(ValueError::NotADate("x".into())),
            "not a date: \"x\"; expected 2024-06-12, 2024/6/12, 2024年6月12日, 20240612 or an Excel serial number"
        );
        assert!(msg(ValueError::Empty("a date")).contains("expected a date"));
        assert!(msg(ValueError::NotADateTime("x".into())).contains("14:30"));
        assert!(msg(ValueError::NoSuchDay("x".into())).contains("month"));
        assert!(msg(ValueError::NoSuchTime("x".into())).contains("0-23"));
        assert!(msg(ValueError::NotAnAmount("x".into())).contains("1.2万"));
        assert!(msg(ValueError::AmountOutOfRange("x".into())).contains("out of range"));
        assert!(msg(ValueError::NotABool("x".into())).contains("是/否"));
    }

    #[test]
    fn long_bad_input_is_shortened_in_the_error() {
        let long = "x".repeat(500);
        let Err(ValueError::NotABool(shown)) = parse_bool(&long) else {
            panic!("expected NotABool");
        };
        assert_eq!(shown.chars().count(), 41);
        assert!(shown.ends_with('…'));
    }

    fn excel_serial_of(date: NaiveDate) -> i64 {
        if date < d(1900, 3, 1) {
            (date - d(1899, 12, 31)).num_days()
        } else {
            (date - d(1899, 12, 30)).num_days()
        }
    }

    fn four_digit_year_date() -> impl Strategy<Value = NaiveDate> {
        let lo = d(1000, 1, 1).num_days_from_ce();
        let hi = d(9999, 12, 31).num_days_from_ce();
        (lo..=hi).prop_filter_map("in range", NaiveDate::from_num_days_from_ce_opt)
    }

    fn excel_range_date() -> impl Strategy<Value = NaiveDate> {
        let lo = d(1900, 1, 1).num_days_from_ce();
        let hi = (d(1899, 12, 30) + Duration::days(99_999)).num_days_from_ce();
        (lo..=hi).prop_filter_map("in range", NaiveDate::from_num_days_from_ce_opt)
    }

    const DATE_FORMATS: [&str; 10] = [
        "%Y-%m-%d",
        "%Y-%-m-%-d",
        "%Y/%-m/%-d",
        "%Y/%m/%d",
        "%Y.%-m.%-d",
        "%Y.%m.%d",
        "%Y年%-m月%-d日",
        "%Y年%-m月%-d",
        "%Y 年 %m 月 %d 日",
        "%Y%m%d",
    ];

    proptest! {
        #[test]
        fn parsers_never_panic_on_any_text(s in ".*") {
            let _ = parse_date(&s);
            let _ = parse_datetime(&s);
            let _ = parse_amount_fen(&s);
            let _ = parse_bool(&s);
        }

        #[test]
        fn parsers_never_panic_on_printable_text(s in "\\PC*") {
            let _ = parse_date(&s);
            let _ = parse_datetime(&s);
            let _ = parse_amount_fen(&s);
            let _ = parse_bool(&s);
        }

        #[test]
        fn parsers_never_panic_on_near_miss_text(
            s in "[0-9０-９年月日时分秒:.,\\-/ TZ+万亿元¥￥]{0,32}"
        ) {
            let _ = parse_date(&s);
            if let (Ok(date), Ok(datetime)) = (parse_date(&s), parse_datetime(&s)) {
                prop_assert_eq!(date, datetime.date());
            }
            let _ = parse_amount_fen(&s);
            let _ = parse_bool(&s);
        }

        #[test]
        fn any_date_in_any_accepted_format_parses_back(
            date in four_digit_year_date(),
            wide: bool,
        ) {
            for fmt in DATE_FORMATS {
                let written = date.format(fmt).to_string();
                let written = if wide { full_width(&written) } else { written };
                prop_assert_eq!(parse_date(&written), Ok(date), "written {:?}", written);
                let midnight = date.and_time(NaiveTime::MIN);
                prop_assert_eq!(parse_datetime(&written), Ok(midnight), "written {:?}", written);
                let with_time = format!("{written} 13:45:09");
                prop_assert_eq!(parse_date(&with_time), Ok(date), "written {:?}", with_time);
            }
        }

        #[test]
        fn any_date_as_an_excel_serial_parses_back(date in excel_range_date(), secs in 0u32..86_400) {
            let serial = excel_serial_of(date);
            prop_assert_eq!(parse_date(&serial.to_string()), Ok(date));
            // Nine decimal places resolve well under a second, so rounding restores `secs`.
            let frac = (u64::from(secs) * 1_000_000_000 + 43_200) / 86_400;
            let written = format!("{serial}.{frac:09}");
            let time = NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).expect("valid");
            prop_assert_eq!(parse_datetime(&written), Ok(date.and_time(time)), "written {:?}", written);
        }

        #[test]
        fn any_datetime_in_any_accepted_format_parses_back(
            date in four_digit_year_date(),
            h in 0u32..24, mi in 0u32..60, s in 0u32..60,
        ) {
            let want = date.and_hms_opt(h, mi, s).expect("valid");
            for fmt in [
                "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%dT%H:%M:%S",
                "%Y/%-m/%-d %H:%M:%S",
                "%Y%m%d %H:%M:%S",
                "%Y年%-m月%-d日 %H时%M分%S秒",
                "%Y年%-m月%-d日%-H时%-M分%-S秒",
            ] {
                let written = want.format(fmt).to_string();
                prop_assert_eq!(parse_datetime(&written), Ok(want), "written {:?}", written);
            }
        }

        #[test]
        fn rfc3339_times_convert_to_shanghai_local(
            date in four_digit_year_date().prop_filter("after Shanghai's DST era", |d| d.year() >= 1992),
            h in 0u32..24, mi in 0u32..60, s in 0u32..60,
            offset_min in -(23 * 60 + 59)..=(23 * 60 + 59i32),
        ) {
            let local = date.and_hms_opt(h, mi, s).expect("valid");
            let Some(tz) = FixedOffset::east_opt(offset_min * 60) else { return Ok(()); };
            let Some(there) = tz.from_local_datetime(&local).single() else { return Ok(()); };
            let written = there.to_rfc3339();
            let want = there.with_timezone(&Shanghai).naive_local();
            prop_assert_eq!(parse_datetime(&written), Ok(want), "written {:?}", written);
            let shanghai = Shanghai.from_local_datetime(&local).single().expect("no DST");
            prop_assert_eq!(parse_datetime(&shanghai.to_rfc3339()), Ok(local));
        }

        #[test]
        fn any_fen_formatted_parses_back(
            fen in -1_000_000_000_000_000i64..=1_000_000_000_000_000,
            commas: bool,
            yuan_suffix: bool,
            currency: bool,
            wide: bool,
        ) {
            let plain = format_fen(fen);
            let mut written = if commas { with_thousands(&plain) } else { plain };
            if currency {
                written.insert(0, '¥');
            }
            if yuan_suffix {
                written.push('元');
            }
            let written = if wide { full_width(&written) } else { written };
            prop_assert_eq!(parse_amount_fen(&written), Ok(fen), "written {:?}", written);
        }

        #[test]
        fn wan_scaled_amounts_parse_back(fen in -1_000_000_000_000i64..=1_000_000_000_000) {
            // fen / 1_000_000 is the amount in 万 yuan, written with six decimals.
            let sign = if fen < 0 { "-" } else { "" };
            let abs = fen.unsigned_abs();
            let written = format!("{sign}{}.{:06}万", abs / 1_000_000, abs % 1_000_000);
            prop_assert_eq!(parse_amount_fen(&written), Ok(fen), "written {:?}", written);
        }

        #[test]
        fn amounts_round_half_away_from_zero(fen in 0i64..1_000_000_000, milli in 0u32..10) {
            let written = format!("{}{}", format_fen(fen), milli);
            let want = if milli >= 5 { fen + 1 } else { fen };
            prop_assert_eq!(parse_amount_fen(&written), Ok(want));
            prop_assert_eq!(parse_amount_fen(&format!("-{written}")), Ok(-want));
        }
    }

    fn with_thousands(plain: &str) -> String {
        let (sign, rest) = plain.strip_prefix('-').map_or(("", plain), |r| ("-", r));
        let (int, frac) = rest.split_once('.').unwrap_or((rest, ""));
        let mut grouped = String::new();
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        format!("{sign}{grouped}.{frac}")
    }
}
