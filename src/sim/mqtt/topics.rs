//! The device's MQTT topics and Home Assistant discovery payloads, the
//! same as the firmware's `mqtt_link.cpp` publishes (the sensor table is
//! `HA_SENSORS` there; `tests/integration/mqtt.rs` checks the two match):
//!
//! | topic | payload | retained |
//! |---|---|---|
//! | `devices/<name>/availability` | `online`; the last will says `offline` | yes |
//! | `devices/<name>/health/state` | the `/api/health` document without the `*_window` fields (null) | yes |
//! | `homeassistant/sensor/<name>/<object_id>/config` | one discovery config per sensor below | yes |
//!
//! `<name>` is `device_name_sanitized` (`esp32` if that is empty).

use serde_json::json;

use super::packet::Message;

/// One Home Assistant sensor read out of the health state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaSensor {
    pub object_id: &'static str,
    pub name: &'static str,
    /// The health-state key the value template reads.
    pub key: &'static str,
    pub unit: &'static str,
    pub device_class: &'static str,
    pub state_class: &'static str,
}

const fn sensor(
    object_id: &'static str,
    name: &'static str,
    key: &'static str,
    unit: &'static str,
    device_class: &'static str,
    state_class: &'static str,
) -> HaSensor {
    HaSensor {
        object_id,
        name,
        key,
        unit,
        device_class,
        state_class,
    }
}

/// The memory lab's view of a device in Home Assistant: what a soak
/// tester wants on a wall dashboard.
pub const HA_SENSORS: [HaSensor; 9] = [
    sensor(
        "uptime",
        "Uptime",
        "uptime_seconds",
        "s",
        "duration",
        "measurement",
    ),
    sensor("reset_reason", "Reset Reason", "reset_reason", "", "", ""),
    sensor(
        "heap_internal_free",
        "Internal Free",
        "heap_internal_free",
        "B",
        "data_size",
        "measurement",
    ),
    sensor(
        "heap_internal_min",
        "Internal Min Free",
        "heap_internal_min",
        "B",
        "data_size",
        "measurement",
    ),
    sensor(
        "heap_internal_largest",
        "Internal Largest Block",
        "heap_internal_largest",
        "B",
        "data_size",
        "measurement",
    ),
    sensor(
        "heap_fragmentation",
        "Heap Fragmentation",
        "heap_fragmentation",
        "%",
        "",
        "measurement",
    ),
    sensor(
        "psram_free",
        "PSRAM Free",
        "psram_free",
        "B",
        "data_size",
        "measurement",
    ),
    sensor(
        "psram_min",
        "PSRAM Min Free",
        "psram_min",
        "B",
        "data_size",
        "measurement",
    ),
    sensor(
        "wifi_rssi",
        "WiFi RSSI",
        "wifi_rssi",
        "dBm",
        "signal_strength",
        "measurement",
    ),
];

/// Payloads of the availability topic.
pub const ONLINE: &str = "online";
pub const OFFLINE: &str = "offline";

/// The device's topic names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Sanitized device name, the id in every topic.
    pub name: String,
    /// `devices/<name>`
    pub base: String,
}

impl Topics {
    pub fn new(sanitized_name: &str) -> Self {
        let name = if sanitized_name.is_empty() {
            "esp32".to_owned()
        } else {
            sanitized_name.to_owned()
        };
        Topics {
            base: format!("devices/{name}"),
            name,
        }
    }

    pub fn availability(&self) -> String {
        format!("{}/availability", self.base)
    }

    pub fn health_state(&self) -> String {
        format!("{}/health/state", self.base)
    }

    pub fn discovery(&self, object_id: &str) -> String {
        format!("homeassistant/sensor/{}/{object_id}/config", self.name)
    }

    /// The last will: the broker says `offline` when the device vanishes.
    pub fn will(&self) -> Message {
        Message::new(self.availability(), OFFLINE, true)
    }

    pub fn online(&self) -> Message {
        Message::new(self.availability(), ONLINE, true)
    }

    /// One retained config per [`HA_SENSORS`] entry. `friendly_name` is
    /// the configured device name, `model` the project's display name and
    /// `version` the running firmware's.
    pub fn discovery_messages(
        &self,
        friendly_name: &str,
        model: &str,
        version: &str,
    ) -> Vec<Message> {
        HA_SENSORS
            .iter()
            .map(|s| {
                let id = format!("{}_{}", self.name, s.object_id);
                let mut doc = json!({
                    "~": self.base,
                    "name": s.name,
                    "object_id": id,
                    "uniq_id": id,
                    "entity_category": "diagnostic",
                    "stat_t": "~/health/state",
                    "val_tpl": format!("{{{{ value_json.{} }}}}", s.key),
                    "avty_t": "~/availability",
                    "pl_avail": ONLINE,
                    "pl_not_avail": OFFLINE,
                });
                for (key, value) in [
                    ("unit_of_meas", s.unit),
                    ("dev_cla", s.device_class),
                    ("stat_cla", s.state_class),
                ] {
                    if !value.is_empty() {
                        doc[key] = json!(value);
                    }
                }
                doc["dev"] = json!({
                    "ids": [self.name],
                    "name": friendly_name,
                    "mdl": model,
                    "sw": version,
                });
                Message::new(self.discovery(s.object_id), doc.to_string(), true)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_use_the_sanitized_name_or_esp32() {
        let t = Topics::new("desk-s3");
        assert_eq!(t.availability(), "devices/desk-s3/availability");
        assert_eq!(t.health_state(), "devices/desk-s3/health/state");
        assert_eq!(
            t.discovery("uptime"),
            "homeassistant/sensor/desk-s3/uptime/config"
        );
        assert_eq!(Topics::new("").base, "devices/esp32");
        assert_eq!(t.will().payload, b"offline");
        assert!(t.will().retain);
    }

    #[test]
    fn discovery_configs_are_retained_json_with_escaped_names() {
        let t = Topics::new("desk");
        let msgs = t.discovery_messages("Desk \"S3\" </script>", "jc3636w518 Macropad", "1.6.0");
        assert_eq!(msgs.len(), HA_SENSORS.len());
        let first: serde_json::Value =
            serde_json::from_slice(&msgs[0].payload).expect("discovery JSON");
        assert_eq!(first["~"], "devices/desk");
        assert_eq!(first["val_tpl"], "{{ value_json.uptime_seconds }}");
        assert_eq!(first["uniq_id"], "desk_uptime");
        assert_eq!(first["dev"]["name"], "Desk \"S3\" </script>");
        assert_eq!(first["dev"]["sw"], "1.6.0");
        let reset: serde_json::Value =
            serde_json::from_slice(&msgs[1].payload).expect("discovery JSON");
        assert!(reset.get("unit_of_meas").is_none(), "{reset}");
        assert!(msgs.iter().all(|m| m.retain));
    }
}
