//! Image bodies for upload steps: a real baseline JPEG made here (not a
//! file shipped with the tool), as large as the device's limit allows, and
//! the `multipart/form-data` envelope a browser or `curl -F` would send.

use jpeg_encoder::{ColorType, Encoder};

/// The boundary of every multipart body this module builds.
const BOUNDARY: &str = "----heaplab-scenario-5e1f0c";

/// A `width`×`height` baseline JPEG (4:2:0 below quality 90, 4:4:4 above),
/// at the highest quality whose encoding fits in `max_bytes`. The picture
/// is a gradient with deterministic noise, which compresses like a photo:
/// large at high quality, so the upload is near the limit on purpose.
pub fn baseline_jpeg(width: u16, height: u16, max_bytes: usize) -> Result<Vec<u8>, String> {
    if width == 0 || height == 0 {
        return Err(format!("image size {width}x{height} has no pixels"));
    }
    let pixels = picture(width, height);
    let encode = |quality: u8| -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        Encoder::new(&mut out, quality)
            .encode(&pixels, width, height, ColorType::Rgb)
            .map_err(|e| format!("JPEG encoding failed: {e}"))?;
        Ok(out)
    };
    // Size grows with quality: binary search for the largest that fits.
    let (mut lo, mut hi) = (1u8, 100u8);
    let mut best = None;
    while lo <= hi {
        let mid = lo + (hi - lo) / 2;
        let jpeg = encode(mid)?;
        if jpeg.len() <= max_bytes {
            best = Some(jpeg);
            lo = mid + 1;
        } else if mid == 1 {
            break;
        } else {
            hi = mid - 1;
        }
    }
    best.ok_or_else(|| {
        format!("a {width}x{height} JPEG does not fit in {max_bytes} B even at quality 1")
    })
}

/// RGB bytes: a diagonal gradient plus xorshift noise.
fn picture(width: u16, height: u16) -> Vec<u8> {
    let (w, h) = (usize::from(width), usize::from(height));
    let mut x: u32 = 0x9E37_79B9;
    let mut out = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        for col in 0..w {
            let base = ((row + col) * 255 / (w + h)) as u32;
            for channel in 0..3u32 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let noise = x % 96;
                out.push(((base + channel * 40 + noise) % 256) as u8);
            }
        }
    }
    out
}

/// Bytes the multipart envelope adds around a file of this field and name.
pub fn multipart_overhead(field: &str, filename: &str, mime: &str) -> usize {
    multipart(field, filename, mime, &[]).0.len()
}

/// One file part in a `multipart/form-data` body, and its content type.
pub fn multipart(field: &str, filename: &str, mime: &str, bytes: &[u8]) -> (Vec<u8>, String) {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; \
         filename=\"{filename}\"\r\nContent-Type: {mime}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    (body, format!("multipart/form-data; boundary={BOUNDARY}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the SOF0 frame header: (width, height, luma sampling).
    fn frame(jpeg: &[u8]) -> Option<(u16, u16, u8)> {
        let at = jpeg.windows(2).position(|w| w == [0xFF, 0xC0])?;
        let seg = &jpeg[at + 4..];
        Some((
            u16::from_be_bytes([seg[3], seg[4]]),
            u16::from_be_bytes([seg[1], seg[2]]),
            seg[7],
        ))
    }

    #[test]
    fn fills_the_budget_with_a_baseline_360_square() {
        let budget = 300 * 1024 - multipart_overhead("file", "s3.jpg", "image/jpeg");
        let jpeg = baseline_jpeg(360, 360, budget).expect("fits");
        assert!(jpeg.starts_with(&[0xFF, 0xD8, 0xFF]));
        assert!(jpeg.len() <= budget);
        assert!(jpeg.len() > budget / 2, "{} of {budget} B", jpeg.len());
        assert_eq!(frame(&jpeg).map(|f| (f.0, f.1)), Some((360, 360)));
        assert!(!jpeg.windows(2).any(|w| w == [0xFF, 0xC2]), "progressive");
    }

    #[test]
    fn too_small_a_budget_is_an_error() {
        assert!(baseline_jpeg(360, 360, 100).is_err());
        assert!(baseline_jpeg(0, 360, 100_000).is_err());
    }
}
