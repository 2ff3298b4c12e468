//! `POST /api/v1/import`: a harness run folder as `.zip` or `.tar.gz`, or a
//! bare serial log. The upload is unpacked into a temp dir and imported like
//! a folder on disk.

use std::io::Cursor;
use std::path::{Component, Path, PathBuf};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use crate::recorder::{import_path, ImportOptions, ImportOutcome};
use crate::web::error::{WebError, WebResult};
use crate::web::state::AppState;

pub fn router(body_limit: usize) -> Router<AppState> {
    Router::new()
        .route("/api/v1/import", post(import))
        .layer(DefaultBodyLimit::max(body_limit))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    /// File or folder name, used as the run's label (and, for
    /// `YYYYmmdd_HHMMSS_<scenario>`, its start and scenario).
    name: Option<String>,
    /// Device the run belongs to.
    device: Option<i64>,
}

#[tracing::instrument(skip(state, body), fields(bytes = body.len()))]
async fn import(
    State(state): State<AppState>,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> WebResult<(StatusCode, Json<ImportOutcome>)> {
    if body.is_empty() {
        return Err(WebError::BadRequest("empty upload".into()));
    }
    if let Some(device) = q.device {
        state.store.device(device).await?;
    }
    let name = sanitize_name(q.name.as_deref().unwrap_or("upload"));
    let dir = tempfile::tempdir()?;
    let root = dir.path().to_owned();
    let target = tokio::task::spawn_blocking(move || unpack(&body, &root, &name)).await??;
    let options = ImportOptions {
        device_id: q.device,
        progress: None,
    };
    let mut outcome = import_path(&state.store, &target, &options).await?;
    outcome.path = PathBuf::from(target.file_name().unwrap_or_default());
    let status = if outcome.already_imported {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(outcome)))
}

/// A name safe to use as one path component.
fn sanitize_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("upload");
    let base = base
        .trim_end_matches(".zip")
        .trim_end_matches(".tar.gz")
        .trim_end_matches(".tgz");
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match clean.trim_matches('.') {
        "" => "upload".into(),
        s => s.into(),
    }
}

/// Writes the upload under `root` and returns what to import: the folder
/// holding the artifacts, or the serial log file.
fn unpack(body: &[u8], root: &Path, name: &str) -> WebResult<PathBuf> {
    let bad =
        |e: &dyn std::fmt::Display| WebError::BadRequest(format!("cannot unpack upload: {e}"));
    let folder = root.join(name);
    if body.starts_with(b"PK\x03\x04") {
        let mut archive = zip::ZipArchive::new(Cursor::new(body)).map_err(|e| bad(&e))?;
        std::fs::create_dir_all(&folder).map_err(|e| bad(&e))?;
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).map_err(|e| bad(&e))?;
            let Some(rel) = entry.enclosed_name() else {
                continue;
            };
            write_entry(&folder, &rel, entry.is_dir(), &mut entry).map_err(|e| bad(&e))?;
        }
    } else if body.starts_with(&[0x1f, 0x8b]) {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(body));
        std::fs::create_dir_all(&folder).map_err(|e| bad(&e))?;
        for entry in archive.entries().map_err(|e| bad(&e))? {
            let mut entry = entry.map_err(|e| bad(&e))?;
            let rel = entry.path().map_err(|e| bad(&e))?.into_owned();
            let is_dir = entry.header().entry_type().is_dir();
            if !entry.header().entry_type().is_file() && !is_dir {
                continue;
            }
            write_entry(&folder, &rel, is_dir, &mut entry).map_err(|e| bad(&e))?;
        }
    } else {
        let file = root.join(if name.ends_with(".log") {
            name.to_owned()
        } else {
            format!("{name}.log")
        });
        std::fs::write(&file, body).map_err(|e| bad(&e))?;
        return Ok(file);
    }
    Ok(artifact_root(&folder))
}

/// Writes one archive entry, refusing paths that climb out of `folder`.
fn write_entry(
    folder: &Path,
    rel: &Path,
    is_dir: bool,
    reader: &mut impl std::io::Read,
) -> std::io::Result<()> {
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Ok(());
    }
    let path = folder.join(rel);
    if is_dir {
        return std::fs::create_dir_all(path);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut out = std::fs::File::create(path)?;
    std::io::copy(reader, &mut out)?;
    Ok(())
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
