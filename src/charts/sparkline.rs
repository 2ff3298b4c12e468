//! Sparklines for overview tables: a few hundred bytes of SVG per row, drawn
//! by hand rather than through plotters because they carry no axes, no text
//! and no hover, and a table may hold a hundred of them.

use std::fmt::Write as _;

use super::downsample::{m4, Point};

/// A tiny axis-free SVG line for overview tables. The minimum is marked
/// with a dot. Points need not be sorted.
pub fn sparkline(points: &[(i64, i64)], width: u32, height: u32) -> String {
    let w = width.clamp(8, 2000);
    let h = height.clamp(8, 2000);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"sparkline\" width=\"{w}\" \
         height=\"{h}\" viewBox=\"0 0 {w} {h}\" aria-hidden=\"true\">"
    );
    let mut pts: Vec<Point> = points
        .iter()
        .enumerate()
        .map(|(i, &(x, y))| Point {
            x,
            y,
            idx: u32::try_from(i).unwrap_or(u32::MAX),
        })
        .collect();
    if !pts.windows(2).all(|p| p[0].x <= p[1].x) {
        pts.sort_by_key(|p| p.x);
    }
    let (Some(first), Some(last)) = (pts.first(), pts.last()) else {
        svg.push_str("</svg>");
        return svg;
    };
    let (x_min, x_max) = (first.x, last.x);
    let pts = m4(&pts, x_min, x_max, w);
    let y_min = pts.iter().map(|p| p.y).min().unwrap_or(0);
    let y_max = pts.iter().map(|p| p.y).max().unwrap_or(0);
    let pad = 2.0;
    let (fw, fh) = (f64::from(w) - 2.0 * pad, f64::from(h) - 2.0 * pad);
    let px = |x: i64| -> f64 {
        if x_max == x_min {
            pad + fw / 2.0
        } else {
            pad + (x - x_min) as f64 / (x_max - x_min) as f64 * fw
        }
    };
    let py = |y: i64| -> f64 {
        if y_max == y_min {
            pad + fh / 2.0
        } else {
            pad + (y_max - y) as f64 / (y_max - y_min) as f64 * fh
        }
    };
    if pts.len() > 1 {
        svg.push_str(
            "<polyline fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.25\" \
             stroke-linejoin=\"round\" points=\"",
        );
        for (i, p) in pts.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(svg, "{sep}{:.1},{:.1}", px(p.x), py(p.y));
        }
        svg.push_str("\"/>");
    }
    if let Some(low) = pts.iter().min_by_key(|p| p.y) {
        let _ = write!(
            svg,
            "<circle class=\"sparkline-min\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.75\" fill=\"currentColor\"/>",
            px(low.x),
            py(low.y)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::super::svg_check::well_formed;
    use super::*;

    #[test]
    fn sparkline_is_a_small_svg() {
        let pts: Vec<(i64, i64)> = (0..10_000).map(|i| (i, 100_000 - (i % 97))).collect();
        let svg = sparkline(&pts, 120, 24);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("<polyline") && svg.contains("sparkline-min"));
        assert!(!svg.contains("NaN"));
        assert!(svg.len() < 8_000, "{}", svg.len());
        well_formed(&svg).unwrap();
        let empty = sparkline(&[], 120, 24);
        well_formed(&empty).unwrap();
        let one = sparkline(&[(5, 5)], 120, 24);
        assert!(!one.contains("<polyline") && one.contains("<circle"));
        // Unsorted input is sorted first.
        well_formed(&sparkline(&[(3, 1), (1, 2), (2, 0)], 50, 10)).unwrap();
    }
}
