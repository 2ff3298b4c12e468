//! `heaplab demo`: the whole story on one machine, no hardware. Five device
//! twins ([`twins`]) run the firmware's profiles; a schedule ([`schedule`])
//! runs S2, S4 and S6 as run groups on the plan's before (`baseline`) and
//! after (`tuned`) builds and S6 on the `crash` build, whose backtrace
//! decodes through a firmware ELF the demo writes itself ([`elf`],
//! [`firmware`]); the experiments log starts from a bundled example
//! ([`example_log`]) and an alert rule watches the `leak` board.
//!
//! Everything goes through the server's ordinary paths (sources, recorder,
//! scenario launcher, firmware ELF store, alert engine), so what the demo
//! shows is what a team with boards on their desks sees.

pub mod elf;
pub mod example_log;
pub mod firmware;
pub mod schedule;
pub mod twins;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::analysis::AcceptanceCriteria;
use crate::config::ServerConfig;
use crate::experiments::ExperimentError;
use crate::scenario::RunContext;
use crate::server::{self, ServeError, ServerHandle};
use crate::sim::{Profile, SimError};
use crate::soak::config::{AlertKind, AlertRule};
use crate::store::{DeviceRecord, StoreError};
use example_log::ExampleRows;
use schedule::{Announce, Boards, Schedule, ScheduleConfig};
use twins::{device_name, DemoTwins};

/// The `leak` board's internal RAM falls by 256 B a heartbeat (over
/// 100 KB/h at the default interval): far above this, so the rule fires
/// as soon as the leak estimate is sure.
const LEAK_ALERT_BYTES_PER_HOUR: f64 = 20_000.0;

/// How often the alert engine checks the leak rule in the demo: the first
/// alert should not wait the default 30 s.
const ALERT_CHECK_INTERVAL_S: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("device twin: {0}")]
    Twin(#[from] SimError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("example experiments log: {0}")]
    Experiments(#[from] ExperimentError),
    #[error("writing the crash firmware's ELF: {0}")]
    Elf(#[from] elf::ElfWriteError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("demo board {0} is not registered")]
    MissingBoard(String),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// What the demo's flags choose.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The twins' heartbeat interval.
    pub hb_interval: Duration,
    pub schedule: ScheduleConfig,
}

/// A running demo: the server, the twins and the schedule.
pub struct Demo {
    pub server: ServerHandle,
    twins: DemoTwins,
    schedule: JoinHandle<()>,
    link_dir: PathBuf,
}

impl Demo {
    /// Powers on the twins, starts the server with them as devices (and the
    /// demo's alert rules), stores the crash firmware's ELF, imports the
    /// example log and starts the schedule. `announce` hears what the
    /// schedule has made ready. On an error nothing is left running.
    pub async fn start(
        config: ServerConfig,
        options: DemoOptions,
        announce: Announce,
    ) -> Result<Demo, DemoError> {
        let link_dir = std::env::temp_dir().join(format!("heaplab-demo-{}", std::process::id()));
        std::fs::create_dir_all(&link_dir).map_err(|source| DemoError::Io {
            path: link_dir.clone(),
            source,
        })?;
        match Self::start_in(&link_dir, config, options, announce).await {
            Ok((server, twins, schedule)) => Ok(Demo {
                server,
                twins,
                schedule,
                link_dir,
            }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&link_dir);
                Err(e)
            }
        }
    }

    async fn start_in(
        link_dir: &Path,
        mut config: ServerConfig,
        options: DemoOptions,
        announce: Announce,
    ) -> Result<(ServerHandle, DemoTwins, JoinHandle<()>), DemoError> {
        let twins = DemoTwins::spawn(options.hb_interval, link_dir).await?;
        for spec in twins.device_specs() {
            config.devices.retain(|d| d.name != spec.name);
            config.devices.push(spec);
        }
        add_alert_rules(&mut config);
        let criteria = config.criteria.clone();
        let server = server::start(config).await?;
        let prepared = prepare(&server, &criteria).await;
        let (rows, boards) = match prepared {
            Ok(ready) => ready,
            Err(e) => {
                if let Err(stop) = server.stop().await {
                    tracing::warn!(error = %stop, "demo: stopping the server");
                }
                twins.shutdown().await;
                return Err(e);
            }
        };
        let http = crate::tls::client_builder()
            .user_agent(concat!("heaplab/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let schedule = Schedule {
            ctx: RunContext {
                store: server.store.clone(),
                recorder: server.recorder.clone(),
                http,
                criteria,
            },
            boards,
            rows,
            config: options.schedule,
            base_url: server.url(),
            announce,
        };
        let schedule = tokio::spawn(schedule.run(server.shutdown_token()));
        Ok((server, twins, schedule))
    }

    /// The twins' device names, in dashboard order.
    pub fn board_names() -> Vec<String> {
        twins::PROFILES.into_iter().map(device_name).collect()
    }

    /// Waits until the server is shut down (its token cancelled), then
    /// stops the schedule and the twins and removes the serial links.
    pub async fn wait(self) -> Result<(), DemoError> {
        let served = self.server.wait().await;
        self.schedule.abort();
        let _ = self.schedule.await;
        self.twins.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.link_dir);
        Ok(served?)
    }
}

/// What the schedule needs before its first round: the crash build's ELF
/// stored (so the first crash decodes), the example log in place, the
/// boards' records.
async fn prepare(
    server: &ServerHandle,
    criteria: &AcceptanceCriteria,
) -> Result<(ExampleRows, Boards), DemoError> {
    let store = &server.store;
    let elf = firmware::crash_elf()?;
    store
        .put_firmware_elf(firmware::crash_firmware_version(), &elf)
        .await?;
    let baseline = device_name(Profile::Baseline);
    let tuned = device_name(Profile::Tuned);
    let rows = example_log::seed(store, criteria, &baseline, &tuned).await?;
    let boards = Boards {
        baseline: board(server, &baseline).await?,
        tuned: board(server, &tuned).await?,
        crash: board(server, &device_name(Profile::Crash)).await?,
    };
    Ok((rows, boards))
}

async fn board(server: &ServerHandle, name: &str) -> Result<DeviceRecord, DemoError> {
    server
        .store
        .device_by_name(name)
        .await?
        .ok_or_else(|| DemoError::MissingBoard(name.to_owned()))
}

/// The demo's rules: the `leak` board's leak, and the `crash` board's
/// panics, unless the configuration already has a rule of that kind for
/// that board.
fn add_alert_rules(config: &mut ServerConfig) {
    let alerts = &mut config.soak.alerts;
    let wanted = [
        (
            "demo leak",
            AlertKind::LeakAbove,
            device_name(Profile::Leak),
        ),
        ("demo crash", AlertKind::Crash, device_name(Profile::Crash)),
    ];
    for (name, kind, device) in wanted {
        if alerts
            .rules
            .iter()
            .any(|r| r.kind == kind && r.applies_to(&device))
        {
            continue;
        }
        alerts.rules.push(AlertRule {
            name: Some(name.to_owned()),
            kind,
            bytes: None,
            bytes_per_hour: (kind == AlertKind::LeakAbove).then_some(LEAK_ALERT_BYTES_PER_HOUR),
            seconds: None,
            devices: Some(vec![device]),
            webhooks: Some(Vec::new()),
        });
    }
    alerts.check_interval_s = alerts.check_interval_s.min(ALERT_CHECK_INTERVAL_S);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_rules_join_the_configured_ones() {
        let mut config = crate::config::ServerConfig::resolve(
            &crate::config::ServeArgs::default(),
            crate::config::Settings::default(),
        )
        .expect("config");
        add_alert_rules(&mut config);
        add_alert_rules(&mut config);
        let rules = &config.soak.alerts.rules;
        assert_eq!(rules.len(), 2, "{rules:?}");
        assert!(rules
            .iter()
            .any(|r| r.kind == AlertKind::LeakAbove && r.applies_to("demo-leak")));
        assert!(config.soak.alerts.check_interval_s <= ALERT_CHECK_INTERVAL_S);
    }
}
