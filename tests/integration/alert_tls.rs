//! Webhooks over `https://`: a TLS receiver on loopback whose certificate
//! is signed by a CA the test makes. With `[alerts] ca_file` naming that CA
//! the alert arrives; without it the delivery is recorded as failed with
//! the certificate error, and the webhook's secret path stays out of the
//! recorded detail.

use std::time::Duration;

use heaplab::sim::Profile;
use heaplab::soak::config::AlertKind;
use serde_json::Value;

use crate::alert_rules::{alerts, post_of, recorded, rule, serial_only, spawn_twin, webhook};
use crate::helpers::{eventually, server_config, start_server};
use crate::webhook_receiver::{https_receiver, make_ca, Received};

/// The secret part of the webhook URL, as a Slack one has.
const SECRET_PATH: &str = "/services/T000/B000/s3cr3t";

/// A server with one always-true rule posting to `url`, trusting `ca_file`
/// when given; returns the rule's recorded alert once its delivery settled.
async fn deliver_once(
    url: &str,
    ca_file: Option<std::path::PathBuf>,
    received: &Received,
) -> Value {
    let dir = tempfile::tempdir().expect("tmp");
    let twin = spawn_twin(dir.path(), "bench", Profile::Tuned, 100, 0).await;
    let mut low = rule("low", AlertKind::HinBelow);
    low.bytes = Some(10_000_000);
    let mut config = server_config(dir.path(), vec![serial_only("bench", &twin)]);
    let mut soak = alerts(vec![low], vec![webhook("team", url.to_owned())]);
    soak.attempts = 1;
    soak.ca_file = ca_file;
    config.soak.alerts = soak;
    config.soak.validate().expect("valid alerts");
    let server = start_server(config).await;
    let base = server.url();
    let alert = eventually("delivery settled", Duration::from_secs(30), || async {
        let list = recorded(&base, "low").await;
        list.into_iter()
            .find(|a| a["delivery"] == "delivered" || a["delivery"] == "failed")
    })
    .await;
    if alert["delivery"] == "delivered" {
        let post = post_of(received, SECRET_PATH, "low").await;
        assert_eq!(post.body["alert_id"], alert["id"]);
    }
    server.stop().await.expect("stop");
    drop(twin);
    alert
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_webhook_trusts_the_configured_ca_and_fails_clearly_without_it() {
    let ca = make_ca();
    let dir = tempfile::tempdir().expect("tmp");
    let ca_file = dir.path().join("team-ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).expect("write CA");
    let (base, received) = https_receiver(&ca).await;
    let url = format!("{base}{SECRET_PATH}");

    // Trusted: delivered over TLS, the payload intact.
    let alert = deliver_once(&url, Some(ca_file), &received).await;
    assert_eq!(alert["delivery"], "delivered", "{alert}");
    let posts = received.on(SECRET_PATH);
    assert_eq!(posts.len(), 1, "one alert, one POST");
    assert_eq!(posts[0].body["kind"], "hin_below");
    assert_eq!(posts[0].body["device"], "bench");
    assert!(posts[0].body["text"]
        .as_str()
        .is_some_and(|t| t.contains("is below 10,000,000 B")));
    assert!(received.failed_handshakes().is_empty());

    // Not trusted (the platform's roots only): no POST, a failed delivery
    // that names the certificate problem and not the secret path.
    let alert = deliver_once(&url, None, &received).await;
    assert_eq!(alert["delivery"], "failed", "{alert}");
    assert_eq!(alert["attempts"], 1);
    let detail = alert["detail"].as_str().expect("detail");
    eprintln!("untrusted receiver: {detail}");
    assert!(
        detail.starts_with("team: failed after 1 attempt(s): "),
        "{detail}"
    );
    assert!(
        detail.contains("certificate") && detail.contains("UnknownIssuer"),
        "the TLS cause is recorded: {detail}"
    );
    assert!(
        !detail.contains("s3cr3t"),
        "the webhook path is a secret: {detail}"
    );
    assert_eq!(received.on(SECRET_PATH).len(), 1, "nothing new arrived");
    assert!(
        !received.failed_handshakes().is_empty(),
        "the client reached the receiver and refused its certificate"
    );
}
