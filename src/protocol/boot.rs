//! Boot and crash markers. A boot marker is a run boundary; a crash marker
//! is evidence for the run it ended.

use serde::{Deserialize, Serialize};

/// One of the lines a (re)booting ESP32 prints before the app starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "marker", rename_all = "snake_case")]
pub enum BootMarker {
    /// `ESP-ROM:esp32s3-20210327`
    RomBanner { rom: String },
    /// `rst:0xc (RTC_SW_CPU_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)`
    Reset {
        code: Option<i64>,
        reason: Option<String>,
        boot_mode: Option<String>,
    },
    /// `[System Boot] Starting...` from the app itself.
    SystemBoot,
}

impl BootMarker {
    /// Parses the text after `rst:`.
    pub(crate) fn parse_reset(rest: &str) -> Self {
        let (rst, boot) = rest.split_once(",boot:").unwrap_or((rest, ""));
        let code = rst
            .split_whitespace()
            .next()
            .and_then(|c| i64::from_str_radix(c.trim_start_matches("0x"), 16).ok());
        BootMarker::Reset {
            code,
            reason: parenthesised(rst),
            boot_mode: parenthesised(boot),
        }
    }
}

fn parenthesised(text: &str) -> Option<String> {
    let open = text.find('(')?;
    let close = text[open..].find(')')? + open;
    Some(text[open + 1..close].to_owned())
}

/// What kind of crash a marker line reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrashKind {
    GuruMeditation,
    Panic,
    StackCanary,
    Backtrace,
    Abort,
    Brownout,
}

impl CrashKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CrashKind::GuruMeditation => "guru_meditation",
            CrashKind::Panic => "panic",
            CrashKind::StackCanary => "stack_canary",
            CrashKind::Backtrace => "backtrace",
            CrashKind::Abort => "abort",
            CrashKind::Brownout => "brownout",
        }
    }
}

/// A crash marker line, with what it names: the task whose stack canary
/// fired, or the `PC:SP` pairs of a backtrace (decoded later against an ELF).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrashMarker {
    pub kind: CrashKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backtrace: Vec<(u32, u32)>,
}

impl CrashMarker {
    /// Recognises a crash marker anywhere in `text`. The IDF panic handler
    /// prints several on one line (`Guru Meditation Error: Core 1 panic'ed`),
    /// so the most specific kind wins.
    pub(crate) fn detect(text: &str) -> Option<Self> {
        let kind = if let Some(rest) = text.strip_prefix("Backtrace:") {
            return Some(CrashMarker {
                kind: CrashKind::Backtrace,
                task: None,
                backtrace: parse_backtrace(rest),
            });
        } else if let Some(at) = text.find("Stack canary watchpoint triggered") {
            let after = &text[at..];
            return Some(CrashMarker {
                kind: CrashKind::StackCanary,
                task: parenthesised(after),
                backtrace: Vec::new(),
            });
        } else if text.contains("Guru Meditation Error") {
            CrashKind::GuruMeditation
        } else if text.contains("panic'ed") {
            CrashKind::Panic
        } else if text.contains("abort() was called") {
            CrashKind::Abort
        } else if text.contains("Brownout detector was triggered") {
            CrashKind::Brownout
        } else {
            return None;
        };
        Some(CrashMarker {
            kind,
            task: None,
            backtrace: Vec::new(),
        })
    }
}

/// `0x4037a1b2:0x3fcebf30 0x4037a1c4:0x3fcebf50 |<-CORRUPTED`: PC:SP pairs;
/// anything that is not a pair (the corruption marker) is skipped.
fn parse_backtrace(rest: &str) -> Vec<(u32, u32)> {
    rest.split_ascii_whitespace()
        .filter_map(|pair| {
            let (pc, sp) = pair.split_once(':')?;
            let hex = |s: &str| {
                u32::from_str_radix(s.trim_start_matches("0x").trim_start_matches("0X"), 16).ok()
            };
            Some((hex(pc)?, hex(sp)?))
        })
        .collect()
}
