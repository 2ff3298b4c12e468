//! One integration test binary (faster to link than one per file), with
//! shared helpers. Every test uses a real SQLite file in a temp dir.

mod helpers;

mod access;
mod bench_soak;
mod cli;
mod compare;
mod contract;
mod experiments;
mod harness_replay;
mod import_folder;
mod import_log;
mod layers;
mod packaging;
mod paging;
mod protocol_props;
mod pyramid_props;
mod restart;
mod scenarios;
mod server;
mod sim_twin;
mod soak;
mod summary_props;
