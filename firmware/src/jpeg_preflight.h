// JPEG preflight for the image API (device-api.md §8): reads the frame
// header and refuses what the decoder cannot draw. No decoding, no heap.
#pragma once
#include <stddef.h>
#include <stdint.h>

struct JpegFrame {
  uint16_t width, height;
  uint8_t components;
};

bool jpeg_has_magic(const uint8_t *data, size_t len);  // FF D8 FF
// Baseline, 1 or 3 components, chroma 1x1, luma 1x1/2x1/2x2. nullptr when
// fine, else the message (written into msg, cap bytes).
const char *jpeg_preflight(const uint8_t *data, size_t len, JpegFrame *out, char *msg, size_t cap);
// A full upload: the checks plus exactly DISPLAY_SIDE x DISPLAY_SIDE.
const char *jpeg_preflight_full(const uint8_t *data, size_t len, char *msg, size_t cap);
// A strip: width == `width`, 0 < height <= min(`height`, DISPLAY_SIDE).
const char *jpeg_preflight_strip(const uint8_t *data, size_t len, uint16_t width, uint16_t height, char *msg,
                                 size_t cap);
