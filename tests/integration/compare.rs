//! Comparing the crash log (A) with the tuned folder (B): deltas worked out
//! by hand from the fixtures.

use heaplab::analysis::{AcceptanceCriteria, SnapshotValues, TagPresence};
use heaplab::report;

use crate::helpers::*;

fn values(hin: i64, hm: i64, hi: i64, frag: i64, pf: i64) -> Option<SnapshotValues> {
    Some(SnapshotValues {
        hin: Some(hin),
        hm: Some(hm),
        hi: Some(hi),
        frag: Some(frag),
        pf: Some(pf),
    })
}

#[tokio::test]
async fn compare_gives_hand_computed_deltas() {
    let (store, _dir) = store().await;
    let a = import(&store, &fixture(CRASH_LOG)).await.run_id;
    let b = import(&store, &fixture(TUNED_FOLDER)).await.run_id;
    let doc = report::compare(&store, a, b, &AcceptanceCriteria::default())
        .await
        .expect("compare");
    let c = &doc.comparison;

    let tags: Vec<(&str, TagPresence)> = c
        .tags
        .iter()
        .map(|t| (t.tag.as_str(), t.presence))
        .collect();
    use TagPresence::*;
    assert_eq!(
        tags,
        [
            ("boot", Both),
            ("setup", Both),
            ("hb", Both),
            ("http_root", OnlyA),
            ("http_network", OnlyA),
            ("http_firmware", OnlyA),
            ("http_macros_post_parsed", Both),
            ("http_macros_post_saved", Both),
            ("lvgl_switch_pre_macro1", Both),
            ("lvgl_switch_post_macro1", Both),
            ("http_icons_gc", OnlyA),
            ("mqtt_connected", OnlyB),
        ]
    );
    let tag = |name: &str| c.tags.iter().find(|t| t.tag == name).expect(name);

    // boot, last: A (second boot) hin 250000 hm 250000 hi 251000 frag 19 pf 8300000
    //             B               299000     299000    300000    16      8200000
    assert_eq!(
        tag("boot").last_delta,
        values(49_000, 49_000, 49_000, -3, -100_000)
    );
    // hb, last: A 125000/125000/176400/37/8278000, B 178000/178000/234000/18/8070000
    assert_eq!(
        tag("hb").last_delta,
        values(53_000, 53_000, 57_600, -19, -208_000)
    );
    // hb, minimum hin: A's fourth hb of boot 0 (18000/18000/90000/33/8160000),
    // B's second hb (178000/178000/234000/18/8070000)
    assert_eq!(
        tag("hb").min_delta,
        values(160_000, 160_000, 144_000, -15, -90_000)
    );
    assert_eq!(tag("hb").count_a, 8);
    assert_eq!(tag("hb").count_b, 2);
    assert_eq!(
        tag("http_macros_post_saved").last_delta,
        values(159_000, 159_000, 162_000, -41, -95_000)
    );
    assert_eq!(tag("http_root").last_delta, None);
    assert_eq!(tag("mqtt_connected").last_a, None);

    assert_eq!(c.hin_min.delta, Some(160_000));
    assert_eq!(c.frag_max.delta, Some(-42));
    assert_eq!(c.pf_min.delta, Some(-90_000));
    assert!(!c.pass_a);
    assert!(c.pass_b);
    assert_eq!(c.verdict_change, "fixed");
}
