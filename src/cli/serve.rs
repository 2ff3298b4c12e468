//! `heaplab serve` and `heaplab demo`: run the server until Ctrl-C or
//! SIGTERM, then shut down in order (nothing buffered is lost).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{CliError, DemoArgs};
use crate::config::{ServeArgs, ServerConfig, Settings};
use crate::demo::schedule::{Announce, ScheduleConfig};
use crate::demo::{Demo, DemoOptions};
use crate::server::{self, ServerHandle};
use crate::store::Store;
use crate::{report, units};

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
        crate::store::display_db(&db_path),
        devices,
        if devices == 1 { "" } else { "s" }
    );
    run_until_signal(handle).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn demo(args: &DemoArgs, settings: Settings) -> Result<ExitCode, CliError> {
    let config = ServerConfig::resolve(&args.serve, settings)?;
    let db_path: PathBuf = config.db.clone();
    summarise_old_runs(&db_path).await?;
    let options = DemoOptions {
        hb_interval: Duration::from_millis(args.hb_interval),
        schedule: ScheduleConfig {
            every: args.every,
            repeat: args.repeat,
            settle: args.settle,
        },
    };
    let announce: Announce = Arc::new(|line: &str| println!("  {line}"));
    let demo = Demo::start(config, options, announce).await?;
    // Before the banner: whoever reads it may stop the demo at once.
    watch_for_signal(demo.server.shutdown_token());
    announce_first_token(&demo.server);
    print_demo_banner(&demo.server.url(), &db_path, args);
    demo.wait().await?;
    Ok(ExitCode::SUCCESS)
}

/// What the demo is, where to look, how to stop: the first thing a new
/// user reads.
fn print_demo_banner(url: &str, db: &std::path::Path, args: &DemoArgs) {
    let boards = Demo::board_names().join(", ");
    let every = units::duration_us(args.every.as_micros() as i64);
    println!("heaplab demo: open {url}");
    println!("  5 virtual ESP32-S3 boards: {boards}");
    println!(
        "  every {every}: S2, S4 and S6 ×{} on demo-baseline and demo-tuned (run groups), S6 on demo-crash",
        args.repeat
    );
    println!("  what to look at (the first round is done within two minutes):");
    for (path, what) in [
        ("/", "every board live; demo-leak's floor keeps sinking"),
        (
            "/runs",
            "demo-baseline FAILs S2 (tripwire at http_root, task dump), demo-tuned PASSes",
        ),
        (
            "/compare",
            "the groups side by side: \"real change\" (links below when ready)",
        ),
        (
            "/experiments",
            "the bundled log (docs/examples/experiments.md), cells filled from the groups",
        ),
        (
            "/alerts",
            "demo-leak's leak alert, demo-crash's crash alert",
        ),
        (
            "/firmware",
            "the crash build's ELF: demo-crash's backtrace decodes to firmware/src",
        ),
    ] {
        println!("    {url}{path:<14} {what}");
    }
    println!(
        "  database {} (kept; the next demo adds to it)",
        db.display()
    );
    println!("press Ctrl-C to stop");
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
    watch_for_signal(handle.shutdown_token());
    handle.wait().await?;
    Ok(())
}

/// Cancels `token` (an orderly shutdown) on Ctrl-C or SIGTERM.
fn watch_for_signal(token: CancellationToken) {
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("shutting down: flushing recordings…");
        token.cancel();
    });
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
