/* layout_probe.c - sizeof/offsetof of the heaptrace structs, read by the
 * Rust unit test in src/sim/ffi.rs to prove the #[repr(C)] mirrors match. */
#include <stddef.h>

#include "heaptrace.h"

size_t heaplab_layout_probe(unsigned which)
{
    switch (which) {
    case 0: return sizeof(ht_snapshot_t);
    case 1: return sizeof(ht_task_t);
    case 2: return offsetof(ht_task_t, prio);
    case 3: return offsetof(ht_task_t, core);
    case 4: return offsetof(ht_task_t, stack_rem);
    case 5: return sizeof(ht_window_t);
    case 6: return offsetof(ht_window_t, internal_frag_max);
    case 7: return offsetof(ht_window_t, psram_free_min);
    case 8: return offsetof(ht_window_t, psram_frag_max);
    case 9: return sizeof(ht_tripwire_t);
    case 10: return sizeof(ht_opt_i64);
    case 11: return sizeof(ht_opt_f64);
    case 12: return sizeof(ht_opt_bool);
    case 13: return sizeof(ht_health_t);
    case 14: return offsetof(ht_health_t, reset_reason);
    case 15: return offsetof(ht_health_t, fs_type);
    case 16: return offsetof(ht_health_t, fs_mounted);
    case 17: return offsetof(ht_health_t, display_fps);
    case 18: return offsetof(ht_health_t, ip_address);
    case 19: return offsetof(ht_health_t, hostname);
    case 20: return offsetof(ht_health_t, mqtt_enabled);
    case 21: return offsetof(ht_health_t, fs_used_bytes);
    default: return 0;
    }
}
