//! The `ordersync-relay` command line. Errors get their context here, at the binary's edge.

use clap::{Parser, Subcommand};
use ordersync_relay::sandbox::{self, SandboxArgs};

#[derive(Debug, Parser)]
#[command(
    name = "ordersync-relay",
    version,
    about = "Verified, durable delivery of shop orders to CibleR and CitrusAd"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Play both vendors (CibleR and CitrusAd) locally, strictly, for tests and demos.
    Sandbox(SandboxArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Sandbox(args) => sandbox::run(args).await,
    }
}
