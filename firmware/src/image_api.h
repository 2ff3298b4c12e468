// The image API's state (device-api.md §8): one pending full upload, one
// shown image, one strip upload. HTTP handlers (async_tcp) only buffer and
// queue; the main loop decodes (ROM TJpgDec into a PSRAM-first RGB565
// frame), shows, times out and dismisses, and prints the img/strip tags.
// Buffers are PSRAM first with an internal fallback (heap_caps_malloc_prefer).
#pragma once
#include <stddef.h>
#include <stdint.h>

constexpr size_t IMAGE_MAX_UPLOAD_BYTES = 300 * 1024;  // the whole multipart request
constexpr uint32_t IMAGE_DEFAULT_TIMEOUT_S = 10;
constexpr uint32_t IMAGE_MAX_TIMEOUT_S = 86400;
// Internal RAM an upload needs while its body streams in (lwIP, request).
constexpr size_t IMAGE_UPLOAD_INTERNAL_RESERVE = 8 * 1024;

void image_api_begin();
void image_api_loop();        // decode, show, timeout, dismiss (main loop only)
void image_api_drop_cover();  // a screen switch replaced the shown image

// Full uploads: queue a complete, preflighted JPEG (takes ownership of buf,
// which came from psram_prefer_malloc). False when one is already pending.
bool image_api_queue(uint8_t *buf, size_t len, uint32_t timeout_s);
bool image_api_pending();
void image_api_request_dismiss();

// Strips: 0 on success, else an HTTP status with *msg set.
int image_api_strip(uint32_t index, uint32_t count, uint16_t width, uint16_t height, uint32_t timeout_s,
                    const uint8_t *data, size_t len, const char **msg);
