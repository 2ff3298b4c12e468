//! The FFI contract: whatever the firmware's C formatters write (called
//! through `heaplab::sim::ffi`, exactly as the twin and the ESP32 do),
//! heaplab's parser reads back value for value.

use heaplab::protocol::{frag_percent, parse_line, HealthSample, LineKind};
use heaplab::sim::ffi::{self, HealthFields, Snapshot, TaskInfo, Window};
use proptest::prelude::*;

fn snapshot() -> impl Strategy<Value = Snapshot> {
    prop::array::uniform8(any::<u32>()).prop_map(|v| Snapshot {
        hf: v[0],
        hm: v[1],
        hl: v[2],
        hi: v[3],
        hin: v[4],
        pf: v[5],
        pm: v[6],
        pl: v[7],
    })
}

/// Heap-like snapshots too: largest ≤ free, so frag is not always 0.
fn any_snapshot() -> impl Strategy<Value = Snapshot> {
    prop_oneof![
        snapshot(),
        (snapshot(), 0u32..=100).prop_map(|(mut s, pct)| {
            s.hl = (u64::from(s.hi) * u64::from(pct) / 100) as u32;
            s.pl = (u64::from(s.pf) * u64::from(pct) / 100) as u32;
            s
        }),
    ]
}

const TAG: &str = "[a-z_][a-z0-9_]{0,30}";

fn i(v: u32) -> Option<i64> {
    Some(i64::from(v))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mem_line_round_trips(tag in TAG, s in any_snapshot()) {
        let line = ffi::fmt_mem(&tag, &s);
        let parsed = parse_line(line.as_bytes());
        let LineKind::Snapshot(m) = parsed.kind else {
            panic!("not a snapshot: {line}");
        };
        prop_assert_eq!(&m.tag, &tag);
        prop_assert_eq!(
            m.values(),
            [i(s.hf), i(s.hm), i(s.hl), i(s.hi), i(s.hin),
             Some(frag_percent(i64::from(s.hi), i64::from(s.hl))),
             i(s.pf), i(s.pm), i(s.pl)]
        );
        prop_assert_eq!(
            m.frag,
            Some(i64::from(ffi::frag_percent(s.hi, s.hl)))
        );
        prop_assert!(m.extras.is_empty());
    }

    #[test]
    fn mem_line_with_log_suffix_round_trips(tag in TAG, s in any_snapshot(), ms in any::<u32>()) {
        let line = format!("{}{}", ffi::fmt_mem(&tag, &s), ffi::fmt_log_suffix(ms));
        let parsed = parse_line(line.as_bytes());
        prop_assert_eq!(parsed.elapsed_ms, Some(u64::from(ms)));
        let LineKind::Snapshot(m) = parsed.kind else {
            panic!("not a snapshot: {line}");
        };
        prop_assert_eq!(m.pl, i(s.pl));
    }

    #[test]
    fn tripwire_line_round_trips(tag in TAG, s in any_snapshot(), threshold in any::<u32>()) {
        let line = ffi::fmt_tripwire(&tag, &s, threshold);
        let LineKind::Tripwire(t) = parse_line(line.as_bytes()).kind else {
            panic!("not a tripwire: {line}");
        };
        prop_assert_eq!(&t.tag, &tag);
        prop_assert_eq!(t.hin, i(s.hin));
        prop_assert_eq!(t.threshold, i(threshold));
        prop_assert_eq!(t.hf, i(s.hf));
        prop_assert_eq!(t.hl, i(s.hl));
        prop_assert_eq!(t.frag, Some(frag_percent(i64::from(s.hi), i64::from(s.hl))));
        prop_assert_eq!(t.pf, i(s.pf));
        prop_assert_eq!(t.pl, i(s.pl));
    }

    #[test]
    fn task_lines_round_trip(
        name in "[A-Za-z0-9_][A-Za-z0-9_ ]{0,23}",
        prio in any::<u32>(),
        core in prop_oneof![Just(-1i32), Just(2_147_483_647i32), 0i32..2],
        stack_rem in any::<u32>(),
        count in any::<u32>(),
        tag in TAG,
    ) {
        let task = TaskInfo { name: name.clone(), prio, core, stack_rem };
        let line = ffi::fmt_task(&task);
        let LineKind::Task(t) = parse_line(line.as_bytes()).kind else {
            panic!("not a task: {line}");
        };
        prop_assert_eq!(&t.name, &name);
        prop_assert_eq!(t.prio, i(prio));
        prop_assert_eq!(t.core, Some(i64::from(core)));
        prop_assert_eq!(t.stack_rem, i(stack_rem));

        let header = ffi::fmt_task_header(count, &tag);
        let LineKind::TaskDump(h) = parse_line(header.as_bytes()).kind else {
            panic!("not a task dump header: {header}");
        };
        prop_assert_eq!(h.count, i(count));
        prop_assert_eq!(h.tag.as_deref(), Some(tag.as_str()));
    }

    #[test]
    fn alloc_failed_round_trips(size in any::<u32>(), caps in any::<u32>(), function in "[a-z_]{1,24}") {
        let line = ffi::fmt_alloc_failed(size, caps, &function);
        let LineKind::AllocFailed(a) = parse_line(line.as_bytes()).kind else {
            panic!("not an alloc failure: {line}");
        };
        prop_assert_eq!(a.size, i(size));
        prop_assert_eq!(a.caps, i(caps));
        prop_assert_eq!(a.function.as_deref(), Some(function.as_str()));
    }

    #[test]
    fn watermark_round_trips(rem in any::<u32>(), unit in 1u32..=4, raw in any::<u32>()) {
        let line = ffi::fmt_async_tcp_watermark(rem, unit, raw);
        let LineKind::StackWatermark(w) = parse_line(line.as_bytes()).kind else {
            panic!("not a watermark: {line}");
        };
        prop_assert_eq!(w.task.as_deref(), Some("async_tcp"));
        prop_assert_eq!(w.rem_units, i(rem));
        prop_assert_eq!(w.rem_bytes, Some(i64::from(rem) * i64::from(unit)));
        prop_assert_eq!(w.unit_bytes, i(unit));
        prop_assert_eq!(w.stack_size_raw, i(raw));
    }

    #[test]
    fn health_json_round_trips(
        s in any_snapshot(),
        samples in prop::collection::vec(any_snapshot(), 0..4),
        uptime in any::<i64>(),
        reset_reason in prop::option::of("\\PC{0,20}"),
        hostname in prop::option::of("[ -~]{0,30}"),
        cpu_usage in prop::option::of(-1.0e6f64..1.0e6),
        fs_mounted in prop::option::of(any::<bool>()),
        rssi in prop::option::of(-100i64..0),
        heap_size in prop::option::of(any::<i64>()),
    ) {
        let mut window = Window::new();
        for sample in &samples {
            window.update(sample);
        }
        let window = window.take();
        let fields = HealthFields {
            snapshot: Some(s),
            window,
            uptime_seconds: Some(uptime),
            reset_reason: reset_reason.clone(),
            hostname: hostname.clone(),
            cpu_usage,
            fs_mounted,
            wifi_rssi: rssi,
            heap_size,
            ..Default::default()
        };
        let body = ffi::health_json(&fields);
        let h = HealthSample::from_json(body.as_bytes()).expect("C writes valid JSON");
        prop_assert!(h.extras.is_empty(), "unknown keys: {:?}", h.extras);
        prop_assert_eq!(h.uptime_seconds, Some(uptime));
        prop_assert_eq!(h.reset_reason, reset_reason);
        prop_assert_eq!(h.hostname, hostname);
        prop_assert_eq!(h.fs_mounted, fs_mounted);
        prop_assert_eq!(h.wifi_rssi, rssi);
        prop_assert_eq!(h.heap_size, heap_size);
        match (cpu_usage, h.cpu_usage) {
            (Some(want), Some(got)) => prop_assert!((want - got).abs() <= 0.005 + 1e-9 * want.abs(), "{} vs {}", want, got),
            (None, None) => {}
            (want, got) => prop_assert!(false, "cpu_usage {:?} read as {:?}", want, got),
        }
        prop_assert_eq!(h.heap_free, i(s.hf));
        prop_assert_eq!(h.heap_min, i(s.hm));
        prop_assert_eq!(h.heap_internal_free, i(s.hi));
        prop_assert_eq!(h.heap_internal_min, i(s.hin));
        prop_assert_eq!(h.heap_internal_largest, i(s.hl));
        prop_assert_eq!(h.heap_fragmentation, Some(frag_percent(i64::from(s.hi), i64::from(s.hl))));
        prop_assert_eq!(h.psram_free, i(s.pf));
        prop_assert_eq!(h.psram_min, i(s.pm));
        prop_assert_eq!(h.psram_largest, i(s.pl));
        prop_assert_eq!(h.psram_fragmentation, Some(frag_percent(i64::from(s.pf), i64::from(s.pl))));
        if samples.is_empty() {
            prop_assert_eq!(h.heap_internal_free_min_window, None);
            prop_assert_eq!(h.psram_fragmentation_max_window, None);
        } else {
            let min_hi = samples.iter().map(|x| x.hi).min().map(i64::from);
            let max_pf = samples.iter().map(|x| x.pf).max().map(i64::from);
            let max_frag = samples.iter().map(|x| frag_percent(i64::from(x.hi), i64::from(x.hl))).max();
            prop_assert_eq!(h.heap_internal_free_min_window, min_hi);
            prop_assert_eq!(h.psram_free_max_window, max_pf);
            prop_assert_eq!(h.heap_fragmentation_max_window, max_frag);
        }
        prop_assert_eq!(h.display_fps, None);
        prop_assert_eq!(h.ip_address, None);
    }
}
