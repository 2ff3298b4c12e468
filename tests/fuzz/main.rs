//! Fuzz targets for every input heaplab takes from outside: the serial line
//! parser, the health JSON, harness folders, zip and tar.gz import, the
//! experiments Markdown, scenario TOML and ELF uploads.
//!
//! A deterministic mutation fuzzer on the stable toolchain (cargo-fuzz needs
//! nightly): each target runs `HEAPLAB_FUZZ_CASES` cases (a small default
//! under plain `cargo test`), each checked for panics and for peak memory
//! above a bound linear in the input. See `docs/fuzzing.md` for the
//! ≥ 10^6-case command and the counts run.

mod alloc;
mod engine;
mod mutate;
mod targets {
    pub mod archive;
    pub mod elf;
    pub mod folder;
    pub mod health;
    pub mod markdown;
    pub mod scenario;
    pub mod serial;
}

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// A file under `tests/fixtures`.
pub fn fixture(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

#[test]
fn serial_line() {
    engine::fuzz(targets::serial::target());
}

#[test]
fn health_json() {
    engine::fuzz(targets::health::target());
}

#[test]
fn harness_folder() {
    engine::fuzz(targets::folder::target());
}

#[test]
fn archive_import() {
    engine::fuzz(targets::archive::target());
}

#[test]
fn experiments_markdown() {
    engine::fuzz(targets::markdown::target());
}

#[test]
fn scenario_toml() {
    engine::fuzz(targets::scenario::target());
}

#[test]
fn elf_upload() {
    engine::fuzz(targets::elf::target());
}

/// The allocation check can fail: a case that allocates far beyond its
/// input is caught.
#[test]
fn the_bound_catches_an_allocation_from_a_declared_size() {
    let mut target = engine::Target {
        name: "self_check",
        seeds: vec![b"9999999".to_vec()],
        dict: &[],
        generate: None,
        max_len: 16,
        bound: engine::AllocBound {
            base: 1024,
            per_byte: 64,
        },
        run: Box::new(|input| {
            let declared: usize = String::from_utf8_lossy(input).parse().unwrap_or(0);
            let v: Vec<u8> = Vec::with_capacity(declared.min(1 << 24));
            std::hint::black_box(v);
        }),
    };
    let dump = std::ffi::CString::new("/dev/null").expect("path");
    assert!(engine::check_one(&mut target, b"9999999", &dump).is_err());
    assert!(engine::check_one(&mut target, b"10", &dump).is_ok());
}

/// A panic inside a case is caught and reported, not lost.
#[test]
fn a_panicking_case_is_reported() {
    let mut target = engine::Target {
        name: "self_check_panic",
        seeds: vec![],
        dict: &[],
        generate: None,
        max_len: 16,
        bound: engine::AllocBound {
            base: 1 << 20,
            per_byte: 64,
        },
        run: Box::new(|input| assert!(input != b"boom", "boom")),
    };
    let dump = std::ffi::CString::new("/dev/null").expect("path");
    assert_eq!(
        engine::check_one(&mut target, b"boom", &dump),
        Err("panicked".to_owned())
    );
    assert!(engine::check_one(&mut target, b"fine", &dump).is_ok());
}
