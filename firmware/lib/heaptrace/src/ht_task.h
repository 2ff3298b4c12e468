/* ht_task.h - one task's stack margin and the margin sort. */
#ifndef HT_TASK_H
#define HT_TASK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HT_TASK_NAME_LEN 24

typedef struct {
    char name[HT_TASK_NAME_LEN]; /* NUL-terminated unless all 24 bytes are used */
    uint32_t prio;
    int32_t core;       /* -1 or 2147483647 when the task has no affinity */
    uint32_t stack_rem; /* stack high-water mark: bytes never used */
} ht_task_t;

/* Ascending stack_rem (tightest first); stable insertion sort, in place. */
void ht_tasks_sort_by_margin(ht_task_t *tasks, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* HT_TASK_H */
