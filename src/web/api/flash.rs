//! `POST /api/v1/devices/{id}/flash`: an OTA update of a device started
//! here, for a device of this server or one plugged into an agent (then
//! the agent carries out the upload and the `/api/info` polls, through the
//! relay). The server checks the files first (400 with the reason, nothing
//! uploaded or stored), uploads, waits for the new version on the serial
//! lines it records (or `/api/info`), and records the build and ELF; the
//! answer comes when that is done or has failed. The work runs in its own
//! task, so a client that gives up does not cut a flash short.

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::routing::post;
use axum::{Json, Router};

use crate::flash::{FileBytes, Firmware, FlashOutcome, LineFeed, Progress, Target, Watch};
use crate::soak::symbolize::ELF_LIMIT_BYTES;
use crate::web::error::{WebError, WebResult};
use crate::web::state::AppState;

/// The image (an app slot is a few MB; the relay takes up to 16 MB) and
/// an ELF as large as `PUT /api/v1/firmware/{version}/elf` takes.
const FLASH_BODY_LIMIT: usize = 16 * 1024 * 1024 + ELF_LIMIT_BYTES;
const DEFAULT_TIMEOUT_S: u64 = 60;
const MAX_TIMEOUT_S: u64 = 600;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/devices/{id}/flash",
        post(flash).layer(DefaultBodyLimit::max(FLASH_BODY_LIMIT)),
    )
}

/// The form's fields.
#[derive(Default)]
struct FlashForm {
    image: Option<FileBytes>,
    elf: Option<FileBytes>,
    expect_version: Option<String>,
    timeout_s: Option<u64>,
}

fn bad(message: impl Into<String>) -> WebError {
    WebError::BadRequest(message.into())
}

async fn read_form(mut multipart: Multipart) -> WebResult<FlashForm> {
    let mut form = FlashForm::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(format!("reading the form: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let data = field
            .bytes()
            .await
            .map_err(|e| bad(format!("reading field {name:?}: {e}")))?;
        let text = || String::from_utf8_lossy(&data).trim().to_owned();
        match name.as_str() {
            // A browser sends an empty part for a file input left empty.
            "image" | "elf" if data.is_empty() => {}
            "image" | "elf" => {
                let file = FileBytes {
                    name: filename.filter(|f| !f.is_empty()).unwrap_or(name.clone()),
                    bytes: data.to_vec(),
                };
                if name == "image" {
                    form.image = Some(file);
                } else {
                    form.elf = Some(file);
                }
            }
            "expect_version" => form.expect_version = Some(text()).filter(|v| !v.is_empty()),
            "timeout_s" if text().is_empty() => {}
            "timeout_s" => {
                let t = text();
                let s = t
                    .parse::<u64>()
                    .ok()
                    .filter(|s| (1..=MAX_TIMEOUT_S).contains(s))
                    .ok_or_else(|| {
                        bad(format!(
                            "timeout_s {t:?} must be 1 to {MAX_TIMEOUT_S} seconds"
                        ))
                    })?;
                form.timeout_s = Some(s);
            }
            other => {
                return Err(bad(format!(
                    "unknown field {other:?}: the form takes image, elf, expect_version, timeout_s"
                )))
            }
        }
    }
    Ok(form)
}

#[tracing::instrument(skip(state, multipart))]
async fn flash(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    multipart: Multipart,
) -> WebResult<Json<FlashOutcome>> {
    let device = state.store.device(id).await?;
    let form = read_form(multipart).await?;
    let image = form
        .image
        .ok_or_else(|| bad("the form needs `image`: the app image (firmware.bin)"))?;
    let (elf, expect) = (form.elf, form.expect_version);
    let firmware =
        tokio::task::spawn_blocking(move || Firmware::check(image, elf, expect.as_deref()))
            .await??;
    let flashing = state.flashes.begin(device.id, &device.name)?;
    let client = crate::web::api::agents::http_for_device(&state, id).await?;
    // Listen before uploading: the new boot's lines come right after.
    let serial = state.hub.device(id).is_some_and(|d| d.serial_online);
    let watch = if serial {
        Watch::Serial(LineFeed::hub(&state.hub, id))
    } else {
        Watch::Info
    };
    let timeout = Duration::from_secs(form.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S));
    let store = state.store.clone();
    let outcome = tokio::spawn(async move {
        let _flashing = flashing;
        let target = Target {
            store: &store,
            device: &device,
            client: &client,
        };
        crate::flash::flash(target, &firmware, watch, timeout, Progress::none()).await
    })
    .await??;
    Ok(Json(outcome))
}
