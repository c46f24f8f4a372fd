//! The `ordersync-sandbox` command line: CibleR and CitrusAd played locally, strictly, for the
//! tests, the demo and the benchmarks. Errors get their context here, at the binary's edge.

use clap::Parser;
use ordersync_sandbox::SandboxArgs;

#[derive(Debug, Parser)]
#[command(
    name = "ordersync-sandbox",
    version,
    about = "Play both vendors (CibleR and CitrusAd) locally, strictly, for tests and demos"
)]
struct Cli {
    #[command(flatten)]
    args: SandboxArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,hyper=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    ordersync_sandbox::run(cli.args).await
}
