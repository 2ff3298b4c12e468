//! The `/api/health` JSON: `HealthSample::from_json` on mutated bodies
//! from the harness fixture and on generated objects whose known fields
//! hold values of every JSON type and edge.

use heaplab::protocol::HealthSample;

use crate::engine::{AllocBound, Target};
use crate::mutate::{Rng, TEXT_INTS};

const DICT: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"true",
    b"1e999",
    b"-0.0",
    b"\\u0000",
    b"\\ud800",
    b"\"heap_free\":",
    b"\"uptime_seconds\":",
    b"\"ip_address\":",
];

pub fn target() -> Target {
    let text = std::fs::read_to_string(crate::fixture("harness/20260109_150318_s4/health.jsonl"))
        .expect("health fixture");
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for row in text.lines() {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str(row) else {
            continue;
        };
        if let Some(serde_json::Value::String(body)) = map.get("body") {
            seeds.push(body.clone().into_bytes());
        }
    }
    assert!(!seeds.is_empty(), "the fixture has health bodies");
    Target {
        name: "health_json",
        seeds,
        dict: DICT,
        generate: Some(generate),
        max_len: 64 * 1024,
        // serde_json's Map (an IndexMap, preserve_order) costs about 100 B
        // per `"k":0,` (6 B) entry; arrays of `0,` cost 32 B per 2 B while
        // growing. 64 B/B covers both with room.
        bound: AllocBound {
            base: 64 * 1024,
            per_byte: 64,
        },
        run: Box::new(run),
    }
}

fn run(input: &[u8]) {
    if let Ok(sample) = HealthSample::from_json(input) {
        serde_json::to_string(&sample).expect("a sample serializes");
    }
}

fn value(rng: &mut Rng, depth: usize) -> String {
    match rng.below(if depth > 3 { 4 } else { 6 }) {
        0 => rng.pick(TEXT_INTS).to_string(),
        1 => rng.pick(&["null", "true", "false"]).to_string(),
        2 => format!("\"{}\"", rng.pick(TEXT_INTS)),
        3 => {
            let n = 1 + rng.below(2000);
            format!("{}{}", "[".repeat(n), "]".repeat(n))
        }
        4 => format!("[{},{}]", value(rng, depth + 1), value(rng, depth + 1)),
        _ => format!("{{\"k\":{}}}", value(rng, depth + 1)),
    }
}

fn generate(rng: &mut Rng) -> Vec<u8> {
    let fields: Vec<String> = (0..rng.below(20))
        .map(|_| {
            let name = if rng.chance(4) {
                "unknown_field"
            } else {
                rng.pick(HealthSample::FIELDS)
            };
            format!("\"{name}\":{}", value(rng, 0))
        })
        .collect();
    format!("{{{}}}", fields.join(",")).into_bytes()
}
