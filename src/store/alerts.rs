//! Alert history: every alert that fired and what became of its delivery.

use serde::Serialize;

use super::{Result, Store};

/// What became of an alert's delivery. Stored as lowercase text; a CHECK
/// constraint on `alerts.delivery` keeps the column to these values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "TEXT", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum AlertDelivery {
    /// Queued for at least one webhook.
    Pending,
    Delivered,
    Failed,
    /// The webhook's queue was full.
    Dropped,
    /// De-duplicated against an earlier alert.
    Suppressed,
    /// No webhook is configured for the rule.
    None,
}

impl AlertDelivery {
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertDelivery::Pending => "pending",
            AlertDelivery::Delivered => "delivered",
            AlertDelivery::Failed => "failed",
            AlertDelivery::Dropped => "dropped",
            AlertDelivery::Suppressed => "suppressed",
            AlertDelivery::None => "none",
        }
    }
}

/// One recorded alert.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AlertRecord {
    pub id: i64,
    pub ts_us: i64,
    pub rule: String,
    pub kind: String,
    pub device_id: Option<i64>,
    pub device_name: Option<String>,
    pub run_id: Option<i64>,
    pub text: String,
    pub delivery: AlertDelivery,
    pub attempts: i64,
    pub detail: Option<String>,
}

/// An alert about to be recorded.
#[derive(Debug, Clone)]
pub struct NewAlert<'a> {
    pub ts_us: i64,
    pub rule: &'a str,
    pub kind: &'a str,
    pub device_id: i64,
    pub device_name: &'a str,
    pub run_id: Option<i64>,
    pub text: &'a str,
    pub delivery: AlertDelivery,
}

impl Store {
    /// Alert history, newest first.
    #[tracing::instrument(skip(self))]
    pub async fn alerts(&self, limit: i64) -> Result<Vec<AlertRecord>> {
        Ok(with_pool!(self, |pool| sqlx::query_as(
            "SELECT id, ts_us, rule, kind, device_id, device_name, run_id, text, delivery, \
             attempts, detail FROM alerts ORDER BY ts_us DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    /// Records an alert; returns its id.
    #[tracing::instrument(skip(self))]
    pub async fn insert_alert(&self, alert: &NewAlert<'_>) -> Result<i64> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(
            "INSERT INTO alerts (ts_us, rule, kind, device_id, device_name, run_id, text, delivery) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING id",
        )
        .bind(alert.ts_us)
        .bind(alert.rule)
        .bind(alert.kind)
        .bind(alert.device_id)
        .bind(alert.device_name)
        .bind(alert.run_id)
        .bind(alert.text)
        .bind(alert.delivery)
        .fetch_one(pool)
        .await
        })?)
    }

    /// Records a delivery outcome on the alert. A later success wins over
    /// an earlier failure of another webhook; details accumulate.
    #[tracing::instrument(skip(self))]
    pub async fn note_alert_delivery(
        &self,
        id: i64,
        status: AlertDelivery,
        attempts: u32,
        detail: &str,
    ) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
            "UPDATE alerts SET delivery = CASE WHEN delivery = 'delivered' THEN delivery ELSE $1 END, \
             attempts = attempts + $2, detail = CASE WHEN detail IS NULL THEN $3 ELSE detail || '; ' || $4 END \
             WHERE id = $5",
        )
        .bind(status)
        .bind(i64::from(attempts))
        .bind(detail)
        .bind(detail)
        .bind(id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
        })?;
        Ok(())
    }
}
