//! The device's settings as `GET|POST /api/config` show and take them
//! (device-api.md §4): the NVS `device_cfg` namespace, the merge rules of a
//! partial update (truncation, "empty secret keeps the current one",
//! lenient booleans and numbers) and the validation after the merge.

use serde_json::{json, Map, Value};

use super::mqtt::MqttBroker;

/// Why `POST /api/config` refused a body: the device's own messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("Invalid JSON")]
    InvalidJson,
    #[error("Basic Auth settings cannot be changed in AP mode")]
    AuthInApMode,
    #[error("Invalid configuration")]
    Invalid,
}

/// Everything in `device_cfg`; survives reboots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    pub wifi_ssid: String,
    pub wifi_password: String,
    pub device_name: String,
    pub fixed_ip: String,
    pub subnet_mask: String,
    pub gateway: String,
    pub dns1: String,
    pub dns2: String,
    pub dummy_setting: String,
    pub mqtt_host: String,
    /// 0 means 1883.
    pub mqtt_port: u16,
    pub mqtt_username: String,
    pub mqtt_password: String,
    /// 0 means no periodic publish.
    pub mqtt_interval_seconds: u32,
    pub basic_auth_enabled: bool,
    pub basic_auth_username: String,
    pub basic_auth_password: String,
    /// 0..=100, applied to the backlight at once.
    pub backlight_brightness: u8,
    pub screen_saver_enabled: bool,
    pub screen_saver_timeout_seconds: u32,
    pub screen_saver_fade_out_ms: u32,
    pub screen_saver_fade_in_ms: u32,
    pub screen_saver_wake_on_touch: bool,
}

/// String keys with the byte length the firmware's fields hold (longer
/// values are cut silently), and whether an empty value keeps the current
/// one (secrets and the device name).
const TEXT_FIELDS: [(&str, usize, bool); 13] = [
    ("wifi_ssid", 31, false),
    ("wifi_password", 63, true),
    ("device_name", 31, true),
    ("fixed_ip", 15, false),
    ("subnet_mask", 15, false),
    ("gateway", 15, false),
    ("dns1", 15, false),
    ("dns2", 15, false),
    ("dummy_setting", 63, false),
    ("mqtt_host", 63, false),
    ("mqtt_username", 31, false),
    ("mqtt_password", 63, true),
    ("basic_auth_username", 31, false),
];

impl DeviceConfig {
    /// What an empty NVS gives, plus the lab Wi-Fi the twin "joins" and,
    /// with `--mqtt`, the broker (anonymous, health every 60 s).
    pub fn new(device_name: &str, mqtt: Option<&MqttBroker>) -> Self {
        DeviceConfig {
            wifi_ssid: "heaplab-lab".to_owned(),
            wifi_password: "correct-horse-battery".to_owned(),
            device_name: device_name.to_owned(),
            fixed_ip: String::new(),
            subnet_mask: String::new(),
            gateway: String::new(),
            dns1: String::new(),
            dns2: String::new(),
            dummy_setting: String::new(),
            mqtt_host: mqtt.map(|b| b.host.clone()).unwrap_or_default(),
            mqtt_port: mqtt.map_or(0, |b| b.port),
            mqtt_username: String::new(),
            mqtt_password: String::new(),
            mqtt_interval_seconds: if mqtt.is_some() { 60 } else { 0 },
            basic_auth_enabled: false,
            basic_auth_username: String::new(),
            basic_auth_password: String::new(),
            backlight_brightness: 100,
            screen_saver_enabled: false,
            screen_saver_timeout_seconds: 300,
            screen_saver_fade_out_ms: 800,
            screen_saver_fade_in_ms: 400,
            screen_saver_wake_on_touch: true,
        }
    }

    /// Lower case, `[a-z0-9-]`, runs of spaces, `_` and `-` become one `-`,
    /// no trailing `-`: the hostname the device announces.
    pub fn device_name_sanitized(&self) -> String {
        let mut out = String::new();
        for c in self.device_name.chars() {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                out.push(c);
            } else if matches!(c, ' ' | '_' | '-') && !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
        while out.ends_with('-') {
            out.pop();
        }
        out
    }

    /// `GET /api/config`: passwords always blank.
    pub fn to_json(&self) -> Value {
        json!({
            "wifi_ssid": self.wifi_ssid,
            "wifi_password": "",
            "device_name": self.device_name,
            "device_name_sanitized": self.device_name_sanitized(),
            "fixed_ip": self.fixed_ip,
            "subnet_mask": self.subnet_mask,
            "gateway": self.gateway,
            "dns1": self.dns1,
            "dns2": self.dns2,
            "dummy_setting": self.dummy_setting,
            "mqtt_host": self.mqtt_host,
            "mqtt_port": self.mqtt_port,
            "mqtt_username": self.mqtt_username,
            "mqtt_password": "",
            "mqtt_interval_seconds": self.mqtt_interval_seconds,
            "basic_auth_enabled": self.basic_auth_enabled,
            "basic_auth_username": self.basic_auth_username,
            "basic_auth_password": "",
            "basic_auth_password_set": !self.basic_auth_password.is_empty(),
            "backlight_brightness": self.backlight_brightness,
            "screen_saver_enabled": self.screen_saver_enabled,
            "screen_saver_timeout_seconds": self.screen_saver_timeout_seconds,
            "screen_saver_fade_out_ms": self.screen_saver_fade_out_ms,
            "screen_saver_fade_in_ms": self.screen_saver_fade_in_ms,
            "screen_saver_wake_on_touch": self.screen_saver_wake_on_touch,
        })
    }

    /// Merges a `POST /api/config` body into this config: only keys present
    /// are touched. Like the firmware, the merged values stay in RAM even
    /// when validation then fails. Returns the new brightness when the body
    /// set one (the device applies it at once).
    pub fn merge(&mut self, body: &[u8], ap_mode: bool) -> Result<Option<u8>, ConfigError> {
        let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
            return Err(ConfigError::InvalidJson);
        };
        if ap_mode && fields.keys().any(|k| k.starts_with("basic_auth_")) {
            return Err(ConfigError::AuthInApMode);
        }
        for (key, limit, keep_if_empty) in TEXT_FIELDS {
            if let Some(v) = fields.get(key) {
                let text = truncated(text_of(v), limit);
                if !(keep_if_empty && text.is_empty()) {
                    *self.text_field(key) = text;
                }
            }
        }
        if let Some(v) = fields.get("basic_auth_password") {
            let text = truncated(text_of(v), 63);
            if !text.is_empty() {
                self.basic_auth_password = text;
            }
        }
        self.merge_numbers(&fields);
        self.merge_flags(&fields);
        let brightness = fields.get("backlight_brightness").and_then(number_of);
        if let Some(b) = brightness {
            self.backlight_brightness = b.min(100) as u8;
        }
        self.validate()?;
        Ok(brightness.map(|_| self.backlight_brightness))
    }

    fn merge_numbers(&mut self, fields: &Map<String, Value>) {
        let num = |key: &str| fields.get(key).and_then(number_of);
        if let Some(v) = num("mqtt_port") {
            self.mqtt_port = v.min(u64::from(u16::MAX)) as u16;
        }
        let clamp = |v: u64| v.min(u64::from(u32::MAX)) as u32;
        if let Some(v) = num("mqtt_interval_seconds") {
            self.mqtt_interval_seconds = clamp(v);
        }
        if let Some(v) = num("screen_saver_timeout_seconds") {
            self.screen_saver_timeout_seconds = clamp(v);
        }
        if let Some(v) = num("screen_saver_fade_out_ms") {
            self.screen_saver_fade_out_ms = clamp(v);
        }
        if let Some(v) = num("screen_saver_fade_in_ms") {
            self.screen_saver_fade_in_ms = clamp(v);
        }
    }

    fn merge_flags(&mut self, fields: &Map<String, Value>) {
        let flag = |key: &str| fields.get(key).map(flag_of);
        if let Some(v) = flag("basic_auth_enabled") {
            self.basic_auth_enabled = v;
        }
        if let Some(v) = flag("screen_saver_enabled") {
            self.screen_saver_enabled = v;
        }
        if let Some(v) = flag("screen_saver_wake_on_touch") {
            self.screen_saver_wake_on_touch = v;
        }
    }

    /// SSID and device name set; with auth on, user and password set.
    fn validate(&self) -> Result<(), ConfigError> {
        let auth_ok = !self.basic_auth_enabled
            || !(self.basic_auth_username.is_empty() || self.basic_auth_password.is_empty());
        if self.wifi_ssid.is_empty() || self.device_name.is_empty() || !auth_ok {
            return Err(ConfigError::Invalid);
        }
        Ok(())
    }

    fn text_field(&mut self, key: &str) -> &mut String {
        match key {
            "wifi_ssid" => &mut self.wifi_ssid,
            "wifi_password" => &mut self.wifi_password,
            "device_name" => &mut self.device_name,
            "fixed_ip" => &mut self.fixed_ip,
            "subnet_mask" => &mut self.subnet_mask,
            "gateway" => &mut self.gateway,
            "dns1" => &mut self.dns1,
            "dns2" => &mut self.dns2,
            "mqtt_host" => &mut self.mqtt_host,
            "mqtt_username" => &mut self.mqtt_username,
            "mqtt_password" => &mut self.mqtt_password,
            "basic_auth_username" => &mut self.basic_auth_username,
            _ => &mut self.dummy_setting,
        }
    }
}

/// A JSON string as text; `null` (and anything else) as empty.
fn text_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// At most `limit` UTF-8 bytes, cut at a character boundary.
pub fn truncated(text: &str, limit: usize) -> String {
    let mut end = text.len().min(limit);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// A JSON number or a numeric string; negatives read as 0.
fn number_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Value::String(s) => s.trim().parse::<f64>().ok().map(|f| f.max(0.0) as u64),
        _ => None,
    }
}

/// A JSON bool, or the strings `1`, `true`, `on` (any case); other strings
/// are false.
fn flag_of(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => ["1", "true", "on"]
            .iter()
            .any(|t| s.trim().eq_ignore_ascii_case(t)),
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_blanks_secrets_and_sanitizes_the_name() {
        let broker = MqttBroker {
            host: "127.0.0.1".into(),
            port: 1884,
        };
        let mut c = DeviceConfig::new("Desk  S3_twin-", Some(&broker));
        c.basic_auth_password = "pw".into();
        c.mqtt_password = "secret".into();
        let v = c.to_json();
        assert_eq!(v["wifi_password"], "");
        assert_eq!(v["mqtt_password"], "");
        assert_eq!(v["basic_auth_password"], "");
        assert_eq!(v["basic_auth_password_set"], true);
        assert_eq!(v["device_name_sanitized"], "desk-s3-twin");
        assert_eq!(v["mqtt_host"], "127.0.0.1");
        assert_eq!(v["mqtt_port"], 1884);
    }

    #[test]
    fn empty_secret_keeps_the_stored_one_and_strings_are_cut() {
        let mut c = DeviceConfig::new("twin", None);
        let body = json!({"wifi_password": "", "dummy_setting": "x".repeat(100),
            "mqtt_port": "1884", "screen_saver_enabled": "ON", "backlight_brightness": 250});
        let applied = c.merge(body.to_string().as_bytes(), false).expect("merge");
        assert_eq!(c.wifi_password, "correct-horse-battery");
        assert_eq!(c.dummy_setting.len(), 63);
        assert_eq!(c.mqtt_port, 1884);
        assert!(c.screen_saver_enabled);
        assert_eq!(applied, Some(100));
    }

    #[test]
    fn the_devices_messages() {
        let mut c = DeviceConfig::new("twin", None);
        assert_eq!(c.merge(b"[1]", false), Err(ConfigError::InvalidJson));
        assert_eq!(
            c.merge(br#"{"basic_auth_enabled":true}"#, true),
            Err(ConfigError::AuthInApMode)
        );
        let err = c.merge(br#"{"basic_auth_enabled":true}"#, false);
        assert_eq!(
            err.map_err(|e| e.to_string()),
            Err("Invalid configuration".into())
        );
        // The merged value stays in RAM after the 400.
        assert!(c.basic_auth_enabled);
        assert_eq!(
            c.merge(br#"{"wifi_ssid":null,"basic_auth_enabled":false}"#, false),
            Err(ConfigError::Invalid)
        );
    }
}
