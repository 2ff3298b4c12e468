//! `POST /api/v1/import`: a harness run folder as `.zip` or `.tar.gz`, or a
//! bare serial log. The upload is unpacked into a temp dir and imported like
//! a folder on disk; unpacking and its zip-bomb limits are in
//! `harness::archive`.

use std::path::{Path, PathBuf};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use crate::harness::{unpack_upload, UnpackLimits};
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

/// Unpacks the upload under the default limits (see
/// [`crate::harness::UnpackLimits`]): a zip bomb or a damaged archive is the
/// client's error, a 400 that says which limit it passed.
fn unpack(body: &[u8], root: &Path, name: &str) -> WebResult<PathBuf> {
    unpack_upload(body, root, name, &UnpackLimits::DEFAULT)
        .map_err(|e| WebError::BadRequest(format!("cannot unpack upload: {e}")))
}
