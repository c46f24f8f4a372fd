//! The `ordersync-relay` command line. Errors get their context here, at the binary's edge.

use std::io::IsTerminal;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ordersync_relay::app;
use ordersync_relay::config::{CitrusArgs, DeliveryArgs, LogFormat, ServeArgs, StorageArgs};
use ordersync_relay::import::ImportArgs;
use ordersync_relay::outbox::DeadLetterAction;
use ordersync_relay::outbox::Destination;

// Each hand-off allocates and frees many short-lived buffers (body, claims, JSON, SQL
// parameters) across threads; glibc's malloc was ~9 % of the relay's CPU in the ingest profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Run the relay: accept signed checkouts and deliver them to CibleR and CitrusAd.
    Serve(Box<ServeArgs>),
    /// Ask CitrusAd what it holds for an order (GET /v1/orders/{id}), beside the relay's status.
    Verify(Box<VerifyArgs>),
    /// List, retry or discard deliveries a vendor refused or that ran out of retry budget.
    #[command(subcommand)]
    DeadLetters(DeadLettersCommand),
    /// Reconcile from the shop's own records: store for delivery the orders of a JSON Lines
    /// file (one checkout per line) that the relay does not know yet. Runs beside `serve`.
    /// Exits with 2 when some lines were refused (they are in the refusals file).
    Import(Box<ImportArgs>),
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// The shop's order id.
    order_id: String,
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    citrus: CitrusArgs,
    #[command(flatten)]
    delivery: DeliveryArgs,
}

#[derive(Debug, Subcommand)]
enum DeadLettersCommand {
    /// Print dead deliveries with the vendor's answer.
    List {
        #[command(flatten)]
        storage: StorageArgs,
        /// Most rows to print.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Queue dead deliveries again with a fresh retry budget (all, or narrowed).
    Retry(DeadLetterSelection),
    /// Give dead deliveries up (all, or narrowed): they become `skipped` and are never sent;
    /// the order is then pruned at the retention and its id remembered, so a repeat hand-off
    /// does not send it either.
    Discard(DeadLetterSelection),
}

/// Which dead deliveries `dead-letters retry` or `discard` takes.
#[derive(Debug, clap::Args)]
struct DeadLetterSelection {
    #[command(flatten)]
    storage: StorageArgs,
    /// Only this order.
    order_id: Option<String>,
    /// Only this destination (cibler or citrusad).
    #[arg(long, value_parser = parse_destination)]
    destination: Option<Destination>,
    /// Required to take every dead delivery when neither an order id nor a destination is given.
    #[arg(long)]
    all: bool,
}

impl DeadLetterSelection {
    /// Runs `action` on the selected dead deliveries; refuses an empty selection without --all.
    async fn act(
        self,
        action: DeadLetterAction,
        out: &mut impl std::io::Write,
    ) -> anyhow::Result<()> {
        let command = action.command();
        if self.order_id.is_none() && self.destination.is_none() && !self.all {
            anyhow::bail!("dead-letters {command}: give an ORDER_ID, --destination, or --all");
        }
        app::dead_letters_act(
            &self.storage,
            action,
            self.order_id.as_deref(),
            self.destination,
            out,
        )
        .await
        .with_context(|| format!("dead-letters {command} failed"))?;
        Ok(())
    }
}

/// `import`'s exit status when it ran through but refused some lines.
const EXIT_SOME_REFUSED: i32 = 2;

fn parse_destination(text: &str) -> Result<Destination, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not a destination (cibler, citrusad)"))
}

/// The most bytes of log lines written to stderr at once: `PIPE_BUF` on Linux, the largest
/// write to a pipe that POSIX keeps whole, so lines from another writer to the same pipe can
/// fall between two writes but never inside a line (of up to that size).
const LOG_WRITE_BYTES: usize = 4096;

/// Log lines go to stderr from a thread of their own (`tracing_appender::non_blocking`): a
/// hand-off or a delivery never waits for a write to stderr, which can block (a full pipe, or
/// the kernel throttling a process that fills the page cache, as a log file growing by tens of
/// MB a minute does while vendors refuse every attempt). Up to 128,000 lines wait for that
/// thread; beyond, new lines are dropped rather than stall the relay. Colours only on a
/// terminal. The guard flushes the waiting lines when `main` returns.
///
/// That thread takes every line waiting and flushes once they are all written, so a buffer
/// turns a burst of lines into one `write` where stderr alone makes one per line (about 1.2
/// per hand-off at half load while vendors refuse). [`LOG_WRITE_BYTES`] keeps each `write`
/// atomic on a pipe.
fn init_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,hyper=warn,reqwest=warn".into());
    let stderr = std::io::BufWriter::with_capacity(LOG_WRITE_BYTES, std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking(stderr);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    guard
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let log_format = match &cli.command {
        Command::Serve(args) => args.log_format,
        _ => LogFormat::Text,
    };
    let _logs_flushed_at_exit = init_logging(log_format);
    let mut stdout = std::io::stdout();
    match cli.command {
        Command::Serve(args) => {
            let config = args.validate().context("invalid configuration")?;
            app::serve(config)
                .await
                .context("the relay stopped on an error")?;
        }
        Command::Verify(args) => {
            app::verify(
                &args.order_id,
                &args.storage,
                &args.citrus,
                &args.delivery,
                &mut stdout,
            )
            .await
            .context("verify failed")?;
        }
        Command::DeadLetters(DeadLettersCommand::List {
            storage,
            limit,
            json,
        }) => {
            app::dead_letters_list(&storage, limit, json, &mut stdout)
                .await
                .context("listing dead letters failed")?;
        }
        Command::DeadLetters(DeadLettersCommand::Retry(selection)) => {
            selection.act(DeadLetterAction::Retry, &mut stdout).await?;
        }
        Command::DeadLetters(DeadLettersCommand::Discard(selection)) => {
            selection
                .act(DeadLetterAction::Discard, &mut stdout)
                .await?;
        }
        Command::Import(args) => {
            let summary = ordersync_relay::import::run(&args, &mut stdout)
                .await
                .context("import failed")?;
            if summary.refused > 0 {
                use std::io::Write;
                stdout.flush().context("writing the summary")?;
                drop(_logs_flushed_at_exit);
                std::process::exit(EXIT_SOME_REFUSED);
            }
        }
    }
    Ok(())
}
