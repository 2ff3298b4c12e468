// POST /api/update (device-api.md §9): a multipart .bin streamed into the
// next OTA partition with esp_ota_begin/write/end, progress on serial,
// then a reboot ~500 ms after the reply.
//
// esp_ota_write refuses a first chunk that is not an app image (magic
// 0xE9) -> 500 "Write failed"; esp_ota_end verifies the whole image
// (segments, checksum, appended SHA-256, chip id) -> 500 "Update failed".
// heaplab's twin applies the same checks with the same messages
// (src/sim/device/ota.rs), and `heaplab flash` checks an image with them
// before uploading.
#include <Arduino.h>
#include <esp_ota_ops.h>
#include <string.h>

#include "logger.h"
#include "ota_state.h"
#include "reboot.h"
#include "web_server.h"

// One upload at a time (AsyncTCP runs handlers on one task).
static esp_ota_handle_t s_handle;
static const esp_partition_t *s_partition;
static const char *s_error;  // the reply's message, nullptr while fine
static int s_error_code;
static size_t s_written, s_total;
static unsigned s_reported_pct;
static uint32_t s_started_ms;
static volatile bool s_in_progress;

bool ota_in_progress() { return s_in_progress; }

static void fail(int code, const char *message, const char *detail) {
  if (!s_error) {
    s_error = message;
    s_error_code = code;
    log_msgf(2, nullptr, (int32_t)(millis() - s_started_ms), "Error: %s (%s)", message, detail);
  }
  if (s_handle) {
    esp_ota_abort(s_handle);
    s_handle = 0;
  }
  s_in_progress = false;
}

static bool ends_with_bin(const String &name) {
  size_t n = name.length();
  return n >= 4 && strcasecmp(name.c_str() + n - 4, ".bin") == 0;
}

static void on_chunk(AsyncWebServerRequest *req, const String &filename, size_t index, uint8_t *data, size_t len,
                     bool final) {
  if (index == 0) {
    s_error = nullptr;
    s_handle = 0;
    s_written = 0;
    s_reported_pct = 0;
    s_started_ms = millis();
    if (!web_authorized(req)) {
      s_error = "";  // 401 already queued by web_authorized
      return;
    }
    s_total = req->contentLength();
    s_partition = esp_ota_get_next_update_partition(nullptr);
    log_msg(0, "OTA Update", "Starting...", LOG_NO_ELAPSED);
    log_msgf(2, nullptr, LOG_NO_ELAPSED, "File: %s", filename.c_str());
    log_msgf(2, nullptr, LOG_NO_ELAPSED, "Size: %u bytes", (unsigned)s_total);
    log_msgf(2, nullptr, LOG_NO_ELAPSED, "Free space: %u bytes", s_partition ? (unsigned)s_partition->size : 0u);
    if (!ends_with_bin(filename)) return fail(400, "Only .bin files are supported", "file name");
    // Content-Length includes the multipart framing: a little generous.
    if (!s_partition || s_total > s_partition->size) return fail(400, "Firmware too large", "Content-Length");
    s_in_progress = true;  // pauses the image API's decode
    esp_err_t err = esp_ota_begin(s_partition, OTA_WITH_SEQUENTIAL_WRITES, &s_handle);
    if (err != ESP_OK) return fail(500, "OTA begin failed", esp_err_to_name(err));
  }
  if (s_error) return;
  esp_err_t err = esp_ota_write(s_handle, data, len);
  if (err != ESP_OK) return fail(500, "Write failed", esp_err_to_name(err));
  s_written += len;
  unsigned pct = s_total ? (unsigned)(s_written * 100 / s_total) : 0;
  while (s_reported_pct + 10 <= pct && s_reported_pct < 100) {
    s_reported_pct += 10;
    log_msgf(2, nullptr, LOG_NO_ELAPSED, "Progress: %u%%", s_reported_pct);
  }
  if (!final) return;
  log_msgf(2, nullptr, LOG_NO_ELAPSED, "Written: %u bytes", (unsigned)s_written);
  err = esp_ota_end(s_handle);  // verifies the image
  s_handle = 0;
  if (err != ESP_OK) return fail(500, "Update failed", esp_err_to_name(err));
  err = esp_ota_set_boot_partition(s_partition);
  if (err != ESP_OK) return fail(500, "Update failed", esp_err_to_name(err));
  log_msg(2, nullptr, "Success - rebooting", (int32_t)(millis() - s_started_ms));
}

static void on_request(AsyncWebServerRequest *req) {
  if (s_error && s_error[0] == '\0') return;  // 401 sent
  if (s_error) {
    web_send_error(req, s_error_code, s_error);
    s_in_progress = false;
    return;
  }
  if (s_written == 0) {
    web_send_error(req, 400, "Only .bin files are supported");  // no file part
    return;
  }
  web_send_success(req, "Update successful! Rebooting...");
  reboot_schedule(500);
}

void routes_update(AsyncWebServer &server) { server.on("/api/update", HTTP_POST, on_request, on_chunk); }
