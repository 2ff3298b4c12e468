//! The heaplab child processes the soak benchmark measures: `heaplab
//! import` (wall time and peak RSS from the kernel's rusage) and `heaplab
//! serve` (its URL, and its RSS from `/proc`). Measuring separate processes
//! keeps the benchmark's own allocations (logs, HTTP bodies) out of the
//! figures, and is how the targets are meant.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::cli::CliError;

/// Variables that would point a child at another database, config, port or
/// device set than the benchmark's.
const HEAPLAB_ENV: [&str; 8] = [
    "HEAPLAB_DB",
    "HEAPLAB_CONFIG",
    "HEAPLAB_BIND",
    "HEAPLAB_DEVICES",
    "HEAPLAB_AUTH_TOKEN",
    "HEAPLAB_AUTH_READ",
    "HEAPLAB_BODY_LIMIT_MB",
    "HEAPLAB_LOG",
];

/// One `heaplab import` child.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportRun {
    pub path: String,
    pub run_id: i64,
    pub lines: i64,
    pub snapshots: i64,
    pub secs: f64,
    pub lines_per_s: f64,
    /// `ru_maxrss` of the child: its peak resident set, KB.
    pub peak_rss_kb: i64,
}

/// Runs `heaplab --db DB import PATH --json` and waits for it with
/// `wait4`, which hands back the child's own rusage (`getrusage` on
/// `RUSAGE_CHILDREN` would give the maximum over every child so far).
pub async fn import(exe: &Path, db: &Path, path: &Path) -> Result<ImportRun, CliError> {
    let exe = exe.to_owned();
    let db = db.to_owned();
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || import_blocking(&exe, &db, &path))
        .await
        .map_err(|e| CliError::Failed(format!("import child: {e}")))?
}

fn import_blocking(exe: &Path, db: &Path, path: &Path) -> Result<ImportRun, CliError> {
    use std::io::Read;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--db")
        .arg(db)
        .arg("import")
        .arg(path)
        .arg("--json");
    for var in HEAPLAB_ENV {
        cmd.env_remove(var);
    }
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out)?;
    }
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data, so zeroed is a valid value; `pid`
    // is our own child, not yet reaped (std's `Child` is never waited on
    // after this), and both pointers live for the whole call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = loop {
        // SAFETY: see above.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break r;
    };
    let secs = started.elapsed().as_secs_f64();
    if reaped != pid {
        return Err(CliError::Io(std::io::Error::last_os_error()));
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(CliError::Failed(format!(
            "heaplab import {} failed (wait status {status})",
            path.display()
        )));
    }
    let outcomes: serde_json::Value = serde_json::from_str(&out)
        .map_err(|e| CliError::Failed(format!("heaplab import printed no JSON: {e}")))?;
    let outcome = &outcomes[0];
    if outcome["already_imported"].as_bool() == Some(true) {
        return Err(CliError::Failed(format!(
            "{} was imported into {} before; its timing would be meaningless",
            path.display(),
            db.display()
        )));
    }
    let lines = outcome["lines"].as_i64().unwrap_or(0);
    Ok(ImportRun {
        path: path.display().to_string(),
        run_id: outcome["run_id"].as_i64().unwrap_or(0),
        lines,
        snapshots: outcome["snapshots"].as_i64().unwrap_or(0),
        secs,
        lines_per_s: lines as f64 / secs.max(1e-9),
        // Linux reports ru_maxrss in KB.
        peak_rss_kb: usage.ru_maxrss,
    })
}

/// A running `heaplab serve` child; killed when dropped (on error paths).
pub struct Server {
    child: tokio::process::Child,
    pub base: String,
    pub pid: u32,
}

/// Resident set of a process, KB, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Rss {
    pub rss_kb: i64,
    pub hwm_kb: i64,
}

impl Server {
    /// Starts `heaplab --db DB serve --bind 127.0.0.1:0 [--device …]` and
    /// reads the URL it prints (`heaplab serving on http://…`), so the
    /// kernel picks a free port. Its stderr (shutdown notes, slow-statement
    /// warnings) is appended to `log`, keeping the benchmark's output to
    /// the table.
    pub async fn start(
        exe: &Path,
        db: &Path,
        devices: &[String],
        log: &Path,
    ) -> Result<Server, CliError> {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.arg("--db")
            .arg(db)
            .args(["serve", "--bind", "127.0.0.1:0"]);
        for device in devices {
            cmd.arg("--device").arg(device);
        }
        for var in HEAPLAB_ENV {
            cmd.env_remove(var);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| CliError::Failed("heaplab serve exited at once".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| CliError::Failed("heaplab serve: no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .map_err(|_| CliError::Failed("heaplab serve printed no URL within 60 s".into()))??
            .ok_or_else(|| {
                CliError::Failed(format!(
                    "heaplab serve exited before serving (its stderr is in {})",
                    log.display()
                ))
            })?;
        let base = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .ok_or_else(|| CliError::Failed(format!("heaplab serve printed {first:?}, no URL")))?
            .to_owned();
        // Keep reading so a later line never meets a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server { child, base, pid })
    }

    pub fn rss(&self) -> Rss {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kb| kb.parse().ok())
                .unwrap_or(0)
        };
        Rss {
            rss_kb: field("VmRSS:"),
            hwm_kb: field("VmHWM:"),
        }
    }

    /// SIGTERM (an orderly shutdown, as a user's Ctrl-C), then a kill if it
    /// takes longer than 20 s.
    pub async fn stop(mut self) {
        if let Ok(pid) = i32::try_from(self.pid) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
