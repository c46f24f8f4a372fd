//! The relay's settings: command-line flags, each also read from an `ORDERSYNC_*` environment
//! variable. Each value is parsed into its type by clap (the parsers are in [`values`]), so a
//! wrong one fails at start with the setting's name; the rules that tie several settings
//! together are checked once after, by each group's `validate`.

mod setting;
mod values;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::builder::{BoolishValueParser, EnumValueParser};
use clap::{Args, ValueEnum};
use ordersync_core::wire::{CiblerConfig, CitrusConfig};

use crate::client_address::{ClientAddressPolicy, ForwardedHeader, TrustedProxies};
use crate::outbox::Destination;
pub use setting::{name_of, named, ConfigError, Named};
pub use values::{AllowedOrigins, BaseUrl, DatabaseUrl};

/// RFC 7518 §3.2: an HS256 key MUST be at least as long as the hash output, 256 bits.
pub const MIN_SIGNING_SECRET_BYTES: usize = 32;

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
        hide_env_values = true,
        value_parser = named(values::database_url)
    )]
    pub database_url: DatabaseUrl,
}

/// CibleR settings. CibleR is enabled when its API key or customer id is given.
#[derive(Debug, Clone, Args)]
pub struct CiblerArgs {
    /// CibleR base URL (QA: https://qa.cibler.io).
    #[arg(
        long,
        env = "ORDERSYNC_CIBLER_BASE_URL",
        default_value = "https://prod.cibler.io",
        value_parser = named(str::parse::<BaseUrl>)
    )]
    pub cibler_base_url: BaseUrl,
    /// CibleR customer id (the `{customerId}` path segment).
    #[arg(long, env = "ORDERSYNC_CIBLER_CUSTOMER_ID", value_parser = named(values::non_blank))]
    pub cibler_customer_id: Option<String>,
    /// CibleR API key (sent as `orderContext.key`). Secret.
    #[arg(
        long,
        env = "ORDERSYNC_CIBLER_API_KEY",
        hide_env_values = true,
        value_parser = named(values::non_blank)
    )]
    pub cibler_api_key: Option<String>,
    /// CibleR site id (`orderContext.siteId`, an integer).
    #[arg(long, env = "ORDERSYNC_CIBLER_SITE_ID", value_parser = named(values::site_id))]
    pub cibler_site_id: Option<i64>,
    /// CibleR environment name (`orderContext.environnement`).
    #[arg(
        long,
        env = "ORDERSYNC_CIBLER_ENVIRONMENT",
        default_value = "Prod",
        value_parser = named(values::non_blank)
    )]
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
    #[arg(long, env = "ORDERSYNC_CITRUS_BASE_URL", value_parser = named(str::parse::<BaseUrl>))]
    pub citrus_base_url: Option<BaseUrl>,
    /// CitrusAd API key. Secret.
    #[arg(
        long,
        env = "ORDERSYNC_CITRUS_API_KEY",
        hide_env_values = true,
        value_parser = named(values::non_blank)
    )]
    pub citrus_api_key: Option<String>,
    /// CitrusAd team id (`teamId` of each order).
    #[arg(long, env = "ORDERSYNC_CITRUS_TEAM_ID", value_parser = named(values::non_blank))]
    pub citrus_team_id: Option<String>,
    /// Catalog id for line items that carry none of their own.
    #[arg(long, env = "ORDERSYNC_CITRUS_CATALOG_ID", value_parser = named(values::non_blank))]
    pub citrus_catalog_id: Option<String>,
    /// Form of the `Authorization: Basic` header.
    #[arg(
        long,
        env = "ORDERSYNC_CITRUS_AUTH_SCHEME",
        value_enum,
        value_parser = named(EnumValueParser::<CitrusAuthScheme>::new()),
        default_value_t = CitrusAuthScheme::Raw
    )]
    pub citrus_auth_scheme: CitrusAuthScheme,
}

/// Delivery timing. Tests and benchmarks shrink these; the logic stays the same.
#[derive(Debug, Clone, Args)]
pub struct DeliveryArgs {
    /// How long to keep retrying one order (from acceptance) before it goes dead.
    #[arg(long, env = "ORDERSYNC_RETRY_BUDGET", default_value = "24h", value_parser = named(values::positive_duration))]
    pub retry_budget: Duration,
    /// First backoff ceiling; doubles per attempt (full jitter: a random wait up to it).
    #[arg(long, env = "ORDERSYNC_BACKOFF_BASE", default_value = "1s", value_parser = named(values::positive_duration))]
    pub backoff_base: Duration,
    /// Largest backoff ceiling.
    #[arg(long, env = "ORDERSYNC_BACKOFF_CAP", default_value = "10m", value_parser = named(values::duration))]
    pub backoff_cap: Duration,
    /// How long a CitrusAd worker waits for more orders to fill a batch.
    #[arg(long, env = "ORDERSYNC_BATCH_LINGER", default_value = "200ms", value_parser = named(values::duration))]
    pub batch_linger: Duration,
    /// Most orders in one CitrusAd `POST /v1/orders` (at most 100).
    #[arg(long, env = "ORDERSYNC_CITRUS_BATCH_SIZE", default_value = "100", value_parser = named(values::citrus_batch_size))]
    pub citrus_batch_size: NonZeroU32,
    /// Parallel CibleR requests.
    #[arg(long, env = "ORDERSYNC_CIBLER_CONCURRENCY", default_value = "8", value_parser = named(values::cibler_concurrency))]
    pub cibler_concurrency: NonZeroU32,
    /// Parallel CitrusAd batches. One by default: a batch carries up to 100 orders, so one in
    /// flight keeps up with any shop unless the vendor is slow; more in flight also means more
    /// delivery work competing with hand-offs during a burst (BENCHMARKS.md, Delivery).
    #[arg(long, env = "ORDERSYNC_CITRUS_CONCURRENCY", default_value = "1", value_parser = named(values::citrus_concurrency))]
    pub citrus_concurrency: NonZeroU32,
    /// How long a worker holds claimed rows; a crashed relay's rows are retried after it.
    #[arg(long, env = "ORDERSYNC_LEASE_DURATION", default_value = "60s", value_parser = named(values::duration))]
    pub lease_duration: Duration,
    /// How often idle workers look for due rows (new checkouts wake them at once).
    #[arg(long, env = "ORDERSYNC_POLL_INTERVAL", default_value = "1s", value_parser = named(values::positive_duration))]
    pub poll_interval: Duration,
    /// Timeout of one vendor request.
    #[arg(long, env = "ORDERSYNC_VENDOR_TIMEOUT", default_value = "10s", value_parser = named(values::positive_duration))]
    pub vendor_timeout: Duration,
    /// Consecutive failed requests (network error, timeout, 429, 5xx) to one vendor after which
    /// its circuit opens: one order at a time is sent as a probe until the vendor answers, then
    /// every order waiting for it is due at once. 0: never open.
    #[arg(long, env = "ORDERSYNC_CIRCUIT_THRESHOLD", default_value = "5", value_parser = named(values::whole_number))]
    pub circuit_threshold: u32,
    /// Longest wait between two probes of an open circuit (the first waits --backoff-base or
    /// this, whichever is shorter; each failed probe doubles it).
    #[arg(long, env = "ORDERSYNC_CIRCUIT_PROBE_MAX", default_value = "30s", value_parser = named(values::positive_duration))]
    pub circuit_probe_max: Duration,
}

/// How long the outbox keeps what (crates/relay/README.md, "Retention"). Tests and benchmarks
/// shrink these; the logic stays the same.
#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// How long a finished order (delivered to every enabled destination, or given up with
    /// `dead-letters discard`) is kept after it finished; then it is removed and only its
    /// order id is remembered. Waiting and dead orders are never removed.
    #[arg(long, env = "ORDERSYNC_RETENTION", default_value = "30days", value_parser = named(values::positive_duration))]
    pub retention: Duration,
    /// How long the relay remembers an order id, from acceptance, so a repeat hand-off (a
    /// re-import, a late replay) is never delivered twice. At least --retention.
    #[arg(long, env = "ORDERSYNC_ORDER_ID_MEMORY", default_value = "400days", value_parser = named(values::duration))]
    pub order_id_memory: Duration,
    /// How often the relay looks for orders to prune and order ids to forget.
    #[arg(long, env = "ORDERSYNC_PRUNE_INTERVAL", default_value = "10m", value_parser = named(values::positive_duration))]
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
        if self.order_id_memory < self.retention {
            return Err(ConfigError::of::<Self>(
                "order_id_memory",
                "must not be shorter than --retention: an order id must be remembered at least \
                 as long as its order is kept",
            ));
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
    /// Largest accepted request body, in bytes (at least 1024).
    #[arg(long, env = "ORDERSYNC_MAX_BODY_BYTES", default_value = "1048576", value_parser = named(values::body_bytes))]
    pub max_body_bytes: usize,
    /// Sustained requests per minute allowed from one client address.
    #[arg(long, env = "ORDERSYNC_RATE_LIMIT_PER_MINUTE", default_value = "600", value_parser = named(values::positive_count))]
    pub rate_limit_per_minute: NonZeroU32,
    /// Requests one client may send at once above the sustained rate.
    #[arg(long, env = "ORDERSYNC_RATE_LIMIT_BURST", default_value = "60", value_parser = named(values::positive_count))]
    pub rate_limit_burst: NonZeroU32,
    /// Clock skew tolerated on a token's `exp`.
    #[arg(long, env = "ORDERSYNC_TOKEN_LEEWAY", default_value = "0s", value_parser = named(values::duration))]
    pub token_leeway: Duration,
    /// Comma-separated addresses and CIDR ranges of the reverse proxies in front of the relay
    /// (`127.0.0.1,10.0.0.0/8`). From these peers the client's address is read from
    /// `--forwarded-header`; from any other peer that header is ignored. None by default.
    #[arg(
        long,
        env = "ORDERSYNC_TRUSTED_PROXIES",
        default_value = "",
        value_parser = named(str::parse::<TrustedProxies>)
    )]
    pub trusted_proxies: TrustedProxies,
    /// The header the trusted proxies write the client's address into.
    #[arg(
        long,
        env = "ORDERSYNC_FORWARDED_HEADER",
        value_enum,
        value_parser = named(EnumValueParser::<ForwardedHeader>::new()),
        default_value_t = ForwardedHeader::XForwardedFor
    )]
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
        value_parser = named(BoolishValueParser::new())
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
        if !self.console {
            return Ok(None);
        }
        let refused = |problem: &str| Err(ConfigError::of::<Self>("console_token_file", problem));
        let Some(path) = &self.console_token_file else {
            return refused("is required with --console: every console page asks for that token");
        };
        let bytes = read_secret_file::<Self>(path, "console_token_file")?;
        let Ok(token) = String::from_utf8(bytes) else {
            return refused("must be printable ASCII");
        };
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return refused(
                "must be printable ASCII without spaces (it travels in an HTTP header)",
            );
        }
        if token.len() < MIN_CONSOLE_TOKEN_BYTES {
            return refused(&format!(
                "must be at least {MIN_CONSOLE_TOKEN_BYTES} bytes, too long to guess \
                 (e.g. `head -c 32 /dev/urandom | base64`)"
            ));
        }
        Ok(Some(ConsoleSettings { token }))
    }
}

/// Reads a secret from the file the setting `id` of `A` names; one trailing newline (`\n` or
/// `\r\n`) is not part of it.
fn read_secret_file<A: Args>(path: &Path, id: &str) -> Result<Vec<u8>, ConfigError> {
    let mut bytes = std::fs::read(path)
        .map_err(|e| ConfigError::of::<A>(id, format!("cannot read {}: {e}", path.display())))?;
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
    #[arg(
        long,
        env = "ORDERSYNC_LISTEN",
        default_value = "127.0.0.1:8787",
        value_parser = named(str::parse::<SocketAddr>)
    )]
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
    #[arg(
        long,
        env = "ORDERSYNC_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_parser = named(str::parse::<AllowedOrigins>)
    )]
    pub allowed_origins: Vec<AllowedOrigins>,
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
    #[arg(
        long,
        env = "ORDERSYNC_LOG_FORMAT",
        value_enum,
        value_parser = named(EnumValueParser::<LogFormat>::new()),
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

/// CibleR, ready to use.
#[derive(Debug, Clone)]
pub struct CiblerSettings {
    pub base_url: BaseUrl,
    pub customer_id: String,
    pub order: CiblerConfig,
}

/// CitrusAd, ready to use.
#[derive(Debug, Clone)]
pub struct CitrusSettings {
    pub base_url: BaseUrl,
    pub api_key: String,
    pub auth_scheme: CitrusAuthScheme,
    pub order: CitrusConfig,
}

/// Validated delivery timing.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub retry_budget: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub batch_linger: Duration,
    pub citrus_batch_size: NonZeroU32,
    pub cibler_concurrency: NonZeroU32,
    pub citrus_concurrency: NonZeroU32,
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
    pub database_url: DatabaseUrl,
    pub signing_secret: Option<Vec<u8>>,
    pub accept_unsigned: bool,
    pub allowed_origins: AllowedOrigins,
    pub cibler: Option<CiblerSettings>,
    pub citrus: Option<CitrusSettings>,
    pub delivery: DeliverySettings,
    pub retention: RetentionSettings,
    pub max_body_bytes: usize,
    pub rate_limit_per_minute: NonZeroU32,
    pub rate_limit_burst: NonZeroU32,
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
        out.extend(database_passwords(self.database_url.as_str()));
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
        let setting = format!(
            "{} or {}",
            name_of::<CiblerArgs>("cibler_api_key"),
            name_of::<CitrusArgs>("citrus_api_key")
        );
        return Err(ConfigError {
            setting,
            problem: none_enabled.to_owned(),
        });
    }
    Ok(enabled)
}

impl ServeArgs {
    /// Checks the rules between settings; the first problem found is named.
    pub fn validate(self) -> Result<ServeConfig, ConfigError> {
        let signing_secret = self.signing_secret()?;
        if signing_secret.is_none() && !self.accept_unsigned {
            return Err(ConfigError::of::<Self>(
                "signing_secret",
                "is required (or --signing-secret-file; --accept-unsigned only for a sandbox)",
            ));
        }
        let (cibler, citrus) = destination_settings(
            &self.cibler,
            &self.citrus,
            "no destination is configured: give the credentials of CibleR, CitrusAd or both",
        )?;
        Ok(ServeConfig {
            listen: self.listen,
            database_url: self.storage.database_url,
            signing_secret,
            accept_unsigned: self.accept_unsigned,
            allowed_origins: self.allowed_origins.into_iter().collect(),
            cibler,
            citrus,
            delivery: self.delivery.validate()?,
            retention: self.retention.validate()?,
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
            (None, Some(path)) => read_secret_file::<Self>(path, "signing_secret_file")?,
            (None, None) => return Ok(None),
        };
        if secret.len() < MIN_SIGNING_SECRET_BYTES {
            return Err(ConfigError::of::<Self>(
                "signing_secret",
                "must be at least 32 bytes (RFC 7518 §3.2: an HS256 key is at least 256 bits)",
            ));
        }
        Ok(Some(secret))
    }
}

impl CiblerArgs {
    /// `None` when no identifying CibleR setting is given; else every required one must be.
    pub fn validate(&self) -> Result<Option<CiblerSettings>, ConfigError> {
        let given = self.cibler_api_key.is_some()
            || self.cibler_customer_id.is_some()
            || self.cibler_site_id.is_some();
        if !given {
            return Ok(None);
        }
        let key = required::<Self, _>(&self.cibler_api_key, "cibler_api_key", "CibleR")?;
        let customer_id =
            required::<Self, _>(&self.cibler_customer_id, "cibler_customer_id", "CibleR")?;
        let site_id = required::<Self, _>(&self.cibler_site_id, "cibler_site_id", "CibleR")?;
        Ok(Some(CiblerSettings {
            base_url: self.cibler_base_url.clone(),
            customer_id,
            order: CiblerConfig {
                key,
                environment: self.cibler_environment.clone(),
                site_id,
            },
        }))
    }
}

impl CitrusArgs {
    /// `None` when no identifying CitrusAd setting is given; else every required one must be.
    pub fn validate(&self) -> Result<Option<CitrusSettings>, ConfigError> {
        let given = self.citrus_api_key.is_some()
            || self.citrus_team_id.is_some()
            || self.citrus_catalog_id.is_some();
        if !given {
            return Ok(None);
        }
        let api_key = required::<Self, _>(&self.citrus_api_key, "citrus_api_key", "CitrusAd")?;
        let base_url = required::<Self, _>(&self.citrus_base_url, "citrus_base_url", "CitrusAd")?;
        Ok(Some(CitrusSettings {
            base_url,
            api_key,
            auth_scheme: self.citrus_auth_scheme,
            order: CitrusConfig {
                team_id: self.citrus_team_id.clone(),
                catalog_id: self.citrus_catalog_id.clone(),
            },
        }))
    }
}

impl DeliveryArgs {
    pub fn validate(&self) -> Result<DeliverySettings, ConfigError> {
        if self.backoff_cap < self.backoff_base {
            return Err(ConfigError::of::<Self>(
                "backoff_cap",
                "must not be smaller than --backoff-base",
            ));
        }
        // A lease that can run out while a request is still in flight would let a second
        // worker send the same order again.
        if self.lease_duration <= self.vendor_timeout * 2 + self.batch_linger {
            return Err(ConfigError::of::<Self>(
                "lease_duration",
                "must be longer than twice --vendor-timeout plus --batch-linger",
            ));
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

/// The value of the setting `id` of `vendor`'s group `A`, required once any other setting of
/// that vendor is given.
fn required<A: Args, T: Clone>(
    value: &Option<T>,
    id: &str,
    vendor: &str,
) -> Result<T, ConfigError> {
    value.clone().ok_or_else(|| {
        ConfigError::of::<A>(
            id,
            format!("is required when other {vendor} settings are given"),
        )
    })
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

    /// The configuration `args` give, or the first setting refused: by its value parser (inside
    /// clap) or by a rule between settings (`validate`).
    fn parse(args: &[&str]) -> Result<ServeConfig, ConfigError> {
        let mut argv = vec!["relay"];
        argv.extend_from_slice(args);
        let harness = Harness::try_parse_from(argv).map_err(|refused| {
            ConfigError::from_clap(&refused)
                .unwrap_or_else(|| panic!("not a setting's refusal: {refused}"))
        })?;
        harness.serve.validate()
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
        assert_eq!(cibler.base_url.as_str(), "https://prod.cibler.io");
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
        assert_eq!(config.delivery.citrus_concurrency.get(), 2);
        assert_eq!(config.delivery.cibler_concurrency.get(), 8);
        let defaults = with("--cibler-concurrency", "8").unwrap();
        assert_eq!(defaults.delivery.citrus_concurrency.get(), 1);
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
    fn a_missing_api_key_is_named() {
        let err = parse(&[
            "--signing-secret",
            SECRET,
            "--cibler-customer-id",
            "c1",
            "--cibler-site-id",
            "13",
        ])
        .unwrap_err();
        assert_eq!(err.setting, "--cibler-api-key / ORDERSYNC_CIBLER_API_KEY");
        let err = parse(&["--signing-secret", SECRET, "--citrus-team-id", "team"]).unwrap_err();
        assert_eq!(err.setting, "--citrus-api-key / ORDERSYNC_CITRUS_API_KEY");
        assert!(err.problem.contains("other CitrusAd settings"), "{err}");
    }

    #[test]
    fn a_missing_customer_id_or_an_unreadable_secret_file_is_named() {
        let err = parse(&[
            "--signing-secret",
            SECRET,
            "--cibler-api-key",
            "k-1234",
            "--cibler-site-id",
            "13",
        ])
        .unwrap_err();
        assert_eq!(
            err.setting,
            "--cibler-customer-id / ORDERSYNC_CIBLER_CUSTOMER_ID"
        );
        assert!(err
            .problem
            .contains("is required when other CibleR settings"));
        let mut args = vec!["--signing-secret-file", "/nonexistent/secret"];
        args.extend(cibler());
        let err = parse(&args).unwrap_err();
        assert_eq!(
            err.setting,
            "--signing-secret-file / ORDERSYNC_SIGNING_SECRET_FILE"
        );
        assert!(err.problem.contains("cannot read"), "{err}");
    }

    #[test]
    fn http_limits_are_checked_and_named() {
        let with = |flag: &'static str, value: &'static str| {
            let mut args = vec!["--signing-secret", SECRET, flag, value];
            args.extend(cibler());
            parse(&args)
        };
        for (flag, value, reason) in [
            ("--max-body-bytes", "1023", "at least 1024"),
            ("--rate-limit-per-minute", "0", "greater than zero"),
            ("--rate-limit-burst", "0", "greater than zero"),
        ] {
            let err = with(flag, value).unwrap_err();
            let variable = format!("ORDERSYNC_{}", flag[2..].replace('-', "_").to_uppercase());
            assert_eq!(err.setting, format!("{flag} / {variable}"));
            assert!(err.problem.contains(reason), "{err}");
        }
        let config = with("--rate-limit-burst", "7").unwrap();
        assert_eq!(config.rate_limit_burst.get(), 7);
        assert_eq!(config.rate_limit_per_minute.get(), 600);
        assert_eq!(config.max_body_bytes, 1_048_576);
    }

    /// `--help` and every refusal leave these values out (`setting::refusal`).
    #[test]
    fn secrets_hide_their_values() {
        use clap::CommandFactory;
        let command = Harness::command();
        for id in [
            "signing_secret",
            "cibler_api_key",
            "citrus_api_key",
            "database_url",
        ] {
            let arg = command
                .get_arguments()
                .find(|arg| arg.get_id() == id)
                .unwrap();
            assert!(arg.is_hide_env_values_set(), "{id}");
        }
        let err = parse(&["--citrus-api-key", " "]).unwrap_err();
        assert_eq!(err.setting, "--citrus-api-key / ORDERSYNC_CITRUS_API_KEY");
        assert_eq!(err.problem, "must not be empty");
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
        assert_eq!(citrus.base_url.as_str(), "http://127.0.0.1:9");
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
