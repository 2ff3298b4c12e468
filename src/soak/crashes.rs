//! A run's crashes with their backtraces decoded against the ELF uploaded
//! for the run's firmware version (`GET /api/v1/runs/{id}/crashes`).

use serde::Serialize;

use super::symbolize::{symbolize, Frame};
use super::timeline::backtrace_of;
use crate::store::{EventKind, Result, Store};

#[derive(Debug, Clone, Serialize)]
pub struct CrashEntry {
    pub seq: i64,
    pub line_no: Option<i64>,
    pub ts_us: i64,
    pub boot: i64,
    pub kind: String,
    pub message: String,
    pub task: Option<String>,
    pub backtrace: Vec<(u32, u32)>,
    /// Decoded frames, when the firmware's ELF is uploaded.
    pub frames: Vec<Frame>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunCrashes {
    pub run_id: i64,
    pub firmware_version: Option<String>,
    /// An ELF is stored for the run's firmware version.
    pub elf: bool,
    /// Why decoding failed, if it did.
    pub decode_error: Option<String>,
    pub crashes: Vec<CrashEntry>,
}

impl RunCrashes {
    pub async fn load(store: &Store, run_id: i64) -> Result<Self> {
        let run = store.run(run_id).await?;
        let events = store.events(run_id, &[EventKind::Crash]).await?;
        let mut crashes: Vec<CrashEntry> = events
            .iter()
            .map(|e| CrashEntry {
                seq: e.seq,
                line_no: e.line_no,
                ts_us: e.ts_us,
                boot: e.boot,
                kind: e.data["kind"].as_str().unwrap_or("crash").to_owned(),
                message: e.message.clone(),
                task: e.data["task"].as_str().map(str::to_owned),
                backtrace: backtrace_of(&e.data),
                frames: Vec::new(),
            })
            .collect();
        let version = run.firmware_version.clone();
        let elf = match &version {
            Some(v) if crashes.iter().any(|c| !c.backtrace.is_empty()) => {
                store.firmware_elf(v).await?
            }
            Some(v) => {
                let elf = store.has_firmware_elf(v).await?;
                return Ok(RunCrashes {
                    run_id,
                    firmware_version: version,
                    elf,
                    decode_error: None,
                    crashes,
                });
            }
            None => None,
        };
        let has_elf = elf.is_some();
        let mut decode_error = None;
        if let Some(elf) = elf {
            let wanted: Vec<Vec<u32>> = crashes
                .iter()
                .map(|c| c.backtrace.iter().map(|p| p.0).collect())
                .collect();
            let decoded = tokio::task::spawn_blocking(move || {
                wanted
                    .iter()
                    .map(|pcs| {
                        if pcs.is_empty() {
                            Ok(Vec::new())
                        } else {
                            symbolize(&elf, pcs)
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .await;
            match decoded {
                Ok(Ok(frames)) => {
                    for (c, f) in crashes.iter_mut().zip(frames) {
                        c.frames = f;
                    }
                }
                Ok(Err(e)) => decode_error = Some(e.to_string()),
                Err(e) => decode_error = Some(e.to_string()),
            }
        }
        Ok(RunCrashes {
            run_id,
            firmware_version: version,
            elf: has_elf,
            decode_error,
            crashes,
        })
    }
}
