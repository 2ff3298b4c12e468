/* ht_snapshot.h - one heap snapshot and the fragmentation metric.
 *
 * Keys match the serial protocol: hf heap free, hm heap min free since boot,
 * hl largest internal free block, hi internal free, hin internal min free
 * since boot, pf PSRAM free, pm PSRAM min free, pl PSRAM largest block.
 */
#ifndef HT_SNAPSHOT_H
#define HT_SNAPSHOT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t hf;  /* heap free (internal, 8-bit capable) */
    uint32_t hm;  /* heap minimum free since boot */
    uint32_t hl;  /* largest free internal block */
    uint32_t hi;  /* internal free */
    uint32_t hin; /* internal minimum free since boot (low-water mark) */
    uint32_t pf;  /* PSRAM free */
    uint32_t pm;  /* PSRAM minimum free since boot */
    uint32_t pl;  /* largest free PSRAM block */
} ht_snapshot_t;

/* floor((1 - largest_block / free_bytes) * 100), clamped to 0..100,
 * integer math only. free_bytes == 0 -> 0; largest_block >= free_bytes -> 0. */
uint8_t ht_frag_percent(uint32_t free_bytes, uint32_t largest_block);

#ifdef __cplusplus
}
#endif

#endif /* HT_SNAPSHOT_H */
