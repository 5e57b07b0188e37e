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
    let widths = widths(headers, rows);
    let mut out = table_header(headers, &widths);
    for r in rows {
        out.push_str(&table_line(r, &widths));
    }
    out
}

/// Column widths (in terminal columns) that fit the headers and these rows.
pub fn widths(headers: &[&str], rows: &[Vec<String>]) -> Vec<usize> {
    let mut widths: Vec<usize> = headers.iter().map(|h| display_width(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(display_width(c));
            }
        }
    }
    widths
}

/// The header line and the rule under it.
pub fn table_header(headers: &[&str], widths: &[usize]) -> String {
    let cells: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let mut out = table_line(&cells, widths);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&rule.join("  "));
    out.push('\n');
    out
}

/// One row padded to `widths`; a cell wider than its column just runs on.
pub fn table_line(cells: &[String], widths: &[usize]) -> String {
    let mut parts = Vec::with_capacity(cells.len());
    for (i, c) in cells.iter().enumerate() {
        let pad = widths
            .get(i)
            .copied()
            .unwrap_or(0)
            .saturating_sub(display_width(c));
        parts.push(format!("{c}{}", " ".repeat(pad)));
    }
    let mut line = parts.join("  ").trim_end().to_string();
    line.push('\n');
    line
}

/// Writes rows as CSV (UTF-8 with BOM, so Excel opens Chinese text correctly).
pub fn csv(w: impl Write, headers: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    let mut wr = csv_writer(w, headers)?;
    for r in rows {
        wr.write_record(r)?;
    }
    wr.flush()?;
    Ok(())
}

/// A CSV writer that has written the BOM and the header line; rows follow as they come.
pub fn csv_writer<W: Write>(mut w: W, headers: &[&str]) -> anyhow::Result<csv::Writer<W>> {
    w.write_all(b"\xEF\xBB\xBF")?;
    let mut wr = csv::Writer::from_writer(w);
    wr.write_record(headers)?;
    Ok(wr)
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
