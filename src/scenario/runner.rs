//! Runs a scenario against a registered device: one scenario run in the
//! store, every step recorded as a `step` event (and every request as an
//! `http` event), serial watched through the live hub, the verdict at the
//! end. What each kind of step does is in `steps/`; this file keeps the
//! loop over the steps and what a run records around them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use super::error::ScenarioError;
use super::model::{Num, Scenario, Step};
use super::steps::serial_wait::Serial;
pub use super::steps::{
    baseline_jpeg, generated_image, multipart, multipart_overhead, strip_secrets,
};
use crate::analysis::AcceptanceCriteria;
use crate::recorder::{Recorder, RecorderCommand};
use crate::report::RunDocument;
use crate::store::{DeviceRecord, EventKind, RunKind, RunStatus, Store};

/// Wait steps without their own `timeout` (and without `--timeout`).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// Options like the harness's flags.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunOptions {
    /// Skip `/api/health` calls: `health` steps and the health part of bursts.
    pub no_health: bool,
    pub no_reboot: bool,
    /// Skip page loads (`GET /`, `GET *.html`).
    pub no_pages: bool,
    /// Overrides every burst's `parallel`.
    pub parallel: Option<usize>,
    /// Overrides every burst's `health` count.
    pub health_count: Option<usize>,
    /// `user:pass` for the device's HTTP basic auth (else the device's own).
    pub auth: Option<String>,
    /// Default timeout of wait steps, seconds (`"2m"`, `"500ms"` too).
    #[serde(deserialize_with = "crate::units::duration::de_opt_secs_f64")]
    pub timeout_s: Option<f64>,
    /// Never prompt: `pause` steps and checkpoints become notes.
    pub non_interactive: bool,
    /// Checkpoints to pause after: `after_<step name>`, `after_ip`, `all`.
    pub pause: Vec<String>,
    /// `{{name}}` parameters over the file's `[params]`.
    pub params: BTreeMap<String, String>,
    pub label: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Running,
    Passed,
    Failed,
    Skipped,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Running => "running",
            StepStatus::Passed => "passed",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        }
    }
}

/// One step's result.
#[derive(Debug, Clone, Serialize)]
pub struct StepOutcome {
    pub index: usize,
    pub name: String,
    #[serde(rename = "type")]
    pub step_type: &'static str,
    pub status: StepStatus,
    pub ms: u64,
    pub detail: String,
}

/// What a runner reports while it runs (the CLI prints it).
#[derive(Debug, Clone)]
pub enum Progress {
    Started {
        run_id: i64,
        scenario: String,
        title: String,
    },
    StepStarted {
        index: usize,
        total: usize,
        name: String,
        step_type: &'static str,
    },
    StepEnded {
        total: usize,
        outcome: StepOutcome,
    },
    Note(String),
}

pub type Observer = Arc<dyn Fn(&Progress) + Send + Sync>;

/// A finished scenario run.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioRun {
    pub run_id: i64,
    pub scenario: String,
    pub steps: Vec<StepOutcome>,
    pub step_failed: bool,
    pub document: RunDocument,
}

impl ScenarioRun {
    pub fn pass(&self) -> bool {
        !self.step_failed && self.document.report.verdict.pass
    }
}

/// What a runner needs from the running ingestion.
#[derive(Clone)]
pub struct RunContext {
    pub store: Store,
    pub recorder: Recorder,
    pub http: reqwest::Client,
    pub criteria: AcceptanceCriteria,
}

/// One scenario run in progress: what every step needs (the device, the
/// options, the parameters, serial, earlier responses).
pub(super) struct Runner<'a> {
    pub(super) ctx: &'a RunContext,
    pub(super) device: &'a DeviceRecord,
    pub(super) opts: &'a RunOptions,
    pub(super) params: BTreeMap<String, String>,
    pub(super) serial: Serial,
    /// Response bodies by step name, for `body_from` and `when`.
    pub(super) responses: HashMap<String, String>,
    observer: Option<Observer>,
    pub(super) auth: Option<(String, String)>,
}

impl Runner<'_> {
    fn report(&self, p: Progress) {
        if let Some(o) = &self.observer {
            o(&p);
        }
    }

    pub(super) async fn note(&self, kind: EventKind, message: String, data: Value) {
        let _ = self
            .ctx
            .recorder
            .command(RecorderCommand::Note {
                device_id: self.device.id,
                kind,
                message,
                data,
            })
            .await;
    }

    /// A wait step's `timeout`, else `--timeout`, else [`DEFAULT_WAIT`].
    pub(super) fn wait_timeout(&self, t: &Option<Num>) -> Result<Duration, String> {
        match t {
            Some(n) => Ok(Duration::from_secs_f64(
                n.resolve_secs(&self.params)?.max(0.0),
            )),
            None => Ok(self
                .opts
                .timeout_s
                .map(|s| Duration::from_secs_f64(s.max(0.0)))
                .unwrap_or(DEFAULT_WAIT)),
        }
    }

    /// Runs step `index` (announced, skipped or run, an optional failure
    /// turned into a note); its status and detail.
    async fn attempt(&mut self, index: usize, total: usize, step: &Step) -> (StepStatus, String) {
        let step_type = step.kind.type_name();
        self.report(Progress::StepStarted {
            index,
            total,
            name: step.name.clone(),
            step_type,
        });
        self.note(
            EventKind::Step,
            format!("{}: running", step.name),
            json!({"name": step.name, "type": step_type, "index": index, "status": "running", "ms": 0, "detail": ""}),
        )
        .await;
        match self.skip_reason(step) {
            Err(e) => (StepStatus::Failed, e),
            Ok(Some(reason)) => {
                self.note(
                    EventKind::Note,
                    format!("{}: skipped: {reason}", step.name),
                    json!({"step": step.name, "reason": reason}),
                )
                .await;
                (StepStatus::Skipped, reason)
            }
            Ok(None) => match self.step(step).await {
                Ok(detail) => (StepStatus::Passed, detail),
                Err(e) if step.optional => {
                    self.note(
                        EventKind::Note,
                        format!("{}: optional step did not complete: {e}", step.name),
                        json!({"step": step.name}),
                    )
                    .await;
                    (StepStatus::Skipped, format!("optional: {e}"))
                }
                Err(e) => (StepStatus::Failed, e),
            },
        }
    }

    /// Every step in order; after the first failure the rest are skipped
    /// (reported, but not recorded). The outcomes, and whether one failed.
    async fn run_steps(&mut self, scenario: &Scenario) -> (Vec<StepOutcome>, bool) {
        let total = scenario.steps.len();
        let mut outcomes = Vec::with_capacity(total);
        let mut failed = false;
        for (i, step) in scenario.steps.iter().enumerate() {
            let index = i + 1;
            let step_type = step.kind.type_name();
            let started = Instant::now();
            let (status, detail) = if failed {
                (StepStatus::Skipped, "an earlier step failed".to_owned())
            } else {
                self.attempt(index, total, step).await
            };
            let ms = started.elapsed().as_millis() as u64;
            if status == StepStatus::Failed {
                failed = true;
            }
            let outcome = StepOutcome {
                index,
                name: step.name.clone(),
                step_type,
                status,
                ms,
                detail,
            };
            if !(failed && status == StepStatus::Skipped) {
                self.note(
                    EventKind::Step,
                    format!("{}: {}", outcome.name, status.as_str()),
                    json!({"name": outcome.name, "type": step_type, "index": index, "status": status.as_str(), "ms": ms, "detail": outcome.detail}),
                )
                .await;
            }
            self.report(Progress::StepEnded {
                total,
                outcome: outcome.clone(),
            });
            outcomes.push(outcome);
            if !failed && status != StepStatus::Skipped && self.pause_after(step) {
                let msg = format!("checkpoint after_{}", step.name);
                let said = self.pause(&msg).await;
                self.report(Progress::Note(said));
            }
        }
        (outcomes, failed)
    }
}

/// The file's `[params]` defaults overridden by `--param`; naming a
/// parameter the scenario does not have is an error.
fn resolve_params(
    scenario: &Scenario,
    opts: &RunOptions,
) -> Result<BTreeMap<String, String>, ScenarioError> {
    let mut params = scenario.params.clone();
    for (k, v) in &opts.params {
        if !params.contains_key(k) {
            return Err(ScenarioError::Options(format!(
                "scenario {} has no parameter {k:?} (it has: {})",
                scenario.name,
                scenario
                    .params
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        params.insert(k.clone(), v.clone());
    }
    Ok(params)
}

/// `--auth`, else the device's own, split into user and password.
fn basic_auth(
    opts: &RunOptions,
    device: &DeviceRecord,
) -> Result<Option<(String, String)>, ScenarioError> {
    opts.auth
        .as_deref()
        .or(device.auth.as_deref())
        .map(|a| {
            a.split_once(':')
                .map(|(u, p)| (u.to_owned(), p.to_owned()))
                .ok_or_else(|| ScenarioError::Options(format!("--auth {a:?} is not user:pass")))
        })
        .transpose()
}

/// Runs `scenario` on `device` as one scenario run.
pub async fn run_scenario(
    ctx: &RunContext,
    device: &DeviceRecord,
    scenario: &Scenario,
    opts: &RunOptions,
    observer: Option<Observer>,
) -> Result<ScenarioRun, ScenarioError> {
    let params = resolve_params(scenario, opts)?;
    let auth = basic_auth(opts, device)?;
    // Subscribe before anything happens, so no line is missed.
    let serial = Serial {
        rx: ctx.recorder.hub().subscribe(),
        device_id: device.id,
    };
    let run_id = ctx
        .recorder
        .start_run(
            device.id,
            RunKind::Scenario,
            Some(scenario.name.clone()),
            opts.label.clone(),
        )
        .await?;
    let mut runner = Runner {
        ctx,
        device,
        opts,
        params,
        serial,
        responses: HashMap::new(),
        observer,
        auth,
    };
    runner.report(Progress::Started {
        run_id,
        scenario: scenario.name.clone(),
        title: scenario.title.clone(),
    });
    runner
        .note(
            EventKind::Scenario,
            format!("scenario {} started", scenario.name),
            json!({"scenario": scenario.name, "title": scenario.title, "options": opts}),
        )
        .await;
    let (outcomes, failed) = runner.run_steps(scenario).await;
    // Let the last serial lines reach the recorder before the run closes.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let status = if failed {
        RunStatus::Failed
    } else {
        RunStatus::Completed
    };
    ctx.recorder.end_run(device.id, status).await?;
    ctx.recorder.flush().await;
    let document = RunDocument::load(&ctx.store, run_id, &ctx.criteria).await?;
    Ok(ScenarioRun {
        run_id,
        scenario: scenario.name.clone(),
        steps: outcomes,
        step_failed: failed,
        document,
    })
}
