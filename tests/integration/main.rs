//! One integration test binary (faster to link than one per file), with
//! shared helpers. Every test uses a real SQLite file in a temp dir, or,
//! with `HEAPLAB_TEST_DB=postgres://…` (`.ci/postgres.sh`), a real
//! PostgreSQL database of its own (`helpers::test_db`).

mod central;
mod helpers;
mod mosquitto;
mod webhook_receiver;

/// reqwest is built without a rustls crypto provider of its own
/// (`src/tls.rs`): install ring before any test builds an HTTP client, as
/// `main` does for the binary.
#[ctor::ctor]
fn install_crypto_provider() {
    heaplab::tls::install_crypto_provider();
}

mod access;
mod agent;
mod alert_rules;
mod alert_tls;
mod backends;
mod bench_soak;
mod cli;
mod cluster;
mod compare;
mod compare_page;
mod contract;
mod demo;
mod experiments;
mod flash;
mod flash_usb;
mod groups_page;
mod harness_replay;
mod hints;
mod image_url;
mod import_folder;
mod import_log;
mod layers;
mod mqtt;
mod packaging;
mod packed_snapshots;
mod paging;
mod protocol_props;
mod pyramid_props;
mod restart;
mod retention_drop;
mod scenarios;
mod serial_lines;
mod server;
mod sim_twin;
mod soak;
mod summary_props;
mod uploads;
