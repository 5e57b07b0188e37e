//! Masking of personal data (ID numbers, phone numbers) for every output, message and log line.
//!
//! The store keeps what the source sent in its records; nothing that leaves the store shows a
//! full ID or mobile number. What liandong derives from outside text and keeps for diagnosis —
//! a quarantined row's value, reason and raw text, a record's history — is masked as it is
//! written, and masked again where it is shown (rows written before the masking got better).

/// Masks an identifier such as a 居民身份证号 or 统一社会信用代码: the first 6 and last 4
/// characters stay (enough for a clerk to recognise the record), the rest become `*`.
/// Short values keep only their last character.
pub fn mask_id(s: &str) -> String {
    let chars: Vec<char> = s.trim().chars().collect();
    let n = chars.len();
    if n == 0 {
        return String::new();
    }
    let (head, tail) = if n >= 14 {
        (6, 4)
    } else if n >= 8 {
        (2, 2)
    } else {
        (0, 1.min(n))
    };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < head || i >= n - tail { *c } else { '*' })
        .collect()
}

/// Masks a mobile or fixed-line number: `13812345678` → `138****5678`.
pub fn mask_phone(s: &str) -> String {
    let digits: Vec<char> = s.trim().chars().collect();
    let n = digits.len();
    if n <= 4 {
        return "*".repeat(n);
    }
    let head = if n >= 11 { 3 } else { 2 };
    digits
        .iter()
        .enumerate()
        .map(|(i, c)| if i < head || i >= n - 4 { *c } else { '*' })
        .collect()
}

/// The value of a digit as people type it: ASCII or full-width (`０`–`９`).
fn digit(c: char) -> Option<u32> {
    match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        '０'..='９' => Some(c as u32 - '０' as u32),
        _ => None,
    }
}

/// The check character of an 18-digit ID number when it is not a digit.
fn is_x(c: char) -> bool {
    matches!(c, 'X' | 'x' | 'Ｘ' | 'ｘ')
}

/// Whether `d` (the run's digit values) holds a plausible birth date at `at`: `YYYYMMDD` with a
/// year 1900–2099 when `century`, else `YYMMDD`.
fn birth_date_at(d: &[u32], at: usize, century: bool) -> bool {
    let n = |i: usize, len: usize| d[at + i..at + i + len].iter().fold(0, |a, x| a * 10 + x);
    let (year_ok, m) = if century {
        ((1900..=2099).contains(&n(0, 4)), 4)
    } else {
        (true, 2)
    };
    year_ok && (1..=12).contains(&n(m, 2)) && (1..=31).contains(&n(m + 2, 2))
}

/// Whether these digits are a mainland mobile number: 11 digits, `1[3-9]…`.
fn is_mobile(d: &[u32]) -> bool {
    d.len() == 11 && d[0] == 1 && (3..=9).contains(&d[1])
}

/// What a maximal run of digits is. `x` says the run of 17 digits is followed by an X.
enum Run {
    /// An ID number (18 characters, the last maybe X; or the old 15 digits): masked whole.
    Id,
    /// A mobile number after `prefix` digits (`86`, `0086`, or none).
    Mobile {
        prefix: usize,
    },
    Other,
}

fn classify(d: &[u32], x: bool) -> Run {
    let id_like = d[0] != 0;
    if id_like && ((d.len() == 18 && !x) || (d.len() == 17 && x)) && birth_date_at(d, 6, true) {
        return Run::Id;
    }
    if x {
        return Run::Other;
    }
    if id_like && d.len() == 15 && birth_date_at(d, 6, false) {
        return Run::Id;
    }
    for prefix in [0usize, 2, 4] {
        let country: &[u32] = &[0, 0, 8, 6][4 - prefix..];
        if d.len() == prefix + 11 && d[..prefix] == *country && is_mobile(&d[prefix..]) {
            return Run::Mobile { prefix };
        }
    }
    Run::Other
}

/// Masks the ID numbers and mainland mobile numbers in free text, wherever they stand (`李四
/// （身份证513337199001019026）` → `李四（身份证513337********9026）`, `电话13800138000` →
/// `电话138****8000`, `+8613800138000` → `+86138****8000`).
///
/// A number is a maximal run of digits (ASCII or full-width): digits next to other digits never
/// match in part, and a run that is part of a decimal number (`86400.00`) is a number. An ID is
/// 18 characters (17 digits and a digit or X) or the old 15 digits, not starting with 0, with a
/// plausible birth date in its place (positions 7–14, or 7–12 as YYMMDD); a mobile is 11 digits
/// `1[3-9]…`, maybe after `86` or `0086`. So case numbers (`稻市监罚〔2025〕12号`), amounts, dates,
/// other long numbers and 统一社会信用代码 (`91513337MA6X28A8XM`, which has letters, or whose
/// digits put no date where an ID's birth date stands) stay as they are.
pub fn mask_text(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if digit(chars[i]).is_none() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        let mut d = Vec::new();
        while let Some(v) = chars.get(i).copied().and_then(digit) {
            d.push(v);
            i += 1;
        }
        let x = d.len() == 17 && chars.get(i).is_some_and(|c| is_x(*c));
        let end = if x { i + 1 } else { i };
        let decimal = (start >= 2 && chars[start - 1] == '.' && digit(chars[start - 2]).is_some())
            || (chars.get(end) == Some(&'.')
                && chars.get(end + 1).and_then(|c| digit(*c)).is_some());
        let run: String = chars[start..end].iter().collect();
        match if decimal { Run::Other } else { classify(&d, x) } {
            Run::Id => out.push_str(&mask_id(&run)),
            Run::Mobile { prefix } => {
                out.extend(&chars[start..start + prefix]);
                out.push_str(&mask_phone(
                    &chars[start + prefix..end].iter().collect::<String>(),
                ));
            }
            Run::Other => out.push_str(&run),
        }
        i = end;
    }
    out
}

/// [`mask_text`] on every string of a JSON value (the facts of a finding, a quarantined row).
pub fn mask_json(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(mask_text(s)),
        Value::Array(a) => Value::Array(a.iter().map(mask_json).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), mask_json(v))).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_phones_are_masked() {
        assert_eq!(mask_id("51333719900101123X"), "513337********123X");
        assert_eq!(mask_id("91513337MA62X1234K"), "915133********234K");
        assert_eq!(mask_id("1234"), "***4");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(
            mask_text("当事人 51333719900101123X 电话13812345678 金额 1234"),
            "当事人 513337********123X 电话138****5678 金额 1234"
        );
        assert_eq!(
            mask_text("+8613812345678 / 8613812345678"),
            "+86138****5678 / 86138****5678"
        );
    }

    /// Where free text is masked and where it is left alone: (text, what is shown).
    #[test]
    fn free_text_masks_ids_and_mobiles_and_nothing_else() {
        let table: &[(&str, &str)] = &[
            // IDs inside Chinese text, with X, old 15-digit ones, full-width digits.
            (
                "李四（身份证513337199001019026）",
                "李四（身份证513337********9026）",
            ),
            (
                "身份证号:51333719900101902X。",
                "身份证号:513337********902X。",
            ),
            ("51333719900101902x", "513337********902x"),
            ("旧证513337900101902", "旧证513337*****1902"),
            (
                "５１３３３７１９９００１０１９０２６",
                "５１３３３７********９０２６",
            ),
            ("ID513337199001019026号", "ID513337********9026号"),
            // Mobiles inside text, with +86 / 0086 / 86 and a space.
            ("联系电话13800138000", "联系电话138****8000"),
            ("电话：19912345678，", "电话：199****5678，"),
            ("+8613800138000", "+86138****8000"),
            ("008613800138000", "0086138****8000"),
            ("+86 13800138000", "+86 138****8000"),
            // Case numbers, amounts, dates, times stay.
            ("稻市监罚〔2025〕12号", "稻市监罚〔2025〕12号"),
            (
                "稻公（刑）立字[2025]000123号",
                "稻公（刑）立字[2025]000123号",
            ),
            ("罚款86400.00元", "罚款86400.00元"),
            ("13800138000.00", "13800138000.00"),
            ("0.513337199001019026", "0.513337199001019026"),
            ("2025-03-19", "2025-03-19"),
            ("20250319143000", "20250319143000"),
            // Credit codes: with letters, or all digits with no birth date where an ID has one.
            ("91513337MA6X28A8XM", "91513337MA6X28A8XM"),
            (
                "统一社会信用代码115133370086798253",
                "统一社会信用代码115133370086798253",
            ),
            // Other runs of digits: a 19-digit number is not an ID followed by a digit, nor an
            // ID preceded by one; 16 and 17 digits are neither; 11 digits not 1[3-9] no mobile.
            ("5133371990010190261", "5133371990010190261"),
            ("1513337199001019026", "1513337199001019026"),
            ("6222021990010190", "6222021990010190"),
            ("51333719900101902", "51333719900101902"),
            ("12345678901", "12345678901"),
            ("138001380001", "138001380001"),
            // An 18-digit number without a birth date, and one starting with 0.
            ("123456789012345678", "123456789012345678"),
            ("013337199001019026", "013337199001019026"),
        ];
        for (text, want) in table {
            assert_eq!(&mask_text(text), want, "{text}");
            assert_eq!(
                &mask_text(want),
                want,
                "masking twice changes nothing: {want}"
            );
        }
    }

    #[test]
    fn json_strings_are_masked_at_every_depth() {
        let v = serde_json::json!({"party": "李四513337199001019026", "n": 13800138000_i64,
            "d": [{"case": "张三", "platform": "电话13800138000"}]});
        assert_eq!(
            mask_json(&v),
            serde_json::json!({"party": "李四513337********9026", "n": 13800138000_i64,
                "d": [{"case": "张三", "platform": "电话138****8000"}]})
        );
    }

    #[test]
    fn masking_never_panics_and_never_keeps_the_middle() {
        for s in [
            "",
            "1",
            "好",
            "5133371990010112",
            "一二三四五六七八九十一二三四五六七八",
        ] {
            let m = mask_id(s);
            assert_eq!(m.chars().count(), s.chars().count());
        }
    }
}
