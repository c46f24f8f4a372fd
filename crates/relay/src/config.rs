//! The relay's settings: command-line flags, each also read from an `ORDERSYNC_*` environment
//! variable, checked once at start so a misconfiguration fails at once with the setting's name.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use ordersync_core::wire::{CiblerConfig, CitrusConfig};

use crate::client_address::{ClientAddressPolicy, ForwardedHeader, TrustedProxies};
use crate::outbox::Destination;

/// RFC 7518 §3.2: an HS256 key MUST be at least as long as the hash output, 256 bits.
pub const MIN_SIGNING_SECRET_BYTES: usize = 32;

/// A setting that is missing or wrong, named as the operator would type it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub problem: String,
}

fn refuse<T>(setting: &'static str, problem: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError {
        setting,
        problem: problem.into(),
    })
}

fn parse_duration(text: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(text)
}

/// Where the outbox lives.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Outbox database URL: `sqlite://PATH` (one relay; the file is created when missing) or
    /// `postgres://USER@HOST:PORT/DATABASE` (several relays sharing one database; the password
    /// may be in the URL or in `PGPASSWORD`).
    #[arg(
        long,
        env = "ORDERSYNC_DATABASE_URL",
        default_value = "sqlite://ordersync.db",
        hide_env_values = true
    )]
    pub database_url: String,
}

/// CibleR settings. CibleR is enabled when its API key or customer id is given.
#[derive(Debug, Clone, Args)]
pub struct CiblerArgs {
    /// CibleR base URL (QA: https://qa.cibler.io).
    #[arg(
        long,
        env = "ORDERSYNC_CIBLER_BASE_URL",
        default_value = "https://prod.cibler.io"
    )]
    pub cibler_base_url: String,
    /// CibleR customer id (the `{customerId}` path segment).
    #[arg(long, env = "ORDERSYNC_CIBLER_CUSTOMER_ID")]
    pub cibler_customer_id: Option<String>,
    /// CibleR API key (sent as `orderContext.key`). Secret.
    #[arg(long, env = "ORDERSYNC_CIBLER_API_KEY", hide_env_values = true)]
    pub cibler_api_key: Option<String>,
    /// CibleR site id (`orderContext.siteId`, an integer).
    #[arg(long, env = "ORDERSYNC_CIBLER_SITE_ID")]
    pub cibler_site_id: Option<String>,
    /// CibleR environment name (`orderContext.environnement`).
    #[arg(long, env = "ORDERSYNC_CIBLER_ENVIRONMENT", default_value = "Prod")]
    pub cibler_environment: String,
}

/// How the CitrusAd API key goes into `Authorization: Basic ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CitrusAuthScheme {
    /// `Basic <key>`, as CitrusAd's documentation shows.
    Raw,
    /// `Basic base64(<key>:)`, as some third-party descriptions say.
    Base64,
}

/// CitrusAd settings. CitrusAd is enabled when its API key is given.
#[derive(Debug, Clone, Args)]
pub struct CitrusArgs {
    /// CitrusAd base URL (it differs per region and for staging).
    #[arg(long, env = "ORDERSYNC_CITRUS_BASE_URL")]
    pub citrus_base_url: Option<String>,
    /// CitrusAd API key. Secret.
    #[arg(long, env = "ORDERSYNC_CITRUS_API_KEY", hide_env_values = true)]
    pub citrus_api_key: Option<String>,
    /// CitrusAd team id (`teamId` of each order).
    #[arg(long, env = "ORDERSYNC_CITRUS_TEAM_ID")]
    pub citrus_team_id: Option<String>,
    /// Catalog id for line items that carry none of their own.
    #[arg(long, env = "ORDERSYNC_CITRUS_CATALOG_ID")]
    pub citrus_catalog_id: Option<String>,
    /// Form of the `Authorization: Basic` header.
    #[arg(long, env = "ORDERSYNC_CITRUS_AUTH_SCHEME", value_enum, default_value_t = CitrusAuthScheme::Raw)]
    pub citrus_auth_scheme: CitrusAuthScheme,
}

/// Delivery timing. Tests and benchmarks shrink these; the logic stays the same.
#[derive(Debug, Clone, Args)]
pub struct DeliveryArgs {
    /// How long to keep retrying one order (from acceptance) before it goes dead.
    #[arg(long, env = "ORDERSYNC_RETRY_BUDGET", default_value = "24h", value_parser = parse_duration)]
    pub retry_budget: Duration,
    /// First backoff ceiling; doubles per attempt (full jitter: a random wait up to it).
    #[arg(long, env = "ORDERSYNC_BACKOFF_BASE", default_value = "1s", value_parser = parse_duration)]
    pub backoff_base: Duration,
    /// Largest backoff ceiling.
    #[arg(long, env = "ORDERSYNC_BACKOFF_CAP", default_value = "10m", value_parser = parse_duration)]
    pub backoff_cap: Duration,
    /// How long a CitrusAd worker waits for more orders to fill a batch.
    #[arg(long, env = "ORDERSYNC_BATCH_LINGER", default_value = "200ms", value_parser = parse_duration)]
    pub batch_linger: Duration,
    /// Most orders in one CitrusAd `POST /v1/orders` (at most 100).
    #[arg(long, env = "ORDERSYNC_CITRUS_BATCH_SIZE", default_value_t = 100)]
    pub citrus_batch_size: u32,
    /// Parallel CibleR requests.
    #[arg(long, env = "ORDERSYNC_CIBLER_CONCURRENCY", default_value_t = 8)]
    pub cibler_concurrency: u32,
    /// Parallel CitrusAd batches. One by default: a batch carries up to 100 orders, so one in
    /// flight keeps up with any shop unless the vendor is slow; more in flight also means more
    /// delivery work competing with hand-offs during a burst (BENCHMARKS.md, Delivery).
    #[arg(long, env = "ORDERSYNC_CITRUS_CONCURRENCY", default_value_t = 1)]
    pub citrus_concurrency: u32,
    /// How long a worker holds claimed rows; a crashed relay's rows are retried after it.
    #[arg(long, env = "ORDERSYNC_LEASE_DURATION", default_value = "60s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// How often idle workers look for due rows (new checkouts wake them at once).
    #[arg(long, env = "ORDERSYNC_POLL_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// Timeout of one vendor request.
    #[arg(long, env = "ORDERSYNC_VENDOR_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub vendor_timeout: Duration,
    /// Consecutive failed requests (network error, timeout, 429, 5xx) to one vendor after which
    /// its circuit opens: one order at a time is sent as a probe until the vendor answers, then
    /// every order waiting for it is due at once. 0: never open.
    #[arg(long, env = "ORDERSYNC_CIRCUIT_THRESHOLD", default_value_t = 5)]
    pub circuit_threshold: u32,
    /// Longest wait between two probes of an open circuit (the first waits --backoff-base or
    /// this, whichever is shorter; each failed probe doubles it).
    #[arg(long, env = "ORDERSYNC_CIRCUIT_PROBE_MAX", default_value = "30s", value_parser = parse_duration)]
    pub circuit_probe_max: Duration,
}

/// How long the outbox keeps what (crates/relay/README.md, "Retention"). Tests and benchmarks
/// shrink these; the logic stays the same.
#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// How long a finished order (delivered to every enabled destination, or given up with
    /// `dead-letters discard`) is kept after it finished; then it is removed and only its
    /// order id is remembered. Waiting and dead orders are never removed.
    #[arg(long, env = "ORDERSYNC_RETENTION", default_value = "30days", value_parser = parse_duration)]
    pub retention: Duration,
    /// How long the relay remembers an order id, from acceptance, so a repeat hand-off (a
    /// re-import, a late replay) is never delivered twice. At least --retention.
    #[arg(long, env = "ORDERSYNC_ORDER_ID_MEMORY", default_value = "400days", value_parser = parse_duration)]
    pub order_id_memory: Duration,
    /// How often the relay looks for orders to prune and order ids to forget.
    #[arg(long, env = "ORDERSYNC_PRUNE_INTERVAL", default_value = "10m", value_parser = parse_duration)]
    pub prune_interval: Duration,
}

/// Validated retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSettings {
    pub retention: Duration,
    pub order_id_memory: Duration,
    pub prune_interval: Duration,
}

impl RetentionArgs {
    pub fn validate(&self) -> Result<RetentionSettings, ConfigError> {
        for (value, setting) in [
            (self.retention, "--retention / ORDERSYNC_RETENTION"),
            (
                self.prune_interval,
                "--prune-interval / ORDERSYNC_PRUNE_INTERVAL",
            ),
        ] {
            if value.is_zero() {
                return refuse(setting, "must be greater than zero");
            }
        }
        if self.order_id_memory < self.retention {
            return refuse(
                "--order-id-memory / ORDERSYNC_ORDER_ID_MEMORY",
                "must not be shorter than --retention: an order id must be remembered at least \
                 as long as its order is kept",
            );
        }
        Ok(RetentionSettings {
            retention: self.retention,
            order_id_memory: self.order_id_memory,
            prune_interval: self.prune_interval,
        })
    }
}

/// Limits of the public HTTP endpoint.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "ORDERSYNC_MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,
    /// Sustained requests per minute allowed from one client address.
    #[arg(long, env = "ORDERSYNC_RATE_LIMIT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_per_minute: u32,
    /// Requests one client may send at once above the sustained rate.
    #[arg(long, env = "ORDERSYNC_RATE_LIMIT_BURST", default_value_t = 60)]
    pub rate_limit_burst: u32,
    /// Clock skew tolerated on a token's `exp`.
    #[arg(long, env = "ORDERSYNC_TOKEN_LEEWAY", default_value = "0s", value_parser = parse_duration)]
    pub token_leeway: Duration,
    /// Comma-separated addresses and CIDR ranges of the reverse proxies in front of the relay
    /// (`127.0.0.1,10.0.0.0/8`). From these peers the client's address is read from
    /// `--forwarded-header`; from any other peer that header is ignored. None by default.
    #[arg(long, env = "ORDERSYNC_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,
    /// The header the trusted proxies write the client's address into.
    #[arg(long, env = "ORDERSYNC_FORWARDED_HEADER", value_enum, default_value_t = ForwardedHeader::XForwardedFor)]
    pub forwarded_header: ForwardedHeader,
}

/// The operators' console (`/console`): off unless `--console` is given with a token file.
#[derive(Debug, Clone, Args)]
pub struct ConsoleArgs {
    /// Serve the operators' console at `/console` (needs `--console-token-file`). The
    /// variable takes `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`.
    #[arg(
        long,
        env = "ORDERSYNC_CONSOLE",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub console: bool,
    /// File holding the console's access token: at least 32 bytes of printable ASCII, one
    /// trailing newline ignored. Sent as `Authorization: Bearer <token>`, or typed once into
    /// the console's sign-in form. Secret.
    #[arg(long, env = "ORDERSYNC_CONSOLE_TOKEN_FILE")]
    pub console_token_file: Option<PathBuf>,
}

/// A console token must be at least this long: as long as the signing secret, so it cannot be
/// guessed (`head -c 32 /dev/urandom | base64` makes one).
pub const MIN_CONSOLE_TOKEN_BYTES: usize = 32;

/// The console, ready to serve.
#[derive(Clone)]
pub struct ConsoleSettings {
    pub token: String,
}

impl std::fmt::Debug for ConsoleSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleSettings")
            .field("token", &crate::redact::REDACTED)
            .finish()
    }
}

impl ConsoleArgs {
    /// `None` when the console is off. A token file without `--console` leaves it off.
    pub fn validate(&self) -> Result<Option<ConsoleSettings>, ConfigError> {
        const SETTING: &str = "--console-token-file / ORDERSYNC_CONSOLE_TOKEN_FILE";
        if !self.console {
            return Ok(None);
        }
        let Some(path) = &self.console_token_file else {
            return refuse(
                SETTING,
                "is required with --console: every console page asks for that token",
            );
        };
        let bytes = read_secret_file(path, SETTING)?;
        let Ok(token) = String::from_utf8(bytes) else {
            return refuse(SETTING, "must be printable ASCII");
        };
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return refuse(
                SETTING,
                "must be printable ASCII without spaces (it travels in an HTTP header)",
            );
        }
        if token.len() < MIN_CONSOLE_TOKEN_BYTES {
            return refuse(
                SETTING,
                format!(
                    "must be at least {MIN_CONSOLE_TOKEN_BYTES} bytes, too long to guess                      (e.g. `head -c 32 /dev/urandom | base64`)"
                ),
            );
        }
        Ok(Some(ConsoleSettings { token }))
    }
}

/// Reads a secret from a file; one trailing newline (`\n` or `\r\n`) is not part of it.
fn read_secret_file(path: &std::path::Path, setting: &'static str) -> Result<Vec<u8>, ConfigError> {
    let mut bytes = std::fs::read(path)
        .or_else(|e| refuse(setting, format!("cannot read {}: {e}", path.display())))?;
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
    Ok(bytes)
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Options of `ordersync-relay serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ORDERSYNC_LISTEN", default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Shared HS256 secret the shop signs checkouts with (at least 32 bytes). Secret.
    #[arg(long, env = "ORDERSYNC_SIGNING_SECRET", hide_env_values = true)]
    pub signing_secret: Option<String>,
    /// File holding the signing secret (one trailing newline is ignored).
    #[arg(
        long,
        env = "ORDERSYNC_SIGNING_SECRET_FILE",
        conflicts_with = "signing_secret"
    )]
    pub signing_secret_file: Option<PathBuf>,
    /// Also accept unsigned `{"checkout": ...}` hand-offs. For sandboxes and demos only:
    /// anyone could then report orders. A flag only, never read from the environment.
    #[arg(long)]
    pub accept_unsigned: bool,
    /// Comma-separated browser origins allowed to call the relay (CORS), e.g.
    /// `https://shop.example`; `*` allows any. Empty: same-origin only.
    #[arg(long, env = "ORDERSYNC_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    #[command(flatten)]
    pub cibler: CiblerArgs,
    #[command(flatten)]
    pub citrus: CitrusArgs,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub console: ConsoleArgs,
    /// Log format.
    #[arg(long, env = "ORDERSYNC_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// CibleR, ready to use.
#[derive(Debug, Clone)]
pub struct CiblerSettings {
    pub base_url: String,
    pub customer_id: String,
    pub order: CiblerConfig,
}

/// CitrusAd, ready to use.
#[derive(Debug, Clone)]
pub struct CitrusSettings {
    pub base_url: String,
    pub api_key: String,
    pub auth_scheme: CitrusAuthScheme,
    pub order: CitrusConfig,
}

/// Which browser origins may call the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    None,
    Any,
    List(Vec<String>),
}

/// Validated delivery timing.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub retry_budget: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub batch_linger: Duration,
    pub citrus_batch_size: u32,
    pub cibler_concurrency: u32,
    pub citrus_concurrency: u32,
    pub lease_duration: Duration,
    pub poll_interval: Duration,
    pub vendor_timeout: Duration,
    pub circuit_threshold: u32,
    pub circuit_probe_max: Duration,
}

/// Everything `serve` needs, checked.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub database_url: String,
    pub signing_secret: Option<Vec<u8>>,
    pub accept_unsigned: bool,
    pub allowed_origins: AllowedOrigins,
    pub cibler: Option<CiblerSettings>,
    pub citrus: Option<CitrusSettings>,
    pub delivery: DeliverySettings,
    pub retention: RetentionSettings,
    pub max_body_bytes: usize,
    pub rate_limit_per_minute: u32,
    pub rate_limit_burst: u32,
    pub token_leeway: Duration,
    pub client_addresses: ClientAddressPolicy,
    /// The operators' console, when it is on.
    pub console: Option<ConsoleSettings>,
}

impl ServeConfig {
    /// The destinations this relay delivers to.
    pub fn enabled_destinations(&self) -> Vec<Destination> {
        let mut enabled = Vec::with_capacity(Destination::ALL.len());
        if self.cibler.is_some() {
            enabled.push(Destination::Cibler);
        }
        if self.citrus.is_some() {
            enabled.push(Destination::Citrusad);
        }
        enabled
    }

    /// Every secret the relay holds, as configured (the forms they travel in are added by
    /// [`crate::redact::Redactor::for_config`]).
    pub fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(secret) = &self.signing_secret {
            out.push(String::from_utf8_lossy(secret).into_owned());
        }
        if let Some(cibler) = &self.cibler {
            out.push(cibler.order.key.clone());
        }
        out.extend(database_passwords(&self.database_url));
        if let Some(console) = &self.console {
            out.push(console.token.clone());
        }
        if let Some(citrus) = &self.citrus {
            out.push(citrus.api_key.clone());
        }
        out
    }
}

/// The destinations `cibler` and `citrus` enable, each checked; refused, with `none_enabled`
/// as the problem, when they enable neither.
pub fn destination_settings(
    cibler: &CiblerArgs,
    citrus: &CitrusArgs,
    none_enabled: &str,
) -> Result<(Option<CiblerSettings>, Option<CitrusSettings>), ConfigError> {
    let enabled = (cibler.validate()?, citrus.validate()?);
    if enabled.0.is_none() && enabled.1.is_none() {
        return refuse(
            "ORDERSYNC_CIBLER_API_KEY / ORDERSYNC_CITRUS_API_KEY",
            none_enabled,
        );
    }
    Ok(enabled)
}

impl ServeArgs {
    /// Checks every setting; the first problem found is named.
    pub fn validate(self) -> Result<ServeConfig, ConfigError> {
        let signing_secret = self.signing_secret()?;
        if signing_secret.is_none() && !self.accept_unsigned {
            return refuse(
                "--signing-secret / ORDERSYNC_SIGNING_SECRET",
                "is required (or --signing-secret-file; --accept-unsigned only for a sandbox)",
            );
        }
        let (cibler, citrus) = destination_settings(
            &self.cibler,
            &self.citrus,
            "no destination is configured: give the credentials of CibleR, CitrusAd or both",
        )?;
        let delivery = self.delivery.validate()?;
        let retention = self.retention.validate()?;
        if crate::outbox::Backend::of(&self.storage.database_url).is_err() {
            return refuse(
                "--database-url / ORDERSYNC_DATABASE_URL",
                "must be sqlite://PATH or postgres://USER@HOST:PORT/DATABASE",
            );
        }
        if self.http.max_body_bytes < 1024 {
            return refuse(
                "--max-body-bytes / ORDERSYNC_MAX_BODY_BYTES",
                "must be at least 1024",
            );
        }
        if self.http.rate_limit_per_minute == 0 || self.http.rate_limit_burst == 0 {
            return refuse(
                "--rate-limit-per-minute / --rate-limit-burst",
                "must be greater than zero",
            );
        }
        Ok(ServeConfig {
            listen: self.listen,
            database_url: self.storage.database_url,
            signing_secret,
            accept_unsigned: self.accept_unsigned,
            allowed_origins: allowed_origins(&self.allowed_origins)?,
            cibler,
            citrus,
            delivery,
            retention,
            max_body_bytes: self.http.max_body_bytes,
            rate_limit_per_minute: self.http.rate_limit_per_minute,
            rate_limit_burst: self.http.rate_limit_burst,
            token_leeway: self.http.token_leeway,
            client_addresses: ClientAddressPolicy::new(
                self.http.trusted_proxies,
                self.http.forwarded_header,
            ),
            console: self.console.validate()?,
        })
    }

    fn signing_secret(&self) -> Result<Option<Vec<u8>>, ConfigError> {
        let secret = match (&self.signing_secret, &self.signing_secret_file) {
            (Some(secret), _) => secret.as_bytes().to_vec(),
            (None, Some(path)) => read_secret_file(
                path,
                "--signing-secret-file / ORDERSYNC_SIGNING_SECRET_FILE",
            )?,
            (None, None) => return Ok(None),
        };
        if secret.len() < MIN_SIGNING_SECRET_BYTES {
            return refuse(
                "--signing-secret / ORDERSYNC_SIGNING_SECRET",
                "must be at least 32 bytes (RFC 7518 §3.2: an HS256 key is at least 256 bits)",
            );
        }
        Ok(Some(secret))
    }
}

impl CiblerArgs {
    pub fn validate(&self) -> Result<Option<CiblerSettings>, ConfigError> {
        let given = self.cibler_api_key.is_some()
            || self.cibler_customer_id.is_some()
            || self.cibler_site_id.is_some();
        if !given {
            return Ok(None);
        }
        let key = required(
            &self.cibler_api_key,
            "--cibler-api-key / ORDERSYNC_CIBLER_API_KEY",
            "CibleR",
        )?;
        let customer_id = required(
            &self.cibler_customer_id,
            "--cibler-customer-id / ORDERSYNC_CIBLER_CUSTOMER_ID",
            "CibleR",
        )?;
        let site_id_text = required(
            &self.cibler_site_id,
            "--cibler-site-id / ORDERSYNC_CIBLER_SITE_ID",
            "CibleR",
        )?;
        let site_id = site_id_text.trim().parse::<i64>().or_else(|_| {
            refuse(
                "--cibler-site-id / ORDERSYNC_CIBLER_SITE_ID",
                "must be an integer (CibleR's siteId)",
            )
        })?;
        let environment = non_blank(
            &self.cibler_environment,
            "--cibler-environment / ORDERSYNC_CIBLER_ENVIRONMENT",
        )?;
        Ok(Some(CiblerSettings {
            base_url: base_url(
                &self.cibler_base_url,
                "--cibler-base-url / ORDERSYNC_CIBLER_BASE_URL",
            )?,
            customer_id,
            order: CiblerConfig {
                key,
                environment,
                site_id,
            },
        }))
    }
}

impl CitrusArgs {
    pub fn validate(&self) -> Result<Option<CitrusSettings>, ConfigError> {
        let given = self.citrus_api_key.is_some()
            || self.citrus_team_id.is_some()
            || self.citrus_catalog_id.is_some();
        if !given {
            return Ok(None);
        }
        let api_key = required(
            &self.citrus_api_key,
            "--citrus-api-key / ORDERSYNC_CITRUS_API_KEY",
            "CitrusAd",
        )?;
        let base = required(
            &self.citrus_base_url,
            "--citrus-base-url / ORDERSYNC_CITRUS_BASE_URL",
            "CitrusAd",
        )?;
        let optional = |value: &Option<String>, setting| {
            value.as_deref().map(|v| non_blank(v, setting)).transpose()
        };
        Ok(Some(CitrusSettings {
            base_url: base_url(&base, "--citrus-base-url / ORDERSYNC_CITRUS_BASE_URL")?,
            api_key,
            auth_scheme: self.citrus_auth_scheme,
            order: CitrusConfig {
                team_id: optional(
                    &self.citrus_team_id,
                    "--citrus-team-id / ORDERSYNC_CITRUS_TEAM_ID",
                )?,
                catalog_id: optional(
                    &self.citrus_catalog_id,
                    "--citrus-catalog-id / ORDERSYNC_CITRUS_CATALOG_ID",
                )?,
            },
        }))
    }
}

impl DeliveryArgs {
    pub fn validate(&self) -> Result<DeliverySettings, ConfigError> {
        let positive = |value: Duration, setting: &'static str| {
            if value.is_zero() {
                refuse(setting, "must be greater than zero")
            } else {
                Ok(value)
            }
        };
        positive(self.retry_budget, "--retry-budget / ORDERSYNC_RETRY_BUDGET")?;
        positive(self.backoff_base, "--backoff-base / ORDERSYNC_BACKOFF_BASE")?;
        positive(
            self.poll_interval,
            "--poll-interval / ORDERSYNC_POLL_INTERVAL",
        )?;
        positive(
            self.vendor_timeout,
            "--vendor-timeout / ORDERSYNC_VENDOR_TIMEOUT",
        )?;
        if self.backoff_cap < self.backoff_base {
            return refuse(
                "--backoff-cap / ORDERSYNC_BACKOFF_CAP",
                "must not be smaller than --backoff-base",
            );
        }
        positive(
            self.circuit_probe_max,
            "--circuit-probe-max / ORDERSYNC_CIRCUIT_PROBE_MAX",
        )?;
        if !(1..=100).contains(&self.citrus_batch_size) {
            return refuse(
                "--citrus-batch-size / ORDERSYNC_CITRUS_BATCH_SIZE",
                "must be between 1 and 100 (CitrusAd takes at most 100 orders per request)",
            );
        }
        if !(1..=256).contains(&self.cibler_concurrency) {
            return refuse(
                "--cibler-concurrency / ORDERSYNC_CIBLER_CONCURRENCY",
                "must be between 1 and 256",
            );
        }
        if !(1..=64).contains(&self.citrus_concurrency) {
            return refuse(
                "--citrus-concurrency / ORDERSYNC_CITRUS_CONCURRENCY",
                "must be between 1 and 64",
            );
        }
        // A lease that can run out while a request is still in flight would let a second
        // worker send the same order again.
        if self.lease_duration <= self.vendor_timeout * 2 + self.batch_linger {
            return refuse(
                "--lease-duration / ORDERSYNC_LEASE_DURATION",
                "must be longer than twice --vendor-timeout plus --batch-linger",
            );
        }
        Ok(DeliverySettings {
            retry_budget: self.retry_budget,
            backoff_base: self.backoff_base,
            backoff_cap: self.backoff_cap,
            batch_linger: self.batch_linger,
            citrus_batch_size: self.citrus_batch_size,
            cibler_concurrency: self.cibler_concurrency,
            citrus_concurrency: self.citrus_concurrency,
            lease_duration: self.lease_duration,
            poll_interval: self.poll_interval,
            vendor_timeout: self.vendor_timeout,
            circuit_threshold: self.circuit_threshold,
            circuit_probe_max: self.circuit_probe_max,
        })
    }
}

/// The password in a database URL's user info, as written and percent-decoded (both are
/// redacted: an error message could quote either).
fn database_passwords(database_url: &str) -> Vec<String> {
    let Some(written) = reqwest::Url::parse(database_url)
        .ok()
        .and_then(|url| url.password().map(str::to_owned))
        .filter(|password| !password.is_empty())
    else {
        return Vec::new();
    };
    let decoded = percent_encoding::percent_decode_str(&written)
        .decode_utf8_lossy()
        .into_owned();
    if decoded == written {
        vec![written]
    } else {
        vec![written, decoded]
    }
}

fn required(
    value: &Option<String>,
    setting: &'static str,
    vendor: &str,
) -> Result<String, ConfigError> {
    match value {
        Some(v) => non_blank(v, setting),
        None => refuse(
            setting,
            format!("is required when other {vendor} settings are given"),
        ),
    }
}

fn non_blank(value: &str, setting: &'static str) -> Result<String, ConfigError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return refuse(setting, "must not be empty");
    }
    Ok(trimmed.to_owned())
}

/// An absolute http(s) URL without a trailing slash.
fn base_url(value: &str, setting: &'static str) -> Result<String, ConfigError> {
    let trimmed = value.trim().trim_end_matches('/');
    ordersync_core::third_o::check_base_url(trimmed)
        .map(str::to_owned)
        .or_else(|e| refuse(setting, e.message()))
}

fn allowed_origins(values: &[String]) -> Result<AllowedOrigins, ConfigError> {
    const SETTING: &str = "--allowed-origins / ORDERSYNC_ALLOWED_ORIGINS";
    let origins: Vec<&str> = values
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .collect();
    if origins.is_empty() {
        return Ok(AllowedOrigins::None);
    }
    if origins.contains(&"*") {
        return Ok(AllowedOrigins::Any);
    }
    let mut list = Vec::with_capacity(origins.len());
    for origin in origins {
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains('/') => list.push(origin.to_owned()),
            _ => {
                return refuse(
                    SETTING,
                    format!("{origin:?} is not an origin like https://shop.example[:port]"),
                )
            }
        }
    }
    Ok(AllowedOrigins::List(list))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Harness {
        #[command(flatten)]
        serve: ServeArgs,
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn parse(args: &[&str]) -> Result<ServeConfig, ConfigError> {
        let mut argv = vec!["relay"];
        argv.extend_from_slice(args);
        Harness::try_parse_from(argv)
            .expect("arguments parse")
            .serve
            .validate()
    }

    fn cibler() -> Vec<&'static str> {
        vec![
            "--cibler-api-key",
            "k-1234",
            "--cibler-customer-id",
            "c1",
            "--cibler-site-id",
            "13",
        ]
    }

    #[test]
    fn a_complete_cibler_only_configuration_is_accepted() {
        let mut args = vec!["--signing-secret", SECRET];
        args.extend(cibler());
        let config = parse(&args).unwrap();
        let cibler = config.cibler.unwrap();
        assert_eq!(cibler.base_url, "https://prod.cibler.io");
        assert_eq!(cibler.order.site_id, 13);
        assert_eq!(cibler.order.environment, "Prod");
        assert!(config.citrus.is_none());
        assert_eq!(config.allowed_origins, AllowedOrigins::None);
    }

    #[test]
    fn a_postgres_url_is_accepted_and_its_password_is_a_secret() {
        let mut args = vec![
            "--signing-secret",
            SECRET,
            "--database-url",
            "postgres://relay:p%40ss-w0rd@db.internal:5432/ordersync",
        ];
        args.extend(cibler());
        let config = parse(&args).unwrap();
        let secrets = config.secrets();
        assert!(secrets.contains(&"p%40ss-w0rd".to_owned()));
        assert!(secrets.contains(&"p@ss-w0rd".to_owned()));
    }

    #[test]
    fn an_unknown_database_scheme_is_named_without_the_url() {
        let mut args = vec![
            "--signing-secret",
            SECRET,
            "--database-url",
            "mysql://root:hunter2@db/x",
        ];
        args.extend(cibler());
        let err = parse(&args).unwrap_err();
        assert_eq!(err.setting, "--database-url / ORDERSYNC_DATABASE_URL");
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn missing_secret_is_named() {
        let err = parse(&cibler()).unwrap_err();
        assert_eq!(err.setting, "--signing-secret / ORDERSYNC_SIGNING_SECRET");
    }

    #[test]
    fn unsigned_mode_needs_no_secret() {
        let mut args = vec!["--accept-unsigned"];
        args.extend(cibler());
        let config = parse(&args).unwrap();
        assert!(config.accept_unsigned && config.signing_secret.is_none());
    }

    #[test]
    fn short_secret_is_refused() {
        let mut args = vec!["--signing-secret", "short"];
        args.extend(cibler());
        let err = parse(&args).unwrap_err();
        assert!(err.problem.contains("32 bytes"), "{err}");
    }

    #[test]
    fn secret_file_drops_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, format!("{SECRET}\n")).unwrap();
        let mut args = vec!["--signing-secret-file", path.to_str().unwrap()];
        args.extend(cibler());
        let config = parse(&args).unwrap();
        assert_eq!(config.signing_secret.unwrap(), SECRET.as_bytes());
    }

    #[test]
    fn the_console_is_off_by_default_and_needs_a_long_token_from_a_file() {
        assert!(parse(&cibler_signed()).unwrap().console.is_none());
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.to_str().unwrap().to_owned()
        };
        let with = |extra: &[&str]| {
            let mut args = cibler_signed();
            args.extend_from_slice(extra);
            parse(&args)
        };
        // A token file alone does not turn it on.
        let good = write("good", &format!("{SECRET}\n"));
        assert!(with(&["--console-token-file", &good])
            .unwrap()
            .console
            .is_none());
        let on = with(&["--console", "--console-token-file", &good]).unwrap();
        assert_eq!(on.console.as_ref().unwrap().token, SECRET);
        assert!(
            on.secrets().contains(&SECRET.to_owned()),
            "redacted from logs"
        );
        assert!(
            !format!("{:?}", on.console).contains(SECRET),
            "never in Debug"
        );
        let setting = "--console-token-file / ORDERSYNC_CONSOLE_TOKEN_FILE";
        let refused = |extra: &[&str], reason: &str| {
            let err = with(extra).unwrap_err();
            assert_eq!(err.setting, setting);
            assert!(err.problem.contains(reason), "{err}");
        };
        refused(&["--console"], "is required with --console");
        let short = write("short", "0123456789abcdef0123456789abcde");
        refused(
            &["--console", "--console-token-file", &short],
            "at least 32 bytes",
        );
        let spaced = write("spaced", &format!("{SECRET} {SECRET}"));
        refused(
            &["--console", "--console-token-file", &spaced],
            "without spaces",
        );
        let missing = dir.path().join("missing");
        refused(
            &[
                "--console",
                "--console-token-file",
                missing.to_str().unwrap(),
            ],
            "cannot read",
        );
    }

    fn cibler_signed() -> Vec<&'static str> {
        let mut args = vec!["--signing-secret", SECRET];
        args.extend(cibler());
        args
    }

    #[test]
    fn partial_vendor_settings_name_the_missing_one() {
        let err = parse(&[
            "--signing-secret",
            SECRET,
            "--cibler-api-key",
            "k-1234",
            "--cibler-customer-id",
            "c1",
        ])
        .unwrap_err();
        assert_eq!(err.setting, "--cibler-site-id / ORDERSYNC_CIBLER_SITE_ID");
        let err = parse(&["--signing-secret", SECRET, "--citrus-api-key", "abcd"]).unwrap_err();
        assert_eq!(err.setting, "--citrus-base-url / ORDERSYNC_CITRUS_BASE_URL");
        let mut args = vec!["--signing-secret", SECRET, "--cibler-site-id", "x13"];
        args.extend(&cibler()[..4]);
        assert_eq!(
            parse(&args).unwrap_err().setting,
            "--cibler-site-id / ORDERSYNC_CIBLER_SITE_ID"
        );
    }

    #[test]
    fn request_concurrency_is_bounded_and_named() {
        let with = |flag: &'static str, value: &'static str| {
            let mut args = vec!["--signing-secret", SECRET, flag, value];
            args.extend(cibler());
            parse(&args)
        };
        let config = with("--citrus-concurrency", "2").unwrap();
        assert_eq!(config.delivery.citrus_concurrency, 2);
        assert_eq!(config.delivery.cibler_concurrency, 8);
        let defaults = with("--cibler-concurrency", "8").unwrap();
        assert_eq!(defaults.delivery.citrus_concurrency, 1);
        for (flag, too_many) in [
            ("--citrus-concurrency", "65"),
            ("--cibler-concurrency", "257"),
        ] {
            for value in ["0", too_many] {
                let err = with(flag, value).unwrap_err();
                assert!(err.setting.starts_with(flag), "{flag} {value}: {err}");
            }
        }
    }

    #[test]
    fn no_destination_at_all_is_refused() {
        let err = parse(&["--signing-secret", SECRET]).unwrap_err();
        assert!(err.problem.contains("no destination"), "{err}");
    }

    #[test]
    fn citrus_settings_are_checked() {
        let config = parse(&[
            "--signing-secret",
            SECRET,
            "--citrus-api-key",
            "abcd",
            "--citrus-base-url",
            "http://127.0.0.1:9/",
            "--citrus-team-id",
            "team",
            "--citrus-auth-scheme",
            "base64",
        ])
        .unwrap();
        let citrus = config.citrus.unwrap();
        assert_eq!(citrus.base_url, "http://127.0.0.1:9");
        assert_eq!(citrus.auth_scheme, CitrusAuthScheme::Base64);
        assert_eq!(citrus.order.team_id.as_deref(), Some("team"));
        let err = parse(&[
            "--signing-secret",
            SECRET,
            "--citrus-api-key",
            "abcd",
            "--citrus-base-url",
            "ftp://x",
        ])
        .unwrap_err();
        assert_eq!(err.setting, "--citrus-base-url / ORDERSYNC_CITRUS_BASE_URL");
    }

    #[test]
    fn timing_knobs_are_checked() {
        let mut args = vec!["--signing-secret", SECRET, "--lease-duration", "5s"];
        args.extend(cibler());
        let err = parse(&args).unwrap_err();
        assert_eq!(err.setting, "--lease-duration / ORDERSYNC_LEASE_DURATION");
        let mut args = vec![
            "--signing-secret",
            SECRET,
            "--backoff-base",
            "2s",
            "--backoff-cap",
            "1s",
        ];
        args.extend(cibler());
        assert_eq!(
            parse(&args).unwrap_err().setting,
            "--backoff-cap / ORDERSYNC_BACKOFF_CAP"
        );
        let mut args = vec!["--signing-secret", SECRET, "--citrus-batch-size", "101"];
        args.extend(cibler());
        assert!(parse(&args).is_err());
    }

    #[test]
    fn retention_defaults_and_its_bounds() {
        let mut args = vec!["--signing-secret", SECRET];
        args.extend(cibler());
        let defaults = parse(&args).unwrap().retention;
        assert_eq!(defaults.retention, Duration::from_secs(30 * 86_400));
        assert_eq!(defaults.order_id_memory, Duration::from_secs(400 * 86_400));
        let with = |extra: &[&'static str]| {
            let mut args = vec!["--signing-secret", SECRET];
            args.extend(cibler());
            args.extend_from_slice(extra);
            parse(&args)
        };
        let short = with(&["--retention", "1s", "--order-id-memory", "1h"]).unwrap();
        assert_eq!(short.retention.retention, Duration::from_secs(1));
        let err = with(&["--retention", "500days"]).unwrap_err();
        assert_eq!(err.setting, "--order-id-memory / ORDERSYNC_ORDER_ID_MEMORY");
        let err = with(&["--retention", "0s"]).unwrap_err();
        assert_eq!(err.setting, "--retention / ORDERSYNC_RETENTION");
        let err = with(&["--prune-interval", "0s"]).unwrap_err();
        assert_eq!(err.setting, "--prune-interval / ORDERSYNC_PRUNE_INTERVAL");
    }

    #[test]
    fn origins_are_checked() {
        let mut args = vec![
            "--signing-secret",
            SECRET,
            "--allowed-origins",
            "https://shop.example,http://localhost:3000",
        ];
        args.extend(cibler());
        assert_eq!(
            parse(&args).unwrap().allowed_origins,
            AllowedOrigins::List(vec![
                "https://shop.example".into(),
                "http://localhost:3000".into()
            ])
        );
        let mut args = vec![
            "--signing-secret",
            SECRET,
            "--allowed-origins",
            "https://shop.example/path",
        ];
        args.extend(cibler());
        assert!(parse(&args).is_err());
    }

    #[test]
    fn trusted_proxies_take_addresses_and_ranges_and_name_a_bad_one() {
        let mut args = vec![
            "--signing-secret",
            SECRET,
            "--trusted-proxies",
            "127.0.0.1, 10.0.0.0/8,::1",
            "--forwarded-header",
            "forwarded",
        ];
        args.extend(cibler());
        let clients = parse(&args).unwrap().client_addresses;
        assert!(clients.trusts_any_proxy());
        assert_eq!(clients.header(), ForwardedHeader::Forwarded);

        let mut argv = vec!["relay", "--trusted-proxies", "127.0.0.1,nginx"];
        argv.extend(cibler());
        let refused = Harness::try_parse_from(argv).unwrap_err().to_string();
        assert!(
            refused.contains("--trusted-proxies") && refused.contains("`nginx`"),
            "{refused}"
        );

        let mut args = vec!["--signing-secret", SECRET];
        args.extend(cibler());
        let clients = parse(&args).unwrap().client_addresses;
        assert!(!clients.trusts_any_proxy(), "none by default");
        assert_eq!(clients.header(), ForwardedHeader::XForwardedFor);
    }

    #[test]
    fn the_relays_redactor_blanks_the_citrus_key_in_both_forms() {
        let key = "citrus-key-0123456789";
        let config = parse(&[
            "--signing-secret",
            SECRET,
            "--citrus-api-key",
            key,
            "--citrus-base-url",
            "http://127.0.0.1:9/",
            "--citrus-team-id",
            "team",
        ])
        .unwrap();
        let redactor = crate::redact::Redactor::for_config(&config);
        let encoded = crate::vendors::citrus::authorization_value(key, CitrusAuthScheme::Base64);
        let echoed = format!("raw {key}, encoded {encoded}, secret {SECRET}");
        let redacted = redactor.redact(&echoed);
        assert!(
            !redacted.contains(key) && !redacted.contains(&encoded),
            "{redacted}"
        );
        assert!(!redacted.contains(SECRET), "{redacted}");
    }
}
