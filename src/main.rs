//! The `tollgate` binary: see `server::cli` for its commands.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tollgate::server::cli::main().await
}
