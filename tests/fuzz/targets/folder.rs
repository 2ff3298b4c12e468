//! Harness run folders: the six artifact files, each mutated, written to a
//! temp folder and read with `ArtifactFolder::open`, then everything the
//! importer asks of it (start, scenario, corrupt lines, health lines and
//! their bodies as health samples).
//!
//! The input is the files' contents joined by [`SEP`]; part *i* becomes the
//! *i*-th file, missing parts are missing files, so mutations that delete
//! or insert the separator add, drop and merge files.

use std::path::Path;

use heaplab::harness::{ArtifactFolder, HealthLine, JsonlRow};
use heaplab::protocol::HealthSample;

use crate::engine::{AllocBound, Target};

const SEP: &[u8] = b"\n\0--file--\0\n";

const FILES: [&str; 6] = [
    "serial.log",
    "mem.jsonl",
    "events.jsonl",
    "tasks.jsonl",
    "health.jsonl",
    "summary.json",
];

const DICT: &[&[u8]] = &[
    SEP,
    b"{",
    b"}",
    b"\"ts\":",
    b"\"start_ts\":",
    b"\"end_ts\":",
    b"\"scenario_key\":",
    b"\"git\":{\"status_porcelain\":\" M x\"}",
    b"\"json\":{}",
    b"\"skipped\":true",
    b"\"latency_ms\":1e308",
    b"\"2026-01-09T15:03:18\"",
    b"\"+262143-12-31T23:59:59Z\"",
    b"\n",
];

pub fn target() -> Target {
    let dir = crate::fixture("harness/20260109_150318_s4");
    let parts: Vec<Vec<u8>> = FILES
        .iter()
        .map(|f| std::fs::read(dir.join(f)).expect("harness fixture file"))
        .collect();
    let seeds = vec![parts.join(SEP), parts[1..].join(SEP), parts[..2].join(SEP)];
    let work = tempfile::tempdir().expect("tempdir");
    let run_dir = work.path().join("20260109_150318_s4");
    std::fs::create_dir(&run_dir).expect("run dir");
    Target {
        name: "harness_folder",
        seeds,
        dict: DICT,
        generate: None,
        max_len: 256 * 1024,
        // Reading holds one row and its parsed JSON at a time (about 64 B
        // per byte at worst, see health_json; a row can be the whole input),
        // the rows' 256 KiB read buffer and the digest's 1 MiB one.
        bound: AllocBound {
            base: 2 << 20,
            per_byte: 64,
        },
        run: Box::new(move |input| {
            let _keep = &work;
            run(&run_dir, input)
        }),
    }
}

fn run(dir: &Path, input: &[u8]) {
    let mut parts = split(input, SEP);
    for name in FILES {
        let path = dir.join(name);
        match parts.next() {
            Some(content) => std::fs::write(&path, content).expect("write artifact"),
            None => match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("remove {}: {e}", path.display()),
            },
        }
    }
    let Ok(folder) = ArtifactFolder::open(dir) else {
        return;
    };
    let _ = (folder.start_us(), folder.scenario());
    let _ = folder.summary.as_ref().and_then(|s| s.git_dirty());
    for source in [&folder.mem, &folder.events, &folder.tasks, &folder.health]
        .into_iter()
        .flatten()
    {
        for row in source.rows().expect("the file was there a moment ago") {
            let JsonlRow::Object { row, .. } = row.expect("read") else {
                continue;
            };
            let body = HealthLine::from_row(&row).and_then(|poll| poll.body);
            if let Some(body) = body {
                let _ = HealthSample::from_json(body.as_bytes());
            }
        }
    }
}

/// Splits at every occurrence of `sep`.
fn split<'a>(input: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = Some(input);
    std::iter::from_fn(move || {
        let cur = rest?;
        match cur.windows(sep.len()).position(|w| w == sep) {
            Some(i) => {
                rest = Some(&cur[i + sep.len()..]);
                Some(&cur[..i])
            }
            None => {
                rest = None;
                Some(cur)
            }
        }
    })
}
