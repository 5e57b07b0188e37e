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
pub fn csv_writer<W: Write>(mut w: W, headers: &[&str]) -> anyhow::Result<CsvWriter<W>> {
    w.write_all(b"\xEF\xBB\xBF")?;
    let mut wr = CsvWriter(csv::Writer::from_writer(w));
    wr.write_record(headers)?;
    Ok(wr)
}

/// The one CSV writer of the program: every cell goes through [`csv_cell`].
pub struct CsvWriter<W: Write>(csv::Writer<W>);

impl<W: Write> CsvWriter<W> {
    pub fn write_record<I, T>(&mut self, record: I) -> anyhow::Result<()>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.0.write_record(
            record
                .into_iter()
                .map(|c| csv_cell(c.as_ref()).into_owned()),
        )?;
        Ok(())
    }

    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.0.flush()?;
        Ok(())
    }
}

/// A cell as a CSV file carries it to a spreadsheet (OWASP's rule against CSV injection): text
/// beginning with `=`, `+`, `-`, `@`, a tab or a carriage return would be read as a formula
/// (`=HYPERLINK(…)`, `@SUM(…)`, `-2+3+cmd|…`), so it gets a leading `'` and shows as the text it
/// is. A plain signed decimal (`-5`, `-1200.00`: an amount that a department wrote as negative)
/// cannot hold a formula and stays a number that sums; so does a lone `-`, the listings' "none". Quotes, separators and line breaks in a
/// cell are quoted and escaped by the writer (RFC 4180), so no cell can break out of its field.
pub fn csv_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell != "-" && !is_signed_decimal(cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// `-5`, `+12.50`: a sign, digits, and maybe a point and digits; nothing else.
fn is_signed_decimal(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = body.split_once('.').unwrap_or((body, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
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

    #[test]
    fn formula_cells_are_neutralised_and_numbers_are_not() {
        let table: &[(&str, &str)] = &[
            (
                r#"=HYPERLINK("http://evil.example/x","点我")"#,
                r#"'=HYPERLINK("http://evil.example/x","点我")"#,
            ),
            ("+1+1", "'+1+1"),
            ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
            ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("-", "-"),
            ("--", "'--"),
            ("-.5", "'-.5"),
            ("-5.", "'-5."),
            ("-5", "-5"),
            ("-1200.00", "-1200.00"),
            ("+12.5", "+12.5"),
            ("稻市监罚〔2025〕12号", "稻市监罚〔2025〕12号"),
            ("a=1", "a=1"),
            ("", ""),
        ];
        for (cell, want) in table {
            assert_eq!(csv_cell(cell), *want, "{cell:?}");
        }
        let mut out = Vec::new();
        csv(
            &mut out,
            &["party"],
            &[vec![r#"=HYPERLINK("x","y")"#.into()]],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\u{feff}party\n\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\"\n"
        );
    }
}
