//! The checks before anything is sent: the image parsed with the rules the
//! device applies (`protocol::app_image`), and the ELF the one the image
//! was built from (its SHA-256 is in `esp_app_desc_t`), so a wrong file
//! fails here, not on the device or later in a crash decoded against the
//! wrong functions.

use sha2::{Digest, Sha256};

use super::FlashError;
use crate::protocol::app_image::{hex, AppImage, CHIP_ID_ESP32S3};
use crate::soak::symbolize::valid_version;
use crate::store::normalize_version;

/// A file's bytes and the name errors call it by (its path, or the name
/// of an uploaded part).
#[derive(Debug, Clone)]
pub struct FileBytes {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// An image that passed the checks, with what will be recorded of it.
#[derive(Debug, Clone)]
pub struct Firmware {
    pub image: Vec<u8>,
    pub elf: Option<Vec<u8>>,
    /// What the new boot prints (`Firmware: v…`), without the `v`.
    pub version: String,
    pub project_name: String,
    /// Hex, from the image's `esp_app_desc_t`.
    pub elf_sha256: String,
    pub image_sha256: String,
}

impl Firmware {
    /// Checks `image` (an ESP32-S3 app image), `elf` (when given: the one
    /// the image names) and the version to expect: `expect_version`, or
    /// the image's own (Arduino builds carry the core's version there).
    pub fn check(
        image: FileBytes,
        elf: Option<FileBytes>,
        expect_version: Option<&str>,
    ) -> Result<Firmware, FlashError> {
        let parsed = AppImage::parse(&image.bytes)
            .and_then(|i| i.check_chip(CHIP_ID_ESP32S3).map(|()| i))
            .map_err(|source| FlashError::BadImage {
                file: image.name.clone(),
                source,
            })?;
        let desc = parsed.desc;
        let version = normalize_version(expect_version.unwrap_or(&desc.version));
        if !valid_version(&version) {
            return Err(FlashError::BadVersion(version));
        }
        let elf_sha256 = desc.elf_sha256_hex();
        if let Some(elf) = &elf {
            let found = hex(&Sha256::digest(&elf.bytes));
            if found != elf_sha256 {
                return Err(FlashError::ElfMismatch {
                    file: elf.name.clone(),
                    found,
                    named: elf_sha256,
                });
            }
        }
        Ok(Firmware {
            image_sha256: hex(&Sha256::digest(&image.bytes)),
            image: image.bytes,
            elf: elf.map(|e| e.bytes),
            version,
            project_name: desc.project_name,
            elf_sha256,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::app_image::ImageBuilder;

    fn file(name: &str, bytes: &[u8]) -> FileBytes {
        FileBytes {
            name: name.into(),
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn a_good_image_with_its_elf_passes_and_names_its_version() {
        let image = ImageBuilder::new("v2.0.1").elf(b"the elf").build();
        let fw = Firmware::check(file("a.bin", &image), Some(file("a.elf", b"the elf")), None)
            .expect("good");
        assert_eq!(fw.version, "2.0.1");
        assert_eq!(fw.elf.as_deref(), Some(&b"the elf"[..]));
        let fw = Firmware::check(file("a.bin", &image), None, Some("1.0.0")).expect("good");
        assert_eq!(fw.version, "1.0.0", "the expected version wins");
    }

    #[test]
    fn bad_images_elves_and_versions_are_refused_by_name() {
        let image = ImageBuilder::new("2.0.1").elf(b"the elf").build();
        let mut corrupt = image.clone();
        corrupt[200] ^= 0x40;
        let e = Firmware::check(file("up.bin", &corrupt), None, None).expect_err("corrupt");
        assert!(e.is_bad_input());
        assert!(
            e.to_string().starts_with("up.bin: checksum mismatch"),
            "{e}"
        );
        let e = Firmware::check(file("a.bin", &image), Some(file("b.elf", b"other")), None)
            .expect_err("wrong ELF");
        assert!(
            e.to_string()
                .starts_with("b.elf is not the ELF this image was built from"),
            "{e}"
        );
        let e = Firmware::check(file("a.bin", &image), None, Some("1.0 <b>")).expect_err("version");
        assert!(matches!(e, FlashError::BadVersion(_)), "{e}");
    }
}
