//! The experiments log as Markdown tables, in the plan's own format: the
//! table under "Experiments Log" and the one under "Historical notes".
//! Reading and writing are each other's inverse (whitespace aside), so a
//! team can keep the Markdown in its repository in sync with heaplab.

use serde::{Deserialize, Serialize};

/// Which of the plan's two tables a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// "Experiments Log": rows with metric columns.
    Log,
    /// "Historical notes (not directly comparable)": rows without metrics.
    History,
}

impl Section {
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Log => "log",
            Section::History => "history",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "log" => Some(Section::Log),
            "history" => Some(Section::History),
            _ => None,
        }
    }

    /// The table's header cells, exactly as the plan writes them.
    pub fn headers(self) -> &'static [&'static str] {
        match self {
            Section::Log => &LOG_HEADERS,
            Section::History => &HISTORY_HEADERS,
        }
    }

    pub fn heading(self) -> &'static str {
        match self {
            Section::Log => "## Experiments Log (what we tried + results)",
            Section::History => "### Historical notes (not directly comparable)",
        }
    }
}

pub const LOG_HEADERS: [&str; 11] = [
    "Date",
    "Branch/Commit",
    "Board",
    "Change",
    "Scenario(s)",
    "Artifacts",
    "`hin_min` (B)",
    "`frag_max` (%)",
    "PSRAM free min (B)",
    "Tripwire",
    "Notes",
];

pub const HISTORY_HEADERS: [&str; 6] = [
    "Date",
    "Branch/Commit",
    "Board",
    "Change",
    "Scenario(s)",
    "Notes",
];

/// One table row: its section and its cells (unescaped), in header order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRow {
    pub section: Section,
    pub cells: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MarkdownError {
    #[error("no experiments table found (expected a table under an \"Experiments Log\" or \"Historical notes\" heading, or a table whose header starts with `| Date | Branch/Commit |`)")]
    NoTable,
    #[error("line {line}: the table has {found} columns, expected {expected} ({section})")]
    Columns {
        line: usize,
        found: usize,
        expected: usize,
        section: &'static str,
    },
}

/// Splits a table line into cells at unescaped pipes; `\|` stays a literal
/// pipe inside the cell (GitHub's rule, also inside code spans).
pub fn split_row(line: &str) -> Vec<String> {
    let inner = line.trim();
    let inner = inner.strip_prefix('|').unwrap_or(inner);
    let inner = inner
        .strip_suffix('|')
        .filter(|s| !s.ends_with('\\'))
        .unwrap_or(inner);
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut cell).trim().to_owned()),
            _ => cell.push(c),
        }
    }
    cells.push(cell.trim().to_owned());
    cells
}

/// Escapes a cell for a table: pipes, and line breaks (not allowed in a row).
pub fn escape_cell(cell: &str) -> String {
    cell.replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace(['\n', '\r'], "<br>")
}

fn is_separator(line: &str) -> bool {
    let cells = split_row(line);
    !cells.is_empty()
        && cells
            .iter()
            .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
}

/// Reads every experiments table in a Markdown document. Given the whole
/// plan file it finds the tables under "Experiments Log" and "Historical
/// notes"; a file holding only a table (header row first) works too.
pub fn parse_tables(text: &str) -> Result<Vec<TableRow>, MarkdownError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut rows = Vec::new();
    let mut heading_section: Option<Section> = None;
    let mut i = 0;
    let mut found = false;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.starts_with('#') {
            let h = line.trim_start_matches('#').trim().to_ascii_lowercase();
            heading_section = if h.starts_with("experiments log") {
                Some(Section::Log)
            } else if h.starts_with("historical notes") {
                Some(Section::History)
            } else {
                None
            };
            i += 1;
            continue;
        }
        let is_table_start =
            line.starts_with('|') && i + 1 < lines.len() && is_separator(lines[i + 1]);
        if !is_table_start {
            i += 1;
            continue;
        }
        let header = split_row(line);
        let section = match header.len() {
            n if n == LOG_HEADERS.len() && header[0] == "Date" => Some(Section::Log),
            n if n == HISTORY_HEADERS.len() && header[0] == "Date" => Some(Section::History),
            _ => heading_section.filter(|_| header.first().is_some_and(|h| h == "Date")),
        };
        let Some(section) = section else {
            // Some other table: skip it whole.
            i += 2;
            while i < lines.len() && lines[i].trim().starts_with('|') {
                i += 1;
            }
            continue;
        };
        found = true;
        let expected = section.headers().len();
        i += 2;
        while i < lines.len() && lines[i].trim().starts_with('|') {
            let cells = split_row(lines[i]);
            if cells.len() != expected {
                return Err(MarkdownError::Columns {
                    line: i + 1,
                    found: cells.len(),
                    expected,
                    section: section.as_str(),
                });
            }
            rows.push(TableRow { section, cells });
            i += 1;
        }
    }
    if found {
        Ok(rows)
    } else {
        Err(MarkdownError::NoTable)
    }
}

/// Writes the rows as the plan's tables, each under its heading.
pub fn write_tables(rows: &[TableRow]) -> String {
    let mut out = String::new();
    for section in [Section::Log, Section::History] {
        let section_rows: Vec<&TableRow> = rows.iter().filter(|r| r.section == section).collect();
        if section_rows.is_empty() && section == Section::History {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(section.heading());
        out.push_str("\n\n");
        let headers = section.headers();
        out.push_str(&format!("| {} |\n", headers.join(" | ")));
        out.push_str(&format!(
            "|{}|\n",
            headers
                .iter()
                .map(|h| "-".repeat(h.chars().count() + 2))
                .collect::<Vec<_>>()
                .join("|")
        ));
        for row in section_rows {
            let cells: Vec<String> = row.cells.iter().map(|c| escape_cell(c)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_pipes_and_empty_cells() {
        assert_eq!(
            split_row("| a \\| b | `x \\| y` |  | ü |"),
            ["a | b", "`x | y`", "", "ü"]
        );
        assert_eq!(escape_cell("a | b"), "a \\| b");
    }

    #[test]
    fn finds_tables_under_headings_and_rejects_ragged_rows() {
        let md = "# Plan\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n## Experiments Log\n\n| Date | Branch/Commit | Board | Change | Scenario(s) | Notes |\n|---|---|---|---|---|---|\n| d | b@c | jc | ch | S1 | n |\n";
        let rows = parse_tables(md).expect("table");
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].section,
            Section::History,
            "six columns is the notes table"
        );
        let bad = "| Date | Branch/Commit | Board | Change | Scenario(s) | Notes |\n|---|---|---|---|---|---|\n| only | three | cells |\n";
        assert!(matches!(
            parse_tables(bad),
            Err(MarkdownError::Columns {
                line: 3,
                found: 3,
                expected: 6,
                ..
            })
        ));
        assert_eq!(parse_tables("no tables here"), Err(MarkdownError::NoTable));
    }
}
