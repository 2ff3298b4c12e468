//! The demo's schedule: every few minutes a round of S2, S4 and S6 on the
//! `baseline` and `tuned` boards, each scenario repeated into a run group
//! linked to its row of the experiments log, and S6 on the `crash` board,
//! whose icon GC overflows the async_tcp stack.
//!
//! Runs start through [`crate::scenario::launch`], the path the API and the
//! device page take: a run the schedule starts is recorded, judged and
//! shown exactly like one a person starts.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::example_log::ExampleRows;
use crate::scenario::groups;
use crate::scenario::{launch, RunContext, RunOptions, Scenario, ScenarioError};
use crate::store::DeviceRecord;

/// The scenarios of a round, in order: the portal cliff first (the
/// tripwire shows within seconds), then the macro save and screen
/// switches, then the browser-like flow.
pub const SCENARIOS: [&str; 3] = ["s2", "s4", "s6"];

/// How long to wait for a board's serial and first snapshot before the
/// first round (a scenario's first step reboots it and waits for the log).
const HEARD_TIMEOUT: Duration = Duration::from_secs(20);

/// How often and how much.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleConfig {
    /// From the start of one round to the start of the next (a round that
    /// takes longer is followed at once).
    pub every: Duration,
    /// Runs per scenario and board: the size of each run group.
    pub repeat: u32,
    /// Overrides the settle time of stable-health steps (`settle_s`), for
    /// quick rounds; `None` keeps each scenario's own.
    pub settle: Option<Duration>,
}

/// Where the schedule tells a person what is ready (the CLI prints it).
pub type Announce = Arc<dyn Fn(&str) + Send + Sync>;

/// The boards the schedule drives.
#[derive(Debug, Clone)]
pub struct Boards {
    pub baseline: DeviceRecord,
    pub tuned: DeviceRecord,
    pub crash: DeviceRecord,
}

pub struct Schedule {
    pub ctx: RunContext,
    pub boards: Boards,
    pub rows: ExampleRows,
    pub config: ScheduleConfig,
    /// The dashboard's address, for the links announced.
    pub base_url: String,
    pub announce: Announce,
}

/// One board's group of one scenario in a round.
struct BoardGroup {
    id: i64,
    passes: usize,
    runs: usize,
}

impl Schedule {
    /// Rounds until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let boards = [
            &self.boards.baseline,
            &self.boards.tuned,
            &self.boards.crash,
        ];
        for board in boards {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                heard = self.wait_until_heard(board) => if !heard {
                    tracing::warn!(device = %board.name, "demo: board not heard yet; scheduling anyway");
                }
            }
        }
        // A demo started again on the same database goes on counting.
        let mut round = self.rounds_done().await + 1;
        loop {
            let started = Instant::now();
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.round(round) => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(started + self.config.every) => {}
            }
            round += 1;
        }
    }

    /// Rounds an earlier demo recorded in this database: its S2 groups on
    /// the baseline board.
    async fn rounds_done(&self) -> u32 {
        match groups::groups(&self.ctx.store, 10_000).await {
            Ok(all) => all
                .iter()
                .filter(|g| {
                    g.device_id == Some(self.boards.baseline.id)
                        && g.scenario.as_deref() == Some(SCENARIOS[0])
                })
                .count() as u32,
            Err(e) => {
                tracing::warn!(error = %e, "demo: cannot count earlier rounds");
                0
            }
        }
    }

    /// True once the board's serial is read and a snapshot has arrived.
    async fn wait_until_heard(&self, board: &DeviceRecord) -> bool {
        let deadline = Instant::now() + HEARD_TIMEOUT;
        while Instant::now() < deadline {
            let live = self.ctx.recorder.hub().device(board.id);
            if live.is_some_and(|l| l.serial_online && l.last_snapshot.is_some()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// One round: scenario by scenario, both boards' groups side by side
    /// (each comparison announced as soon as it exists), the crash board's
    /// S6 beside them.
    async fn round(&self, round: u32) {
        let (baseline, tuned) = (&self.boards.baseline, &self.boards.tuned);
        let groups = async {
            for scenario in SCENARIOS {
                let (a, b) = tokio::join!(
                    self.group_on(baseline, scenario, round),
                    self.group_on(tuned, scenario, round),
                );
                if let (Some(a), Some(b)) = (a, b) {
                    (self.announce)(&format!(
                        "round {round}, {}: {} passed {} of {}, {} passed {} of {}; compare: {}/compare?a=g{}&b=g{}",
                        scenario.to_uppercase(),
                        baseline.name,
                        a.passes,
                        a.runs,
                        tuned.name,
                        b.passes,
                        b.runs,
                        self.base_url,
                        a.id,
                        b.id,
                    ));
                }
            }
        };
        tokio::join!(groups, self.crash_run(round));
    }

    /// `scenario` `repeat` times on `board`, the runs stored as a group and
    /// linked to the board's row for that scenario.
    async fn group_on(
        &self,
        board: &DeviceRecord,
        scenario: &str,
        round: u32,
    ) -> Option<BoardGroup> {
        let label = format!("{} round {round}", board.name);
        let mut runs = Vec::new();
        let mut passes = 0;
        for _ in 0..self.config.repeat {
            match self.run_once(board, scenario, &label).await {
                Ok((run, pass)) => {
                    runs.push(run);
                    passes += usize::from(pass);
                }
                Err(e) => {
                    tracing::warn!(device = %board.name, scenario, error = %e, "demo: scenario run failed")
                }
            }
        }
        if runs.is_empty() {
            return None;
        }
        match self.store_group(board, scenario, &label, &runs).await {
            Ok(id) => Some(BoardGroup {
                id,
                passes,
                runs: runs.len(),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "demo: cannot store the run group");
                None
            }
        }
    }

    async fn store_group(
        &self,
        board: &DeviceRecord,
        scenario: &str,
        label: &str,
        runs: &[i64],
    ) -> Result<i64, ScenarioError> {
        let store = &self.ctx.store;
        let group =
            groups::create_group(store, Some(scenario), Some(label), Some(board.id), runs).await?;
        if let Some(row) = self.rows.row(&board.name, scenario) {
            store.link_experiment_group(row, group).await?;
        }
        Ok(group)
    }

    /// S6 on the crash board: the icon GC panics it; the run is linked to
    /// the crash row of the log.
    async fn crash_run(&self, round: u32) {
        let board = &self.boards.crash;
        let label = format!("{} round {round}", board.name);
        match self.run_once(board, "s6", &label).await {
            Ok((run, _)) => {
                if let Some(row) = self.rows.row(&board.name, "s6") {
                    if let Err(e) = self.ctx.store.link_experiment_run(row, run).await {
                        tracing::warn!(error = %e, "demo: cannot link the crash run");
                    }
                }
                (self.announce)(&format!(
                    "round {round}: {} crashed in S6; decoded backtrace: {}/runs/{run}",
                    board.name, self.base_url
                ));
            }
            Err(e) => tracing::warn!(device = %board.name, error = %e, "demo: crash run failed"),
        }
    }

    /// One built-in scenario run to its end: its id and whether it passed.
    async fn run_once(
        &self,
        board: &DeviceRecord,
        name: &str,
        label: &str,
    ) -> Result<(i64, bool), ScenarioError> {
        let text = crate::scenario::builtin(name)
            .ok_or_else(|| ScenarioError::NotFound(format!("built-in scenario {name}")))?;
        let scenario = Scenario::parse(&format!("builtin {name}"), text)?;
        let mut options = RunOptions {
            label: Some(label.to_owned()),
            ..Default::default()
        };
        if let Some(settle) = self.config.settle {
            if scenario.params.contains_key("settle_s") {
                options
                    .params
                    .insert("settle_s".to_owned(), settle.as_secs_f64().to_string());
            }
        }
        let launched = launch(self.ctx.clone(), board.clone(), scenario, options).await?;
        let run = launched
            .finished
            .await
            .map_err(|e| ScenarioError::Device(format!("scenario task: {e}")))??;
        Ok((run.run_id, run.pass()))
    }
}
