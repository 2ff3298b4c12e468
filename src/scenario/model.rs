//! The scenario file format (TOML) and its parser. A file has a header
//! (`name`, `title`, `description`), optional `[params]` with defaults, and
//! `[[step]]` tables with a `type`. Unknown keys are errors; every error
//! names the line and the step it is in.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::error::ScenarioError;

/// A parsed scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub title: String,
    pub description: String,
    /// Defaults of `{{name}}` parameters.
    pub params: BTreeMap<String, String>,
    pub steps: Vec<Step>,
}

/// One step with what every step may have.
#[derive(Debug, Clone)]
pub struct Step {
    /// `name = "…"`, or derived from the step (`get_/network.html`,
    /// `wait_ready`, …): used by `body_from`, `when` and `--pause after_<name>`.
    pub name: String,
    /// 1-based line of the `[[step]]` table.
    pub line: usize,
    /// `when = "step.field"`: run only when that field of that step's JSON
    /// response is truthy; otherwise skip with `otherwise` as the note.
    pub when: Option<String>,
    pub otherwise: Option<String>,
    /// A failure becomes a note instead of failing the run.
    pub optional: bool,
    pub kind: StepKind,
}

/// A number, or a string that becomes one after `{{param}}` substitution.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Num {
    Int(i64),
    Float(f64),
    Text(String),
}

impl Num {
    pub fn resolve(&self, params: &BTreeMap<String, String>) -> Result<f64, String> {
        match self {
            Num::Int(v) => Ok(*v as f64),
            Num::Float(v) => Ok(*v),
            Num::Text(t) => {
                let s = substitute(t, params)?;
                s.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("{s:?} is not a number"))
            }
        }
    }

    /// A span of time in seconds: a number of seconds, or text with its
    /// unit (`"500ms"`, `"2s"`, `"1m"`, `"${settle}"` → `"3s"`), read by
    /// the one duration parser every option uses.
    pub fn resolve_secs(&self, params: &BTreeMap<String, String>) -> Result<f64, String> {
        match self {
            Num::Text(t) => {
                let s = substitute(t, params)?;
                crate::units::duration::parse(&s, crate::units::duration::BareUnit::Seconds)
                    .map(|d| d.as_secs_f64())
                    .map_err(|e| e.to_string())
            }
            other => other.resolve(params),
        }
    }
}

/// The HTTP statuses a step accepts: a code, `"2xx"`-style classes or `"any"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ExpectStatus {
    Code(u16),
    Text(String),
}

impl ExpectStatus {
    /// Whether `status` is accepted (after parameter substitution).
    pub fn accepts(&self, status: u16, params: &BTreeMap<String, String>) -> Result<bool, String> {
        match self {
            ExpectStatus::Code(c) => Ok(*c == status),
            ExpectStatus::Text(t) => {
                let s = substitute(t, params)?;
                let s = s.trim().to_ascii_lowercase();
                if s == "any" {
                    return Ok(true);
                }
                if let Some(class) = s.strip_suffix("xx") {
                    let c: u16 = class
                        .parse()
                        .map_err(|_| format!("expect_status {s:?} is not NNN, Nxx or any"))?;
                    return Ok(status / 100 == c);
                }
                let c: u16 = s
                    .parse()
                    .map_err(|_| format!("expect_status {s:?} is not NNN, Nxx or any"))?;
                Ok(c == status)
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepKind {
    /// `POST /api/reboot` without waiting for an answer, confirmed by a boot
    /// marker on serial.
    Reboot {
        timeout: Option<Num>,
    },
    /// A serial line containing `pattern` (`*` and `?` are wildcards).
    WaitFor {
        pattern: String,
        timeout: Option<Num>,
    },
    /// `[Main] Setup complete`.
    WaitReady {
        timeout: Option<Num>,
    },
    /// A `[Mem] hb …` snapshot.
    WaitHeartbeat {
        timeout: Option<Num>,
    },
    Http {
        #[serde(default = "default_method")]
        method: String,
        path: String,
        body: Option<String>,
        /// The body of an earlier step's response (masked and secret fields
        /// removed).
        body_from: Option<String>,
        /// With `body_from`: send only these keys of that response (those
        /// it has), as the team's harness does.
        body_keys: Option<Vec<String>>,
        /// With `body_keys`: these keys (when present) are sent as `""`.
        blank_keys: Option<Vec<String>>,
        /// A generated body of this many bytes (a JPEG-looking blob).
        body_bytes: Option<Num>,
        /// A real baseline JPEG made for the step.
        jpeg: Option<Box<JpegSpec>>,
        /// Send the generated body as this `multipart/form-data` file field.
        multipart: Option<String>,
        content_type: Option<String>,
        expect_status: Option<ExpectStatus>,
        timeout: Option<Num>,
    },
    Burst {
        paths: Vec<String>,
        parallel: Option<Num>,
        repeat: Option<Num>,
        /// `/api/health` requests added to each round (`--health-count`).
        health: Option<Num>,
        expect_status: Option<ExpectStatus>,
    },
    Sleep {
        seconds: Num,
    },
    /// Two `/api/health` samples `settle_s` apart whose internal and PSRAM
    /// free differ by less than the limits (retried until `timeout`).
    Health {
        #[serde(default = "default_true")]
        stable: bool,
        settle_s: Option<Num>,
        max_internal_delta: Option<Num>,
        max_psram_delta: Option<Num>,
        timeout: Option<Num>,
    },
    Mark {
        tag: String,
    },
    Pause {
        message: Option<String>,
    },
}

/// `jpeg = { width = 360, height = 360, max_bytes = 307200 }`: the largest
/// quality whose whole request (multipart envelope included) fits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JpegSpec {
    pub width: Num,
    pub height: Num,
    pub max_bytes: Num,
}

fn default_method() -> String {
    "GET".into()
}

fn default_true() -> bool {
    true
}

impl StepKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            StepKind::Reboot { .. } => "reboot",
            StepKind::WaitFor { .. } => "wait_for",
            StepKind::WaitReady { .. } => "wait_ready",
            StepKind::WaitHeartbeat { .. } => "wait_heartbeat",
            StepKind::Http { .. } => "http",
            StepKind::Burst { .. } => "burst",
            StepKind::Sleep { .. } => "sleep",
            StepKind::Health { .. } => "health",
            StepKind::Mark { .. } => "mark",
            StepKind::Pause { .. } => "pause",
        }
    }

    fn default_name(&self) -> String {
        match self {
            StepKind::Http { method, path, .. } => {
                format!("{}_{}", method.to_ascii_lowercase(), path)
            }
            StepKind::Mark { tag } => format!("mark_{tag}"),
            StepKind::WaitFor { pattern, .. } => format!("wait_for_{pattern}"),
            other => other.type_name().to_owned(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Option<String>,
    title: Option<String>,
    description: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, toml::Value>,
    #[serde(default)]
    step: Vec<Spanned<toml::Table>>,
}

/// Keys every step may have besides its type's own.
const COMMON_KEYS: [&str; 4] = ["name", "when", "otherwise", "optional"];

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

impl Scenario {
    /// Parses a scenario file. `source` names it in errors (a path or
    /// `builtin s2`).
    pub fn parse(source: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            ScenarioError::Parse {
                source_name: source.to_owned(),
                line,
                step: None,
                message: e.message().trim().to_owned(),
            }
        })?;
        let params = parse_params(source, raw.params)?;
        let mut steps = Vec::with_capacity(raw.step.len());
        for (i, spanned) in raw.step.into_iter().enumerate() {
            let line = line_of(text, spanned.span().start);
            let table = spanned.into_inner();
            let type_name = table
                .get("type")
                .and_then(|t| t.as_str())
                .unwrap_or("?")
                .to_owned();
            let at = StepSite {
                source,
                line,
                label: format!("step {} ({type_name})", i + 1),
            };
            let step = parse_step(&at, table, &steps)?;
            steps.push(step);
        }
        if steps.is_empty() {
            return Err(ScenarioError::Parse {
                source_name: source.to_owned(),
                line: None,
                step: None,
                message: "no [[step]] tables".into(),
            });
        }
        let name = raw.name.unwrap_or_else(|| {
            std::path::Path::new(source)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "custom".into())
        });
        Ok(Scenario {
            title: raw.title.unwrap_or_else(|| name.clone()),
            name,
            description: raw.description.unwrap_or_default(),
            params,
            steps,
        })
    }
}

/// `[params]` defaults as text, the form `{{name}}` substitution uses.
fn parse_params(
    source: &str,
    raw: BTreeMap<String, toml::Value>,
) -> Result<BTreeMap<String, String>, ScenarioError> {
    let mut params = BTreeMap::new();
    for (k, v) in raw {
        let value = match v {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(ScenarioError::Parse {
                    source_name: source.to_owned(),
                    line: None,
                    step: None,
                    message: format!(
                        "param {k:?} must be a string, number or boolean, not {}",
                        other.type_str()
                    ),
                })
            }
        };
        params.insert(k, value);
    }
    Ok(params)
}

/// Where a `[[step]]` table is, so every error about it can say so.
struct StepSite<'s> {
    source: &'s str,
    line: usize,
    /// `step N (type)`.
    label: String,
}

impl StepSite<'_> {
    fn err(&self, message: String) -> ScenarioError {
        ScenarioError::Parse {
            source_name: self.source.to_owned(),
            line: Some(self.line),
            step: Some(self.label.clone()),
            message,
        }
    }
}

/// The keys every step may have ([`COMMON_KEYS`]), taken out of the table
/// so the rest can be read as its [`StepKind`].
struct CommonFields {
    name: Option<String>,
    when: Option<String>,
    otherwise: Option<String>,
    optional: bool,
}

impl CommonFields {
    fn take(at: &StepSite<'_>, table: &mut toml::Table) -> Result<CommonFields, ScenarioError> {
        let mut common = toml::Table::new();
        for key in COMMON_KEYS {
            if let Some(v) = table.remove(key) {
                common.insert(key.to_owned(), v);
            }
        }
        let text_of = |key: &str| -> Result<Option<String>, ScenarioError> {
            match common.get(key) {
                None => Ok(None),
                Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(at.err(format!(
                    "`{key}` must be a string, not {}",
                    other.type_str()
                ))),
            }
        };
        let name = text_of("name")?;
        let when = text_of("when")?;
        let otherwise = text_of("otherwise")?;
        let optional = match common.get("optional") {
            None => false,
            Some(toml::Value::Boolean(b)) => *b,
            Some(other) => {
                return Err(at.err(format!(
                    "`optional` must be true or false, not {}",
                    other.type_str()
                )))
            }
        };
        Ok(CommonFields {
            name,
            when,
            otherwise,
            optional,
        })
    }
}

/// One `[[step]]` table; `earlier` are the steps before it, which
/// `body_from` and `when` may name.
fn parse_step(
    at: &StepSite<'_>,
    mut table: toml::Table,
    earlier: &[Step],
) -> Result<Step, ScenarioError> {
    let common = CommonFields::take(at, &mut table)?;
    if !table.contains_key("type") {
        return Err(at.err(
            "missing `type` (reboot, wait_for, wait_ready, wait_heartbeat, http, burst, \
             sleep, health, mark, pause)"
                .into(),
        ));
    }
    let kind = StepKind::deserialize(toml::Value::Table(table))
        .map_err(|e| at.err(e.message().trim().to_owned()))?;
    check_step(at, &kind, common.when.as_deref(), earlier)?;
    Ok(Step {
        name: common.name.unwrap_or_else(|| kind.default_name()),
        line: at.line,
        when: common.when,
        otherwise: common.otherwise,
        optional: common.optional,
        kind,
    })
}

/// What serde cannot check: one body source at most, `body_from` and
/// `when` naming earlier steps, a burst with paths.
fn check_step(
    at: &StepSite<'_>,
    kind: &StepKind,
    when: Option<&str>,
    earlier: &[Step],
) -> Result<(), ScenarioError> {
    if let StepKind::Http {
        body,
        body_from,
        body_keys,
        blank_keys,
        body_bytes,
        jpeg,
        multipart,
        ..
    } = kind
    {
        let bodies = [
            body.is_some(),
            body_from.is_some(),
            body_bytes.is_some(),
            jpeg.is_some(),
        ];
        if bodies.iter().filter(|b| **b).count() > 1 {
            return Err(
                at.err("give at most one of `body`, `body_from`, `body_bytes` and `jpeg`".into())
            );
        }
        if body_keys.is_some() && body_from.is_none() {
            return Err(at.err("`body_keys` needs `body_from`".into()));
        }
        if blank_keys.is_some() && body_keys.is_none() {
            return Err(at.err("`blank_keys` needs `body_keys`".into()));
        }
        if multipart.is_some() && jpeg.is_none() && body_bytes.is_none() {
            return Err(at.err("`multipart` needs `jpeg` or `body_bytes`".into()));
        }
        if let Some(from) = body_from {
            if !earlier.iter().any(|s: &Step| &s.name == from) {
                return Err(at.err(format!(
                    "body_from = {from:?} names no earlier step (give that step `name = {from:?}`)"
                )));
            }
        }
    }
    if let StepKind::Burst { paths, .. } = kind {
        if paths.is_empty() {
            return Err(at.err("`paths` is empty".into()));
        }
    }
    if let Some(w) = when {
        let Some((step, _field)) = w.split_once('.') else {
            return Err(at.err(format!("when = {w:?} is not \"step.field\"")));
        };
        if !earlier.iter().any(|s: &Step| s.name == step) {
            return Err(at.err(format!("when = {w:?} names no earlier step {step:?}")));
        }
    }
    Ok(())
}

/// Replaces every `{{name}}` with its parameter; an unknown name is an error.
pub fn substitute(text: &str, params: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!("unclosed {{{{ in {text:?}"));
        };
        let key = after[..end].trim();
        match params.get(key) {
            Some(v) => out.push_str(v),
            None => return Err(format!("unknown parameter {{{{{key}}}}}")),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `pattern` in `line`: a substring, or with `*`/`?` a glob matched
/// anywhere in the line.
pub fn line_matches(pattern: &str, line: &str) -> bool {
    if !pattern.contains(['*', '?']) {
        return line.contains(pattern);
    }
    // Anywhere in the line is the whole line against `*pattern*`.
    let p: Vec<char> = std::iter::once('*')
        .chain(pattern.chars())
        .chain(std::iter::once('*'))
        .collect();
    let l: Vec<char> = line.chars().collect();
    glob(&p, &l)
}

/// Whether glob `p` matches all of `l`. Backtracks only to the last `*`
/// (an earlier one cannot do better), so the cost is at most
/// `p.len() × l.len()`: a pattern from an uploaded scenario such as
/// `*a*a*a…*b` cannot take exponential time, as plain recursion did.
fn glob(p: &[char], l: &[char]) -> bool {
    let (mut pi, mut li) = (0, 0);
    // Just after the last `*` seen, and where in `l` it currently ends.
    let mut star: Option<(usize, usize)> = None;
    while li < l.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi + 1, li));
                pi += 1;
            }
            Some(&c) if c == '?' || c == l[li] => {
                pi += 1;
                li += 1;
            }
            _ => match star {
                // Let the last `*` take one more character and retry.
                Some((after, taken)) => {
                    star = Some((after, taken + 1));
                    pi = after;
                    li = taken + 1;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod glob_tests {
    use super::line_matches;

    #[test]
    fn globs_match_anywhere_in_the_line() {
        assert!(line_matches("hin=*", "[Mem] hb hin=1200"));
        assert!(line_matches(
            "Got IP: ?*.?*",
            "[WiFi] Got IP: 192.168.1.112"
        ));
        assert!(line_matches("a*c", "xxabcxx"));
        assert!(line_matches("a?c", "abc"));
        assert!(!line_matches("a?c", "ac"));
        assert!(!line_matches("a*d", "abc"));
        assert!(line_matches("*", ""));
        assert!(!line_matches("?", ""));
    }

    #[test]
    fn a_pathological_pattern_finishes() {
        // Exponential for plain backtracking: 2^13 ways to split the line
        // per start position; here one pass per `*`.
        let pattern = "*a".repeat(13) + "*b";
        let line = "a".repeat(5_000);
        assert!(!line_matches(&pattern, &line));
        assert!(line_matches(&pattern, &(line + "b")));
    }
}

/// The built-in scenarios, as files a user can copy.
pub const BUILTINS: [(&str, &str); 7] = [
    ("s1", include_str!("builtin/s1.toml")),
    ("s2", include_str!("builtin/s2.toml")),
    ("s3", include_str!("builtin/s3.toml")),
    ("s4", include_str!("builtin/s4.toml")),
    ("s5", include_str!("builtin/s5.toml")),
    ("s6", include_str!("builtin/s6.toml")),
    ("prompt", include_str!("builtin/prompt.toml")),
];

/// A built-in scenario's file text.
pub fn builtin(name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// A built-in by name, or a scenario file by path.
pub fn load(spec: &str) -> Result<(Scenario, String), ScenarioError> {
    if let Some(text) = builtin(spec) {
        return Ok((
            Scenario::parse(&format!("builtin {spec}"), text)?,
            text.to_owned(),
        ));
    }
    let text = std::fs::read_to_string(spec).map_err(|e| ScenarioError::Unknown {
        spec: spec.to_owned(),
        detail: e.to_string(),
    })?;
    Ok((Scenario::parse(spec, &text)?, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse() {
        for (name, text) in BUILTINS {
            let s = Scenario::parse(name, text).expect(name);
            assert_eq!(s.name, name);
        }
    }

    #[test]
    fn globs_and_substrings() {
        assert!(line_matches("mqtt_", "[Mem] mqtt_connected hf=1"));
        assert!(line_matches("[Mem] mqtt_*", "[Mem] mqtt_connected hf=1"));
        assert!(line_matches(
            "Got IP: 1?2.*",
            "[WiFi] Got IP: 192.168.1.2 (3ms)"
        ));
        assert!(!line_matches("[Mem] mqtt_*", "[Mem] hb hf=1"));
    }

    #[test]
    fn substitution() {
        let mut p = BTreeMap::new();
        p.insert("a".to_owned(), "x".to_owned());
        assert_eq!(substitute("/{{a}}/{{ a }}", &p).as_deref(), Ok("/x/x"));
        assert!(substitute("{{b}}", &p).is_err());
    }

    #[test]
    fn errors_name_line_and_step() {
        let text = "name = \"x\"\n\n[[step]]\ntype = \"wait_ready\"\n\n[[step]]\ntype = \"http\"\npath = \"/\"\nbogus = 1\n";
        let e = Scenario::parse("x.toml", text).expect_err("bad");
        let msg = e.to_string();
        assert!(msg.contains("line 6"), "{msg}");
        assert!(msg.contains("step 2 (http)"), "{msg}");
        assert!(msg.contains("bogus"), "{msg}");
    }
}
