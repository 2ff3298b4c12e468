//! Runs a scenario against a registered device: one scenario run in the
//! store, every step recorded as a `step` event (and every request as an
//! `http` event), serial watched through the live hub, the verdict at the
//! end.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::error::ScenarioError;
use super::model::{line_matches, substitute, Num, Scenario, Step, StepKind};
use crate::analysis::AcceptanceCriteria;
use crate::ingest::device_url;
use crate::recorder::{LiveEvent, Recorder, RecorderCommand};
use crate::report::RunDocument;
use crate::store::{DeviceRecord, RunKind, RunStatus, Store};

/// Wait steps without their own `timeout` (and without `--timeout`).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// One HTTP request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Bursts without `parallel` (and without `--parallel`).
const DEFAULT_PARALLEL: usize = 4;

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
    /// Default timeout of wait steps, seconds.
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

/// The serial stream of one device, from the hub.
struct Serial {
    rx: broadcast::Receiver<LiveEvent>,
    device_id: i64,
}

impl Serial {
    /// Forgets what arrived so far: later waits see only newer output.
    fn drain(&mut self) {
        while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = self.rx.try_recv() {}
    }

    /// The first event `matches` accepts, or `None` after `timeout`.
    async fn wait(
        &mut self,
        timeout: Duration,
        matches: impl Fn(&LiveEvent) -> bool,
    ) -> Option<LiveEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_) => return None,
                Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Ok(event)) => {
                    if event.device_id == self.device_id && matches(&event) {
                        return Some(event);
                    }
                }
            }
        }
    }
}

fn event_kind(e: &LiveEvent) -> Option<&str> {
    e.data.get("kind").and_then(Value::as_str)
}

fn is_boot(e: &LiveEvent) -> bool {
    e.kind == "event" && event_kind(e) == Some("boot")
}

fn is_ready(e: &LiveEvent) -> bool {
    e.kind == "event" && event_kind(e) == Some("ready")
}

fn is_heartbeat(e: &LiveEvent) -> bool {
    e.kind == "snapshot" && e.data.get("tag").and_then(Value::as_str) == Some("hb")
}

fn line_text(e: &LiveEvent) -> Option<&str> {
    (e.kind == "line")
        .then(|| e.data.get("text").and_then(Value::as_str))
        .flatten()
}

/// A page load `--no-pages` skips.
fn is_page(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    path == "/" || path.ends_with(".html")
}

fn is_health(path: &str) -> bool {
    path.split('?').next() == Some("/api/health")
}

/// A JPEG-looking body of `size` bytes: SOI/APP0 header, filler, EOI.
pub fn generated_image(size: usize) -> Vec<u8> {
    let header: &[u8] = &[
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00,
    ];
    let mut out: Vec<u8> = header.iter().copied().take(size).collect();
    let mut x: u32 = 0x1234_5678;
    while out.len() + 2 < size {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        // Never 0xFF, so the filler holds no JPEG markers.
        out.push((x % 255) as u8);
    }
    if size >= header.len() + 2 {
        out.extend_from_slice(&[0xFF, 0xD9]);
    }
    out.truncate(size);
    out
}

/// Removes what must never be sent back to a device: masked values
/// (`"********"`) and fields named like secrets.
pub fn strip_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, v| {
                let key = k.to_ascii_lowercase();
                let secret_name = ["password", "secret", "token", "api_key", "apikey", "psk"]
                    .iter()
                    .any(|s| key.contains(s));
                let masked = v
                    .as_str()
                    .is_some_and(|s| s.len() >= 3 && s.chars().all(|c| c == '*'));
                !(secret_name || masked)
            });
            for v in map.values_mut() {
                strip_secrets(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_secrets),
        _ => {}
    }
}

struct Response {
    status: u16,
    body: String,
}

struct Runner<'a> {
    ctx: &'a RunContext,
    device: &'a DeviceRecord,
    opts: &'a RunOptions,
    params: BTreeMap<String, String>,
    serial: Serial,
    responses: HashMap<String, String>,
    observer: Option<Observer>,
    auth: Option<(String, String)>,
}

impl Runner<'_> {
    fn report(&self, p: Progress) {
        if let Some(o) = &self.observer {
            o(&p);
        }
    }

    async fn note(&self, kind: &str, message: String, data: Value) {
        let _ = self
            .ctx
            .recorder
            .command(RecorderCommand::Note {
                device_id: self.device.id,
                kind: kind.to_owned(),
                message,
                data,
            })
            .await;
    }

    fn wait_timeout(&self, t: &Option<Num>) -> Result<Duration, String> {
        match t {
            Some(n) => Ok(Duration::from_secs_f64(n.resolve(&self.params)?.max(0.0))),
            None => Ok(self
                .opts
                .timeout_s
                .map(|s| Duration::from_secs_f64(s.max(0.0)))
                .unwrap_or(DEFAULT_WAIT)),
        }
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, String> {
        let ip = self
            .ctx
            .recorder
            .hub()
            .device(self.device.id)
            .and_then(|d| d.ip);
        let base = device_url(self.device.url.as_deref(), ip.as_deref(), "/").ok_or_else(|| {
            format!(
                "device {} has no URL and has not announced an IP",
                self.device.name
            )
        })?;
        base.join(path)
            .map_err(|e| format!("bad path {path:?}: {e}"))
    }

    /// One request, recorded as an `http` event.
    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
        timeout: Duration,
    ) -> Result<Response, String> {
        let url = self.url(path)?;
        let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("bad HTTP method {method:?}"))?;
        let mut req = self
            .ctx
            .http
            .request(method.clone(), url.clone())
            .timeout(timeout);
        if let Some((user, pass)) = &self.auth {
            req = req.basic_auth(user, Some(pass));
        }
        if let Some((bytes, content_type)) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        let started = Instant::now();
        let result = async {
            let r = req.send().await?;
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            Ok::<_, reqwest::Error>(Response { status, body })
        }
        .await;
        let ms = started.elapsed().as_millis() as u64;
        let (status, error) = match &result {
            Ok(r) => (Some(r.status), None),
            Err(e) => (None, Some(e.to_string())),
        };
        self.note(
            "http",
            format!(
                "{method} {path} → {}",
                status.map_or_else(|| "error".to_owned(), |s| s.to_string())
            ),
            json!({"method": method.as_str(), "path": path, "status": status, "ms": ms, "error": error}),
        )
        .await;
        result.map_err(|e| {
            if e.is_timeout() {
                format!("{method} {path} timed out after {} s", timeout.as_secs())
            } else {
                format!("{method} {path}: {e}")
            }
        })
    }

    fn skip_reason(&self, step: &Step) -> Result<Option<String>, String> {
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

    /// Runs one step; `Ok(detail)` passed, `Err(detail)` failed.
    async fn step(&mut self, step: &Step) -> Result<String, String> {
        let p = &self.params.clone();
        match &step.kind {
            StepKind::Reboot { timeout } => {
                let timeout = self.wait_timeout(timeout)?;
                self.serial.drain();
                let url = self.url("/api/reboot")?;
                let mut req = self.ctx.http.post(url).timeout(Duration::from_secs(2));
                if let Some((user, pass)) = &self.auth {
                    req = req.basic_auth(user, Some(pass));
                }
                // The device may reset before it answers: send, do not wait.
                tokio::spawn(async move {
                    let _ = req.send().await;
                });
                self.note(
                    "http",
                    "POST /api/reboot (fire and forget)".into(),
                    json!({"method": "POST", "path": "/api/reboot", "status": null}),
                )
                .await;
                match self.serial.wait(timeout, is_boot).await {
                    Some(e) => Ok(format!(
                        "rebooted: {}",
                        e.data.get("message").and_then(Value::as_str).unwrap_or("boot marker")
                    )),
                    None => Err(format!(
                        "timed out after {} s waiting for a boot marker on serial after POST /api/reboot",
                        timeout.as_secs_f64()
                    )),
                }
            }
            StepKind::WaitReady { timeout } => {
                let timeout = self.wait_timeout(timeout)?;
                match self.serial.wait(timeout, is_ready).await {
                    Some(_) => Ok("[Main] Setup complete".into()),
                    None => Err(format!(
                        "timed out after {} s waiting for the readiness marker `[Main] Setup complete` on serial",
                        timeout.as_secs_f64()
                    )),
                }
            }
            StepKind::WaitHeartbeat { timeout } => {
                let timeout = self.wait_timeout(timeout)?;
                match self.serial.wait(timeout, is_heartbeat).await {
                    Some(e) => Ok(format!(
                        "hb: hi={} B hin={} B frag={} %",
                        e.data.get("hi").unwrap_or(&Value::Null),
                        e.data.get("hin").unwrap_or(&Value::Null),
                        e.data.get("frag").unwrap_or(&Value::Null)
                    )),
                    None => Err(format!(
                        "timed out after {} s waiting for a heartbeat (`[Mem] hb`) snapshot on serial",
                        timeout.as_secs_f64()
                    )),
                }
            }
            StepKind::WaitFor { pattern, timeout } => {
                let timeout = self.wait_timeout(timeout)?;
                let pattern = substitute(pattern, p)?;
                match self
                    .serial
                    .wait(timeout, |e| {
                        line_text(e).is_some_and(|t| line_matches(&pattern, t))
                    })
                    .await
                {
                    Some(e) => Ok(line_text(&e).unwrap_or_default().trim().to_owned()),
                    None => Err(format!(
                        "timed out after {} s waiting for `{pattern}` on serial",
                        timeout.as_secs_f64()
                    )),
                }
            }
            StepKind::Http {
                method,
                path,
                body,
                body_from,
                body_bytes,
                content_type,
                expect_status,
                timeout,
            } => {
                let method = substitute(method, p)?;
                let path = substitute(path, p)?;
                let timeout = match timeout {
                    Some(t) => Duration::from_secs_f64(t.resolve(p)?.max(0.0)),
                    None => HTTP_TIMEOUT,
                };
                let ct = content_type.as_deref();
                let payload: Option<(Vec<u8>, &str)> = if let Some(b) = body {
                    Some((
                        substitute(b, p)?.into_bytes(),
                        ct.unwrap_or("application/json"),
                    ))
                } else if let Some(from) = body_from {
                    let raw = self.responses.get(from).ok_or_else(|| {
                        format!(
                            "body_from = {from:?}: that step has no response (skipped or failed)"
                        )
                    })?;
                    let text = match serde_json::from_str::<Value>(raw) {
                        Ok(mut v) => {
                            strip_secrets(&mut v);
                            v.to_string()
                        }
                        Err(_) => raw.clone(),
                    };
                    Some((text.into_bytes(), ct.unwrap_or("application/json")))
                } else if let Some(n) = body_bytes {
                    let size = n.resolve(p)?.max(0.0) as usize;
                    Some((generated_image(size), ct.unwrap_or("image/jpeg")))
                } else {
                    None
                };
                let sent = payload.as_ref().map_or(0, |b| b.0.len());
                let r = self.request(&method, &path, payload, timeout).await?;
                let ok = match expect_status {
                    Some(e) => e.accepts(r.status, p)?,
                    None => (200..300).contains(&r.status),
                };
                let detail = format!(
                    "{method} {path} → {} ({sent} B sent, {} B received)",
                    r.status,
                    r.body.len()
                );
                self.responses.insert(step.name.clone(), r.body);
                if ok {
                    Ok(detail)
                } else {
                    Err(format!("{detail}: unexpected status"))
                }
            }
            StepKind::Burst {
                paths,
                parallel,
                repeat,
                health,
                expect_status,
            } => {
                let parallel = match (self.opts.parallel, parallel) {
                    (Some(n), _) => n,
                    (None, Some(n)) => n.resolve(p)? as usize,
                    (None, None) => DEFAULT_PARALLEL,
                }
                .max(1);
                let repeat = match repeat {
                    Some(n) => n.resolve(p)?.max(0.0) as usize,
                    None => 1,
                };
                let health = if self.opts.no_health {
                    0
                } else {
                    match (self.opts.health_count, health) {
                        (Some(n), _) => n,
                        (None, Some(n)) => n.resolve(p)?.max(0.0) as usize,
                        (None, None) => 0,
                    }
                };
                let mut list = Vec::new();
                for _ in 0..repeat {
                    for path in paths {
                        let path = substitute(path, p)?;
                        if (self.opts.no_pages && is_page(&path))
                            || (self.opts.no_health && is_health(&path))
                        {
                            continue;
                        }
                        list.push(path);
                    }
                    list.extend(std::iter::repeat_n("/api/health".to_owned(), health));
                }
                let total = list.len();
                let this = &*self;
                let results: Vec<Result<(String, u16), String>> = stream::iter(list)
                    .map(|path| async move {
                        let r = this.request("GET", &path, None, HTTP_TIMEOUT).await?;
                        Ok((path, r.status))
                    })
                    .buffer_unordered(parallel)
                    .collect()
                    .await;
                let mut bad = Vec::new();
                for r in results {
                    match r {
                        Ok((path, status)) => {
                            let ok = match expect_status {
                                Some(e) => e.accepts(status, p)?,
                                None => (200..300).contains(&status),
                            };
                            if !ok {
                                bad.push(format!("GET {path} → {status}"));
                            }
                        }
                        Err(e) => bad.push(e),
                    }
                }
                if bad.is_empty() {
                    Ok(format!("{total} requests, {parallel} in parallel"))
                } else {
                    Err(format!(
                        "{} of {total} requests failed: {}",
                        bad.len(),
                        bad.join("; ")
                    ))
                }
            }
            StepKind::Sleep { seconds } => {
                let s = seconds.resolve(p)?.max(0.0);
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
                let settle = match settle_s {
                    Some(n) => n.resolve(p)?,
                    None => 2.0,
                };
                let max_internal = match max_internal_delta {
                    Some(n) => n.resolve(p)? as i64,
                    None => 1024,
                };
                let max_psram = match max_psram_delta {
                    Some(n) => n.resolve(p)? as i64,
                    None => 4096,
                };
                let timeout = self.wait_timeout(timeout)?;
                let deadline = Instant::now() + timeout;
                let sample = |r: &Response| -> Result<(i64, i64), String> {
                    let v: Value = serde_json::from_str(&r.body)
                        .map_err(|e| format!("/api/health is not JSON: {e}"))?;
                    let field = |k: &str| {
                        v.get(k)
                            .and_then(Value::as_i64)
                            .ok_or_else(|| format!("/api/health has no {k}"))
                    };
                    Ok((field("heap_internal_free")?, field("psram_free")?))
                };
                let first = self
                    .request("GET", "/api/health", None, HTTP_TIMEOUT)
                    .await?;
                let mut a = sample(&first)?;
                if !*stable {
                    self.responses.insert(step.name.clone(), first.body);
                    return Ok(format!("internal free {} B, PSRAM free {} B", a.0, a.1));
                }
                loop {
                    tokio::time::sleep(Duration::from_secs_f64(settle.max(0.0))).await;
                    let r = self
                        .request("GET", "/api/health", None, HTTP_TIMEOUT)
                        .await?;
                    let b = sample(&r)?;
                    let (di, dp) = ((b.0 - a.0).abs(), (b.1 - a.1).abs());
                    if di <= max_internal && dp <= max_psram {
                        self.responses.insert(step.name.clone(), r.body);
                        return Ok(format!(
                            "stable: Δ internal {di} B (≤ {max_internal} B), Δ PSRAM {dp} B (≤ {max_psram} B) over {settle} s"
                        ));
                    }
                    if Instant::now() >= deadline {
                        return Err(format!(
                            "not stable after {} s: Δ internal {di} B (limit {max_internal} B), Δ PSRAM {dp} B (limit {max_psram} B)",
                            timeout.as_secs_f64()
                        ));
                    }
                    a = b;
                }
            }
            StepKind::Mark { tag } => {
                let tag = substitute(tag, p)?;
                self.note("mark", tag.clone(), json!({"tag": tag})).await;
                Ok(format!("marker {tag}"))
            }
            StepKind::Pause { message } => {
                let message = match message {
                    Some(m) => substitute(m, p)?,
                    None => "Press Enter to continue".into(),
                };
                Ok(self.pause(&message).await)
            }
        }
    }

    /// Waits for Enter on a terminal; otherwise records a note.
    async fn pause(&self, message: &str) -> String {
        let interactive = !self.opts.non_interactive && std::io::stdin().is_terminal();
        if !interactive {
            let note = format!("checkpoint skipped (non-interactive): {message}");
            self.note("note", note.clone(), json!({"checkpoint": message}))
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
            "note",
            format!("checkpoint: {message}"),
            json!({"checkpoint": message}),
        )
        .await;
        format!("continued after: {message}")
    }

    fn pause_after(&self, step: &Step) -> bool {
        self.opts.pause.iter().any(|c| {
            let c = c.trim();
            c == "all"
                || c.strip_prefix("after_") == Some(step.name.as_str())
                || (c == "after_ip" && matches!(step.kind, StepKind::WaitReady { .. }))
        })
    }
}

/// Runs `scenario` on `device` as one scenario run.
pub async fn run_scenario(
    ctx: &RunContext,
    device: &DeviceRecord,
    scenario: &Scenario,
    opts: &RunOptions,
    observer: Option<Observer>,
) -> Result<ScenarioRun, ScenarioError> {
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
    let auth = opts
        .auth
        .as_deref()
        .or(device.auth.as_deref())
        .map(|a| {
            a.split_once(':')
                .map(|(u, p)| (u.to_owned(), p.to_owned()))
                .ok_or_else(|| ScenarioError::Options(format!("--auth {a:?} is not user:pass")))
        })
        .transpose()?;
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
            "scenario",
            format!("scenario {} started", scenario.name),
            json!({"scenario": scenario.name, "title": scenario.title, "options": opts}),
        )
        .await;
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
            runner.report(Progress::StepStarted {
                index,
                total,
                name: step.name.clone(),
                step_type,
            });
            runner
                .note(
                    "step",
                    format!("{}: running", step.name),
                    json!({"name": step.name, "type": step_type, "index": index, "status": "running", "ms": 0, "detail": ""}),
                )
                .await;
            match runner.skip_reason(step) {
                Err(e) => (StepStatus::Failed, e),
                Ok(Some(reason)) => {
                    runner
                        .note(
                            "note",
                            format!("{}: skipped: {reason}", step.name),
                            json!({"step": step.name, "reason": reason}),
                        )
                        .await;
                    (StepStatus::Skipped, reason)
                }
                Ok(None) => match runner.step(step).await {
                    Ok(detail) => (StepStatus::Passed, detail),
                    Err(e) if step.optional => {
                        runner
                            .note(
                                "note",
                                format!("{}: optional step did not complete: {e}", step.name),
                                json!({"step": step.name}),
                            )
                            .await;
                        (StepStatus::Skipped, format!("optional: {e}"))
                    }
                    Err(e) => (StepStatus::Failed, e),
                },
            }
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
            runner
                .note(
                    "step",
                    format!("{}: {}", outcome.name, status.as_str()),
                    json!({"name": outcome.name, "type": step_type, "index": index, "status": status.as_str(), "ms": ms, "detail": outcome.detail}),
                )
                .await;
        }
        runner.report(Progress::StepEnded {
            total,
            outcome: outcome.clone(),
        });
        outcomes.push(outcome);
        if !failed && status != StepStatus::Skipped && runner.pause_after(step) {
            let msg = format!("checkpoint after_{}", step.name);
            let said = runner.pause(&msg).await;
            runner.report(Progress::Note(said));
        }
    }
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
