//! A local stand-in for both vendors (CibleR and CitrusAd), as strict as the seed documents.

/// Options of `ordersync-relay sandbox`.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "ORDERSYNC_SANDBOX_LISTEN",
        default_value = "127.0.0.1:8788"
    )]
    pub listen: std::net::SocketAddr,
}

pub async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    anyhow::bail!("sandbox on {} is not built yet", args.listen)
}
