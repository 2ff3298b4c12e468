//! `heaplab bench soak` at a tiny size against the debug binary: every
//! figure and ratio is in the report and the timed pages answered 200.
//! Times are not asserted (speed claims live in benchmarks, not tests).

use heaplab::cli::bench_soak::{soak, SoakBenchArgs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_bench_reports_every_figure_and_ratio() {
    let dir = tempfile::tempdir().expect("tmp");
    let args = SoakBenchArgs {
        snapshots: 2_000,
        small: 200,
        dir: Some(dir.path().to_owned()),
        reuse: false,
        repeat: 1,
        sample_s: 1,
        budget_s: 5,
        device_samples: 20,
        json: false,
    };
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_heaplab"));
    let report = soak(&args, exe).await.expect("bench soak");

    for size in [&report.big, &report.small] {
        for key in [
            "run_page",
            "run_json",
            "chart",
            "chart_zoom",
            "snapshots",
            "compare",
        ] {
            let m = size
                .request(key)
                .unwrap_or_else(|| panic!("{key} timed at {}", size.snapshots));
            assert_eq!(m.status, 200, "{key} at {} snapshots", size.snapshots);
            assert!(m.bytes > 0 && m.samples >= 1, "{key}: {m:?}");
        }
        assert!(size.rss_after.rss_kb > 0 && size.rss_after.hwm_kb > 0);
        assert!(size.viewers.statuses_ok && size.viewers.peak_rss_kb > 0);
        assert_eq!(size.data.imports.len(), 2, "two runs to compare");
    }
    // Both sizes were served at once and timed in turns: as many runs each.
    for (big, small) in report.big.requests.iter().zip(&report.small.requests) {
        assert_eq!(big.key, small.key);
        assert_eq!(
            big.measurement.samples, small.measurement.samples,
            "{}: timed in turns",
            big.key
        );
        assert_ne!(big.url, small.url, "each size's own server");
    }
    // The big runs span their snapshots at 1 Hz (the chart's time axis).
    let log = &report.big.data.logs[0];
    assert_eq!(log.snapshots, 2_000);
    assert!(log.last_us - log.first_us >= 1_999_000_000);
    assert_eq!(report.big.data.imports[0].snapshots, 2_000);
    assert!(report.log_import.lines as u64 == log.lines && report.log_import.peak_rss_kb > 0);

    let device = report.device.as_ref().expect("device figures");
    for (d, data) in [
        (&device.big, &report.big.data),
        (&device.small, &report.small.data),
    ] {
        assert_eq!(d.page.status, 200);
        assert_eq!(d.page.samples, 20, "--device-samples requests");
        assert!(d.page_p99_ms >= d.page.ms, "{d:?}");
        assert!(
            d.sse_samples > 15 && d.sse_p99_ms >= d.sse_median_ms,
            "{d:?}"
        );
        // The twin recorded onto the size's second week-long run.
        assert_eq!(d.run_id, data.imports[1].run_id);
    }

    let rows = |prefix: &str| {
        report
            .rows
            .iter()
            .filter(|r| r.figure.starts_with(prefix))
            .count()
    };
    for prefix in [
        "run page",
        "run JSON",
        "chart `",
        "chart zoomed",
        "snapshots",
        "compare",
    ] {
        let row = report
            .rows
            .iter()
            .find(|r| r.figure.starts_with(prefix))
            .unwrap_or_else(|| panic!("row {prefix}"));
        let ratio = row.ratio.unwrap_or_else(|| panic!("ratio of {prefix}"));
        assert!(ratio.is_finite() && ratio > 0.0, "{prefix}: {ratio}");
        assert!(
            row.target.contains("ratio ≤ 1.5"),
            "{prefix}: {}",
            row.target
        );
        assert!(row.pass.is_some());
    }
    assert_eq!(rows("run page"), 2, "time and bytes");
    assert_eq!(rows("snapshots"), 2, "time and bytes");
    for prefix in ["device page", "serial line → SSE"] {
        assert_eq!(rows(prefix), 2, "median and p99 of {prefix}");
    }
    let p99 = report
        .rows
        .iter()
        .find(|r| r.figure.starts_with("device page") && r.figure.ends_with("p99"))
        .expect("device p99 row");
    assert!(p99.target.contains("≤ 50 ms") && p99.target.contains("ratio ≤ 1.5"));
    for prefix in [
        "server RSS after",
        "server RSS, 10 viewers",
        "heaplab import of the",
        "heaplab import of that",
    ] {
        assert_eq!(rows(prefix), 1, "row {prefix}");
    }
    assert!(report
        .rows
        .iter()
        .all(|r| r.pass.is_none() || r.result.contains("PASS") || r.result.contains("MISS")));

    // --reuse finds the same runs without importing again.
    let again = soak(
        &SoakBenchArgs {
            reuse: true,
            ..args
        },
        exe,
    )
    .await
    .expect("bench soak --reuse");
    assert!(again.reused);
    assert_eq!(
        again.big.data.imports[0].run_id,
        report.big.data.imports[0].run_id
    );
}
