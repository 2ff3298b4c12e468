// Tiny serial logger: "<indent>[<module>] <message> (<N>ms)".
// Lines are composed in a static buffer (no heap) and written under a mutex.
#pragma once
#include <stddef.h>
#include <stdint.h>

// Pass LOG_NO_ELAPSED to omit the " (<N>ms)" suffix.
constexpr int32_t LOG_NO_ELAPSED = -1;

void logger_begin();
// Writes one raw line (a '\n' is appended).
void log_raw(const char *line, size_t len);
// indent is 0, 2, 4 or 6 spaces; module may be nullptr (no "[...] " part).
void log_msg(uint8_t indent, const char *module, const char *msg, int32_t elapsed_ms);
void log_msgf(uint8_t indent, const char *module, int32_t elapsed_ms, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
