#include "mqtt_link.h"

#include <Arduino.h>
#include <esp_idf_version.h>

// esp_mqtt_client_config_t has the nested IDF 5 layout used here;
// Arduino-ESP32 2.x (IDF 4.4) builds get a stub that says so.
#if ESP_IDF_VERSION_MAJOR >= 5
#include <WiFi.h>
#include <esp_heap_caps.h>
#include <mqtt_client.h>
#include <stdio.h>
#include <string.h>

#include "app_config.h"
#include "device_config.h"
#include "heaptrace.h"
#include "json_psram.h"
#include "logger.h"
#include "mem_telemetry.h"
#include "system_health.h"
#include "wifi_link.h"

// Keep in step with the twin (src/sim/mqtt/mod.rs, topics.rs).
static constexpr uint32_t KEEPALIVE_S = 15;
static constexpr uint32_t BACKOFF_FIRST_MS = 1000;
static constexpr uint32_t BACKOFF_MAX_MS = 30000;
// Largest payload: the health state (~1.1 KB) or one discovery config.
static constexpr size_t PAYLOAD_BYTES = 2048;

struct HaSensor {
  const char *object_id, *name, *key, *unit, *device_class, *state_class;
};

// The memory lab's Home Assistant entities; same rows as HA_SENSORS in
// src/sim/mqtt/topics.rs (tests/integration/mqtt.rs compares the two).
static const HaSensor HA_SENSORS[] = {
    {"uptime", "Uptime", "uptime_seconds", "s", "duration", "measurement"},
    {"reset_reason", "Reset Reason", "reset_reason", "", "", ""},
    {"heap_internal_free", "Internal Free", "heap_internal_free", "B", "data_size", "measurement"},
    {"heap_internal_min", "Internal Min Free", "heap_internal_min", "B", "data_size", "measurement"},
    {"heap_internal_largest", "Internal Largest Block", "heap_internal_largest", "B", "data_size", "measurement"},
    {"heap_fragmentation", "Heap Fragmentation", "heap_fragmentation", "%", "", "measurement"},
    {"psram_free", "PSRAM Free", "psram_free", "B", "data_size", "measurement"},
    {"psram_min", "PSRAM Min Free", "psram_min", "B", "data_size", "measurement"},
    {"wifi_rssi", "WiFi RSSI", "wifi_rssi", "dBm", "signal_strength", "measurement"},
};

// Events from the MQTT task; the main loop acts on them (a connect and a
// drop between two loop turns are both seen, in that order).
static volatile bool s_ev_connected, s_ev_disconnected;
static volatile int s_error_code;  // connack code or socket errno of the last error

static esp_mqtt_client_handle_t s_client;
static char *s_payload;  // PSRAM, PAYLOAD_BYTES
static char s_name[40], s_base[56], s_availability[72], s_state[72];
static char s_host[64], s_user[32], s_pass[64];
static bool s_connected, s_attempting;
static bool s_tagged_attempt, s_connected_once, s_published_once, s_discovery_done;
static uint32_t s_backoff_ms = BACKOFF_FIRST_MS;
static uint32_t s_next_attempt_ms;
static int64_t s_last_health_ms = -1;

static void on_event(void *, esp_event_base_t, int32_t id, void *data) {
  esp_mqtt_event_handle_t ev = static_cast<esp_mqtt_event_handle_t>(data);
  switch (id) {
    case MQTT_EVENT_CONNECTED: s_ev_connected = true; break;
    case MQTT_EVENT_DISCONNECTED: s_ev_disconnected = true; break;
    case MQTT_EVENT_ERROR:
      if (ev && ev->error_handle) {
        s_error_code = ev->error_handle->error_type == MQTT_ERROR_TYPE_CONNECTION_REFUSED
                           ? (int)ev->error_handle->connect_return_code
                           : ev->error_handle->esp_transport_sock_errno;
      }
      break;
    default: break;
  }
}

static void topics_from_config() {
  device_config_sanitized_name(s_name, sizeof s_name);
  if (s_name[0] == '\0') strlcpy(s_name, "esp32", sizeof s_name);
  snprintf(s_base, sizeof s_base, "devices/%s", s_name);
  snprintf(s_availability, sizeof s_availability, "%s/availability", s_base);
  snprintf(s_state, sizeof s_state, "%s/health/state", s_base);
}

static uint32_t next_backoff() {
  uint32_t d = s_backoff_ms;
  s_backoff_ms = s_backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s_backoff_ms * 2;
  return d;
}

static void publish(const char *topic, const char *payload, size_t len, bool data) {
  if (data && !s_published_once) {
    s_published_once = true;
    mem_snapshot_emit("mqtt_first_publish");
  }
  esp_mqtt_client_publish(s_client, topic, payload, (int)len, 0, 1);  // QoS 0, retained
}

static void publish_discovery() {
  log_msg(0, "MQTT", "Publishing HA discovery", 0);
  if (!s_discovery_done) mem_snapshot_emit("mqtt_discovery_pre");
  char topic[128], id[96], tpl[64];
  for (const HaSensor &s : HA_SENSORS) {
    JsonDocument doc = make_json_doc_psram();
    snprintf(id, sizeof id, "%s_%s", s_name, s.object_id);
    snprintf(tpl, sizeof tpl, "{{ value_json.%s }}", s.key);
    doc["~"] = (const char *)s_base;
    doc["name"] = s.name;
    doc["object_id"] = (const char *)id;
    doc["uniq_id"] = (const char *)id;
    doc["entity_category"] = "diagnostic";
    doc["stat_t"] = "~/health/state";
    doc["val_tpl"] = (const char *)tpl;
    doc["avty_t"] = "~/availability";
    doc["pl_avail"] = "online";
    doc["pl_not_avail"] = "offline";
    if (s.unit[0]) doc["unit_of_meas"] = s.unit;
    if (s.device_class[0]) doc["dev_cla"] = s.device_class;
    if (s.state_class[0]) doc["stat_cla"] = s.state_class;
    JsonObject dev = doc["dev"].to<JsonObject>();
    dev["ids"].to<JsonArray>().add((const char *)s_name);
    dev["name"] = device_config().device_name;
    dev["mdl"] = "heaplab reference device";
    dev["sw"] = HEAPLAB_FIRMWARE_VERSION;
    size_t len = serializeJson(doc, s_payload, PAYLOAD_BYTES);
    if (len == 0 || len >= PAYLOAD_BYTES) continue;
    snprintf(topic, sizeof topic, "homeassistant/sensor/%s/%s/config", s_name, s.object_id);
    publish(topic, s_payload, len, true);
  }
  if (!s_discovery_done) {
    s_discovery_done = true;
    mem_snapshot_emit("mqtt_discovery_post");
  }
}

static void publish_health() {
  static ht_health_t h;  // main loop only
  static HealthStrings strings;
  system_health_fill(&h, &strings, false);
  bool truncated = false;
  size_t len = ht_health_json(s_payload, PAYLOAD_BYTES, &h, &truncated);
  if (truncated) {
    log_msg(0, "MQTT", "ERROR: health state larger than the payload buffer", 0);
    return;
  }
  publish(s_state, s_payload, len, true);
  s_last_health_ms = (int64_t)millis();
}

// First attempt per boot: creates the client (its task stack and buffers
// come from the internal heap here, which the tag before it measures).
static bool start_client() {
  const DeviceConfig &c = device_config();
  strlcpy(s_host, c.mqtt_host, sizeof s_host);
  strlcpy(s_user, c.mqtt_username, sizeof s_user);
  strlcpy(s_pass, c.mqtt_password, sizeof s_pass);
  esp_mqtt_client_config_t cfg = {};
  cfg.broker.address.hostname = s_host;
  cfg.broker.address.port = c.mqtt_port ? c.mqtt_port : 1883;
  cfg.broker.address.transport = MQTT_TRANSPORT_OVER_TCP;
  cfg.credentials.client_id = s_name;
  if (s_user[0]) {
    cfg.credentials.username = s_user;
    cfg.credentials.authentication.password = s_pass;
  }
  cfg.session.keepalive = KEEPALIVE_S;
  cfg.session.last_will.topic = s_availability;
  cfg.session.last_will.msg = "offline";
  cfg.session.last_will.msg_len = 7;
  cfg.session.last_will.qos = 0;
  cfg.session.last_will.retain = 1;
  cfg.network.disable_auto_reconnect = true;  // mqtt_link_loop() retries with backoff
  cfg.task.stack_size = 6144;
  cfg.buffer.size = 1024;
  cfg.buffer.out_size = 1024;
  s_client = esp_mqtt_client_init(&cfg);
  if (!s_client) return false;
  esp_mqtt_client_register_event(s_client, (esp_mqtt_event_id_t)ESP_EVENT_ANY_ID, on_event, nullptr);
  return esp_mqtt_client_start(s_client) == ESP_OK;
}

static void attempt() {
  const DeviceConfig &c = device_config();
  log_msgf(0, "MQTT", 0, "Connecting to %s:%u", c.mqtt_host, c.mqtt_port ? c.mqtt_port : 1883);
  s_attempting = true;
  if (!s_tagged_attempt) {
    s_tagged_attempt = true;
    mem_snapshot_emit("mqtt_connect_attempt");
    topics_from_config();
    if (!start_client()) {
      log_msg(0, "MQTT", "Connect failed (client init), retry later", 0);
      s_attempting = false;
      s_next_attempt_ms = millis() + next_backoff();
    }
    return;
  }
  esp_mqtt_client_reconnect(s_client);
}

static void on_connected() {
  s_attempting = false;
  s_connected = true;
  s_backoff_ms = BACKOFF_FIRST_MS;
  log_msg(0, "MQTT", "Connected", 0);
  mem_snapshot_emit(s_connected_once ? "mqtt_reconnected" : "mqtt_connected");
  s_connected_once = true;
  publish(s_availability, "online", 6, false);
  // Every connect: a broker restarted without persistence lost them.
  publish_discovery();
  publish_health();
}

static void on_disconnected() {
  if (s_connected) {
    s_connected = false;
    log_msgf(0, "MQTT", 0, "Disconnected (error %d)", s_error_code);
    mem_snapshot_emit("mqtt_disconnected");
    s_backoff_ms = BACKOFF_FIRST_MS;
  }
  uint32_t delay_ms = next_backoff();
  if (s_attempting) {
    log_msgf(0, "MQTT", 0, "Connect failed (error %d), retry in %u s", s_error_code, (unsigned)(delay_ms / 1000));
  }
  s_attempting = false;
  s_next_attempt_ms = millis() + delay_ms;
}

void mqtt_link_begin() {
  if (!device_config_mqtt_configured()) return;
  s_payload = static_cast<char *>(heap_caps_malloc(PAYLOAD_BYTES, MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT));
  if (!s_payload) log_msg(0, "MQTT", "ERROR: no PSRAM for the payload buffer; MQTT off", LOG_NO_ELAPSED);
}

void mqtt_link_loop() {
  if (!s_payload || !device_config_mqtt_configured()) return;
  if (s_ev_connected) {
    s_ev_connected = false;
    on_connected();
  }
  if (s_ev_disconnected) {
    s_ev_disconnected = false;
    on_disconnected();
  }
  if (s_connected) {
    uint32_t interval = device_config().mqtt_interval_seconds;
    if (interval > 0 && (int64_t)millis() - s_last_health_ms >= (int64_t)interval * 1000) publish_health();
    return;
  }
  if (s_attempting || wifi_link_is_ap() || WiFi.status() != WL_CONNECTED) return;
  if ((int32_t)(millis() - s_next_attempt_ms) >= 0) attempt();
}

bool mqtt_link_connected() { return s_connected; }

int64_t mqtt_link_last_health_publish_ms() { return s_last_health_ms; }

#else  // ESP_IDF_VERSION_MAJOR < 5

#include "logger.h"

void mqtt_link_begin() { log_msg(0, "MQTT", "MQTT needs Arduino-ESP32 3.x (ESP-IDF 5); disabled", LOG_NO_ELAPSED); }
void mqtt_link_loop() {}
bool mqtt_link_connected() { return false; }
int64_t mqtt_link_last_health_publish_ms() { return -1; }

#endif
