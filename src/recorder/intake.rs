//! Agent uploads into the one recorder. Each agent's uploads are taken one
//! at a time; a batch whose number is already stored (or already handed to
//! the recorder and on its way to the disk) is not handed over again, so a
//! retry after a lost answer, a server crash or a network drop stores
//! nothing twice. The answer waits until the batch is committed: an agent
//! forgets a batch only once it is on the server's disk.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use super::{Forwarded, Recorder, RecorderCommand};
use crate::ingest::forward::{AgentUpload, UploadReceipt};
use crate::store::{AgentHello, AgentMark, Store, StoreError};

/// Longest an upload waits for its rows to be committed before the agent
/// is told to try again (it will, and the retry is recognised).
const COMMIT_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    BadUpload(String),
    #[error("not stored yet ({0}); send the batch again")]
    NotYetStored(&'static str),
}

/// What the server knows of one agent between its uploads.
struct AgentState {
    spool_id: String,
    /// Highest batch handed to the recorder.
    accepted: i64,
    /// Highest batch committed (raised when the recorder answers).
    committed: watch::Sender<i64>,
    /// The server's device id for each of the agent's device names.
    devices: HashMap<String, i64>,
}

/// The agents' way into the recorder; cheap to clone.
#[derive(Clone)]
pub struct AgentIntake {
    store: Store,
    recorder: Recorder,
    agents: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<AgentState>>>>>,
}

impl AgentIntake {
    pub fn new(store: Store, recorder: Recorder) -> Self {
        AgentIntake {
            store,
            recorder,
            agents: Arc::default(),
        }
    }

    fn state(&self, agent: &str) -> Arc<tokio::sync::Mutex<AgentState>> {
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        agents
            .entry(agent.to_owned())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(AgentState {
                    spool_id: String::new(),
                    accepted: 0,
                    committed: watch::channel(0).0,
                    devices: HashMap::new(),
                }))
            })
            .clone()
    }

    /// Takes an upload from agent `name`; answers once every batch in it
    /// is stored.
    #[tracing::instrument(skip(self, upload), fields(batches = upload.batches.len()))]
    pub async fn receive(
        &self,
        name: &str,
        upload: AgentUpload,
    ) -> Result<UploadReceipt, IntakeError> {
        check_upload(name, &upload)?;
        let Some(target) = upload.batches.iter().map(|b| b.seq).max() else {
            // Nothing to store: a report of the agent's state.
            self.store.agent_reported(&hello(name, &upload)).await?;
            return Ok(UploadReceipt {
                stored_through: 0,
                duplicates: 0,
            });
        };
        let state = self.state(name);
        let (mut committed, duplicates) = {
            let mut agent = state.lock().await;
            let record = self.store.agent_reported(&hello(name, &upload)).await?;
            if agent.spool_id != record.spool_id {
                agent.spool_id = record.spool_id.clone();
                agent.accepted = record.last_seq;
                agent.committed.send_replace(record.last_seq);
            }
            agent
                .committed
                .send_if_modified(|c| raise(c, record.last_seq));
            agent.accepted = agent.accepted.max(record.last_seq);
            let accepted = agent.accepted;
            let duplicates = upload.batches.iter().filter(|b| b.seq <= accepted).count();
            if duplicates < upload.batches.len() {
                let forwarded = self.forwarded(name, &mut agent, upload, accepted).await?;
                let (reply, answered) = oneshot::channel();
                let mark = forwarded.mark.seq;
                self.recorder
                    .command(RecorderCommand::Forwarded(Forwarded { reply, ..forwarded }))
                    .await?;
                agent.accepted = mark;
                // Raised by a task of its own: an upload whose agent hung
                // up still counts once it is committed.
                let committed = agent.committed.clone();
                tokio::spawn(async move {
                    if answered.await.is_ok() {
                        committed.send_if_modified(|c| raise(c, mark));
                    }
                });
            }
            (agent.committed.subscribe(), duplicates)
        };
        let stored = tokio::time::timeout(COMMIT_WAIT, committed.wait_for(|c| *c >= target)).await;
        match stored {
            Ok(Ok(_)) => Ok(UploadReceipt {
                stored_through: target,
                duplicates,
            }),
            Ok(Err(_)) => Err(IntakeError::NotYetStored("the recorder stopped")),
            Err(_) => Err(IntakeError::NotYetStored("the database is slow or full")),
        }
    }

    /// The new batches of an upload (those after `accepted`) as one
    /// recorder command, registering the agent's devices on first sight.
    async fn forwarded(
        &self,
        name: &str,
        agent: &mut AgentState,
        upload: AgentUpload,
        accepted: i64,
    ) -> Result<Forwarded, IntakeError> {
        let AgentUpload {
            agent: info,
            devices,
            batches,
        } = upload;
        for device in &devices {
            if !agent.devices.contains_key(&device.name) {
                let id = self
                    .store
                    .agent_device(
                        name,
                        &info.host,
                        &device.name,
                        device.url.as_deref(),
                        device.board.as_deref(),
                    )
                    .await?;
                agent.devices.insert(device.name.clone(), id);
            }
        }
        let id_of = |device: &str| {
            agent.devices.get(device).copied().ok_or_else(|| {
                IntakeError::BadUpload(format!("device {device:?} is not in the upload's devices"))
            })
        };
        let mut events = Vec::new();
        let mut gaps: BTreeMap<i64, i64> = BTreeMap::new();
        let mut seq = accepted;
        for batch in batches.into_iter().filter(|b| b.seq > accepted) {
            seq = seq.max(batch.seq);
            for (device, dropped) in batch.gap {
                *gaps.entry(id_of(&device)?).or_default() += dropped;
            }
            for event in batch.events {
                let id = id_of(event.device())?;
                events.push(event.into_event(id));
            }
        }
        let mut device_ids: Vec<i64> = agent.devices.values().copied().collect();
        device_ids.sort_unstable();
        let (reply, _) = oneshot::channel();
        Ok(Forwarded {
            events,
            gaps: gaps.into_iter().collect(),
            agent: name.to_owned(),
            mark: AgentMark {
                agent: name.to_owned(),
                spool_id: info.spool_id,
                seq,
            },
            devices: device_ids,
            reply,
        })
    }
}

fn raise(current: &mut i64, to: i64) -> bool {
    if to > *current {
        *current = to;
        true
    } else {
        false
    }
}

fn hello<'a>(name: &'a str, upload: &'a AgentUpload) -> AgentHello<'a> {
    AgentHello {
        name,
        host: &upload.agent.host,
        version: &upload.agent.version,
        spool_id: &upload.agent.spool_id,
        spooled_events: upload.agent.spooled_events,
    }
}

/// Rejects what cannot be stored before anything is: a bad name, batches
/// out of order, a device name the dashboard could not show.
fn check_upload(name: &str, upload: &AgentUpload) -> Result<(), IntakeError> {
    let bad = |m: String| Err(IntakeError::BadUpload(m));
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return bad("an agent name is 1 to 64 printable characters".into());
    }
    if upload.agent.spool_id.is_empty() || upload.agent.spool_id.len() > 64 {
        return bad("spool_id must be 1 to 64 characters".into());
    }
    if upload.batches.windows(2).any(|w| w[0].seq >= w[1].seq)
        || upload.batches.iter().any(|b| b.seq <= 0)
    {
        return bad("batch numbers must be positive and increasing".into());
    }
    for device in &upload.devices {
        if device.name.trim().is_empty()
            || device.name.len() > 48
            || device.name.chars().any(char::is_control)
        {
            return bad(format!(
                "device name {:?} must be 1 to 48 printable characters",
                device.name
            ));
        }
    }
    Ok(())
}
