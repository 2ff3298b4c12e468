//! Every command the tool suggests works as printed: a "try:" line, an
//! error's way out, an empty list's next step, a page's `<code>` hint.
//! The hints are collected from the source (backticked `heaplab …` in
//! string literals) and the templates (`<code>heaplab …</code>`), so a new
//! hint is checked without anyone listing it; each is run by the real
//! binary against a temp database, and `heaplab sim`'s "try:" line is run
//! against the twin it describes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::helpers::*;

/// Hints that carry values only known when printed (`{}` in the format
/// string); each has its own test below.
const DYNAMIC: &[&str] = &["heaplab serve --device name={},serial={},url={}"];

fn files_under(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files_under(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// Source text with comments dropped and string continuations (`\` at a
/// line's end) joined, as the string is printed.
fn printed_text(source: &str) -> String {
    let mut out = String::new();
    let mut joining = false;
    for line in source.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        let line = if joining { trimmed } else { line };
        match line.strip_suffix('\\') {
            Some(head) => {
                out.push_str(head);
                joining = true;
            }
            None => {
                out.push_str(line);
                out.push('\n');
                joining = false;
            }
        }
    }
    out
}

/// `(where, command)` of every hint.
fn hints() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    let mut sources = Vec::new();
    files_under(&root.join("src"), "rs", &mut sources);
    for path in sources {
        let text = printed_text(&std::fs::read_to_string(&path).expect("source"));
        for piece in text.split("`heaplab ").skip(1) {
            let command = piece.split('`').next().unwrap_or_default();
            found.push((
                path.display().to_string(),
                format!("heaplab {}", command.trim()),
            ));
        }
    }
    let mut templates = Vec::new();
    files_under(&root.join("templates"), "html", &mut templates);
    for path in templates {
        let text = std::fs::read_to_string(&path).expect("template");
        for piece in text.split("<code>heaplab ").skip(1) {
            let command = piece.split("</code>").next().unwrap_or_default();
            found.push((
                path.display().to_string(),
                format!("heaplab {}", command.trim()),
            ));
        }
    }
    found
}

/// The command lines a hint stands for: placeholders filled with real
/// things, `a|b|c` alternatives each tried.
fn expand(hint: &str, db: &Path, n: usize) -> Vec<Vec<String>> {
    let mut lines: Vec<Vec<String>> = vec![Vec::new()];
    for word in hint.split_whitespace().skip(1) {
        let choices: Vec<String> = match word {
            "DB" => vec![db.display().to_string()],
            "NAME" => vec![format!("hint-token-{n}")],
            "PATH" => vec![fixture(CRASH_LOG).display().to_string()],
            "PLAN.md" => vec![fixture("experiments/plan-tables.md").display().to_string()],
            w if w.contains('|') => w.split('|').map(str::to_owned).collect(),
            w => {
                assert!(
                    !w.chars().any(|c| c.is_ascii_uppercase()) || w.starts_with("--"),
                    "hint {hint:?}: unknown placeholder {w:?}; teach this test what it stands for"
                );
                vec![w.to_owned()]
            }
        };
        lines = lines
            .into_iter()
            .flat_map(|line| {
                choices.iter().map(move |c| {
                    let mut l = line.clone();
                    l.push(c.clone());
                    l
                })
            })
            .collect();
    }
    // Alternatives of one token make the token names unique per line.
    for (i, line) in lines.iter_mut().enumerate() {
        for w in line.iter_mut() {
            if w.starts_with("hint-token-") {
                *w = format!("{w}-{i}");
            }
        }
    }
    lines
}

fn heaplab(args: &[String], db: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_heaplab"));
    if !args.iter().any(|a| a == "--db") {
        cmd.arg("--db").arg(db);
    }
    cmd.args(args).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("HEAPLAB_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Waits for a line of `child`'s stdout containing `marker`; every line
/// read is returned.
fn read_until(child: &mut Child, marker: &str, timeout: Duration) -> Vec<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + timeout;
    let mut seen = Vec::new();
    while std::time::Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let done = line.contains(marker);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("exited with {status} before {marker:?}; printed {seen:?}");
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.kill();
    panic!("no {marker:?} within {timeout:?}; printed {seen:?}");
}

/// A server command (`serve`, `demo`) is accepted when it gets to serving.
fn runs_until_serving(mut cmd: Command, marker: &str) {
    cmd.args(["--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("spawn heaplab");
    read_until(&mut child, marker, Duration::from_secs(60));
    child.kill().expect("stop the server");
    let _ = child.wait();
}

#[test]
fn every_printed_hint_is_a_command_that_works() {
    let hints = hints();
    let commands: Vec<&str> = hints.iter().map(|(_, h)| h.as_str()).collect();
    // The collector finds the hints we know of (so it is not finding nothing).
    for known in [
        "heaplab demo",
        "heaplab import PATH",
        "heaplab experiments import PLAN.md",
        "heaplab retention run",
        "heaplab token create NAME --scope read|write|ingest",
        "heaplab --db DB token create admin --scope write",
    ] {
        assert!(
            commands.contains(&known),
            "{known:?} not among {commands:?}"
        );
    }
    let dir = tempfile::tempdir().expect("tmp");
    let mut ran = 0;
    for (n, (source, hint)) in hints.iter().enumerate() {
        if hint.contains('{') {
            assert!(
                DYNAMIC.contains(&hint.as_str()),
                "{source}: {hint:?} is filled in when printed; give it a test like sim_try_line_serves_the_twin"
            );
            continue;
        }
        for args in expand(hint, &dir.path().join(format!("hint-{n}.db")), n) {
            let db = dir.path().join(format!("hint-{n}.db"));
            let cmd = heaplab(&args, &db, dir.path());
            match args.first().map(String::as_str) {
                Some("serve") => runs_until_serving(cmd, "heaplab serving on"),
                Some("demo") => runs_until_serving(cmd, "heaplab demo: open"),
                _ => {
                    let mut cmd = cmd;
                    let out = cmd.output().expect("run heaplab");
                    assert!(
                        out.status.success(),
                        "{source}: `{hint}` as `heaplab {}` failed ({}): {}{}",
                        args.join(" "),
                        out.status,
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
            ran += 1;
        }
    }
    assert!(ran >= 8, "ran only {ran} hint commands");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_try_line_serves_the_twin() {
    let dir = tempfile::tempdir().expect("tmp");
    // `--hb-interval` takes a unit like every other duration.
    let mut sim = Command::new(env!("CARGO_BIN_EXE_heaplab"))
        .args(["sim", "--name", "hinted", "--hb-interval", "200ms"])
        .arg("--link")
        .arg(dir.path().join("tty-hinted"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn sim");
    let lines = read_until(&mut sim, "try:", Duration::from_secs(30));
    let try_line = lines.last().expect("the try line");
    let command = try_line
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no backticked command in {try_line:?}"));
    let args: Vec<String> = command
        .split_whitespace()
        .skip(1)
        .map(str::to_owned)
        .collect();
    assert_eq!(args.first().map(String::as_str), Some("serve"), "{command}");

    let db = dir.path().join("hinted.db");
    let mut serve = heaplab(&args, &db, dir.path());
    serve
        .args(["--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut server = serve.spawn().expect("spawn serve");
    let lines = read_until(&mut server, "heaplab serving on", Duration::from_secs(60));
    let url = lines
        .last()
        .and_then(|l| l.split_whitespace().find(|w| w.starts_with("http://")))
        .expect("the server's URL")
        .to_owned();
    // The twin the hint names is registered and streams heartbeats.
    let snapshot = eventually(
        "the hinted twin's heartbeats",
        Duration::from_secs(30),
        || {
            let url = url.clone();
            async move {
                let devices = reqwest::get(format!("{url}/api/v1/devices"))
                    .await
                    .ok()?
                    .json::<serde_json::Value>()
                    .await
                    .ok()?;
                let twin = devices
                    .as_array()?
                    .iter()
                    .find(|d| d["name"] == "hinted")?
                    .clone();
                (!twin["live"]["last_snapshot"].is_null()).then_some(twin)
            }
        },
    )
    .await;
    assert_eq!(snapshot["name"], "hinted");
    server.kill().expect("stop serve");
    let _ = server.wait();
    sim.kill().expect("stop sim");
    let _ = sim.wait();
}
