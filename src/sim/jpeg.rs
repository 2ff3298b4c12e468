//! The image API's JPEG preflight (device-api.md §8): before an upload is
//! queued the firmware reads the frame header and refuses what its decoder
//! cannot draw (progressive, odd component counts or sampling, the wrong
//! size). Only the markers are read; nothing is decoded.

/// The panel: full uploads must be exactly this size, strips at most.
pub const PANEL_SIDE: u16 = 360;

/// What the frame header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    pub width: u16,
    pub height: u16,
    pub components: u8,
}

/// Why a JPEG was refused; the text is the device's reply message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreflightError {
    /// No `FF D8 FF` at the start.
    #[error("Invalid JPEG file")]
    NotJpeg,
    #[error("Progressive JPEG is not supported (baseline only)")]
    Progressive,
    #[error("Unsupported JPEG: no baseline frame header")]
    NoFrame,
    #[error("Unsupported JPEG: {0} components (1 or 3 supported)")]
    Components(u8),
    #[error("Unsupported JPEG subsampling (luma 1x1, 2x1 or 2x2; chroma 1x1)")]
    Sampling,
    #[error("Unsupported JPEG dimensions: got {width}x{height}, expected {want}x{want}")]
    Dimensions { width: u16, height: u16, want: u16 },
    #[error("Unsupported strip: got {width}x{height}, expected width {want_width} and height <= {max_height}")]
    StripDimensions {
        width: u16,
        height: u16,
        want_width: u16,
        max_height: u16,
    },
}

/// Whether `bytes` start like a JPEG (SOI and the next marker's `FF`).
pub fn has_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// Walks the markers up to the first frame header and checks it.
pub fn preflight(bytes: &[u8]) -> Result<FrameInfo, PreflightError> {
    if !has_magic(bytes) {
        return Err(PreflightError::NotJpeg);
    }
    let mut at = 2;
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xFF {
            return Err(PreflightError::NoFrame);
        }
        let marker = bytes[at + 1];
        if marker == 0xFF {
            at += 1; // fill byte
            continue;
        }
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        let segment = bytes.get(at + 4..at + 2 + len);
        match marker {
            0xC0 | 0xC1 => return frame(segment.ok_or(PreflightError::NoFrame)?),
            0xC2 | 0xC6 | 0xCA | 0xCE => return Err(PreflightError::Progressive),
            0xC3 | 0xC5 | 0xC7 | 0xC9 | 0xCB | 0xCD | 0xCF | 0xDA | 0xD9 => {
                return Err(PreflightError::NoFrame)
            }
            _ => at += 2 + len,
        }
    }
    Err(PreflightError::NoFrame)
}

/// A SOF0/SOF1 segment body: precision, height, width, components.
fn frame(seg: &[u8]) -> Result<FrameInfo, PreflightError> {
    if seg.len() < 6 {
        return Err(PreflightError::NoFrame);
    }
    let height = u16::from_be_bytes([seg[1], seg[2]]);
    let width = u16::from_be_bytes([seg[3], seg[4]]);
    let components = seg[5];
    if components != 1 && components != 3 {
        return Err(PreflightError::Components(components));
    }
    let specs = seg
        .get(6..6 + 3 * usize::from(components))
        .ok_or(PreflightError::NoFrame)?;
    for (i, spec) in specs.chunks(3).enumerate() {
        let (h, v) = (spec[1] >> 4, spec[1] & 0x0F);
        let ok = if i == 0 {
            matches!((h, v), (1, 1) | (2, 1) | (2, 2))
        } else {
            (h, v) == (1, 1)
        };
        if !ok {
            return Err(PreflightError::Sampling);
        }
    }
    Ok(FrameInfo {
        width,
        height,
        components,
    })
}

/// A full upload: the checks plus exactly 360×360.
pub fn preflight_full(bytes: &[u8]) -> Result<FrameInfo, PreflightError> {
    let info = preflight(bytes)?;
    if info.width != PANEL_SIDE || info.height != PANEL_SIDE {
        return Err(PreflightError::Dimensions {
            width: info.width,
            height: info.height,
            want: PANEL_SIDE,
        });
    }
    Ok(info)
}

/// One strip of a `width`×`height` image: same width, at most that tall.
pub fn preflight_strip(bytes: &[u8], width: u16, height: u16) -> Result<FrameInfo, PreflightError> {
    let info = preflight(bytes)?;
    let max_height = height.min(PANEL_SIDE);
    if info.width != width || info.height > max_height || info.height == 0 {
        return Err(PreflightError::StripDimensions {
            width: info.width,
            height: info.height,
            want_width: width,
            max_height,
        });
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOI, a SOF marker with the given sampling bytes, EOI.
    fn jpeg(sof: u8, w: u16, h: u16, sampling: &[u8]) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x4A, 0x46];
        let len = 8 + 3 * sampling.len() as u16;
        out.extend([0xFF, sof]);
        out.extend(len.to_be_bytes());
        out.push(8);
        out.extend(h.to_be_bytes());
        out.extend(w.to_be_bytes());
        out.push(sampling.len() as u8);
        for (i, s) in sampling.iter().enumerate() {
            out.extend([i as u8 + 1, *s, 0]);
        }
        out.extend([0xFF, 0xD9]);
        out
    }

    #[test]
    fn baseline_360_passes_and_the_rest_is_refused_with_the_devices_text() {
        let ok = jpeg(0xC0, 360, 360, &[0x22, 0x11, 0x11]);
        assert_eq!(preflight_full(&ok).map(|i| i.components), Ok(3));
        let msg = |b: &[u8]| preflight_full(b).err().map(|e| e.to_string());
        assert_eq!(msg(b"GIF89a"), Some("Invalid JPEG file".into()));
        assert_eq!(
            msg(&jpeg(0xC0, 320, 240, &[0x11])),
            Some("Unsupported JPEG dimensions: got 320x240, expected 360x360".into())
        );
        assert_eq!(
            preflight_full(&jpeg(0xC2, 360, 360, &[0x11])),
            Err(PreflightError::Progressive)
        );
        assert_eq!(
            preflight_full(&jpeg(0xC0, 360, 360, &[0x22, 0x22, 0x11])),
            Err(PreflightError::Sampling)
        );
        assert_eq!(
            preflight_full(&jpeg(0xC0, 360, 360, &[0x11, 0x11])),
            Err(PreflightError::Components(2))
        );
    }

    #[test]
    fn strips_keep_the_width_and_stay_within_the_height() {
        let strip = jpeg(0xC0, 360, 40, &[0x21, 0x11, 0x11]);
        assert!(preflight_strip(&strip, 360, 360).is_ok());
        assert!(preflight_strip(&strip, 320, 360).is_err());
        assert!(preflight_strip(&strip, 360, 30).is_err());
    }
}
