//! The `[alerts]` and `[retention]` tables of `heaplab.toml`. Unknown keys
//! are errors; everything is validated once at start.

use serde::{Deserialize, Serialize};

// Every span of time here takes a number in the key's unit or text with
// its own unit (`dedup_window_s = "10m"`).
use crate::units::duration::{de_days, de_millis, de_opt_secs, de_secs};

/// `[alerts]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// The same rule for the same device fires at most once per window.
    #[serde(default = "default_dedup_s", deserialize_with = "de_secs")]
    pub dedup_window_s: u64,
    /// At most this many POSTs per minute to each webhook.
    #[serde(default = "default_per_minute")]
    pub max_per_minute: u32,
    /// Deliveries waiting per webhook; when full, new ones are dropped
    /// (and recorded as dropped) so ingestion never waits.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Attempts per delivery (first try included).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// First retry delay; doubled on each further attempt.
    #[serde(default = "default_backoff_ms", deserialize_with = "de_millis")]
    pub backoff_ms: u64,
    /// How often `offline` and `leak_above` are checked.
    #[serde(default = "default_check_s", deserialize_with = "de_secs")]
    pub check_interval_s: u64,
    /// PEM CA certificates trusted for `https://` webhooks besides the
    /// platform's roots: an internal receiver signed by the team's own CA.
    /// A relative path is taken from the working directory.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<AlertRule>,
    #[serde(default, rename = "webhook")]
    pub webhooks: Vec<Webhook>,
}

/// No `[alerts]` table means no rules, with the same limits a table
/// without them gets (a derived `Default` would make them 0 and invalid).
impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            dedup_window_s: default_dedup_s(),
            max_per_minute: default_per_minute(),
            queue: default_queue(),
            attempts: default_attempts(),
            backoff_ms: default_backoff_ms(),
            check_interval_s: default_check_s(),
            ca_file: None,
            rules: Vec::new(),
            webhooks: Vec::new(),
        }
    }
}

const fn default_dedup_s() -> u64 {
    300
}
const fn default_per_minute() -> u32 {
    30
}
const fn default_queue() -> usize {
    256
}
const fn default_attempts() -> u32 {
    4
}
const fn default_backoff_ms() -> u64 {
    1000
}
const fn default_check_s() -> u64 {
    30
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Tripwire,
    Crash,
    Reboot,
    AllocFailure,
    HinBelow,
    LeakAbove,
    Offline,
    /// The database refuses writes for want of space (server-wide; device
    /// filters do not apply).
    StorageFull,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Tripwire => "tripwire",
            AlertKind::Crash => "crash",
            AlertKind::Reboot => "reboot",
            AlertKind::AllocFailure => "alloc_failure",
            AlertKind::HinBelow => "hin_below",
            AlertKind::LeakAbove => "leak_above",
            AlertKind::Offline => "offline",
            AlertKind::StorageFull => "storage_full",
        }
    }
}

/// `[[alerts.rule]]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// Defaults to the kind.
    pub name: Option<String>,
    pub kind: AlertKind,
    /// `hin_below`: the threshold in bytes (`threshold` is an alias).
    #[serde(alias = "threshold")]
    pub bytes: Option<i64>,
    /// `leak_above`: internal free falling faster than this, B/h.
    pub bytes_per_hour: Option<f64>,
    /// `offline`: nothing heard from the device for this long.
    #[serde(default, deserialize_with = "de_opt_secs")]
    pub seconds: Option<u64>,
    /// Device names; all devices when absent.
    pub devices: Option<Vec<String>>,
    /// Webhook names; all webhooks when absent.
    pub webhooks: Option<Vec<String>>,
}

impl AlertRule {
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(self.kind.as_str())
    }

    pub fn applies_to(&self, device: &str) -> bool {
        self.devices
            .as_ref()
            .is_none_or(|d| d.iter().any(|n| n == device))
    }
}

/// `[[alerts.webhook]]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub name: String,
    /// Only ever from this file: heaplab never posts to a URL given in a
    /// request.
    pub url: String,
}

impl Webhook {
    /// What the API and pages show: scheme and host, never the path (a
    /// Slack or Discord webhook path is a secret).
    pub fn public_target(&self) -> String {
        reqwest::Url::parse(&self.url)
            .map(|u| {
                format!(
                    "{}://{}{}",
                    u.scheme(),
                    u.host_str().unwrap_or("?"),
                    u.port().map(|p| format!(":{p}")).unwrap_or_default()
                )
            })
            .unwrap_or_else(|_| "?".into())
    }
}

/// `[retention]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Raw serial lines older than this many days are compacted or dropped.
    #[serde(deserialize_with = "de_days")]
    pub raw_serial_days: f64,
    #[serde(default)]
    pub mode: RetentionMode,
    /// How often the policy runs (default hourly).
    #[serde(default = "default_retention_interval", deserialize_with = "de_secs")]
    pub interval_s: u64,
}

const fn default_retention_interval() -> u64 {
    3600
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionMode {
    /// Deflate old lines into `serial_blocks` (still readable).
    #[default]
    Compact,
    /// Delete old lines (snapshots and events are kept).
    Drop,
}

/// Everything soak-related the server runs with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SoakConfig {
    pub alerts: AlertsConfig,
    pub retention: Option<RetentionConfig>,
}

impl SoakConfig {
    /// Checks rules and webhooks; the message names the offending entry.
    pub fn validate(&self) -> Result<(), String> {
        let a = &self.alerts;
        let mut names = std::collections::HashSet::new();
        for w in &a.webhooks {
            if w.name.trim().is_empty() {
                return Err("alerts.webhook: name must not be empty".into());
            }
            if !names.insert(w.name.as_str()) {
                return Err(format!("alerts.webhook {:?}: configured twice", w.name));
            }
            let url = reqwest::Url::parse(&w.url)
                .map_err(|e| format!("alerts.webhook {:?}: url: {e}", w.name))?;
            if url.scheme() != "http" && url.scheme() != "https" {
                return Err(format!(
                    "alerts.webhook {:?}: url must be http:// or https://",
                    w.name
                ));
            }
        }
        for r in &a.rules {
            let fail = |m: &str| Err(format!("alerts.rule {:?}: {m}", r.name()));
            let needs_bytes = r.kind == AlertKind::HinBelow;
            let needs_rate = r.kind == AlertKind::LeakAbove;
            let needs_seconds = r.kind == AlertKind::Offline;
            match (r.bytes, needs_bytes) {
                (None, true) => return fail("hin_below needs `bytes`"),
                (Some(_), false) => return fail("`bytes` only applies to hin_below"),
                (Some(b), true) if b <= 0 => return fail("`bytes` must be positive"),
                _ => {}
            }
            match (r.bytes_per_hour, needs_rate) {
                (None, true) => return fail("leak_above needs `bytes_per_hour`"),
                (Some(_), false) => return fail("`bytes_per_hour` only applies to leak_above"),
                (Some(b), true) if b.is_nan() || b <= 0.0 => {
                    return fail("`bytes_per_hour` must be positive")
                }
                _ => {}
            }
            match (r.seconds, needs_seconds) {
                (None, true) => return fail("offline needs `seconds`"),
                (Some(_), false) => return fail("`seconds` only applies to offline"),
                (Some(0), true) => return fail("`seconds` must be positive"),
                _ => {}
            }
            for w in r.webhooks.iter().flatten() {
                if !a.webhooks.iter().any(|x| &x.name == w) {
                    return fail(&format!("unknown webhook {w:?}"));
                }
            }
        }
        if let Some(path) = &a.ca_file {
            crate::tls::load_ca_file(path).map_err(|e| format!("alerts.ca_file: {e}"))?;
        }
        if a.queue == 0 || a.attempts == 0 || a.max_per_minute == 0 {
            return Err("alerts: queue, attempts and max_per_minute must be positive".into());
        }
        if let Some(r) = &self.retention {
            if r.raw_serial_days.is_nan() || r.raw_serial_days < 0.0 {
                return Err("retention.raw_serial_days must be 0 or more".into());
            }
            if r.interval_s == 0 {
                return Err("retention.interval_s must be positive".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<SoakConfig, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct F {
            alerts: Option<AlertsConfig>,
            retention: Option<RetentionConfig>,
        }
        let f: F = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        let c = SoakConfig {
            alerts: f.alerts.unwrap_or_default(),
            retention: f.retention,
        };
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn a_full_example_parses() {
        let c = parse(
            r#"
[alerts]
dedup_window_s = 60
[[alerts.rule]]
kind = "tripwire"
[[alerts.rule]]
kind = "hin_below"
bytes = 40960
devices = ["desk"]
[[alerts.rule]]
kind = "leak_above"
bytes_per_hour = 1000
[[alerts.rule]]
kind = "offline"
seconds = 120
webhooks = ["team"]
[[alerts.webhook]]
name = "team"
url = "http://ntfy.lan/heaplab"

[retention]
raw_serial_days = 7
mode = "compact"
"#,
        )
        .expect("valid");
        assert_eq!(c.alerts.rules.len(), 4);
        assert_eq!(c.alerts.rules[1].bytes, Some(40960));
        assert!(c.alerts.rules[1].applies_to("desk"));
        assert!(!c.alerts.rules[1].applies_to("bench"));
        assert_eq!(c.retention.expect("retention").mode, RetentionMode::Compact);
        assert_eq!(c.alerts.webhooks[0].public_target(), "http://ntfy.lan");
    }

    #[test]
    fn mistakes_are_named() {
        let e = parse("[[alerts.rule]]\nkind = \"hin_below\"\n").expect_err("bytes");
        assert!(e.contains("bytes"), "{e}");
        let e = parse("[[alerts.rule]]\nkind = \"crash\"\nseconds = 3\n").expect_err("seconds");
        assert!(e.contains("seconds"), "{e}");
        let e = parse("[[alerts.rule]]\nkind = \"crash\"\nbogus = 1\n").expect_err("unknown");
        assert!(e.contains("bogus"), "{e}");
        let e = parse("[[alerts.rule]]\nkind = \"melt\"\n").expect_err("kind");
        assert!(e.contains("melt"), "{e}");
        let e = parse("[[alerts.webhook]]\nname = \"x\"\nurl = \"file:///etc/passwd\"\n")
            .expect_err("scheme");
        assert!(e.contains("http"), "{e}");
        let e = parse("[[alerts.rule]]\nkind = \"crash\"\nwebhooks = [\"nope\"]\n")
            .expect_err("webhook");
        assert!(e.contains("nope"), "{e}");
        let e = parse("[retention]\nraw_serial_days = 3\nmode = \"shred\"\n").expect_err("mode");
        assert!(e.contains("shred"), "{e}");
        let e = parse("[alerts]\nca_file = \"/nonexistent/team-ca.pem\"\n").expect_err("ca");
        assert!(
            e.contains("alerts.ca_file") && e.contains("team-ca.pem"),
            "{e}"
        );
        let not_pem = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(not_pem.path(), "not a certificate\n").expect("write");
        let toml_text = format!("[alerts]\nca_file = {:?}\n", not_pem.path());
        let e = parse(&toml_text).expect_err("empty");
        assert!(e.contains("no certificate"), "{e}");
    }
}
