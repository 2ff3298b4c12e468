//! Importing harness artifacts and bare serial logs: the recorder's offline
//! entrance. Content goes through the same [`RunTracker`] and batch writer as
//! live data, so an imported run is indistinguishable from a recorded one.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::io::AsyncBufReadExt;

use super::RunTracker;
use crate::harness::{parse_ts, ArtifactError, ArtifactFolder, SerialLogFile};
use crate::protocol::{parse_line, LineKind, MemSnapshot, TaskStack, Tripwire};
use crate::store::{
    Batch, EventKind, NewRun, Packing, RunKind, RunStatus, SerialBlock, SerialLineRow, Store,
    StoreError, BLOCK_LINES,
};

/// Rows buffered before a write; big batches keep SQLite's commits rare.
const IMPORT_BATCH_ROWS: usize = 40_000;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading {0} failed: {1}")]
    Join(PathBuf, String),
}

/// What one import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportOutcome {
    pub path: PathBuf,
    pub run_id: i64,
    /// True when this content was imported before; `run_id` is that run.
    pub already_imported: bool,
    pub lines: i64,
    pub snapshots: i64,
    pub events: i64,
    pub health_samples: i64,
    /// Corrupt JSONL lines skipped: (file, line number, why).
    pub corrupt: Vec<(String, usize, String)>,
    pub warnings: Vec<String>,
}

/// Options for [`import_path`].
#[derive(Default)]
pub struct ImportOptions<'a> {
    pub device_id: Option<i64>,
    /// Called with (bytes done, bytes total) as a serial log is parsed.
    pub progress: Option<&'a (dyn Fn(u64, u64) + Sync)>,
}

/// Imports one harness run folder or serial log file as a new run.
pub async fn import_path(
    store: &Store,
    path: &Path,
    options: &ImportOptions<'_>,
) -> Result<ImportOutcome, ImportError> {
    let owned = path.to_owned();
    let folder = tokio::task::spawn_blocking(move || ArtifactFolder::open(&owned))
        .await
        .map_err(|e| ImportError::Join(path.to_owned(), e.to_string()))??;
    let mut outcome = ImportOutcome {
        path: path.to_owned(),
        run_id: 0,
        already_imported: false,
        lines: 0,
        snapshots: 0,
        events: 0,
        health_samples: 0,
        corrupt: folder.corrupt_lines(),
        warnings: folder.warnings.clone(),
    };
    if let Some(id) = store.run_by_digest(&folder.digest).await? {
        outcome.run_id = id;
        outcome.already_imported = true;
        return Ok(outcome);
    }

    let summary = folder.summary.clone().unwrap_or_default();
    let started_us = folder.start_us().unwrap_or_else(crate::store::now_us);
    let run_id = store
        .create_run(&NewRun {
            device_id: options.device_id,
            kind: Some(RunKind::Import),
            scenario: folder.scenario(),
            label: Some(folder.name.clone()),
            firmware_version: summary.firmware_version.clone(),
            git_commit: summary.git_commit.clone(),
            git_branch: summary.git_branch.clone(),
            git_dirty: summary.git_dirty(),
            started_us,
            status: Some(RunStatus::Active),
            source: Some(path.display().to_string()),
            source_digest: Some(folder.digest.clone()),
            meta: Some(meta_of(&summary.rest, summary.git_status.as_deref())),
            ..Default::default()
        })
        .await?;
    outcome.run_id = run_id;

    match record_content(store, run_id, &folder, started_us, options, &mut outcome).await {
        Ok(last_us) => {
            let ended_us = summary.end_us.unwrap_or(last_us);
            store
                .finish_run(run_id, RunStatus::Completed, ended_us)
                .await?;
            Ok(outcome)
        }
        Err(e) => {
            // A half-imported run would block re-importing the same content
            // (its digest is taken); remove it so the user can retry.
            let _ = store.delete_run(run_id).await;
            Err(e)
        }
    }
}

/// The summary fields heaplab has no column for, kept for export.
fn meta_of(rest: &Map<String, Value>, git_status: Option<&str>) -> Value {
    let mut meta = rest.clone();
    if let Some(status) = git_status {
        meta.insert("git_status_porcelain".into(), Value::String(status.into()));
    }
    Value::Object(meta)
}

/// Writes all rows; returns the last timestamp seen.
async fn record_content(
    store: &Store,
    run_id: i64,
    folder: &ArtifactFolder,
    start_us: i64,
    options: &ImportOptions<'_>,
    outcome: &mut ImportOutcome,
) -> Result<i64, ImportError> {
    // Parsing and writing overlap: a writer task commits one batch while the
    // next is parsed. Two batches in flight bound the memory used.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(2);
    let writer_store = store.clone();
    let writer = tokio::spawn(async move {
        while let Some(batch) = rx.recv().await {
            writer_store
                .write_batches(std::slice::from_ref(&batch))
                .await?;
        }
        Ok::<_, StoreError>(())
    });
    let produced = produce(run_id, folder, start_us, options, outcome, &tx).await;
    drop(tx);
    writer
        .await
        .map_err(|e| ImportError::Join(folder.path.clone(), e.to_string()))??;
    let (last_us, firmware) = produced?;
    let summary_names_firmware = folder
        .summary
        .as_ref()
        .is_some_and(|s| s.firmware_version.is_some());
    if let (false, Some(version)) = (summary_names_firmware, firmware) {
        store.set_run_firmware(run_id, &version).await?;
    }
    Ok(last_us)
}

/// Turns the folder's content into batches for the writer; returns the last
/// timestamp and the firmware version the boot log named.
async fn produce(
    run_id: i64,
    folder: &ArtifactFolder,
    start_us: i64,
    options: &ImportOptions<'_>,
    outcome: &mut ImportOutcome,
    tx: &tokio::sync::mpsc::Sender<Batch>,
) -> Result<(i64, Option<String>), ImportError> {
    let mut out = Producer {
        tracker: RunTracker::new(run_id),
        batch: Batch::new(run_id),
        unpacked: Vec::new(),
        tx,
        outcome,
    };
    let mem_rows = folder
        .mem
        .as_ref()
        .map(|f| f.rows.iter().map(|(_, r)| mem_row(r)).collect::<Vec<_>>())
        .unwrap_or_default();

    let now = if let Some(log) = &folder.serial_log {
        let now = out
            .stream_serial_log(log, &mem_rows, start_us, options)
            .await?;
        out.keep_scenario_events(folder, now);
        now
    } else {
        record_from_jsonl(
            &mut out.tracker,
            &mut out.batch,
            folder,
            &mem_rows,
            start_us,
        )
    };
    out.record_health(folder, now);
    out.flush(Flush::Last).await?;
    Ok((now, out.tracker.firmware().map(str::to_owned)))
}

/// The producing side of an import: the run's tracker, the batch being
/// filled, and where full batches go.
struct Producer<'a> {
    tracker: RunTracker,
    batch: Batch,
    /// Serial lines waiting to fill a block. An imported run's lines are
    /// all there is to it already, so they are stored packed, as retention
    /// stores old lines: one row per 2,000 lines to write, a quarter of
    /// the disk, read back the same.
    unpacked: Vec<SerialLineRow>,
    tx: &'a tokio::sync::mpsc::Sender<Batch>,
    outcome: &'a mut ImportOutcome,
}

impl Producer<'_> {
    /// serial.log is the source of truth; mem.jsonl only lends each
    /// snapshot its host timestamp (matched in order by tag). The file is
    /// streamed: memory stays at one batch whatever its size. Returns the
    /// last timestamp.
    async fn stream_serial_log(
        &mut self,
        log: &SerialLogFile,
        mem_rows: &[(Option<i64>, MemSnapshot)],
        start_us: i64,
        options: &ImportOptions<'_>,
    ) -> Result<i64, ImportError> {
        let mut now = start_us;
        let total = log.len;
        let io = |source| {
            ImportError::Artifact(ArtifactError::Io {
                path: log.path.clone(),
                source,
            })
        };
        let file = tokio::fs::File::open(&log.path).await.map_err(io)?;
        let mut reader = tokio::io::BufReader::with_capacity(1 << 20, file);
        let mut raw = Vec::with_capacity(256);
        let mut next_mem = 0;
        let mut done = 0u64;
        loop {
            raw.clear();
            let n = reader.read_until(b'\n', &mut raw).await.map_err(io)?;
            if n == 0 {
                break;
            }
            done += n as u64;
            let line = parse_line(&raw);
            if let LineKind::Snapshot(snap) = &line.kind {
                if let Some(ts) = mem_timestamp(mem_rows, &mut next_mem, snap) {
                    now = ts;
                }
            }
            self.tracker.record_line(&mut self.batch, now, &line, 0);
            if self.batch.len() >= IMPORT_BATCH_ROWS {
                self.flush(Flush::WholeBlocks).await?;
                if let Some(progress) = options.progress {
                    progress(done.min(total), total);
                }
            }
        }
        if let Some(progress) = options.progress {
            progress(total, total);
        }
        Ok(now)
    }

    /// Scenario steps and notes never appear on serial; keep them from
    /// events.jsonl (undated ones at `now`).
    fn keep_scenario_events(&mut self, folder: &ArtifactFolder, now: i64) {
        let Some(events) = &folder.events else {
            return;
        };
        for (_, row) in &events.rows {
            let kind = row.get("type").and_then(Value::as_str).unwrap_or("event");
            if matches!(kind, "http" | "note") {
                let ts = row.get("ts").and_then(parse_ts).unwrap_or(now);
                let message = message_of(row, kind);
                self.tracker.record_event(
                    &mut self.batch,
                    ts,
                    EventKind::parse(kind).unwrap_or(EventKind::Event),
                    &message,
                    Value::Object(row.clone()),
                );
            }
        }
    }

    /// The health polls (undated ones at `now`).
    fn record_health(&mut self, folder: &ArtifactFolder, now: i64) {
        for health in folder.health_lines() {
            let ts = health.ts_us.unwrap_or(now);
            self.tracker.record_health(
                &mut self.batch,
                ts,
                health.http_status,
                health.latency_ms,
                health.body.as_deref(),
                health.error,
            );
        }
    }

    /// Counts the batch into the outcome, packs its lines and hands it to
    /// the writer.
    async fn flush(&mut self, flush: Flush) -> Result<(), ImportError> {
        let outcome = &mut *self.outcome;
        let batch = &mut self.batch;
        outcome.lines += batch.lines.len() as i64;
        self.unpacked.append(&mut batch.lines);
        let packed = match flush {
            Flush::WholeBlocks => self.unpacked.len() / BLOCK_LINES as usize * BLOCK_LINES as usize,
            Flush::Last => self.unpacked.len(),
        };
        for lines in self.unpacked[..packed].chunks(BLOCK_LINES as usize) {
            batch
                .blocks
                .extend(SerialBlock::pack(lines, Packing::Fast)?);
        }
        self.unpacked.drain(..packed);
        outcome.snapshots += batch.snapshots.len() as i64;
        outcome.events += batch.events.len() as i64;
        outcome.health_samples += batch.health.len() as i64;
        let full = self.tracker.take_batch(batch);
        // A closed channel means the writer failed; the caller reports its
        // error when it joins the writer.
        let _ = self.tx.send(full).await;
        Ok(())
    }
}

/// What a flush packs: whole blocks while lines keep coming, everything
/// at the end.
#[derive(Clone, Copy)]
enum Flush {
    WholeBlocks,
    Last,
}

/// The host timestamp mem.jsonl holds for a serial snapshot: the row among
/// the next four unmatched ones with the same tag and `hin`. A match moves
/// `next_mem` past it, whether or not it carries a timestamp.
fn mem_timestamp(
    mem_rows: &[(Option<i64>, MemSnapshot)],
    next_mem: &mut usize,
    snap: &MemSnapshot,
) -> Option<i64> {
    let offset = mem_rows[(*next_mem).min(mem_rows.len())..]
        .iter()
        .take(4)
        .position(|(_, m)| m.tag == snap.tag && m.hin == snap.hin)?;
    let ts = mem_rows[*next_mem + offset].0;
    *next_mem += offset + 1;
    ts
}

/// One `mem.jsonl` row as a snapshot with its timestamp.
fn mem_row(row: &Map<String, Value>) -> (Option<i64>, MemSnapshot) {
    let mut snap = MemSnapshot {
        tag: row
            .get("tag")
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_owned(),
        ..Default::default()
    };
    for (key, value) in row {
        if matches!(key.as_str(), "ts" | "tag" | "type") {
            continue;
        }
        match snap.slot(key) {
            Some(slot) => *slot = value.as_i64(),
            None => snap.extras.push((
                key.clone(),
                match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
            )),
        }
    }
    (row.get("ts").and_then(parse_ts), snap)
}

fn message_of(row: &Map<String, Value>, kind: &str) -> String {
    ["line", "message", "msg", "text"]
        .iter()
        .find_map(|k| row.get(*k).and_then(Value::as_str))
        .map(str::to_owned)
        .unwrap_or_else(
            || match (row.get("method"), row.get("path").or(row.get("url"))) {
                (Some(m), Some(p)) => format!(
                    "{} {}",
                    m.as_str().unwrap_or("?"),
                    p.as_str().unwrap_or("?")
                ),
                _ => kind.to_owned(),
            },
        )
}

/// Without `serial.log`, the JSONL files are the record: snapshots from
/// `mem.jsonl`, everything else from `events.jsonl` (or `tasks.jsonl`),
/// merged in timestamp order. Returns the last timestamp.
fn record_from_jsonl(
    tracker: &mut RunTracker,
    batch: &mut Batch,
    folder: &ArtifactFolder,
    mem_rows: &[(Option<i64>, MemSnapshot)],
    start_us: i64,
) -> i64 {
    let mut now = start_us;
    for (ts, _, item) in jsonl_items(folder, mem_rows, start_us) {
        now = ts;
        match item {
            Item::Snapshot(snap) => {
                tracker.record_kind(batch, None, ts, None, &LineKind::Snapshot(snap.clone()), "")
            }
            Item::Event(row) => {
                let kind = row.get("type").and_then(Value::as_str).unwrap_or("event");
                let message = message_of(row, kind);
                match meaning_of(row, kind) {
                    Some(k) => tracker.record_kind(batch, None, ts, None, &k, &message),
                    None => tracker.record_event(
                        batch,
                        ts,
                        EventKind::parse(kind).unwrap_or(EventKind::Event),
                        &message,
                        Value::Object(row.clone()),
                    ),
                }
            }
        }
    }
    now
}

/// One JSONL row to record without `serial.log`.
enum Item<'a> {
    Snapshot(&'a MemSnapshot),
    Event(&'a Map<String, Value>),
}

/// The rows of `mem.jsonl` and of `events.jsonl` (plus `tasks.jsonl` when
/// the events hold no task rows), each as (timestamp, file order, row),
/// sorted by time then file order. An undated row takes the timestamp of
/// the row before it in its file.
fn jsonl_items<'a>(
    folder: &'a ArtifactFolder,
    mem_rows: &'a [(Option<i64>, MemSnapshot)],
    start_us: i64,
) -> Vec<(i64, usize, Item<'a>)> {
    let mut items: Vec<(i64, usize, Item)> = Vec::new();
    let mut last = start_us;
    for (ts, snap) in mem_rows {
        last = ts.unwrap_or(last);
        items.push((last, items.len(), Item::Snapshot(snap)));
    }
    let events = folder
        .events
        .as_ref()
        .map(|f| f.rows.as_slice())
        .unwrap_or_default();
    let has_tasks = events.iter().any(|(_, r)| {
        matches!(
            r.get("type").and_then(Value::as_str),
            Some("task" | "stack_watermark")
        )
    });
    let tasks = match (&folder.tasks, has_tasks) {
        (Some(f), false) => f.rows.as_slice(),
        _ => &[],
    };
    let mut last = start_us;
    for (_, row) in events.iter().chain(tasks) {
        let kind = row.get("type").and_then(Value::as_str);
        if kind == Some("mem") && !mem_rows.is_empty() {
            continue;
        }
        last = row.get("ts").and_then(parse_ts).unwrap_or(last);
        items.push((last, items.len(), Item::Event(row)));
    }
    items.sort_by_key(|(ts, order, _)| (*ts, *order));
    items
}

/// What an events row means: its `line` parsed as serial output, or else
/// a snapshot, tripwire or task row by its `type`; `None` for a plain event.
fn meaning_of(row: &Map<String, Value>, kind: &str) -> Option<LineKind> {
    let line = row.get("line").and_then(Value::as_str);
    let parsed = line.map(|l| parse_line(l.as_bytes()).kind);
    match (parsed, kind) {
        (Some(k), _) if k != LineKind::Unrecognized => Some(k),
        (_, "mem") => Some(LineKind::Snapshot(mem_row(row).1)),
        (_, "tripwire") => Some(LineKind::Tripwire(
            serde_json::from_value::<Tripwire>(Value::Object(row.clone())).unwrap_or_default(),
        )),
        (_, "task") => Some(LineKind::Task(
            serde_json::from_value::<TaskStack>(Value::Object(row.clone())).unwrap_or_default(),
        )),
        _ => None,
    }
}
