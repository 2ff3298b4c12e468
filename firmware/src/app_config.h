// Build-time configuration: secrets.h (optional, git-ignored) + defaults.
#pragma once

#if defined(__has_include)
#if __has_include("secrets.h")
#include "secrets.h"
#else
#warning "include/secrets.h not found - copy include/secrets.example.h; building with empty credentials"
#endif
#endif

#ifndef WIFI_SSID
#define WIFI_SSID ""
#endif
#ifndef WIFI_PASSWORD
#define WIFI_PASSWORD ""
#endif
#ifndef HTTP_AUTH_USER
#define HTTP_AUTH_USER ""
#endif
#ifndef HTTP_AUTH_PASSWORD
#define HTTP_AUTH_PASSWORD ""
#endif
#ifndef DEVICE_HOSTNAME
#define DEVICE_HOSTNAME ""
#endif
#ifndef MQTT_HOST
#define MQTT_HOST ""
#endif
#ifndef MQTT_PORT
#define MQTT_PORT 1883
#endif
#ifndef MQTT_USER
#define MQTT_USER ""
#endif
#ifndef MQTT_PASSWORD
#define MQTT_PASSWORD ""
#endif

#ifndef HEAPLAB_FIRMWARE_VERSION
#define HEAPLAB_FIRMWARE_VERSION "1.0.0"
#endif
#ifndef MEMORY_HEARTBEAT_INTERVAL_MS
#define MEMORY_HEARTBEAT_INTERVAL_MS 5000
#endif
#ifndef MEMORY_TRIPWIRE_INTERNAL_MIN_BYTES
#define MEMORY_TRIPWIRE_INTERNAL_MIN_BYTES 30720
#endif
// Health-window sampling period (min/max between two /api/health calls).
#ifndef HEALTH_WINDOW_SAMPLE_MS
#define HEALTH_WINDOW_SAMPLE_MS 200
#endif
