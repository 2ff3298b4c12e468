//! `heaplab flash --device NAME [--bin PATH | --pio-env ENV] [--server URL]`:
//! an OTA update over the device's `POST /api/update`, checked before and
//! after (the checks, upload, wait and recording are `crate::flash`).
//!
//! Locally (no `--server`), this machine uploads to the device's URL and
//! reads its serial port for the reboot, and records the build in the
//! database here. With `--server` the same files go to the central
//! server's `POST /api/v1/devices/{id}/flash` (`flash_remote.rs`), which
//! does the same for a device of its own or one plugged into an agent.
//!
//! With `--port PATH` the image goes over USB through the ROM serial
//! loader instead (`flash_usb.rs`), checked and recorded by the same code.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::CliError;
use crate::config::Settings;
use crate::flash::{FileBytes, Firmware, FlashOutcome, LineFeed, Progress, Target, Watch};
use crate::store::{DeviceRecord, Store};

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("image").required(true).args(["bin", "pio_env"])))]
pub struct FlashArgs {
    /// The device (from the config file or the database). Optional with
    /// --port: the build is then recorded for the device whose serial port
    /// that is, if one is known.
    #[arg(long, required_unless_present = "port")]
    pub device: Option<String>,
    /// First flash over USB: write the image through the ESP32-S3 ROM
    /// serial loader on this port (e.g. /dev/ttyACM0) at the app offset
    /// 0x10000 (the default partition table's first app slot), instead of
    /// an OTA update over HTTP. The board must be in download mode: hold
    /// BOOT and press RESET, unless the port's DTR/RTS lines reset it
    /// (--before).
    #[arg(long, value_name = "PATH", conflicts_with = "server")]
    pub port: Option<PathBuf>,
    /// With --port: the baud rate to switch to after connecting at 115200.
    #[arg(long, value_name = "N", requires = "port")]
    pub baud: Option<u32>,
    /// With --port: how to get the chip into download mode. `auto` uses the
    /// DTR/RTS reset circuit when the port has modem lines, else assumes the
    /// board is already in download mode.
    #[arg(long, value_enum, default_value_t = super::flash_usb::Before::Auto, requires = "port")]
    pub before: super::flash_usb::Before,
    /// The app image to upload (`firmware.bin`); its ELF is looked for beside it.
    #[arg(long, value_name = "PATH")]
    pub bin: Option<PathBuf>,
    /// A PlatformIO environment: uses <firmware-dir>/.pio/build/ENV/firmware.bin and .elf.
    #[arg(long, value_name = "ENV")]
    pub pio_env: Option<String>,
    /// The ELF to attach (default: firmware.elf beside the image).
    #[arg(long, value_name = "PATH")]
    pub elf: Option<PathBuf>,
    /// The PlatformIO project folder for --pio-env.
    #[arg(long, default_value = "firmware")]
    pub firmware_dir: PathBuf,
    /// The version the new boot prints (`Firmware: v…`), when it is not the
    /// image's esp_app_desc_t version: Arduino builds link a prebuilt app
    /// description that carries the core's version, not the sketch's.
    #[arg(long, value_name = "VERSION")]
    pub expect_version: Option<String>,
    /// Seconds to wait for the device to come back with the new version.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Flash through this central server (`http(s)://host:port`) instead
    /// of from this machine: the server, or the agent the device is
    /// plugged into, carries it out and records it.
    #[arg(long, value_name = "URL")]
    pub server: Option<reqwest::Url>,
    /// A `write` token for --server (ignored without it, so the variable
    /// may stay set for local flashes).
    #[arg(long, env = "HEAPLAB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Extra CA certificates (PEM) to trust for an HTTPS --server.
    #[arg(long, value_name = "FILE", requires = "server")]
    pub ca_file: Option<PathBuf>,
}

pub(super) fn failed(message: impl Into<String>) -> CliError {
    CliError::Failed(message.into())
}

/// The image and ELF paths the flags name.
pub(super) fn paths(args: &FlashArgs) -> (PathBuf, Option<PathBuf>) {
    let bin = match (&args.bin, &args.pio_env) {
        (Some(bin), _) => bin.clone(),
        (None, Some(env)) => args
            .firmware_dir
            .join(".pio/build")
            .join(env)
            .join("firmware.bin"),
        (None, None) => PathBuf::from("firmware.bin"),
    };
    let elf = args.elf.clone().or_else(|| {
        let beside = bin.with_file_name("firmware.elf");
        beside.exists().then_some(beside)
    });
    (bin, elf)
}

/// A configured device is stored (so its builds can be recorded);
/// otherwise it must already be in the database.
pub(super) async fn resolve_device(
    store: &Store,
    settings: &Settings,
    name: &str,
) -> Result<DeviceRecord, CliError> {
    if let Some(spec) = settings.file.devices.iter().find(|d| d.name == name) {
        return Ok(store.upsert_device(spec).await?);
    }
    store.device_by_name(name).await?.ok_or_else(|| {
        failed(format!(
            "unknown device {name:?}: add it to the config file or with `heaplab serve`"
        ))
    })
}

/// Reads and checks the files the flags name; nothing is sent when they
/// do not pass.
pub(super) fn firmware(args: &FlashArgs) -> Result<Firmware, CliError> {
    let (bin_path, elf_path) = paths(args);
    let read = |path: &PathBuf| {
        std::fs::read(path)
            .map(|bytes| FileBytes {
                name: path.display().to_string(),
                bytes,
            })
            .map_err(|e| failed(format!("reading {}: {e}", path.display())))
    };
    let image = read(&bin_path)?;
    let elf = elf_path.as_ref().map(read).transpose()?;
    let firmware = Firmware::check(image, elf, args.expect_version.as_deref())?;
    if firmware.elf.is_none() {
        eprintln!(
            "warning: no firmware.elf beside {}: crashes of v{} will not decode until its ELF is uploaded",
            bin_path.display(),
            firmware.version
        );
    }
    eprintln!(
        "flashing {} v{} ({}, {} B, ELF {}) to {}",
        firmware.project_name,
        firmware.version,
        bin_path.display(),
        firmware.image.len(),
        &firmware.elf_sha256[..16],
        match (&args.device, &args.port) {
            (_, Some(port)) => format!(
                "{} through the ROM loader at 0x{:x}",
                port.display(),
                super::flash_usb::APP_OFFSET
            ),
            (Some(name), None) => name.clone(),
            (None, None) => String::new(),
        }
    );
    Ok(firmware)
}

pub async fn run(args: FlashArgs, settings: &Settings) -> Result<FlashOutcome, CliError> {
    let firmware = firmware(&args)?;
    if let Some(server) = &args.server {
        return super::flash_remote::run(&args, server, &firmware).await;
    }
    let store = Store::open(&settings.db).await?;
    let name = args.device.as_deref().ok_or_else(|| {
        failed("--device NAME is needed for an OTA update (or --port PATH for USB)")
    })?;
    let device = resolve_device(&store, settings, name).await?;
    if let Some(url) = &device.url {
        eprintln!("uploading to {url}");
    }
    // Listen before uploading: the new boot's lines come right after.
    let watch = match device.serial_path.as_deref() {
        None => Watch::Info,
        Some(path) => match LineFeed::open_port(path, device.baud) {
            Ok(lines) => Watch::Serial(lines),
            Err(e) => {
                eprintln!("warning: serial {path}: {e}; waiting on /api/info instead");
                Watch::Info
            }
        },
    };
    let client = crate::tls::client_builder().build()?;
    let target = Target {
        store: &store,
        device: &device,
        client: &client,
    };
    let timeout = Duration::from_secs(args.timeout);
    Ok(crate::flash::flash(target, &firmware, watch, timeout, ProgressBar::progress()).await?)
}

/// Upload progress on stderr: a bar redrawn in place on a terminal, a
/// line per 10 % otherwise (logs, CI).
pub(super) struct ProgressBar {
    tty: bool,
    last_step: usize,
}

impl ProgressBar {
    /// A bar fed by the upload's [`Progress`].
    pub(super) fn progress() -> Progress {
        let mut bar = ProgressBar::new();
        Progress::new(move |done, total| bar.show(done, total))
    }

    pub(super) fn new() -> ProgressBar {
        ProgressBar {
            tty: std::io::stderr().is_terminal(),
            last_step: 0,
        }
    }

    /// Draws `done` of `total` bytes.
    pub(super) fn show(&mut self, done: usize, total: usize) {
        let total = total.max(1);
        let done = done.min(total);
        let pct = done * 100 / total;
        let mut err = std::io::stderr().lock();
        if self.tty {
            let filled = pct * 30 / 100;
            let _ = write!(
                err,
                "\r  uploading [{}{}] {pct:3}% {}/{} KiB",
                "#".repeat(filled),
                "-".repeat(30 - filled),
                done / 1024,
                total / 1024
            );
            if done == total {
                let _ = writeln!(err);
            }
        } else if pct / 10 * 10 > self.last_step {
            self.last_step = pct / 10 * 10;
            let _ = writeln!(err, "  uploading: {pct}% ({done} of {total} B)");
        }
    }
}

/// Prints the outcome (stdout) for `main`.
pub fn print(outcome: &FlashOutcome) {
    println!(
        "flashed {} to v{} (ELF SHA-256 {}), confirmed on {}; build #{} recorded{}",
        outcome.device,
        outcome.version,
        outcome.elf_sha256,
        outcome.confirmed_by,
        outcome.build_id,
        if outcome.elf_attached {
            ", ELF attached for crash decoding"
        } else {
            ", no ELF attached"
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn pio_env_names_the_build_folder() {
        let args = FlashArgs {
            device: Some("d".into()),
            port: None,
            baud: None,
            before: super::super::flash_usb::Before::Auto,
            bin: None,
            pio_env: Some("esp32-s3".into()),
            elf: None,
            firmware_dir: Path::new("fw").to_owned(),
            expect_version: None,
            timeout: 1,
            server: None,
            token: None,
            ca_file: None,
        };
        let (bin, elf) = paths(&args);
        assert_eq!(bin, Path::new("fw/.pio/build/esp32-s3/firmware.bin"));
        assert_eq!(elf, None, "no ELF on disk here");
    }
}
