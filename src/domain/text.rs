//! Text clean-up shared by every parser of outside data: full-width to half-width folding,
//! whitespace normalisation, and the display width used when printing tables.

/// Folds full-width ASCII (U+FF01..=U+FF5E) to half-width, turns the ideographic space (U+3000)
/// and NBSP into ASCII spaces, trims, and collapses runs of whitespace to one space.
///
/// Clerks paste from Word, WPS and web forms, where full-width digits and odd spaces are common;
/// every parser starts here so that `２０２４` and `2024` mean the same thing.
pub fn normalize(s: &str) -> String {
    normalize_cow(s).into_owned()
}

/// [`normalize`] without allocating when the text is already normal (the common case for
/// machine exports), for the per-cell hot path of large imports.
pub fn normalize_cow(s: &str) -> std::borrow::Cow<'_, str> {
    if is_normal(s) {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(normalize_owned(s))
    }
}

/// True when [`normalize`] would return `s` unchanged.
fn is_normal(s: &str) -> bool {
    let mut prev_space = true;
    for c in s.chars() {
        if fold_char(c) != c {
            return false;
        }
        if c.is_whitespace() {
            if c != ' ' || prev_space {
                return false;
            }
            prev_space = true;
        } else {
            prev_space = false;
        }
    }
    !prev_space || s.is_empty()
}

fn normalize_owned(s: &str) -> String {
    let folded: String = s.chars().map(fold_char).collect();
    let mut out = String::with_capacity(folded.len());
    for word in folded.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// [`normalize`], then removes all whitespace (for keys where spacing carries no meaning).
pub fn squeeze(s: &str) -> String {
    normalize_cow(s)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// Columns a string takes in a terminal: East Asian Wide and Fullwidth characters count 2,
/// everything else 1.
pub fn display_width(s: &str) -> usize {
    s.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

fn fold_char(c: char) -> char {
    match c {
        '\u{3000}' | '\u{00A0}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

fn is_wide(c: char) -> bool {
    // U+3000..=U+303F (CJK symbols and punctuation) lies inside U+2E80..=U+A4CF.
    matches!(
        c as u32,
        0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x20000..=0x2FFFD
            | 0x30000..=0x3FFFD
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalize_folds_width_and_spaces() {
        let cases = [
            ("２０２４", "2024"),
            ("ＡＢＣ ａｂｃ", "ABC abc"),
            ("（２０２４）", "(2024)"),
            ("！～", "!~"),
            ("\u{3000}稻城\u{3000}\u{3000}县\u{00A0}", "稻城 县"),
            ("  a \t\n b  ", "a b"),
            ("", ""),
            ("   ", ""),
            ("〔2024〕", "〔2024〕"),
            ("￥12", "￥12"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "input {input:?}");
        }
    }

    #[test]
    fn squeeze_removes_every_space() {
        let cases = [
            (" 稻市监罚 【2024】 第012号 ", "稻市监罚【2024】第012号"),
            ("１ ２\u{3000}３", "123"),
            ("\u{00A0}", ""),
        ];
        for (input, want) in cases {
            assert_eq!(squeeze(input), want, "input {input:?}");
        }
    }

    #[test]
    fn display_width_counts_wide_characters_twice() {
        let cases = [
            ("", 0),
            ("abc", 3),
            ("稻城县", 6),
            ("稻城a", 5),
            ("２０", 4),
            ("〔〕", 4),
            ("\u{3000}", 2),
            ("한", 2),
            ("￥", 2),
            ("\u{20000}", 2),
            ("é", 1),
        ];
        for (input, want) in cases {
            assert_eq!(display_width(input), want, "input {input:?}");
        }
    }

    proptest! {
        #[test]
        fn normalize_is_idempotent_and_trimmed(s in "\\PC*") {
            let once = normalize(&s);
            prop_assert_eq!(normalize(&once), once.clone());
            prop_assert_eq!(once.trim(), once.as_str());
            prop_assert!(!once.contains("  "));
        }

        #[test]
        fn squeeze_leaves_no_whitespace(s in ".*") {
            prop_assert!(!squeeze(&s).chars().any(char::is_whitespace));
        }

        #[test]
        fn display_width_is_between_chars_and_twice_chars(s in "\\PC*") {
            let n = s.chars().count();
            let w = display_width(&s);
            prop_assert!(n <= w && w <= 2 * n);
        }
    }
}
