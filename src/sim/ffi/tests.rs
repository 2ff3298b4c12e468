//! Checks that the Rust mirrors of the C structs have the C layout (probed
//! from the compiled C) and that the formatters print what the firmware
//! prints: a mismatch here would make the twin lie about the device. Kept
//! out of `ffi.rs` so the bindings read on their own.

use super::*;
use std::mem::{offset_of, size_of};

extern "C" {
    fn heaplab_layout_probe(which: u32) -> usize;
}

fn c(which: u32) -> usize {
    // SAFETY: pure function returning a constant.
    unsafe { heaplab_layout_probe(which) }
}

#[test]
fn struct_layout_matches_the_c_headers() {
    assert_eq!(size_of::<Snapshot>(), c(0));
    assert_eq!(size_of::<RawTask>(), c(1));
    assert_eq!(offset_of!(RawTask, prio), c(2));
    assert_eq!(offset_of!(RawTask, core), c(3));
    assert_eq!(offset_of!(RawTask, stack_rem), c(4));
    assert_eq!(size_of::<WindowStats>(), c(5));
    assert_eq!(offset_of!(WindowStats, internal_frag_max), c(6));
    assert_eq!(offset_of!(WindowStats, psram_free_min), c(7));
    assert_eq!(offset_of!(WindowStats, psram_frag_max), c(8));
    assert_eq!(size_of::<RawTripwire>(), c(9));
    assert_eq!(size_of::<OptI64>(), c(10));
    assert_eq!(size_of::<OptF64>(), c(11));
    assert_eq!(size_of::<OptBool>(), c(12));
    assert_eq!(size_of::<RawHealth>(), c(13));
    assert_eq!(offset_of!(RawHealth, reset_reason), c(14));
    assert_eq!(offset_of!(RawHealth, fs_type), c(15));
    assert_eq!(offset_of!(RawHealth, fs_mounted), c(16));
    assert_eq!(offset_of!(RawHealth, display_fps), c(17));
    assert_eq!(offset_of!(RawHealth, ip_address), c(18));
    assert_eq!(offset_of!(RawHealth, hostname), c(19));
    assert_eq!(offset_of!(RawHealth, mqtt_enabled), c(20));
    assert_eq!(offset_of!(RawHealth, fs_used_bytes), c(21));
}

fn snap() -> Snapshot {
    Snapshot {
        hf: 20912,
        hm: 18040,
        hl: 9204,
        hi: 20912,
        hin: 18040,
        pf: 8271944,
        pm: 8266852,
        pl: 8257524,
    }
}

#[test]
fn mem_line_matches_the_protocol_example() {
    assert_eq!(
        fmt_mem("hb", &snap()),
        "[Mem] hb hf=20912 hm=18040 hl=9204 hi=20912 hin=18040 frag=55 pf=8271944 pm=8266852 pl=8257524"
    );
}

#[test]
fn long_tag_is_retried_not_truncated() {
    let tag = "t".repeat(5000);
    let line = fmt_mem(&tag, &snap());
    assert!(line.contains(&tag));
    assert!(line.ends_with("pl=8257524"));
}

#[test]
fn interior_nul_becomes_replacement_char() {
    assert!(fmt_mem("a\0b", &snap()).starts_with("[Mem] a\u{FFFD}b hf="));
}

#[test]
fn tripwire_fires_once() {
    let mut t = Tripwire::new(30720);
    let mut s = snap();
    assert!(t.check(&s));
    assert!(!t.check(&s));
    s.hin = 1;
    assert!(!t.check(&s));
    assert!(t.fired());
    assert_eq!(t.threshold(), 30720);
}

#[test]
fn window_takes_and_resets() {
    let mut w = Window::new();
    assert_eq!(w.take(), None);
    let mut s = snap();
    w.update(&s);
    s.hi = 100;
    w.update(&s);
    let got = w.take().expect("samples");
    assert_eq!(got.samples, 2);
    assert_eq!(got.internal_free_min, 100);
    assert_eq!(got.internal_free_max, 20912);
    assert_eq!(w.take(), None);
}

#[test]
fn tasks_sort_stably_and_keep_names() {
    let mut tasks = vec![
        TaskInfo {
            name: "loopTask".into(),
            prio: 1,
            core: 1,
            stack_rem: 1200,
        },
        TaskInfo {
            name: "ipc0".into(),
            prio: 24,
            core: 0,
            stack_rem: 76,
        },
        TaskInfo {
            name: "a very long task name that gets cut".into(),
            prio: 1,
            core: -1,
            stack_rem: 76,
        },
    ];
    sort_tasks_by_margin(&mut tasks);
    assert_eq!(tasks[0].name, "ipc0");
    assert_eq!(tasks[1].name, "a very long task name th");
    assert_eq!(tasks[2].name, "loopTask");
    assert_eq!(
        fmt_task(&tasks[1]),
        "[Task] name=a very long task name th prio=1 core=-1 stack_rem=76B"
    );
}

#[test]
fn health_json_has_snapshot_window_and_strings() {
    let mut w = Window::new();
    w.update(&snap());
    let fields = HealthFields {
        snapshot: Some(snap()),
        window: w.take(),
        uptime_seconds: Some(12),
        reset_reason: Some("SW \"x\"".into()),
        cpu_usage: Some(12.345),
        fs_mounted: Some(true),
        ..Default::default()
    };
    let json: serde_json::Value = serde_json::from_str(&health_json(&fields)).expect("valid JSON");
    assert_eq!(json["uptime_seconds"], 12);
    assert_eq!(json["reset_reason"], "SW \"x\"");
    assert_eq!(json["heap_internal_min"], 18040);
    assert_eq!(json["heap_fragmentation"], 55);
    assert_eq!(json["heap_internal_free_min_window"], 20912);
    assert_eq!(json["cpu_usage"], 12.35);
    assert_eq!(json["fs_mounted"], true);
    assert!(json["hostname"].is_null());
}

#[test]
fn other_lines() {
    assert_eq!(
        fmt_alloc_failed(4096, 0x804, "heap_caps_malloc"),
        "[Mem] ALLOC_FAILED size=4096 caps=0x804 fn=heap_caps_malloc"
    );
    assert_eq!(
        fmt_async_tcp_watermark(2100, 1, 10240),
        "[Portal] AsyncTCP stack watermark: task=async_tcp rem=2100 units (2100 B), unit=1 B, CONFIG_ASYNC_TCP_STACK_SIZE(raw)=10240"
    );
    assert_eq!(fmt_log_suffix(42), " (42ms)");
    assert_eq!(
        fmt_task_header(14, "http_root"),
        "[Mem] Task dump (14 tasks, sorted by stack margin) tag=http_root"
    );
    assert_eq!(frag_percent(20912, 9204), 55);
}
