//! M4 downsampling: reduce a series to at most four points per pixel column
//! (first, last, minimum, maximum) before drawing.
//!
//! A week of 1 Hz telemetry is 600,000 points per series; a chart is about a
//! thousand pixels wide. Averaging or striding would be cheaper to explain
//! but both can drop the one snapshot where `hin` dipped, and that dip is the
//! reason heaplab exists. M4 keeps every column's extremes, so the drawn line
//! passes through the true minimum and maximum of every pixel column: the
//! global low-water mark and every local dip survive, and the polyline looks
//! the same as one drawn from all points.

use serde::Serialize;

/// One sample of one series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Point {
    pub x: i64,
    pub y: i64,
    /// Index into the source rows, so a hover can name the snapshot's tag.
    pub idx: u32,
}

/// Downsamples `points` (sorted by `x`) into `columns` equal-width columns
/// spanning `[x_min, x_max]`. Per column it keeps the first, last, minimum
/// and maximum point (deduplicated, in input order, so in `x` order for
/// sorted input). Points outside `[x_min, x_max]` are dropped. Ties keep the
/// earliest point. `columns == 0` is treated as one column.
///
/// Unsorted input is still safe: every column's minimum and maximum still
/// appear, but a column visited twice is emitted twice.
pub fn m4(points: &[Point], x_min: i64, x_max: i64, columns: u32) -> Vec<Point> {
    let mut acc = M4::new(x_min, x_max, columns);
    for &p in points {
        acc.push(p);
    }
    acc.finish()
}

/// Streaming form of [`m4`], so a caller can downsample straight from its
/// rows without collecting them into a `Vec<Point>` first.
#[derive(Debug)]
pub struct M4 {
    x_min: i64,
    x_max: i64,
    columns: u32,
    /// `x_max - x_min + 1`, widened so no subtraction overflows.
    span: i128,
    /// Input position of the next point: the dedup and ordering key.
    seen: u64,
    bucket: Option<Bucket>,
    out: Vec<Point>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Offsets from `x_min` covered by this column: `start..end`. Lets a
    /// sorted stream stay in its column without a division per point.
    start: i128,
    end: i128,
    first: (u64, Point),
    last: (u64, Point),
    min: (u64, Point),
    max: (u64, Point),
}

impl M4 {
    pub fn new(x_min: i64, x_max: i64, columns: u32) -> M4 {
        let columns = columns.max(1);
        M4 {
            x_min,
            x_max,
            columns,
            span: i128::from(x_max) - i128::from(x_min) + 1,
            seen: 0,
            bucket: None,
            // At most four points per column; no growth while pushing.
            out: Vec::with_capacity(columns as usize * 4),
        }
    }

    /// The pixel column `x` falls in, or `None` outside `[x_min, x_max]`.
    #[inline]
    pub fn column(&self, x: i64) -> Option<u32> {
        if x < self.x_min || x > self.x_max {
            return None;
        }
        Some(self.column_of_offset(i128::from(x) - i128::from(self.x_min)))
    }

    /// `floor(offset * columns / span)`; always below `columns` because
    /// `offset < span`.
    #[inline]
    fn column_of_offset(&self, offset: i128) -> u32 {
        let col = offset * i128::from(self.columns) / self.span;
        (col as u32).min(self.columns - 1)
    }

    /// The offsets `start..end` that [`Self::column_of_offset`] maps to
    /// `column`: `ceil(c * span / columns)..ceil((c + 1) * span / columns)`.
    fn column_bounds(&self, column: u32) -> (i128, i128) {
        let cols = i128::from(self.columns);
        let ceil_div = |n: i128| (n + cols - 1).div_euclid(cols);
        (
            ceil_div(i128::from(column) * self.span),
            ceil_div((i128::from(column) + 1) * self.span),
        )
    }

    #[inline]
    pub fn push(&mut self, p: Point) {
        if p.x < self.x_min || p.x > self.x_max {
            return;
        }
        let offset = i128::from(p.x) - i128::from(self.x_min);
        let entry = (self.seen, p);
        self.seen += 1;
        match &mut self.bucket {
            Some(b) if b.start <= offset && offset < b.end => {
                b.last = entry;
                if p.y < b.min.1.y {
                    b.min = entry;
                }
                if p.y > b.max.1.y {
                    b.max = entry;
                }
            }
            _ => {
                self.flush();
                let column = self.column_of_offset(offset);
                let (start, end) = self.column_bounds(column);
                self.bucket = Some(Bucket {
                    start,
                    end,
                    first: entry,
                    last: entry,
                    min: entry,
                    max: entry,
                });
            }
        }
    }

    fn flush(&mut self) {
        let Some(b) = self.bucket.take() else {
            return;
        };
        let mut four = [b.first, b.min, b.max, b.last];
        four.sort_unstable_by_key(|(pos, _)| *pos);
        let mut prev = None;
        for (pos, p) in four {
            if prev != Some(pos) {
                self.out.push(p);
                prev = Some(pos);
            }
        }
    }

    pub fn finish(mut self) -> Vec<Point> {
        self.flush();
        self.out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pts(xy: &[(i64, i64)]) -> Vec<Point> {
        xy.iter()
            .enumerate()
            .map(|(i, &(x, y))| Point {
                x,
                y,
                idx: i as u32,
            })
            .collect()
    }

    /// Column extremes per column index, as (min y, max y).
    fn extremes(points: &[Point], acc: &M4) -> std::collections::BTreeMap<u32, (i64, i64)> {
        let mut map = std::collections::BTreeMap::new();
        for p in points {
            if let Some(c) = acc.column(p.x) {
                let e = map.entry(c).or_insert((p.y, p.y));
                e.0 = e.0.min(p.y);
                e.1 = e.1.max(p.y);
            }
        }
        map
    }

    proptest! {
        #[test]
        fn column_extremes_survive(
            mut xs in proptest::collection::vec(-1_000i64..1_000, 0..400),
            ys in proptest::collection::vec(-50_000i64..50_000, 400),
            x_min in -1_200i64..200,
            width in 0i64..2_500,
            columns in 1u32..80,
        ) {
            xs.sort_unstable();
            let input: Vec<Point> = xs
                .iter()
                .zip(&ys)
                .enumerate()
                .map(|(i, (&x, &y))| Point { x, y, idx: i as u32 })
                .collect();
            let x_max = x_min + width;
            let out = m4(&input, x_min, x_max, columns);
            let acc = M4::new(x_min, x_max, columns);
            prop_assert_eq!(extremes(&input, &acc), extremes(&out, &acc));
            // At most four per column, output ordered, every point in range
            // and taken from the input.
            let mut per_col = std::collections::BTreeMap::new();
            for p in &out {
                *per_col.entry(acc.column(p.x).unwrap()).or_insert(0) += 1;
                prop_assert!(p.x >= x_min && p.x <= x_max);
                prop_assert_eq!(input[p.idx as usize], *p);
            }
            prop_assert!(per_col.values().all(|&n| n <= 4));
            prop_assert!(out.windows(2).all(|w| w[0].idx < w[1].idx && w[0].x <= w[1].x));
        }
    }

    proptest! {
        #[test]
        fn column_bounds_match_column(
            x_min in -1_000_000i64..1_000_000,
            width in 0i64..10_000_000,
            columns in 1u32..5_000,
            frac in 0f64..=1.0,
        ) {
            let acc = M4::new(x_min, x_min + width, columns);
            let offset = (width as f64 * frac) as i128;
            let col = acc.column_of_offset(offset);
            let (start, end) = acc.column_bounds(col);
            prop_assert!(start <= offset && offset < end, "{start} {offset} {end}");
        }
    }

    #[test]
    fn keeps_a_single_dip() {
        let mut xy: Vec<(i64, i64)> = (0..10_000).map(|x| (x, 200_000)).collect();
        xy[7_777].1 = 21_532;
        let out = m4(&pts(&xy), 0, 9_999, 10);
        assert!(out.iter().any(|p| p.y == 21_532 && p.idx == 7_777));
        assert!(out.len() <= 40);
    }

    #[test]
    fn empty_input() {
        assert!(m4(&[], 0, 100, 10).is_empty());
    }

    #[test]
    fn single_column() {
        let input = pts(&[(0, 5), (1, 1), (2, 9), (3, 4), (4, 7)]);
        let out = m4(&input, 0, 4, 1);
        let ys: Vec<i64> = out.iter().map(|p| p.y).collect();
        assert_eq!(ys, vec![5, 1, 9, 7]);
    }

    #[test]
    fn degenerate_range() {
        let input = pts(&[(4, 1), (5, 3), (5, 2), (5, 8), (6, 0)]);
        let out = m4(&input, 5, 5, 100);
        let ys: Vec<i64> = out.iter().map(|p| p.y).collect();
        assert_eq!(ys, vec![3, 2, 8]);
        // An inverted range keeps nothing.
        assert!(m4(&input, 6, 5, 10).is_empty());
    }

    #[test]
    fn drops_out_of_range_and_dedups() {
        let input = pts(&[(-5, 0), (0, 1), (10, 2), (11, 3)]);
        let out = m4(&input, 0, 10, 2);
        assert_eq!(out.iter().map(|p| p.idx).collect::<Vec<_>>(), vec![1, 2]);
        // Zero columns behave as one.
        assert_eq!(m4(&input, 0, 10, 0).len(), 2);
    }

    #[test]
    fn extreme_coordinates_do_not_overflow() {
        let input = pts(&[(i64::MIN, 1), (0, -1), (i64::MAX, 2)]);
        let out = m4(&input, i64::MIN, i64::MAX, 3);
        assert_eq!(out.len(), 3);
    }
}
