#include "image_url.h"

#include <Arduino.h>
#include <ArduinoJson.h>
#include <esp_crt_bundle.h>
#include <esp_http_client.h>
#include <freertos/FreeRTOS.h>
#include <stdlib.h>
#include <string.h>

#include "body_buffer.h"
#include "image_api.h"
#include "json_psram.h"
#include "logger.h"
#include "mem_telemetry.h"
#include "psram_alloc.h"
#include "web_server.h"

static constexpr size_t URL_BODY_LIMIT = 1024;
static constexpr size_t URL_MAX_LEN = 256;
static constexpr uint32_t DEFAULT_DOWNLOAD_S = 15;
static constexpr uint32_t MAX_DOWNLOAD_S = 30;

// The queued job, shared with the async_tcp task under s_mux.
static portMUX_TYPE s_mux = portMUX_INITIALIZER_UNLOCKED;
static char s_url[URL_MAX_LEN];
static uint32_t s_timeout_s;
static bool s_queued, s_running;

static void on_request(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) {
    body_buffer_release(req);
    return;
  }
  size_t len = 0;
  char *body = body_buffer_take(req, &len);
  if (!body) return;  // 413/503/400 already sent
  if (len > URL_BODY_LIMIT) {
    body_buffer_release(req);
    return web_send_error(req, 413, "Body too large");
  }
  JsonDocument doc = make_json_doc_psram();
  DeserializationError err = deserializeJson(doc, body, len);
  body_buffer_release(req);
  if (err) return web_send_error(req, 400, "Invalid JSON");
  const char *url = doc["url"] | "";
  if (url[0] == '\0') return web_send_error(req, 400, "Missing url");
  if (strlen(url) >= URL_MAX_LEN) return web_send_error(req, 400, "URL too long");
  uint32_t t = req->hasParam("timeout") ? (uint32_t)strtoul(req->getParam("timeout")->value().c_str(), nullptr, 10) : IMAGE_DEFAULT_TIMEOUT_S;
  bool busy;
  portENTER_CRITICAL(&s_mux);
  busy = s_queued || s_running || image_api_pending();
  if (!busy) {
    strlcpy(s_url, url, sizeof s_url);
    s_timeout_s = t;
    s_queued = true;
  }
  portEXIT_CRITICAL(&s_mux);
  if (busy) return web_send_error(req, 409, "Busy");
  web_send_success(req, "Image URL queued");
}

// The device's rules: 200, a Content-Length, not chunked, <= 300 KiB,
// JPEG magic. Returns the buffer (caller owns) or nullptr with *why set.
static uint8_t *download(const char *url, uint32_t timeout_s, size_t *out_len, const char **why) {
  esp_http_client_config_t cfg = {};
  cfg.url = url;
  cfg.timeout_ms = (int)(timeout_s * 1000);
  cfg.crt_bundle_attach = esp_crt_bundle_attach;  // https: verified (the team's device skips this)
  esp_http_client_handle_t c = esp_http_client_init(&cfg);
  if (!c) {
    *why = "client init";
    return nullptr;
  }
  uint8_t *buf = nullptr;
  int64_t length = -1;
  size_t got = 0;
  if (esp_http_client_open(c, 0) != ESP_OK) {
    *why = "connect failed";
    goto done;
  }
  length = esp_http_client_fetch_headers(c);
  if (esp_http_client_get_status_code(c) != 200) {
    *why = "HTTP status not 200";
    goto done;
  }
  if (esp_http_client_is_chunked_response(c) || length <= 0) {
    *why = "no Content-Length (chunked replies are not supported)";
    goto done;
  }
  if ((size_t)length > IMAGE_MAX_UPLOAD_BYTES) {
    *why = "too large";
    goto done;
  }
  buf = static_cast<uint8_t *>(psram_prefer_malloc((size_t)length));
  if (!buf) {
    *why = "out of memory";
    goto done;
  }
  while (got < (size_t)length) {
    int n = esp_http_client_read(c, reinterpret_cast<char *>(buf) + got, (int)((size_t)length - got));
    if (n <= 0) break;
    got += (size_t)n;
  }
  if (got != (size_t)length) {
    *why = "short read";
  } else if (got < 3 || buf[0] != 0xFF || buf[1] != 0xD8 || buf[2] != 0xFF) {
    *why = "not a JPEG";
  } else {
    *out_len = got;
  }
done:
  esp_http_client_close(c);
  esp_http_client_cleanup(c);
  if (*why && buf) {
    free(buf);
    buf = nullptr;
  }
  return buf;
}

void image_url_loop() {
  static char url[URL_MAX_LEN];
  uint32_t t;
  portENTER_CRITICAL(&s_mux);
  bool go = s_queued;
  if (go) {
    strlcpy(url, s_url, sizeof url);
    t = s_timeout_s;
    s_queued = false;
    s_running = true;
  }
  portEXIT_CRITICAL(&s_mux);
  if (!go) return;
  // One number, two uses: download timeout (0 -> 15 s, <= 30 s) and
  // display time (0 -> the 10 s default).
  uint32_t download_s = t == 0 ? DEFAULT_DOWNLOAD_S : (t > MAX_DOWNLOAD_S ? MAX_DOWNLOAD_S : t);
  uint32_t display_s = t == 0 ? IMAGE_DEFAULT_TIMEOUT_S : (t > IMAGE_MAX_TIMEOUT_S ? IMAGE_MAX_TIMEOUT_S : t);
  log_msgf(0, "Portal", 0, "Downloading image URL (%s)", url);
  mem_snapshot_emit("urlimg pre-download");
  const char *why = nullptr;
  size_t len = 0;
  uint8_t *buf = download(url, download_s, &len, &why);
  if (buf) {
    mem_snapshot_emit("urlimg post-download");
    if (!image_api_queue(buf, len, display_s)) {  // ownership not taken
      free(buf);
      why = "an upload is pending";
    }
  }
  if (why) {
    log_msgf(0, "Portal", 0, "Image URL download failed: %s", why);
    mem_snapshot_emit("urlimg download-fail");
  }
  portENTER_CRITICAL(&s_mux);
  s_running = false;
  portEXIT_CRITICAL(&s_mux);
}

void routes_image_url(AsyncWebServer &server) {
  server.on("/api/display/image_url", HTTP_POST, on_request, nullptr,
            [](AsyncWebServerRequest *req, uint8_t *data, size_t len, size_t index, size_t total) {
              body_buffer_collect(req, data, len, index, total);
            });
}
