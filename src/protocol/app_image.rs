//! ESP-IDF application images (`firmware.bin`): what `POST /api/update`
//! carries and `heaplab flash` uploads. Pure parsing and building, so the
//! twin (which accepts or rejects an upload like `esp_ota_end` does) and
//! the CLI (which checks an image before sending it) apply the same rules.
//!
//! Layout (ESP-IDF "App Image Format"): a 24-byte `esp_image_header_t`
//! (magic `0xE9`, segment count, SPI settings, entry address, chip id,
//! `hash_appended`), then per segment an 8-byte header (load address,
//! length) and the data; zero padding so that the XOR checksum byte (seed
//! `0xEF`, over every segment's data) ends the image on a 16-byte
//! boundary; then, with `hash_appended = 1`, the SHA-256 of everything
//! before it. The first segment starts with the 256-byte `esp_app_desc_t`
//! (magic `0xABCD5432`, version, project name, build time and date, IDF
//! version, the ELF's SHA-256).

use sha2::{Digest, Sha256};

/// `ESP_IMAGE_HEADER_MAGIC`.
pub const IMAGE_MAGIC: u8 = 0xE9;
/// `ESP_APP_DESC_MAGIC_WORD`.
pub const APP_DESC_MAGIC: u32 = 0xABCD_5432;
/// `ESP_ROM_CHECKSUM_INITIAL`.
pub const CHECKSUM_SEED: u8 = 0xEF;
/// `ESP_IMAGE_MAX_SEGMENTS`.
pub const MAX_SEGMENTS: usize = 16;
/// `ESP_CHIP_ID_ESP32S3`.
pub const CHIP_ID_ESP32S3: u16 = 0x0009;

const HEADER_LEN: usize = 24;
const SEGMENT_HEADER_LEN: usize = 8;
const APP_DESC_LEN: usize = 256;
const SHA256_LEN: usize = 32;
/// No segment on these chips is 16 MB or more (the verifier's bound).
const MAX_SEGMENT_LEN: u32 = 16 * 1024 * 1024;

/// `esp_chip_id_t` names for the chips a team is likely to upload for.
pub fn chip_name(id: u16) -> &'static str {
    match id {
        0x0000 => "ESP32",
        0x0002 => "ESP32-S2",
        0x0005 => "ESP32-C3",
        0x0009 => "ESP32-S3",
        0x000C => "ESP32-C2",
        0x000D => "ESP32-C6",
        0x0010 => "ESP32-H2",
        0x0012 => "ESP32-P4",
        _ => "unknown chip",
    }
}

/// Why bytes are not a valid app image. Each names what a person can
/// check (a truncated download, a bootloader or merged binary instead of
/// the app, a build for another chip).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("image truncated: {what} needs {needed} bytes, the file has {len}")]
    Truncated {
        what: &'static str,
        needed: usize,
        len: usize,
    },
    #[error("not an ESP app image: first byte 0x{0:02X}, expected 0xE9")]
    BadMagic(u8),
    #[error("image has {0} segments (1 to 16 allowed)")]
    SegmentCount(u8),
    #[error("segment {index} length {len} is not a multiple of 4 or too large")]
    SegmentLength { index: usize, len: u32 },
    #[error("checksum mismatch: image says 0x{stored:02X}, segments give 0x{computed:02X}")]
    Checksum { stored: u8, computed: u8 },
    #[error("appended SHA-256 does not match the image (corrupted in transfer?)")]
    Sha256Mismatch,
    #[error("no esp_app_desc_t at the start of the first segment (magic 0x{0:08X}); a bootloader or a merged binary?")]
    NoAppDesc(u32),
    #[error("image is for {found_name} (chip id 0x{found:04X}), this device is {expected_name}")]
    WrongChip {
        found: u16,
        found_name: &'static str,
        expected: u16,
        expected_name: &'static str,
    },
}

/// `esp_app_desc_t`: what the build says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppDescription {
    pub secure_version: u32,
    pub version: String,
    pub project_name: String,
    pub time: String,
    pub date: String,
    pub idf_ver: String,
    /// SHA-256 of the ELF the image was made from.
    pub app_elf_sha256: [u8; 32],
}

impl AppDescription {
    pub fn elf_sha256_hex(&self) -> String {
        hex(&self.app_elf_sha256)
    }
}

/// One segment's place in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub load_addr: u32,
    /// Offset of the data in the file.
    pub offset: usize,
    pub len: u32,
}

/// A checked app image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppImage {
    pub chip_id: u16,
    pub entry_addr: u32,
    pub segments: Vec<Segment>,
    pub checksum: u8,
    /// The appended SHA-256, when `hash_appended` is set.
    pub sha256: Option<[u8; 32]>,
    pub desc: AppDescription,
    /// Bytes the image occupies (anything after it is ignored, as the
    /// verifier does with the rest of an OTA partition).
    pub len: usize,
}

impl AppImage {
    /// What `esp_image_verify` checks before a device boots an image.
    pub fn parse(bytes: &[u8]) -> Result<AppImage, ImageError> {
        let need = |what, needed| {
            if bytes.len() < needed {
                Err(ImageError::Truncated {
                    what,
                    needed,
                    len: bytes.len(),
                })
            } else {
                Ok(())
            }
        };
        need("the image header", 1)?;
        if bytes[0] != IMAGE_MAGIC {
            return Err(ImageError::BadMagic(bytes[0]));
        }
        need("the image header", HEADER_LEN)?;
        let count = bytes[1];
        if count == 0 || usize::from(count) > MAX_SEGMENTS {
            return Err(ImageError::SegmentCount(count));
        }
        let entry_addr = u32_at(bytes, 4);
        let chip_id = u16_at(bytes, 12);
        let hash_appended = bytes[23] == 1;

        let mut segments = Vec::with_capacity(usize::from(count));
        let mut at = HEADER_LEN;
        let mut checksum = CHECKSUM_SEED;
        for index in 0..usize::from(count) {
            need("a segment header", at + SEGMENT_HEADER_LEN)?;
            let load_addr = u32_at(bytes, at);
            let len = u32_at(bytes, at + 4);
            if len % 4 != 0 || len >= MAX_SEGMENT_LEN {
                return Err(ImageError::SegmentLength { index, len });
            }
            let offset = at + SEGMENT_HEADER_LEN;
            let end = offset + len as usize;
            need("segment data", end)?;
            checksum = bytes[offset..end].iter().fold(checksum, |c, b| c ^ b);
            segments.push(Segment {
                load_addr,
                offset,
                len,
            });
            at = end;
        }
        // The checksum byte is the last of a 16-byte block.
        let checksum_at = at + (15 - at % 16);
        need("the checksum", checksum_at + 1)?;
        let stored = bytes[checksum_at];
        if stored != checksum {
            return Err(ImageError::Checksum {
                stored,
                computed: checksum,
            });
        }
        let mut len = checksum_at + 1;
        let sha256 = if hash_appended {
            need("the appended SHA-256", len + SHA256_LEN)?;
            let mut stored = [0u8; 32];
            stored.copy_from_slice(&bytes[len..len + SHA256_LEN]);
            if Sha256::digest(&bytes[..len])[..] != stored[..] {
                return Err(ImageError::Sha256Mismatch);
            }
            len += SHA256_LEN;
            Some(stored)
        } else {
            None
        };
        let first = segments[0];
        let desc_bytes = bytes
            .get(first.offset..first.offset + APP_DESC_LEN)
            .filter(|_| first.len as usize >= APP_DESC_LEN);
        let desc = match desc_bytes {
            Some(d) if u32_at(d, 0) == APP_DESC_MAGIC => parse_desc(d),
            Some(d) => return Err(ImageError::NoAppDesc(u32_at(d, 0))),
            None => return Err(ImageError::NoAppDesc(0)),
        };
        Ok(AppImage {
            chip_id,
            entry_addr,
            segments,
            checksum: stored,
            sha256,
            desc,
            len,
        })
    }

    /// The bootloader refuses an image built for another chip.
    pub fn check_chip(&self, expected: u16) -> Result<(), ImageError> {
        if self.chip_id == expected {
            Ok(())
        } else {
            Err(ImageError::WrongChip {
                found: self.chip_id,
                found_name: chip_name(self.chip_id),
                expected,
                expected_name: chip_name(expected),
            })
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A NUL-terminated char array (lossy: a build string is for people).
fn c_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// `esp_app_desc_t` from its 256 bytes (caller checked the length).
fn parse_desc(d: &[u8]) -> AppDescription {
    let mut app_elf_sha256 = [0u8; 32];
    app_elf_sha256.copy_from_slice(&d[144..176]);
    AppDescription {
        secure_version: u32_at(d, 4),
        version: c_str(&d[16..48]),
        project_name: c_str(&d[48..80]),
        time: c_str(&d[80..96]),
        date: c_str(&d[96..112]),
        idf_ver: c_str(&d[112..144]),
        app_elf_sha256,
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a valid ESP32-S3 app image without a toolchain: for tests, the
/// twin's demo and `heaplab flash` tests. Segments are DROM (the app
/// description plus filler), IRAM and IROM, like a real build's first three.
#[derive(Debug, Clone)]
pub struct ImageBuilder {
    pub chip_id: u16,
    pub version: String,
    pub project_name: String,
    pub time: String,
    pub date: String,
    pub idf_ver: String,
    pub app_elf_sha256: [u8; 32],
    pub hash_appended: bool,
    /// Bytes of code per segment after the description (rounded up to 4).
    pub filler: usize,
}

impl ImageBuilder {
    pub fn new(version: &str) -> Self {
        ImageBuilder {
            chip_id: CHIP_ID_ESP32S3,
            version: version.to_owned(),
            project_name: "heaplab-firmware".to_owned(),
            time: "12:00:00".to_owned(),
            date: "Dec  2 2026".to_owned(),
            idf_ver: "v5.1.4".to_owned(),
            app_elf_sha256: [0; 32],
            hash_appended: true,
            filler: 4096,
        }
    }

    /// Uses the SHA-256 of `elf` as `app_elf_sha256`, as the IDF build does.
    pub fn elf(mut self, elf: &[u8]) -> Self {
        self.app_elf_sha256.copy_from_slice(&Sha256::digest(elf));
        self
    }

    pub fn build(&self) -> Vec<u8> {
        let filler = self.filler.div_ceil(4) * 4;
        let pattern = |seed: u32| -> Vec<u8> {
            (0..filler as u32)
                .map(|i| (i.wrapping_mul(31).wrapping_add(seed) >> 3) as u8)
                .collect()
        };
        let mut drom = self.desc_bytes();
        drom.extend(pattern(1));
        let segments: [(u32, Vec<u8>); 3] = [
            (0x3C00_0020, drom),
            (0x4037_0000, pattern(2)),
            (0x4200_0020, pattern(3)),
        ];
        let mut out = vec![IMAGE_MAGIC, segments.len() as u8, 0x02, 0x2F];
        out.extend_from_slice(&0x4037_5A2Cu32.to_le_bytes()); // entry (IRAM)
        out.push(0xEE); // wp_pin: disabled
        out.extend_from_slice(&[0, 0, 0]); // spi_pin_drv
        out.extend_from_slice(&self.chip_id.to_le_bytes());
        out.push(0); // min_chip_rev (legacy)
        out.extend_from_slice(&0u16.to_le_bytes()); // min_chip_rev_full
        out.extend_from_slice(&99u16.to_le_bytes()); // max_chip_rev_full
        out.extend_from_slice(&[0; 4]);
        out.push(u8::from(self.hash_appended));
        let mut checksum = CHECKSUM_SEED;
        for (addr, data) in &segments {
            out.extend_from_slice(&addr.to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(data);
            checksum = data.iter().fold(checksum, |c, b| c ^ b);
        }
        while out.len() % 16 != 15 {
            out.push(0);
        }
        out.push(checksum);
        if self.hash_appended {
            let digest = Sha256::digest(&out);
            out.extend_from_slice(&digest);
        }
        out
    }

    fn desc_bytes(&self) -> Vec<u8> {
        let mut d = Vec::with_capacity(APP_DESC_LEN);
        d.extend_from_slice(&APP_DESC_MAGIC.to_le_bytes());
        d.extend_from_slice(&0u32.to_le_bytes()); // secure_version
        d.extend_from_slice(&[0; 8]); // reserv1
        for (s, n) in [
            (&self.version, 32),
            (&self.project_name, 32),
            (&self.time, 16),
            (&self.date, 16),
            (&self.idf_ver, 32),
        ] {
            let mut field = vec![0u8; n];
            let b = s.as_bytes();
            let take = b.len().min(n - 1);
            field[..take].copy_from_slice(&b[..take]);
            d.extend_from_slice(&field);
        }
        d.extend_from_slice(&self.app_elf_sha256);
        d.resize(APP_DESC_LEN, 0); // efuse revs, mmu page size, reserved
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn built_image_parses_back_with_its_description() {
        let image = ImageBuilder::new("1.6.0").elf(b"an elf").build();
        assert_eq!(
            image.len() % 16,
            0,
            "checksum block + SHA-256 keep 16-byte alignment"
        );
        let parsed = AppImage::parse(&image).expect("valid image");
        assert_eq!(parsed.chip_id, CHIP_ID_ESP32S3);
        assert_eq!(parsed.segments.len(), 3);
        assert_eq!(
            parsed.segments[0].offset, 32,
            "desc right after both headers"
        );
        assert_eq!(parsed.desc.version, "1.6.0");
        assert_eq!(parsed.desc.project_name, "heaplab-firmware");
        assert_eq!(parsed.desc.idf_ver, "v5.1.4");
        assert_eq!(
            parsed.desc.elf_sha256_hex(),
            hex(&Sha256::digest(b"an elf"))
        );
        assert_eq!(parsed.len, image.len());
        assert!(parsed.sha256.is_some());
        parsed.check_chip(CHIP_ID_ESP32S3).expect("S3");
    }

    #[test]
    fn without_hash_the_image_ends_at_the_checksum() {
        let mut b = ImageBuilder::new("1.0.0");
        b.hash_appended = false;
        let image = b.build();
        let parsed = AppImage::parse(&image).expect("valid");
        assert_eq!(parsed.sha256, None);
        assert_eq!(parsed.len, image.len());
        assert_eq!(image.len() % 16, 0);
    }

    #[test]
    fn each_defect_gets_its_own_error() {
        let good = ImageBuilder::new("1.6.0").build();
        let mut b = good.clone();
        b[0] = 0xFF;
        assert_eq!(AppImage::parse(&b), Err(ImageError::BadMagic(0xFF)));

        let mut b = good.clone();
        b[1] = 0;
        assert_eq!(AppImage::parse(&b), Err(ImageError::SegmentCount(0)));

        // A flipped bit in a segment: the XOR checksum catches it first.
        let mut b = good.clone();
        b[40] ^= 0x01;
        assert!(matches!(
            AppImage::parse(&b),
            Err(ImageError::Checksum { .. })
        ));

        // A flipped bit in the header (not covered by the checksum): the
        // appended SHA-256 catches it.
        let mut b = good.clone();
        b[2] ^= 0x01;
        assert_eq!(AppImage::parse(&b), Err(ImageError::Sha256Mismatch));

        assert!(matches!(
            AppImage::parse(&good[..good.len() - 1]),
            Err(ImageError::Truncated { .. })
        ));

        let mut other = ImageBuilder::new("1.6.0");
        other.chip_id = 0x0005;
        let parsed = AppImage::parse(&other.build()).expect("valid C3 image");
        let err = parsed.check_chip(CHIP_ID_ESP32S3).expect_err("wrong chip");
        assert_eq!(
            err.to_string(),
            "image is for ESP32-C3 (chip id 0x0005), this device is ESP32-S3"
        );
    }

    #[test]
    fn an_image_without_app_desc_is_refused() {
        let mut good = ImageBuilder::new("1.6.0").build();
        good[32] = 0; // first byte of the desc magic
                      // Keep the checksum consistent so only the description is wrong.
        let parsed = AppImage::parse(&good);
        assert!(matches!(parsed, Err(ImageError::Checksum { .. })));
        let mut b = ImageBuilder::new("1.6.0");
        b.hash_appended = false;
        let mut image = b.build();
        let old = image[32];
        image[32] = 0;
        let last = image.len() - 1;
        image[last] ^= old; // fix the XOR checksum for the changed byte
        assert_eq!(
            AppImage::parse(&image),
            Err(ImageError::NoAppDesc(APP_DESC_MAGIC & 0xFFFF_FF00))
        );
    }

    proptest! {
        /// Any bytes: an error or an image, never a panic.
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = AppImage::parse(&bytes);
        }

        /// Any single corrupted byte of a hashed image is caught, except
        /// `hash_appended` itself (byte 23): clearing it turns the hash
        /// into ignored trailing bytes, on the device as here.
        #[test]
        fn any_flipped_byte_is_rejected(at in 0usize..8_600, bit in 0u8..8) {
            let image = ImageBuilder::new("2.0.0").build();
            let at = at % image.len();
            prop_assume!(at != 23);
            let mut bad = image.clone();
            bad[at] ^= 1 << bit;
            prop_assert!(AppImage::parse(&bad).is_err());
        }

        /// Versions and names round-trip (cut to their C array sizes).
        #[test]
        fn description_round_trips(version in "[0-9a-z.+-]{1,40}", project in "[a-z_-]{1,40}") {
            let mut b = ImageBuilder::new(&version);
            b.project_name = project.clone();
            let parsed = AppImage::parse(&b.build()).expect("valid");
            prop_assert_eq!(parsed.desc.version, version.chars().take(31).collect::<String>());
            prop_assert_eq!(parsed.desc.project_name, project.chars().take(31).collect::<String>());
        }
    }
}
