//! What each scenario step does, one module per kind of step; the runner
//! only decides whether a step runs and records what it did. `sleep` and
//! `mark` are a line each and stay in the dispatch below.

mod body;
mod burst;
mod health;
mod http;
mod image;
mod pause;
mod reboot;
pub(super) mod serial_wait;
mod wait;

use std::time::Duration;

use serde_json::{json, Value};

use body::BodySource;
pub use body::{generated_image, strip_secrets};
use http::{is_health, is_page};
pub use image::{baseline_jpeg, multipart, multipart_overhead};

use super::model::{substitute, Step, StepKind};
use super::runner::Runner;
use crate::store::EventKind;

impl Runner<'_> {
    /// Runs one step; `Ok(detail)` passed, `Err(detail)` failed.
    ///
    /// Over 80 lines because it mirrors [`StepKind`]: one arm per variant,
    /// each only unpacking the step's fields for its module.
    pub(super) async fn step(&mut self, step: &Step) -> Result<String, String> {
        match &step.kind {
            StepKind::Reboot { timeout } => {
                let timeout = self.wait_timeout(timeout)?;
                self.reboot(timeout).await
            }
            StepKind::WaitReady { timeout } => {
                let timeout = self.wait_timeout(timeout)?;
                self.wait_ready(timeout).await
            }
            StepKind::WaitHeartbeat { timeout } => {
                let timeout = self.wait_timeout(timeout)?;
                self.wait_heartbeat(timeout).await
            }
            StepKind::WaitFor { pattern, timeout } => {
                let timeout = self.wait_timeout(timeout)?;
                self.wait_for(pattern, timeout).await
            }
            StepKind::Http {
                method,
                path,
                body,
                body_from,
                body_keys,
                blank_keys,
                body_bytes,
                jpeg,
                multipart,
                content_type,
                expect_status,
                timeout,
            } => {
                let body = BodySource {
                    text: body.as_deref(),
                    from_step: body_from.as_deref(),
                    keys: body_keys.as_deref(),
                    blank: blank_keys.as_deref(),
                    generated_bytes: body_bytes.as_ref(),
                    jpeg: jpeg.as_deref(),
                    multipart_field: multipart.as_deref(),
                    content_type: content_type.as_deref(),
                };
                let expect = expect_status.as_ref();
                self.http(&step.name, method, path, body, expect, timeout.as_ref())
                    .await
            }
            StepKind::Burst {
                paths,
                parallel,
                repeat,
                health,
                expect_status,
            } => {
                self.burst(
                    paths,
                    parallel.as_ref(),
                    repeat.as_ref(),
                    health.as_ref(),
                    expect_status.as_ref(),
                )
                .await
            }
            StepKind::Sleep { seconds } => {
                let s = seconds.resolve_secs(&self.params)?.max(0.0);
                tokio::time::sleep(Duration::from_secs_f64(s)).await;
                Ok(format!("slept {s} s"))
            }
            StepKind::Health {
                stable,
                settle_s,
                max_internal_delta,
                max_psram_delta,
                timeout,
            } => {
                self.health(
                    &step.name,
                    *stable,
                    settle_s.as_ref(),
                    max_internal_delta.as_ref(),
                    max_psram_delta.as_ref(),
                    timeout,
                )
                .await
            }
            StepKind::Mark { tag } => {
                let tag = substitute(tag, &self.params)?;
                self.note(EventKind::Mark, tag.clone(), json!({"tag": tag}))
                    .await;
                Ok(format!("marker {tag}"))
            }
            StepKind::Pause { message } => {
                let message = match message {
                    Some(m) => substitute(m, &self.params)?,
                    None => "Press Enter to continue".into(),
                };
                Ok(self.pause(&message).await)
            }
        }
    }

    /// Why `step` is skipped: its `when` field is not set on the device, or
    /// an option (`--no-reboot`, `--no-health`, `--no-pages`) rules it out.
    pub(super) fn skip_reason(&self, step: &Step) -> Result<Option<String>, String> {
        if let Some(when) = &step.when {
            let (from, field) = when.split_once('.').unwrap_or((when, ""));
            match self.responses.get(from) {
                None => {
                    // The step it depends on did not run (e.g. --no-health):
                    // run this one anyway.
                }
                Some(body) => {
                    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                    let truthy = match v.get(field) {
                        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
                        Some(Value::String(s)) => !s.is_empty(),
                        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
                        Some(_) => true,
                    };
                    if !truthy {
                        return Ok(Some(
                            step.otherwise
                                .clone()
                                .unwrap_or_else(|| format!("{when} is not set on the device")),
                        ));
                    }
                }
            }
        }
        Ok(match &step.kind {
            StepKind::Reboot { .. } if self.opts.no_reboot => Some("--no-reboot".into()),
            StepKind::Health { .. } if self.opts.no_health => Some("--no-health".into()),
            StepKind::Http { path, method, .. } => {
                let path = substitute(path, &self.params)?;
                if self.opts.no_pages && method.eq_ignore_ascii_case("GET") && is_page(&path) {
                    Some("--no-pages".into())
                } else if self.opts.no_health && is_health(&path) {
                    Some("--no-health".into())
                } else {
                    None
                }
            }
            _ => None,
        })
    }
}
