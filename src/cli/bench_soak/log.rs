//! The week-long serial logs the soak benchmark imports: one board at 1 Hz
//! with the mix a real soak produces (heartbeats, lifecycle snapshots with
//! tripwires and task dumps, a reboot about once a "day", two crashes, log
//! chatter).
//!
//! A bare serial log carries no host time: `heaplab import` stamps every
//! line of one with the same instant (the file's start), so its chart would
//! have no time axis to zoom into. Each log is therefore written as a
//! harness run folder, `<YYYYmmdd_HHMMSS>_<scenario>/serial.log` plus a
//! `mem.jsonl` that lends every snapshot its host timestamp — the harness's
//! own format, read by the normal import path. The `mem.jsonl` rows hold
//! only what the importer matches on (`ts`, `tag`, `hin`).
//!
//! The mix is the same at every size (reboots, dumps and chatter scale with
//! the number of snapshots), so the big ÷ small ratios measure size alone.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Snapshots between two task dumps: ~100 k `[Task]` lines per 600 k
/// snapshots, as a busy firmware's `http_root` handler produces.
const DUMP_EVERY: u64 = 84;
/// Tasks per dump (the firmware's task count).
const TASKS: [&str; 14] = [
    "ipc0",
    "ipc1",
    "async_tcp",
    "loopTask",
    "wifi",
    "tiT",
    "esp_timer",
    "sys_evt",
    "mqtt_task",
    "lvgl",
    "IDLE0",
    "IDLE1",
    "Tmr Svc",
    "arduino_events",
];
/// Reboots per log (about one a day over a week).
const REBOOTS: u64 = 7;
/// Chatter lines per snapshot, in 1/1000: ~1 M lines per 600 k snapshots.
const CHATTER_PER_MILLE: u64 = 490;
/// 2026-01-05T00:00:00Z, the start of every generated run (fixed so a
/// reused directory holds the same runs).
const START_US: i64 = 1_767_571_200_000_000;

/// One generated log: a harness run folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoakLog {
    /// The run folder (`serial.log` + `mem.jsonl`).
    pub folder: PathBuf,
    /// Lines in `serial.log`.
    pub lines: u64,
    pub snapshots: u64,
    /// Host time of the first and last snapshot.
    pub first_us: i64,
    pub last_us: i64,
}

impl SoakLog {
    pub fn serial_log(&self) -> PathBuf {
        self.folder.join("serial.log")
    }
}

/// A small deterministic PRNG (splitmix64): the same seed writes the same
/// bytes, a different seed different content (imports de-duplicate equal
/// content).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn signed(&mut self, spread: i64) -> i64 {
        self.below(2 * spread as u64 + 1) as i64 - spread
    }
}

/// The heap as the firmware reports it; minima reset at boot.
struct Heap {
    hin: i64,
    hm: i64,
    pm: i64,
    since_boot: i64,
}

impl Heap {
    fn at_boot() -> Self {
        Heap {
            hin: i64::MAX,
            hm: i64::MAX,
            pm: i64::MAX,
            since_boot: 0,
        }
    }
}

/// One snapshot's figures that the tripwire line after it repeats.
struct Reported {
    hf: i64,
    hl: i64,
    frag: i64,
    pf: i64,
}

/// The run folder's two files while they are written, with the PRNG and the
/// line count. Every random draw goes through `rng` in the order the parts
/// are called, so the same seed keeps writing the same bytes.
struct Writer {
    serial: BufWriter<std::fs::File>,
    mem: BufWriter<std::fs::File>,
    rng: Rng,
    /// Lines written to `serial.log` so far.
    lines: u64,
}

/// Writes `<dir>/<YYYYmmdd_HHMMSS>_<name>/` with `snapshots` snapshots.
pub fn write(dir: &Path, name: &str, snapshots: u64, seed: u64) -> std::io::Result<SoakLog> {
    let stamp = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(START_US)
        .map(|t| t.format("%Y%m%d_%H%M%S").to_string())
        .unwrap_or_else(|| "20260105_000000".into());
    let folder = dir.join(format!("{stamp}_{name}"));
    std::fs::create_dir_all(&folder)?;
    let mut w = Writer::create(&folder, seed)?;
    let reboot_every = (snapshots / REBOOTS).max(1);
    let crash_at = [2 * reboot_every, 5 * reboot_every];
    let mut heap = Heap::at_boot();
    let mut t_s = 0i64;
    let mut dumps = 0u64;
    let mut last_us = START_US;
    for s in 0..snapshots {
        if s % reboot_every == 0 {
            if s > 0 && crash_at.contains(&s) {
                w.crash()?;
            }
            if s > 0 {
                t_s += 4; // a reboot takes a few seconds
            }
            w.boot_banner()?;
            heap = Heap::at_boot();
        }
        let lifecycle = s % DUMP_EVERY == DUMP_EVERY - 1;
        let (ts_us, reported) = w.snapshot(&mut heap, t_s, lifecycle)?;
        last_us = ts_us;
        if lifecycle {
            dumps += 1;
            if dumps % 50 == 0 {
                w.tripwire(&reported)?;
            }
            w.task_dump()?;
        }
        w.chatter()?;
        t_s += 1;
    }
    w.serial.flush()?;
    w.mem.flush()?;
    Ok(SoakLog {
        folder,
        lines: w.lines,
        snapshots,
        first_us: START_US,
        last_us,
    })
}

impl Writer {
    fn create(folder: &Path, seed: u64) -> std::io::Result<Self> {
        let serial =
            BufWriter::with_capacity(1 << 20, std::fs::File::create(folder.join("serial.log"))?);
        let mem =
            BufWriter::with_capacity(1 << 20, std::fs::File::create(folder.join("mem.jsonl"))?);
        Ok(Writer {
            serial,
            mem,
            rng: Rng(seed),
            lines: 0,
        })
    }

    /// One `serial.log` line with the board's CRLF.
    fn line(&mut self, text: &str) -> std::io::Result<()> {
        self.lines += 1;
        self.serial.write_all(text.as_bytes())?;
        self.serial.write_all(b"\r\n")
    }

    /// The panic and backtrace before a reboot that is a crash.
    fn crash(&mut self) -> std::io::Result<()> {
        self.line(
            "Guru Meditation Error: Core  1 panic'ed (LoadProhibited). Exception was unhandled.",
        )?;
        self.line("Backtrace: 0x4200a1b2:0x3fcebf10 0x4200c3d4:0x3fcebf30 0x4037ff12:0x3fcebf50")
    }

    /// The ROM and firmware lines of every boot.
    fn boot_banner(&mut self) -> std::io::Result<()> {
        for text in [
            "ESP-ROM:esp32s3-20210327",
            "rst:0xc (RTC_SW_CPU_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)",
            "[System Boot] Starting...",
            "  Firmware: v1.5.0",
            "[WiFi] Got IP: 192.168.1.112 (0ms)",
            "[Main] Setup complete (0ms)",
        ] {
            self.line(text)?;
        }
        Ok(())
    }

    /// The `[Mem]` line at `t_s` seconds and its `mem.jsonl` row; returns
    /// the row's host time and what a tripwire line would repeat.
    fn snapshot(
        &mut self,
        heap: &mut Heap,
        t_s: i64,
        lifecycle: bool,
    ) -> std::io::Result<(i64, Reported)> {
        let rng = &mut self.rng;
        let tag = if lifecycle { "http_root" } else { "hb" };
        // Internal free: a slow daily swing, a small leak since boot, noise,
        // and a dip while a page is served.
        let day = (t_s % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU;
        let mut hi =
            140_000 + (6_000.0 * day.sin()) as i64 - heap.since_boot / 200 + rng.signed(3_000);
        if lifecycle {
            hi -= 24_000 + rng.signed(4_000);
        }
        let hi = hi.max(12_000) & !3;
        let hl = (hi * (45 + rng.below(20) as i64) / 100) & !3;
        let frag = (100 - hl * 100 / hi).clamp(0, 100);
        let hf = hi + 2_048 + rng.signed(256);
        let pf = 8_200_000 - rng.below(60_000) as i64;
        heap.hin = heap.hin.min(hi);
        heap.hm = heap.hm.min(hf);
        heap.pm = heap.pm.min(pf);
        heap.since_boot += 1;
        self.line(&format!(
            "[Mem] {tag} hf={hf} hm={} hl={hl} hi={hi} hin={} frag={frag} pf={pf} pm={} pl={} (0ms)",
            heap.hm,
            heap.hin,
            heap.pm,
            pf - 120_000
        ))?;
        let ts_us = START_US + t_s * 1_000_000;
        writeln!(
            self.mem,
            "{{\"ts\":{}.0,\"tag\":\"{tag}\",\"hin\":{}}}",
            ts_us / 1_000_000,
            heap.hin
        )?;
        Ok((ts_us, Reported { hf, hl, frag, pf }))
    }

    /// A tripwire line after a lifecycle snapshot (every 50th dump).
    fn tripwire(&mut self, r: &Reported) -> std::io::Result<()> {
        let hin = 21_532 + self.rng.signed(2_000);
        self.line(&format!(
            "[Mem] TRIPWIRE fired tag=http_root hin={hin}B < 30720B (hf={}B hl={}B frag={}% pf={}B pl={}B)",
            r.hf,
            r.hl,
            r.frag,
            r.pf,
            r.pf - 120_000
        ))
    }

    /// The task dump after a lifecycle snapshot: a header and one line per task.
    fn task_dump(&mut self) -> std::io::Result<()> {
        self.line(&format!(
            "[Mem] Task dump ({} tasks, sorted by stack margin) tag=http_root",
            TASKS.len()
        ))?;
        for (i, task) in TASKS.iter().enumerate() {
            let core = if i % 3 == 2 { -1 } else { (i % 2) as i64 };
            let stack_rem = 76 + 180 * i as u64 + self.rng.below(64);
            self.line(&format!(
                "[Task] name={task} prio={} core={core} stack_rem={stack_rem}B",
                24 - i.min(24),
            ))?;
        }
        Ok(())
    }

    /// Sometimes (CHATTER_PER_MILLE) one line of the firmware's log chatter.
    fn chatter(&mut self) -> std::io::Result<()> {
        let rng = &mut self.rng;
        if rng.below(1000) < CHATTER_PER_MILLE {
            let text = match rng.below(5) {
                0 => format!("  [Portal] GET /api/health 200 ({}ms)", 5 + rng.below(40)),
                1 => format!("[WiFi] RSSI {} dBm", -50 - rng.below(30) as i64),
                2 => format!(
                    "[LVGL] flush area 480x{} took {} us",
                    8 * (1 + rng.below(40)),
                    200 + rng.below(900)
                ),
                3 => format!("[MQTT] publish health {} B (3ms)", 380 + rng.below(90)),
                _ => format!("  [Portal] GET / 200 ({}ms)", 20 + rng.below(60)),
            };
            self.line(&text)?;
        }
        Ok(())
    }
}
