//! Compiles the firmware's portable heaptrace C core into a static library so
//! the device twin prints every serial line and `/api/health` body through
//! the very code that runs on the ESP32 (see `src/sim/ffi.rs`).

use std::path::{Path, PathBuf};

const HEAPTRACE_SRC: &str = "firmware/lib/heaptrace/src";
/// Reports `sizeof`/`offsetof` of the C structs so a unit test can prove the
/// Rust `#[repr(C)]` mirrors match the headers byte for byte.
const LAYOUT_PROBE: &str = "src/sim/layout_probe.c";

fn c_sources(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "c"))
        .collect();
    files.sort();
    files
}

fn main() {
    let src = Path::new(HEAPTRACE_SRC);
    println!("cargo:rerun-if-changed={HEAPTRACE_SRC}");
    println!("cargo:rerun-if-changed={LAYOUT_PROBE}");

    cc::Build::new()
        .files(c_sources(src))
        .include(src)
        .std("c99")
        .warnings(true)
        .extra_warnings(true)
        .compile("heaptrace");

    cc::Build::new()
        .file(LAYOUT_PROBE)
        .include(src)
        .std("c99")
        .warnings(true)
        .compile("heaptrace_layout_probe");
}
