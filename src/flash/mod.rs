//! An OTA update of one device, the same wherever it is started: `heaplab
//! flash` on the desk the board is plugged into, or the central server
//! (`POST /api/v1/devices/{id}/flash`) for a board plugged into an agent.
//! Only the HTTP client (the server's own, or the relay whose requests the
//! device's agent carries out) and where the serial lines come from (the
//! port itself, or the live hub the server records into) differ; the checks
//! before, the upload, the wait for the new version and what is recorded
//! after are these functions, so both paths refuse and record alike.

mod confirm;
mod firmware;
mod guard;
mod multipart;
mod upload;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use confirm::{on_serial, LineFeed, Watch};
pub use firmware::{FileBytes, Firmware};
pub use guard::{Flashing, InProgress};
pub use multipart::{Form, Progress};

use crate::protocol::app_image::ImageError;
use crate::store::{DeviceRecord, NewFirmwareBuild, Store, StoreError};

/// Why a flash did not happen or was not confirmed. The first group is the
/// input's fault (nothing was uploaded), the second the device's.
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    #[error("{file}: {source}; nothing was uploaded")]
    BadImage {
        file: String,
        #[source]
        source: ImageError,
    },
    #[error("{file} is not the ELF this image was built from (SHA-256 {found}, the image names {named}); nothing was uploaded")]
    ElfMismatch {
        file: String,
        found: String,
        named: String,
    },
    #[error("firmware version {0:?} must be 1 to 64 of A-Z a-z 0-9 . _ + - (pass --expect-version / expect_version); nothing was uploaded")]
    BadVersion(String),
    #[error("device {0:?} has no url to upload to")]
    NoUrl(String),
    #[error("device {0:?} is being flashed already")]
    Busy(String),
    #[error("the device refused the image: {status} {message}")]
    Refused { status: u16, message: String },
    #[error("cannot reach {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("uploading to {url}: {detail}")]
    Upload { url: String, detail: String },
    #[error("the device rebooted into v{seen}, not v{want} (rolled back?)")]
    RolledBack { seen: String, want: String },
    #[error("no boot into v{0} seen on serial in time")]
    NotSeenOnSerial(String),
    #[error("the serial port closed before the new version was seen")]
    SerialClosed,
    #[error("the device did not report v{0} in time")]
    NotReported(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FlashError {
    /// The input was refused before anything was sent to the device.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            FlashError::BadImage { .. }
                | FlashError::ElfMismatch { .. }
                | FlashError::BadVersion(_)
                | FlashError::NoUrl(_)
        )
    }
}

/// What a successful flash did (also the endpoint's JSON answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlashOutcome {
    pub device: String,
    pub version: String,
    pub elf_sha256: String,
    pub elf_attached: bool,
    pub build_id: i64,
    /// `serial` or `/api/info`.
    pub confirmed_by: String,
}

/// Where the image goes: the device, through `client`.
pub struct Target<'a> {
    pub store: &'a Store,
    pub device: &'a DeviceRecord,
    pub client: &'a reqwest::Client,
}

/// Uploads `firmware`, waits up to `timeout` for the device to come back
/// with its version (on `watch`), then records the build and stores the
/// ELF. Nothing is recorded unless the new version was seen.
pub async fn flash(
    target: Target<'_>,
    firmware: &Firmware,
    watch: Watch,
    timeout: Duration,
    progress: Progress,
) -> Result<FlashOutcome, FlashError> {
    let device = target.device;
    let url = device
        .url
        .as_deref()
        .ok_or_else(|| FlashError::NoUrl(device.name.clone()))?;
    let auth = device.auth.as_deref();
    upload::upload(target.client, url, auth, &firmware.image, progress).await?;
    let deadline = Instant::now() + timeout;
    let confirmed_by = watch
        .confirm(target.client, url, auth, &firmware.version, deadline)
        .await?;
    let build_id = record(target.store, device.id, firmware).await?;
    Ok(FlashOutcome {
        device: device.name.clone(),
        version: firmware.version.clone(),
        elf_sha256: firmware.elf_sha256.clone(),
        elf_attached: firmware.elf.is_some(),
        build_id,
        confirmed_by: confirmed_by.to_owned(),
    })
}

/// The build for the device, and its ELF under the version the boot log
/// prints, so the next crash on it decodes with no upload step.
pub async fn record(store: &Store, device_id: i64, firmware: &Firmware) -> Result<i64, StoreError> {
    if let Some(elf) = &firmware.elf {
        store.put_firmware_elf(&firmware.version, elf).await?;
    }
    store
        .record_firmware_build(&NewFirmwareBuild {
            device_id,
            version: firmware.version.clone(),
            project_name: firmware.project_name.clone(),
            elf_sha256: firmware.elf_sha256.clone(),
            image_sha256: firmware.image_sha256.clone(),
            image_size: firmware.image.len() as i64,
            elf_attached: firmware.elf.is_some(),
        })
        .await
}
