//! What the device does when its web server is hit: each handler
//! allocates and frees like the firmware's (request objects, lwIP buffers,
//! JSON documents, screen objects), which is where its heap fragments.

use super::{Device, DeviceFault, GcOutcome};
use crate::sim::ffi::{self, HealthFields};
use crate::sim::icons::{self, IconError};
use crate::sim::macros::{MacroConfig, MacroError};
use crate::sim::profile::Region;
use crate::sim::rom::{self, ResetKind};

impl Device {
    // ---- HTTP handlers ----------------------------------------------------

    /// `GET /api/health`: every value through `ht_health_json`; the window
    /// is taken (and reset) by this call.
    pub fn health_json(&mut self) -> String {
        let window = self.window.take();
        ffi::health_json(&self.health_fields(window))
    }

    /// Every `/api/health` value but the window, which only `GET
    /// /api/health` takes (MQTT's health state leaves it null).
    pub(super) fn health_fields(&mut self, window: Option<ffi::WindowStats>) -> HealthFields {
        let s = self.snapshot();
        let uptime_ms = self.uptime_ms();
        let rssi = -(i64::from(self.rng.range_u32(52, 64)));
        let cpu_usage = f64::from(self.rng.range_u32(800, 2400)) / 100.0;
        let temp = 38.0 + f64::from(self.rng.range_u32(0, 400)) / 100.0;
        let mqtt_age = self
            .mqtt
            .last_publish
            .map(|t| t.elapsed().as_millis() as i64);
        let mqtt_enabled = !self.config.mqtt_host.is_empty();
        HealthFields {
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
            fs_used_bytes: Some(
                4096 + self
                    .installed_icons
                    .iter()
                    .map(|(_, b)| i64::from(*b))
                    .sum::<i64>(),
            ),
            fs_total_bytes: Some(1_441_792),
            mqtt_enabled: Some(mqtt_enabled),
            mqtt_publish_enabled: Some(mqtt_enabled && self.config.mqtt_interval_seconds > 0),
            mqtt_connected: Some(self.mqtt.connection.is_some()),
            mqtt_last_health_publish_ms: self
                .mqtt
                .last_publish
                .map(|_| uptime_ms as i64 - mqtt_age.unwrap_or(0)),
            mqtt_health_publish_age_ms: mqtt_age,
            display_fps: Some(30.0),
            display_lv_timer_us: Some(i64::from(self.rng.range_u32(3800, 4600))),
            display_present_us: Some(i64::from(self.rng.range_u32(9000, 11000))),
            wifi_rssi: Some(rssi),
            wifi_channel: Some(6),
            ip_address: Some(self.settings.ip.clone()),
            hostname: Some(self.config.device_name_sanitized()),
            ..Default::default()
        }
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

    /// `POST /api/macros`: the body buffered (PSRAM first), parsed into a
    /// document, checked, saved to FFat and applied. Tags and serial lines
    /// as on the device; a check that fails after parsing leaves only
    /// `begin` and `parsed`.
    pub fn save_macros(&mut self, body: &[u8]) -> Result<(), MacroSaveError> {
        self.emit_snapshot("http_macros_post_begin", 0);
        let len = body.len() as u32;
        let json = self.placement.json;
        let Some(body_buf) = self.alloc_prefer(Region::Psram, Region::Internal, len + 1) else {
            return Err(MacroSaveError::OutOfMemory);
        };
        // ArduinoJson 7 on a 32-bit target: 8-byte slots per value plus
        // the strings it copies, about half the minified body.
        let doc = self.alloc(json, len / 2 + 2_048);
        let parsed = MacroConfig::parse(body);
        if let Err(e) = &parsed {
            if !e.after_parse() {
                self.log(0, Some("Macros"), "JSON parse error: InvalidInput", None);
                self.emit_snapshot("http_macros_post_parse_fail", 0);
            }
        }
        if doc.is_some()
            && parsed
                .as_ref()
                .map_or_else(MacroError::after_parse, |_| true)
        {
            self.emit_snapshot("http_macros_post_parsed", 0);
        }
        let result = match (doc, parsed) {
            (None, _) => Err(MacroSaveError::TooLarge),
            (_, Err(e)) => Err(MacroSaveError::Invalid(e)),
            (Some(_), Ok(config)) => self.store_macros(config),
        };
        self.release_all([doc, Some(body_buf)].into_iter().flatten().collect());
        result
    }

    /// The FFat write (`/macros.tmp`, rename) and the running UI swap.
    fn store_macros(&mut self, config: MacroConfig) -> Result<(), MacroSaveError> {
        let started = self.uptime_ms();
        self.log(0, Some("Macros Save"), "Starting...", None);
        let nvs_size = match self.placement.json {
            Region::Internal => 4_096,
            Region::Psram => 1_024,
        };
        let write_buf = self.alloc(Region::Internal, nvs_size);
        if let Some(old) = self.macros_block.take() {
            self.release(old);
        }
        let running = running_config_bytes(&config);
        self.macros_block = self.persist(self.placement.json, running);
        let ok = write_buf.is_some() && self.macros_block.is_some();
        if let Some(a) = write_buf {
            self.release(a);
        }
        if !ok {
            self.emit_snapshot("http_macros_post_save_fail", 0);
            return Err(MacroSaveError::SaveFailed);
        }
        let took = self.uptime_ms() - started;
        self.log(0, None, "OK (FFat)", Some(took));
        self.emit_snapshot("http_macros_post_saved", 0);
        self.macros = config;
        self.emit_snapshot("http_macros_post_applied", 0);
        Ok(())
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
        self.drop_image_cover();
        self.screen = Some(screen.to_owned());
        self.log(0, Some("Display"), &format!("Switched to {screen}"), None);
        self.emit_snapshot(&format!("lvgl_switch_post_{screen}"), 0);
    }

    /// `POST /api/icons/gc`: deletes installed `emoji_*`/`user_*` icons no
    /// button of the running config uses. The crash profile still has the
    /// big on-stack keep-set: async_tcp overflows.
    pub fn icons_gc(&mut self) -> GcOutcome {
        if self.settings.profile.crashes_on_icon_gc() {
            let elf = self
                .app
                .as_ref()
                .map_or(rom::PROFILE_ELF_SHA256_PREFIX, |a| a.elf_sha256.as_str())
                .to_owned();
            for line in rom::stack_overflow_panic(&elf) {
                self.raw_line(line);
            }
            self.boot(ResetKind::Panic);
            return GcOutcome::Crashed;
        }
        let used = self.macros.installed_icons_in_use();
        let scratch = self.alloc(self.placement.json, 3_072);
        let (mut deleted, mut bytes_freed) = (0, 0);
        self.installed_icons.retain(|(id, bytes)| {
            let keep = !icons::collectable(id) || used.iter().any(|u| u == id);
            if !keep {
                deleted += 1;
                bytes_freed += u64::from(*bytes);
            }
            keep
        });
        if let Some(a) = scratch {
            self.release(a);
        }
        self.emit_snapshot("http_icons_gc", 0);
        GcOutcome::Collected {
            deleted,
            bytes_freed,
        }
    }

    /// `POST /api/icons/install?id=`: the blob buffered (PSRAM first),
    /// checked, written to `/icons/<id>.bin`.
    pub fn install_icon(&mut self, id: &str, blob: &[u8]) -> Result<(), InstallError> {
        let size = blob.len() as u32;
        let Some(buffer) = self.alloc_prefer(Region::Psram, Region::Internal, size.max(1)) else {
            return Err(InstallError::OutOfMemory);
        };
        let checked = icons::check_blob(blob);
        self.release(buffer);
        checked.map_err(InstallError::Invalid)?;
        match self.installed_icons.iter_mut().find(|(i, _)| i == id) {
            Some(entry) => entry.1 = size,
            None => self.installed_icons.push((id.to_owned(), size)),
        }
        self.log(
            0,
            Some("Icons"),
            &format!("Installed {id} ({size} bytes)"),
            Some(0),
        );
        Ok(())
    }
}

/// The running UI config: a small header plus what each configured
/// button sets (empty buttons cost nothing).
pub(super) fn running_config_bytes(config: &MacroConfig) -> u32 {
    512 + 64 * config.configured_buttons() as u32
}

/// Why `POST /api/macros` failed after the request was taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacroSaveError {
    /// 400 with the check's message.
    #[error("{0}")]
    Invalid(MacroError),
    /// 500: the body buffer could not be allocated.
    #[error("Out of memory")]
    OutOfMemory,
    /// 413: the document could not be allocated while parsing.
    #[error("JSON body too large")]
    TooLarge,
    /// 500: the FFat write failed.
    #[error("Failed to save")]
    SaveFailed,
}

/// Why `POST /api/icons/install` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    #[error("{0}")]
    Invalid(IconError),
    #[error("Out of memory")]
    OutOfMemory,
}
