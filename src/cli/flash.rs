//! `heaplab flash --device NAME [--bin PATH | --pio-env ENV]`: an OTA
//! update over the device's `POST /api/update`, checked before and after.
//!
//! Before: the image is parsed with the same rules the device applies
//! (`protocol::app_image`), and the ELF found beside it must be the one
//! the image was built from (its SHA-256 is in `esp_app_desc_t`), so a
//! wrong file fails here, not on the device. During: a multipart upload
//! with a progress bar on stderr. After: the reboot and the new version
//! on the serial port (or `/api/info` when the device has no serial), then
//! the build is recorded for the device and the ELF stored under its
//! version, so the next crash decodes without an upload step.
//!
//! With `--port PATH` the image goes over USB through the ROM serial
//! loader instead (`flash_usb`), checked and recorded by the same code.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_serial::SerialPortBuilderExt;

use super::CliError;
use crate::config::Settings;
use crate::protocol::app_image::{hex, AppDescription, AppImage, CHIP_ID_ESP32S3};
use crate::protocol::{parse_line, LineKind};
use crate::store::{normalize_version, DeviceRecord, NewFirmwareBuild, Store};

/// Upload chunk: the progress bar moves per chunk.
const CHUNK_BYTES: usize = 16 * 1024;
/// How often `/api/info` is asked for the version without a serial port.
const INFO_POLL: Duration = Duration::from_millis(500);

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
    #[arg(long, value_name = "PATH")]
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
}

/// What a successful flash did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashOutcome {
    pub device: String,
    pub version: String,
    pub elf_sha256: String,
    pub elf_attached: bool,
    pub build_id: i64,
    /// `serial` or `/api/info`.
    pub confirmed_by: &'static str,
}

pub(super) fn failed(message: impl Into<String>) -> CliError {
    CliError::Failed(message.into())
}

/// The image and ELF paths the flags name.
fn paths(args: &FlashArgs) -> (PathBuf, Option<PathBuf>) {
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

/// An image that passed the device's checks, with its ELF (if any).
pub(super) struct CheckedImage {
    pub bin_path: PathBuf,
    pub image: Vec<u8>,
    pub desc: AppDescription,
    /// What the new boot prints (`--expect-version` or the image's).
    pub version: String,
    pub elf: Option<Vec<u8>>,
}

/// Reads and checks the image and its ELF before anything is written.
pub(super) fn check_image(args: &FlashArgs) -> Result<CheckedImage, CliError> {
    let (bin_path, elf_path) = paths(args);
    let image = std::fs::read(&bin_path)
        .map_err(|e| failed(format!("reading {}: {e}", bin_path.display())))?;
    let parsed = AppImage::parse(&image)
        .and_then(|i| i.check_chip(CHIP_ID_ESP32S3).map(|()| i))
        .map_err(|e| failed(format!("{}: {e}; nothing was uploaded", bin_path.display())))?;
    let desc = parsed.desc;
    let version = normalize_version(args.expect_version.as_deref().unwrap_or(&desc.version));
    let elf = match &elf_path {
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| failed(format!("reading {}: {e}", path.display())))?;
            let sha = hex(&Sha256::digest(&bytes));
            if sha != desc.elf_sha256_hex() {
                return Err(failed(format!(
                    "{} is not the ELF this image was built from (SHA-256 {sha}, the image names {}); nothing was uploaded",
                    path.display(),
                    desc.elf_sha256_hex()
                )));
            }
            Some(bytes)
        }
        None => {
            eprintln!(
                "warning: no firmware.elf beside {}: crashes of v{version} will not decode until its ELF is uploaded",
                bin_path.display()
            );
            None
        }
    };
    Ok(CheckedImage {
        bin_path,
        image,
        desc,
        version,
        elf,
    })
}

/// Stores the ELF under the version and records the build for the device.
pub(super) async fn record_build(
    store: &Store,
    device_id: i64,
    checked: &CheckedImage,
) -> Result<i64, CliError> {
    if let Some(elf) = &checked.elf {
        store.put_firmware_elf(&checked.version, elf).await?;
    }
    let desc = &checked.desc;
    Ok(store
        .record_firmware_build(&NewFirmwareBuild {
            device_id,
            version: checked.version.clone(),
            project_name: desc.project_name.clone(),
            elf_sha256: desc.elf_sha256_hex(),
            image_sha256: hex(&Sha256::digest(&checked.image)),
            image_size: checked.image.len() as i64,
            elf_attached: checked.elf.is_some(),
        })
        .await?)
}

pub async fn run(args: FlashArgs, settings: &Settings) -> Result<FlashOutcome, CliError> {
    let name = args.device.as_deref().ok_or_else(|| {
        failed("--device NAME is needed for an OTA update (or --port PATH for USB)")
    })?;
    let checked = check_image(&args)?;
    let CheckedImage {
        bin_path,
        image,
        desc,
        version,
        elf,
    } = &checked;
    let version = version.clone();

    let store = Store::open(&settings.db).await?;
    let device = resolve_device(&store, settings, name).await?;
    let url = device
        .url
        .clone()
        .ok_or_else(|| failed(format!("device {:?} has no url to upload to", device.name)))?;
    eprintln!(
        "flashing {} v{version} ({}, {} B, ELF {}) to {} at {url}",
        desc.project_name,
        bin_path.display(),
        image.len(),
        &desc.elf_sha256_hex()[..16],
        device.name
    );

    // Listen before uploading: the new boot's lines come right after.
    let serial =
        device
            .serial_path
            .as_deref()
            .and_then(|path| match open_serial(path, device.baud) {
                Ok(rx) => Some(rx),
                Err(e) => {
                    eprintln!("warning: serial {path}: {e}; waiting on /api/info instead");
                    None
                }
            });
    upload(&url, device.auth.as_deref(), image).await?;

    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let confirmed_by = match serial {
        Some(rx) => {
            wait_version_on_serial(rx, &version, deadline).await?;
            "serial"
        }
        None => {
            wait_version_on_info(&url, device.auth.as_deref(), &version, deadline).await?;
            "/api/info"
        }
    };

    let build_id = record_build(&store, device.id, &checked).await?;
    Ok(FlashOutcome {
        device: device.name,
        version,
        elf_sha256: desc.elf_sha256_hex(),
        elf_attached: elf.is_some(),
        build_id,
        confirmed_by,
    })
}

/// Lines from the device's serial port, read in the background.
fn open_serial(
    path: &str,
    baud: i64,
) -> Result<mpsc::UnboundedReceiver<String>, tokio_serial::Error> {
    let mut port =
        tokio_serial::new(path, u32::try_from(baud).unwrap_or(115_200)).open_native_async()?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut pending = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            match port.read(&mut chunk).await {
                Ok(n) if n > 0 => pending.extend_from_slice(&chunk[..n]),
                _ => return,
            }
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if tx
                    .send(String::from_utf8_lossy(&line).trim_end().to_owned())
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    Ok(rx)
}

/// The multipart body around the image (`file`, `firmware.bin`).
fn multipart_parts() -> (Vec<u8>, Vec<u8>, String) {
    let boundary = "----heaplab-flash-5c1e9a7d";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"firmware.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    (
        head.into_bytes(),
        tail.into_bytes(),
        format!("multipart/form-data; boundary={boundary}"),
    )
}

/// Uploads with a progress bar. A reply lost to the reboot is fine; a
/// refusal (4xx/5xx with the device's message) is an error.
async fn upload(url: &str, auth: Option<&str>, image: &[u8]) -> Result<(), CliError> {
    let (head, tail, content_type) = multipart_parts();
    let total = head.len() + image.len() + tail.len();
    let mut chunks: Vec<Vec<u8>> = vec![head];
    chunks.extend(image.chunks(CHUNK_BYTES).map(<[u8]>::to_vec));
    chunks.push(tail);
    let mut bar = ProgressBar::new(total);
    let stream = futures_util::stream::iter(chunks).map(move |chunk| {
        bar.advance(chunk.len());
        Ok::<_, std::io::Error>(chunk)
    });
    let client = reqwest::Client::new();
    let mut request = client
        .post(format!("{}/api/update", url.trim_end_matches('/')))
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .header(reqwest::header::CONTENT_LENGTH, total)
        .body(reqwest::Body::wrap_stream(stream));
    if let Some((user, pass)) = auth.and_then(|a| a.split_once(':')) {
        request = request.basic_auth(user, Some(pass));
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or(body);
            Err(failed(format!(
                "the device refused the image: {status} {message}"
            )))
        }
        Err(e) if e.is_connect() => Err(failed(format!("cannot reach {url}: {e}"))),
        // The device may reset before its reply leaves: go on and look
        // for the new version.
        Err(e) if e.is_request() || e.is_body() => {
            eprintln!("note: no reply to the upload ({e}); the device may be rebooting");
            Ok(())
        }
        Err(e) => Err(failed(format!("uploading to {url}: {e}"))),
    }
}

/// Waits for a boot marker and then `Firmware: v<version>`. Lines read
/// before the upload ended (an old boot log waiting in the port) are
/// dropped; a boot into another version is reported if the right one
/// never comes (a rollback).
async fn wait_version_on_serial(
    mut rx: mpsc::UnboundedReceiver<String>,
    version: &str,
    deadline: Instant,
) -> Result<(), CliError> {
    while rx.try_recv().is_ok() {}
    wait_boot_into(rx, version, deadline).await
}

/// Waits for a boot marker and then `Firmware: v<version>` among lines
/// that all came after the flash.
pub(super) async fn wait_boot_into(
    mut rx: mpsc::UnboundedReceiver<String>,
    version: &str,
    deadline: Instant,
) -> Result<(), CliError> {
    let want = normalize_version(version);
    let mut rebooted = false;
    let mut other: Option<String> = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => {
                return Err(failed(
                    "the serial port closed before the new version was seen",
                ))
            }
            Err(_) => {
                return Err(failed(match other {
                    Some(seen) => {
                        format!("the device rebooted into v{seen}, not v{want} (rolled back?)")
                    }
                    None => format!("no boot into v{want} seen on serial in time"),
                }))
            }
        };
        match parse_line(line.as_bytes()).kind {
            LineKind::Boot(_) => rebooted = true,
            LineKind::Firmware { version } if rebooted => {
                let seen = normalize_version(&version);
                if seen == want {
                    eprintln!("device rebooted into v{seen}");
                    return Ok(());
                }
                other = Some(seen);
                rebooted = false;
            }
            _ => {}
        }
    }
}

async fn wait_version_on_info(
    url: &str,
    auth: Option<&str>,
    version: &str,
    deadline: Instant,
) -> Result<(), CliError> {
    let want = normalize_version(version);
    let client = reqwest::Client::new();
    loop {
        let mut request = client
            .get(format!("{}/api/info", url.trim_end_matches('/')))
            .timeout(Duration::from_secs(2));
        if let Some((user, pass)) = auth.and_then(|a| a.split_once(':')) {
            request = request.basic_auth(user, Some(pass));
        }
        if let Ok(response) = request.send().await {
            if let Ok(info) = response.json::<serde_json::Value>().await {
                if info["version"].as_str().map(normalize_version).as_deref() == Some(want.as_str())
                {
                    eprintln!("device reports v{want}");
                    return Ok(());
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(failed(format!("the device did not report v{want} in time")));
        }
        tokio::time::sleep(INFO_POLL).await;
    }
}

/// Upload progress on stderr: a bar redrawn in place on a terminal, a
/// line per 10 % otherwise (logs, CI).
pub(super) struct ProgressBar {
    total: usize,
    done: usize,
    tty: bool,
    last_step: usize,
}

impl ProgressBar {
    pub(super) fn new(total: usize) -> Self {
        ProgressBar {
            total: total.max(1),
            done: 0,
            tty: std::io::stderr().is_terminal(),
            last_step: 0,
        }
    }

    pub(super) fn advance(&mut self, n: usize) {
        self.done = (self.done + n).min(self.total);
        let pct = self.done * 100 / self.total;
        let mut err = std::io::stderr().lock();
        if self.tty {
            let filled = pct * 30 / 100;
            let _ = write!(
                err,
                "\r  uploading [{}{}] {pct:3}% {}/{} KiB",
                "#".repeat(filled),
                "-".repeat(30 - filled),
                self.done / 1024,
                self.total / 1024
            );
            if self.done == self.total {
                let _ = writeln!(err);
            }
        } else if pct / 10 * 10 > self.last_step {
            self.last_step = pct / 10 * 10;
            let _ = writeln!(
                err,
                "  uploading: {pct}% ({} of {} B)",
                self.done, self.total
            );
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
        };
        let (bin, elf) = paths(&args);
        assert_eq!(bin, Path::new("fw/.pio/build/esp32-s3/firmware.bin"));
        assert_eq!(elf, None, "no ELF on disk here");
    }
}
