//! The serial line parser: whole logs through the line splitter (chunked
//! as the input's first byte says) and every line through `parse_line`,
//! plus generated lines built from the protocol's own keys.

use heaplab::ingest::LineSplitter;
use heaplab::protocol::{parse_line, MEM_KEYS};

use crate::engine::{AllocBound, Target};
use crate::mutate::{Rng, TEXT_INTS};

const DICT: &[&[u8]] = &[
    b"[Mem] ",
    b"[Mem] hb ",
    b"[Mem] TRIPWIRE fired tag=",
    b" hin=",
    b" < ",
    b"[Mem] Task dump (",
    b"[Mem] ALLOC_FAILED size=",
    b" caps=0x",
    b" fn=",
    b"[Task] name=",
    b" stack_rem=",
    b" core=",
    b"[Portal] AsyncTCP stack watermark:",
    b" rem=",
    b" unit=",
    b"[System Boot]",
    b"ESP-ROM:",
    b"rst:0x",
    b",boot:0x",
    b"Firmware:",
    b"[WiFi] Got IP:",
    b"[Main] Setup complete",
    b"Backtrace:",
    b" 0x4037a1b2:0x3fcebf30",
    b"Stack canary watchpoint triggered (",
    b"Guru Meditation Error",
    b" (12ms)",
    b"ms)",
    b"\0",
    b"\r\n",
    b"\xff\xfe",
    b"=",
];

pub fn target() -> Target {
    let log = std::fs::read(crate::fixture("serial/desk-s4-crash.log")).expect("serial fixture");
    let harness_log =
        std::fs::read(crate::fixture("harness/20260109_150318_s4/serial.log")).expect("fixture");
    let mut seeds = vec![log.clone(), harness_log];
    seeds.extend(log.split(|&b| b == b'\n').map(<[u8]>::to_vec));
    Target {
        name: "serial_line",
        seeds,
        dict: DICT,
        generate: Some(generate),
        max_len: 64 * 1024,
        // The splitter keeps one line (≤ 1 KiB here). A `[Mem]` line keeps
        // unknown pairs as `extras`: a (String, String) of 48 B for a 4-byte
        // `k= ` token (found by the fuzzer: `[Mem] bo= pl= pl= …`, 28 B/B
        // measured), twice that while the Vec grows, plus the JSON written.
        bound: AllocBound {
            base: 64 * 1024,
            per_byte: 64,
        },
        run: Box::new(run),
    }
}

fn run(input: &[u8]) {
    let chunk = 1 + usize::from(input.first().copied().unwrap_or(0));
    let mut splitter = LineSplitter::new(1024);
    let mut each = |line: &[u8], _truncated: bool| check(line);
    for part in input.chunks(chunk) {
        splitter.push(part, &mut each);
    }
    splitter.finish(&mut each);
    check(input);
}

/// Parses a line and serializes what it means, as the recorder stores it.
fn check(line: &[u8]) {
    let parsed = parse_line(line);
    assert!(parsed.indent <= parsed.text.len());
    serde_json::to_string(&parsed.kind).expect("a parsed line serializes");
}

/// A line of one of the protocol's kinds with random keys and values.
fn generate(rng: &mut Rng) -> Vec<u8> {
    let mut line = String::from(*rng.pick(&[
        "[Mem] hb",
        "[Mem] http_root",
        "[Mem] TRIPWIRE fired tag=x",
        "[Mem] ALLOC_FAILED",
        "[Mem] Task dump (3 tasks) tag=t",
        "[Task]",
        "[Portal] AsyncTCP stack watermark:",
        "Backtrace:",
        "rst:",
    ]));
    let keys: &[&str] = &[
        "size",
        "caps",
        "fn",
        "name",
        "prio",
        "core",
        "stack_rem",
        "task",
        "rem",
        "unit",
        "tag",
    ];
    for _ in 0..rng.below(12) {
        let key = if rng.chance(2) {
            *rng.pick(&MEM_KEYS)
        } else {
            *rng.pick(keys)
        };
        let value = rng.pick(TEXT_INTS);
        let suffix = rng.pick(&["", "B", "%", ",", ")", "B)"]);
        if rng.chance(5) {
            line.push_str(&format!(" 0x{:x}:0x{:x}", rng.next(), rng.next() as u32));
        } else {
            line.push_str(&format!(" {key}={value}{suffix}"));
        }
    }
    if rng.chance(3) {
        line.push_str(&format!(" ({}ms)", rng.pick(TEXT_INTS)));
    }
    let indent = " ".repeat(rng.below(8));
    format!("{indent}{line}\n").into_bytes()
}
