//! The FreeRTOS task table the tripwire's task dump prints: realistic names,
//! priorities, affinities and stack margins for an ESP32-S3 Arduino app.

use super::ffi::{sort_tasks_by_margin, TaskInfo};
use super::profile::Placement;
use super::profile::Region;
use super::rng::SplitMix64;

/// `CONFIG_ASYNC_TCP_STACK_SIZE` as built (raw value, bytes on Arduino-ESP32).
pub const ASYNC_TCP_STACK_SIZE: u32 = 10240;
/// `sizeof(StackType_t)` on Arduino-ESP32: watermarks are in bytes.
pub const STACK_UNIT_BYTES: u32 = 1;
/// `tskNO_AFFINITY` as some IDF versions print it.
const NO_AFFINITY: i32 = 2147483647;

/// The async_tcp task's stack margin: tight when handlers build big
/// documents on the internal heap path (baseline), roomy when tuned.
pub fn async_tcp_margin(placement: &Placement, rng: &mut SplitMix64) -> u32 {
    match placement.web {
        Region::Internal => rng.range_u32(2000, 2200),
        Region::Psram => rng.range_u32(4100, 4400),
    }
}

/// Every task with its margin, tightest first (sorted by the C core).
pub fn task_table(
    placement: &Placement,
    mqtt: bool,
    async_tcp_rem: u32,
    rng: &mut SplitMix64,
) -> Vec<TaskInfo> {
    let tight = placement.ble == Region::Internal;
    let mut t = |name: &str, prio: u32, core: i32, lo: u32, hi: u32| TaskInfo {
        name: name.to_owned(),
        prio,
        core,
        stack_rem: rng.range_u32(lo, hi),
    };
    let mut tasks = vec![
        t("loopTask", 1, 1, 1100, 1300),
        if tight {
            t("ipc0", 24, 0, 76, 76)
        } else {
            t("ipc0", 24, 0, 480, 520)
        },
        if tight {
            t("ipc1", 24, 1, 84, 84)
        } else {
            t("ipc1", 24, 1, 490, 530)
        },
        t("esp_timer", 22, 0, 2000, 2200),
        t("wifi", 23, 0, 1400, 1600),
        t("tiT", 18, -1, 1700, 1900),
        t("sys_evt", 20, 0, 700, 800),
        t("IDLE0", 0, 0, 580, 620),
        t("IDLE1", 0, 1, 580, 620),
        t("Tmr Svc", 1, 0, 1500, 1600),
        t("lvgl", 2, 1, 2600, 3000),
        t("nimble_host", 21, NO_AFFINITY, 900, 1100),
    ];
    tasks.push(TaskInfo {
        name: "async_tcp".to_owned(),
        prio: 3,
        core: NO_AFFINITY,
        stack_rem: async_tcp_rem,
    });
    if mqtt {
        tasks.push(TaskInfo {
            name: "mqtt_task".to_owned(),
            prio: 5,
            core: -1,
            stack_rem: rng.range_u32(2200, 2500),
        });
    }
    sort_tasks_by_margin(&mut tasks);
    tasks
}
