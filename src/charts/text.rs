//! Text that reaches a chart: device-supplied labels made safe for the SVG
//! backend, and the short number and time formats the axes and labels use.
//!
//! Escaping: every string that reaches the SVG goes through plotters'
//! `SVGBackend`, which XML-escapes `<`, `>`, `&`, `"` and `'` in text and
//! attributes. So text is handed over raw (escaping here too would show
//! `&amp;lt;`), only stripped of control characters, which XML cannot carry
//! even escaped, and shortened. The sparkline writes no text at all.

use chrono::{DateTime, Utc};

pub(super) const MAX_LABEL_CHARS: usize = 40;
pub(super) const MAX_TITLE_CHARS: usize = 120;

/// Device-supplied text made safe to hand to the SVG backend (which escapes
/// it): control characters, which XML 1.0 forbids even as references,
/// become spaces; long text is cut with an ellipsis. Not an escaper.
pub(super) fn clean(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars * 4));
    for (i, c) in s.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        out.push(if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' {
            ' '
        } else {
            c
        });
    }
    out
}

/// A generous width estimate for sans-serif text (no font metrics here).
pub(super) fn estimate_text_px(text: &str, size_px: i32) -> i32 {
    let chars = i32::try_from(text.chars().count()).unwrap_or(i32::MAX / 16);
    chars.saturating_mul(size_px * 6 / 10)
}

pub(super) fn kb(bytes: i64) -> String {
    if bytes % 1024 == 0 {
        format!("{} KB", bytes / 1024)
    } else {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    }
}

pub(super) fn utc(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| us.to_string())
}

/// `mm:ss`, or `h:mm:ss` from an hour on.
pub(super) fn elapsed(us: i64) -> String {
    let sign = if us < 0 { "-" } else { "" };
    let s = us.unsigned_abs() / 1_000_000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{sign}{h}:{m:02}:{s:02}")
    } else {
        format!("{sign}{m:02}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_cleans() {
        assert_eq!(elapsed(65_000_000), "01:05");
        assert_eq!(elapsed(3_725_000_000), "1:02:05");
        assert_eq!(kb(30_720), "30 KB");
        assert_eq!(clean("abcdef", 3), "abc…");
    }
}
