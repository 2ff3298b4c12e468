//! Server configuration: a TOML file (`--config`), every key also a flag or
//! a `HEAPLAB_*` variable. Flags win over the environment (clap), both win
//! over the file, the file wins over defaults. Validated once at start so a
//! typo fails fast with the key's name instead of half-working.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

use crate::analysis::AcceptanceCriteria;
use crate::store::{DeviceSpec, InvalidDevice};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid --device {spec:?}: {message}")]
    DeviceFlag { spec: String, message: String },
    #[error(transparent)]
    Device(#[from] InvalidDevice),
    #[error("config: {0}")]
    Soak(String),
    #[error("agent: {0}")]
    Agent(String),
}

pub const fn default_bind() -> SocketAddr {
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080)
}

/// `heaplab.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub bind: Option<SocketAddr>,
    /// A SQLite file or a `postgres://` URL.
    pub db: Option<PathBuf>,
    /// When set, every write to the API needs `Authorization: Bearer <token>`.
    pub auth_token: Option<String>,
    /// Also require the token for reads (they are open on the LAN otherwise).
    pub auth_read: Option<bool>,
    /// Largest accepted request body (imports), in megabytes.
    /// Cap on the database file, megabytes (see `serve --max-db-mb`).
    pub max_db_mb: Option<u64>,
    pub body_limit_mb: Option<usize>,
    pub acceptance: Option<AcceptanceCriteria>,
    #[serde(default, rename = "device")]
    pub devices: Vec<DeviceSpec>,
    /// Alert rules and webhooks (docs/soak.md).
    pub alerts: Option<crate::soak::config::AlertsConfig>,
    /// Raw serial retention (docs/soak.md).
    pub retention: Option<crate::soak::config::RetentionConfig>,
    /// `heaplab agent` (docs/deploy.md).
    pub agent: Option<AgentFileConfig>,
}

/// The `[agent]` table: every key also a flag of `heaplab agent`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFileConfig {
    pub server: Option<String>,
    pub token: Option<String>,
    pub name: Option<String>,
    pub spool: Option<PathBuf>,
    pub spool_max_mb: Option<u64>,
    pub ca_file: Option<PathBuf>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim().replace('\n', " "),
        })
    }
}

/// Options every command takes (`global`, so they may follow the
/// subcommand): the database, the config file, and the acceptance
/// criteria. Resolved once, at the top of the CLI, into [`Settings`], so
/// `runs show`, `compare`, `export`, `run` and the server judge a run the
/// same way.
#[derive(Debug, Clone, Default, Args)]
pub struct SharedArgs {
    /// The database: a SQLite file, or a PostgreSQL URL (postgres://user@host/db, docs/postgres.md) [default: `db` in the config file, else ./heaplab.db; `demo` uses one in the OS temp dir].
    #[arg(long, env = "HEAPLAB_DB", global = true)]
    pub db: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, env = "HEAPLAB_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub criteria: CriteriaArgs,
}

/// The acceptance criteria as flags and `HEAPLAB_*` variables; each wins
/// over the config file's `[acceptance]` table.
#[derive(Debug, Clone, Default, Args)]
pub struct CriteriaArgs {
    /// Acceptance: lowest acceptable internal minimum free, bytes [default: 102400].
    #[arg(long, env = "HEAPLAB_HIN_MIN_BYTES", global = true)]
    pub hin_min_bytes: Option<i64>,
    /// Acceptance: steady-state fragmentation must stay below this percent [default: 40].
    #[arg(long, env = "HEAPLAB_STEADY_FRAG_MAX_PERCENT", global = true)]
    pub steady_frag_max_percent: Option<i64>,
    /// Acceptance: a tripwire does not fail the verdict.
    #[arg(long, env = "HEAPLAB_ALLOW_TRIPWIRE", global = true)]
    pub allow_tripwire: Option<bool>,
    /// Acceptance: a crash marker does not fail the verdict.
    #[arg(long, env = "HEAPLAB_ALLOW_CRASH", global = true)]
    pub allow_crash: Option<bool>,
    /// Acceptance: allocation failures do not fail the verdict.
    #[arg(long, env = "HEAPLAB_ALLOW_ALLOC_FAILURES", global = true)]
    pub allow_alloc_failures: Option<bool>,
}

impl CriteriaArgs {
    /// The file's criteria (or the plan's defaults) with every flag applied.
    pub fn apply(&self, base: AcceptanceCriteria) -> AcceptanceCriteria {
        let mut c = base;
        if let Some(v) = self.hin_min_bytes {
            c.hin_min_bytes = v;
        }
        if let Some(v) = self.steady_frag_max_percent {
            c.steady_frag_max_percent = v;
        }
        if let Some(v) = self.allow_tripwire {
            c.allow_tripwire = v;
        }
        if let Some(v) = self.allow_crash {
            c.allow_crash = v;
        }
        if let Some(v) = self.allow_alloc_failures {
            c.allow_alloc_failures = v;
        }
        c
    }
}

/// What every command runs with, resolved once from [`SharedArgs`].
#[derive(Debug, Default)]
pub struct Settings {
    /// The config file as read (defaults when there is none).
    pub file: FileConfig,
    pub db: PathBuf,
    pub criteria: AcceptanceCriteria,
}

impl Settings {
    /// Flags and environment win over the file, the file over defaults.
    pub fn resolve(args: &SharedArgs, default_db: &Path) -> Result<Self, ConfigError> {
        let mut file = match &args.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let db = args
            .db
            .clone()
            .or(file.db.take())
            .unwrap_or_else(|| default_db.to_owned());
        let criteria = args
            .criteria
            .apply(file.acceptance.take().unwrap_or_default());
        Ok(Settings { file, db, criteria })
    }
}

/// Flags of `heaplab serve` (and `heaplab demo`).
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Address to serve the dashboard and API on [default: 127.0.0.1:8080].
    #[arg(long, env = "HEAPLAB_BIND")]
    pub bind: Option<SocketAddr>,
    /// Bearer token required for API writes.
    #[arg(long, env = "HEAPLAB_AUTH_TOKEN")]
    pub auth_token: Option<String>,
    /// Require a token for reads too [default: true]; `false` leaves pages
    /// and API reads open while writes need a token.
    #[arg(long, env = "HEAPLAB_AUTH_READ")]
    pub auth_read: Option<bool>,
    /// Serve beyond loopback with no token at all (a network you trust).
    #[arg(long, env = "HEAPLAB_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// When no token exists yet, make a `write` token named `admin` and
    /// print its secret once (what the container does on first start).
    #[arg(long, env = "HEAPLAB_FIRST_TOKEN")]
    pub first_token: bool,
    /// Cap on the database file, megabytes: past it recording pauses (as on
    /// a full disk) until space is freed, instead of filling the host.
    #[arg(long, env = "HEAPLAB_MAX_DB_MB")]
    pub max_db_mb: Option<u64>,
    /// Largest accepted request body (imports), megabytes [default: 64].
    #[arg(long, env = "HEAPLAB_BODY_LIMIT_MB")]
    pub body_limit_mb: Option<usize>,
    /// A device, as `name=desk,serial=/dev/serial/by-id/…,url=http://192.168.1.112,baud=115200,health_interval_s=5,auth=user:pass,board=…`
    /// (repeatable; `HEAPLAB_DEVICES` takes several separated by `;`).
    #[arg(long = "device", env = "HEAPLAB_DEVICES", value_delimiter = ';')]
    pub devices: Vec<String>,
}

/// Flags of `heaplab agent`.
#[derive(Debug, Clone, Default, Args)]
pub struct AgentArgs {
    /// The central server, `http://…` or `https://…`.
    #[arg(long, env = "HEAPLAB_SERVER")]
    pub server: Option<String>,
    /// An `ingest` token of the server (`heaplab token create NAME --scope ingest`).
    #[arg(long, env = "HEAPLAB_AGENT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// This agent's name on the server [default: the host name]; one per USB host.
    #[arg(long, env = "HEAPLAB_AGENT_NAME")]
    pub name: Option<String>,
    /// The spool file kept while the server is away [default: heaplab-spool.db].
    #[arg(long, env = "HEAPLAB_SPOOL")]
    pub spool: Option<PathBuf>,
    /// Bound on the spool, megabytes [default: 256]; when full the oldest events go (and the server records the gap).
    #[arg(long, env = "HEAPLAB_SPOOL_MAX_MB")]
    pub spool_max_mb: Option<u64>,
    /// PEM file of a CA to trust for an `https://` server with its own certificate.
    #[arg(long, env = "HEAPLAB_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// A device, as for `serve` (repeatable).
    #[arg(long = "device", env = "HEAPLAB_DEVICES", value_delimiter = ';')]
    pub devices: Vec<String>,
}

/// The resolved, validated configuration an agent runs with.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub server: reqwest::Url,
    pub token: String,
    pub name: String,
    pub host: String,
    pub spool: PathBuf,
    pub spool_max_bytes: u64,
    pub ca_file: Option<PathBuf>,
    pub devices: Vec<DeviceSpec>,
}

/// The default spool file, beside where the agent runs.
pub const DEFAULT_SPOOL: &str = "heaplab-spool.db";
/// The default bound on the spool: days of a few boards at 1 Hz.
pub const DEFAULT_SPOOL_MAX_MB: u64 = 256;

impl AgentConfig {
    /// Flags win over the file's `[agent]` table and `[[device]]`s.
    pub fn resolve(args: &AgentArgs, settings: Settings) -> Result<Self, ConfigError> {
        let file = settings.file.agent.unwrap_or_default();
        let devices = merge_devices(settings.file.devices, &args.devices)?;
        let missing = |what: &str, flag: &str| {
            ConfigError::Agent(format!(
                "{what} is needed: {flag} or [agent] {what} in the config file"
            ))
        };
        let server = args
            .server
            .clone()
            .or(file.server)
            .ok_or_else(|| missing("server", "--server URL"))?;
        let server = reqwest::Url::parse(&server)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                ConfigError::Agent(format!(
                    "server {server:?} is not an http:// or https:// URL"
                ))
            })?;
        let token = args
            .token
            .clone()
            .or(file.token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| missing("token", "--token (an `ingest` token)"))?;
        let host = host_name();
        let name = args
            .name
            .clone()
            .or(file.name)
            .unwrap_or_else(|| host.clone());
        if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_control() || c == '/') {
            return Err(ConfigError::Agent(format!(
                "agent name {name:?} must be 1 to 64 characters, no '/'"
            )));
        }
        if devices.is_empty() {
            return Err(ConfigError::Agent(
                "no devices: give --device or [[device]] in the config file".into(),
            ));
        }
        let config = AgentConfig {
            server,
            token,
            name,
            host,
            spool: args
                .spool
                .clone()
                .or(file.spool)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_SPOOL)),
            spool_max_bytes: args
                .spool_max_mb
                .or(file.spool_max_mb)
                .unwrap_or(DEFAULT_SPOOL_MAX_MB)
                * 1024
                * 1024,
            ca_file: args.ca_file.clone().or(file.ca_file),
            devices,
        };
        if let Some(path) = &config.ca_file {
            crate::tls::load_ca_file(path).map_err(|e| ConfigError::Agent(e.to_string()))?;
        }
        validate_devices(&config.devices)?;
        Ok(config)
    }
}

/// This machine's name, as the dashboard shows where a board is plugged in.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// The file's devices with the flags' over them (a flag overrides the
/// file's device of the same name); shared by `serve` and `agent`.
fn merge_devices(
    mut devices: Vec<DeviceSpec>,
    flags: &[String],
) -> Result<Vec<DeviceSpec>, ConfigError> {
    for spec in flags {
        let device = parse_device_flag(spec)?;
        devices.retain(|d| d.name != device.name);
        devices.push(device);
    }
    Ok(devices)
}

/// Each device valid, no name twice.
fn validate_devices(devices: &[DeviceSpec]) -> Result<(), ConfigError> {
    let mut names = HashSet::new();
    for d in devices {
        d.validate()?;
        if !names.insert(d.name.as_str()) {
            return Err(ConfigError::Device(InvalidDevice {
                name: d.name.clone(),
                message: "configured twice".into(),
            }));
        }
    }
    Ok(())
}

/// The resolved, validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    pub db: PathBuf,
    pub auth_token: Option<String>,
    pub auth_read: bool,
    pub insecure_no_auth: bool,
    pub first_token: bool,
    /// See `ServeArgs::max_db_mb`.
    pub max_db_bytes: Option<u64>,
    pub body_limit_bytes: usize,
    pub criteria: AcceptanceCriteria,
    pub devices: Vec<DeviceSpec>,
    /// Alerts and retention.
    pub soak: crate::soak::config::SoakConfig,
}

impl ServerConfig {
    pub fn resolve(args: &ServeArgs, settings: Settings) -> Result<Self, ConfigError> {
        let Settings { file, db, criteria } = settings;
        let devices = merge_devices(file.devices, &args.devices)?;
        let config = ServerConfig {
            bind: args.bind.or(file.bind).unwrap_or(default_bind()),
            db,
            auth_token: args
                .auth_token
                .clone()
                .or(file.auth_token)
                .filter(|t| !t.is_empty()),
            auth_read: args.auth_read.or(file.auth_read).unwrap_or(true),
            insecure_no_auth: args.insecure_no_auth,
            first_token: args.first_token,
            max_db_bytes: args.max_db_mb.or(file.max_db_mb).map(|mb| mb * 1024 * 1024),
            body_limit_bytes: args.body_limit_mb.or(file.body_limit_mb).unwrap_or(64) * 1024 * 1024,
            criteria,
            devices,
            soak: crate::soak::config::SoakConfig {
                alerts: file.alerts.unwrap_or_default(),
                retention: file.retention,
            },
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.soak.validate().map_err(ConfigError::Soak)?;
        validate_devices(&self.devices)
    }
}

fn parse_device_flag(spec: &str) -> Result<DeviceSpec, ConfigError> {
    let fail = |message: String| ConfigError::DeviceFlag {
        spec: spec.to_owned(),
        message,
    };
    let mut d = DeviceSpec {
        baud: crate::store::default_baud(),
        health_interval_s: crate::store::default_health_interval(),
        ..Default::default()
    };
    for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| fail(format!("{part:?} is not key=value")))?;
        let value = value.trim().to_owned();
        let number = |v: &str| {
            v.parse::<i64>()
                .map_err(|_| fail(format!("{key} must be a number")))
        };
        match key.trim() {
            "name" => d.name = value,
            "serial" => d.serial = Some(value),
            "url" => d.url = Some(value),
            "baud" => d.baud = number(&value)?,
            "health_interval_s" => {
                d.health_interval_s = crate::units::duration::secs_arg(&value)
                    .map_err(|e| fail(format!("health_interval_s: {e}")))?
                    as i64
            }
            "auth" => d.auth = Some(value),
            "board" => d.board = Some(value),
            other => return Err(fail(format!("unknown key {other:?}"))),
        }
    }
    d.validate()?;
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let err = toml::from_str::<FileConfig>("bind = \"127.0.0.1:1\"\nbnid = 3\n")
            .expect_err("unknown key");
        assert!(err.to_string().contains("bnid"), "{err}");
        let err = toml::from_str::<FileConfig>("[[device]]\nname = \"a\"\nserail = \"/dev/x\"\n")
            .expect_err("unknown device key");
        assert!(err.to_string().contains("serail"), "{err}");
    }

    #[test]
    fn flags_override_file_and_defaults_apply() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("heaplab.toml");
        std::fs::write(
            &path,
            "bind = \"127.0.0.1:9000\"\n[acceptance]\nhin_min_bytes = 50000\n\n[[device]]\nname = \"desk\"\nserial = \"/dev/ttyACM0\"\n",
        )
        .expect("write");
        let shared = SharedArgs {
            config: Some(path),
            criteria: CriteriaArgs {
                steady_frag_max_percent: Some(30),
                allow_crash: Some(true),
                ..Default::default()
            },
            ..Default::default()
        };
        let args = ServeArgs {
            body_limit_mb: Some(8),
            devices: vec!["name=desk,url=http://10.0.0.2,health_interval_s=0".into()],
            ..Default::default()
        };
        let settings = Settings::resolve(&shared, Path::new("x.db")).expect("settings");
        let c = ServerConfig::resolve(&args, settings).expect("resolve");
        assert_eq!(c.bind.port(), 9000);
        assert_eq!(c.criteria.hin_min_bytes, 50_000);
        assert_eq!(c.criteria.steady_frag_max_percent, 30);
        assert!(c.criteria.allow_crash && !c.criteria.allow_tripwire);
        assert_eq!(c.body_limit_bytes, 8 * 1024 * 1024);
        assert_eq!(c.devices.len(), 1);
        assert_eq!(c.devices[0].url.as_deref(), Some("http://10.0.0.2"));
        assert_eq!(c.devices[0].serial, None);
        assert_eq!(c.devices[0].baud, 115_200);
        assert_eq!(c.db, Path::new("x.db"));
    }

    #[test]
    fn bad_device_flags_are_clear() {
        let err = parse_device_flag("name=a,colour=blue").expect_err("unknown");
        assert!(err.to_string().contains("colour"));
        let err = parse_device_flag("name=a,url=ftp://x").expect_err("scheme");
        assert!(err.to_string().contains("http"));
    }
}

#[cfg(test)]
mod agent_tests {
    use super::*;

    #[test]
    fn an_agent_needs_a_server_a_token_and_a_device_and_says_which_is_missing() {
        let settings = || Settings::default();
        let device = vec!["name=desk,serial=/dev/ttyACM0".to_owned()];
        let err = AgentConfig::resolve(&AgentArgs::default(), settings()).expect_err("no server");
        assert!(err.to_string().contains("--server"), "{err}");
        let args = AgentArgs {
            server: Some("ftp://lab".into()),
            token: Some("hl_x".into()),
            devices: device.clone(),
            ..Default::default()
        };
        let err = AgentConfig::resolve(&args, settings()).expect_err("scheme");
        assert!(err.to_string().contains("http"), "{err}");
        let args = AgentArgs {
            server: Some("https://lab.example".into()),
            devices: device.clone(),
            ..Default::default()
        };
        let err = AgentConfig::resolve(&args, settings()).expect_err("no token");
        assert!(err.to_string().contains("ingest"), "{err}");
        let args = AgentArgs {
            server: Some("https://lab.example".into()),
            token: Some("hl_x".into()),
            ..Default::default()
        };
        let err = AgentConfig::resolve(&args, settings()).expect_err("no device");
        assert!(err.to_string().contains("--device"), "{err}");
        let args = AgentArgs {
            server: Some("https://lab.example".into()),
            token: Some("hl_x".into()),
            devices: device,
            ..Default::default()
        };
        let config = AgentConfig::resolve(&args, settings()).expect("valid");
        assert_eq!(config.spool, Path::new(DEFAULT_SPOOL));
        assert_eq!(config.spool_max_bytes, DEFAULT_SPOOL_MAX_MB * 1024 * 1024);
        assert!(!config.name.is_empty(), "named after the host");
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;

    #[test]
    fn no_config_at_all_is_valid() {
        let settings =
            Settings::resolve(&SharedArgs::default(), Path::new("x.db")).expect("settings");
        let c = ServerConfig::resolve(&ServeArgs::default(), settings).expect("defaults are valid");
        assert!(c.soak.alerts.rules.is_empty());
        assert!(c.soak.alerts.queue > 0);
    }
}
