//! The `burst` step: many GETs in parallel, the load that fragments a
//! device's heap, with `/api/health` polls mixed in the way a dashboard
//! would.

use futures_util::stream::{self, StreamExt};

use super::http::{is_health, is_page, status_ok, HTTP_TIMEOUT};
use crate::scenario::model::{substitute, ExpectStatus, Num};
use crate::scenario::runner::Runner;

/// Bursts without `parallel` (and without `--parallel`).
const DEFAULT_PARALLEL: usize = 4;

impl Runner<'_> {
    /// `repeat` rounds of `paths` plus `health` polls, `parallel` at a time;
    /// passes when every response has an accepted status.
    pub(super) async fn burst(
        &self,
        paths: &[String],
        parallel: Option<&Num>,
        repeat: Option<&Num>,
        health: Option<&Num>,
        expect_status: Option<&ExpectStatus>,
    ) -> Result<String, String> {
        let p = &self.params;
        let parallel = match (self.opts.parallel, parallel) {
            (Some(n), _) => n,
            (None, Some(n)) => n.resolve(p)? as usize,
            (None, None) => DEFAULT_PARALLEL,
        }
        .max(1);
        let repeat = match repeat {
            Some(n) => n.resolve(p)?.max(0.0) as usize,
            None => 1,
        };
        let health = if self.opts.no_health {
            0
        } else {
            match (self.opts.health_count, health) {
                (Some(n), _) => n,
                (None, Some(n)) => n.resolve(p)?.max(0.0) as usize,
                (None, None) => 0,
            }
        };
        let list = self.burst_paths(paths, repeat, health)?;
        let total = list.len();
        let results: Vec<Result<(String, u16), String>> = stream::iter(list)
            .map(|path| async move {
                let r = self.request("GET", &path, None, HTTP_TIMEOUT).await?;
                Ok((path, r.status))
            })
            .buffer_unordered(parallel)
            .collect()
            .await;
        let mut bad = Vec::new();
        for r in results {
            match r {
                Ok((path, status)) => {
                    if !status_ok(expect_status, status, p)? {
                        bad.push(format!("GET {path} → {status}"));
                    }
                }
                Err(e) => bad.push(e),
            }
        }
        if bad.is_empty() {
            Ok(format!("{total} requests, {parallel} in parallel"))
        } else {
            Err(format!(
                "{} of {total} requests failed: {}",
                bad.len(),
                bad.join("; ")
            ))
        }
    }

    /// Every request of the burst in order, without what `--no-pages` and
    /// `--no-health` leave out.
    fn burst_paths(
        &self,
        paths: &[String],
        repeat: usize,
        health: usize,
    ) -> Result<Vec<String>, String> {
        let mut list = Vec::new();
        for _ in 0..repeat {
            for path in paths {
                let path = substitute(path, &self.params)?;
                if (self.opts.no_pages && is_page(&path))
                    || (self.opts.no_health && is_health(&path))
                {
                    continue;
                }
                list.push(path);
            }
            list.extend(std::iter::repeat_n("/api/health".to_owned(), health));
        }
        Ok(list)
    }
}
