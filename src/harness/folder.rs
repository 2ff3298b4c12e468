//! Reading one harness run folder (or a bare serial log) from disk.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::jsonl::{JsonlRow, JsonlSource};
use super::time::{parse_ts, ts_from_folder_name};

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} holds no harness artifacts (expected serial.log, mem.jsonl or summary.json)")]
    Empty(PathBuf),
}

/// `summary.json`'s metadata, read leniently.
#[derive(Debug, Default, Clone)]
pub struct RunSummary {
    pub scenario: Option<String>,
    pub start_us: Option<i64>,
    pub end_us: Option<i64>,
    pub firmware_version: Option<String>,
    pub git_commit: Option<String>,
    pub git_branch: Option<String>,
    pub git_status: Option<String>,
    /// Everything else (port, baud, IPs, title, the harness's derived block).
    pub rest: Map<String, Value>,
}

impl RunSummary {
    fn from_map(mut map: Map<String, Value>) -> Self {
        let text = |v: Option<Value>| match v {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        };
        let git = match map.remove("git") {
            Some(Value::Object(g)) => g,
            _ => Map::new(),
        };
        let scenario =
            text(map.remove("scenario_key")).or_else(|| text(map.get("scenario").cloned()));
        RunSummary {
            scenario,
            start_us: map.remove("start_ts").as_ref().and_then(parse_ts),
            end_us: map.remove("end_ts").as_ref().and_then(parse_ts),
            firmware_version: text(map.remove("firmware_version")),
            git_commit: text(git.get("commit").cloned()),
            git_branch: text(git.get("branch").cloned()),
            git_status: match git.get("status_porcelain") {
                Some(Value::String(s)) => Some(s.clone()),
                _ => None,
            },
            rest: map,
        }
    }

    /// A dirty work tree has a non-empty `git status --porcelain`.
    pub fn git_dirty(&self) -> Option<bool> {
        self.git_status.as_ref().map(|s| !s.trim().is_empty())
    }
}

/// One `health.jsonl` row.
#[derive(Debug, Clone)]
pub struct HealthLine {
    pub ts_us: Option<i64>,
    pub http_status: Option<i64>,
    pub latency_ms: Option<i64>,
    pub body: Option<String>,
    pub error: Option<String>,
}

/// Everything read from one artifact folder or bare serial log.
#[derive(Debug, Default)]
pub struct ArtifactFolder {
    pub path: PathBuf,
    /// Name of the folder or file, used as the run's label.
    pub name: String,
    /// `serial.log` (or the bare log file), read as a stream at import:
    /// a week-long log is 100 MB and is never held in memory whole.
    pub serial_log: Option<SerialLogFile>,
    /// The JSONL files, hashed here and streamed by whoever reads them.
    pub mem: Option<JsonlSource>,
    pub events: Option<JsonlSource>,
    pub tasks: Option<JsonlSource>,
    pub health: Option<JsonlSource>,
    pub summary: Option<RunSummary>,
    /// Problems that did not stop the import (e.g. a corrupt summary.json).
    pub warnings: Vec<String>,
    /// File modification time, the last resort for the run's start.
    pub modified_us: Option<i64>,
    /// SHA-256 over the files read, to recognise a folder imported before.
    pub digest: String,
}

/// A serial log on disk: where it is and how long it was when hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialLogFile {
    pub path: PathBuf,
    pub len: u64,
}

/// The files of a run folder, in the order they are hashed (the digest
/// depends on it).
const FOLDER_FILES: [&str; 6] = [
    "serial.log",
    "mem.jsonl",
    "events.jsonl",
    "tasks.jsonl",
    "health.jsonl",
    "summary.json",
];

/// Feeds a file through the digest in blocks; returns its length.
fn hash_file(hasher: &mut Sha256, path: &Path) -> std::io::Result<u64> {
    use std::io::Read;
    let mut file = fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(len);
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
}

impl ArtifactFolder {
    /// Reads a run folder, or a single file as a bare serial log.
    pub fn open(path: &Path) -> Result<Self, ArtifactError> {
        let io = |source| ArtifactError::Io {
            path: path.to_owned(),
            source,
        };
        let meta = fs::metadata(path).map_err(io)?;
        let mut folder = ArtifactFolder {
            path: path.to_owned(),
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            modified_us: meta
                .modified()
                .ok()
                .map(|t| chrono::DateTime::<chrono::Utc>::from(t).timestamp_micros()),
            ..Default::default()
        };
        let mut hasher = Sha256::new();
        if meta.is_file() {
            hasher.update(b"serial.log\0");
            let len = hash_file(&mut hasher, path).map_err(io)?;
            folder.serial_log = Some(SerialLogFile {
                path: path.to_owned(),
                len,
            });
        } else {
            folder.read_run_folder(path, &mut hasher)?;
        }
        folder.digest = format!("{:x}", hasher.finalize());
        Ok(folder)
    }

    /// Hashes the harness files `dir` holds, in [`FOLDER_FILES`] order, and
    /// notes where they are; only summary.json (a few KB) is read here.
    /// Fails when none of serial.log, mem.jsonl and summary.json is there.
    fn read_run_folder(&mut self, dir: &Path, hasher: &mut Sha256) -> Result<(), ArtifactError> {
        for name in FOLDER_FILES {
            let file = dir.join(name);
            if name == "summary.json" {
                self.read_summary(file, hasher)?;
                continue;
            }
            let io = |source| ArtifactError::Io {
                path: file.clone(),
                source,
            };
            match fs::metadata(&file) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(io(source)),
            }
            hasher.update(name.as_bytes());
            hasher.update(b"\0");
            let len = hash_file(hasher, &file).map_err(io)?;
            let jsonl = |name| {
                Some(JsonlSource {
                    path: file.clone(),
                    name,
                })
            };
            match name {
                "serial.log" => {
                    self.serial_log = Some(SerialLogFile {
                        path: file.clone(),
                        len,
                    })
                }
                "mem.jsonl" => self.mem = jsonl("mem.jsonl"),
                "events.jsonl" => self.events = jsonl("events.jsonl"),
                "tasks.jsonl" => self.tasks = jsonl("tasks.jsonl"),
                _ => self.health = jsonl("health.jsonl"),
            }
        }
        if self.serial_log.is_none() && self.mem.is_none() && self.summary.is_none() {
            return Err(ArtifactError::Empty(dir.to_owned()));
        }
        Ok(())
    }

    /// summary.json into the digest and [`RunSummary`]; one that is not a
    /// JSON object is a warning, not an error.
    fn read_summary(&mut self, file: PathBuf, hasher: &mut Sha256) -> Result<(), ArtifactError> {
        let bytes = match fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(ArtifactError::Io { path: file, source }),
        };
        hasher.update(b"summary.json\0");
        hasher.update(&bytes);
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => self.summary = Some(RunSummary::from_map(map)),
            Ok(_) => self
                .warnings
                .push("summary.json is not a JSON object".into()),
            Err(e) => self.warnings.push(format!("summary.json is corrupt: {e}")),
        }
        Ok(())
    }

    /// The run's start: `summary.json`, else the folder name, else the first
    /// timestamped row of `mem.jsonl`, else the file's modification time.
    pub fn start_us(&self) -> Option<i64> {
        self.summary
            .as_ref()
            .and_then(|s| s.start_us)
            .or_else(|| ts_from_folder_name(&self.name).map(|(t, _)| t))
            .or_else(|| self.first_mem_ts())
            .or(self.modified_us)
    }

    pub fn scenario(&self) -> Option<String> {
        self.summary
            .as_ref()
            .and_then(|s| s.scenario.clone())
            .or_else(|| ts_from_folder_name(&self.name).and_then(|(_, s)| s))
    }

    /// The first timestamp among the first rows of `mem.jsonl`. The search
    /// stops early: a file with no timestamp near its start has none worth
    /// trusting, and a week-long file is not read twice for it.
    fn first_mem_ts(&self) -> Option<i64> {
        #[derive(serde::Deserialize)]
        struct Stamp {
            ts: Option<Value>,
        }
        const LOOK_AHEAD_ROWS: usize = 1_000;
        self.mem
            .as_ref()?
            .rows_as::<Stamp>()
            .ok()?
            .take(LOOK_AHEAD_ROWS)
            .find_map(|row| match row {
                Ok(JsonlRow::Object { row, .. }) => row.ts.as_ref().and_then(parse_ts),
                _ => None,
            })
    }
}

impl HealthLine {
    /// A `health.jsonl` row as a poll; `None` for one marked `skipped`
    /// (the harness notes the polls it did not take).
    pub fn from_row(r: &Map<String, Value>) -> Option<HealthLine> {
        if r.get("skipped").and_then(Value::as_bool) == Some(true) {
            return None;
        }
        let body = match (r.get("json"), r.get("body")) {
            (Some(json @ Value::Object(_)), _) => Some(json.to_string()),
            (_, Some(Value::String(body))) => Some(body.clone()),
            _ => None,
        };
        Some(HealthLine {
            ts_us: r.get("ts").and_then(parse_ts),
            http_status: r.get("http_status").and_then(Value::as_i64),
            latency_ms: r
                .get("latency_ms")
                .or_else(|| r.get("elapsed_ms"))
                .and_then(Value::as_f64)
                .map(|ms| ms.round() as i64),
            body,
            error: r.get("error").and_then(Value::as_str).map(str::to_owned),
        })
    }
}
