//! Writing a run back out as a harness folder.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::summary_md::summary_markdown;
use super::time::{format_ts, iso};
use crate::analysis::RunReport;
use crate::protocol::MEM_KEYS;
use crate::store::{EventKind, EventRow, HealthRow, RunRecord, SerialLineRow, SnapshotRow};

/// A harness folder being written, a page of rows at a time: a week-long
/// run (a million lines) is exported with one page in memory.
pub struct FolderWriter {
    serial: BufWriter<fs::File>,
    mem: BufWriter<fs::File>,
    events: BufWriter<fs::File>,
    tasks: BufWriter<fs::File>,
    health: BufWriter<fs::File>,
    dir: PathBuf,
}

impl FolderWriter {
    /// Creates `dir` (if missing) and the five row files in it.
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        let file = |name: &str| fs::File::create(dir.join(name)).map(BufWriter::new);
        Ok(FolderWriter {
            serial: file("serial.log")?,
            mem: file("mem.jsonl")?,
            events: file("events.jsonl")?,
            tasks: file("tasks.jsonl")?,
            health: file("health.jsonl")?,
            dir: dir.to_owned(),
        })
    }

    pub fn lines(&mut self, lines: &[SerialLineRow]) -> std::io::Result<()> {
        for line in lines {
            self.serial.write_all(line.text.as_bytes())?;
            self.serial.write_all(b"\n")?;
        }
        Ok(())
    }

    pub fn snapshots(&mut self, rows: &[SnapshotRow]) -> std::io::Result<()> {
        write_jsonl(&mut self.mem, rows.iter().map(mem_json))
    }

    /// Every event to `events.jsonl`; task and watermark rows also to
    /// `tasks.jsonl`, as the harness writes them.
    pub fn events(&mut self, rows: &[EventRow]) -> std::io::Result<()> {
        write_jsonl(&mut self.events, rows.iter().map(event_json))?;
        write_jsonl(
            &mut self.tasks,
            rows.iter()
                .filter(|e| matches!(e.kind, EventKind::Task | EventKind::StackWatermark))
                .map(event_json),
        )
    }

    pub fn health(&mut self, rows: &[HealthRow]) -> std::io::Result<()> {
        write_jsonl(&mut self.health, rows.iter().map(health_json))
    }

    /// Flushes the row files and writes `summary.json` and `summary.md`.
    pub fn finish(mut self, run: &RunRecord, report: &RunReport) -> std::io::Result<()> {
        for out in [
            &mut self.serial,
            &mut self.mem,
            &mut self.events,
            &mut self.tasks,
            &mut self.health,
        ] {
            out.flush()?;
        }
        fs::write(
            self.dir.join("summary.json"),
            serde_json::to_string_pretty(&summary_json(run, report))?,
        )?;
        fs::write(self.dir.join("summary.md"), summary_markdown(run, report))
    }
}

fn write_jsonl(out: &mut impl Write, rows: impl Iterator<Item = Value>) -> std::io::Result<()> {
    for row in rows {
        serde_json::to_writer(&mut *out, &row)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// `{ts, tag, hf, …, pl}` plus any unknown keys (as numbers when they are).
pub fn mem_json(row: &SnapshotRow) -> Value {
    let mut m = Map::new();
    m.insert("ts".into(), format_ts(row.ts_us));
    m.insert("tag".into(), Value::String(row.snapshot.tag.clone()));
    for (key, value) in MEM_KEYS.iter().zip(row.snapshot.values()) {
        if let Some(v) = value {
            m.insert((*key).into(), v.into());
        }
    }
    for (k, v) in &row.snapshot.extras {
        let value = v
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(v.clone()));
        m.insert(k.clone(), value);
    }
    Value::Object(m)
}

/// The harness's event types, from heaplab's event kinds.
/// The harness's `type` for an event: its own name for the types the
/// harness writes, `event` for the rest.
fn harness_type(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Tripwire
        | EventKind::Task
        | EventKind::StackWatermark
        | EventKind::Ready
        | EventKind::Http
        | EventKind::Note => kind.as_str(),
        _ => "event",
    }
}

fn event_json(e: &EventRow) -> Value {
    let mut m = Map::new();
    m.insert("ts".into(), format_ts(e.ts_us));
    m.insert("type".into(), harness_type(e.kind).into());
    m.insert("kind".into(), e.kind.as_str().into());
    m.insert("line".into(), e.message.clone().into());
    if let Some(n) = e.line_no {
        m.insert("line_no".into(), n.into());
    }
    if let Value::Object(data) = &e.data {
        for (k, v) in data {
            m.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Value::Object(m)
}

fn health_json(h: &HealthRow) -> Value {
    let parsed = h
        .raw
        .as_deref()
        .and_then(|b| serde_json::from_str::<Value>(b).ok());
    let mut m = Map::new();
    m.insert("ts".into(), format_ts(h.ts_us));
    m.insert("type".into(), "health".into());
    m.insert("http_status".into(), h.http_status.into());
    m.insert("latency_ms".into(), h.latency_ms.into());
    m.insert("body".into(), h.raw.clone().into());
    if let Some(json) = parsed {
        m.insert("json".into(), json);
    }
    if let Some(err) = &h.error {
        m.insert("error".into(), err.clone().into());
    }
    Value::Object(m)
}

fn summary_json(run: &RunRecord, report: &RunReport) -> Value {
    let meta = match &run.meta {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let status = meta
        .get("git_status_porcelain")
        .cloned()
        .unwrap_or_else(|| match run.git_dirty {
            Some(true) => Value::String(" M (dirty)".into()),
            Some(false) => Value::String(String::new()),
            None => Value::Null,
        });
    let mut s = json!({
        "scenario": run.scenario,
        "scenario_key": run.scenario,
        "start_ts": iso(run.started_us),
        "end_ts": run.ended_us.map(iso),
        "firmware_version": run.firmware_version,
        "git": {
            "commit": run.git_commit,
            "branch": run.git_branch,
            "status_porcelain": status,
        },
        "derived": report.derived,
        "heaplab": {
            "run_id": run.id,
            "verdict": report.verdict,
            "cliffs": report.cliffs,
        },
    });
    if let Value::Object(obj) = &mut s {
        for (k, v) in meta {
            if k != "git_status_porcelain" && k != "derived" {
                obj.entry(k).or_insert(v);
            }
        }
    }
    s
}
