//! Firmware ELFs, one per version, kept in the database so a copied `.db`
//! file carries the means to decode its own crashes.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{now_us, Result, Store, StoreError};

/// A firmware version's ELF as stored (without its bytes).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ElfInfo {
    pub version: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_us: i64,
}

/// The version as stored: trimmed, without a leading `v`, so `v1.5.0`
/// (the boot log) and `1.5.0` (a release tag) name the same firmware.
pub fn normalize_version(v: &str) -> String {
    let v = v.trim();
    v.strip_prefix(['v', 'V']).unwrap_or(v).to_owned()
}

impl Store {
    /// Stores (or replaces) the ELF for a firmware version.
    #[tracing::instrument(skip(self, data))]
    pub async fn put_firmware_elf(&self, version: &str, data: &[u8]) -> Result<ElfInfo> {
        let info = ElfInfo {
            version: normalize_version(version),
            size: data.len() as i64,
            sha256: format!("{:x}", Sha256::digest(data)),
            uploaded_us: now_us(),
        };
        with_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO firmware_elves (version, size, sha256, uploaded_us, data) VALUES ($1,$2,$3,$4,$5) \
             ON CONFLICT(version) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, \
             uploaded_us = excluded.uploaded_us, data = excluded.data",
        )
        .bind(&info.version)
        .bind(info.size)
        .bind(&info.sha256)
        .bind(info.uploaded_us)
        .bind(data)
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
        })?;
        Ok(info)
    }

    #[tracing::instrument(skip(self))]
    pub async fn firmware_elf(&self, version: &str) -> Result<Option<Vec<u8>>> {
        Ok(with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT data FROM firmware_elves WHERE version = $1"
        )
        .bind(normalize_version(version))
        .fetch_optional(pool)
        .await)?)
    }

    /// True when an ELF is stored for the version (without reading it).
    #[tracing::instrument(skip(self))]
    pub async fn has_firmware_elf(&self, version: &str) -> Result<bool> {
        let known: Option<i64> = with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT size FROM firmware_elves WHERE version = $1"
        )
        .bind(normalize_version(version))
        .fetch_optional(pool)
        .await)?;
        Ok(known.is_some())
    }

    #[tracing::instrument(skip(self))]
    pub async fn firmware_elves(&self) -> Result<Vec<ElfInfo>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT version, size, sha256, uploaded_us FROM firmware_elves ORDER BY uploaded_us DESC",
        )
        .fetch_all(pool)
        .await
        })?)
    }

    #[tracing::instrument(skip(self))]
    pub async fn delete_firmware_elf(&self, version: &str) -> Result<()> {
        let done = with_pool!(self, |pool| sqlx::query(
            "DELETE FROM firmware_elves WHERE version = $1"
        )
        .bind(normalize_version(version))
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::NotFound {
                what: "firmware ELF",
                id: version.to_owned(),
            });
        }
        Ok(())
    }
}
