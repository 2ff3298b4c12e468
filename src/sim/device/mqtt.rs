//! The device side of MQTT: what the firmware's MQTT link allocates,
//! logs and tags at each step. The network side (a real broker) is
//! `sim/mqtt`; it calls these under the device lock, so the lines and
//! `[Mem] mqtt_*` snapshots land in the serial log in the order the
//! firmware prints them:
//!
//! `mqtt_connect_attempt` (first attempt per boot), `mqtt_connected`
//! (first success per boot; later ones tag `mqtt_reconnected`),
//! `mqtt_discovery_pre`, `mqtt_first_publish` (before the first discovery
//! config goes out), `mqtt_discovery_post` (discovery is sent again after
//! every reconnect, untagged), and `mqtt_disconnected` each
//! time an open connection is lost.

use std::time::{Duration, Instant};

use super::{Alloc, Device};
use crate::sim::mqtt::topics::Topics;
use crate::sim::mqtt::{ConnectOptions, Message, MqttTarget, KEEP_ALIVE};
use crate::sim::profile::Region;

/// Per-boot MQTT state (reset by every boot, like the firmware's statics).
#[derive(Debug, Default)]
pub(super) struct MqttState {
    /// The client and its task exist (created at the first attempt).
    pub task_started: bool,
    /// The socket and its buffers while connected.
    pub connection: Option<Alloc>,
    pub last_publish: Option<Instant>,
    connected_once: bool,
    published_once: bool,
    discovery_done: bool,
}

impl Device {
    /// Boots since the twin started: the MQTT client drops its socket
    /// when this changes (the chip reset under it).
    pub fn boot_count(&self) -> u32 {
        self.boot_count
    }

    fn mqtt_topics(&self) -> Topics {
        Topics::new(&self.config.device_name_sanitized())
    }

    /// The broker and credentials from the config, `None` without a host.
    pub fn mqtt_target(&self) -> Option<MqttTarget> {
        let c = &self.config;
        if c.mqtt_host.is_empty() {
            return None;
        }
        let topics = self.mqtt_topics();
        let username = (!c.mqtt_username.is_empty()).then(|| c.mqtt_username.clone());
        let password = username.as_ref().map(|_| c.mqtt_password.clone());
        Some(MqttTarget {
            host: c.mqtt_host.clone(),
            port: if c.mqtt_port == 0 { 1883 } else { c.mqtt_port },
            options: ConnectOptions {
                client_id: topics.name.clone(),
                keep_alive_s: KEEP_ALIVE.as_secs() as u16,
                username,
                password,
                will: Some(topics.will()),
            },
            interval: Duration::from_secs(u64::from(c.mqtt_interval_seconds)),
        })
    }

    /// Before each connect: the log line; the first one per boot is
    /// tagged, then the client, its task stack and its out buffer are
    /// created (`esp_mqtt_client_init` + `_start`).
    pub fn mqtt_attempt(&mut self, target: &MqttTarget) {
        let line = format!("Connecting to {}:{}", target.host, target.port);
        self.api_log("MQTT", &line);
        if !self.mqtt.task_started {
            self.mqtt.task_started = true;
            self.emit_snapshot("mqtt_connect_attempt", 0);
            self.persist(Region::Internal, 6_144); // mqtt_task stack
            self.persist(Region::Internal, 1_536); // client handle, config copy
            self.persist(self.placement.web, 4_096); // out buffer
        }
    }

    pub fn mqtt_connect_failed(&mut self, reason: &str, retry_in: Duration) {
        let line = format!(
            "Connect failed ({reason}), retry in {} s",
            retry_in.as_secs()
        );
        self.api_log("MQTT", &line);
    }

    /// CONNACK accepted: the socket's buffers, the tag, and the retained
    /// `online` to publish.
    pub fn mqtt_connected(&mut self) -> Message {
        self.api_log("MQTT", "Connected");
        if self.mqtt.connection.is_none() {
            self.mqtt.connection = self.alloc(Region::Internal, 1_536);
        }
        let tag = if self.mqtt.connected_once {
            "mqtt_reconnected"
        } else {
            "mqtt_connected"
        };
        self.mqtt.connected_once = true;
        self.emit_snapshot(tag, 0);
        self.mqtt_topics().online()
    }

    /// The discovery configs, sent after every connect (a broker that
    /// restarted without persistence has lost the retained ones); the
    /// first time per boot between `mqtt_discovery_pre` and `_post`.
    pub fn mqtt_discovery_begin(&mut self) -> Vec<Message> {
        self.api_log("MQTT", "Publishing HA discovery");
        if !self.mqtt.discovery_done {
            self.emit_snapshot("mqtt_discovery_pre", 0);
        }
        let doc = self.alloc(self.placement.json, 8_192);
        let messages = self.mqtt_topics().discovery_messages(
            &self.config.device_name,
            super::PROJECT_DISPLAY_NAME,
            &self.firmware_version(),
        );
        if let Some(doc) = doc {
            self.release(doc);
        }
        messages
    }

    /// Called before every data publish: tags the first one of the boot.
    pub fn mqtt_before_publish(&mut self) {
        if !self.mqtt.published_once {
            self.mqtt.published_once = true;
            self.emit_snapshot("mqtt_first_publish", 0);
        }
    }

    pub fn mqtt_discovery_end(&mut self) {
        if !self.mqtt.discovery_done {
            self.mqtt.discovery_done = true;
            self.emit_snapshot("mqtt_discovery_post", 0);
        }
    }

    /// The retained health state: `/api/health`'s values without the
    /// window (only an HTTP read takes and resets it).
    pub fn mqtt_health_message(&mut self) -> Message {
        if let Some(a) = self.alloc(Region::Internal, 1_024) {
            self.release(a);
        }
        self.mqtt.last_publish = Some(Instant::now());
        let payload = crate::sim::ffi::health_json(&self.health_fields(None));
        Message::new(self.mqtt_topics().health_state(), payload, true)
    }

    /// An open connection went away (broker gone, ping unanswered, config
    /// changed): logged and tagged every time.
    pub fn mqtt_lost(&mut self, reason: &str) {
        let Some(connection) = self.mqtt.connection.take() else {
            return;
        };
        self.release(connection);
        self.api_log("MQTT", &format!("Disconnected ({reason})"));
        self.emit_snapshot("mqtt_disconnected", 0);
    }
}
