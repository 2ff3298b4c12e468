//! The boot ROM's download mode on the twin's serial port, and what the
//! chip boots when a download ends.
//!
//! A pty has no strapping pins and no DTR/RTS lines, so nothing can hold
//! BOOT while pulsing RESET. The twin takes the first SYNC frame that
//! arrives while its app runs as that button press: it resets into the
//! ROM (banner ending in `waiting for download`, telemetry stops, HTTP
//! answers 503) and answers from the next SYNC on, as a chip in download
//! mode does; the SYNC that "pressed the buttons" gets no answer, so a
//! client retries once, as it would while a real chip comes out of reset.
//!
//! Leaving the loader (FLASH_END) resets the chip. The second-stage
//! bootloader checks the app at 0x10000 with the same rules as the OTA
//! path (`protocol::app_image`): a good image boots with its version in
//! the boot log and `/api/info`; a bad one gets the bootloader's
//! `esp_image` error and no app runs: the chip boot-loops, printing the
//! ROM banner and the error on every attempt, until it is flashed again.

use super::ota::InstalledApp;
use super::{Device, SerialOut};
use crate::protocol::app_image::{AppImage, ImageError, CHIP_ID_ESP32S3};
use crate::sim::rom::{self, ResetKind};
use crate::sim::rom_loader::{self, LoaderEvent};

/// The app partition of `default_8MB.csv` (`app0`, the first OTA slot).
pub const APP_OFFSET: u32 = 0x10000;
pub const APP_PARTITION_BYTES: u32 = 0x33_0000;

/// What the chip is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    App,
    /// In the ROM serial loader.
    Download,
    /// No bootable app: the bootloader's error, printed on every boot attempt.
    NoApp(Vec<String>),
}

impl Device {
    /// Whether the app is running (prints telemetry, answers HTTP).
    pub fn app_running(&self) -> bool {
        self.run == RunState::App
    }

    /// Whether the chip sits in the ROM's download mode.
    pub fn in_download_mode(&self) -> bool {
        self.run == RunState::Download
    }

    /// Bytes the host wrote to the serial port.
    pub fn serial_input(&mut self, bytes: &[u8]) {
        for frame in self.slip.push(bytes) {
            if self.run == RunState::Download {
                let reply = self.rom.handle(&frame);
                if !reply.bytes.is_empty() {
                    self.outbox.push(SerialOut::Frame(reply.bytes));
                }
                if let Some(LoaderEvent::LeaveLoader { reboot: _ }) = reply.event {
                    self.boot_from_flash();
                }
            } else if rom_loader::is_sync(&frame) {
                self.enter_download_mode();
            }
        }
    }

    /// BOOT held while RESET is pressed: the ROM banner, then the loader.
    fn enter_download_mode(&mut self) {
        self.run = RunState::Download;
        self.rom.reset();
        for line in [
            "ESP-ROM:esp32s3-20210327",
            "Build:Mar 27 2021",
            "rst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))",
            "waiting for download",
        ] {
            self.outbox.push(SerialOut::Line(line.to_owned()));
        }
    }

    /// The reset after a download: the bootloader verifies the app at
    /// [`APP_OFFSET`] and boots it, or reports it and boots nothing.
    fn boot_from_flash(&mut self) {
        if !self.rom.flash.ever_changed(APP_OFFSET) {
            // Nothing was written over the app this twin started with.
            self.run = RunState::App;
            self.boot(ResetKind::Software);
            return;
        }
        let image = self.rom.flash.read(APP_OFFSET, APP_PARTITION_BYTES);
        let checked =
            AppImage::parse(&image).and_then(|i| i.check_chip(CHIP_ID_ESP32S3).map(|()| i));
        match checked {
            Ok(parsed) => {
                self.pending_app = Some(InstalledApp {
                    version: parsed.desc.version.clone(),
                    project_name: parsed.desc.project_name.clone(),
                    elf_sha256: parsed.desc.elf_sha256_hex(),
                });
                self.run = RunState::App;
                self.boot(ResetKind::Software);
            }
            Err(e) => {
                self.pending_app = None;
                self.run = RunState::NoApp(bootloader_errors(&e));
                self.halted_tick();
            }
        }
    }

    /// One boot attempt without a bootable app: the ROM banner and the
    /// bootloader's errors, then the reset that starts the next attempt.
    pub(super) fn halted_tick(&mut self) {
        let RunState::NoApp(errors) = &self.run else {
            return;
        };
        let errors = errors.clone();
        for line in rom::rom_banner(ResetKind::Software) {
            self.outbox.push(SerialOut::Line(line));
        }
        for line in errors {
            self.outbox.push(SerialOut::Line(line));
        }
    }
}

/// What ESP-IDF's bootloader prints for an app it will not boot.
fn bootloader_errors(e: &ImageError) -> Vec<String> {
    let cause = match e {
        ImageError::BadMagic(_) => format!(
            "E (62) esp_image: image at 0x{APP_OFFSET:x} has invalid magic byte (nothing flashed here?)"
        ),
        ImageError::WrongChip { found, .. } => format!(
            "E (62) esp_image: Mismatch chip id, expected {CHIP_ID_ESP32S3}, found {found}"
        ),
        ImageError::Checksum { stored, computed } => format!(
            "E (62) esp_image: Checksum failed. Calculated 0x{computed:x} read 0x{stored:x}"
        ),
        ImageError::Sha256Mismatch => "E (62) esp_image: Image hash failed - image is corrupt".to_owned(),
        other => format!("E (62) esp_image: image at 0x{APP_OFFSET:x} is invalid: {other}"),
    };
    vec![
        cause,
        "E (68) boot: OTA app partition slot 0 is not bootable".to_owned(),
        "E (73) boot: No bootable app partitions in the partition table".to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::app_image::ImageBuilder;
    use crate::sim::rom_loader::{op, SlipReader, SYNC_PAYLOAD};
    use crate::sim::Profile;

    fn device() -> Device {
        let mut d = Device::powered_for_test(Profile::Tuned, 0, "usb");
        d.take_output();
        d
    }

    fn frame(op: u8, data: &[u8], checksum: u32) -> Vec<u8> {
        let mut p = vec![0x00, op];
        p.extend_from_slice(&(data.len() as u16).to_le_bytes());
        p.extend_from_slice(&checksum.to_le_bytes());
        p.extend_from_slice(data);
        rom_loader::slip_encode(&p)
    }

    fn le(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// Writes `image` at 0x10000 the way a ROM-only client does, then
    /// FLASH_END(reboot).
    fn flash(d: &mut Device, image: &[u8]) {
        let blocks: Vec<&[u8]> = image.chunks(1024).collect();
        let erase = (image.len() as u32).div_ceil(4096) * 4096;
        d.serial_input(&frame(
            op::FLASH_BEGIN,
            &le(&[erase, blocks.len() as u32, 1024, APP_OFFSET, 0]),
            0,
        ));
        for (seq, block) in blocks.iter().enumerate() {
            let mut data = le(&[block.len() as u32, seq as u32, 0, 0]);
            data.extend_from_slice(block);
            let sum = block.iter().fold(0xEFu8, |c, b| c ^ b);
            d.serial_input(&frame(op::FLASH_DATA, &data, u32::from(sum)));
        }
        d.serial_input(&frame(op::FLASH_END, &le(&[0]), 0));
    }

    fn enter(d: &mut Device) {
        d.serial_input(&frame(op::SYNC, &SYNC_PAYLOAD, 0));
        assert!(d.in_download_mode());
        let out = d.take_lines();
        assert_eq!(out.last().map(String::as_str), Some("waiting for download"));
        // The next SYNC is answered (eight frames).
        d.serial_input(&frame(op::SYNC, &SYNC_PAYLOAD, 0));
        let raw: Vec<u8> = d
            .take_output()
            .into_iter()
            .flat_map(|o| match o {
                SerialOut::Frame(b) => b,
                SerialOut::Line(_) | SerialOut::Raw(_) => Vec::new(),
            })
            .collect();
        assert_eq!(SlipReader::default().push(&raw).len(), 8);
    }

    #[test]
    fn sync_enters_download_mode_and_silences_the_app() {
        let mut d = device();
        d.serial_input(b"hello\r\n");
        assert!(d.app_running(), "text is not a SYNC");
        enter(&mut d);
        d.heartbeat();
        d.chatter();
        assert!(d.take_output().is_empty(), "no telemetry in download mode");
    }

    #[test]
    fn a_good_image_boots_with_its_version() {
        let mut d = device();
        enter(&mut d);
        flash(&mut d, &ImageBuilder::new("3.0.0").elf(b"usb elf").build());
        assert!(d.app_running());
        assert_eq!(d.firmware_version(), "3.0.0");
        let out = d.take_lines();
        assert!(out.contains(&"  Firmware: v3.0.0".to_owned()), "{out:#?}");
    }

    #[test]
    fn a_bad_image_boot_loops_with_the_bootloader_error_until_reflashed() {
        let mut d = device();
        enter(&mut d);
        let mut bad = ImageBuilder::new("3.0.0").build();
        bad[100] ^= 0xFF;
        flash(&mut d, &bad);
        assert!(!d.app_running());
        let out = d.take_lines();
        assert!(
            out.iter().any(|l| l.contains("esp_image: Checksum failed")),
            "{out:#?}"
        );
        assert!(out.contains(
            &"E (73) boot: No bootable app partitions in the partition table".to_owned()
        ));
        // Every heartbeat tick is another boot attempt, no telemetry.
        d.heartbeat();
        let again = d.take_lines();
        assert!(again.iter().any(|l| l.starts_with("rst:0xc")));
        assert!(!again.iter().any(|l| l.contains("[Mem]")));
        // A download fixes it.
        enter(&mut d);
        flash(&mut d, &ImageBuilder::new("3.0.1").build());
        assert_eq!(d.firmware_version(), "3.0.1");
    }

    #[test]
    fn leaving_the_loader_without_a_write_boots_the_old_app() {
        let mut d = device();
        let before = d.firmware_version();
        enter(&mut d);
        d.serial_input(&frame(op::FLASH_END, &le(&[1]), 0));
        assert!(d.app_running());
        assert_eq!(d.firmware_version(), before);
    }
}
