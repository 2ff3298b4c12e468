#include "ht_tripwire.h"

#include <stddef.h>

void ht_tripwire_init(ht_tripwire_t *t, uint32_t threshold)
{
    if (t == NULL) {
        return;
    }
    t->threshold = threshold;
    t->fired = false;
}

bool ht_tripwire_check(ht_tripwire_t *t, const ht_snapshot_t *s)
{
    if (t == NULL || s == NULL || t->fired) {
        return false;
    }
    if (s->hin < t->threshold) {
        t->fired = true;
        return true;
    }
    return false;
}
