// MQTT with ESP-IDF's esp_mqtt_client: Home Assistant discovery and the
// health state, the same topics and payloads as heaplab's device twin
// (src/sim/mqtt/topics.rs):
//
//   devices/<name>/availability                  "online" / will "offline", retained
//   devices/<name>/health/state                  /api/health without the window, retained
//   homeassistant/sensor/<name>/<object>/config  one per HA_SENSORS row, retained
//
// The client is created on the first connect attempt (not at boot) and
// only when mqtt_host is set. It never reconnects on its own
// (disable_auto_reconnect): mqtt_link_loop() retries with backoff
// 1 s, 2 s, 4 s … 30 s, so the twin and the board retry alike.
//
// Tags (main loop only, never from the MQTT task): mqtt_connect_attempt
// and mqtt_connected (first per boot; later successes tag
// mqtt_reconnected), mqtt_discovery_pre, mqtt_first_publish (before the
// first discovery config), mqtt_discovery_post, mqtt_disconnected (every
// lost connection).
#pragma once
#include <stdint.h>

void mqtt_link_begin();  // setup(): one PSRAM payload buffer when a host is set
void mqtt_link_loop();   // loop(): connect, retry, publish when due
bool mqtt_link_connected();
// millis() of the last health publish, -1 before the first.
int64_t mqtt_link_last_health_publish_ms();
