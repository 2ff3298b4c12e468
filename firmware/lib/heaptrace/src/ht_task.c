#include "ht_task.h"

void ht_tasks_sort_by_margin(ht_task_t *tasks, size_t n)
{
    size_t i;

    if (tasks == NULL) {
        return;
    }
    for (i = 1u; i < n; i++) {
        ht_task_t key = tasks[i];
        size_t j = i;
        /* strict '>' keeps equal margins in their original order */
        while (j > 0u && tasks[j - 1u].stack_rem > key.stack_rem) {
            tasks[j] = tasks[j - 1u];
            j--;
        }
        tasks[j] = key;
    }
}
