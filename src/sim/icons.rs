//! Icons (device-api.md §6): the compiled mask registry `GET /api/icons`
//! lists, and the `ICN1` colour blobs `POST /api/icons/install` writes to
//! FFat, checked the way the firmware checks them.

/// Compiled Material mask icons, sorted by id (a subset of the device's
/// ~102; every id the factory macros use is here).
pub const BUILTIN_ICONS: [&str; 24] = [
    "add",
    "arrow_back",
    "arrow_forward",
    "bolt",
    "brightness_high",
    "check",
    "close",
    "code",
    "content_copy",
    "content_paste",
    "home",
    "info",
    "lightbulb",
    "lock",
    "mic",
    "mic_off",
    "pause",
    "play_arrow",
    "power_settings_new",
    "refresh",
    "settings",
    "skip_next",
    "volume_off",
    "volume_up",
];

/// Largest blob the install route takes.
pub const MAX_BLOB_BYTES: usize = 256 * 1024;
/// Header: `ICN1`, u16 width, u16 height, u8 format, 3 reserved, u32 length.
const HEADER_BYTES: usize = 16;
/// RGB565 + alpha, 3 bytes per pixel: the only format.
const FORMAT_RGB565A8: u8 = 1;

/// Why an install was refused (all 400s); the device's messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IconError {
    #[error("Missing id")]
    MissingId,
    #[error("Invalid icon id (expected [a-z0-9_]+)")]
    BadId,
    #[error("Invalid body size")]
    BodySize,
    #[error("Invalid blob")]
    InvalidBlob,
    #[error("Bad magic")]
    BadMagic,
    #[error("Unsupported format")]
    Format,
    #[error("Invalid dimensions")]
    Dimensions,
    #[error("Unexpected payload size")]
    PayloadSize,
    #[error("Blob length mismatch")]
    LengthMismatch,
}

/// `[a-z0-9_]+`, at most 31 bytes.
pub fn check_id(id: Option<&str>) -> Result<&str, IconError> {
    let id = id.filter(|i| !i.is_empty()).ok_or(IconError::MissingId)?;
    let ok = id.len() <= 31
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(id)
    } else {
        Err(IconError::BadId)
    }
}

/// Checks an `ICN1` blob: header, format, 1..=256 px sides, data length.
pub fn check_blob(blob: &[u8]) -> Result<(u16, u16), IconError> {
    if blob.is_empty() || blob.len() > MAX_BLOB_BYTES {
        return Err(IconError::BodySize);
    }
    if blob.len() < HEADER_BYTES {
        return Err(IconError::InvalidBlob);
    }
    if &blob[..4] != b"ICN1" {
        return Err(IconError::BadMagic);
    }
    let width = u16::from_le_bytes([blob[4], blob[5]]);
    let height = u16::from_le_bytes([blob[6], blob[7]]);
    if blob[8] != FORMAT_RGB565A8 {
        return Err(IconError::Format);
    }
    if !(1..=256).contains(&width) || !(1..=256).contains(&height) {
        return Err(IconError::Dimensions);
    }
    let data_len = u32::from_le_bytes([blob[12], blob[13], blob[14], blob[15]]) as usize;
    if data_len != usize::from(width) * usize::from(height) * 3 {
        return Err(IconError::PayloadSize);
    }
    if blob.len() != HEADER_BYTES + data_len {
        return Err(IconError::LengthMismatch);
    }
    Ok((width, height))
}

/// A valid blob of a `w`×`h` icon (tests and scenarios install these).
pub fn blob(w: u16, h: u16) -> Vec<u8> {
    let data_len = u32::from(w) * u32::from(h) * 3;
    let mut out = b"ICN1".to_vec();
    out.extend(w.to_le_bytes());
    out.extend(h.to_le_bytes());
    out.extend([FORMAT_RGB565A8, 0, 0, 0]);
    out.extend(data_len.to_le_bytes());
    out.extend((0..data_len).map(|i| (i % 251) as u8));
    out
}

/// `emoji_*` and `user_*` files are what gc may delete.
pub fn collectable(id: &str) -> bool {
    id.starts_with("emoji_") || id.starts_with("user_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_64px_icon_is_12304_bytes_and_valid() {
        let b = blob(64, 64);
        assert_eq!(b.len(), 12_304);
        assert_eq!(check_blob(&b), Ok((64, 64)));
    }

    #[test]
    fn bad_blobs_get_the_devices_messages() {
        let mut b = blob(2, 2);
        b[0] = b'X';
        assert_eq!(check_blob(&b), Err(IconError::BadMagic));
        let mut b = blob(2, 2);
        b[8] = 2;
        assert_eq!(check_blob(&b), Err(IconError::Format));
        let mut b = blob(2, 2);
        b.push(0);
        assert_eq!(check_blob(&b), Err(IconError::LengthMismatch));
        assert_eq!(check_blob(&[]), Err(IconError::BodySize));
        assert_eq!(check_blob(b"ICN1"), Err(IconError::InvalidBlob));
        assert_eq!(check_id(Some("Emoji-1")), Err(IconError::BadId));
        assert_eq!(
            check_id(None).map_err(|e| e.to_string()),
            Err("Missing id".into())
        );
        assert!(BUILTIN_ICONS.windows(2).all(|w| w[0] < w[1]));
    }
}
