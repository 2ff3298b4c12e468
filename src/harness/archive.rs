//! Unpacking an uploaded run folder (`.zip` or `.tar.gz`) into a directory.
//!
//! The bytes come from the network, so nothing an archive says about itself
//! is trusted: every entry is read through a [`Guarded`] reader that counts
//! the bytes actually produced and stops at the limits below, whatever sizes
//! the headers declare. A zip bomb ends as [`UnpackError::TooLarge`] or
//! [`UnpackError::Ratio`] after at most the limit was written.

use std::io::{Cursor, Read, Write};
use std::path::{Component, Path, PathBuf};

/// Most bytes an upload may expand to in total. A week-long soak's serial
/// log is about 100 MB and its JSONL files less; 1 GiB leaves ten times that
/// while keeping a bomb from filling the server's temp disk.
pub const MAX_EXPANDED_BYTES: u64 = 1 << 30;

/// Most an entry may expand relative to its compressed size. Deflate gets
/// 5–20× on serial logs and JSONL (their numbers differ line to line); a
/// ratio above 100 is a bomb's signature (zeros deflate at about 1000×).
pub const MAX_RATIO: u64 = 100;

/// An entry may expand to this many bytes whatever its ratio: a small file of
/// repeated characters is not a bomb, and a ratio on a few bytes means nothing.
pub const RATIO_GRACE_BYTES: u64 = 1 << 20;

/// Most entries an upload may hold. A run folder has seven files; each entry
/// costs a file (an inode) on the server's temp disk.
pub const MAX_ENTRIES: usize = 1000;

/// The limits an upload is unpacked under; [`UnpackLimits::DEFAULT`] is what
/// the server uses, tests pass smaller ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    pub max_expanded: u64,
    pub max_ratio: u64,
    pub ratio_grace: u64,
    pub max_entries: usize,
}

impl UnpackLimits {
    pub const DEFAULT: UnpackLimits = UnpackLimits {
        max_expanded: MAX_EXPANDED_BYTES,
        max_ratio: MAX_RATIO,
        ratio_grace: RATIO_GRACE_BYTES,
        max_entries: MAX_ENTRIES,
    };

    /// Most bytes `compressed` bytes may expand to under the ratio limit.
    fn ratio_cap(&self, compressed: u64) -> u64 {
        compressed
            .saturating_mul(self.max_ratio)
            .max(self.ratio_grace)
    }
}

impl Default for UnpackLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("the archive expands to more than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("{entry} expands more than {limit}× its compressed size (a zip bomb?)")]
    Ratio { entry: String, limit: u64 },
    #[error("the archive holds more than {limit} entries")]
    TooManyEntries { limit: usize },
    #[error("not a readable archive: {0}")]
    Format(String),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl UnpackError {
    /// True for the limits (too large, ratio, entries), as opposed to a
    /// damaged archive or a write error.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            UnpackError::TooLarge { .. }
                | UnpackError::Ratio { .. }
                | UnpackError::TooManyEntries { .. }
        )
    }
}

/// Writes an upload under `root` and returns what to import: the folder
/// holding the artifacts (`root/<name>`, or its single subfolder), or, when
/// the body is no archive, the body itself as `root/<name>.log`. `name` must
/// already be one safe path component.
pub fn unpack_upload(
    body: &[u8],
    root: &Path,
    name: &str,
    limits: &UnpackLimits,
) -> Result<PathBuf, UnpackError> {
    let folder = root.join(name);
    if body.starts_with(b"PK\x03\x04") {
        create_dir(&folder)?;
        unpack_zip(body, &folder, limits)?;
    } else if body.starts_with(&[0x1f, 0x8b]) {
        create_dir(&folder)?;
        unpack_tar_gz(body, &folder, limits)?;
    } else {
        let file = root.join(if name.ends_with(".log") {
            name.to_owned()
        } else {
            format!("{name}.log")
        });
        std::fs::write(&file, body).map_err(|source| UnpackError::Io {
            path: file.clone(),
            source,
        })?;
        return Ok(file);
    }
    Ok(artifact_root(&folder))
}

fn create_dir(dir: &Path) -> Result<(), UnpackError> {
    std::fs::create_dir_all(dir).map_err(|source| UnpackError::Io {
        path: dir.to_owned(),
        source,
    })
}

fn unpack_zip(body: &[u8], folder: &Path, limits: &UnpackLimits) -> Result<(), UnpackError> {
    let format = |e: zip::result::ZipError| UnpackError::Format(e.to_string());
    if declared_entries(body) > limits.max_entries as u64 {
        return Err(UnpackError::TooManyEntries {
            limit: limits.max_entries,
        });
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(body)).map_err(format)?;
    if archive.len() > limits.max_entries {
        return Err(UnpackError::TooManyEntries {
            limit: limits.max_entries,
        });
    }
    let mut expanded = 0u64;
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(format)?;
        let Some(rel) = entry.enclosed_name() else {
            continue;
        };
        let label = rel.display().to_string();
        let is_dir = entry.is_dir();
        // The declared compressed size may lie too; the entry cannot hold
        // more compressed bytes than the whole upload.
        let compressed = entry.compressed_size().min(body.len() as u64);
        let mut guarded = Guarded::new(entry, expanded, limits, body.len(), compressed, label);
        write_entry(folder, &rel, is_dir, &mut guarded)?;
        expanded = guarded.total;
    }
    Ok(())
}

/// The largest entry count any end-of-central-directory record in the
/// zip's tail declares, on this disk or in total (zip64 ones through their
/// locators). The zip crate reserves room for the count on this disk
/// before reading an entry (208 B each, up to one per byte of the upload:
/// the fuzzer's `archive_import` target found 6.8 MB reserved for a 68 KB
/// upload declaring 32 770 entries on this disk and 2 in total), so the
/// counts are checked first.
fn declared_entries(body: &[u8]) -> u64 {
    const EOCD: &[u8] = b"PK\x05\x06";
    const LOCATOR: &[u8] = b"PK\x06\x07";
    const EOCD64: &[u8] = b"PK\x06\x06";
    // The record is 22 bytes plus a comment of at most 64 KiB.
    let tail = body.len().saturating_sub(22 + 0xFFFF);
    let le = |at: usize, n: usize| -> u64 {
        body.get(at..at + n).map_or(0, |b| {
            b.iter().rev().fold(0, |v, &x| (v << 8) | u64::from(x))
        })
    };
    let mut most = 0;
    for at in (tail..body.len()).filter(|&i| body[i..].starts_with(EOCD)) {
        most = most.max(le(at + 8, 2)).max(le(at + 10, 2));
    }
    for at in (tail..body.len()).filter(|&i| body[i..].starts_with(LOCATOR)) {
        let record = usize::try_from(le(at + 8, 8)).unwrap_or(usize::MAX);
        if body.get(record..).is_some_and(|r| r.starts_with(EOCD64)) {
            most = most.max(le(record + 24, 8)).max(le(record + 32, 8));
        }
    }
    most
}

fn unpack_tar_gz(body: &[u8], folder: &Path, limits: &UnpackLimits) -> Result<(), UnpackError> {
    // gzip compresses the tar stream as a whole, so its ratio is the
    // archive's: the stream is guarded as one entry.
    let gz = flate2::read::GzDecoder::new(body);
    let compressed = body.len() as u64;
    let mut guarded = Guarded::new(
        gz,
        0,
        limits,
        body.len(),
        compressed,
        "the tar stream".into(),
    );
    let result = unpack_tar(&mut guarded, folder, limits);
    match guarded.tripped.take() {
        Some(limit) => Err(limit),
        None => result,
    }
}

fn unpack_tar(reader: impl Read, folder: &Path, limits: &UnpackLimits) -> Result<(), UnpackError> {
    let format = |e: std::io::Error| UnpackError::Format(e.to_string());
    let mut archive = tar::Archive::new(reader);
    for (count, entry) in archive.entries().map_err(format)?.enumerate() {
        if count >= limits.max_entries {
            return Err(UnpackError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let mut entry = entry.map_err(format)?;
        let rel = entry.path().map_err(format)?.into_owned();
        let kind = entry.header().entry_type();
        if !kind.is_file() && !kind.is_dir() {
            continue;
        }
        write_entry(folder, &rel, kind.is_dir(), &mut entry)?;
    }
    Ok(())
}

/// Writes one archive entry, skipping paths that could climb out of
/// `folder` (absolute, `..`, drive prefixes).
fn write_entry(
    folder: &Path,
    rel: &Path,
    is_dir: bool,
    reader: &mut impl Read,
) -> Result<(), UnpackError> {
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Ok(());
    }
    let path = folder.join(rel);
    let io = |source| UnpackError::Io {
        path: path.clone(),
        source,
    };
    if is_dir {
        return std::fs::create_dir_all(&path).map_err(io);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut out = std::fs::File::create(&path).map_err(io)?;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(tripped_or(e)),
        };
        out.write_all(&buf[..n]).map_err(io)?;
    }
}

/// A read error is either a [`Guarded`] limit (carried inside the
/// `io::Error`) or a damaged archive.
fn tripped_or(e: std::io::Error) -> UnpackError {
    match e.downcast::<UnpackError>() {
        Ok(limit) => limit,
        Err(e) => UnpackError::Format(e.to_string()),
    }
}

/// A reader that counts the bytes it actually produces and fails once they
/// pass the entry's ratio cap or the archive's total: the only sizes it
/// believes are the ones it has seen.
struct Guarded<R> {
    inner: R,
    /// Bytes produced by earlier entries plus this one.
    total: u64,
    /// Bytes produced by this entry.
    produced: u64,
    ratio_cap: u64,
    /// The ratio cap of the whole upload: many entries each within their
    /// own cap (and the grace) may not add up to a bomb either.
    archive_cap: u64,
    limits: UnpackLimits,
    label: String,
    /// The limit hit, kept for callers whose reader is wrapped by a parser
    /// that may replace the error (tar).
    tripped: Option<UnpackError>,
}

impl<R: Read> Guarded<R> {
    fn new(
        inner: R,
        total: u64,
        limits: &UnpackLimits,
        upload_len: usize,
        compressed: u64,
        label: String,
    ) -> Self {
        Guarded {
            inner,
            total,
            produced: 0,
            ratio_cap: limits.ratio_cap(compressed),
            archive_cap: limits.ratio_cap(upload_len as u64),
            limits: *limits,
            label,
            tripped: None,
        }
    }

    fn limit_hit(&self) -> Option<UnpackError> {
        if self.total > self.limits.max_expanded {
            return Some(UnpackError::TooLarge {
                limit: self.limits.max_expanded,
            });
        }
        if self.total > self.archive_cap {
            return Some(UnpackError::Ratio {
                entry: "the archive".into(),
                limit: self.limits.max_ratio,
            });
        }
        (self.produced > self.ratio_cap).then(|| UnpackError::Ratio {
            entry: self.label.clone(),
            limit: self.limits.max_ratio,
        })
    }
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Never read past the nearer limit by more than one byte: that byte
        // is what proves the limit was passed.
        let room = (self.limits.max_expanded.min(self.archive_cap))
            .saturating_sub(self.total)
            .min(self.ratio_cap.saturating_sub(self.produced))
            .saturating_add(1);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.produced += n as u64;
        self.total += n as u64;
        if let Some(limit) = self.limit_hit() {
            let for_caller = std::io::Error::other(limit);
            self.tripped = self.limit_hit();
            return Err(for_caller);
        }
        Ok(n)
    }
}

/// Archives often wrap the run folder in one more folder: descend into a
/// single subfolder when the top level holds no artifacts.
fn artifact_root(folder: &Path) -> PathBuf {
    let has_artifacts = |p: &Path| {
        ["serial.log", "mem.jsonl", "summary.json"]
            .iter()
            .any(|f| p.join(f).is_file())
    };
    if has_artifacts(folder) {
        return folder.to_owned();
    }
    let subdirs: Vec<PathBuf> = std::fs::read_dir(folder)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    match subdirs.as_slice() {
        [only] if has_artifacts(only) => only.clone(),
        _ => folder.to_owned(),
    }
}

#[cfg(test)]
#[path = "archive_tests.rs"]
mod tests;
