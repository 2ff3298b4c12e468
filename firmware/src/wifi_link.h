// Wi-Fi station (or access point when no SSID is configured).
#pragma once
#include <stddef.h>

void wifi_link_begin();  // connects (up to 20 s), logs "[WiFi] Got IP: <ip> (<N>ms)"
void wifi_link_loop();   // logs "Got IP" again after a reconnect
bool wifi_link_is_ap();
// Current IP as text into buf ("0.0.0.0" when none).
const char *wifi_link_ip(char *buf, size_t cap);
