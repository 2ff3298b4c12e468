//! What the device does when its web server is hit: each handler
//! allocates and frees like the firmware's (request objects, lwIP buffers,
//! JSON documents, screen objects), which is where its heap fragments.

use super::{Device, DeviceFault, GcOutcome};
use crate::sim::ffi::{self, HealthFields};
use crate::sim::profile::Region;
use crate::sim::rom::{self, ResetKind};

impl Device {
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
}
