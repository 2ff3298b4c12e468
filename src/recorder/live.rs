//! The live recorder: one task that owns every write of live data. Sources
//! send [`DeviceEvent`]s on a bounded channel (back-pressure instead of
//! unbounded memory); the recorder assigns them to each device's active run,
//! batches rows (a few hundred milliseconds or a few hundred rows, whichever
//! comes first), publishes them to the [`LiveHub`], and on shutdown flushes
//! everything and closes open runs as `interrupted`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

mod device_events;
mod resume;

use super::hub::{LiveEvent, LiveHub};
use super::RunTracker;
use crate::ingest::DeviceEvent;
use crate::store::{
    now_us, AgentMark, Batch, EventKind, NewRun, RunKind, RunStatus, Store, StoreError,
};

/// Rows buffered before a write even if the timer has not fired.
const FLUSH_ROWS: usize = 500;
/// Longest a row waits before it is written.
const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// Events queued between sources and the recorder.
const EVENT_QUEUE: usize = 8192;
/// Rows kept for retry while the database refuses writes; beyond this the
/// oldest are dropped (and logged) rather than exhausting memory.
const MAX_RETRY_ROWS: usize = 500_000;

/// Requests to the recorder from the API and the scenario runner.
#[derive(Debug)]
pub enum RecorderCommand {
    /// Ends the device's current run and starts a soak or scenario run.
    StartRun {
        device_id: i64,
        kind: RunKind,
        scenario: Option<String>,
        label: Option<String>,
        reply: oneshot::Sender<Result<i64, StoreError>>,
    },
    /// Ends the device's soak or scenario run (back to a live run); replies
    /// with the ended run, or `None` when only a live run was active.
    EndRun {
        device_id: i64,
        status: RunStatus,
        reply: oneshot::Sender<Result<Option<i64>, StoreError>>,
    },
    /// An event that did not come from the device (scenario step, note).
    Note {
        device_id: i64,
        kind: EventKind,
        message: String,
        data: Value,
    },
    /// The device was deleted: close its run and forget it.
    Forget { device_id: i64 },
    /// Write everything buffered now.
    Flush { reply: oneshot::Sender<()> },
    /// A batch an agent forwarded: its events are handled exactly as a
    /// local source's, and `reply` is answered once they are committed in
    /// the same transaction as the agent's batch number (`mark`).
    Forwarded(Forwarded),
}

/// One agent batch for the recorder (see [`RecorderCommand::Forwarded`]).
#[derive(Debug)]
pub struct Forwarded {
    pub events: Vec<DeviceEvent>,
    /// Events the agent's full spool dropped before these, per device.
    pub gaps: Vec<(i64, i64)>,
    pub agent: String,
    pub mark: AgentMark,
    /// The devices the events belong to.
    pub devices: Vec<i64>,
    pub reply: oneshot::Sender<()>,
}

/// An agent batch whose events are handed to the recorder, waiting to go
/// to the writer with the rows they made.
#[derive(Debug)]
struct MarkWaiter {
    mark: AgentMark,
    devices: Vec<i64>,
    reply: oneshot::Sender<()>,
}

/// Handle on the recorder task; cheap to clone.
#[derive(Debug, Clone)]
pub struct Recorder {
    events: mpsc::Sender<DeviceEvent>,
    commands: mpsc::Sender<RecorderCommand>,
    hub: LiveHub,
    announced_ips: Arc<Mutex<HashMap<i64, watch::Sender<Option<String>>>>>,
}

impl Recorder {
    /// Starts the recorder task. It runs until `shutdown` is cancelled, then
    /// drains what is queued, writes it, and closes open runs.
    pub fn spawn(
        store: Store,
        hub: LiveHub,
        shutdown: CancellationToken,
    ) -> (Recorder, JoinHandle<()>) {
        let (events, event_rx) = mpsc::channel(EVENT_QUEUE);
        let (writer_tx, writer_rx) = mpsc::channel(WRITE_QUEUE);
        let writer_task = tokio::spawn(write_loop(store.clone(), hub.clone(), writer_rx));
        let (commands, command_rx) = mpsc::channel(64);
        let recorder = Recorder {
            events,
            commands,
            hub: hub.clone(),
            announced_ips: Arc::default(),
        };
        let state = State {
            store,
            hub,
            runs: HashMap::new(),
            ended: Vec::new(),
            writer: writer_tx,
            pending_rows: 0,
            announced_ips: recorder.announced_ips.clone(),
            pending: HashMap::new(),
            resume_checked: HashSet::new(),
            marks: Vec::new(),
        };
        let task = tokio::spawn(state.run(event_rx, command_rx, shutdown, writer_task));
        (recorder, task)
    }

    /// Where sources send their events.
    pub fn events(&self) -> mpsc::Sender<DeviceEvent> {
        self.events.clone()
    }

    /// Events waiting for the recorder (for `/metrics`).
    pub fn queue_depth(&self) -> usize {
        EVENT_QUEUE - self.events.capacity()
    }

    pub fn hub(&self) -> &LiveHub {
        &self.hub
    }

    /// The IP a device last announced on serial (`Got IP`), watched by its
    /// health source.
    pub fn announced_ip(&self, device_id: i64) -> watch::Receiver<Option<String>> {
        let mut ips = self.announced_ips.lock().unwrap_or_else(|e| e.into_inner());
        ips.entry(device_id)
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    pub async fn command(&self, command: RecorderCommand) -> Result<(), StoreError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| StoreError::Conflict("the recorder has stopped".into()))
    }

    pub async fn start_run(
        &self,
        device_id: i64,
        kind: RunKind,
        scenario: Option<String>,
        label: Option<String>,
    ) -> Result<i64, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.command(RecorderCommand::StartRun {
            device_id,
            kind,
            scenario,
            label,
            reply,
        })
        .await?;
        rx.await
            .map_err(|_| StoreError::Conflict("the recorder has stopped".into()))?
    }

    pub async fn end_run(
        &self,
        device_id: i64,
        status: RunStatus,
    ) -> Result<Option<i64>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.command(RecorderCommand::EndRun {
            device_id,
            status,
            reply,
        })
        .await?;
        rx.await
            .map_err(|_| StoreError::Conflict("the recorder has stopped".into()))?
    }

    /// Waits until everything received so far is written.
    pub async fn flush(&self) {
        let (reply, rx) = oneshot::channel();
        if self.command(RecorderCommand::Flush { reply }).await.is_ok() {
            let _ = rx.await;
        }
    }
}

struct ActiveRun {
    kind: RunKind,
    tracker: RunTracker,
    batch: Batch,
}

struct State {
    store: Store,
    hub: LiveHub,
    runs: HashMap<i64, ActiveRun>,
    /// Batches of runs that just ended, sent with the next flush.
    ended: Vec<Batch>,
    /// The writer task: commits batches while this task keeps parsing.
    writer: mpsc::Sender<WriteJob>,
    pending_rows: usize,
    announced_ips: Arc<Mutex<HashMap<i64, watch::Sender<Option<String>>>>>,
    /// Devices whose interrupted run may go on, with their held events.
    pending: HashMap<i64, resume::Pending>,
    /// Devices already checked for a run to resume (once per server start).
    resume_checked: HashSet<i64>,
    /// Agent batches handled but not yet handed to the writer, in order.
    marks: Vec<MarkWaiter>,
}

impl State {
    async fn run(
        mut self,
        mut events: mpsc::Receiver<DeviceEvent>,
        mut commands: mpsc::Receiver<RecorderCommand>,
        shutdown: CancellationToken,
        writer_task: JoinHandle<()>,
    ) {
        if let Err(e) = self.store.interrupt_stale_runs().await {
            tracing::error!(error = %e, "cannot close runs left active by a previous server");
        }
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                Some(command) = commands.recv() => self.handle_command(command).await,
                Some(event) = events.recv() => {
                    self.handle_event(event).await;
                    if self.pending_rows >= FLUSH_ROWS {
                        self.flush().await;
                    }
                }
                _ = tick.tick() => {
                    for event in self.expire_pending().await {
                        self.dispatch_event(event).await;
                    }
                    self.flush().await;
                }
            }
        }
        // Drain what the sources already handed over, then close up.
        while let Ok(event) = events.try_recv() {
            self.handle_event(event).await;
        }
        for event in self.settle_all().await {
            self.dispatch_event(event).await;
        }
        while let Ok(command) = commands.try_recv() {
            self.handle_command(command).await;
        }
        self.flush().await;
        // Everything is handed to the writer; let it finish before the runs
        // are marked closed.
        let State {
            store,
            runs,
            writer,
            ..
        } = self;
        drop(writer);
        if let Err(e) = writer_task.await {
            tracing::error!(error = %e, "writer task failed");
        }
        let this_store = store;
        let now = now_us();
        for (device_id, run) in runs {
            let id = run.tracker.run_id();
            if let Err(e) = this_store.finish_run(id, RunStatus::Interrupted, now).await {
                tracing::error!(device_id, run = id, error = %e, "cannot close run at shutdown");
            }
        }
        if let Err(e) = this_store.checkpoint().await {
            tracing::warn!(error = %e, "WAL checkpoint at shutdown failed");
        }
        tracing::info!("recorder stopped");
    }

    fn publish(&self, device_id: i64, kind: &'static str, ts_us: i64, data: Value) {
        self.hub.publish(LiveEvent {
            device_id,
            kind,
            ts_us,
            data: Arc::new(data),
        });
    }

    /// The device's active run, opening a live run when it has none: every
    /// device always has one.
    async fn active(&mut self, device_id: i64, ts_us: i64) -> Option<&mut ActiveRun> {
        if !self.runs.contains_key(&device_id) {
            self.open_run(device_id, RunKind::Live, None, None, ts_us)
                .await
                .ok()?;
        }
        self.runs.get_mut(&device_id)
    }

    async fn open_run(
        &mut self,
        device_id: i64,
        kind: RunKind,
        scenario: Option<String>,
        label: Option<String>,
        ts_us: i64,
    ) -> Result<i64, StoreError> {
        let board = self
            .store
            .device(device_id)
            .await
            .ok()
            .and_then(|d| d.board);
        let firmware = self.hub.device(device_id).and_then(|d| d.firmware);
        let id = self
            .store
            .create_run(&NewRun {
                device_id: Some(device_id),
                kind: Some(kind),
                scenario,
                label,
                board,
                firmware_version: firmware,
                started_us: ts_us,
                status: Some(RunStatus::Active),
                ..Default::default()
            })
            .await
            .inspect_err(|e| tracing::error!(device_id, error = %e, "cannot open a run"))?;
        self.runs.insert(
            device_id,
            ActiveRun {
                kind,
                tracker: RunTracker::new(id),
                batch: Batch::new(id),
            },
        );
        self.hub.update(device_id, |d| {
            d.active_run = Some(id);
            d.active_kind = Some(kind);
        });
        Ok(id)
    }

    /// Ends the device's active run; its buffered rows are written with the
    /// next flush.
    async fn close_run(&mut self, device_id: i64, status: RunStatus, ts_us: i64) -> Option<i64> {
        let mut run = self.runs.remove(&device_id)?;
        let id = run.tracker.run_id();
        if !run.batch.is_empty() {
            self.ended.push(run.tracker.take_batch(&mut run.batch));
        }
        if let Err(e) = self.store.finish_run(id, status, ts_us).await {
            tracing::error!(device_id, run = id, error = %e, "cannot close run");
        }
        self.hub.update(device_id, |d| {
            d.active_run = None;
            d.active_kind = None;
        });
        Some(id)
    }

    async fn handle_command(&mut self, command: RecorderCommand) {
        let now = now_us();
        match command {
            RecorderCommand::StartRun {
                device_id,
                kind,
                scenario,
                label,
                reply,
            } => {
                self.close_run(device_id, RunStatus::Completed, now).await;
                let _ = reply.send(self.open_run(device_id, kind, scenario, label, now).await);
            }
            RecorderCommand::EndRun {
                device_id,
                status,
                reply,
            } => {
                let is_live = self
                    .runs
                    .get(&device_id)
                    .is_none_or(|r| r.kind == RunKind::Live);
                if is_live {
                    let _ = reply.send(Ok(None));
                    return;
                }
                let ended = self.close_run(device_id, status, now).await;
                let reopened = self
                    .open_run(device_id, RunKind::Live, None, None, now)
                    .await;
                let _ = reply.send(reopened.map(|_| ended));
            }
            RecorderCommand::Note {
                device_id,
                kind,
                message,
                data,
            } => {
                if let Some(run) = self.active(device_id, now).await {
                    run.tracker
                        .record_event(&mut run.batch, now, kind, &message, data.clone());
                    self.pending_rows += 1;
                    if self.hub.has_subscribers() {
                        self.publish(
                            device_id,
                            "event",
                            now,
                            json!({"kind": kind, "message": message, "data": data}),
                        );
                    }
                }
            }
            RecorderCommand::Forget { device_id } => {
                self.close_run(device_id, RunStatus::Completed, now).await;
                self.hub.remove(device_id);
            }
            RecorderCommand::Forwarded(batch) => self.forwarded(batch).await,
            RecorderCommand::Flush { reply } => {
                self.flush().await;
                // The writer answers once everything before it is committed.
                if let Err(mpsc::error::SendError(WriteJob::Barrier(reply))) =
                    self.writer.send(WriteJob::Barrier(reply)).await
                {
                    let _ = reply.send(());
                }
            }
        }
    }

    /// An agent's batch: a gap note per device whose events the agent's
    /// full spool dropped, then the events, then the batch waits for the
    /// flush that writes its rows.
    async fn forwarded(&mut self, batch: Forwarded) {
        let Forwarded {
            events,
            gaps,
            agent,
            mark,
            devices,
            reply,
        } = batch;
        for (device_id, dropped) in gaps {
            let ts_us = events
                .iter()
                .find(|e| e.device_id() == device_id)
                .map_or_else(now_us, event_ts);
            if let Some(run) = self.active(device_id, ts_us).await {
                run.tracker.record_event(
                    &mut run.batch,
                    ts_us,
                    EventKind::Note,
                    &format!("agent {agent}: spool full, {dropped} events dropped before this"),
                    json!({"agent": agent, "gap": true, "dropped_events": dropped}),
                );
                self.pending_rows += 1;
            }
        }
        for event in events {
            self.handle_event(event).await;
        }
        self.marks.push(MarkWaiter {
            mark,
            devices,
            reply,
        });
        // The agent waits for this batch to be on disk before it sends the
        // next: write now rather than at the next tick.
        self.flush().await;
    }

    /// The agent batches whose rows are all in the run batches now: in
    /// order, up to the first with a device whose events are still held
    /// (a later batch's number must never be stored before an earlier
    /// batch's rows).
    fn ready_marks(&mut self) -> Vec<MarkWaiter> {
        let held = |m: &MarkWaiter| m.devices.iter().any(|d| self.pending.contains_key(d));
        let ready = self.marks.iter().position(held).unwrap_or(self.marks.len());
        self.marks.drain(..ready).collect()
    }

    /// Hands every buffered row to the writer (one transaction per job).
    /// Waits only when the writer is a whole queue behind: that is the
    /// back-pressure that keeps memory bounded.
    async fn flush(&mut self) {
        let mut batches = std::mem::take(&mut self.ended);
        for run in self.runs.values_mut() {
            if !run.batch.is_empty() {
                batches.push(run.tracker.take_batch(&mut run.batch));
            }
        }
        self.pending_rows = 0;
        let marks = self.ready_marks();
        if (!batches.is_empty() || !marks.is_empty())
            && self
                .writer
                .send(WriteJob::Rows(batches, marks))
                .await
                .is_err()
        {
            tracing::error!("the writer has stopped; rows lost");
        }
    }
}

fn event_ts(event: &DeviceEvent) -> i64 {
    match event {
        DeviceEvent::Serial { ts_us, .. }
        | DeviceEvent::Health { ts_us, .. }
        | DeviceEvent::Status { ts_us, .. } => *ts_us,
    }
}

/// Work for the writer task.
enum WriteJob {
    /// Rows, and the agent batches they complete.
    Rows(Vec<Batch>, Vec<MarkWaiter>),
    /// Answered once everything sent before it is committed (or given up).
    Barrier(oneshot::Sender<()>),
}

/// Batches queued for the writer.
const WRITE_QUEUE: usize = 8;

/// How often rows kept after a failed write are tried again when no new
/// rows arrive to carry them.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Commits batches. A failed write keeps its rows and retries with the next
/// job or after [`RETRY_EVERY`] (bounded), so a locked or full disk delays
/// data instead of losing it.
async fn write_loop(store: Store, hub: LiveHub, mut jobs: mpsc::Receiver<WriteJob>) {
    let mut pending = KeptWrites::default();
    loop {
        let job = if pending.is_empty() {
            jobs.recv().await
        } else {
            match tokio::time::timeout(RETRY_EVERY, jobs.recv()).await {
                Ok(job) => job,
                // Nothing new: try the kept rows again.
                Err(_) => Some(WriteJob::Rows(Vec::new(), Vec::new())),
            }
        };
        let Some(job) = job else { break };
        let barrier = match job {
            WriteJob::Rows(batches, marks) => {
                pending.add(batches, marks);
                None
            }
            WriteJob::Barrier(reply) => Some(reply),
        };
        // Take whatever else is already queued: bigger transactions when
        // the writer is behind.
        let mut barriers: Vec<oneshot::Sender<()>> = barrier.into_iter().collect();
        while let Ok(job) = jobs.try_recv() {
            match job {
                WriteJob::Rows(batches, marks) => pending.add(batches, marks),
                WriteJob::Barrier(reply) => barriers.push(reply),
            }
        }
        if !pending.is_empty() {
            write_pending(&store, &hub, &mut pending).await;
        }
        for reply in barriers {
            let _ = reply.send(());
        }
    }
    if !pending.is_empty() {
        let marks: Vec<AgentMark> = pending.marks.iter().map(|m| m.mark.clone()).collect();
        match store.write_batches_marked(&pending.rows, &marks).await {
            Ok(()) => pending.answer_marks(),
            Err(e) => {
                tracing::error!(error = %e, rows = pending.rows.iter().map(Batch::len).sum::<usize>(), "final write failed")
            }
        }
    }
}

/// What the writer holds until a write succeeds: rows, and the agent
/// batches that are answered once those rows are committed.
#[derive(Default)]
struct KeptWrites {
    rows: Vec<Batch>,
    marks: Vec<MarkWaiter>,
}

impl KeptWrites {
    fn add(&mut self, rows: Vec<Batch>, marks: Vec<MarkWaiter>) {
        self.rows.extend(rows);
        self.marks.extend(marks);
    }

    fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.marks.is_empty()
    }

    fn answer_marks(&mut self) {
        for waiter in self.marks.drain(..) {
            let _ = waiter.reply.send(());
        }
    }
}

/// One attempt at the kept rows. A full database pauses recording (the
/// rows wait, up to [`MAX_RETRY_ROWS`]) and says so once, in the log, on
/// `/healthz` and in `/metrics`, until a write succeeds again.
async fn write_pending(store: &Store, hub: &LiveHub, kept: &mut KeptWrites) {
    let rows: usize = kept.rows.iter().map(Batch::len).sum();
    let marks: Vec<AgentMark> = kept.marks.iter().map(|m| m.mark.clone()).collect();
    match store.write_batches_marked(&kept.rows, &marks).await {
        Ok(()) => {
            hub.count(&hub.counters.write_batches, 1);
            kept.rows.clear();
            kept.answer_marks();
            if hub.counters.storage_full.swap(false, Ordering::Relaxed) {
                tracing::warn!(rows, "database writable again; the kept rows are written");
            }
        }
        Err(e) => {
            hub.count(&hub.counters.write_errors, 1);
            if e.is_full() {
                if !hub.counters.storage_full.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        error = %e,
                        rows,
                        "database full: recording paused, rows kept in memory and retried; \
                         free disk space (delete runs, `heaplab retention run`) or raise max_db_mb"
                    );
                }
            } else {
                tracing::error!(error = %e, "write failed; keeping rows for retry");
            }
            let mut rows = rows;
            let pending = &mut kept.rows;
            while rows > MAX_RETRY_ROWS && !pending.is_empty() {
                let dropped = pending.remove(0);
                rows -= dropped.len();
                tracing::error!(
                    run = dropped.run_id,
                    rows = dropped.len(),
                    "dropping unwritable rows"
                );
            }
        }
    }
}

impl crate::ingest::EventSink for Recorder {
    fn events(&self) -> mpsc::Sender<DeviceEvent> {
        Recorder::events(self)
    }

    fn announced_ip(&self, device_id: i64) -> watch::Receiver<Option<String>> {
        Recorder::announced_ip(self, device_id)
    }
}
