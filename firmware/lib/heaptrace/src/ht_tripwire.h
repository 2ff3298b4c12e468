/* ht_tripwire.h - once-per-boot low internal heap tripwire. */
#ifndef HT_TRIPWIRE_H
#define HT_TRIPWIRE_H

#include <stdbool.h>
#include <stdint.h>

#include "ht_snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t threshold; /* bytes; fires when hin < threshold */
    bool fired;
} ht_tripwire_t;

void ht_tripwire_init(ht_tripwire_t *t, uint32_t threshold);
/* True exactly once (the first time s->hin < threshold), then false until
 * ht_tripwire_init() is called again. */
bool ht_tripwire_check(ht_tripwire_t *t, const ht_snapshot_t *s);

#ifdef __cplusplus
}
#endif

#endif /* HT_TRIPWIRE_H */
