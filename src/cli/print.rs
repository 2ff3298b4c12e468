//! Human-readable terminal output. Every number carries its unit.

use serde::Serialize;

use crate::analysis::{Cliffs, Derived, RunVerdict, SnapshotValues, TagPresence};
use crate::harness::per_tag_table;
use crate::recorder::ImportOutcome;
use crate::report::{ComparisonDocument, RunDocument};
use crate::store::RunRecord;
use crate::units::{plain, signed, time_short};

pub fn json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}

pub fn import_outcome(o: &ImportOutcome) {
    if o.already_imported {
        println!("{}: already imported as run {}", o.path.display(), o.run_id);
        return;
    }
    println!(
        "{}: imported as run {} ({} lines, {} snapshots, {} events, {} health samples)",
        o.path.display(),
        o.run_id,
        o.lines,
        o.snapshots,
        o.events,
        o.health_samples
    );
    if !o.corrupt.is_empty() {
        println!("  skipped {} corrupt line(s):", o.corrupt.len());
        for (file, line, why) in o.corrupt.iter().take(10) {
            println!("    {file}:{line}: {why}");
        }
    }
    for w in &o.warnings {
        println!("  warning: {w}");
    }
}

pub fn run_list(runs: &[RunRecord]) {
    if runs.is_empty() {
        println!("no runs yet: `heaplab import PATH` or `heaplab demo`");
        return;
    }
    println!(
        "{:>5}  {:<19}  {:<8}  {:<10}  {:<11}  label",
        "id", "started (UTC)", "kind", "scenario", "status"
    );
    for r in runs {
        println!(
            "{:>5}  {:<19}  {:<8}  {:<10}  {:<11}  {}",
            r.id,
            time_short(r.started_us),
            format!("{:?}", r.kind).to_lowercase(),
            r.scenario.as_deref().unwrap_or("-"),
            r.status.as_str(),
            r.label.as_deref().unwrap_or("")
        );
    }
}

pub fn run_document(doc: &RunDocument) {
    run_header(&doc.run);
    println!();
    derived(&doc.report.derived);
    println!();
    verdict(&doc.report.verdict);
    println!();
    cliffs(&doc.report.cliffs);
    println!();
    print!("{}", per_tag_table(&doc.report.per_tag));
}

/// The run's metadata: label, scenario, times, status, firmware, git.
fn run_header(r: &RunRecord) {
    println!("run {}  {}", r.id, r.label.as_deref().unwrap_or(""));
    println!("  scenario:  {}", r.scenario.as_deref().unwrap_or("-"));
    println!("  started:   {} UTC", time_short(r.started_us));
    if let Some(end) = r.ended_us {
        println!("  ended:     {} UTC", time_short(end));
    }
    println!("  status:    {}", r.status.as_str());
    println!(
        "  firmware:  {}",
        r.firmware_version.as_deref().unwrap_or("-")
    );
    if let Some(commit) = &r.git_commit {
        println!(
            "  git:       {}@{}{}",
            r.git_branch.as_deref().unwrap_or("?"),
            commit,
            if r.git_dirty == Some(true) {
                " (dirty)"
            } else {
                ""
            }
        );
    }
}

/// The derived metrics, the tripwire and any panic.
fn derived(d: &Derived) {
    println!("derived");
    println!("  hin_min         {:>10} B", plain(d.hin_min));
    println!("  hm_min          {:>10} B", plain(d.hm_min));
    println!("  pf_min          {:>10} B", plain(d.pf_min));
    println!("  pm_min          {:>10} B", plain(d.pm_min));
    println!("  frag_max        {:>10} %", plain(d.frag_max));
    println!("  steady_frag_max {:>10} %", plain(d.steady_frag_max));
    println!("  alloc_failures  {:>10}", d.alloc_failures);
    println!("  reboots         {:>10}", d.reboots);
    println!("  snapshots       {:>10}", d.snapshots);
    println!("  tags            {}", d.tags.join(", "));
    if d.tripwire.fired {
        println!(
            "  tripwire        fired at {} (hin {} B < {} B)",
            d.tripwire.tag.as_deref().unwrap_or("?"),
            plain(d.tripwire.hin),
            plain(d.tripwire.threshold)
        );
        for t in &d.tripwire.worst_stacks {
            println!("    {:<16} stack_rem {:>6} B", t.name, plain(t.stack_rem));
        }
    } else {
        println!("  tripwire        not fired");
    }
    if d.panic.detected {
        println!(
            "  panic           {} at line {}: {}",
            d.panic.kind.as_deref().unwrap_or("?"),
            plain(d.panic.line_no),
            d.panic.line.as_deref().unwrap_or("")
        );
    }
}

/// The verdict and one line per check.
fn verdict(v: &RunVerdict) {
    println!("verdict: {}", v.label());
    for c in &v.checks {
        println!(
            "  [{}] {:<16} {:>10} {:<2} (threshold {}) {}",
            if c.pass { "pass" } else { "FAIL" },
            c.name,
            plain(c.measured),
            c.unit,
            c.threshold,
            c.detail
        );
    }
}

/// The largest drops of `hin`, then of `hi`.
fn cliffs(cliffs: &Cliffs) {
    println!("cliffs (largest drops between consecutive snapshots)");
    for c in cliffs.hin.iter().chain(&cliffs.hi) {
        println!(
            "  {:<4} -{:>7} B  {} → {}",
            c.metric, c.drop, c.tag_before, c.tag_after
        );
    }
}

pub fn comparison(doc: &ComparisonDocument) {
    let c = &doc.comparison;
    println!(
        "A = run {} ({}), B = run {} ({}); deltas are B − A",
        doc.a.id,
        doc.a.label.as_deref().unwrap_or("-"),
        doc.b.id,
        doc.b.label.as_deref().unwrap_or("-")
    );
    println!();
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>7} {:>10}   {:>9} {:>9}",
        "tag (last snapshot)",
        "Δhin B",
        "Δhm B",
        "Δhi B",
        "Δfrag %",
        "Δpf B",
        "min Δhin",
        "min Δhi"
    );
    for t in &c.tags {
        let note = match t.presence {
            TagPresence::Both => "",
            TagPresence::OnlyA => "  (only in A)",
            TagPresence::OnlyB => "  (only in B)",
        };
        let l = t.last_delta.unwrap_or(EMPTY);
        let m = t.min_delta.unwrap_or(EMPTY);
        println!(
            "{:<28} {:>9} {:>9} {:>9} {:>7} {:>10}   {:>9} {:>9}{note}",
            t.tag,
            signed(l.hin),
            signed(l.hm),
            signed(l.hi),
            signed(l.frag),
            signed(l.pf),
            signed(m.hin),
            signed(m.hi)
        );
    }
    println!();
    for (name, m, unit) in [
        ("hin_min", c.hin_min, "B"),
        ("frag_max", c.frag_max, "%"),
        ("pf_min", c.pf_min, "B"),
    ] {
        println!(
            "{name:<9} A {:>10} {unit}   B {:>10} {unit}   Δ {:>10} {unit}",
            plain(m.a),
            plain(m.b),
            signed(m.delta)
        );
    }
    println!(
        "verdict   A {}   B {}   ({})",
        if c.pass_a { "PASS" } else { "FAIL" },
        if c.pass_b { "PASS" } else { "FAIL" },
        c.verdict_change
    );
}

const EMPTY: SnapshotValues = SnapshotValues {
    hin: None,
    hm: None,
    hi: None,
    frag: None,
    pf: None,
};
