//! Rendering for people and programs: aligned text tables (CJK characters count as two columns),
//! CSV and JSON. Personal data is masked before anything reaches here.

use std::io::Write;

use crate::domain::text::display_width;

/// `--format` of listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// Renders rows as a text table with a header line, padded by display width.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| display_width(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(display_width(c));
            }
        }
    }
    let mut out = String::new();
    let line = |cells: &mut dyn Iterator<Item = &str>, out: &mut String| {
        let mut parts = Vec::new();
        for (i, c) in cells.enumerate() {
            let pad = widths
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(display_width(c));
            parts.push(format!("{c}{}", " ".repeat(pad)));
        }
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied(), &mut out);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&rule.join("  "));
    out.push('\n');
    for r in rows {
        line(&mut r.iter().map(String::as_str), &mut out);
    }
    out
}

/// Writes rows as CSV (UTF-8 with BOM, so Excel opens Chinese text correctly).
pub fn csv(mut w: impl Write, headers: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    w.write_all(b"\xEF\xBB\xBF")?;
    let mut wr = csv::Writer::from_writer(w);
    wr.write_record(headers)?;
    for r in rows {
        wr.write_record(r)?;
    }
    wr.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_columns_line_up() {
        let t = table(
            &["单位", "n"],
            &[
                vec!["市场监管局".into(), "1".into()],
                vec!["ab".into(), "22".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "单位        n");
        assert_eq!(lines[2], "市场监管局  1");
        assert_eq!(lines[3], "ab          22");
    }
}
