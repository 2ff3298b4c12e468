#include <stdio.h>

#include "test_util.h"

int main(void)
{
    test_format();
    test_core();
    test_health();
    printf("%u passed, %u failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
