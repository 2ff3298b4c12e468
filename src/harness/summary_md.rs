//! `summary.md`: the harness's human summary, which teams paste into pull
//! requests. Tables are GitHub-flavoured Markdown.

use std::fmt::Write;

use crate::analysis::{Derived, RunReport, TagSummary};
use crate::store::RunRecord;

/// Escapes a device-supplied string for a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

fn num(v: Option<i64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| v.to_string())
}

/// One row per tag, in order of first appearance: how many snapshots, the
/// last values, and the tag's worst `hin` and `frag`.
pub fn per_tag_table(tags: &[TagSummary]) -> String {
    let mut out = String::from(
        "| tag | count | last hi (B) | last hin (B) | min hin (B) | last frag (%) | max frag (%) | last pf (B) | min pf (B) |\n\
         |-----|------:|------------:|-------------:|------------:|--------------:|-------------:|------------:|-----------:|\n",
    );
    for t in tags {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&t.tag),
            t.count,
            num(t.last.hi),
            num(t.last.hin),
            num(t.hin_min),
            num(t.last.frag),
            num(t.frag_max),
            num(t.last.pf),
            num(t.pf_min),
        );
    }
    out
}

/// The whole `summary.md` for a run.
pub fn summary_markdown(run: &RunRecord, report: &RunReport) -> String {
    let mut out = String::new();
    write_header(&mut out, run, report);
    write_derived(&mut out, &report.derived);
    write_checks(&mut out, report);
    write_tripwire(&mut out, &report.derived);
    write_panic(&mut out, &report.derived);
    write_cliffs(&mut out, report);
    out.push_str("\n## Snapshots per tag\n\n");
    out.push_str(&per_tag_table(&report.per_tag));
    out
}

/// The title and the run's identity: times, firmware, commit, verdict.
fn write_header(out: &mut String, run: &RunRecord, report: &RunReport) {
    let _ = writeln!(
        out,
        "# Run {} — {}\n",
        run.id,
        cell(
            run.scenario
                .as_deref()
                .unwrap_or(run.label.as_deref().unwrap_or("run"))
        )
    );
    let _ = writeln!(out, "- Started: {}", super::time::iso(run.started_us));
    if let Some(end) = run.ended_us {
        let _ = writeln!(out, "- Ended: {}", super::time::iso(end));
    }
    if let Some(fw) = &run.firmware_version {
        let _ = writeln!(out, "- Firmware: {}", cell(fw));
    }
    if let Some(commit) = &run.git_commit {
        let _ = writeln!(
            out,
            "- Git: {}@{}{}",
            cell(run.git_branch.as_deref().unwrap_or("?")),
            cell(commit),
            if run.git_dirty == Some(true) {
                " (dirty)"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(out, "- Verdict: **{}**\n", report.verdict.label());
}

fn write_derived(out: &mut String, d: &Derived) {
    out.push_str("## Derived metrics\n\n| metric | value |\n|---|---:|\n");
    for (name, value, unit) in [
        ("hin_min", d.hin_min, "B"),
        ("hm_min", d.hm_min, "B"),
        ("pf_min", d.pf_min, "B"),
        ("pm_min", d.pm_min, "B"),
        ("frag_max", d.frag_max, "%"),
        ("steady_frag_max", d.steady_frag_max, "%"),
    ] {
        let _ = writeln!(out, "| `{name}` | {} {unit} |", num(value));
    }
    let _ = writeln!(out, "| alloc_failures | {} |", d.alloc_failures);
    let _ = writeln!(out, "| reboots | {} |", d.reboots);
    let _ = writeln!(out, "| snapshots | {} |\n", d.snapshots);
}

fn write_checks(out: &mut String, report: &RunReport) {
    out.push_str("## Verdict\n\n| check | threshold | measured | result |\n|---|---|---:|---|\n");
    for c in &report.verdict.checks {
        let _ = writeln!(
            out,
            "| {} | {} | {} {} | {} |",
            c.name,
            cell(&c.threshold),
            num(c.measured),
            c.unit,
            if c.pass { "pass" } else { "**FAIL**" }
        );
    }
}

/// Where the tripwire fired and the tightest task stacks at that moment.
fn write_tripwire(out: &mut String, d: &Derived) {
    out.push_str("\n## Tripwire\n\n");
    if !d.tripwire.fired {
        out.push_str("Not fired.\n");
        return;
    }
    let _ = writeln!(
        out,
        "Fired at `{}`: hin {} B < threshold {} B.\n\n| task | prio | core | stack_rem (B) |\n|---|---:|---:|---:|",
        cell(d.tripwire.tag.as_deref().unwrap_or("?")),
        num(d.tripwire.hin),
        num(d.tripwire.threshold)
    );
    for t in &d.tripwire.worst_stacks {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell(&t.name),
            num(t.prio),
            num(t.core),
            num(t.stack_rem)
        );
    }
}

fn write_panic(out: &mut String, d: &Derived) {
    out.push_str("\n## Panic\n\n");
    if d.panic.detected {
        let _ = writeln!(
            out,
            "Detected ({}) at serial line {}:\n\n```\n{}\n```",
            d.panic.kind.as_deref().unwrap_or("?"),
            num(d.panic.line_no),
            d.panic.line.as_deref().unwrap_or("").replace("```", "'''")
        );
    } else {
        out.push_str("None detected.\n");
    }
}

fn write_cliffs(out: &mut String, report: &RunReport) {
    out.push_str("\n## Cliffs\n\n| metric | drop (B) | from tag | to tag |\n|---|---:|---|---|\n");
    for c in report.cliffs.hin.iter().chain(&report.cliffs.hi) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            c.metric,
            c.drop,
            cell(&c.tag_before),
            cell(&c.tag_after)
        );
    }
}
