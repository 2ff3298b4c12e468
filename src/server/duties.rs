//! The jobs exactly one server may run at a time: retention and alert
//! delivery (two servers would compact the same lines and post every alert
//! twice). A server runs them while it holds the leader lock
//! (`Store::try_lead`: always granted on SQLite, a PostgreSQL advisory
//! lock on a connection of its own when several servers share a database).
//! The others retry every second, so when the leader dies, and PostgreSQL
//! drops its connection and with it the lock, another takes over.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::recorder::LiveHub;
use crate::soak::config::SoakConfig;
use crate::store::{Leadership, Store};

/// How often a server that is not the leader tries to become it.
const RETRY: Duration = Duration::from_secs(1);

/// Runs the soak duties whenever this server leads, until `stop`.
pub(super) async fn run(
    soak: SoakConfig,
    store: Store,
    hub: LiveHub,
    http: reqwest::Client,
    stop: CancellationToken,
) {
    loop {
        let Some(mut leadership) = lead(&store, &stop).await else {
            return;
        };
        if store.is_shared() {
            tracing::info!("leader: this server runs retention and alert delivery");
        }
        hub.counters.leader.store(true, Ordering::Relaxed);
        let duties = stop.child_token();
        let tasks = crate::soak::spawn(
            &soak,
            store.clone(),
            hub.clone(),
            http.clone(),
            duties.clone(),
        );
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = leadership.lost() => {
                tracing::warn!("lost the leader lock; retention and alerts stop until it is regained");
            }
        }
        hub.counters.leader.store(false, Ordering::Relaxed);
        duties.cancel();
        for task in tasks {
            let _ = task.await;
        }
        drop(leadership);
        if stop.is_cancelled() {
            return;
        }
    }
}

/// Waits until this server holds the leader lock; `None` once `stop`.
async fn lead(store: &Store, stop: &CancellationToken) -> Option<Leadership> {
    let mut logged = false;
    loop {
        match store.try_lead().await {
            Ok(Some(leadership)) => return Some(leadership),
            Ok(None) if !logged => {
                tracing::info!("another server leads (retention, alerts); standing by");
                logged = true;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot reach the leader lock; retrying"),
        }
        tokio::select! {
            _ = stop.cancelled() => return None,
            _ = tokio::time::sleep(RETRY) => {}
        }
    }
}
