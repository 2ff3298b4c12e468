//! The device twin: a virtual ESP32-S3 running the bundled firmware's
//! telemetry, on a pseudo-terminal and a local HTTP port.
//!
//! Every serial line and `/api/health` body is produced by the firmware's
//! own C core (`firmware/lib/heaptrace`, via [`ffi`]); the heap numbers come
//! out of an allocator model ([`heap`]) driven the way the firmware
//! allocates. Profiles ([`Profile`]) select the firmware build: the plan's
//! "before" and "after", a leak, a crash and a flaky link. Used by tests,
//! `heaplab sim` and the demo, so every page has real data without hardware.

mod cli;
mod device;
mod error;
pub mod ffi;
pub mod heap;
mod http;
pub mod icons;
pub mod jpeg;
pub mod macros;
pub mod mqtt;
pub mod multipart;
mod profile;
mod rng;
mod rom;
pub mod rom_loader;
mod serial;
pub mod settings;
mod shared;
mod tasks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use cli::{run, run as run_cli, SimArgs};
pub use device::{INTERNAL_HEAP_BYTES, PSRAM_HEAP_BYTES, TRIPWIRE_BYTES};
pub use error::SimError;
pub use mqtt::MqttBroker;
pub use profile::{Placement, Profile, Region};
pub use rng::SplitMix64;
pub use rom::PANIC_BACKTRACE;
pub use shared::RecordedRequest;

use device::{Device, DeviceSettings};
use serial::{Flakiness, PtyPort, WriterMsg};
use shared::Shared;

/// `MEMORY_HEARTBEAT_INTERVAL_MS`'s default for the twin.
const DEFAULT_HB_INTERVAL: Duration = Duration::from_secs(1);
/// `HEALTH_WINDOW_SAMPLE_MS`.
const WINDOW_SAMPLE_INTERVAL: Duration = Duration::from_millis(200);
/// Chatter is emitted in bursts this often.
const CHATTER_TICK: Duration = Duration::from_millis(10);
/// How long a flaky serial link stays away.
const HANGUP_DURATION: Duration = Duration::from_millis(1000);
/// How often the port is checked for host input while the app runs
/// (nothing but a flashing tool's first SYNC is expected then).
const INPUT_POLL_IDLE: Duration = Duration::from_millis(10);
/// ... and in download mode, where every command waits for its answer.
const INPUT_POLL_DOWNLOAD: Duration = Duration::from_millis(1);

/// How to start a twin.
#[derive(Debug, Clone)]
pub struct TwinConfig {
    pub name: String,
    pub profile: Profile,
    /// Seeds every random choice (sizes, RSSI, faults): same seed, same
    /// numbers.
    pub seed: u64,
    pub hb_interval: Duration,
    /// Bytes leaked per heartbeat by the `leak` profile.
    pub leak_bytes: u32,
    /// A symlink to the pty that survives replugs.
    pub link: Option<PathBuf>,
    /// Port 0 picks a free port.
    pub http_addr: SocketAddr,
    pub auth: Option<(String, String)>,
    /// The broker the device's config starts with (`--mqtt HOST:PORT`);
    /// `None` leaves `mqtt_host` empty (it can still be set through
    /// `POST /api/config`).
    pub mqtt: Option<MqttBroker>,
    /// Extra ordinary log lines per second (0 = none); floods the reader.
    pub chatter_per_s: u32,
}

impl TwinConfig {
    pub fn new(name: &str, profile: Profile) -> Self {
        TwinConfig {
            name: name.to_owned(),
            profile,
            seed: 1,
            hb_interval: DEFAULT_HB_INTERVAL,
            leak_bytes: 256,
            link: None,
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            auth: None,
            mqtt: None,
            chatter_per_s: 0,
        }
    }
}

/// A running twin. It owns its tasks: dropping it (or [`Twin::shutdown`])
/// stops them and removes the serial link.
pub struct Twin {
    shared: Arc<Shared>,
    http_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Twin {
    /// Opens the pty, powers the device on (its boot log waits in the pty
    /// for a reader), starts the HTTP server and the device's periodic tasks.
    pub async fn spawn(config: TwinConfig) -> Result<Twin, SimError> {
        let port = Arc::new(Mutex::new(PtyPort::open(config.link.clone())?));
        let dropped = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::unbounded_channel();
        let mut rng = SplitMix64::new(config.seed);
        let device_rng = rng.fork();
        let flaky = config.profile.flaky();
        let serial_faults = flaky.then(|| Flakiness { rng: rng.fork() });
        let http_faults = flaky.then(|| rng.fork());
        let hangup_rng = rng.fork();

        let auth_header = config
            .auth
            .as_ref()
            .map(|(user, pass)| http::basic_auth_header(user, pass));
        // Bind first: the device prints the address it answers on. The
        // listener is kept (not dropped and bound again), so no other
        // process can take the port in between.
        let listener = tokio::net::TcpListener::bind(config.http_addr)
            .await
            .map_err(|source| SimError::Bind {
                addr: config.http_addr,
                source,
            })?;
        let http_addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: config.http_addr,
            source,
        })?;

        let device = Device::new(DeviceSettings {
            profile: config.profile,
            seed: device_rng.clone().next_u64(),
            leak_bytes: config.leak_bytes,
            mqtt: config.mqtt.clone(),
            hostname: config.name.clone(),
            ip: http_addr.ip().to_string(),
        });
        let shared = Arc::new(Shared::new(
            device,
            tx,
            port.clone(),
            dropped.clone(),
            auth_header,
            http_faults,
        ));
        let mut tasks = vec![
            serial::spawn_writer(port, rx, serial_faults, dropped),
            spawn_input_reader(shared.clone()),
        ];
        shared.with_device(|d| d.power_on());

        let http_task = http::serve(shared.clone(), listener);
        tasks.push(http_task);
        tasks.push(spawn_every(shared.clone(), config.hb_interval, |d| {
            d.heartbeat()
        }));
        tasks.push(spawn_every(shared.clone(), WINDOW_SAMPLE_INTERVAL, |d| {
            d.sample_window()
        }));
        tasks.push(mqtt::spawn(shared.clone()));
        if config.chatter_per_s > 0 {
            tasks.push(spawn_chatter(shared.clone(), config.chatter_per_s));
        }
        if flaky && config.link.is_some() {
            tasks.push(spawn_hangups(shared.clone(), hangup_rng));
        }
        Ok(Twin {
            shared,
            http_addr,
            tasks,
        })
    }

    /// The link if set, else `/dev/pts/N`.
    pub fn serial_path(&self) -> PathBuf {
        serial::lock(&self.shared.port).path()
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Every HTTP request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// Same as `POST /api/reboot`: the device restarts ~100 ms later.
    pub async fn reboot(&self) {
        http::schedule_reboot(self.shared.clone());
    }

    /// The serial port disappears: a reader sees EIO/hang-up.
    pub async fn unplug(&self) {
        serial::lock(&self.shared.port).unplug();
    }

    /// The port comes back at the same [`serial_path`](Self::serial_path).
    /// Needs a link: a bare `/dev/pts/N` would change.
    pub async fn replug(&self) -> Result<(), SimError> {
        let mut port = serial::lock(&self.shared.port);
        if port.link().is_none() {
            return Err(SimError::ReplugWithoutLink);
        }
        port.replug()
    }

    /// Raw bytes onto the serial line, in order with the device's output.
    /// Waits until they are written (or dropped because nobody reads).
    pub async fn inject(&self, bytes: &[u8]) {
        let (done_tx, done_rx) = oneshot::channel();
        if self
            .shared
            .send_to_writer(WriterMsg::Inject(bytes.to_vec(), done_tx))
        {
            let _ = done_rx.await;
        }
    }

    /// Lines the pty could not take (nobody reading, or unplugged).
    pub fn lines_dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Stops every task and removes the serial link.
    pub async fn shutdown(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Twin {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Hands what the host writes on the pty to the device (the ROM loader's
/// commands), polling faster while the chip is in download mode.
fn spawn_input_reader(shared: Arc<Shared>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut download = false;
        loop {
            let wait = if download {
                INPUT_POLL_DOWNLOAD
            } else {
                INPUT_POLL_IDLE
            };
            tokio::time::sleep(wait).await;
            let input = serial::lock(&shared.port).take_input();
            if !input.is_empty() || download {
                download = shared.with_device(|d| {
                    if !input.is_empty() {
                        d.serial_input(&input);
                    }
                    d.in_download_mode()
                });
            }
        }
    })
}

/// Runs `tick` on the device every `period`.
fn spawn_every(shared: Arc<Shared>, period: Duration, tick: fn(&mut Device)) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period.max(Duration::from_millis(1)));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await; // the first tick is immediate
        loop {
            interval.tick().await;
            shared.with_device(tick);
        }
    })
}

/// `per_s` ordinary log lines per second, in 10 ms bursts.
fn spawn_chatter(shared: Arc<Shared>, per_s: u32) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(CHATTER_TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let per_tick = f64::from(per_s) * CHATTER_TICK.as_secs_f64();
        let mut owed = 0.0;
        loop {
            interval.tick().await;
            owed += per_tick;
            let n = owed.floor() as u32;
            owed -= f64::from(n);
            if n > 0 {
                shared.with_device(|d| {
                    for _ in 0..n {
                        d.chatter();
                    }
                });
            }
        }
    })
}

/// The flaky profile's cable: every 5–15 s the port vanishes for ~1 s and
/// comes back at the same link path.
fn spawn_hangups(shared: Arc<Shared>, mut rng: SplitMix64) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let wait = Duration::from_millis(u64::from(rng.range_u32(5_000, 15_000)));
            tokio::time::sleep(wait).await;
            serial::lock(&shared.port).unplug();
            tokio::time::sleep(HANGUP_DURATION).await;
            if let Err(e) = serial::lock(&shared.port).replug() {
                tracing::warn!("twin replug failed: {e}");
            }
        }
    })
}
