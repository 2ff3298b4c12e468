//! The virtual ESP32-S3: two heap models, an uptime clock, the tripwire and
//! health window from the C core, and subsystems that allocate and free the
//! way the firmware does. Every operation is synchronous and appends the
//! serial output it causes to an outbox; the twin drains it under the same
//! lock, so lines leave in the order the device "printed" them. The boot
//! sequence is in `device/boot.rs`, the web server's handlers in
//! `device/web_handlers.rs`.

use std::time::Instant;

use super::ffi::{self, Snapshot, Tripwire, Window};
use super::heap::{BlockId, HeapModel};
use super::macros::MacroConfig;
use super::mqtt::MqttBroker;
use super::profile::{Placement, Profile, Region};
use super::rng::SplitMix64;
use super::rom::ResetKind;
use super::settings::{ConfigError, DeviceConfig};
use super::tasks::{self, ASYNC_TCP_STACK_SIZE, STACK_UNIT_BYTES};

mod boot;
mod display;
mod download;
mod image;
mod mqtt;
mod ota;
mod web_handlers;

use display::DisplayState;
pub use display::SCREENS;
use download::RunState;
use image::ImageState;
pub use image::{ImageFault, StripRequest};
pub use ota::{InstalledApp, OtaError, OTA_SLOT_BYTES};
pub use web_handlers::{InstallError, MacroSaveError};

/// Internal RAM the app can allocate from (ESP32-S3 with Wi-Fi and BT
/// controllers linked in leaves roughly this much).
pub const INTERNAL_HEAP_BYTES: u32 = 300 * 1024;
/// The board's 8 MB PSRAM.
pub const PSRAM_HEAP_BYTES: u32 = 8 * 1024 * 1024;
/// `MEMORY_TRIPWIRE_INTERNAL_MIN_BYTES`.
pub const TRIPWIRE_BYTES: u32 = 30720;
/// `/api/info`'s `project_display_name`; the Home Assistant model name.
pub const PROJECT_DISPLAY_NAME: &str = "jc3636w518 Macropad";
/// What `millis()` reads when `setup()` starts: ROM, bootloader and the
/// 200 ms USB-CDC delay happen before the twin prints anything.
const BOOT_OFFSET_MS: u64 = 420;

/// One write to the serial port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SerialOut {
    /// A text line; the writer appends `\r\n`.
    Line(String),
    /// Bytes as they are (boot noise); the writer appends nothing.
    Raw(Vec<u8>),
    /// A ROM loader response (SLIP frames): written whole and patiently,
    /// since the host waits for exactly these bytes.
    Frame(Vec<u8>),
}

/// What the twin was configured with that the device itself needs.
#[derive(Debug, Clone)]
pub struct DeviceSettings {
    pub profile: Profile,
    pub seed: u64,
    pub leak_bytes: u32,
    /// `--mqtt`: the broker the config starts with.
    pub mqtt: Option<MqttBroker>,
    pub hostname: String,
    /// What `[WiFi] Got IP:` prints: the address the twin's HTTP server
    /// answers on.
    pub ip: String,
}

/// A live allocation and the heap it came from.
#[derive(Debug, Clone, Copy)]
struct Alloc {
    region: Region,
    id: BlockId,
}

/// Why a request could not be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceFault {
    /// An allocation failed (the ALLOC_FAILED line was printed).
    OutOfMemory,
}

/// The outcome of `POST /api/icons/gc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcOutcome {
    Collected {
        deleted: usize,
        bytes_freed: u64,
    },
    /// The handler overflowed the async_tcp stack; the device rebooted.
    Crashed,
}

pub struct Device {
    settings: DeviceSettings,
    placement: Placement,
    rng: SplitMix64,
    internal: HeapModel,
    psram: HeapModel,
    boot_count: u32,
    booted_at: Instant,
    reset: ResetKind,
    tripwire: Tripwire,
    window: Window,
    async_tcp_rem: u32,
    watermark_logged: bool,
    /// The web server's per-connection state exists after the first request.
    server_warm: bool,
    /// The screen LVGL shows (`macro1`…); `None` while the direct image is up.
    screen: Option<String>,
    screen_blocks: Vec<Alloc>,
    display: DisplayState,
    image: ImageState,
    macros_block: Option<Alloc>,
    mqtt: mqtt::MqttState,
    alloc_failures: u32,
    config: DeviceConfig,
    macros: MacroConfig,
    /// The app an OTA update installed (runs from the next boot on);
    /// `None` runs the profile's own build.
    app: Option<InstalledApp>,
    /// Written by `POST /api/update`, booted by the next restart.
    pending_app: Option<InstalledApp>,
    /// `/icons/<id>.bin` files on FFat and their sizes.
    installed_icons: Vec<(String, u32)>,
    /// What the chip is running: the app, the ROM's download mode, or
    /// nothing (no bootable app).
    run: RunState,
    /// The ROM serial loader: its flash persists across sessions.
    rom: super::rom_loader::RomLoader,
    /// Frames arriving on the serial port.
    slip: super::rom_loader::SlipReader,
    outbox: Vec<SerialOut>,
}

impl Device {
    /// A device that has not been powered on yet (heaps empty, no output).
    pub fn new(settings: DeviceSettings) -> Self {
        let placement = settings.profile.placement();
        let rng = SplitMix64::new(settings.seed);
        let config = DeviceConfig::new(&settings.hostname, settings.mqtt.as_ref());
        Device {
            settings,
            placement,
            rng,
            internal: HeapModel::new("internal", INTERNAL_HEAP_BYTES),
            psram: HeapModel::new("psram", PSRAM_HEAP_BYTES),
            boot_count: 0,
            booted_at: Instant::now(),
            reset: ResetKind::PowerOn,
            tripwire: Tripwire::new(TRIPWIRE_BYTES),
            window: Window::new(),
            async_tcp_rem: 0,
            watermark_logged: false,
            server_warm: false,
            screen: None,
            screen_blocks: Vec::new(),
            display: DisplayState::default(),
            image: ImageState::default(),
            macros_block: None,
            mqtt: mqtt::MqttState::default(),
            alloc_failures: 0,
            config,
            macros: MacroConfig::factory(),
            app: None,
            pending_app: None,
            installed_icons: vec![
                ("emoji_u1f381".to_owned(), 12_304),
                ("emoji_u1f600".to_owned(), 12_304),
                ("user_ab12cd34".to_owned(), 12_304),
            ],
            run: RunState::App,
            rom: super::rom_loader::RomLoader::default(),
            slip: super::rom_loader::SlipReader::default(),
            outbox: Vec::new(),
        }
    }

    /// Serial output produced since the previous call, in order.
    pub fn take_output(&mut self) -> Vec<SerialOut> {
        std::mem::take(&mut self.outbox)
    }

    pub fn profile(&self) -> Profile {
        self.settings.profile
    }

    /// `millis()`: time since this boot's reset.
    pub fn uptime_ms(&self) -> u64 {
        BOOT_OFFSET_MS + self.booted_at.elapsed().as_millis() as u64
    }

    /// The running firmware's version: `  Firmware: v…`, `/api/info`.
    pub fn firmware_version(&self) -> String {
        match &self.app {
            Some(app) => app.version.clone(),
            None => self.settings.profile.firmware_version().to_owned(),
        }
    }

    /// The running app's ELF SHA-256 (hex), when an update installed it.
    pub fn installed_app(&self) -> Option<&InstalledApp> {
        self.app.as_ref()
    }

    pub fn config(&self) -> &DeviceConfig {
        &self.config
    }

    pub fn macros(&self) -> &MacroConfig {
        &self.macros
    }

    /// Installed (FFat) icons: id and file size.
    pub fn installed_icons(&self) -> &[(String, u32)] {
        &self.installed_icons
    }

    /// The numbers `ht_capture` would read right now.
    pub fn snapshot(&self) -> Snapshot {
        let hi = self.internal.free_bytes();
        let hin = self.internal.min_free_bytes();
        Snapshot {
            hf: hi,
            hm: hin,
            hl: self.internal.largest_free_block(),
            hi,
            hin,
            pf: self.psram.free_bytes(),
            pm: self.psram.min_free_bytes(),
            pl: self.psram.largest_free_block(),
        }
    }

    // ---- output ---------------------------------------------------------

    /// The firmware logger: `<indent>[<module>] <message>< (Nms)>`.
    fn log(&mut self, indent: usize, module: Option<&str>, message: &str, elapsed_ms: Option<u64>) {
        if !self.app_running() {
            // The app is not running (download mode, no bootable app):
            // nothing it would print reaches the port.
            return;
        }
        let mut line = " ".repeat(indent.min(6));
        if let Some(module) = module {
            line.push('[');
            line.push_str(module);
            line.push_str("] ");
        }
        line.push_str(message);
        if let Some(ms) = elapsed_ms {
            line.push_str(&ffi::fmt_log_suffix(ms.min(u64::from(u32::MAX)) as u32));
        }
        self.outbox.push(SerialOut::Line(line));
    }

    fn raw_line(&mut self, line: String) {
        self.outbox.push(SerialOut::Line(line));
    }

    /// `mem_snapshot_emit`: the `[Mem]` line, then the tripwire check (and
    /// its task dump), then the AsyncTCP watermark once per boot after the
    /// first `http_*` tag.
    fn emit_snapshot(&mut self, tag: &str, indent: usize) {
        if !self.app_running() {
            return;
        }
        let s = self.snapshot();
        let elapsed = if tag == "hb" {
            0
        } else {
            self.rng.range_u32(0, 3)
        };
        let line = format!(
            "{}{}{}",
            " ".repeat(indent.min(6)),
            ffi::fmt_mem(tag, &s),
            ffi::fmt_log_suffix(elapsed)
        );
        self.raw_line(line);
        if self.tripwire.check(&s) {
            let line = ffi::fmt_tripwire(tag, &s, self.tripwire.threshold());
            self.raw_line(line);
            self.task_dump(tag);
        }
        if tag.starts_with("http_") && !self.watermark_logged {
            self.log_watermark();
        }
    }

    fn task_dump(&mut self, tag: &str) {
        let table = tasks::task_table(
            &self.placement,
            self.mqtt.task_started,
            self.async_tcp_rem,
            &mut self.rng,
        );
        let header = ffi::fmt_task_header(table.len() as u32, tag);
        self.raw_line(header);
        for task in &table {
            let line = ffi::fmt_task(task);
            self.raw_line(line);
        }
        self.log_watermark();
    }

    fn log_watermark(&mut self) {
        self.watermark_logged = true;
        let line = ffi::fmt_async_tcp_watermark(
            self.async_tcp_rem / STACK_UNIT_BYTES,
            STACK_UNIT_BYTES,
            ASYNC_TCP_STACK_SIZE,
        );
        self.raw_line(line);
    }

    // ---- heap helpers ---------------------------------------------------

    fn heap(&mut self, region: Region) -> &mut HeapModel {
        match region {
            Region::Internal => &mut self.internal,
            Region::Psram => &mut self.psram,
        }
    }

    /// `heap_caps_malloc`; a failure prints the ALLOC_FAILED line like the
    /// firmware's failed-allocation callback.
    fn alloc(&mut self, region: Region, size: u32) -> Option<Alloc> {
        match self.heap(region).alloc(size) {
            Some(id) => Some(Alloc { region, id }),
            None => {
                self.alloc_failures += 1;
                let line = ffi::fmt_alloc_failed(size, region.caps(), "heap_caps_malloc");
                self.raw_line(line);
                None
            }
        }
    }

    /// `heap_caps_malloc_prefer(size, 2, first, fallback)`: tries `first`
    /// quietly, then `fallback`; only a failure of both reaches the
    /// failed-allocation callback (one ALLOC_FAILED line, last caps tried).
    fn alloc_prefer(&mut self, first: Region, fallback: Region, size: u32) -> Option<Alloc> {
        if let Some(id) = self.heap(first).alloc(size) {
            return Some(Alloc { region: first, id });
        }
        match self.heap(fallback).alloc(size) {
            Some(id) => Some(Alloc {
                region: fallback,
                id,
            }),
            None => {
                self.alloc_failures += 1;
                let line = ffi::fmt_alloc_failed(size, fallback.caps(), "heap_caps_malloc_prefer");
                self.raw_line(line);
                None
            }
        }
    }

    /// An allocation that lives for the rest of the boot. A failure is
    /// printed and otherwise ignored (the firmware would limp on).
    fn persist(&mut self, region: Region, size: u32) -> Option<Alloc> {
        self.alloc(region, size)
    }

    fn release(&mut self, alloc: Alloc) {
        self.heap(alloc.region).free(alloc.id);
    }

    fn release_all(&mut self, allocs: Vec<Alloc>) {
        for a in allocs {
            self.release(a);
        }
    }

    /// `size` ± `pct` percent, 4-byte aligned: request sizes differ a little
    /// from call to call, like real payloads.
    fn jitter(&mut self, size: u32, pct: u32) -> u32 {
        let spread = size * pct / 100;
        let v = self.rng.range_u32(size - spread, size + spread);
        v / 4 * 4
    }

    /// A handler's one-line log: `[<module>] <message> (0ms)`.
    pub fn api_log(&mut self, module: &str, message: &str) {
        self.log(0, Some(module), message, Some(0));
    }

    /// `POST /api/config`: the document, the merge, `[Portal] Config
    /// saved` and the brightness applied at once.
    pub fn save_config(&mut self, body: &[u8]) -> Result<(), ConfigError> {
        let _ = self.serve_small(2_304);
        let brightness = self.config.merge(body, false)?;
        self.api_log("Portal", "Config saved");
        if let Some(b) = brightness {
            self.set_brightness(b, true);
        }
        Ok(())
    }

    /// `DELETE /api/config`: back to an empty `device_cfg`. (The device
    /// would come back as an access point; the twin keeps its lab Wi-Fi.)
    pub fn reset_config(&mut self) {
        self.config = DeviceConfig::new(&self.settings.hostname, self.settings.mqtt.as_ref());
        self.api_log("Portal", "Configuration reset");
    }

    // ---- periodic -------------------------------------------------------

    /// The main loop's heartbeat: a little string churn, the leak (leak
    /// profile), then the `hb` snapshot.
    pub fn heartbeat(&mut self) {
        if !self.app_running() {
            self.halted_tick();
            return;
        }
        let churn = self.jitter(192, 25);
        if let Some(a) = self.alloc(Region::Internal, churn) {
            self.release(a);
        }
        if self.settings.profile.leaks() && self.settings.leak_bytes > 0 {
            // Never freed: the block id is dropped on purpose.
            let _leaked = self.alloc(Region::Internal, self.settings.leak_bytes);
        }
        self.emit_snapshot("hb", 0);
    }

    /// The 200 ms health-window sample (`ht_window_update`).
    pub fn sample_window(&mut self) {
        if !self.app_running() {
            return;
        }
        let s = self.snapshot();
        self.window.update(&s);
    }

    /// An ordinary log line with no telemetry (flood tests).
    pub fn chatter(&mut self) {
        if !self.app_running() {
            return;
        }
        let n = self.rng.range_u32(0, 3);
        let ms = u64::from(self.rng.range_u32(1, 40));
        match n {
            0 => self.log(2, Some("Portal"), "GET /api/status 200", Some(ms)),
            1 => self.log(4, Some("LVGL"), "flush 360x360", Some(ms)),
            2 => self.log(0, Some("Display"), "fps=30 lv_timer=4100us", None),
            _ => self.log(6, Some("Macro"), "key matrix scan idle", Some(ms)),
        }
    }
}

/// What the device's unit tests (here and in its submodules) start from.
#[cfg(test)]
impl Device {
    /// A powered-on device without MQTT, its boot log still unread.
    pub(crate) fn powered_for_test(profile: Profile, leak_bytes: u32, hostname: &str) -> Device {
        let mut d = Device::new(DeviceSettings {
            profile,
            seed: 1,
            leak_bytes,
            mqtt: None,
            hostname: hostname.into(),
            ip: "127.0.0.1".into(),
        });
        d.power_on();
        d
    }

    /// The text lines printed since the last take.
    pub(crate) fn take_lines(&mut self) -> Vec<String> {
        self.take_output()
            .into_iter()
            .filter_map(|o| match o {
                SerialOut::Line(l) => Some(l),
                SerialOut::Raw(_) | SerialOut::Frame(_) => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{parse_line, LineKind};

    fn device(profile: Profile) -> Device {
        Device::powered_for_test(profile, 256, "twin")
    }

    fn snapshots(lines: &[String]) -> Vec<crate::protocol::MemSnapshot> {
        lines
            .iter()
            .filter_map(|l| match parse_line(l.as_bytes()).kind {
                LineKind::Snapshot(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    fn session(profile: Profile) -> Vec<String> {
        let mut d = device(profile);
        d.heartbeat();
        for page in ["/", "/portal.css", "/network.html", "/firmware.html"] {
            let _ = d.serve_page(page);
        }
        let body = d.macros().to_json().to_string();
        let _ = d.save_macros(body.as_bytes());
        d.switch_screen("macro2");
        for _ in 0..3 {
            d.heartbeat();
        }
        d.take_lines()
    }

    #[test]
    fn baseline_trips_at_http_root_and_fragments() {
        let out = session(Profile::Baseline);
        let trip = out
            .iter()
            .find(|l| l.contains("TRIPWIRE fired"))
            .expect("tripwire");
        assert!(trip.contains("tag=http_root"), "{trip}");
        let snaps = snapshots(&out);
        let setup = snaps.iter().find(|s| s.tag == "setup").expect("setup");
        assert!(
            setup.hin.expect("hin") >= i64::from(TRIPWIRE_BYTES),
            "{setup:?}"
        );
        let hin_min = snaps.iter().filter_map(|s| s.hin).min().expect("hin");
        assert!((15_000..30_720).contains(&hin_min), "hin_min {hin_min}");
        for hb in snaps.iter().filter(|s| s.tag == "hb") {
            let frag = hb.frag.expect("frag");
            assert!((30..=50).contains(&frag), "hb frag {frag}: {hb:?}");
        }
    }

    #[test]
    fn tuned_passes_the_acceptance_numbers() {
        let out = session(Profile::Tuned);
        assert!(!out
            .iter()
            .any(|l| l.contains("TRIPWIRE") || l.contains("ALLOC_FAILED")));
        let snaps = snapshots(&out);
        let hin_min = snaps.iter().filter_map(|s| s.hin).min().expect("hin");
        assert!(hin_min >= 102_400, "hin_min {hin_min}");
        for hb in snaps.iter().filter(|s| s.tag == "hb") {
            assert!(hb.frag.expect("frag") < 40, "{hb:?}");
        }
    }
}
