use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    heaplab::cli::main().await
}
