//! Line-by-line parser behaviour on what real serial output looks like.

use super::*;

fn kind(line: &str) -> LineKind {
    parse_line(line.as_bytes()).kind
}

#[test]
fn snapshot_with_indent_suffix_and_crlf() {
    let line = parse_line(b"    [Mem] hb hf=20912 hm=18040 hl=9204 hi=20912 hin=18040 frag=55 pf=8271944 pm=8266852 pl=8257524 (12ms)\r\n");
    assert_eq!(line.indent, 4);
    assert_eq!(line.elapsed_ms, Some(12));
    let LineKind::Snapshot(s) = line.kind else {
        panic!("not a snapshot: {:?}", line.kind)
    };
    assert_eq!(s.tag, "hb");
    assert_eq!(
        s.values(),
        [20912, 18040, 9204, 20912, 18040, 55, 8271944, 8266852, 8257524].map(Some)
    );
    assert!(s.extras.is_empty());
}

#[test]
fn snapshot_keys_in_any_order_missing_and_unknown() {
    let LineKind::Snapshot(s) = kind("[Mem] setup pl=5 hin=7 newthing=abc hf=9") else {
        panic!()
    };
    assert_eq!((s.hf, s.hin, s.pl, s.hm), (Some(9), Some(7), Some(5), None));
    assert_eq!(s.extras, [("newthing".to_owned(), "abc".to_owned())]);
}

#[test]
fn multi_word_tags_are_kept_whole() {
    let LineKind::Snapshot(s) = kind("[Mem] img decode start hf=1 hin=2") else {
        panic!()
    };
    assert_eq!(s.tag, "img decode start");
}

#[test]
fn garbled_known_value_is_kept_not_zeroed() {
    let LineKind::Snapshot(s) = kind("[Mem] hb hf=12x34 hin=5") else {
        panic!()
    };
    assert_eq!(s.hf, None);
    assert_eq!(s.extras, [("hf".to_owned(), "12x34".to_owned())]);
}

#[test]
fn mem_line_without_pairs_is_unrecognized() {
    assert_eq!(kind("[Mem] heartbeat task started"), LineKind::Unrecognized);
}

#[test]
fn tripwire_line() {
    let LineKind::Tripwire(t) = kind("[Mem] TRIPWIRE fired tag=http_root hin=21532B < 30720B (hf=22000B hl=9000B frag=59% pf=8200000B pl=8100000B)") else {
        panic!()
    };
    assert_eq!(t.tag, "http_root");
    assert_eq!(t.hin, Some(21532));
    assert_eq!(t.threshold, Some(30720));
    assert_eq!(
        (t.hf, t.hl, t.frag, t.pf, t.pl),
        (
            Some(22000),
            Some(9000),
            Some(59),
            Some(8200000),
            Some(8100000)
        )
    );
}

#[test]
fn task_dump_header_and_tasks_with_odd_cores_and_names() {
    assert_eq!(
        kind("[Mem] Task dump (14 tasks, sorted by stack margin) tag=http_root"),
        LineKind::TaskDump(TaskDumpHeader {
            count: Some(14),
            tag: Some("http_root".into())
        })
    );
    let LineKind::Task(t) = kind("  [Task] name=ipc0 prio=24 core=2147483647 stack_rem=76B") else {
        panic!()
    };
    assert_eq!(
        (t.name.as_str(), t.prio, t.core, t.stack_rem),
        ("ipc0", Some(24), Some(2147483647), Some(76))
    );
    let LineKind::Task(t) =
        kind("[Task] name=\"><img src=x onerror=alert(1)> prio=1 core=-1 stack_rem=12B")
    else {
        panic!()
    };
    assert_eq!(t.name, "\"><img src=x onerror=alert(1)>");
    assert_eq!(t.core, Some(-1));
}

#[test]
fn async_tcp_watermark() {
    let LineKind::StackWatermark(w) = kind("[Portal] AsyncTCP stack watermark: task=async_tcp rem=2100 units (2100 B), unit=1 B, CONFIG_ASYNC_TCP_STACK_SIZE(raw)=10240") else {
        panic!()
    };
    assert_eq!(w.task.as_deref(), Some("async_tcp"));
    assert_eq!(
        (w.rem_units, w.rem_bytes, w.unit_bytes, w.stack_size_raw),
        (Some(2100), Some(2100), Some(1), Some(10240))
    );
}

#[test]
fn alloc_failure() {
    assert_eq!(
        kind("[Mem] ALLOC_FAILED size=4096 caps=0x804 fn=heap_caps_malloc"),
        LineKind::AllocFailed(AllocFailure {
            size: Some(4096),
            caps: Some(0x804),
            function: Some("heap_caps_malloc".into())
        })
    );
}

#[test]
fn boot_markers() {
    assert_eq!(
        kind("ESP-ROM:esp32s3-20210327"),
        LineKind::Boot(BootMarker::RomBanner {
            rom: "esp32s3-20210327".into()
        })
    );
    assert_eq!(
        kind("rst:0xc (RTC_SW_CPU_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)"),
        LineKind::Boot(BootMarker::Reset {
            code: Some(12),
            reason: Some("RTC_SW_CPU_RST".into()),
            boot_mode: Some("SPI_FAST_FLASH_BOOT".into())
        })
    );
    assert_eq!(
        kind("[System Boot] Starting..."),
        LineKind::Boot(BootMarker::SystemBoot)
    );
    assert_eq!(
        kind("  Firmware: v1.5.0"),
        LineKind::Firmware {
            version: "v1.5.0".into()
        }
    );
    assert_eq!(
        kind("[WiFi] Got IP: 192.168.1.112 (0ms)"),
        LineKind::GotIp {
            ip: "192.168.1.112".into()
        }
    );
    assert_eq!(kind("[Main] Setup complete (0ms)"), LineKind::Ready);
}

#[test]
fn crash_markers() {
    let crash = |line: &str| match kind(line) {
        LineKind::Crash(c) => c,
        other => panic!("{line:?} → {other:?}"),
    };
    assert_eq!(
        crash("Guru Meditation Error: Core  1 panic'ed (LoadProhibited). Exception was unhandled.")
            .kind,
        CrashKind::GuruMeditation
    );
    assert_eq!(
        crash("***ERROR*** A stack overflow in task loopTask has been detected. panic'ed").kind,
        CrashKind::Panic
    );
    let canary = crash("Debug exception reason: Stack canary watchpoint triggered (async_tcp) ");
    assert_eq!(
        (canary.kind, canary.task.as_deref()),
        (CrashKind::StackCanary, Some("async_tcp"))
    );
    let bt = crash("Backtrace: 0x4037a1b2:0x3fcebf30 0x42008a10:0x3fcebf70 |<-CORRUPTED");
    assert_eq!(
        bt.backtrace,
        [(0x4037a1b2, 0x3fcebf30), (0x42008a10, 0x3fcebf70)]
    );
    assert_eq!(
        crash("abort() was called at PC 0x42003d3f on core 0").kind,
        CrashKind::Abort
    );
    assert_eq!(
        crash("Brownout detector was triggered").kind,
        CrashKind::Brownout
    );
}

#[test]
fn invalid_utf8_and_nul_are_replaced_not_fatal() {
    let line = parse_line(b"\xff\x00[Mem] hb hf=1\r\n");
    assert!(line.text.starts_with("\u{FFFD}\u{FFFD}"));
    assert_eq!(line.kind, LineKind::Unrecognized);
    assert_eq!(parse_line(b"").kind, LineKind::Unrecognized);
    assert_eq!(parse_line(b"\r\n").text, "");
}

#[test]
fn valid_lines_borrow_instead_of_allocating() {
    let line = parse_line(b"[Mem] hb hf=1\n");
    assert!(matches!(line.text, std::borrow::Cow::Borrowed(_)));
}

#[test]
fn fragmentation_matches_the_firmware_formula() {
    assert_eq!(frag_percent(0, 0), 0);
    assert_eq!(frag_percent(100, 200), 0);
    assert_eq!(frag_percent(100, 100), 0);
    assert_eq!(frag_percent(3, 1), 66);
    assert_eq!(frag_percent(20912, 9204), 55);
}

#[test]
fn health_sample_is_lenient_per_field() {
    let sample = HealthSample::from_json(
        br#"{"uptime_seconds": 12, "heap_internal_free": 123.0, "heap_internal_min": "oops",
            "cpu_usage": 3.5, "reset_reason": null, "fs_mounted": true, "ip_address": "10.0.0.2",
            "brand_new_field": [1, 2]}"#,
    )
    .expect("object");
    assert_eq!(sample.uptime_seconds, Some(12));
    assert_eq!(sample.heap_internal_free, Some(123));
    assert_eq!(sample.heap_internal_min, None);
    assert_eq!(sample.cpu_usage, Some(3.5));
    assert_eq!(sample.reset_reason, None);
    assert_eq!(sample.fs_mounted, Some(true));
    assert_eq!(sample.ip_address.as_deref(), Some("10.0.0.2"));
    assert_eq!(sample.psram_free, None);
    assert_eq!(sample.extras["brand_new_field"], serde_json::json!([1, 2]));
    assert!(HealthSample::from_json(b"[1]").is_err());
    assert!(HealthSample::from_json(b"{\"uptime_seconds\": 1").is_err());
}
