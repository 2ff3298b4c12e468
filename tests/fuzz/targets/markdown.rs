//! The experiments Markdown: `parse_tables` on mutated plan files and on
//! generated tables, then what the import does with the rows (cell values)
//! and the export (writing the tables back and reading them again).

use heaplab::experiments::markdown::{parse_tables, write_tables, LOG_HEADERS};
use heaplab::experiments::notation::cell_value;

use crate::engine::{AllocBound, Target};
use crate::mutate::{Rng, TEXT_INTS};

const DICT: &[&[u8]] = &[
    b"|",
    b"\\|",
    b"\\",
    b"\n",
    b"\r\n",
    b"## Experiments Log",
    b"### Historical notes",
    b"|---|",
    b"| Date |",
    b" (avg ",
    b"\xe2\x80\x93",
    b"`",
    b"<br>",
    b"#",
];

pub fn target() -> Target {
    let plan =
        std::fs::read(crate::fixture("experiments/plan-tables.md")).expect("markdown fixture");
    Target {
        name: "experiments_markdown",
        seeds: vec![plan],
        dict: DICT,
        generate: Some(generate),
        max_len: 64 * 1024,
        // The lines, the rows' cells (a String of ≥ 24 B for each `|`, the
        // worst case) and the written copy: 64 B/B covers them.
        bound: AllocBound {
            base: 64 * 1024,
            per_byte: 64,
        },
        run: Box::new(run),
    }
}

fn run(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let Ok(rows) = parse_tables(&text) else {
        return;
    };
    for row in &rows {
        for cell in &row.cells {
            let _ = cell_value(cell);
        }
    }
    let written = write_tables(&rows);
    if !rows.is_empty() {
        let again = parse_tables(&written).expect("written tables read back");
        assert_eq!(again.len(), rows.len(), "rows survive a write and read");
    }
}

fn cell(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => rng.pick(TEXT_INTS).to_string(),
        1 => format!(
            "{}–{} (avg {})",
            rng.pick(TEXT_INTS),
            rng.pick(TEXT_INTS),
            rng.pick(TEXT_INTS)
        ),
        2 => "a \\| b".into(),
        3 => "`x`\\".into(),
        _ => String::new(),
    }
}

fn generate(rng: &mut Rng) -> Vec<u8> {
    let cols = if rng.chance(2) { LOG_HEADERS.len() } else { 6 };
    let mut out = String::from("## Experiments Log\n\n");
    out.push_str(&format!(
        "| {} |\n",
        LOG_HEADERS[..cols.min(LOG_HEADERS.len())].join(" | ")
    ));
    out.push_str(&format!("|{}\n", "---|".repeat(cols)));
    for _ in 0..rng.below(8) {
        let n = if rng.chance(4) { rng.below(14) } else { cols };
        let cells: Vec<String> = (0..n).map(|_| cell(rng)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.into_bytes()
}
