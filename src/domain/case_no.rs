//! Case numbers (案号): the text as a source wrote it, kept for display, and a normalised key used
//! for matching the same case across sources.
//!
//! Departments and the two-law platform write one case number many ways (`〔2024〕`, `[2024]`,
//! `（２０２４）`, `【2024】`, `第012号`, stray spaces). The key is built by:
//!
//! 1. [`text::squeeze`]: full-width ASCII becomes half-width and all whitespace is removed;
//! 2. every opening bracket `〔 [ ( （ 【 〖 ［ ｛ { ＜ < 《` becomes `[`, every closing bracket
//!    `〕 ] ) ） 】 〗 ］ ｝ } ＞ > 》` becomes `]`;
//! 3. ASCII letters are upper-cased;
//! 4. in the digit run directly before the last `号`, leading zeros are dropped (a lone `0` is
//!    kept), and a `第` directly before that run is removed.
//!
//! So `稻市监罚〔2024〕12号` and ` 稻市监罚 【2024】 第012号 ` share the key `稻市监罚[2024]12号`.

use crate::domain::text;

/// Longest case number accepted, in characters; anything longer is a mis-mapped column.
const MAX_CHARS: usize = 100;

/// A case number as written, with its matching key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CaseNo {
    as_written: String,
    key: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CaseNoError {
    #[error("case number is empty")]
    Empty,
    #[error("case number is too long ({0} characters, at most 100)")]
    TooLong(usize),
}

impl CaseNo {
    pub fn parse(s: &str) -> Result<CaseNo, CaseNoError> {
        // `str::trim` also strips U+3000 and NBSP, the spaces clerks paste most often.
        let as_written = s.trim();
        if as_written.is_empty() {
            return Err(CaseNoError::Empty);
        }
        let len = as_written.chars().count();
        if len > MAX_CHARS {
            return Err(CaseNoError::TooLong(len));
        }
        Ok(CaseNo {
            as_written: as_written.to_owned(),
            key: key_of(as_written),
        })
    }

    /// The trimmed original text, for display.
    /// This number with `tag` appended to its key (not to the text as written). A number without
    /// any digit (`无`, `/`) identifies nothing, so rows carrying one are told apart by a tag
    /// derived from their content; the tag is made of letters only, so the key still holds no
    /// digit and matching still treats it as missing.
    pub fn with_key_tag(&self, tag: &str) -> CaseNo {
        debug_assert!(!tag.bytes().any(|b| b.is_ascii_digit()));
        CaseNo {
            as_written: self.as_written.clone(),
            key: format!("{}#{tag}", self.key),
        }
    }

    /// Whether the key holds a digit, i.e. can identify a case.
    pub fn has_digit(&self) -> bool {
        self.key.bytes().any(|b| b.is_ascii_digit())
    }

    pub fn as_written(&self) -> &str {
        &self.as_written
    }

    /// The normalised matching key (see the module documentation).
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl std::fmt::Display for CaseNo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_written)
    }
}

fn key_of(s: &str) -> String {
    let mut key = String::with_capacity(s.len());
    for c in text::normalize_cow(s).chars() {
        match c {
            c if c.is_whitespace() => {}
            '〔' | '[' | '(' | '（' | '【' | '〖' | '［' | '｛' | '{' | '＜' | '<' | '《' => {
                key.push('[')
            }
            '〕' | ']' | ')' | '）' | '】' | '〗' | '］' | '｝' | '}' | '＞' | '>' | '》' => {
                key.push(']')
            }
            c => key.push(c.to_ascii_uppercase()),
        }
    }
    strip_serial_padding(key)
}

/// Drops the leading zeros of the serial number before the last `号`, and a `第` before it,
/// so that `第0012号` and `12号` match. Keeps the last digit even when it is a zero.
fn strip_serial_padding(key: String) -> String {
    let Some(hao) = key.rfind('号') else {
        return key;
    };
    let digits_start = key[..hao]
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_digit())
        .last()
        .map(|(i, _)| i);
    let Some(run_start) = digits_start else {
        return key;
    };
    let run = &key[run_start..hao];
    let zeros = run.len() - run.trim_start_matches('0').len();
    let zeros = zeros.min(run.len() - 1);
    let prefix = &key[..run_start];
    let prefix = prefix.strip_suffix('第').unwrap_or(prefix);
    if zeros == 0 && prefix.len() == run_start {
        return key;
    }
    let mut out = String::with_capacity(key.len());
    out.push_str(prefix);
    out.push_str(&key[run_start + zeros..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bracket_and_width_variants_share_one_key() {
        let variants = [
            "稻市监罚〔2024〕12号",
            "稻市监罚[2024]12号",
            "稻市监罚(2024)12号",
            "稻市监罚（２０２４）１２号",
            " 稻市监罚 【2024】 第012号 ",
            "稻市监罚〖2024〗第0012号",
            "稻市监罚［2024］12号",
            "稻市监罚｛2024｝12号",
            "稻市监罚{2024}12号",
            "稻市监罚＜2024＞12号",
            "稻市监罚<2024>12号",
            "稻市监罚《2024》12号",
            "\u{3000}稻市监罚\u{00A0}〔2024〕第１２号\u{3000}",
        ];
        for v in variants {
            let c = CaseNo::parse(v).expect("valid");
            assert_eq!(c.key(), "稻市监罚[2024]12号", "input {v:?}");
            assert_eq!(c.as_written(), v.trim(), "input {v:?}");
        }
    }

    #[test]
    fn key_edge_cases_follow_the_rules() {
        let cases = [
            ("稻城税罚〔2024〕000号", "稻城税罚[2024]0号"),
            ("稻城税罚〔2024〕第0号", "稻城税罚[2024]0号"),
            ("稻城税罚〔2024〕号", "稻城税罚[2024]号"),
            ("第12号", "12号"),
            ("012号", "12号"),
            ("号", "号"),
            ("dcjx〔2024〕7号", "DCJX[2024]7号"),
            ("ｄｃ-2024-007", "DC-2024-007"),
            ("稻公(2024)第03号-1", "稻公[2024]3号-1"),
            ("第一号", "第一号"),
            ("稻〔0024〕5号", "稻[0024]5号"),
        ];
        for (input, want) in cases {
            let c = CaseNo::parse(input).expect("valid");
            assert_eq!(c.key(), want, "input {input:?}");
        }
    }

    #[test]
    fn different_cases_keep_different_keys() {
        let a = CaseNo::parse("稻市监罚〔2024〕12号").expect("valid");
        let b = CaseNo::parse("稻市监罚〔2024〕120号").expect("valid");
        let c = CaseNo::parse("稻市监罚〔2023〕12号").expect("valid");
        assert_ne!(a.key(), b.key());
        assert_ne!(a.key(), c.key());
    }

    #[test]
    fn empty_and_overlong_numbers_are_rejected() {
        assert_eq!(CaseNo::parse(""), Err(CaseNoError::Empty));
        assert_eq!(CaseNo::parse("  \t "), Err(CaseNoError::Empty));
        assert_eq!(CaseNo::parse("\u{3000}\u{00A0}"), Err(CaseNoError::Empty));
        let long = "号".repeat(101);
        assert_eq!(CaseNo::parse(&long), Err(CaseNoError::TooLong(101)));
        assert!(CaseNo::parse(&"号".repeat(100)).is_ok());
        assert_eq!(
            CaseNoError::TooLong(101).to_string(),
            "case number is too long (101 characters, at most 100)"
        );
        assert_eq!(CaseNoError::Empty.to_string(), "case number is empty");
    }

    const BRACKETS: [(&str, &str); 12] = [
        ("〔", "〕"),
        ("[", "]"),
        ("(", ")"),
        ("（", "）"),
        ("【", "】"),
        ("〖", "〗"),
        ("［", "］"),
        ("｛", "｝"),
        ("{", "}"),
        ("＜", "＞"),
        ("<", ">"),
        ("《", "》"),
    ];

    fn full_width(s: &str) -> String {
        s.chars()
            .map(|c| match c {
                '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
                _ => c,
            })
            .collect()
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_any_text(s in ".*") {
            let _ = CaseNo::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_printable_text(s in "\\PC*") {
            if let Ok(c) = CaseNo::parse(&s) {
                prop_assert!(!c.key().is_empty());
                prop_assert_eq!(c.as_written(), s.trim());
            }
        }

        #[test]
        fn generated_variants_share_the_canonical_key(
            prefix in "[稻城市监罚税交农林水卫公]{1,6}",
            year in 2000u32..=2099,
            serial in 1u32..=99_999,
            bracket in 0usize..BRACKETS.len(),
            wide_year: bool,
            wide_serial: bool,
            zeros in 0usize..=3,
            di: bool,
            pad_left in "[ \u{3000}]{0,2}",
            pad_mid in "[ \u{3000}]{0,2}",
            pad_right in "[ \u{3000}]{0,2}",
        ) {
            let (open, close) = BRACKETS[bracket];
            let y = year.to_string();
            let n = format!("{}{}", "0".repeat(zeros), serial);
            let y = if wide_year { full_width(&y) } else { y };
            let n = if wide_serial { full_width(&n) } else { n };
            let di = if di { "第" } else { "" };
            let written = format!("{pad_left}{prefix}{pad_mid}{open}{y}{close}{di}{n}号{pad_right}");
            let c = CaseNo::parse(&written).expect("valid");
            let canonical = format!("{prefix}[{year}]{serial}号");
            prop_assert_eq!(c.key(), canonical.as_str());
            prop_assert_eq!(c.as_written(), written.trim());
        }
    }
}
