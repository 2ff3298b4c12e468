// Copy to include/secrets.h (git-ignored) and fill in. Every value may be
// left empty: without Wi-Fi credentials the board starts its own access point
// ("heaplab-XXXXXX", portal at http://192.168.4.1); without HTTP_AUTH_USER
// the portal and API are open.
#pragma once

#define WIFI_SSID ""
#define WIFI_PASSWORD ""

// Optional HTTP basic auth for every page and /api/* endpoint.
#define HTTP_AUTH_USER ""
#define HTTP_AUTH_PASSWORD ""

// Optional hostname (DHCP / mDNS-less). Empty: "heaplab-<mac tail>".
#define DEVICE_HOSTNAME ""

// Optional MQTT broker: with a host, the firmware connects after setup and
// publishes Home Assistant discovery and its health state (README, MQTT).
#define MQTT_HOST ""
#define MQTT_PORT 1883
#define MQTT_USER ""
#define MQTT_PASSWORD ""
