//! `heaplab sim`: one twin from the command line, until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{Profile, SimError, Twin, TwinConfig};

#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Firmware profile the twin runs.
    #[arg(long, value_enum, default_value_t = Profile::Baseline)]
    pub profile: Profile,
    /// Seed for every random choice (same seed, same session).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Heartbeat (`hb` snapshot) interval: `500ms`, `2s`, `1m` (a bare
    /// number is milliseconds).
    #[arg(long, default_value = "1s", value_parser = crate::units::duration::millis_arg)]
    pub hb_interval: u64,
    /// Bytes leaked per heartbeat by the `leak` profile.
    #[arg(long, default_value_t = 256)]
    pub leak_bytes: u32,
    /// Create a symlink to the pseudo-terminal here (stable across replugs).
    #[arg(long)]
    pub link: Option<PathBuf>,
    /// Address of the twin's HTTP server (port 0 picks one).
    #[arg(long = "http", default_value = "127.0.0.1:0")]
    pub http: SocketAddr,
    /// Require HTTP basic auth, as `user:pass`.
    #[arg(long)]
    pub auth: Option<String>,
    /// MQTT broker as HOST:PORT: the twin connects (MQTT 3.1.1), publishes
    /// Home Assistant discovery and health, and reconnects with backoff.
    #[arg(long, value_name = "HOST:PORT")]
    pub mqtt: Option<String>,
    /// Device name (hostname).
    #[arg(long, default_value = "twin")]
    pub name: String,
    /// Extra ordinary log lines per second (flood testing).
    #[arg(long, default_value_t = 0)]
    pub chatter_per_s: u32,
}

impl SimArgs {
    pub fn to_config(&self) -> Result<TwinConfig, SimError> {
        let mut config = TwinConfig::new(&self.name, self.profile);
        config.seed = self.seed;
        config.hb_interval = Duration::from_millis(self.hb_interval.max(1));
        config.leak_bytes = self.leak_bytes;
        config.link = self.link.clone();
        config.http_addr = self.http;
        config.mqtt = self.mqtt.as_deref().map(str::parse).transpose()?;
        config.chatter_per_s = self.chatter_per_s;
        config.auth = match &self.auth {
            None => None,
            Some(spec) => match spec.split_once(':') {
                Some((user, pass)) if !user.is_empty() => Some((user.to_owned(), pass.to_owned())),
                _ => return Err(SimError::Auth(spec.clone())),
            },
        };
        Ok(config)
    }
}

/// Spawns the twin, prints where to find it, runs until Ctrl-C.
pub async fn run(args: SimArgs) -> Result<(), SimError> {
    let config = args.to_config()?;
    let twin = Twin::spawn(config).await?;
    let serial = twin.serial_path();
    println!("twin {} ({} profile)", args.name, args.profile);
    println!("serial: {}", serial.display());
    println!("http: {}", twin.base_url());
    if let Some(broker) = &args.mqtt {
        println!("mqtt: {broker}");
    }
    // A command that works as printed (a test runs it): `serve` takes the
    // twin as one `--device` spec.
    println!(
        "try: `heaplab serve --device name={},serial={},url={}`   (or: `screen {} 115200`)",
        args.name,
        serial.display(),
        twin.base_url(),
        serial.display()
    );
    println!("press Ctrl-C to stop");
    let result = tokio::signal::ctrl_c().await.map_err(SimError::Signal);
    twin.shutdown().await;
    result
}
