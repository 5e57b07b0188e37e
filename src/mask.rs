//! Masking of personal data (ID numbers, phone numbers) for every output, message and log line.
//!
//! The store keeps what the source sent; nothing that leaves it shows a full ID or phone number.

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

/// Masks every run in free text that looks like an ID number (15–18 characters of digits with
/// an optional final X) or a mobile number (11 digits starting with 1).
pub fn mask_text(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i < chars.len() && (chars[i] == 'X' || chars[i] == 'x') && i - start == 17 {
                i += 1;
            }
            let run: String = chars[start..i].iter().collect();
            let len = i - start;
            if (15..=18).contains(&len) {
                out.push_str(&mask_id(&run));
            } else if len == 11 && run.starts_with('1') {
                out.push_str(&mask_phone(&run));
            } else if len == 13 && run.starts_with("861") {
                // +86 and 86 forms of a mobile number.
                out.push_str("86");
                out.push_str(&mask_phone(&run[2..]));
            } else {
                out.push_str(&run);
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
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
