//! The `pause` step and `--pause` checkpoints: a person at the bench gets
//! to act (plug a cable, press a button) before the run goes on; in CI,
//! where nobody can answer, they become notes in the run.

use std::io::IsTerminal;

use serde_json::json;

use crate::scenario::model::{Step, StepKind};
use crate::scenario::runner::Runner;
use crate::store::EventKind;

impl Runner<'_> {
    /// Waits for Enter on a terminal; otherwise records a note.
    pub(in crate::scenario) async fn pause(&self, message: &str) -> String {
        let interactive = !self.opts.non_interactive && std::io::stdin().is_terminal();
        if !interactive {
            let note = format!("checkpoint skipped (non-interactive): {message}");
            self.note(
                EventKind::Note,
                note.clone(),
                json!({"checkpoint": message}),
            )
            .await;
            return note;
        }
        eprint!("⏸  {message} [Enter] ");
        let _ = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        })
        .await;
        self.note(
            EventKind::Note,
            format!("checkpoint: {message}"),
            json!({"checkpoint": message}),
        )
        .await;
        format!("continued after: {message}")
    }

    /// Whether `--pause` asks for a checkpoint after `step`.
    pub(in crate::scenario) fn pause_after(&self, step: &Step) -> bool {
        self.opts.pause.iter().any(|c| {
            let c = c.trim();
            c == "all"
                || c.strip_prefix("after_") == Some(step.name.as_str())
                || (c == "after_ip" && matches!(step.kind, StepKind::WaitReady { .. }))
        })
    }
}
