//! heaplab: a memory lab for ESP32 firmware teams.
//!
//! The crate is laid out along the data flow (see `docs/architecture.md`):
//! `protocol` (pure parsing) → `recorder` (the one writer) → `store`
//! (SQLite) → `analysis` (pure metrics) → `report` / `cli` (readers).
//! `harness` reads and writes the Python harness's artifact folders.

pub mod agent;
pub mod analysis;
pub mod charts;
pub mod cli;
pub mod config;
pub mod demo;
pub mod experiments;
pub mod flash;
pub mod harness;
pub mod ingest;
pub mod protocol;
pub mod recorder;
pub mod report;
pub mod scenario;
pub mod server;
pub mod sim;
pub mod soak;
pub mod store;
pub mod tls;
pub mod units;
pub mod web;
