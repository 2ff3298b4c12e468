// Tagged heap snapshots, the heartbeat, the tripwire and its task dump.
//
// Async web / timer callbacks must NOT print snapshots themselves (that
// perturbs the async_tcp stack and the very heap being measured): they call
// mem_snapshot_request(tag) and the main loop emits the line.
#pragma once

void mem_telemetry_begin();
// Capture + print "[Mem] <tag> ..." now, then tripwire check (+ task dump).
// Main loop / setup only.
void mem_snapshot_emit(const char *tag);
// Queue a tag from any task (copied; at most 8 pending, extra are dropped).
void mem_snapshot_request(const char *tag);
// From loop(): drains the queue and emits "hb" every MEMORY_HEARTBEAT_INTERVAL_MS.
void mem_telemetry_loop();
// "[Mem] Task dump (...)" + "[Task] ..." lines + the AsyncTCP watermark.
void mem_task_dump(const char *tag);
