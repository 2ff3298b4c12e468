//! Zip and tar.gz import: `unpack_upload` on mutated archives of the
//! harness fixture and on generated ones (random entry names, traversal
//! attempts, directories, stored and deflated entries, lying sizes), under
//! the server's default limits.

use std::io::{Cursor, Write};

use heaplab::harness::{unpack_upload, UnpackLimits};

use crate::engine::{AllocBound, Target};
use crate::mutate::Rng;

const DICT: &[&[u8]] = &[
    b"PK\x03\x04",
    b"PK\x01\x02",
    b"PK\x05\x06",
    b"PK\x06\x06",
    b"PK\x06\x07",
    b"\xff\xff\xff\xff",
    b"../",
    b"/etc/",
    b"\x1f\x8b\x08",
];

const NAMES: &[&str] = &[
    "serial.log",
    "mem.jsonl",
    "summary.json",
    "run/serial.log",
    "run/",
    "../escape.log",
    "/abs.log",
    "a/../../b",
    "C:\\x",
    "dir/",
    "",
    "serial.log/x",
];

pub fn target() -> Target {
    let dir = crate::fixture("harness/20260109_150318_s4");
    let files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .map(|e| {
            let path = e.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("read fixture"))
        })
        .collect();
    let wrapped: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(n, d)| (format!("20260109_150318_s4/{n}"), d.clone()))
        .collect();
    let seeds = vec![
        zip_of(&files, zip::CompressionMethod::Deflated),
        zip_of(&files, zip::CompressionMethod::Stored),
        zip_of(&wrapped, zip::CompressionMethod::Deflated),
        tar_gz_of(&files),
    ];
    let work = tempfile::tempdir().expect("tempdir");
    Target {
        name: "archive_import",
        seeds,
        dict: DICT,
        generate: Some(generate),
        max_len: 256 * 1024,
        // The zip reader keeps each entry's name, extra fields and comment
        // (the central directory, ≤ the input) plus fixed decoder buffers
        // (deflate's ~64 KiB window and tables per entry). It also reserves
        // 208 B per *declared* entry, clamped by the zip crate to the
        // directory's offset: unpack refuses more than 1000 declared
        // entries first, so that is ≤ 208 KB and fits the base.
        bound: AllocBound {
            base: 1 << 20,
            per_byte: 32,
        },
        run: Box::new(move |input| {
            let root = tempfile::tempdir_in(work.path()).expect("case dir");
            let _ = unpack_upload(input, root.path(), "upload", &UnpackLimits::DEFAULT);
        }),
    }
}

fn zip_of(files: &[(String, Vec<u8>)], method: zip::CompressionMethod) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, data) in files {
        // Names the writer refuses (duplicates, empty) are left out.
        if name.ends_with('/') {
            let _ = zip.add_directory(name.as_str(), options);
        } else if zip.start_file(name.as_str(), options).is_ok() {
            zip.write_all(data).expect("write entry");
        }
    }
    zip.finish().expect("finish zip").into_inner()
}

fn tar_gz_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        // `append_data` refuses `..`; a raw path in the header does not.
        if header.set_path(name).is_err() {
            continue;
        }
        header.set_cksum();
        tar.append(&header, data.as_slice()).expect("tar entry");
    }
    tar.into_inner()
        .expect("finish tar")
        .finish()
        .expect("finish gzip")
}

/// A fresh archive: a few entries with names from [`NAMES`] and contents
/// that compress well (repeats) or not (noise).
fn generate(rng: &mut Rng) -> Vec<u8> {
    let files: Vec<(String, Vec<u8>)> = (0..1 + rng.below(6))
        .map(|_| {
            let name = rng.pick(NAMES).to_string();
            let len = rng.below(64 * 1024);
            let data = if rng.chance(2) {
                vec![rng.next() as u8; len]
            } else {
                (0..len).map(|_| rng.next() as u8).collect()
            };
            (name, data)
        })
        .collect();
    match rng.below(3) {
        0 => zip_of(&files, zip::CompressionMethod::Stored),
        1 => zip_of(&files, zip::CompressionMethod::Deflated),
        _ => tar_gz_of(&files),
    }
}
