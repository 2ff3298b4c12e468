//! Property tests: the parser never panics, and what the firmware format
//! writes, the parser reads back unchanged.

use heaplab::protocol::{parse_line, HealthSample, LineKind, MemSnapshot, TaskStack};
use proptest::prelude::*;

fn tag() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,30}"
}

fn opt_u32() -> impl Strategy<Value = Option<i64>> {
    proptest::option::of((0u32..=u32::MAX).prop_map(i64::from))
}

prop_compose! {
    fn snapshot()(tag in tag(), v in proptest::array::uniform9(opt_u32()),
                  extras in proptest::collection::vec(("x[a-z]{1,6}", "[0-9a-z]{1,8}"), 0..3))
                  -> MemSnapshot {
        let [hf, hm, hl, hi, hin, frag, pf, pm, pl] = v;
        // At least one known key, or the line has no pairs to recognise.
        let hf = hf.or(Some(1));
        MemSnapshot { tag, hf, hm, hl, hi, hin, frag, pf, pm, pl, extras }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let line = parse_line(&bytes);
        prop_assert!(!line.text.ends_with(['\n', '\r']));
    }

    #[test]
    fn arbitrary_text_with_known_prefixes_never_panics(
        prefix in prop::sample::select(vec!["[Mem] ", "[Mem] TRIPWIRE fired", "[Mem] Task dump (", "[Task] ",
            "[Portal] AsyncTCP stack watermark:", "rst:", "Backtrace:", "[WiFi] Got IP:", "ESP-ROM:",
            "[Mem] ALLOC_FAILED"]),
        rest in "\\PC{0,120}",
        suffix in prop::sample::select(vec!["", " (5ms)", " (ms)", " (", "\r\n"]),
    ) {
        let text = format!("{prefix}{rest}{suffix}");
        let _ = parse_line(text.as_bytes());
    }

    #[test]
    fn formatted_snapshots_round_trip(s in snapshot(), indent in 0usize..=6, ms in proptest::option::of(0u64..100_000)) {
        let suffix = ms.map(|ms| format!(" ({ms}ms)")).unwrap_or_default();
        let text = format!("{}{}{}\r\n", " ".repeat(indent), s, suffix);
        let line = parse_line(text.as_bytes());
        prop_assert_eq!(line.elapsed_ms, ms);
        prop_assert_eq!(line.indent, indent);
        prop_assert_eq!(line.kind, LineKind::Snapshot(s));
    }

    #[test]
    fn formatted_tasks_round_trip(name in "[A-Za-z0-9_ =<>\"]{1,20}", prio in 0i64..25,
                                  core in prop::sample::select(vec![-1i64, 0, 1, 2147483647]),
                                  rem in 0i64..100_000) {
        prop_assume!(!name.starts_with(' ') && !name.ends_with(' '));
        let text = format!("[Task] name={name} prio={prio} core={core} stack_rem={rem}B");
        let expected = TaskStack { name: name.clone(), prio: Some(prio), core: Some(core), stack_rem: Some(rem) };
        prop_assert_eq!(parse_line(text.as_bytes()).kind, LineKind::Task(expected));
    }

    #[test]
    fn arbitrary_json_never_panics_the_health_parser(body in "\\PC{0,200}") {
        let _ = HealthSample::from_json(body.as_bytes());
    }
}
