//! The compare page's picker: runs and groups found by device, scenario,
//! text (label, scenario, device, firmware) and date, each with an "A" and
//! a "B" choice. It is a plain GET form, so the URL is the whole state and
//! a paste into a pull request opens the same page; the run list is paged
//! by keyset (a lab has thousands of runs).

use serde::Deserialize;

use crate::store::{GroupFilter, GroupListing, RunFilter, RunRecord, RunStatus, Store, StoreError};
use crate::units::time_short;
use crate::web::error::WebError;

/// Runs shown per page of the picker.
pub const RUNS_PER_PAGE: i64 = 25;
/// Groups shown per page of the picker.
pub const GROUPS_PER_PAGE: i64 = 10;

/// `/compare`'s query: the two sides, then the picker's filters and pages.
#[derive(Debug, Default, Deserialize)]
pub struct CompareQuery {
    /// Side A: a run id, a comma list of runs, or a group (`g3`).
    pub a: Option<String>,
    pub b: Option<String>,
    pub device: Option<String>,
    pub scenario: Option<String>,
    /// Text in the label, scenario, device name or firmware version.
    pub q: Option<String>,
    /// `YYYY-MM-DD`: runs and groups from this day on (UTC).
    pub since: Option<String>,
    /// `YYYY-MM-DD`: runs and groups up to the end of this day (UTC).
    pub until: Option<String>,
    /// Keyset cursor of the run list: the last run id shown.
    pub after: Option<i64>,
    /// Keyset cursor of the group list: the last group id shown.
    pub gafter: Option<i64>,
}

/// One run as the picker lists it.
pub struct PickRun {
    pub id: i64,
    /// The label, or `None`: shown as "unlabelled", never as `()`.
    pub label: Option<String>,
    pub device: String,
    pub scenario: String,
    pub started: String,
    /// Still recording: its numbers (and the tags it has reached) change
    /// between two loads of the same comparison.
    pub active: bool,
    pub a: bool,
    pub b: bool,
}

/// One group as the picker lists it.
pub struct PickGroup {
    pub id: i64,
    pub label: Option<String>,
    pub device: String,
    pub scenario: String,
    pub members: i64,
    pub created: String,
    pub a: bool,
    pub b: bool,
}

/// The picker, ready for the template.
pub struct Picker {
    pub devices: Vec<(i64, String, bool)>,
    pub scenarios: Vec<(String, bool)>,
    pub q: String,
    pub since: String,
    pub until: String,
    pub runs: Vec<PickRun>,
    /// The run id to pass as `after` for the next page, when there is one.
    pub next_after: Option<i64>,
    pub groups: Vec<PickGroup>,
    pub next_gafter: Option<i64>,
    /// A paged-on list: offer the way back to the newest.
    pub paged: bool,
}

/// Start of `YYYY-MM-DD` (UTC) in microseconds, `days` later.
fn day_start_us(name: &str, day: &Option<String>, days: i64) -> Result<Option<i64>, WebError> {
    let Some(text) = day.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        WebError::BadRequest(format!("{name} must be a date as YYYY-MM-DD, got {text:?}"))
    })?;
    Ok((date + chrono::Days::new(days as u64))
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_micros()))
}

/// The run ids and group ids a side (`12`, `g3`, `12,13`) names, as far as
/// they can be read without the store: to mark the picker's choices.
fn chosen(spec: &str) -> (Vec<i64>, Vec<i64>) {
    let (mut runs, mut groups) = (Vec::new(), Vec::new());
    for part in spec.split(',').map(|s| s.trim().trim_start_matches('#')) {
        if let Some(g) = part.strip_prefix(['g', 'G']) {
            groups.extend(g.parse::<i64>().ok());
        } else {
            runs.extend(part.parse::<i64>().ok());
        }
    }
    (runs, groups)
}

fn pick_run(run: RunRecord, a: &[i64], b: &[i64]) -> PickRun {
    PickRun {
        id: run.id,
        label: run.label.filter(|l| !l.is_empty()),
        device: run.device_name.unwrap_or_else(|| "–".into()),
        scenario: run.scenario.unwrap_or_else(|| "–".into()),
        started: time_short(run.started_us),
        active: run.status == RunStatus::Active,
        a: a.contains(&run.id),
        b: b.contains(&run.id),
    }
}

fn pick_group(g: GroupListing, a: &[i64], b: &[i64]) -> PickGroup {
    PickGroup {
        id: g.id,
        label: g.label.filter(|l| !l.is_empty()),
        device: g.device_name.unwrap_or_else(|| "–".into()),
        scenario: g.scenario.unwrap_or_else(|| "–".into()),
        members: g.members,
        created: time_short(g.created_us),
        a: a.contains(&g.id),
        b: b.contains(&g.id),
    }
}

impl Picker {
    /// One page of runs and of groups matching the query, newest first;
    /// the runs chosen as A or B stay listed (first) when the filter or
    /// the page would hide them, so a filter change never loses a choice.
    pub async fn load(store: &Store, q: &CompareQuery) -> Result<Picker, WebError> {
        let device_id = match q.device.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(d) => Some(d.parse::<i64>().map_err(|_| {
                WebError::BadRequest(format!("device must be a device id, got {d:?}"))
            })?),
        };
        let scenario = q.scenario.clone().filter(|s| !s.is_empty());
        let text =
            q.q.clone()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty());
        let since_us = day_start_us("since", &q.since, 0)?;
        let until_us = day_start_us("until", &q.until, 1)?;
        let (a_runs, a_groups) = chosen(q.a.as_deref().unwrap_or(""));
        let (b_runs, b_groups) = chosen(q.b.as_deref().unwrap_or(""));

        let mut found = store
            .runs(&RunFilter {
                device_id,
                scenario: scenario.clone(),
                since_us,
                until_us,
                text: text.clone(),
                limit: Some(RUNS_PER_PAGE + 1),
                after: q.after,
                ..Default::default()
            })
            .await?;
        let next_after = (found.len() as i64 > RUNS_PER_PAGE)
            .then(|| {
                found.truncate(RUNS_PER_PAGE as usize);
                found.last().map(|r| r.id)
            })
            .flatten();
        let mut runs = Vec::with_capacity(found.len() + 2);
        for id in a_runs.iter().chain(&b_runs) {
            if found.iter().any(|r| r.id == *id) || runs.iter().any(|r: &PickRun| r.id == *id) {
                continue;
            }
            match store.run(*id).await {
                Ok(run) => runs.push(pick_run(run, &a_runs, &b_runs)),
                // A chosen run that is gone is reported by the comparison.
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        runs.extend(found.into_iter().map(|r| pick_run(r, &a_runs, &b_runs)));

        let mut groups = store
            .group_listing(&GroupFilter {
                device_id,
                scenario: scenario.clone(),
                text: text.clone(),
                since_us,
                until_us,
                after: q.gafter,
                limit: GROUPS_PER_PAGE + 1,
            })
            .await?;
        let next_gafter = (groups.len() as i64 > GROUPS_PER_PAGE)
            .then(|| {
                groups.truncate(GROUPS_PER_PAGE as usize);
                groups.last().map(|g| g.id)
            })
            .flatten();

        let devices = store
            .devices()
            .await?
            .into_iter()
            .map(|d| {
                let selected = Some(d.id) == device_id;
                (d.id, d.name, selected)
            })
            .collect();
        let scenarios = store
            .scenario_names()
            .await?
            .into_iter()
            .map(|s| {
                let selected = scenario.as_deref() == Some(s.as_str());
                (s, selected)
            })
            .collect();
        Ok(Picker {
            devices,
            scenarios,
            q: text.unwrap_or_default(),
            since: q.since.clone().unwrap_or_default(),
            until: q.until.clone().unwrap_or_default(),
            runs,
            next_after,
            groups: groups
                .into_iter()
                .map(|g| pick_group(g, &a_groups, &b_groups))
                .collect(),
            next_gafter,
            paged: q.after.is_some() || q.gafter.is_some(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_reads_runs_and_groups() {
        assert_eq!(chosen("12"), (vec![12], vec![]));
        assert_eq!(chosen("#12, 13,g4"), (vec![12, 13], vec![4]));
        assert_eq!(chosen("G7"), (vec![], vec![7]));
        assert_eq!(chosen(""), (vec![], vec![]));
    }

    #[test]
    fn dates_are_whole_utc_days() {
        let since = day_start_us("since", &Some("2026-01-09".into()), 0).unwrap();
        let until = day_start_us("until", &Some("2026-01-09".into()), 1).unwrap();
        assert_eq!(until.unwrap() - since.unwrap(), 86_400_000_000);
        assert!(day_start_us("since", &Some("9 Jan".into()), 0).is_err());
        assert_eq!(day_start_us("since", &Some(" ".into()), 0).unwrap(), None);
    }
}
