//! Pass/fail against the acceptance criteria, one check at a time, so a
//! failed verdict always says which number broke which rule.

use serde::{Deserialize, Serialize};

use super::Derived;

/// The thresholds a run is judged by. Defaults are the plan's: internal
/// minimum ≥ 100 KB, steady-state fragmentation < 40 %, and no tripwire,
/// crash or allocation failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcceptanceCriteria {
    /// Lowest acceptable `hin_min`, bytes.
    pub hin_min_bytes: i64,
    /// Steady-state fragmentation must stay strictly below this percent.
    pub steady_frag_max_percent: i64,
    pub allow_tripwire: bool,
    pub allow_crash: bool,
    pub allow_alloc_failures: bool,
}

impl Default for AcceptanceCriteria {
    fn default() -> Self {
        AcceptanceCriteria {
            hin_min_bytes: 102_400,
            steady_frag_max_percent: 40,
            allow_tripwire: false,
            allow_crash: false,
            allow_alloc_failures: false,
        }
    }
}

/// One rule applied to one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    /// The rule in words with its unit, e.g. `>= 102400 B`.
    pub threshold: String,
    /// What the run measured; `None` when it has no data for this rule.
    pub measured: Option<i64>,
    pub unit: String,
    pub pass: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunVerdict {
    pub pass: bool,
    pub checks: Vec<Check>,
}

impl RunVerdict {
    pub fn label(&self) -> &'static str {
        if self.pass {
            "PASS"
        } else {
            "FAIL"
        }
    }
}

pub fn judge(d: &Derived, c: &AcceptanceCriteria) -> RunVerdict {
    let mut checks = Vec::with_capacity(5);

    checks.push(match d.hin_min {
        Some(v) => Check::new("hin_min", format!(">= {} B", c.hin_min_bytes), Some(v), "B")
            .pass_if(
                v >= c.hin_min_bytes,
                format!("internal minimum free was {v} B"),
            ),
        // A run without snapshots proves nothing about the heap.
        None => Check::new("hin_min", format!(">= {} B", c.hin_min_bytes), None, "B")
            .pass_if(false, "no memory snapshots recorded".into()),
    });

    checks.push(match d.steady_frag_max {
        Some(v) => Check::new(
            "steady_frag_max",
            format!("< {} %", c.steady_frag_max_percent),
            Some(v),
            "%",
        )
        .pass_if(
            v < c.steady_frag_max_percent,
            format!("worst steady-state (hb) fragmentation was {v} %"),
        ),
        None => Check::new(
            "steady_frag_max",
            format!("< {} %", c.steady_frag_max_percent),
            None,
            "%",
        )
        .pass_if(true, "no steady-state (hb) snapshots to judge".into()),
    });

    let fired = i64::from(d.tripwire.fired);
    checks.push(
        Check::new("tripwire", "not fired".into(), Some(fired), "").pass_if(
            !d.tripwire.fired || c.allow_tripwire,
            match (&d.tripwire.tag, d.tripwire.hin) {
                (Some(tag), Some(hin)) if d.tripwire.fired => {
                    format!("fired at {tag} with hin {hin} B")
                }
                _ if d.tripwire.fired => "fired".into(),
                _ => "not fired".into(),
            },
        ),
    );

    checks.push(
        Check::new(
            "crash",
            "none".into(),
            Some(i64::from(d.panic.detected)),
            "",
        )
        .pass_if(
            !d.panic.detected || c.allow_crash,
            match &d.panic.line {
                Some(line) => format!("crash marker: {line}"),
                None => "no crash marker".into(),
            },
        ),
    );

    checks.push(
        Check::new("alloc_failures", "0".into(), Some(d.alloc_failures), "").pass_if(
            d.alloc_failures == 0 || c.allow_alloc_failures,
            format!("{} failed allocation(s)", d.alloc_failures),
        ),
    );

    RunVerdict {
        pass: checks.iter().all(|c| c.pass),
        checks,
    }
}

impl Check {
    fn new(name: &str, threshold: String, measured: Option<i64>, unit: &str) -> Self {
        Check {
            name: name.to_owned(),
            threshold,
            measured,
            unit: unit.to_owned(),
            pass: false,
            detail: String::new(),
        }
    }

    fn pass_if(mut self, pass: bool, detail: String) -> Self {
        self.pass = pass;
        self.detail = detail;
        self
    }
}
