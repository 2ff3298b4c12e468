//! Scenario TOML: `Scenario::parse` on mutated built-ins and generated
//! files, then what the runner does with a parsed step before it touches a
//! device: numbers and statuses resolved against the params, `{{param}}`
//! substitution and `wait_for` patterns matched against a serial line.

use std::collections::BTreeMap;

use heaplab::scenario::model::{line_matches, substitute, ExpectStatus, Num};
use heaplab::scenario::{Scenario, StepKind, BUILTINS};

use crate::engine::{AllocBound, Target};
use crate::mutate::{Rng, TEXT_INTS};

const DICT: &[&[u8]] = &[
    b"[[step]]\n",
    b"type = ",
    b"\"http\"",
    b"\"wait_for\"",
    b"\"burst\"",
    b"\"sleep\"",
    b"[params]\n",
    b"{{",
    b"}}",
    b"*",
    b"?",
    b"=",
    b"[",
    b"]",
    b"{",
    b"}",
    b"\"",
    b"'''",
    b"\"\"\"",
    b"\n",
    b"timeout = ",
    b"when = \"a.b\"",
    b"body_from = ",
    b"expect_status = ",
    b"\"2xx\"",
    b"1979-05-27T07:32:00Z",
    b"inf",
    b"nan",
];

/// A heartbeat line as the device prints it, for `wait_for` patterns.
const LINE: &str = "[Mem] hb hf=178000 hm=175000 hl=110000 hi=178000 hin=175000 frag=38 (0ms)";

pub fn target() -> Target {
    Target {
        name: "scenario_toml",
        seeds: BUILTINS
            .iter()
            .map(|(_, t)| t.as_bytes().to_vec())
            .collect(),
        dict: DICT,
        generate: Some(generate),
        max_len: 64 * 1024,
        // toml lexes the whole file into tokens and parse events before
        // building the tree: about 100 B per input byte measured on the
        // worst case found (`=[[[[…`, one token per byte, 1 800 to 14 400
        // bytes: 100 B/B at both sizes, so linear). 256 B/B leaves room for
        // the vectors' doubling; anything beyond is not linear.
        bound: AllocBound {
            base: 64 * 1024,
            per_byte: 256,
        },
        run: Box::new(run),
    }
}

fn run(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let Ok(scenario) = Scenario::parse("fuzz.toml", &text) else {
        return;
    };
    let params = &scenario.params;
    for step in &scenario.steps {
        for num in nums(&step.kind) {
            let _ = num.resolve(params);
        }
        match &step.kind {
            StepKind::WaitFor { pattern, .. } => {
                if let Ok(p) = substitute(pattern, params) {
                    let _ = line_matches(&p, LINE);
                }
            }
            StepKind::Http {
                path,
                expect_status,
                ..
            } => {
                let _ = substitute(path, params);
                status(expect_status.as_ref(), params);
            }
            StepKind::Burst {
                paths,
                expect_status,
                ..
            } => {
                for p in paths {
                    let _ = substitute(p, params);
                }
                status(expect_status.as_ref(), params);
            }
            _ => {}
        }
    }
}

fn status(expect: Option<&ExpectStatus>, params: &BTreeMap<String, String>) {
    if let Some(e) = expect {
        let _ = e.accepts(200, params);
    }
}

fn nums(kind: &StepKind) -> Vec<&Num> {
    match kind {
        StepKind::Reboot { timeout }
        | StepKind::WaitFor { timeout, .. }
        | StepKind::WaitReady { timeout }
        | StepKind::WaitHeartbeat { timeout } => timeout.iter().collect(),
        StepKind::Http {
            body_bytes,
            timeout,
            jpeg,
            ..
        } => {
            let mut v: Vec<&Num> = body_bytes.iter().chain(timeout.iter()).collect();
            if let Some(j) = jpeg {
                v.extend([&j.width, &j.height, &j.max_bytes]);
            }
            v
        }
        StepKind::Burst {
            parallel,
            repeat,
            health,
            ..
        } => parallel.iter().chain(repeat).chain(health).collect(),
        StepKind::Sleep { seconds } => vec![seconds],
        StepKind::Health {
            settle_s,
            max_internal_delta,
            max_psram_delta,
            timeout,
            ..
        } => settle_s
            .iter()
            .chain(max_internal_delta)
            .chain(max_psram_delta)
            .chain(timeout)
            .collect(),
        StepKind::Mark { .. } | StepKind::Pause { .. } => Vec::new(),
    }
}

/// A scenario of random steps, with deep nesting and globs now and then.
fn generate(rng: &mut Rng) -> Vec<u8> {
    let mut out = String::from("name = \"gen\"\n[params]\nn = 3\nhost = \"x\"\n");
    if rng.chance(8) {
        let depth = 1 + rng.below(5000);
        out.push_str(&format!(
            "deep = {}{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        ));
    }
    for _ in 0..rng.below(6) {
        out.push_str("[[step]]\n");
        match rng.below(5) {
            0 => {
                let stars = "*a".repeat(rng.below(12));
                out.push_str(&format!("type = \"wait_for\"\npattern = \"{stars}hb*?\"\n"));
            }
            1 => out.push_str(&format!(
                "type = \"http\"\npath = \"/{{{{host}}}}\"\nexpect_status = \"{}xx\"\n",
                rng.pick(TEXT_INTS)
            )),
            2 => {
                out.push_str("type = \"burst\"\npaths = [\"/a\", \"/{{n}}\"]\nrepeat = \"{{n}}\"\n")
            }
            3 => out.push_str(&format!(
                "type = \"sleep\"\nseconds = {}\n",
                rng.pick(TEXT_INTS)
            )),
            _ => out.push_str(&format!(
                "type = \"mark\"\ntag = \"t\"\nname = \"{}\"\n",
                rng.next()
            )),
        }
    }
    out.into_bytes()
}
