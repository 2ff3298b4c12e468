//! `/api/health` JSON as a typed [`HealthSample`].

use serde::Serialize;
use serde_json::{Map, Value};

/// Why a health body could not be read at all. A body that is a JSON object
/// never fails: bad fields become `None` one by one.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("health body is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("health body is JSON but not an object")]
    NotObject,
}

macro_rules! field_type {
    (int) => {
        i64
    };
    (float) => {
        f64
    };
    (text) => {
        String
    };
    (flag) => {
        bool
    };
}

macro_rules! health_sample {
    ($( $(#[$doc:meta])* $name:ident : $kind:ident ),* $(,)?) => {
        /// One `/api/health` answer. Every field is optional because firmware
        /// versions differ and any field may be `null`; a field of the wrong
        /// type is `None` on its own without spoiling the rest.
        #[derive(Debug, Clone, Default, PartialEq, Serialize)]
        pub struct HealthSample {
            $( $(#[$doc])* pub $name: Option<field_type!($kind)>, )*
            /// Fields this version of heaplab does not know, kept verbatim.
            #[serde(flatten)]
            pub extras: Map<String, Value>,
        }

        impl HealthSample {
            /// The known field names, in the firmware's order.
            pub const FIELDS: &'static [&'static str] = &[$( stringify!($name) ),*];

            /// Reads a parsed JSON object, consuming it.
            pub fn from_map(mut map: Map<String, Value>) -> Self {
                let mut sample = HealthSample::default();
                $( sample.$name = map.remove(stringify!($name)).and_then(take::$kind); )*
                sample.extras = map;
                sample
            }
        }
    };
}

health_sample! {
    uptime_seconds: int,
    reset_reason: text,
    cpu_freq: int,
    cpu_usage: float,
    cpu_temperature: float,
    heap_free: int,
    heap_min: int,
    heap_size: int,
    heap_largest: int,
    heap_internal_free: int,
    heap_internal_min: int,
    heap_internal_largest: int,
    heap_fragmentation: int,
    psram_free: int,
    psram_min: int,
    psram_largest: int,
    psram_fragmentation: int,
    /// Minimum internal free since the previous `/api/health` call.
    heap_internal_free_min_window: int,
    heap_internal_free_max_window: int,
    heap_internal_largest_min_window: int,
    heap_fragmentation_max_window: int,
    psram_free_min_window: int,
    psram_free_max_window: int,
    psram_largest_min_window: int,
    psram_fragmentation_max_window: int,
    flash_used: int,
    flash_total: int,
    fs_type: text,
    fs_mounted: flag,
    fs_used_bytes: int,
    fs_total_bytes: int,
    mqtt_enabled: flag,
    mqtt_publish_enabled: flag,
    mqtt_connected: flag,
    mqtt_last_health_publish_ms: int,
    mqtt_health_publish_age_ms: int,
    display_fps: float,
    display_lv_timer_us: int,
    display_present_us: int,
    wifi_rssi: int,
    wifi_channel: int,
    ip_address: text,
    hostname: text,
}

impl HealthSample {
    /// Parses a response body.
    pub fn from_json(body: &[u8]) -> Result<Self, HealthError> {
        match serde_json::from_slice(body)? {
            Value::Object(map) => Ok(Self::from_map(map)),
            _ => Err(HealthError::NotObject),
        }
    }
}

/// Per-type field readers: the right type or `None`.
mod take {
    use serde_json::Value;

    pub fn int(v: Value) -> Option<i64> {
        match v {
            Value::Number(n) => n.as_i64().or_else(|| {
                let f = n.as_f64()?;
                // Some firmware prints integral values as 123.0.
                (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
            }),
            _ => None,
        }
    }

    pub fn float(v: Value) -> Option<f64> {
        v.as_f64()
    }

    pub fn text(v: Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn flag(v: Value) -> Option<bool> {
        v.as_bool()
    }
}
