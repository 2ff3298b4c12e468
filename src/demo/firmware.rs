//! The crash firmware's debug image: the `crash` twin's panic backtrace
//! ([`crate::sim::PANIC_BACKTRACE`]) placed on the real functions of
//! `firmware/src` that make up the S6 stack overflow, so the run page
//! decodes it to names, files and lines a firmware developer can open.
//!
//! The table names each frame's function, file and lines once; a test
//! reads the files and checks that every line still says what the table
//! claims, so the demo cannot drift from the firmware it shows.

use super::elf::{write_elf, ElfFunction, ElfWriteError};
use crate::sim::{Profile, PANIC_BACKTRACE};

/// The compile directory the DWARF names: files decode as
/// `firmware/src/…`, the path in this repository.
pub const COMP_DIR: &str = "firmware";

/// One backtrace frame as it reads in `firmware/src`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceFrame {
    pub function: &'static str,
    /// Relative to [`COMP_DIR`].
    pub file: &'static str,
    /// Where the function's definition starts.
    pub decl_line: u32,
    /// The line the frame's PC is on: for every frame but the innermost,
    /// the call into the frame below.
    pub line: u32,
    /// Text that `line` holds.
    pub code: &'static str,
}

/// The frames of [`PANIC_BACKTRACE`], innermost first: checking one icon
/// against the running macro config, inside the icon GC (whose on-stack
/// keep-set overflowed async_tcp's stack in the crash build), called by the
/// `/api/icons/gc` handler.
pub const CRASH_FRAMES: [SourceFrame; 3] = [
    SourceFrame {
        function: "macro_config_uses_icon",
        file: "src/macro_config.cpp",
        decl_line: 177,
        line: 180,
        code: "strcmp(b.icon_id, icon_id)",
    },
    SourceFrame {
        function: "icon_store_gc",
        file: "src/icon_store.cpp",
        decl_line: 92,
        line: 110,
        code: "macro_config_uses_icon(macro_store_config(), id)",
    },
    SourceFrame {
        function: "handle_gc",
        file: "src/api_icons.cpp",
        decl_line: 46,
        line: 49,
        code: "icon_store_gc(&deleted, &bytes_freed)",
    },
];

/// Bytes of code before a frame's PC, and the function's size: room for
/// a prologue and the calls around it.
const BEFORE_PC: u32 = 0x36;
const FUNCTION_BYTES: u32 = 0x80;

/// The firmware version the ELF belongs to: what the `crash` twin's boot
/// log prints, so its runs find it.
pub fn crash_firmware_version() -> &'static str {
    Profile::Crash.firmware_version()
}

/// Each frame's function laid out around its backtrace PC.
pub fn crash_functions() -> Vec<ElfFunction> {
    PANIC_BACKTRACE
        .iter()
        .zip(CRASH_FRAMES)
        .map(|(&(pc, _sp), frame)| {
            let low_pc = (pc - BEFORE_PC) & !3;
            ElfFunction {
                name: frame.function.to_owned(),
                file: frame.file.to_owned(),
                low_pc,
                size: FUNCTION_BYTES,
                lines: vec![(low_pc, frame.decl_line), (pc, frame.line)],
            }
        })
        .collect()
}

/// The crash build's ELF, with DWARF line info for every backtrace frame.
pub fn crash_elf() -> Result<Vec<u8>, ElfWriteError> {
    write_elf(COMP_DIR, &crash_functions())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn source_line(file: &str, line: u32) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(COMP_DIR)
            .join(file);
        let text = std::fs::read_to_string(&path).expect("firmware source");
        text.lines()
            .nth(line as usize - 1)
            .unwrap_or_else(|| panic!("{} has no line {line}", path.display()))
            .to_owned()
    }

    #[test]
    fn every_frame_is_what_firmware_src_says_at_that_line() {
        assert_eq!(CRASH_FRAMES.len(), PANIC_BACKTRACE.len());
        for (i, f) in CRASH_FRAMES.iter().enumerate() {
            let decl = source_line(f.file, f.decl_line);
            assert!(
                decl.contains(&format!("{}(", f.function)) && decl.trim_end().ends_with('{'),
                "{}:{} should define {}: {decl:?}",
                f.file,
                f.decl_line,
                f.function
            );
            let at = source_line(f.file, f.line);
            assert!(at.contains(f.code), "{}:{} is {at:?}", f.file, f.line);
            // Every outer frame calls the frame inside it.
            if let Some(inner) = i.checked_sub(1).map(|j| CRASH_FRAMES[j]) {
                assert!(
                    at.contains(&format!("{}(", inner.function)),
                    "{}:{} should call {}: {at:?}",
                    f.file,
                    f.line,
                    inner.function
                );
            }
            assert!(f.line > f.decl_line);
        }
    }

    #[test]
    fn the_twins_backtrace_decodes_to_those_frames() {
        let elf = crash_elf().expect("elf");
        let pcs: Vec<u32> = PANIC_BACKTRACE.iter().map(|p| p.0).collect();
        let frames = crate::soak::symbolize::symbolize(&elf, &pcs).expect("decode");
        assert_eq!(frames.len(), CRASH_FRAMES.len());
        for (frame, want) in frames.iter().zip(CRASH_FRAMES) {
            assert_eq!(frame.function.as_deref(), Some(want.function));
            assert_eq!(
                frame.file.as_deref(),
                Some(format!("{COMP_DIR}/{}", want.file).as_str())
            );
            assert_eq!(frame.line, Some(want.line));
            assert!(!frame.inlined);
        }
    }
}
