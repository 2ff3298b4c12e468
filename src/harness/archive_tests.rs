//! Real archives built in the test: bombs (a highly compressible
//! multi-hundred-MB entry, a header that lies about its size, a gzipped tar
//! stream), the total and entry-count limits, and the ordinary cases.

use std::io::{Cursor, Write};
use std::path::Path;

use super::*;

const MIB: usize = 1 << 20;

/// Writes an entry's contents.
type Fill<'a> = &'a dyn Fn(&mut dyn Write);

/// A zip whose entries are written by `fill` in chunks, so a 300 MB entry
/// never sits in memory whole.
fn zip_with(entries: &[(&str, Fill<'_>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    for (name, fill) in entries {
        zip.start_file(*name, options).expect("start entry");
        fill(&mut zip);
    }
    zip.finish().expect("finish zip").into_inner()
}

fn zeros(total: usize) -> impl Fn(&mut dyn Write) {
    move |w: &mut dyn Write| {
        let chunk = vec![0u8; MIB];
        for _ in 0..total / MIB {
            w.write_all(&chunk).expect("write chunk");
        }
    }
}

/// Bytes that deflate badly (a xorshift stream), so the ratio stays low.
fn noise(total: usize) -> impl Fn(&mut dyn Write) {
    move |w: &mut dyn Write| {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut chunk = vec![0u8; 64 * 1024];
        for _ in 0..total / chunk.len() {
            for b in chunk.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            w.write_all(&chunk).expect("write chunk");
        }
    }
}

/// Size of the largest file under `dir`.
fn largest_file(dir: &Path) -> u64 {
    let mut largest = 0;
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let meta = entry.metadata().expect("metadata");
        largest = largest.max(if meta.is_dir() {
            largest_file(&entry.path())
        } else {
            meta.len()
        });
    }
    largest
}

#[test]
fn a_zip_bomb_stops_at_the_ratio_limit() {
    // 400 MB of zeros deflate to about 400 KB: a ratio near 1000.
    let bomb = zip_with(&[("serial.log", &zeros(400 * MIB))]);
    assert!(bomb.len() < 2 * MIB, "the bomb is small: {}", bomb.len());
    let dir = tempfile::tempdir().expect("tempdir");
    let err = unpack_upload(&bomb, dir.path(), "bomb", &UnpackLimits::DEFAULT)
        .expect_err("a bomb is refused");
    assert!(
        matches!(&err, UnpackError::Ratio { entry, limit: 100 } if entry == "serial.log"),
        "{err}"
    );
    assert!(err.is_limit());
    // Written: at most the cap (100 × the compressed size), never 400 MB.
    let cap = MAX_RATIO * bomb.len() as u64 + 1;
    assert!(
        largest_file(dir.path()) <= cap,
        "{}",
        largest_file(dir.path())
    );
}

/// Rewrites the declared uncompressed size of the zip's only entry, in the
/// local header and in the central directory.
fn lie_about_size(zip: &mut [u8], declared: u32) {
    assert_eq!(&zip[..4], b"PK\x03\x04");
    zip[22..26].copy_from_slice(&declared.to_le_bytes());
    let central = zip
        .windows(4)
        .rposition(|w| w == b"PK\x01\x02")
        .expect("central directory entry");
    zip[central + 24..central + 28].copy_from_slice(&declared.to_le_bytes());
}

#[test]
fn an_entry_that_lies_about_its_size_is_measured_not_believed() {
    // Noise, so the ratio limit does not fire first: only the total can.
    let mut zip = zip_with(&[("mem.jsonl", &noise(8 * MIB))]);
    lie_about_size(&mut zip, 100);
    let limits = UnpackLimits {
        max_expanded: 3 * MIB as u64,
        ..UnpackLimits::DEFAULT
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let err =
        unpack_upload(&zip, dir.path(), "liar", &limits).expect_err("the real size is counted");
    assert!(
        matches!(err, UnpackError::TooLarge { limit } if limit == 3 * MIB as u64),
        "{err}"
    );
    assert!(largest_file(dir.path()) <= 3 * MIB as u64 + 1);
}

#[test]
fn a_zero_byte_claim_on_a_bomb_still_hits_the_ratio() {
    let mut zip = zip_with(&[("serial.log", &zeros(200 * MIB))]);
    lie_about_size(&mut zip, 0);
    let dir = tempfile::tempdir().expect("tempdir");
    let err = unpack_upload(&zip, dir.path(), "liar", &UnpackLimits::DEFAULT)
        .expect_err("a bomb is refused");
    assert!(matches!(err, UnpackError::Ratio { .. }), "{err}");
}

#[test]
fn the_total_counts_across_entries() {
    // Three 2 MiB entries, each fine alone, 6 MiB together.
    let zip = zip_with(&[
        ("a/serial.log", &noise(2 * MIB)),
        ("a/mem.jsonl", &noise(2 * MIB)),
        ("a/events.jsonl", &noise(2 * MIB)),
    ]);
    let limits = UnpackLimits {
        max_expanded: 5 * MIB as u64,
        ..UnpackLimits::DEFAULT
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let err = unpack_upload(&zip, dir.path(), "many", &limits).expect_err("over the total");
    assert!(matches!(err, UnpackError::TooLarge { .. }), "{err}");
    // Within the limit the same archive unpacks, descending into `a/`.
    let dir = tempfile::tempdir().expect("tempdir");
    let root = unpack_upload(&zip, dir.path(), "many", &UnpackLimits::DEFAULT).expect("unpacks");
    assert_eq!(root, dir.path().join("many").join("a"));
    assert_eq!(
        std::fs::metadata(root.join("mem.jsonl"))
            .expect("mem")
            .len(),
        2 * MIB as u64
    );
}

#[test]
fn a_gzipped_tar_bomb_stops_at_the_ratio_limit() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    {
        let mut tar = tar::Builder::new(&mut gz);
        let size = 300 * MIB as u64;
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_cksum();
        let reader = std::io::repeat(0).take(size);
        tar.append_data(&mut header, "serial.log", reader)
            .expect("append");
        tar.finish().expect("finish tar");
    }
    let body = gz.finish().expect("finish gzip");
    let dir = tempfile::tempdir().expect("tempdir");
    let err = unpack_upload(&body, dir.path(), "bomb", &UnpackLimits::DEFAULT)
        .expect_err("a bomb is refused");
    assert!(matches!(err, UnpackError::Ratio { .. }), "{err}");
    assert!(largest_file(dir.path()) <= MAX_RATIO * body.len() as u64 + 1);
}

#[test]
fn too_many_entries_are_refused() {
    let empty = |_: &mut dyn Write| {};
    let names: Vec<String> = (0..6).map(|i| format!("f{i}")).collect();
    let entries: Vec<(&str, Fill<'_>)> = names
        .iter()
        .map(|n| (n.as_str(), &empty as Fill<'_>))
        .collect();
    let zip = zip_with(&entries);
    let limits = UnpackLimits {
        max_entries: 5,
        ..UnpackLimits::DEFAULT
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let err = unpack_upload(&zip, dir.path(), "many", &limits).expect_err("too many");
    assert!(
        matches!(err, UnpackError::TooManyEntries { limit: 5 }),
        "{err}"
    );
}

#[test]
fn climbing_paths_are_skipped_and_plain_logs_kept() {
    let line = |w: &mut dyn Write| w.write_all(b"[Mem] hb hin=1\n").expect("write");
    let zip = zip_with(&[("../evil.log", &line), ("serial.log", &line)]);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = unpack_upload(&zip, dir.path(), "run", &UnpackLimits::DEFAULT).expect("unpacks");
    assert_eq!(root, dir.path().join("run"));
    assert!(root.join("serial.log").is_file());
    assert!(!dir.path().join("evil.log").exists());

    let log =
        unpack_upload(b"[Mem] hb\n", dir.path(), "bare", &UnpackLimits::DEFAULT).expect("bare log");
    assert_eq!(log, dir.path().join("bare.log"));
    let err = unpack_upload(b"PK\x03\x04junk", dir.path(), "bad", &UnpackLimits::DEFAULT)
        .expect_err("damaged zip");
    assert!(matches!(err, UnpackError::Format(_)) && !err.is_limit());
}

#[test]
fn small_entries_add_up_to_the_archive_ratio() {
    // Each entry is within the grace alone; together they expand far
    // beyond 100× the upload.
    let limits = UnpackLimits {
        ratio_grace: 4 * MIB as u64,
        ..UnpackLimits::DEFAULT
    };
    let names: Vec<String> = (0..40).map(|i| format!("f{i}.log")).collect();
    let fill = zeros(2 * MIB);
    let entries: Vec<(&str, Fill<'_>)> = names
        .iter()
        .map(|n| (n.as_str(), &fill as Fill<'_>))
        .collect();
    let zip = zip_with(&entries);
    let dir = tempfile::tempdir().expect("tempdir");
    let err = unpack_upload(&zip, dir.path(), "many", &limits).expect_err("refused");
    assert!(
        matches!(&err, UnpackError::Ratio { entry, .. } if entry == "the archive"),
        "{err}"
    );
}

/// Found by the `archive_import` fuzz target: an end record declaring
/// 32 770 entries on this disk (and 2 in total) made the zip reader reserve
/// 208 B for each before reading any. Declared counts are refused first.
#[test]
fn a_declared_entry_count_above_the_limit_is_refused_before_reading() {
    let line = |w: &mut dyn Write| w.write_all(b"x").expect("write");
    let mut zip = zip_with(&[("serial.log", &line)]);
    let eocd = zip
        .windows(4)
        .rposition(|w| w == b"PK\x05\x06")
        .expect("end record");
    assert_eq!(declared_entries(&zip), 1);
    zip[eocd + 8..eocd + 10].copy_from_slice(&[0x02, 0x80]);
    assert_eq!(declared_entries(&zip), 32770);
    let dir = tempfile::tempdir().expect("tempdir");
    let err = unpack_upload(&zip, dir.path(), "many", &UnpackLimits::DEFAULT).expect_err("refused");
    assert!(
        matches!(err, UnpackError::TooManyEntries { limit: 1000 }),
        "{err}"
    );
}
