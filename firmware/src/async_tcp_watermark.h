// "[Portal] AsyncTCP stack watermark: ..." for right-sizing CONFIG_ASYNC_TCP_STACK_SIZE.
#pragma once

void async_tcp_watermark_log();       // every call (used by the task dump)
void async_tcp_watermark_log_once();  // first call per boot only
