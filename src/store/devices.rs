//! Registered devices: the only hosts heaplab ever sends HTTP to.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::{now_us, Result, Store, StoreError};

/// A device as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct DeviceRecord {
    pub id: i64,
    pub name: String,
    pub serial_path: Option<String>,
    pub baud: i64,
    pub url: Option<String>,
    pub health_interval_s: i64,
    /// `user:pass` for the device's HTTP basic auth; never serialised.
    #[serde(skip)]
    pub auth: Option<String>,
    pub board: Option<String>,
    pub created_us: i64,
}

/// What a user sets when adding or editing a device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSpec {
    pub name: String,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default = "default_baud")]
    pub baud: i64,
    #[serde(default)]
    pub url: Option<String>,
    /// Seconds between `/api/health` polls (0: off); `"5s"`, `"1m"` too.
    #[serde(default = "default_health_interval", deserialize_with = "de_interval")]
    pub health_interval_s: i64,
    #[serde(default)]
    pub auth: Option<String>,
    #[serde(default)]
    pub board: Option<String>,
}

/// A device spec that cannot work, with the reason.
#[derive(Debug, thiserror::Error)]
#[error("device {name:?}: {message}")]
pub struct InvalidDevice {
    pub name: String,
    pub message: String,
}

impl DeviceSpec {
    /// Checks a spec from any source (file, flag, API) before it is stored,
    /// so a bad URL fails where it was typed, not at the first poll.
    pub fn validate(&self) -> std::result::Result<(), InvalidDevice> {
        let fail = |message: &str| InvalidDevice {
            name: self.name.clone(),
            message: message.to_owned(),
        };
        if self.name.trim().is_empty() || self.name.len() > 64 {
            return Err(fail("name must be 1 to 64 characters"));
        }
        if let Some(url) = &self.url {
            let parsed = reqwest::Url::parse(url).map_err(|e| fail(&format!("url: {e}")))?;
            if parsed.scheme() != "http" && parsed.scheme() != "https" {
                return Err(fail("url must be http:// or https://"));
            }
        }
        if self.health_interval_s < 0 {
            return Err(fail("health_interval_s must be 0 (off) or more"));
        }
        if self.baud <= 0 {
            return Err(fail("baud must be positive"));
        }
        if self.auth.as_deref().is_some_and(|a| !a.contains(':')) {
            return Err(fail("auth must be \"user:pass\""));
        }
        if self.serial.is_none() && self.url.is_none() {
            return Err(fail("needs a serial port, a url, or both"));
        }
        Ok(())
    }
}

pub const fn default_baud() -> i64 {
    115_200
}

pub const fn default_health_interval() -> i64 {
    5
}

/// A poll interval in seconds, as a number or with its unit (`"5s"`).
fn de_interval<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<i64, D::Error> {
    crate::units::duration::de_secs(d).map(|s| s as i64)
}

const DEVICE_COLUMNS: &str =
    "SELECT id, name, serial_path, baud, url, health_interval_s, auth, board, created_us FROM devices";

impl Store {
    pub async fn devices(&self) -> Result<Vec<DeviceRecord>> {
        Ok(with_pool!(self, |pool| sqlx::query_as(
            sqlx::AssertSqlSafe(format!("{DEVICE_COLUMNS} ORDER BY name"))
        )
        .fetch_all(pool)
        .await)?)
    }

    pub async fn device(&self, id: i64) -> Result<DeviceRecord> {
        with_pool!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{DEVICE_COLUMNS} WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await)?
        .ok_or(StoreError::NotFound {
            what: "device",
            id: id.to_string(),
        })
    }

    pub async fn device_by_name(&self, name: &str) -> Result<Option<DeviceRecord>> {
        Ok(with_pool!(self, |pool| sqlx::query_as(
            sqlx::AssertSqlSafe(format!("{DEVICE_COLUMNS} WHERE name = $1"))
        )
        .bind(name)
        .fetch_optional(pool)
        .await)?)
    }

    /// Inserts a device; a taken name is [`StoreError::Conflict`].
    pub async fn create_device(&self, spec: &DeviceSpec) -> Result<DeviceRecord> {
        let insert = format!("{INSERT_DEVICE} RETURNING id");
        let id: i64 = with_pool!(self, |pool| {
            let q = sqlx::query_scalar(sqlx::AssertSqlSafe(insert));
            bind_spec!(q, spec).bind(now_us()).fetch_one(pool).await
        })
        .map_err(|e| conflict(e, &spec.name))?;
        self.device(id).await
    }

    pub async fn update_device(&self, id: i64, spec: &DeviceSpec) -> Result<DeviceRecord> {
        let done = with_pool!(self, |pool| sqlx::query(
            "UPDATE devices SET name = $1, serial_path = $2, baud = $3, url = $4, \
             health_interval_s = $5, auth = $6, board = $7 WHERE id = $8",
        )
        .bind(&spec.name)
        .bind(&spec.serial)
        .bind(spec.baud)
        .bind(&spec.url)
        .bind(spec.health_interval_s)
        .bind(&spec.auth)
        .bind(&spec.board)
        .bind(id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
        .map_err(|e| conflict(e, &spec.name))?;
        if done == 0 {
            return Err(StoreError::NotFound {
                what: "device",
                id: id.to_string(),
            });
        }
        self.device(id).await
    }

    /// Creates the device or updates the one with the same name (configured
    /// devices are upserted at every start).
    /// One statement, so two servers starting at once cannot both insert.
    #[tracing::instrument(skip(self))]
    pub async fn upsert_device(&self, spec: &DeviceSpec) -> Result<DeviceRecord> {
        let upsert = format!(
            "{INSERT_DEVICE} ON CONFLICT(name) DO UPDATE SET serial_path = excluded.serial_path, \
             baud = excluded.baud, url = excluded.url, \
             health_interval_s = excluded.health_interval_s, auth = excluded.auth, \
             board = excluded.board RETURNING id"
        );
        let id: i64 = with_pool!(self, |pool| {
            let q = sqlx::query_scalar(sqlx::AssertSqlSafe(upsert));
            bind_spec!(q, spec).bind(now_us()).fetch_one(pool).await
        })?;
        self.device(id).await
    }

    /// Deletes the device; its runs are kept (their device becomes unknown).
    pub async fn delete_device(&self, id: i64) -> Result<()> {
        let done = with_pool!(self, |pool| sqlx::query(
            "DELETE FROM devices WHERE id = $1"
        )
        .bind(id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::NotFound {
                what: "device",
                id: id.to_string(),
            });
        }
        Ok(())
    }
}

const INSERT_DEVICE: &str = "INSERT INTO devices (name, serial_path, baud, url, \
     health_interval_s, auth, board, created_us) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)";

/// Binds a spec's seven columns in [`INSERT_DEVICE`]'s order (a macro: the
/// query's type differs per backend).
macro_rules! bind_spec {
    ($q:expr, $spec:expr) => {
        $q.bind(&$spec.name)
            .bind(&$spec.serial)
            .bind($spec.baud)
            .bind(&$spec.url)
            .bind($spec.health_interval_s)
            .bind(&$spec.auth)
            .bind(&$spec.board)
    };
}
use bind_spec;

fn conflict(e: sqlx::Error, name: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(format!("a device named {name:?} already exists"))
        }
        _ => StoreError::Sqlx(e),
    }
}
