use std::ffi::{c_int, c_long};
use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: rows are built on one thread and
/// freed on the writer's, and glibc spent a quarter of a week-long import
/// consolidating those frees (see the README's performance table).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in the `mi_option_e` enum of the mimalloc v2
/// header that libmimalloc-sys 0.1.49 builds (its Rust bindings leave this
/// option out).
const MI_OPTION_PURGE_DELAY: c_int = 15;

extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
}

#[tokio::main]
async fn main() -> ExitCode {
    // Return freed pages to the OS at once instead of after 10 ms: a
    // week-long import otherwise peaks 40 MB higher for no speed gained.
    // MIMALLOC_PURGE_DELAY in the environment still wins.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option; mimalloc reads it on each purge.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
    // Before any HTTP client is built (src/tls.rs says why).
    heaplab::tls::install_crypto_provider();
    heaplab::cli::main().await
}
