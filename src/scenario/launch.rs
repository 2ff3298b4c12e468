//! Starting a scenario run in the background of a running server: the one
//! path the JSON API (`POST /api/v1/devices/{id}/scenario`, the device
//! page's buttons) and the demo's schedule both take, so a run started
//! either way is checked, recorded and finished the same way.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::error::ScenarioError;
use super::model::Scenario;
use super::runner::{run_scenario, Observer, Progress, RunContext, RunOptions, ScenarioRun};
use crate::store::{DeviceRecord, RunKind};

/// A scenario run that has started: its id is known, its steps go on in
/// `finished`.
pub struct Launched {
    pub run_id: i64,
    pub scenario: String,
    /// The finished run (or why it could not finish).
    pub finished: JoinHandle<Result<ScenarioRun, ScenarioError>>,
}

/// Starts `scenario` on `device` as a task and returns once its run is
/// recorded. Nobody is at a terminal: pauses become notes. A device that is
/// already running a scenario is refused (its steps would interleave).
pub async fn launch(
    ctx: RunContext,
    device: DeviceRecord,
    scenario: Scenario,
    mut options: RunOptions,
) -> Result<Launched, ScenarioError> {
    if ctx
        .recorder
        .hub()
        .device(device.id)
        .and_then(|d| d.active_kind)
        == Some(RunKind::Scenario)
    {
        return Err(ScenarioError::Device(format!(
            "device {} is already running a scenario",
            device.name
        )));
    }
    options.non_interactive = true;
    let (tx, rx) = oneshot::channel::<i64>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let observer: Observer = Arc::new(move |p: &Progress| {
        if let Progress::Started { run_id, .. } = p {
            if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                let _ = tx.send(*run_id);
            }
        }
    });
    let name = scenario.name.clone();
    let finished = tokio::spawn(async move {
        let run = run_scenario(&ctx, &device, &scenario, &options, Some(observer)).await;
        match &run {
            Ok(run) => tracing::info!(run = run.run_id, pass = run.pass(), "scenario finished"),
            Err(e) => tracing::warn!(error = %e, "scenario could not run"),
        }
        run
    });
    match rx.await {
        Ok(run_id) => Ok(Launched {
            run_id,
            scenario: name,
            finished,
        }),
        // The task ended before its run started: its error says why.
        Err(_) => match finished.await {
            Ok(Err(e)) => Err(e),
            _ => Err(ScenarioError::Device(format!(
                "scenario {name} could not start (see the server log)"
            ))),
        },
    }
}
