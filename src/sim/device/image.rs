//! The image API's memory work (device-api.md §8), allocated the way the
//! firmware allocates it: upload buffers and decoded frames PSRAM first
//! with an internal fallback (`heap_caps_malloc_prefer`), the decoder's
//! work pool and MCU row buffer and the `direct_image` screen in the LVGL
//! region of the profile. On `baseline` that region is internal RAM, so a
//! decode is a visible cliff in `hi`/`hin`; on `tuned` it is PSRAM and the
//! internal heap barely moves. Tags contain a space (`img pre-alloc`) and
//! upload-time ones are indented, as on the device.

use super::{Alloc, Device};
use crate::sim::jpeg::{self, PreflightError};
use crate::sim::profile::Region;

/// Internal RAM the upload handler insists on before it takes an image
/// (lwIP buffers and the request while the body streams in).
const UPLOAD_INTERNAL_RESERVE: u32 = 8 * 1024;
/// TJpgDec's work pool.
const DECODER_POOL: u32 = 3_100;
/// Rows of one MCU band, RGB565.
const MCU_ROWS: u32 = 16;
/// Bytes per decoded pixel (RGB565).
const PIXEL_BYTES: u32 = 2;
/// lwIP receive buffers while a body streams in (internal, DMA-capable).
const TCP_RX_WINDOW: u32 = 5_760;

/// Why an image request failed; the text is the device's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageFault {
    #[error("Upload busy")]
    Busy,
    #[error("Insufficient internal memory for image upload")]
    InsufficientInternal,
    #[error("Memory allocation failed")]
    AllocFailed,
    #[error("{0}")]
    Preflight(#[from] PreflightError),
    #[error("Invalid strip index")]
    StripIndex,
    #[error("Invalid JPEG data")]
    StripData,
    #[error("Out of memory")]
    StripOutOfMemory,
}

/// One `POST /api/display/image/strips` request's query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StripRequest {
    pub index: u32,
    pub count: u32,
    pub width: u16,
    pub height: u16,
    /// Display time in seconds; only strip 0's counts, 0 = until dismissed.
    pub timeout_s: u64,
}

/// A shown image: its frame and its screen's widgets.
#[derive(Debug, Clone)]
struct Shown {
    frame: Alloc,
    widgets: Vec<Alloc>,
    /// Where a dismissal goes back to.
    previous: Option<String>,
}

/// A strip upload in progress.
#[derive(Debug, Clone)]
struct StripSession {
    frame: Alloc,
    next: u32,
    count: u32,
    width: u16,
    height: u16,
    timeout_s: u64,
}

#[derive(Debug, Clone, Default)]
pub(in crate::sim) struct ImageState {
    /// Uploaded, waiting for the main loop to decode it: buffer and length.
    pending: Option<(Alloc, u32)>,
    shown: Option<Shown>,
    strips: Option<StripSession>,
    /// Bumped by every new image; a timeout only dismisses its own image.
    generation: u64,
    /// A `POST /api/display/image_url` job is queued or downloading.
    url_job: bool,
}

impl Device {
    /// `POST /api/display/image`, body already taken from the multipart
    /// part. On success the image waits for [`Device::process_pending_image`];
    /// returns its generation for the display timeout.
    pub fn upload_image(&mut self, jpeg: &[u8]) -> Result<u64, ImageFault> {
        if self.image.pending.is_some() {
            return Err(ImageFault::Busy);
        }
        let size = jpeg.len() as u32;
        self.log(0, Some("Image Upload"), "Starting...", None);
        self.log(2, None, &format!("Total size: {size} bytes"), None);
        self.emit_snapshot("img pre-clear", 2);
        if let Some(old) = self.image.shown.take() {
            self.screen = old.previous.clone();
            self.release_shown(old);
        }
        self.emit_snapshot("img post-clear", 2);
        if self.internal.free_bytes() < UPLOAD_INTERNAL_RESERVE {
            self.emit_snapshot("img insufficient", 2);
            return Err(ImageFault::InsufficientInternal);
        }
        self.emit_snapshot("img pre-alloc", 2);
        let Some(buffer) = self.alloc_prefer(Region::Psram, Region::Internal, size) else {
            self.emit_snapshot("img alloc-fail", 2);
            return Err(ImageFault::AllocFailed);
        };
        self.emit_snapshot("img post-alloc", 2);
        if let Some(rx) = self.alloc(Region::Internal, TCP_RX_WINDOW) {
            self.release(rx);
        }
        if let Err(e) = jpeg::preflight_full(jpeg) {
            self.release(buffer);
            return Err(e.into());
        }
        self.log(2, None, "Image queued for display", Some(0));
        self.image.pending = Some((buffer, size));
        self.image.generation += 1;
        Ok(self.image.generation)
    }

    /// `POST /api/display/image_url`: one job at a time (and not while
    /// an upload waits for its decode): `false` is the device's 409 Busy.
    pub fn queue_image_url(&mut self) -> bool {
        if self.image.url_job || self.image.pending.is_some() {
            return false;
        }
        self.image.url_job = true;
        true
    }

    /// The main loop starts the download.
    pub fn image_url_download_begin(&mut self, url: &str) {
        self.log(
            0,
            Some("Portal"),
            &format!("Downloading image URL ({url})"),
            Some(0),
        );
        self.emit_snapshot("urlimg pre-download", 0);
    }

    /// The download's outcome: the body is buffered (PSRAM first) and
    /// queued for decode without the upload's preflight, as on the device;
    /// returns its generation. A failure is logged and tagged.
    pub fn image_url_download_end(&mut self, body: Result<Vec<u8>, String>) -> Option<u64> {
        self.image.url_job = false;
        let jpeg = match body {
            Ok(jpeg) => jpeg,
            Err(reason) => {
                self.log(
                    0,
                    Some("Portal"),
                    &format!("Image URL download failed: {reason}"),
                    Some(0),
                );
                self.emit_snapshot("urlimg download-fail", 0);
                return None;
            }
        };
        let size = jpeg.len() as u32;
        let Some(buffer) = self.alloc_prefer(Region::Psram, Region::Internal, size.max(1)) else {
            self.emit_snapshot("urlimg download-fail", 0);
            return None;
        };
        self.emit_snapshot("urlimg post-download", 0);
        if let Some(old) = self.image.shown.take() {
            self.screen = old.previous.clone();
            self.release_shown(old);
        }
        self.image.pending = Some((buffer, size));
        self.image.generation += 1;
        Some(self.image.generation)
    }

    /// The main loop's turn: decode the pending upload into a frame and
    /// show it on the `direct_image` screen.
    pub fn process_pending_image(&mut self) {
        let Some((buffer, size)) = self.image.pending.take() else {
            return;
        };
        self.log(
            0,
            Some("Portal"),
            &format!("Processing pending image ({size} bytes)"),
            Some(0),
        );
        self.emit_snapshot("img pre-decode", 0);
        let side = u32::from(jpeg::PANEL_SIDE);
        let shown = self.decode_into_screen(side, side);
        self.release(buffer);
        match shown {
            Some(shown) => {
                self.image.shown = Some(shown);
                self.screen = None;
                self.wake_for_activity();
                self.emit_snapshot("img post-decode", 0);
            }
            None => self.emit_snapshot("img decode-fail", 0),
        }
    }

    /// `DELETE /api/display/image` and the display timeout: back to the
    /// previous screen (info when there was none). `generation` limits a
    /// timeout to the image it was set for.
    pub fn dismiss_image(&mut self, generation: Option<u64>) {
        if generation.is_some_and(|g| g != self.image.generation) {
            return;
        }
        let Some(shown) = self.image.shown.take() else {
            return;
        };
        self.log(0, Some("Portal"), "Image dismiss requested", Some(0));
        self.screen = Some(shown.previous.clone().unwrap_or_else(|| "info".to_owned()));
        self.release_shown(shown);
        self.emit_snapshot("img dismiss", 0);
    }

    /// One strip of a strip upload; after the last one the image is shown
    /// and its generation and strip 0's timeout are returned.
    pub fn upload_strip(
        &mut self,
        req: StripRequest,
        jpeg_bytes: &[u8],
    ) -> Result<Option<(u64, u64)>, ImageFault> {
        if req.index == 0 {
            self.start_strips(req)?;
        }
        let session = self.image.strips.as_ref().ok_or(ImageFault::StripIndex)?;
        if req.index != session.next || req.count != session.count {
            return Err(ImageFault::StripIndex);
        }
        let (width, height) = (session.width, session.height);
        if !jpeg::has_magic(jpeg_bytes) {
            return Err(ImageFault::StripData);
        }
        jpeg::preflight_strip(jpeg_bytes, width, height)?;
        let last = req.count - 1;
        self.log(
            0,
            Some("Strip"),
            &format!("Strip {}/{last} queued for decode", req.index),
            None,
        );
        let lvgl = self.placement.lvgl;
        let row = self.alloc(lvgl, u32::from(width) * MCU_ROWS * PIXEL_BYTES);
        let pool = self.alloc(lvgl, DECODER_POOL);
        self.release_all([row, pool].into_iter().flatten().collect());
        if req.index < last {
            if let Some(s) = self.image.strips.as_mut() {
                s.next += 1;
            }
            return Ok(None);
        }
        let Some(session) = self.image.strips.take() else {
            return Err(ImageFault::StripIndex);
        };
        let widgets = self.screen_objects(2_048);
        if let Some(old) = self.image.shown.take() {
            self.release_shown(old);
        }
        self.image.generation += 1;
        let previous = self.screen.take();
        self.image.shown = Some(Shown {
            frame: session.frame,
            widgets,
            previous,
        });
        self.wake_for_activity();
        self.emit_snapshot("strip post-decode", 0);
        Ok(Some((self.image.generation, session.timeout_s)))
    }

    /// Strip 0: a frame for the whole image (dropping an unfinished upload).
    fn start_strips(&mut self, req: StripRequest) -> Result<(), ImageFault> {
        if let Some(old) = self.image.strips.take() {
            self.release(old.frame);
        }
        self.emit_snapshot("strip pre-alloc", 0);
        let bytes = u32::from(req.width) * u32::from(req.height) * PIXEL_BYTES;
        let Some(frame) = self.alloc_prefer(Region::Psram, Region::Internal, bytes) else {
            self.emit_snapshot("strip alloc-fail", 0);
            return Err(ImageFault::StripOutOfMemory);
        };
        self.emit_snapshot("strip pre-decode", 0);
        self.image.strips = Some(StripSession {
            frame,
            next: 0,
            count: req.count,
            width: req.width,
            height: req.height,
            timeout_s: req.timeout_s,
        });
        Ok(())
    }

    /// Decoder work in the LVGL region, the frame PSRAM first, the screen's
    /// widgets; `None` (everything freed) when an allocation fails.
    fn decode_into_screen(&mut self, width: u32, height: u32) -> Option<Shown> {
        let lvgl = self.placement.lvgl;
        let pool = self.alloc(lvgl, DECODER_POOL);
        let row = self.alloc(lvgl, width * MCU_ROWS * PIXEL_BYTES);
        let frame = self.alloc_prefer(
            Region::Psram,
            Region::Internal,
            width * height * PIXEL_BYTES,
        );
        let widgets = self.screen_objects(2_048);
        self.release_all([row, pool].into_iter().flatten().collect());
        match (frame, pool.is_some() && row.is_some()) {
            (Some(frame), true) => Some(Shown {
                frame,
                widgets,
                previous: self.screen.clone(),
            }),
            (frame, _) => {
                self.release_all(frame.into_iter().chain(widgets).collect());
                None
            }
        }
    }

    /// A screen switch replaces a shown image (no dismiss tag).
    pub(super) fn drop_image_cover(&mut self) {
        if let Some(shown) = self.image.shown.take() {
            self.release_shown(shown);
        }
    }

    fn release_shown(&mut self, shown: Shown) {
        self.release(shown.frame);
        self.release_all(shown.widgets);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{parse_line, LineKind, MemSnapshot};
    use crate::sim::device::SerialOut;
    use crate::sim::profile::Profile;

    fn device(profile: Profile) -> Device {
        let mut d = Device::powered_for_test(profile, 0, "twin");
        let _ = d.take_output();
        d
    }

    /// A noisy baseline 360×360 JPEG (noise keeps it large).
    fn photo() -> Vec<u8> {
        let mut x = 0x2545_F491_u32;
        let pixels: Vec<u8> = (0..360 * 360 * 3)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 80)
            .encode(&pixels, 360, 360, jpeg_encoder::ColorType::Rgb)
            .expect("encode");
        out
    }

    fn snapshots(d: &mut Device) -> Vec<MemSnapshot> {
        d.take_output()
            .into_iter()
            .filter_map(|o| match o {
                SerialOut::Line(l) => match parse_line(l.as_bytes()).kind {
                    LineKind::Snapshot(s) => Some(s),
                    _ => None,
                },
                SerialOut::Raw(_) | SerialOut::Frame(_) => None,
            })
            .collect()
    }

    /// Upload, decode, dismiss: the internal low-water drop across the
    /// decode and every image tag seen.
    fn show_and_dismiss(profile: Profile) -> (i64, Vec<String>) {
        let mut d = device(profile);
        let jpeg = photo();
        assert!(jpeg.len() > 90 * 1024, "{} B", jpeg.len());
        d.upload_image(&jpeg).expect("queued");
        assert_eq!(d.upload_image(&jpeg), Err(ImageFault::Busy));
        d.process_pending_image();
        assert_eq!(d.current_screen(), None, "direct image covers the screen");
        d.dismiss_image(None);
        assert_eq!(d.current_screen(), Some("macro1"));
        let snaps = snapshots(&mut d);
        let hin = |tag: &str| {
            snaps
                .iter()
                .find(|s| s.tag == tag)
                .and_then(|s| s.hin)
                .expect(tag)
        };
        let drop = hin("img pre-decode") - hin("img post-decode");
        (drop, snaps.into_iter().map(|s| s.tag).collect())
    }

    #[test]
    fn decode_is_an_internal_cliff_on_baseline_and_flat_on_tuned() {
        let (baseline, tags) = show_and_dismiss(Profile::Baseline);
        assert!(baseline >= 10_000, "baseline decode drop {baseline} B");
        let want = [
            "img pre-clear",
            "img post-clear",
            "img pre-alloc",
            "img post-alloc",
            "img pre-decode",
            "img post-decode",
            "img dismiss",
        ];
        assert_eq!(tags, want);
        let (tuned, _) = show_and_dismiss(Profile::Tuned);
        assert!(tuned < 1_024, "tuned decode drop {tuned} B");
    }

    #[test]
    fn preflight_refusals_free_the_buffer() {
        let mut d = device(Profile::Tuned);
        let before = d.snapshot().pf;
        let mut progressive = photo();
        // SOF0 → SOF2 in place.
        let at = progressive
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .expect("SOF0");
        progressive[at + 1] = 0xC2;
        let err = d.upload_image(&progressive).expect_err("refused");
        assert!(matches!(
            err,
            ImageFault::Preflight(PreflightError::Progressive)
        ));
        assert_eq!(d.snapshot().pf, before);
    }

    #[test]
    fn strips_build_one_image_in_order() {
        let mut d = device(Profile::Tuned);
        let mut strip = Vec::new();
        jpeg_encoder::Encoder::new(&mut strip, 70)
            .encode(&[128; 360 * 40 * 3], 360, 40, jpeg_encoder::ColorType::Rgb)
            .expect("encode");
        let req = |index| StripRequest {
            index,
            count: 3,
            width: 360,
            height: 120,
            timeout_s: 0,
        };
        assert_eq!(d.upload_strip(req(1), &strip), Err(ImageFault::StripIndex));
        assert_eq!(d.upload_strip(req(0), &strip), Ok(None));
        assert_eq!(d.upload_strip(req(2), &strip), Err(ImageFault::StripIndex));
        assert_eq!(d.upload_strip(req(1), b"nope"), Err(ImageFault::StripData));
        assert_eq!(d.upload_strip(req(1), &strip), Ok(None));
        assert!(matches!(d.upload_strip(req(2), &strip), Ok(Some((_, 0)))));
        assert_eq!(d.current_screen(), None);
    }
}
