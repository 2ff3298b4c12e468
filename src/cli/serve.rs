//! `heaplab serve` and `heaplab demo`: run the server until Ctrl-C or
//! SIGTERM, then shut down in order (nothing buffered is lost).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::{CliError, DemoArgs};
use crate::config::{ServeArgs, ServerConfig, Settings};
use crate::report;
use crate::server::{self, ServerHandle};
use crate::sim::{Profile, Twin, TwinConfig};
use crate::store::{DeviceSpec, Store};

pub async fn serve(args: &ServeArgs, settings: Settings) -> Result<ExitCode, CliError> {
    let config = ServerConfig::resolve(args, settings)?;
    let devices = config.devices.len();
    let db_path = config.db.clone();
    summarise_old_runs(&db_path).await?;
    let handle = server::start(config).await?;
    announce_first_token(&handle);
    println!(
        "heaplab serving on {} (database {}, {} configured device{})",
        handle.url(),
        db_path.display(),
        devices,
        if devices == 1 { "" } else { "s" }
    );
    run_until_signal(handle).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn demo(args: &DemoArgs, settings: Settings) -> Result<ExitCode, CliError> {
    let mut config = ServerConfig::resolve(&args.serve, settings)?;
    let link_dir = std::env::temp_dir().join(format!("heaplab-demo-{}", std::process::id()));
    std::fs::create_dir_all(&link_dir)
        .map_err(|e| CliError::Failed(format!("{}: {e}", link_dir.display())))?;
    let mut twins = Vec::new();
    for (i, profile) in [Profile::Baseline, Profile::Tuned, Profile::Leak]
        .into_iter()
        .enumerate()
    {
        let name = format!("demo-{}", profile.name());
        let mut twin_config = TwinConfig::new(&name, profile);
        twin_config.hb_interval = Duration::from_millis(args.hb_interval);
        twin_config.seed = 1 + i as u64;
        twin_config.link = Some(link_dir.join(&name));
        let twin = Twin::spawn(twin_config).await?;
        config.devices.retain(|d| d.name != name);
        config.devices.push(DeviceSpec {
            name,
            serial: Some(twin.serial_path().display().to_string()),
            baud: 115_200,
            url: Some(twin.base_url()),
            health_interval_s: 5,
            auth: None,
            board: Some(format!("virtual ESP32-S3, {} profile", profile.name())),
        });
        twins.push(twin);
    }
    let db_path: PathBuf = config.db.clone();
    summarise_old_runs(&db_path).await?;
    let handle = server::start(config).await?;
    announce_first_token(&handle);
    println!(
        "heaplab demo: open {} (3 virtual devices; database {})",
        handle.url(),
        db_path.display()
    );
    println!("press Ctrl-C to stop");
    let result = run_until_signal(handle).await;
    for twin in twins {
        twin.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&link_dir);
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Gives every run recorded before run summaries existed (or in an older
/// summary format) its summary before serving, so the first page view of a
/// week-long run is not the one that pays for it. Progress on a terminal.
async fn summarise_old_runs(db: &std::path::Path) -> Result<(), CliError> {
    let store = Store::open(db).await?;
    let tty = std::io::stderr().is_terminal();
    let progress = move |done: usize, total: usize| {
        if tty {
            eprint!("\rsummarising runs recorded before this version: {done} / {total}");
            if done == total {
                eprintln!();
            }
        }
    };
    let n = report::backfill_summaries(&store, &progress).await?;
    if n > 0 {
        tracing::info!(runs = n, "summarised runs recorded before this version");
    }
    store.close().await;
    Ok(())
}

/// Serves until Ctrl-C or SIGTERM, then stops in order.
async fn run_until_signal(handle: ServerHandle) -> Result<(), CliError> {
    let token = handle.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("shutting down: flushing recordings…");
        token.cancel();
    });
    handle.wait().await?;
    Ok(())
}

pub(super) async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Shows the secret `--first-token` made; it is never shown again.
fn announce_first_token(handle: &ServerHandle) {
    if let Some(secret) = &handle.first_token {
        eprintln!(
            "created the first access token, `admin` (write). Its secret is shown only now:\n\n    {secret}\n\n\
             Sign in at {}/login with it; scripts send `Authorization: Bearer <secret>`.\n\
             More tokens: `heaplab token create NAME --scope read|write|ingest`.",
            handle.url()
        );
    }
}
