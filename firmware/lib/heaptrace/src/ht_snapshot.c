#include "ht_snapshot.h"

uint8_t ht_frag_percent(uint32_t free_bytes, uint32_t largest_block)
{
    uint64_t pct;

    if (free_bytes == 0u || largest_block >= free_bytes) {
        return 0u;
    }
    /* floor(100 * (free - largest) / free); 64-bit so 100 * 4 GiB fits. */
    pct = ((uint64_t)(free_bytes - largest_block) * 100u) / (uint64_t)free_bytes;
    return (uint8_t)(pct > 100u ? 100u : pct);
}
