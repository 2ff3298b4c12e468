//! Soak monitoring: what a tester who left boards running for days comes
//! back to. Leak slope ([`leak`]), the boot/crash timeline ([`timeline`]),
//! backtraces decoded against an uploaded ELF ([`symbolize`]), alerts to
//! webhooks ([`alerts`]) and retention for week-long runs ([`retention`]).
//! Documented in `docs/soak.md`.

pub mod alerts;
pub mod config;
pub mod crashes;
pub mod leak;
pub mod retention;
pub mod symbolize;
pub mod timeline;
pub mod views;

pub use crashes::RunCrashes;
pub use leak::{LeakEstimate, LeakPoint, SegmentLeak, Slope};
pub use timeline::{BootEntry, CrashRef, Timeline};

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::recorder::LiveHub;
use crate::store::Store;

/// Starts the soak background tasks: the alert engine (when rules are
/// configured) and the hourly retention pass (when a policy is). They stop
/// when `shutdown` is cancelled.
pub fn spawn(
    config: &config::SoakConfig,
    store: Store,
    hub: LiveHub,
    http: reqwest::Client,
    shutdown: CancellationToken,
) -> Vec<JoinHandle<()>> {
    let mut tasks = alerts::spawn(
        config.alerts.clone(),
        store.clone(),
        hub,
        http,
        shutdown.clone(),
    );
    if let Some(policy) = config.retention.clone() {
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(policy.interval_s));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => match retention::apply(&store, &policy).await {
                        Ok(r) => tracing::info!(?r, "retention applied"),
                        Err(e) => tracing::error!(error = %e, "retention failed"),
                    },
                }
            }
        }));
    }
    tasks
}
