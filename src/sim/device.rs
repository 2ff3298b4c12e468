//! The virtual ESP32-S3: two heap models, an uptime clock, the tripwire and
//! health window from the C core, and subsystems that allocate and free the
//! way the firmware does. Every operation is synchronous and appends the
//! serial output it causes to an outbox; the twin drains it under the same
//! lock, so lines leave in the order the device "printed" them.

use std::time::Instant;

use super::ffi::{self, HealthFields, Snapshot, Tripwire, Window};
use super::heap::{BlockId, HeapModel};
use super::profile::{Placement, Profile, Region};
use super::rng::SplitMix64;
use super::rom::{self, ResetKind};
use super::tasks::{self, ASYNC_TCP_STACK_SIZE, STACK_UNIT_BYTES};

/// Internal RAM the app can allocate from (ESP32-S3 with Wi-Fi and BT
/// controllers linked in leaves roughly this much).
pub const INTERNAL_HEAP_BYTES: u32 = 300 * 1024;
/// The board's 8 MB PSRAM.
pub const PSRAM_HEAP_BYTES: u32 = 8 * 1024 * 1024;
/// `MEMORY_TRIPWIRE_INTERNAL_MIN_BYTES`.
pub const TRIPWIRE_BYTES: u32 = 30720;
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
}

/// What the twin was configured with that the device itself needs.
#[derive(Debug, Clone)]
pub struct DeviceSettings {
    pub profile: Profile,
    pub seed: u64,
    pub leak_bytes: u32,
    pub mqtt: bool,
    pub hostname: String,
    /// What `[WiFi] Got IP:` prints: the address the twin's HTTP server
    /// answers on.
    pub ip: String,
}

/// Settings kept in "NVS": they survive reboots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConfig {
    pub hostname: String,
    pub wifi_ssid: String,
    pub wifi_password: String,
    pub mqtt_host: String,
    pub mqtt_port: u16,
    pub mqtt_user: String,
    pub mqtt_password: String,
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
        removed: usize,
        kept: usize,
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
    screen: String,
    screen_blocks: Vec<Alloc>,
    macros_block: Option<Alloc>,
    mqtt_connected: bool,
    mqtt_last_publish: Option<Instant>,
    alloc_failures: u32,
    config: StoredConfig,
    macros_json: String,
    icons: Vec<(String, u32)>,
    outbox: Vec<SerialOut>,
}

impl Device {
    /// A device that has not been powered on yet (heaps empty, no output).
    pub fn new(settings: DeviceSettings) -> Self {
        let placement = settings.profile.placement();
        let rng = SplitMix64::new(settings.seed);
        let config = StoredConfig {
            hostname: settings.hostname.clone(),
            wifi_ssid: "heaplab-lab".to_owned(),
            wifi_password: "correct-horse-battery".to_owned(),
            mqtt_host: if settings.mqtt {
                "192.168.1.10".to_owned()
            } else {
                String::new()
            },
            mqtt_port: 1883,
            mqtt_user: if settings.mqtt {
                "heaplab".to_owned()
            } else {
                String::new()
            },
            mqtt_password: if settings.mqtt {
                "mqtt-secret".to_owned()
            } else {
                String::new()
            },
        };
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
            screen: "home".to_owned(),
            screen_blocks: Vec::new(),
            macros_block: None,
            mqtt_connected: false,
            mqtt_last_publish: None,
            alloc_failures: 0,
            config,
            macros_json: default_macros(),
            icons: vec![("home".to_owned(), 2304), ("light".to_owned(), 2304)],
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

    pub fn boot_count(&self) -> u32 {
        self.boot_count
    }

    /// `millis()`: time since this boot's reset.
    pub fn uptime_ms(&self) -> u64 {
        BOOT_OFFSET_MS + self.booted_at.elapsed().as_millis() as u64
    }

    pub fn alloc_failures(&self) -> u32 {
        self.alloc_failures
    }

    pub fn config(&self) -> &StoredConfig {
        &self.config
    }

    pub fn config_mut(&mut self) -> &mut StoredConfig {
        &mut self.config
    }

    pub fn macros_json(&self) -> &str {
        &self.macros_json
    }

    pub fn icons(&self) -> &[(String, u32)] {
        &self.icons
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
            self.settings.mqtt,
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

    // ---- boot -----------------------------------------------------------

    /// First power-on.
    pub fn power_on(&mut self) {
        self.boot(ResetKind::PowerOn);
    }

    /// `ESP.restart()` from `POST /api/reboot`.
    pub fn restart(&mut self) {
        self.log(0, Some("System"), "Rebooting", None);
        self.boot(ResetKind::Software);
    }

    /// ROM banner, boot noise, then `setup()`.
    fn boot(&mut self, reset: ResetKind) {
        for line in rom::rom_banner(reset) {
            self.raw_line(line);
        }
        self.outbox.push(SerialOut::Raw(rom::BOOT_GARBAGE.to_vec()));
        self.reset = reset;
        self.setup();
    }

    /// Fresh heaps and clocks, then the firmware's `setup()`.
    fn setup(&mut self) {
        self.boot_count += 1;
        self.booted_at = Instant::now();
        self.internal = HeapModel::new("internal", INTERNAL_HEAP_BYTES);
        self.psram = HeapModel::new("psram", PSRAM_HEAP_BYTES);
        self.tripwire = Tripwire::new(TRIPWIRE_BYTES);
        self.window = Window::new();
        self.watermark_logged = false;
        self.server_warm = false;
        self.screen = "home".to_owned();
        self.screen_blocks.clear();
        self.macros_block = None;
        self.mqtt_connected = false;
        self.mqtt_last_publish = None;
        self.async_tcp_rem = tasks::async_tcp_margin(&self.placement, &mut self.rng);

        self.log(0, Some("System Boot"), "Starting...", None);
        let version = format!("Firmware: v{}", self.settings.profile.firmware_version());
        self.log(2, None, &version, None);
        self.system_init();
        self.emit_snapshot("boot", 2);

        self.stores_init();
        self.display_init();
        self.ble_init();
        self.wifi_init();
        self.web_server_init();
        self.emit_snapshot("setup", 2);
        let now = self.uptime_ms();
        self.log(0, Some("Main"), "Setup complete", Some(now));
        if self.settings.mqtt {
            self.mqtt_start();
        }
    }

    /// FreeRTOS, the Arduino core and drivers, before the `boot` snapshot.
    fn system_init(&mut self) {
        use Region::Internal;
        for size in [1024, 1024, 3584, 1536, 1536, 2048, 2560, 8192] {
            self.persist(Internal, size); // task stacks
        }
        self.persist(Internal, 12_288); // Arduino core, event loop
        let probe = self.alloc(Internal, 2_048); // flash/partition probe
        self.persist(Internal, 4_096); // USB-CDC ring buffers
        self.persist(Internal, 6_144); // NVS page cache
        if let Some(p) = probe {
            self.release(p);
        }
        self.persist(Internal, 2_048); // flash mmap
    }

    /// Long-lived stores, created early before the heap fragments.
    fn stores_init(&mut self) {
        self.persist(Region::Psram, 16 * 1024); // body buffer
        self.persist(Region::Psram, 64 * 1024); // icon store
        let macros_len = self.macros_json.len() as u32;
        self.macros_block = self.persist(self.placement.json, macros_len + 64);
        self.persist(Region::Internal, 2_048); // device config
    }

    /// Panel, LVGL and the first screen.
    fn display_init(&mut self) {
        let p = self.placement;
        self.persist(Region::Internal, 8_192); // lvgl task stack
        let panel_probe = self.alloc(Region::Internal, 4_096); // panel init scratch
        self.persist(p.display, 16_384); // draw buffer 1
        self.persist(p.display, 16_384); // draw buffer 2
        self.persist(p.display, 10_240); // panel swap buffer
        if let Some(a) = panel_probe {
            self.release(a);
        }
        self.persist(p.lvgl, 24_576); // LVGL heap pool
        self.screen_blocks = self.screen_objects(4_096);
    }

    /// NimBLE keyboard: host stack plus pools.
    fn ble_init(&mut self) {
        let p = self.placement;
        let scratch = self.alloc(Region::Internal, 6_144); // controller init
        self.persist(Region::Internal, 4_096); // host task stack
        self.persist(p.ble, 30_720); // mbuf pools
        if let Some(a) = scratch {
            self.release(a);
        }
        self.persist(p.ble, 18_432); // GATT tables, bonds
        self.persist(p.ble, 6_144); // HID report maps
    }

    /// Wi-Fi driver, lwIP, then the connection.
    fn wifi_init(&mut self) {
        use Region::Internal;
        self.persist(Internal, 6_656); // wifi task stack
        self.persist(Internal, 3_072); // tiT (lwIP) stack
        self.persist(Internal, 10_240); // driver static buffers
        let ssid = self.config.wifi_ssid.clone();
        self.log(
            0,
            Some("WiFi"),
            &format!("Connecting to \"{ssid}\"..."),
            None,
        );
        // Scan results interleave with RX buffers; freeing the scan leaves
        // holes between long-lived blocks: fragmentation from the pattern.
        let mut scan = Vec::new();
        for _ in 0..8 {
            if let Some(a) = self.alloc(Internal, 2_048) {
                scan.push(a);
            }
            self.persist(Internal, 1_664); // dynamic RX buffer
        }
        let connect = self.alloc(Internal, 12_288); // WPA handshake, DHCP
        self.release_all(scan);
        self.persist(Internal, 2_560); // lwIP pcbs, DHCP client
        if let Some(a) = connect {
            self.release(a);
        }
        let took = u64::from(self.rng.range_u32(650, 950));
        let ip = self.settings.ip.clone();
        self.log(0, Some("WiFi"), &format!("Got IP: {ip}"), Some(took));
    }

    fn web_server_init(&mut self) {
        self.persist(Region::Internal, 10_240); // async_tcp task stack
        self.persist(Region::Internal, 1_536); // AsyncWebServer, handlers
        if self.placement.assets_in_ram {
            self.persist(Region::Internal, 22_528); // RAM copy of web assets
        }
    }

    /// The current screen's widgets and caches.
    fn screen_objects(&mut self, widgets: u32) -> Vec<Alloc> {
        let region = self.placement.lvgl;
        let widgets = self.jitter(widgets, 10);
        [self.persist(region, widgets), self.persist(region, 2_048)]
            .into_iter()
            .flatten()
            .collect()
    }

    // ---- periodic -------------------------------------------------------

    /// The main loop's heartbeat: a little string churn, the leak (leak
    /// profile), then the `hb` snapshot.
    pub fn heartbeat(&mut self) {
        let churn = self.jitter(192, 25);
        if let Some(a) = self.alloc(Region::Internal, churn) {
            self.release(a);
        }
        if self.settings.profile.leaks() && self.settings.leak_bytes > 0 {
            // Never freed: the block id is dropped on purpose.
            let _leaked = self.alloc(Region::Internal, self.settings.leak_bytes);
        }
        if self.mqtt_connected {
            self.mqtt_publish_health();
        }
        self.emit_snapshot("hb", 0);
    }

    /// The 200 ms health-window sample (`ht_window_update`).
    pub fn sample_window(&mut self) {
        let s = self.snapshot();
        self.window.update(&s);
    }

    /// An ordinary log line with no telemetry (flood tests).
    pub fn chatter(&mut self) {
        let n = self.rng.range_u32(0, 3);
        let ms = u64::from(self.rng.range_u32(1, 40));
        match n {
            0 => self.log(2, Some("Portal"), "GET /api/status 200", Some(ms)),
            1 => self.log(4, Some("LVGL"), "flush 360x360", Some(ms)),
            2 => self.log(0, Some("Display"), "fps=30 lv_timer=4100us", None),
            _ => self.log(6, Some("Macro"), "key matrix scan idle", Some(ms)),
        }
    }

    // ---- HTTP handlers ----------------------------------------------------

    /// `GET /api/health`: every value through `ht_health_json`; the window
    /// is taken (and reset) by this call.
    pub fn health_json(&mut self) -> String {
        let s = self.snapshot();
        let uptime_ms = self.uptime_ms();
        let window = self.window.take();
        let rssi = -(i64::from(self.rng.range_u32(52, 64)));
        let cpu_usage = f64::from(self.rng.range_u32(800, 2400)) / 100.0;
        let temp = 38.0 + f64::from(self.rng.range_u32(0, 400)) / 100.0;
        let mqtt_age = self
            .mqtt_last_publish
            .map(|t| t.elapsed().as_millis() as i64);
        let fields = HealthFields {
            snapshot: Some(s),
            window,
            uptime_seconds: Some((uptime_ms / 1000) as i64),
            reset_reason: Some(self.reset.reason_name().to_owned()),
            cpu_freq: Some(240),
            cpu_usage: Some(cpu_usage),
            cpu_temperature: Some(temp),
            heap_size: Some(i64::from(self.internal.capacity())),
            flash_used: Some(1_312_768),
            flash_total: Some(16 * 1024 * 1024),
            fs_type: Some("FFat".to_owned()),
            fs_mounted: Some(true),
            fs_used_bytes: Some(4096 + self.macros_json.len() as i64),
            fs_total_bytes: Some(1_441_792),
            mqtt_enabled: Some(self.settings.mqtt),
            mqtt_publish_enabled: Some(self.settings.mqtt),
            mqtt_connected: Some(self.mqtt_connected),
            mqtt_last_health_publish_ms: self
                .mqtt_last_publish
                .map(|_| uptime_ms as i64 - mqtt_age.unwrap_or(0)),
            mqtt_health_publish_age_ms: mqtt_age,
            display_fps: Some(30.0),
            display_lv_timer_us: Some(i64::from(self.rng.range_u32(3800, 4600))),
            display_present_us: Some(i64::from(self.rng.range_u32(9000, 11000))),
            wifi_rssi: Some(rssi),
            wifi_channel: Some(6),
            ip_address: Some(self.settings.ip.clone()),
            hostname: Some(self.config.hostname.clone()),
            ..Default::default()
        };
        ffi::health_json(&fields)
    }

    /// A portal page: request object, first-connection state, lwIP send
    /// buffers and response buffers, then the page's snapshot.
    pub fn serve_page(&mut self, path: &str) -> Result<(), DeviceFault> {
        let (tag, chunks): (&str, &[u32]) = match path {
            "/" => ("http_root", &[8_192, 6_144, 4_096]),
            "/network.html" => ("http_network", &[6_144, 4_096]),
            "/firmware.html" => ("http_firmware", &[4_096, 3_072]),
            _ => return self.serve_small(2_048),
        };
        let web = self.placement.web;
        let mut held = Vec::new();
        let mut ok = true;
        for (region, size) in [(Region::Internal, 1_180), (Region::Internal, 320)] {
            match self.alloc(region, size) {
                Some(a) => held.push(a),
                None => ok = false,
            }
        }
        if !self.server_warm {
            self.server_warm = true;
            self.persist(Region::Internal, 640); // AsyncClient + pcb
            self.persist(web, 3_072); // template cache
        }
        if let Some(a) = self.alloc(Region::Internal, 2_920) {
            held.push(a); // lwIP TCP send buffers (DMA-capable)
        } else {
            ok = false;
        }
        for &size in chunks {
            let size = self.jitter(size, 5);
            match self.alloc(web, size) {
                Some(a) => held.push(a),
                None => ok = false,
            }
        }
        self.release_all(held);
        self.emit_snapshot(tag, 4);
        if ok {
            Ok(())
        } else {
            Err(DeviceFault::OutOfMemory)
        }
    }

    /// A static asset or small API answer: request object plus a document.
    pub fn serve_small(&mut self, doc_bytes: u32) -> Result<(), DeviceFault> {
        let req = self.alloc(Region::Internal, 1_180);
        let doc = self.alloc(self.placement.json, doc_bytes);
        let ok = req.is_some() && doc.is_some();
        for a in [req, doc].into_iter().flatten() {
            self.release(a);
        }
        if ok {
            Ok(())
        } else {
            Err(DeviceFault::OutOfMemory)
        }
    }

    /// `POST /api/macros` with an already validated body: body buffer and
    /// JSON document, `http_macros_post_parsed`, the NVS write and the new
    /// store copy, `http_macros_post_saved`. Returns the macro count.
    pub fn save_macros(
        &mut self,
        body: &str,
        macro_count: usize,
        icons: &[String],
    ) -> Result<usize, DeviceFault> {
        let len = body.len() as u32;
        let json = self.placement.json;
        let body_buf = self.alloc(json, len + 1);
        let doc = self.alloc(json, len * 2 + 4_096);
        let Some((body_buf, doc)) = body_buf.zip(doc) else {
            for a in [body_buf, doc].into_iter().flatten() {
                self.release(a);
            }
            return Err(DeviceFault::OutOfMemory);
        };
        self.emit_snapshot("http_macros_post_parsed", 0);
        let nvs_size = match json {
            Region::Internal => 4_096,
            Region::Psram => 1_024,
        };
        let nvs = self.alloc(Region::Internal, nvs_size);
        if let Some(old) = self.macros_block.take() {
            self.release(old);
        }
        self.macros_block = self.persist(json, len + 64);
        for icon in icons {
            if !self.icons.iter().any(|(id, _)| id == icon) {
                self.icons.push((icon.clone(), 2_304));
            }
        }
        self.emit_snapshot("http_macros_post_saved", 0);
        for a in [nvs, Some(doc), Some(body_buf)].into_iter().flatten() {
            self.release(a);
        }
        if self.macros_block.is_none() || nvs.is_none() {
            return Err(DeviceFault::OutOfMemory);
        }
        self.macros_json = body.to_owned();
        Ok(macro_count)
    }

    /// The display loop's screen switch: pre snapshot, new screen objects
    /// and an image decode, old screen freed, post snapshot.
    pub fn switch_screen(&mut self, screen: &str) {
        self.emit_snapshot(&format!("lvgl_switch_pre_{screen}"), 0);
        let lvgl = self.placement.lvgl;
        let new_objects = self.screen_objects(4_096);
        let decode_size = self.jitter(14_400, 5);
        let decode = self.alloc(lvgl, decode_size);
        let mask = self.alloc(lvgl, 6_144);
        let old = std::mem::replace(&mut self.screen_blocks, new_objects);
        self.release_all(old);
        for a in [decode, mask].into_iter().flatten() {
            self.release(a);
        }
        self.screen = screen.to_owned();
        self.emit_snapshot(&format!("lvgl_switch_post_{screen}"), 0);
    }

    /// `POST /api/icons/gc`: drops icons no macro uses. The crash profile
    /// still has the big on-stack keep-set: async_tcp overflows.
    pub fn icons_gc(&mut self, used: &[String]) -> GcOutcome {
        if self.settings.profile.crashes_on_icon_gc() {
            for line in rom::stack_overflow_panic() {
                self.raw_line(line);
            }
            self.boot(ResetKind::Panic);
            return GcOutcome::Crashed;
        }
        let scratch = self.alloc(self.placement.json, 3_072);
        let before = self.icons.len();
        self.icons.retain(|(id, _)| used.iter().any(|u| u == id));
        if let Some(a) = scratch {
            self.release(a);
        }
        self.emit_snapshot("http_icons_gc", 0);
        GcOutcome::Collected {
            removed: before - self.icons.len(),
            kept: self.icons.len(),
        }
    }

    // ---- MQTT -------------------------------------------------------------

    /// Connect, Home Assistant discovery, first publish — each tagged.
    fn mqtt_start(&mut self) {
        let host = self.config.mqtt_host.clone();
        self.log(
            0,
            Some("MQTT"),
            &format!("Connecting to {host}:{}", self.config.mqtt_port),
            None,
        );
        self.emit_snapshot("mqtt_connect_attempt", 0);
        self.persist(Region::Internal, 6_144); // mqtt task stack
        self.persist(Region::Internal, 1_536); // client + socket
        self.persist(self.placement.web, 4_096); // out buffer
        self.mqtt_connected = true;
        let took = u64::from(self.rng.range_u32(40, 120));
        self.log(0, Some("MQTT"), "Connected", Some(took));
        self.emit_snapshot("mqtt_connected", 0);
        self.emit_snapshot("mqtt_discovery_pre", 0);
        if let Some(doc) = self.alloc(self.placement.json, 8_192) {
            self.release(doc);
        }
        self.emit_snapshot("mqtt_discovery_post", 0);
        self.mqtt_publish_health();
        self.emit_snapshot("mqtt_first_publish", 0);
    }

    fn mqtt_publish_health(&mut self) {
        if let Some(a) = self.alloc(Region::Internal, 1_024) {
            self.release(a);
        }
        self.mqtt_last_publish = Some(Instant::now());
    }
}

/// The macros a fresh device ships with.
fn default_macros() -> String {
    r#"{"macros":[{"id":1,"label":"Lights","icon":"light","keys":"ctrl+alt+l"},{"id":2,"label":"Home","icon":"home","keys":"ctrl+alt+h"}]}"#
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{parse_line, LineKind};

    fn device(profile: Profile) -> Device {
        let mut d = Device::new(DeviceSettings {
            profile,
            seed: 1,
            leak_bytes: 256,
            mqtt: false,
            hostname: "twin".into(),
            ip: "127.0.0.1".into(),
        });
        d.power_on();
        d
    }

    fn lines(d: &mut Device) -> Vec<String> {
        d.take_output()
            .into_iter()
            .filter_map(|o| match o {
                SerialOut::Line(l) => Some(l),
                SerialOut::Raw(_) => None,
            })
            .collect()
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
        let body = r#"{"macros":[{"id":1,"label":"A","icon":"light"}]}"#;
        let _ = d.save_macros(body, 1, &["light".into()]);
        d.switch_screen("macro1");
        for _ in 0..3 {
            d.heartbeat();
        }
        lines(&mut d)
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

    #[test]
    fn print_numbers() {
        for p in [Profile::Baseline, Profile::Tuned] {
            for l in session(p) {
                if l.contains("[Mem]") {
                    println!("{p}: {l}");
                }
            }
        }
    }
}
