//! Reading one harness run folder (or a bare serial log) from disk.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

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

/// A JSONL file: the rows that parsed (with their 1-based line numbers) and
/// how many did not.
#[derive(Debug, Default)]
pub struct JsonlFile {
    pub rows: Vec<(usize, Map<String, Value>)>,
    pub corrupt: Vec<(usize, String)>,
}

impl JsonlFile {
    pub fn parse(text: &str) -> Self {
        let mut file = JsonlFile::default();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(line) {
                Ok(Value::Object(map)) => file.rows.push((i + 1, map)),
                Ok(_) => file.corrupt.push((i + 1, "not a JSON object".into())),
                Err(e) => file.corrupt.push((i + 1, e.to_string())),
            }
        }
        file
    }
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
    pub mem: Option<JsonlFile>,
    pub events: Option<JsonlFile>,
    pub tasks: Option<JsonlFile>,
    pub health: Option<JsonlFile>,
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

    /// Reads the harness files `dir` holds, in [`FOLDER_FILES`] order, into
    /// the digest and their fields; fails when none of serial.log, mem.jsonl
    /// and summary.json is there.
    fn read_run_folder(&mut self, dir: &Path, hasher: &mut Sha256) -> Result<(), ArtifactError> {
        for name in FOLDER_FILES {
            let file = dir.join(name);
            if name == "serial.log" {
                self.hash_serial_log(file, hasher)?;
                continue;
            }
            let bytes = match fs::read(&file) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(ArtifactError::Io { path: file, source }),
            };
            hasher.update(name.as_bytes());
            hasher.update(b"\0");
            hasher.update(&bytes);
            self.keep_file(name, &bytes);
        }
        if self.serial_log.is_none() && self.mem.is_none() && self.summary.is_none() {
            return Err(ArtifactError::Empty(dir.to_owned()));
        }
        Ok(())
    }

    /// serial.log, when present, is only hashed and measured here: the
    /// import streams it later.
    fn hash_serial_log(&mut self, file: PathBuf, hasher: &mut Sha256) -> Result<(), ArtifactError> {
        match fs::metadata(&file) {
            Ok(_) => {
                hasher.update(b"serial.log\0");
                let len = hash_file(hasher, &file).map_err(|source| ArtifactError::Io {
                    path: file.clone(),
                    source,
                })?;
                self.serial_log = Some(SerialLogFile { path: file, len });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ArtifactError::Io { path: file, source }),
        }
        Ok(())
    }

    /// Parses one read file into its field; a summary.json that is not a
    /// JSON object is a warning, not an error.
    fn keep_file(&mut self, name: &str, bytes: &[u8]) {
        let text = || String::from_utf8_lossy(bytes).into_owned();
        match name {
            "mem.jsonl" => self.mem = Some(JsonlFile::parse(&text())),
            "events.jsonl" => self.events = Some(JsonlFile::parse(&text())),
            "tasks.jsonl" => self.tasks = Some(JsonlFile::parse(&text())),
            "health.jsonl" => self.health = Some(JsonlFile::parse(&text())),
            _ => match serde_json::from_slice(bytes) {
                Ok(Value::Object(map)) => self.summary = Some(RunSummary::from_map(map)),
                Ok(_) => self
                    .warnings
                    .push("summary.json is not a JSON object".into()),
                Err(e) => self.warnings.push(format!("summary.json is corrupt: {e}")),
            },
        }
    }

    /// Corrupt JSONL lines per file, for the import report.
    pub fn corrupt_lines(&self) -> Vec<(String, usize, String)> {
        let files = [
            ("mem.jsonl", &self.mem),
            ("events.jsonl", &self.events),
            ("tasks.jsonl", &self.tasks),
            ("health.jsonl", &self.health),
        ];
        files
            .into_iter()
            .filter_map(|(name, f)| Some((name, f.as_ref()?)))
            .flat_map(|(name, f)| {
                f.corrupt
                    .iter()
                    .map(move |(line, why)| (name.to_owned(), *line, why.clone()))
            })
            .collect()
    }

    /// The run's start: `summary.json`, else the folder name, else the first
    /// timestamped row, else the file's modification time.
    pub fn start_us(&self) -> Option<i64> {
        self.summary
            .as_ref()
            .and_then(|s| s.start_us)
            .or_else(|| ts_from_folder_name(&self.name).map(|(t, _)| t))
            .or_else(|| {
                self.mem
                    .as_ref()?
                    .rows
                    .iter()
                    .find_map(|(_, r)| r.get("ts").and_then(parse_ts))
            })
            .or(self.modified_us)
    }

    pub fn scenario(&self) -> Option<String> {
        self.summary
            .as_ref()
            .and_then(|s| s.scenario.clone())
            .or_else(|| ts_from_folder_name(&self.name).and_then(|(_, s)| s))
    }

    /// `health.jsonl` rows that were actually taken (not `skipped`).
    pub fn health_lines(&self) -> Vec<HealthLine> {
        let Some(file) = &self.health else {
            return Vec::new();
        };
        file.rows
            .iter()
            .filter(|(_, r)| r.get("skipped").and_then(Value::as_bool) != Some(true))
            .map(|(_, r)| {
                let body = match (r.get("json"), r.get("body")) {
                    (Some(json @ Value::Object(_)), _) => Some(json.to_string()),
                    (_, Some(Value::String(body))) => Some(body.clone()),
                    _ => None,
                };
                HealthLine {
                    ts_us: r.get("ts").and_then(parse_ts),
                    http_status: r.get("http_status").and_then(Value::as_i64),
                    latency_ms: r
                        .get("latency_ms")
                        .or_else(|| r.get("elapsed_ms"))
                        .and_then(Value::as_f64)
                        .map(|ms| ms.round() as i64),
                    body,
                    error: r.get("error").and_then(Value::as_str).map(str::to_owned),
                }
            })
            .collect()
    }
}
