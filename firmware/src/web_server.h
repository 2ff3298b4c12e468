// The portal's AsyncWebServer plus shared response helpers.
#pragma once
#include <ArduinoJson.h>
#include <ESPAsyncWebServer.h>

void web_server_begin();  // registers every route module, then begin()
// Basic auth from the config (basic_auth_*; seeded from secrets.h), never in
// AP mode; sends the 401 challenge when false.
bool web_authorized(AsyncWebServerRequest *req);
// Serializes into a PSRAM response slot and sends it (no internal-RAM copy).
void web_send_doc(AsyncWebServerRequest *req, int code, const JsonDocument &doc);
void web_send_json(AsyncWebServerRequest *req, int code, const char *json, size_t len);
// The device's error envelope: {"success":false,"message":"<message>"}.
void web_send_error(AsyncWebServerRequest *req, int code, const char *message);
// {"success":true,"message":"<message>"}.
void web_send_success(AsyncWebServerRequest *req, const char *message);
// For JSON POST/PUT handlers: checks auth, takes the buffered body, parses
// it into `doc` (pass a PSRAM document) and releases the buffer. Returns
// false when the request was already answered (401, 413, 503, 400 empty);
// otherwise `*err` is the parse result.
bool web_parse_json_body(AsyncWebServerRequest *req, JsonDocument &doc, DeserializationError *err);

// Route modules (one file each).
void routes_pages(AsyncWebServer &server);
void routes_system(AsyncWebServer &server);   // /api/health /api/info /api/mode /api/reboot
void routes_config(AsyncWebServer &server);   // /api/config
void routes_macros(AsyncWebServer &server);   // /api/macros
void routes_icons(AsyncWebServer &server);    // /api/icons[/installed|/install|/gc]
void routes_display(AsyncWebServer &server);  // /api/display/{screen,brightness,sleep,wake,activity}
void routes_image(AsyncWebServer &server);    // /api/display/image[/strips]
void routes_update(AsyncWebServer &server);   // /api/update (OTA)
