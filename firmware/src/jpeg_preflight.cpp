#include "jpeg_preflight.h"

#include <stdio.h>

#include "display_screens.h"

bool jpeg_has_magic(const uint8_t *d, size_t len) { return len >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF; }

static const char *frame(const uint8_t *seg, size_t len, JpegFrame *out, char *msg, size_t cap) {
  if (len < 6) return "Unsupported JPEG: no baseline frame header";
  out->height = (uint16_t)(seg[1] << 8 | seg[2]);
  out->width = (uint16_t)(seg[3] << 8 | seg[4]);
  out->components = seg[5];
  if (out->components != 1 && out->components != 3) {
    snprintf(msg, cap, "Unsupported JPEG: %u components (1 or 3 supported)", out->components);
    return msg;
  }
  if (len < 6 + 3u * out->components) return "Unsupported JPEG: no baseline frame header";
  for (uint8_t i = 0; i < out->components; i++) {
    uint8_t h = seg[6 + 3 * i + 1] >> 4, v = seg[6 + 3 * i + 1] & 0x0F;
    bool ok = i == 0 ? ((h == 1 && v == 1) || (h == 2 && v == 1) || (h == 2 && v == 2)) : (h == 1 && v == 1);
    if (!ok) return "Unsupported JPEG subsampling (luma 1x1, 2x1 or 2x2; chroma 1x1)";
  }
  return nullptr;
}

const char *jpeg_preflight(const uint8_t *d, size_t len, JpegFrame *out, char *msg, size_t cap) {
  if (!jpeg_has_magic(d, len)) return "Invalid JPEG file";
  size_t at = 2;
  while (at + 4 <= len) {
    if (d[at] != 0xFF) break;
    uint8_t marker = d[at + 1];
    if (marker == 0xFF) {
      at++;
      continue;
    }
    size_t seg_len = (size_t)(d[at + 2] << 8 | d[at + 3]);
    if (marker == 0xC0 || marker == 0xC1) {
      if (at + 2 + seg_len > len || seg_len < 2) break;
      return frame(d + at + 4, seg_len - 2, out, msg, cap);
    }
    if (marker == 0xC2 || marker == 0xC6 || marker == 0xCA || marker == 0xCE)
      return "Progressive JPEG is not supported (baseline only)";
    if ((marker >= 0xC3 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) ||
        marker == 0xDA || marker == 0xD9)
      break;
    at += 2 + seg_len;
  }
  return "Unsupported JPEG: no baseline frame header";
}

const char *jpeg_preflight_full(const uint8_t *d, size_t len, char *msg, size_t cap) {
  JpegFrame f;
  const char *err = jpeg_preflight(d, len, &f, msg, cap);
  if (err) return err;
  if (f.width != DISPLAY_SIDE || f.height != DISPLAY_SIDE) {
    snprintf(msg, cap, "Unsupported JPEG dimensions: got %ux%u, expected %ux%u", f.width, f.height, DISPLAY_SIDE,
             DISPLAY_SIDE);
    return msg;
  }
  return nullptr;
}

const char *jpeg_preflight_strip(const uint8_t *d, size_t len, uint16_t width, uint16_t height, char *msg,
                                 size_t cap) {
  JpegFrame f;
  const char *err = jpeg_preflight(d, len, &f, msg, cap);
  if (err) return err;
  uint16_t max_h = height < DISPLAY_SIDE ? height : DISPLAY_SIDE;
  if (f.width != width || f.height == 0 || f.height > max_h) {
    snprintf(msg, cap, "Unsupported strip: got %ux%u, expected width %u and height <= %u", f.width, f.height, width,
             max_h);
    return msg;
  }
  return nullptr;
}
