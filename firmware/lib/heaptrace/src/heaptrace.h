/* heaptrace.h - portable, allocation-free heap telemetry core (C99).
 *
 * No heap allocation, no Arduino/ESP-IDF includes. The platform glue lives
 * in the application (see firmware/src/) behind ht_platform_t.
 */
#ifndef HEAPTRACE_H
#define HEAPTRACE_H

#include "ht_snapshot.h"
#include "ht_buf.h"
#include "ht_task.h"
#include "ht_format.h"
#include "ht_tripwire.h"
#include "ht_window.h"
#include "ht_health.h"
#include "ht_platform.h"

#endif /* HEAPTRACE_H */
