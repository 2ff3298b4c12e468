//! Firmware profiles: which build of the firmware the twin pretends to run.
//! Each one demonstrates something heaplab must catch (or must not flag).

use std::fmt;

/// Where a subsystem's big buffers live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// Internal RAM (`MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT`).
    Internal,
    /// External PSRAM (`MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT`).
    Psram,
}

impl Region {
    /// The `caps` an allocation in this region asks `heap_caps_malloc` for.
    pub fn caps(self) -> u32 {
        match self {
            Region::Internal => 0x804,
            Region::Psram => 0x404,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Profile {
    /// The plan's "before": BLE, LVGL buffers, web assets and JSON docs in
    /// internal RAM. The first portal page load trips the tripwire at
    /// `http_root` (hin ≈ 20 KB); steady-state fragmentation ≈ 35–45 %.
    Baseline,
    /// The plan's fixes: big buffers, JSON and LVGL in PSRAM, BLE host in
    /// PSRAM. hin stays above 100 KB, steady fragmentation below 40 %:
    /// passes the acceptance criteria.
    Tuned,
    /// `tuned` plus an internal leak of `leak_bytes` per heartbeat.
    Leak,
    /// Baseline-like, and `POST /api/icons/gc` overflows the async_tcp stack:
    /// Guru Meditation, backtrace, reboot.
    Crash,
    /// `tuned` over a bad cable and a busy Wi-Fi: garbage bytes, split
    /// lines, serial hang-ups, slow or failing HTTP.
    Flaky,
}

/// The placement decisions a profile stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// NimBLE host pools (the plan's "40–80 KB internal").
    pub ble: Region,
    /// LVGL draw buffers and the panel swap buffer.
    pub display: Region,
    /// Screen widgets, image decode and mask caches.
    pub lvgl: Region,
    /// ArduinoJson documents (macros, MQTT discovery).
    pub json: Region,
    /// Per-request response/template buffers in the web server.
    pub web: Region,
    /// A RAM copy of the embedded web assets (none when they stay in flash).
    pub assets_in_ram: bool,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Baseline => "baseline",
            Profile::Tuned => "tuned",
            Profile::Leak => "leak",
            Profile::Crash => "crash",
            Profile::Flaky => "flaky",
        }
    }

    /// What `  Firmware: v…` prints.
    pub fn firmware_version(self) -> &'static str {
        match self {
            Profile::Baseline => "1.5.0-baseline",
            Profile::Tuned => "1.5.1-tuned",
            Profile::Leak => "1.5.1-leak",
            Profile::Crash => "1.5.0-crash",
            Profile::Flaky => "1.5.1-flaky",
        }
    }

    pub fn placement(self) -> Placement {
        match self {
            Profile::Baseline | Profile::Crash => Placement {
                ble: Region::Internal,
                display: Region::Internal,
                lvgl: Region::Internal,
                json: Region::Internal,
                web: Region::Internal,
                assets_in_ram: true,
            },
            Profile::Tuned | Profile::Leak | Profile::Flaky => Placement {
                ble: Region::Psram,
                display: Region::Psram,
                lvgl: Region::Psram,
                json: Region::Psram,
                web: Region::Psram,
                assets_in_ram: false,
            },
        }
    }

    /// Whether every heartbeat leaks internal memory.
    pub fn leaks(self) -> bool {
        self == Profile::Leak
    }

    /// Whether `POST /api/icons/gc` crashes the device.
    pub fn crashes_on_icon_gc(self) -> bool {
        self == Profile::Crash
    }

    /// Whether the serial link and HTTP misbehave.
    pub fn flaky(self) -> bool {
        self == Profile::Flaky
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
