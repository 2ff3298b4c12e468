//! `heaplab flash --port PATH --bin firmware.bin`: the first flash over
//! USB, through the ESP32-S3 boot ROM's serial loader, with the `espflash`
//! crate as the client.
//!
//! The image and its ELF are checked first, exactly as for an OTA update
//! (`crate::flash::Firmware::check`), so a wrong file fails here and nothing is
//! written. espflash then connects (SYNC, chip detection; a chip that is
//! not an ESP32-S3 is refused), writes the image at the app offset
//! 0x10000 with FLASH_BEGIN/DATA/END, verifies it with SPI_FLASH_MD5 and
//! leaves the loader, which resets the chip. The new boot's version is
//! read from the same port, and the build is recorded like an OTA one.
//!
//! ROM only, no RAM stub: every command is one the ESP32-S3 ROM answers
//! itself, so the twin's model of the ROM (`sim::rom_loader`) is what
//! espflash talks to in the tests. On a board the stub would write faster
//! (compressed, bigger blocks); `--baud` recovers part of that.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use espflash::connection::{Connection, Port, ResetAfterOperation, ResetBeforeOperation};
use espflash::flasher::Flasher;
use espflash::target::{Chip, ProgressCallbacks};
use serialport::SerialPort;
use tokio::sync::mpsc;

use super::flash::{failed, firmware, resolve_device, FlashArgs, ProgressBar};
use super::CliError;
use crate::config::Settings;
use crate::flash::{on_serial, LineFeed};
use crate::store::{DeviceRecord, Store};

/// Where the app goes: `app0` of the default partition tables.
pub const APP_OFFSET: u32 = 0x10000;
/// The ROM loader always starts at 115200 baud.
const ROM_BAUD: u32 = 115_200;
/// How long one read on the port may block.
const PORT_TIMEOUT: Duration = Duration::from_secs(3);

/// How the chip gets into download mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Before {
    /// DTR/RTS when the port has modem lines, otherwise `no-reset`.
    Auto,
    /// Pulse the USB-serial bridge's DTR/RTS (the boards' auto-reset circuit).
    DefaultReset,
    /// The board is already in download mode (BOOT held while RESET was
    /// pressed), or the port has no modem lines (a pseudo-terminal).
    NoReset,
}

/// What a USB flash did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbFlashOutcome {
    pub port: PathBuf,
    pub version: String,
    pub elf_sha256: String,
    pub elf_attached: bool,
    /// The device the build was recorded for, and the build's id.
    pub recorded: Option<(String, i64)>,
}

pub async fn run(args: FlashArgs, settings: &Settings) -> Result<UsbFlashOutcome, CliError> {
    let Some(port_path) = args.port.clone() else {
        return Err(failed("--port PATH is needed for a USB flash"));
    };
    let firmware = firmware(&args)?;
    let store = Store::open(&settings.db).await?;
    let device = match &args.device {
        Some(name) => Some(resolve_device(&store, settings, name).await?),
        None => device_on_port(&store, &port_path).await?,
    };

    let image = firmware.image.clone();
    let path = port_path.clone();
    let (before, baud) = (args.before, args.baud);
    let port = tokio::task::spawn_blocking(move || write_image(&path, before, baud, &image))
        .await
        .map_err(|e| failed(format!("the flashing thread failed: {e}")))??;

    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    on_serial(
        LineFeed::Port(read_lines(port)),
        &firmware.version,
        deadline,
    )
    .await?;
    eprintln!("device rebooted into v{}", firmware.version);

    let recorded = match &device {
        Some(device) => Some((
            device.name.clone(),
            crate::flash::record(&store, device.id, &firmware).await?,
        )),
        None => {
            if let Some(elf) = &firmware.elf {
                store.put_firmware_elf(&firmware.version, elf).await?;
            }
            None
        }
    };
    Ok(UsbFlashOutcome {
        port: port_path,
        version: firmware.version.clone(),
        elf_sha256: firmware.elf_sha256.clone(),
        elf_attached: firmware.elf.is_some(),
        recorded,
    })
}

/// The known device whose serial port is `port` (same file after
/// resolving links), so a USB flash lands in its build history.
async fn device_on_port(store: &Store, port: &Path) -> Result<Option<DeviceRecord>, CliError> {
    let wanted = std::fs::canonicalize(port).unwrap_or_else(|_| port.to_owned());
    Ok(store.devices().await?.into_iter().find(|d| {
        d.serial_path.as_deref().is_some_and(|p| {
            std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p)) == wanted
        })
    }))
}

/// Connects through the ROM loader, writes and verifies the image, and
/// leaves the loader (the chip resets into the new app). Returns the port,
/// still open, so no line of the new boot is missed.
fn write_image(
    path: &Path,
    before: Before,
    baud: Option<u32>,
    image: &[u8],
) -> Result<Port, CliError> {
    let name = path.display().to_string();
    let serial = serialport::new(&name, ROM_BAUD)
        .timeout(PORT_TIMEOUT)
        .open_native()
        .map_err(|e| failed(format!("cannot open {name}: {e}")))?;
    let reset_lines = match before {
        Before::Auto => has_modem_lines(&serial),
        Before::DefaultReset if !has_modem_lines(&serial) => {
            return Err(failed(format!(
                "{name} has no DTR/RTS lines to reset the chip with (a pseudo-terminal?): put the \
                 board in download mode (hold BOOT, press RESET) and use --before no-reset; \
                 nothing was written"
            )))
        }
        Before::DefaultReset => true,
        Before::NoReset => false,
    };
    let (before_op, after_op) = if reset_lines {
        (
            ResetBeforeOperation::DefaultReset,
            ResetAfterOperation::HardReset,
        )
    } else {
        // No lines to pulse: FLASH_END's reboot flag resets the chip.
        (ResetBeforeOperation::NoReset, ResetAfterOperation::NoReset)
    };
    let connection = Connection::new(serial, port_info(path), after_op, before_op, ROM_BAUD);
    let mut flasher = Flasher::connect(connection, false, true, false, Some(Chip::Esp32s3), baud)
        .map_err(|e| connect_error(&name, e))?;
    let mut progress = Progress::default();
    flasher
        .write_bin_to_flash(APP_OFFSET, image, &mut progress)
        .map_err(|e| failed(format!("writing over {name}: {e}")))?;
    Ok(flasher.into_connection().into_serial())
}

/// A pseudo-terminal (the twin) has no modem lines: TIOCMGET fails.
fn has_modem_lines(port: &Port) -> bool {
    let mut probe = port.try_clone_native().ok();
    probe
        .as_mut()
        .is_some_and(|p| p.read_clear_to_send().is_ok())
}

/// The USB IDs of the port when the system lists it (espflash picks the
/// USB-Serial-JTAG reset and watchdog handling from the PID), else zeros.
fn port_info(path: &Path) -> serialport::UsbPortInfo {
    let wanted = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    serialport::available_ports()
        .unwrap_or_default()
        .into_iter()
        .find_map(|p| match p.port_type {
            serialport::SerialPortType::UsbPort(info)
                if std::fs::canonicalize(&p.port_name).ok().as_ref() == Some(&wanted) =>
            {
                Some(info)
            }
            _ => None,
        })
        .unwrap_or(serialport::UsbPortInfo {
            vid: 0,
            pid: 0,
            serial_number: None,
            manufacturer: None,
            product: None,
        })
}

fn connect_error(port: &str, e: espflash::Error) -> CliError {
    match e {
        // espflash does not export its ConnectionError type: the variant
        // is told by its Debug name.
        espflash::Error::Connection(c) => {
            let kind = format!("{c:?}");
            if kind == "ConnectionFailed" || kind == "NoSyncReply" {
                failed(format!(
                    "nothing answered the ROM loader's SYNC on {port}: is the board in download \
                     mode? hold BOOT and press RESET, then run this again; nothing was written"
                ))
            } else if kind.starts_with("WrongBootMode") {
                failed(format!(
                    "the chip on {port} booted its app, not the ROM loader ({c}): hold BOOT and \
                     press RESET; nothing was written"
                ))
            } else {
                failed(format!("connecting over {port}: {c}; nothing was written"))
            }
        }
        espflash::Error::ChipMismatch(expected, found) => failed(format!(
            "the chip on {port} is an {found}, not an {expected}; nothing was written"
        )),
        other => failed(format!(
            "connecting over {port}: {other}; nothing was written"
        )),
    }
}

/// Lines from the port after the flash, read on a thread (the port is a
/// blocking one); the thread ends when the receiver goes away.
fn read_lines(port: Port) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(port);
        let mut line = Vec::new();
        loop {
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) if line.ends_with(b"\n") => {
                    let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                    line.clear();
                    if tx.send(text).is_err() {
                        return;
                    }
                }
                // A partial line: the rest comes with the next read.
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    if tx.is_closed() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });
    rx
}

/// The ROM loader's block (espflash's FLASH_WRITE_SIZE without a stub).
const ROM_BLOCK_BYTES: usize = 0x400;

/// espflash reports blocks of the segment; the bar shows bytes.
#[derive(Default)]
struct Progress {
    bar: Option<ProgressBar>,
    blocks: usize,
    done: usize,
}

impl ProgressCallbacks for Progress {
    fn init(&mut self, _addr: u32, total: usize) {
        self.blocks = total.max(1);
        self.done = 0;
        self.bar = Some(ProgressBar::new());
    }

    fn update(&mut self, current: usize) {
        if let Some(bar) = &mut self.bar {
            bar.show(current * ROM_BLOCK_BYTES, self.blocks * ROM_BLOCK_BYTES);
        }
        self.done = current;
    }

    fn verifying(&mut self) {
        eprintln!("  verifying (SPI_FLASH_MD5)");
    }

    fn finish(&mut self, _skipped: bool) {}
}

/// Prints the outcome (stdout) for `main`.
pub fn print(outcome: &UsbFlashOutcome) {
    let recorded = match &outcome.recorded {
        Some((device, build)) => format!("build #{build} recorded for {device}"),
        None => {
            "no device uses this port, so no build was recorded (pass --device NAME)".to_owned()
        }
    };
    println!(
        "flashed v{} over {} (ELF SHA-256 {}), confirmed on serial; {recorded}{}",
        outcome.version,
        outcome.port.display(),
        outcome.elf_sha256,
        if outcome.elf_attached {
            ", ELF attached for crash decoding"
        } else {
            ", no ELF attached"
        }
    );
}
