// Collects one HTTP request body at a time into a PSRAM scratch buffer
// (no per-request malloc, no String). AsyncTCP runs every callback on the
// async_tcp task, so one owner at a time is enough; a second concurrent
// upload gets 503.
#pragma once
#include <stddef.h>
#include <stdint.h>

class AsyncWebServerRequest;

constexpr size_t BODY_MAX_BYTES = 64 * 1024;

void body_buffer_begin();
// onBody handler: call with every chunk.
void body_buffer_collect(AsyncWebServerRequest *req, const uint8_t *data, size_t len, size_t index, size_t total);
// onRequest handler: the complete NUL-terminated body of *this* request, or
// nullptr after sending the error response (413 too large, 503 busy, 400 empty).
// Must be followed by body_buffer_release(req).
char *body_buffer_take(AsyncWebServerRequest *req, size_t *len);
void body_buffer_release(AsyncWebServerRequest *req);
