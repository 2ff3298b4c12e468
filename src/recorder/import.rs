//! Importing harness artifacts and bare serial logs: the recorder's offline
//! entrance. Content goes through the same [`RunTracker`] and batch writer as
//! live data, so an imported run is indistinguishable from a recorded one.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::io::AsyncBufReadExt;

use super::RunTracker;
use crate::harness::{
    parse_ts, ArtifactError, ArtifactFolder, HealthLine, JsonlFile, JsonlRow, JsonlRows,
    JsonlSource, SerialLogFile,
};
use crate::protocol::{parse_line, LineKind, MemSnapshot, TaskStack, Tripwire};
use crate::store::{
    Batch, BlockPacker, EventKind, NewRun, Packing, RunKind, RunStatus, SnapshotPacker, Store,
    StoreError,
};

/// Rows buffered before a write; big batches keep SQLite's commits rare.
const IMPORT_BATCH_ROWS: usize = 40_000;
/// The first batch's size. Batches double from here up to
/// [`IMPORT_BATCH_ROWS`], so the writer starts after a few milliseconds of
/// parsing instead of waiting for a whole big batch.
const FIRST_BATCH_ROWS: usize = 2_500;

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
        corrupt: Vec::new(),
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
    // next is parsed. One batch waiting bounds the memory used.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(1);
    let writer_store = store.clone();
    let writer = tokio::spawn(async move {
        let mut idle = std::time::Instant::now();
        while let Some(batch) = rx.recv().await {
            let started = std::time::Instant::now();
            writer_store
                .write_batches(std::slice::from_ref(&batch))
                .await?;
            // HEAPLAB_LOG=heaplab::recorder::import=debug shows which side
            // of the import waits for the other.
            tracing::debug!(
                rows = batch.len(),
                waited_ms = started.duration_since(idle).as_millis() as u64,
                wrote_ms = started.elapsed().as_millis() as u64,
                "batch written"
            );
            idle = std::time::Instant::now();
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
        lines_in_batch: 0,
        batch_rows: FIRST_BATCH_ROWS,
        packer: BlockPacker::new(Packing::Fast),
        snapshot_packer: SnapshotPacker::default(),
        tx,
        outcome,
    };
    let now = if let Some(log) = &folder.serial_log {
        let now = out
            .stream_serial_log(log, folder, start_us, options)
            .await?;
        out.keep_scenario_events(folder, now)?;
        now
    } else {
        let files = JsonlFiles::read(folder, &mut out.outcome.corrupt)?;
        record_from_jsonl(&mut out.tracker, &mut out.batch, &files, start_us)
    };
    out.record_health(folder, now)?;
    out.flush(Flush::Last).await?;
    Ok((now, out.tracker.firmware().map(str::to_owned)))
}

/// The producing side of an import: the run's tracker, the batch being
/// filled, and where full batches go.
struct Producer<'a> {
    tracker: RunTracker,
    batch: Batch,
    /// Serial lines packed since the last flush: they count towards a
    /// batch's size as the rows they would have been.
    lines_in_batch: usize,
    /// The size at which the batch is handed over.
    batch_rows: usize,
    /// An imported run's lines are all there is to it already, so they are
    /// stored packed, as retention stores old lines: one row per 2,000
    /// lines to write, a quarter of the disk, read back the same. Each
    /// line's text goes from the read buffer into its block, never into a
    /// row of its own.
    packer: BlockPacker,
    /// Snapshots are stored packed too, 2,000 to a row: half of what the
    /// writer spent on a week's import was two B-tree entries a snapshot.
    snapshot_packer: SnapshotPacker,
    tx: &'a tokio::sync::mpsc::Sender<Batch>,
    outcome: &'a mut ImportOutcome,
}

impl Producer<'_> {
    /// serial.log is the source of truth; mem.jsonl only lends each
    /// snapshot its host timestamp (matched in order by tag). Both files are
    /// streamed side by side: memory stays at one batch whatever their size.
    /// Returns the last timestamp.
    async fn stream_serial_log(
        &mut self,
        log: &SerialLogFile,
        folder: &ArtifactFolder,
        start_us: i64,
        options: &ImportOptions<'_>,
    ) -> Result<i64, ImportError> {
        let mut stamps = MemStamps::open(folder.mem.as_ref())?;
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
                if let Some(ts) = stamps.take_match(snap, &mut self.outcome.corrupt)? {
                    now = ts;
                }
            }
            let line_no = self
                .tracker
                .record_line_meaning(&mut self.batch, now, &line);
            if let Some(block) = self.packer.push(line_no, now, 0, &line.text)? {
                self.batch.blocks.push(block);
            }
            self.lines_in_batch += 1;
            if self.batch.len() + self.lines_in_batch >= self.batch_rows {
                self.flush(Flush::More).await?;
                if let Some(progress) = options.progress {
                    progress(done.min(total), total);
                }
            }
        }
        if let Some(progress) = options.progress {
            progress(total, total);
        }
        stamps.finish(&mut self.outcome.corrupt)?;
        Ok(now)
    }

    /// Scenario steps and notes never appear on serial; keep them from
    /// events.jsonl (undated ones at `now`).
    fn keep_scenario_events(
        &mut self,
        folder: &ArtifactFolder,
        now: i64,
    ) -> Result<(), ImportError> {
        let Some(events) = &folder.events else {
            return Ok(());
        };
        for row in events.rows()? {
            let Some(row) = kept(events, row?, &mut self.outcome.corrupt) else {
                continue;
            };
            let kind = row.get("type").and_then(Value::as_str).unwrap_or("event");
            if matches!(kind, "http" | "note") {
                let ts = row.get("ts").and_then(parse_ts).unwrap_or(now);
                let message = message_of(&row, kind);
                let kind = EventKind::parse(kind).unwrap_or(EventKind::Event);
                self.tracker
                    .record_event(&mut self.batch, ts, kind, &message, Value::Object(row));
            }
        }
        Ok(())
    }

    /// The health polls (undated ones at `now`).
    fn record_health(&mut self, folder: &ArtifactFolder, now: i64) -> Result<(), ImportError> {
        let Some(health) = &folder.health else {
            return Ok(());
        };
        for row in health.rows()? {
            let Some(row) = kept(health, row?, &mut self.outcome.corrupt) else {
                continue;
            };
            let Some(poll) = HealthLine::from_row(&row) else {
                continue;
            };
            self.tracker.record_health(
                &mut self.batch,
                poll.ts_us.unwrap_or(now),
                poll.http_status,
                poll.latency_ms,
                poll.body.as_deref(),
                poll.error,
            );
        }
        Ok(())
    }

    /// Counts the batch into the outcome and hands it to the writer; the
    /// last one takes the lines of the block left open.
    async fn flush(&mut self, flush: Flush) -> Result<(), ImportError> {
        let outcome = &mut *self.outcome;
        let batch = &mut self.batch;
        if let Flush::Last = flush {
            batch.blocks.extend(self.packer.finish()?);
        }
        outcome.lines += self.lines_in_batch as i64;
        self.lines_in_batch = 0;
        self.batch_rows = (self.batch_rows * 2).min(IMPORT_BATCH_ROWS);
        outcome.snapshots += batch.snapshots.len() as i64;
        outcome.events += batch.events.len() as i64;
        outcome.health_samples += batch.health.len() as i64;
        // The next batch will be about as big: start it at this one's size
        // rather than growing it again by doubling (each step a copy).
        let (snapshots, events) = (batch.snapshots.len(), batch.events.len());
        let mut full = self.tracker.take_batch(batch);
        full.pack_snapshots(&mut self.snapshot_packer)?;
        if let Flush::Last = flush {
            full.snapshot_blocks.extend(self.snapshot_packer.finish()?);
        }
        batch.snapshots.reserve(snapshots);
        batch.events.reserve(events);
        // A closed channel means the writer failed; the caller reports its
        // error when it joins the writer.
        let started = std::time::Instant::now();
        let _ = self.tx.send(full).await;
        tracing::debug!(
            waited_ms = started.elapsed().as_millis() as u64,
            "batch handed to the writer"
        );
        Ok(())
    }
}

/// Whether more lines follow the flushed batch, or the import ends there.
#[derive(Clone, Copy)]
enum Flush {
    More,
    Last,
}

/// A row's content, or `None` after noting a corrupt line in the report.
fn kept<T>(
    source: &JsonlSource,
    row: JsonlRow<T>,
    corrupt: &mut Vec<(String, usize, String)>,
) -> Option<T> {
    match row {
        JsonlRow::Object { row, .. } => Some(row),
        JsonlRow::Corrupt { line, why } => {
            corrupt.push((source.name.to_owned(), line, why));
            None
        }
    }
}

/// The three fields of a `mem.jsonl` row that time a serial snapshot.
#[derive(serde::Deserialize)]
struct MemStampRow {
    ts: Option<Value>,
    tag: Option<Value>,
    hin: Option<Value>,
}

/// A row as matched against serial snapshots: the same reading of `tag`
/// and `hin` as [`mem_row`].
struct MemStamp {
    ts: Option<i64>,
    tag: String,
    hin: Option<i64>,
}

/// `mem.jsonl` read alongside serial.log, a few rows ahead of it.
struct MemStamps {
    source: Option<(JsonlSource, JsonlRows<MemStampRow>)>,
    /// The next unmatched rows; a snapshot looks for its row among them.
    ahead: std::collections::VecDeque<MemStamp>,
}

/// How far ahead of the serial log a snapshot's row may be: the harness
/// writes a few rows (boot, setup) that serial shows differently.
const MEM_MATCH_WINDOW: usize = 4;

impl MemStamps {
    fn open(mem: Option<&JsonlSource>) -> Result<Self, ImportError> {
        let source = match mem {
            Some(source) => Some((source.clone(), source.rows_as()?)),
            None => None,
        };
        Ok(MemStamps {
            source,
            ahead: std::collections::VecDeque::with_capacity(MEM_MATCH_WINDOW),
        })
    }

    /// The host timestamp of the row for `snap`: the first among the next
    /// [`MEM_MATCH_WINDOW`] unmatched rows with the same tag and `hin`. A
    /// match consumes the rows up to it, whether or not it carries a time.
    fn take_match(
        &mut self,
        snap: &MemSnapshot,
        corrupt: &mut Vec<(String, usize, String)>,
    ) -> Result<Option<i64>, ImportError> {
        while self.ahead.len() < MEM_MATCH_WINDOW {
            match self.next_row(corrupt)? {
                Some(stamp) => self.ahead.push_back(stamp),
                None => break,
            }
        }
        let Some(at) = self
            .ahead
            .iter()
            .position(|m| m.tag == snap.tag && m.hin == snap.hin)
        else {
            return Ok(None);
        };
        let ts = self.ahead[at].ts;
        self.ahead.drain(..=at);
        Ok(ts)
    }

    /// Reads the rows no snapshot matched, so their corrupt lines are
    /// reported too.
    fn finish(mut self, corrupt: &mut Vec<(String, usize, String)>) -> Result<(), ImportError> {
        while self.next_row(corrupt)?.is_some() {}
        Ok(())
    }

    fn next_row(
        &mut self,
        corrupt: &mut Vec<(String, usize, String)>,
    ) -> Result<Option<MemStamp>, ImportError> {
        let Some((source, rows)) = &mut self.source else {
            return Ok(None);
        };
        for row in rows.by_ref() {
            if let Some(row) = kept(source, row?, corrupt) {
                return Ok(Some(MemStamp {
                    ts: row.ts.as_ref().and_then(parse_ts),
                    tag: row
                        .tag
                        .as_ref()
                        .and_then(Value::as_str)
                        .unwrap_or("-")
                        .to_owned(),
                    hin: row.hin.as_ref().and_then(Value::as_i64),
                }));
            }
        }
        Ok(None)
    }
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
    files: &JsonlFiles,
    start_us: i64,
) -> i64 {
    let mut now = start_us;
    for (ts, _, item) in jsonl_items(files, start_us) {
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

/// The JSONL files of a folder without `serial.log`, whole in memory:
/// their rows interleave by time and must be sorted together.
struct JsonlFiles {
    mem: Vec<(Option<i64>, MemSnapshot)>,
    events: JsonlFile,
    tasks: Option<JsonlFile>,
}

impl JsonlFiles {
    fn read(
        folder: &ArtifactFolder,
        corrupt: &mut Vec<(String, usize, String)>,
    ) -> Result<Self, ImportError> {
        let mut read = |source: &Option<JsonlSource>| -> Result<Option<JsonlFile>, ImportError> {
            let Some(source) = source else {
                return Ok(None);
            };
            let file = JsonlFile::read(source)?;
            corrupt.extend(
                file.corrupt
                    .iter()
                    .map(|(line, why)| (source.name.to_owned(), *line, why.clone())),
            );
            Ok(Some(file))
        };
        let mem = read(&folder.mem)?.unwrap_or_default();
        Ok(JsonlFiles {
            mem: mem.rows.iter().map(|(_, r)| mem_row(r)).collect(),
            events: read(&folder.events)?.unwrap_or_default(),
            tasks: read(&folder.tasks)?,
        })
    }
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
fn jsonl_items(files: &JsonlFiles, start_us: i64) -> Vec<(i64, usize, Item<'_>)> {
    let mut items: Vec<(i64, usize, Item)> = Vec::new();
    let mut last = start_us;
    let mem_rows = &files.mem;
    for (ts, snap) in mem_rows {
        last = ts.unwrap_or(last);
        items.push((last, items.len(), Item::Snapshot(snap)));
    }
    let events = files.events.rows.as_slice();
    let has_tasks = events.iter().any(|(_, r)| {
        matches!(
            r.get("type").and_then(Value::as_str),
            Some("task" | "stack_watermark")
        )
    });
    let tasks = match (&files.tasks, has_tasks) {
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
