//! The boot sequence: ROM banner, then the firmware's `setup()` one
//! subsystem at a time, each allocating what the real one does and tagging
//! a snapshot, so a boot's serial log reads like the device's.

use std::time::Instant;

use super::display::DisplayState;
use super::image::ImageState;
use super::{Alloc, Device, SerialOut, INTERNAL_HEAP_BYTES, PSRAM_HEAP_BYTES, TRIPWIRE_BYTES};
use crate::sim::ffi::{Tripwire, Window};
use crate::sim::heap::HeapModel;
use crate::sim::profile::Region;
use crate::sim::rom::{self, ResetKind};
use crate::sim::tasks;

impl Device {
    // ---- boot -----------------------------------------------------------

    /// First power-on.
    pub fn power_on(&mut self) {
        self.boot(ResetKind::PowerOn);
    }

    /// `ESP.restart()` from `POST /api/reboot`.
    pub fn restart(&mut self) {
        if !self.app_running() {
            // Only the app calls ESP.restart(); the ROM loader has no such path.
            return;
        }
        self.log(0, Some("System"), "Rebooting", None);
        self.boot(ResetKind::Software);
    }

    /// ROM banner, boot noise, then `setup()`.
    pub(super) fn boot(&mut self, reset: ResetKind) {
        for line in rom::rom_banner(reset) {
            self.raw_line(line);
        }
        self.outbox.push(SerialOut::Raw(rom::BOOT_GARBAGE.to_vec()));
        self.reset = reset;
        // The bootloader picks the OTA partition written last.
        if let Some(app) = self.pending_app.take() {
            self.app = Some(app);
        }
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
        self.screen = None;
        self.screen_blocks.clear();
        self.image = ImageState::default();
        self.display = DisplayState::default();
        self.macros_block = None;
        self.mqtt = super::mqtt::MqttState::default();
        self.async_tcp_rem = tasks::async_tcp_margin(&self.placement, &mut self.rng);

        self.log(0, Some("System Boot"), "Starting...", None);
        let version = format!("Firmware: v{}", self.firmware_version());
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
        self.screen = Some("macro1".to_owned());
        self.wake_for_activity();
        self.log(0, Some("Display"), "Switched to macro1", None);
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
        let running = super::web_handlers::running_config_bytes(&self.macros);
        self.macros_block = self.persist(self.placement.json, running);
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
    pub(super) fn screen_objects(&mut self, widgets: u32) -> Vec<Alloc> {
        let region = self.placement.lvgl;
        let widgets = self.jitter(widgets, 10);
        [self.persist(region, widgets), self.persist(region, 2_048)]
            .into_iter()
            .flatten()
            .collect()
    }
}
