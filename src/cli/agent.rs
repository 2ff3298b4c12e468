//! `heaplab agent`: runs until Ctrl-C or SIGTERM, then spools what the
//! sources still had and makes one last attempt to send it.

use std::process::ExitCode;

use super::CliError;
use crate::config::{AgentArgs, AgentConfig, Settings};

pub async fn run(args: &AgentArgs, settings: Settings) -> Result<ExitCode, CliError> {
    let config = AgentConfig::resolve(args, settings)?;
    let devices = config.devices.len();
    let line = format!(
        "heaplab agent {} forwarding {} device{} to {} (spool {}, at most {} MB)",
        config.name,
        devices,
        if devices == 1 { "" } else { "s" },
        config.server,
        config.spool.display(),
        config.spool_max_bytes / (1024 * 1024),
    );
    let handle = crate::agent::start(config).await?;
    println!("{line}");
    let backlog = handle.spool_stats();
    if backlog.events > 0 {
        println!(
            "{} events from an earlier run are in the spool; sending them first",
            backlog.events
        );
    }
    let token = handle.shutdown_token();
    tokio::spawn(async move {
        super::serve::wait_for_signal().await;
        eprintln!("stopping: spooling what the sources had…");
        token.cancel();
    });
    handle.wait().await;
    Ok(ExitCode::SUCCESS)
}
