//! Scenarios: scripted test flows (S1–S6 built in, user-written TOML files)
//! run against a live device, recorded as scenario runs with a verdict;
//! repeats make run groups with statistics, and a per-tag `hin_min` gate
//! guards firmware CI. See `docs/scenarios.md`.

mod error;
pub mod groups;
pub mod launch;
pub mod model;
pub mod runner;
mod steps;

pub use error::ScenarioError;
pub use launch::{launch, Launched};
pub use model::{builtin, Scenario, Step, StepKind, BUILTINS};
pub use runner::{
    run_scenario, Progress, RunContext, RunOptions, ScenarioRun, StepOutcome, StepStatus,
};
