//! The experiments log the demo starts from: `docs/examples/experiments.md`
//! (bundled), imported like any plan file, its rows found by board and
//! scenario so the schedule can link each run group it records to its row.

use crate::analysis::AcceptanceCriteria;
use crate::experiments::{self, ExperimentError};
use crate::store::{ExperimentFields, ExperimentRecord, Store};

/// The example, in the plan's notation.
pub const EXAMPLE: &str = include_str!("../../docs/examples/experiments.md");

/// The example's rows in the store: `(board, scenario, experiment id)`.
#[derive(Debug, Clone, Default)]
pub struct ExampleRows {
    rows: Vec<(String, String, i64)>,
}

impl ExampleRows {
    /// The row measuring `scenario` (`s2`) on `board` (a device name).
    pub fn row(&self, board: &str, scenario: &str) -> Option<i64> {
        self.rows
            .iter()
            .find(|(b, s, _)| b == board && s == scenario)
            .map(|r| r.2)
    }
}

/// Imports the example (rows already there are not added again), points
/// each row of `tuned` at the `baseline` row of the same scenario (so the
/// page shows ▲ better / ▼ worse), and returns where the rows are.
pub async fn seed(
    store: &Store,
    criteria: &AcceptanceCriteria,
    baseline_board: &str,
    tuned_board: &str,
) -> Result<ExampleRows, ExperimentError> {
    let imported = experiments::import_markdown(store, EXAMPLE, criteria).await?;
    tracing::info!(
        created = imported.created.len(),
        unchanged = imported.unchanged,
        "demo: example experiments log"
    );
    let mut records = store.experiments().await?;
    records.sort_by_key(|e| e.id);
    let rows = ExampleRows {
        rows: records
            .iter()
            .filter(|e| e.section == "log")
            .filter_map(|e| Some((e.board.clone(), scenario_of(e)?, e.id)))
            .collect(),
    };
    for e in records.iter().filter(|e| e.board == tuned_board) {
        let baseline = scenario_of(e).and_then(|s| rows.row(baseline_board, &s));
        if let (None, Some(baseline)) = (e.baseline_id, baseline) {
            let fields = ExperimentFields {
                baseline_id: Some(Some(baseline)),
                ..Default::default()
            };
            store.update_experiment(e.id, &fields).await?;
        }
    }
    Ok(rows)
}

/// `S2 (portal load)` → `s2`: the scenario a row's first word names.
fn scenario_of(e: &ExperimentRecord) -> Option<String> {
    let first = e.scenarios.split_whitespace().next()?.to_lowercase();
    crate::scenario::builtin(&first).map(|_| first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_as_the_plans_tables() {
        let rows = crate::experiments::markdown::parse_tables(EXAMPLE).expect("tables");
        let log = rows
            .iter()
            .filter(|r| r.section == crate::experiments::markdown::Section::Log)
            .count();
        assert_eq!(log, 7);
        assert_eq!(rows.len(), 8);
    }
}
