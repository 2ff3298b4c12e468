//! Whole lines from a twin's serial port (a real pty, read with
//! tokio-serial), for tests that wait for what the device prints.

use std::path::Path;
use std::time::{Duration, Instant};

use heaplab::protocol::{parse_line, LineKind, MemSnapshot};
use tokio::io::AsyncReadExt;
use tokio_serial::{SerialPortBuilderExt, SerialStream};

/// How long [`Lines::until`] waits by default.
pub const WAIT: Duration = Duration::from_secs(30);

pub fn open(path: &Path) -> SerialStream {
    tokio_serial::new(path.to_string_lossy(), 115_200)
        .open_native_async()
        .expect("open twin serial")
}

/// Reads whole lines from the twin's serial port.
pub struct Lines {
    port: SerialStream,
    buf: Vec<u8>,
}

impl Lines {
    pub fn new(port: SerialStream) -> Self {
        Lines {
            port,
            buf: Vec::new(),
        }
    }

    /// The next line (without its ending), or `None` at `deadline` or when
    /// the port goes away.
    pub async fn next(&mut self, deadline: Instant) -> Option<Vec<u8>> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                while matches!(line.last(), Some(b'\n' | b'\r')) {
                    line.pop();
                }
                return Some(line);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout(left, self.port.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.buf.extend_from_slice(&chunk[..n]),
                _ => return None,
            }
        }
    }

    /// Reads until `want` matches a line; returns every line read.
    pub async fn until(
        &mut self,
        what: &str,
        want: impl FnMut(&LineKind, &str) -> bool,
    ) -> Vec<String> {
        self.until_within(what, WAIT, want).await
    }

    /// [`until`](Self::until) with its own timeout.
    pub async fn until_within(
        &mut self,
        what: &str,
        timeout: Duration,
        mut want: impl FnMut(&LineKind, &str) -> bool,
    ) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let line = self
                .next(deadline)
                .await
                .unwrap_or_else(|| panic!("timed out waiting for {what}; read {seen:#?}"));
            let parsed = parse_line(&line);
            let text = parsed.text.to_string();
            let done = want(&parsed.kind, &text);
            seen.push(text);
            if done {
                return seen;
            }
        }
    }

    /// The next `n` heartbeat snapshots.
    pub async fn heartbeats(&mut self, n: usize) -> Vec<MemSnapshot> {
        let mut hbs = Vec::new();
        while hbs.len() < n {
            let lines = self
                .until(
                    "a heartbeat",
                    |k, _| matches!(k, LineKind::Snapshot(s) if s.tag == "hb"),
                )
                .await;
            let last = lines.last().expect("line");
            if let LineKind::Snapshot(s) = parse_line(last.as_bytes()).kind {
                hbs.push(s);
            }
        }
        hbs
    }
}
