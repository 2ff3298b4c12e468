//! Firmware builds flashed onto devices (`heaplab flash`): the device's
//! history of versions with the ELF SHA-256 each was built from.

use serde::Serialize;
use sqlx::FromRow;

use super::{normalize_version, now_us, Result, Store};

/// What `heaplab flash` records after the device came back with the
/// new version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFirmwareBuild {
    pub device_id: i64,
    pub version: String,
    pub project_name: String,
    /// Hex, from the image's `esp_app_desc_t`.
    pub elf_sha256: String,
    /// Hex SHA-256 of the uploaded `.bin`.
    pub image_sha256: String,
    pub image_size: i64,
    /// The matching ELF was stored in `firmware_elves` for this version.
    pub elf_attached: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct FirmwareBuildRecord {
    pub id: i64,
    pub device_id: i64,
    pub version: String,
    pub project_name: String,
    pub elf_sha256: String,
    pub image_sha256: String,
    pub image_size: i64,
    pub elf_attached: bool,
    pub flashed_us: i64,
}

impl Store {
    #[tracing::instrument(skip(self))]
    pub async fn record_firmware_build(&self, build: &NewFirmwareBuild) -> Result<i64> {
        let id = with_pool!(self, |pool| sqlx::query_scalar(
            "INSERT INTO firmware_builds (device_id, version, project_name, elf_sha256, \
             image_sha256, image_size, elf_attached, flashed_us) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) \
             RETURNING id",
        )
        .bind(build.device_id)
        .bind(normalize_version(&build.version))
        .bind(&build.project_name)
        .bind(&build.elf_sha256)
        .bind(&build.image_sha256)
        .bind(build.image_size)
        .bind(build.elf_attached)
        .bind(now_us())
        .fetch_one(pool)
        .await)?;
        Ok(id)
    }

    /// The device's flashed builds, newest first.
    #[tracing::instrument(skip(self))]
    pub async fn firmware_builds(&self, device_id: i64) -> Result<Vec<FirmwareBuildRecord>> {
        Ok(with_pool!(self, |pool| sqlx::query_as(
            "SELECT id, device_id, version, project_name, elf_sha256, image_sha256, image_size, \
             elf_attached, flashed_us FROM firmware_builds WHERE device_id = $1 \
             ORDER BY flashed_us DESC, id DESC",
        )
        .bind(device_id)
        .fetch_all(pool)
        .await)?)
    }
}
