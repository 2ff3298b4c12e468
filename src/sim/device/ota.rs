//! `POST /api/update` on the device side: the OTA write into the next app
//! partition, with the firmware's serial block, and the checks
//! `esp_ota_write` (first byte) and `esp_ota_end` (the whole image:
//! segments, checksum, SHA-256, chip, app description) make. A good image
//! becomes the running app at the next boot: its version is printed in
//! the boot log and answered by `/api/info`.

use super::Device;
use crate::protocol::app_image::{AppImage, ImageError, CHIP_ID_ESP32S3, IMAGE_MAGIC};
use crate::sim::profile::Region;

/// The free OTA slot (`free_sketch_space`).
pub const OTA_SLOT_BYTES: u32 = 3 * 1024 * 1024;
/// The flash sector the OTA writer buffers before each write.
const SECTOR_BYTES: u32 = 4_096;

/// The app a successful update installed (replaces the profile's build).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledApp {
    pub version: String,
    pub project_name: String,
    pub elf_sha256: String,
}

/// Why `POST /api/update` failed, with the device's messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtaError {
    /// 400.
    #[error("Only .bin files are supported")]
    NotBin,
    /// 400: Content-Length over the free OTA space.
    #[error("Firmware too large")]
    TooLarge,
    /// 500: no memory for the writer.
    #[error("OTA begin failed")]
    BeginFailed,
    /// 500: `esp_ota_write` refused the first chunk (not an app image).
    #[error("Write failed")]
    WriteFailed,
    /// 500: `esp_ota_end` found the image invalid.
    #[error("Update failed")]
    UpdateFailed(ImageError),
}

impl Device {
    /// Checks the request before any byte is written, as the handler
    /// does on the first chunk.
    pub fn ota_precheck(&self, filename: &str, content_length: u64) -> Result<(), OtaError> {
        if !filename.to_ascii_lowercase().ends_with(".bin") {
            return Err(OtaError::NotBin);
        }
        if content_length > u64::from(OTA_SLOT_BYTES) {
            return Err(OtaError::TooLarge);
        }
        Ok(())
    }

    /// Writes and verifies `image`. On success the new app is marked for
    /// the next boot; the caller replies and reboots ~500 ms later.
    pub fn ota_update(&mut self, filename: &str, image: &[u8]) -> Result<InstalledApp, OtaError> {
        let started = self.uptime_ms();
        self.log(0, Some("OTA Update"), "Starting...", None);
        self.log(2, None, &format!("File: {filename}"), None);
        self.log(2, None, &format!("Size: {} bytes", image.len()), None);
        self.log(
            2,
            None,
            &format!("Free space: {OTA_SLOT_BYTES} bytes"),
            None,
        );
        let Some(sector) = self.alloc(Region::Internal, SECTOR_BYTES) else {
            self.log(2, None, "Error: OTA begin failed", None);
            return Err(OtaError::BeginFailed);
        };
        let result = self.ota_write(image);
        self.release(sector);
        let took = self.uptime_ms() - started;
        match &result {
            Ok(app) => {
                self.pending_app = Some(app.clone());
                self.log(2, None, "Success - rebooting", Some(took));
            }
            Err(OtaError::UpdateFailed(e)) => {
                self.log(2, None, &format!("Error: Update failed: {e}"), Some(took));
            }
            Err(e) => self.log(2, None, &format!("Error: {e}"), Some(took)),
        }
        result
    }

    fn ota_write(&mut self, image: &[u8]) -> Result<InstalledApp, OtaError> {
        if image.first() != Some(&IMAGE_MAGIC) {
            return Err(OtaError::WriteFailed);
        }
        let total = image.len().max(1);
        let mut reported = 0;
        for written in (0..image.len()).step_by(SECTOR_BYTES as usize) {
            let done = (written + SECTOR_BYTES as usize).min(image.len());
            let pct = done * 100 / total;
            while reported + 10 <= pct {
                reported += 10;
                self.log(2, None, &format!("Progress: {reported}%"), None);
            }
        }
        self.log(2, None, &format!("Written: {} bytes", image.len()), None);
        let parsed = AppImage::parse(image)
            .and_then(|i| i.check_chip(CHIP_ID_ESP32S3).map(|()| i))
            .map_err(OtaError::UpdateFailed)?;
        Ok(InstalledApp {
            version: parsed.desc.version.clone(),
            project_name: parsed.desc.project_name.clone(),
            elf_sha256: parsed.desc.elf_sha256_hex(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::app_image::ImageBuilder;
    use crate::sim::Profile;

    fn device() -> Device {
        let mut d = Device::powered_for_test(Profile::Tuned, 0, "ota");
        d.take_output();
        d
    }

    #[test]
    fn good_image_boots_as_the_new_version() {
        let mut d = device();
        let image = ImageBuilder::new("2.0.0").elf(b"elf").build();
        let app = d.ota_update("firmware.bin", &image).expect("accepted");
        assert_eq!(app.version, "2.0.0");
        let lines = d.take_lines();
        assert_eq!(lines[0], "[OTA Update] Starting...");
        assert!(lines.contains(&"  Progress: 100%".to_owned()), "{lines:#?}");
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with("  Progress:"))
                .count(),
            10
        );
        assert!(lines
            .last()
            .expect("line")
            .starts_with("  Success - rebooting ("));
        assert_eq!(
            d.firmware_version(),
            "1.5.1-tuned",
            "still the old app until the reboot"
        );
        d.restart();
        assert_eq!(d.firmware_version(), "2.0.0");
        assert!(d.take_lines().contains(&"  Firmware: v2.0.0".to_owned()));
    }

    #[test]
    fn bad_images_get_the_device_messages_and_change_nothing() {
        let mut d = device();
        assert_eq!(d.ota_precheck("fw.hex", 10), Err(OtaError::NotBin));
        assert_eq!(
            d.ota_precheck("fw.bin", u64::from(OTA_SLOT_BYTES) + 1),
            Err(OtaError::TooLarge)
        );
        assert_eq!(
            d.ota_update("fw.bin", b"not an image"),
            Err(OtaError::WriteFailed)
        );
        let mut image = ImageBuilder::new("2.0.0").build();
        image[100] ^= 0xFF;
        let err = d.ota_update("fw.bin", &image).expect_err("corrupt");
        assert_eq!(err.to_string(), "Update failed");
        assert!(d
            .take_lines()
            .iter()
            .any(|l| l.starts_with("  Error: Update failed: checksum mismatch")));
        d.restart();
        assert_eq!(d.firmware_version(), "1.5.1-tuned");
    }
}
