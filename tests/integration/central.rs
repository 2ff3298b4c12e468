//! A central server with a board plugged into an agent, both in this
//! process and talking real HTTP on loopback, the board a twin on a
//! pseudo-terminal: what the tests of work started centrally for an
//! agent's board (a scenario run, a flash) share.

use std::path::Path;
use std::time::Duration;

use heaplab::agent::AgentHandle;
use heaplab::config::AgentConfig;
use heaplab::server::ServerHandle;
use heaplab::sim::Twin;
use heaplab::store::{RunFilter, Store, TokenScope};

use crate::helpers::{eventually, server_config, start_server, twin_device, until_recording};

const WAIT: Duration = Duration::from_secs(60);

/// The agent's name and the host it reports.
pub const AGENT: &str = "desk-agent";
pub const AGENT_HOST: &str = "desk-7";

pub struct BoardBehindAgent {
    pub server: ServerHandle,
    pub agent: AgentHandle,
    /// A `write` token of the server (what a person or script would use).
    pub write: String,
    /// The board's id in the central store.
    pub device_id: i64,
}

impl BoardBehindAgent {
    /// `board` behind agent [`AGENT`] as device `name`, with no server of
    /// its own; returns once the server records the board's serial.
    pub async fn start(dir: &Path, board: &Twin, name: &str) -> BoardBehindAgent {
        let server = start_server(server_config(dir, Vec::new())).await;
        let (_, ingest) = server
            .store
            .create_token(AGENT, TokenScope::Ingest)
            .await
            .expect("token");
        let (_, write) = server
            .store
            .create_token("lead", TokenScope::Write)
            .await
            .expect("token");
        let mut device = twin_device(name, board);
        device.health_interval_s = 0;
        let agent = heaplab::agent::start(AgentConfig {
            server: server.url().parse().expect("url"),
            token: ingest,
            name: AGENT.into(),
            host: AGENT_HOST.into(),
            spool: dir.join("spool.db"),
            spool_max_bytes: 64 * 1024 * 1024,
            ca_file: None,
            devices: vec![device],
        })
        .await
        .expect("agent");
        let store = server.store.clone();
        let device_id = eventually("the board registered", WAIT, || async {
            Some(store.device_by_name(name).await.ok()??.id)
        })
        .await;
        until_recording(&server, device_id).await;
        BoardBehindAgent {
            server,
            agent,
            write,
            device_id,
        }
    }

    pub async fn stop(self) {
        self.agent.stop().await;
        self.server.stop().await.expect("stop");
    }
}

/// Every serial line stored for `device`, run after run: (time, text).
pub async fn stored_lines(store: &Store, device: &str) -> Vec<(i64, String)> {
    let Ok(Some(device)) = store.device_by_name(device).await else {
        return Vec::new();
    };
    let mut runs = store
        .runs(&RunFilter {
            device_id: Some(device.id),
            limit: Some(10_000),
            ..Default::default()
        })
        .await
        .expect("runs");
    runs.sort_by_key(|r| r.id);
    let mut lines = Vec::new();
    for run in runs {
        let page = store
            .serial_lines(run.id, 0, 10_000_000, None)
            .await
            .expect("lines");
        lines.extend(page.lines.into_iter().map(|l| (l.ts_us, l.text)));
    }
    lines
}
