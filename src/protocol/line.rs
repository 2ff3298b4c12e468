//! Framing and dispatch of one serial line.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{
    AllocFailure, BootMarker, CrashMarker, MemSnapshot, StackWatermark, TaskDumpHeader, TaskStack,
    Tripwire,
};

/// One serial line as the device printed it, with what it means.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceLine<'a> {
    /// The line without its line ending, invalid UTF-8 and NUL replaced. Borrowed
    /// when the input was valid UTF-8, so the common case does not allocate.
    pub text: Cow<'a, str>,
    /// Leading spaces: the firmware logger nests sections by 0–6 spaces.
    pub indent: usize,
    /// The logger's trailing ` (<N>ms)`, when present.
    pub elapsed_ms: Option<u64>,
    pub kind: LineKind,
}

/// What a serial line means. Lines that match nothing are `Unrecognized` and
/// are still stored: the raw log is the source of truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LineKind {
    Snapshot(MemSnapshot),
    Tripwire(Tripwire),
    TaskDump(TaskDumpHeader),
    Task(TaskStack),
    StackWatermark(StackWatermark),
    AllocFailed(AllocFailure),
    Boot(BootMarker),
    Firmware { version: String },
    GotIp { ip: String },
    Ready,
    Crash(CrashMarker),
    Unrecognized,
}

/// Parses one line of serial output. Never fails: whatever the bytes, the
/// result is a line (possibly `Unrecognized`). The line ending, if any, is
/// removed first.
pub fn parse_line(bytes: &[u8]) -> DeviceLine<'_> {
    let mut end = bytes.len();
    while end > 0 && matches!(bytes[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    let mut text = String::from_utf8_lossy(&bytes[..end]);
    // Boot ROM noise carries NUL bytes; SQLite's text functions and browsers
    // stop at them, so they become U+FFFD like any other undecodable byte.
    if text.contains('\0') {
        text = Cow::Owned(text.replace('\0', "\u{FFFD}"));
    }
    let body = text.trim_start();
    let indent = text.len() - body.len();
    let (body, elapsed_ms) = strip_elapsed(body.trim_end());
    let kind = classify(body);
    DeviceLine {
        text,
        indent,
        elapsed_ms,
        kind,
    }
}

/// Removes the logger's ` (<N>ms)` suffix and returns N.
fn strip_elapsed(body: &str) -> (&str, Option<u64>) {
    let Some(inner) = body.strip_suffix("ms)") else {
        return (body, None);
    };
    let Some(open) = inner.rfind('(') else {
        return (body, None);
    };
    match inner[open + 1..].parse() {
        Ok(ms) => (inner[..open].trim_end(), Some(ms)),
        Err(_) => (body, None),
    }
}

fn classify(body: &str) -> LineKind {
    if let Some(rest) = body.strip_prefix('[') {
        if let Some((module, message)) = rest.split_once(']') {
            if let Some(kind) = classify_module(module, message.trim_start()) {
                return kind;
            }
        }
    } else if let Some(rest) = body.strip_prefix("ESP-ROM:") {
        return LineKind::Boot(BootMarker::RomBanner {
            rom: rest.trim().to_owned(),
        });
    } else if let Some(rest) = body.strip_prefix("rst:") {
        return LineKind::Boot(BootMarker::parse_reset(rest));
    } else if let Some(rest) = body.strip_prefix("Firmware:") {
        return LineKind::Firmware {
            version: rest.trim().to_owned(),
        };
    }
    match CrashMarker::detect(body) {
        Some(crash) => LineKind::Crash(crash),
        None => LineKind::Unrecognized,
    }
}

/// Lines of the form `[<module>] <message>`.
fn classify_module(module: &str, message: &str) -> Option<LineKind> {
    Some(match module {
        "Mem" => {
            if let Some(rest) = message.strip_prefix("TRIPWIRE fired") {
                LineKind::Tripwire(Tripwire::parse(rest))
            } else if let Some(rest) = message.strip_prefix("Task dump (") {
                LineKind::TaskDump(TaskDumpHeader::parse(rest))
            } else if let Some(rest) = message.strip_prefix("ALLOC_FAILED") {
                LineKind::AllocFailed(AllocFailure::parse(rest))
            } else {
                LineKind::Snapshot(MemSnapshot::parse(message)?)
            }
        }
        "Task" => LineKind::Task(TaskStack::parse(message)),
        "System Boot" => LineKind::Boot(BootMarker::SystemBoot),
        _ => {
            if let Some(rest) = message.strip_prefix("Got IP:") {
                let ip = rest.split_whitespace().next().unwrap_or_default();
                LineKind::GotIp { ip: ip.to_owned() }
            } else if message == "Setup complete" {
                LineKind::Ready
            } else if let Some(rest) = message.strip_prefix("AsyncTCP stack watermark:") {
                LineKind::StackWatermark(StackWatermark::parse(rest))
            } else if let Some(rest) = message.strip_prefix("Firmware:") {
                LineKind::Firmware {
                    version: rest.trim().to_owned(),
                }
            } else {
                return None;
            }
        }
    })
}
