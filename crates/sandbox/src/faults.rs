//! Fault injection: the misbehaviour of a real vendor on a bad day, reproducible from a seed.
//!
//! Each request to a vendor endpoint in scope draws one number from a seeded generator and
//! gets at most one fault: a 500, a 429 with `Retry-After`, a 429 without it, or a dropped
//! connection (closed without any HTTP response). Added latency applies to every request in
//! scope, and more to the requests of orders named slow. An outage answers 503 to every request
//! in scope until it is switched off. The same settings come from flags (and environment
//! variables) at start and from `PUT /__sandbox/faults` at run time, so a test can begin and
//! end an outage without a restart.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which vendor's endpoints the faults apply to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultScope {
    Cibler,
    Citrus,
    #[default]
    Both,
}

/// The vendor a request is addressed to, from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Cibler,
    Citrus,
}

impl Vendor {
    /// `None` for the sandbox's own endpoints and unknown paths, which never get faults.
    pub fn of_path(path: &str) -> Option<Vendor> {
        if path.starts_with("/api/campaignBehaviors/") {
            Some(Vendor::Cibler)
        } else if path.starts_with("/v1/") {
            Some(Vendor::Citrus)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Vendor::Cibler => "cibler",
            Vendor::Citrus => "citrus",
        }
    }
}

impl FaultScope {
    fn covers(self, vendor: Vendor) -> bool {
        matches!(
            (self, vendor),
            (FaultScope::Both, _)
                | (FaultScope::Cibler, Vendor::Cibler)
                | (FaultScope::Citrus, Vendor::Citrus)
        )
    }
}

/// The knobs, as flags, environment variables and the JSON of `PUT /__sandbox/faults`
/// (camelCase; a member left out is off).
#[derive(Debug, Clone, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Share of in-scope requests answered 500 (0 to 1).
    #[arg(long, env = "ORDERSYNC_SANDBOX_ERROR_RATE", default_value_t = 0.0)]
    pub error_rate: f64,
    /// Share of in-scope requests answered 429 with a `Retry-After` header (0 to 1).
    #[arg(long, env = "ORDERSYNC_SANDBOX_RATE_LIMIT_RATE", default_value_t = 0.0)]
    pub rate_limit_rate: f64,
    /// Share of in-scope requests answered 429 without `Retry-After` (0 to 1).
    #[arg(
        long,
        env = "ORDERSYNC_SANDBOX_BARE_RATE_LIMIT_RATE",
        default_value_t = 0.0
    )]
    pub bare_rate_limit_rate: f64,
    /// The `Retry-After` value, in seconds, of the 429s that carry one.
    #[arg(long, env = "ORDERSYNC_SANDBOX_RETRY_AFTER_SECS", default_value_t = 1)]
    pub retry_after_secs: u64,
    /// Share of in-scope requests whose connection is closed without any response (0 to 1).
    #[arg(long, env = "ORDERSYNC_SANDBOX_DROP_RATE", default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Latency added to every in-scope request before it is answered, in milliseconds.
    #[arg(long, env = "ORDERSYNC_SANDBOX_LATENCY_MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// Seed of the generator that picks the faulty requests.
    #[arg(long, env = "ORDERSYNC_SANDBOX_SEED", default_value_t = 0)]
    pub seed: u64,
    /// Which vendor the faults apply to.
    #[arg(long, env = "ORDERSYNC_SANDBOX_FAULTS_ON", value_enum, default_value_t = FaultScope::Both)]
    pub faults_on: FaultScope,
    /// Answer 503 to every in-scope request (an outage), until switched off at run time.
    #[arg(long, env = "ORDERSYNC_SANDBOX_OUTAGE", default_value_t = false)]
    pub outage: bool,
    /// CitrusAd order ids refused: a `POST /v1/orders` holding one of them is answered 400
    /// naming it, and none of its orders is stored (as CitrusAd refuses a batch with an order
    /// it cannot take). Tests how the relay finds the bad order of a batch.
    #[arg(
        long = "refuse-citrus-order",
        env = "ORDERSYNC_SANDBOX_REFUSE_CITRUS_ORDERS",
        value_delimiter = ','
    )]
    pub refuse_citrus_orders: Vec<String>,
    /// Order ids whose requests are slow: a CibleR order, or a CitrusAd batch holding one, is
    /// answered after `slow-order-ms` more (a vendor's tail latency, on orders a test chooses).
    #[arg(
        long = "slow-order",
        env = "ORDERSYNC_SANDBOX_SLOW_ORDERS",
        value_delimiter = ','
    )]
    pub slow_orders: Vec<String>,
    /// The extra delay of the slow orders' requests, in milliseconds.
    #[arg(long, env = "ORDERSYNC_SANDBOX_SLOW_ORDER_MS", default_value_t = 1000)]
    pub slow_order_ms: u64,
}

impl Default for FaultSettings {
    fn default() -> Self {
        FaultSettings {
            error_rate: 0.0,
            rate_limit_rate: 0.0,
            bare_rate_limit_rate: 0.0,
            retry_after_secs: 1,
            drop_rate: 0.0,
            latency_ms: 0,
            seed: 0,
            faults_on: FaultScope::Both,
            outage: false,
            refuse_citrus_orders: Vec::new(),
            slow_orders: Vec::new(),
            slow_order_ms: 1000,
        }
    }
}

/// Settings that cannot work, named by their flag.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultSettingsError {
    #[error("{0} must be between 0 and 1")]
    RateOutOfRange(&'static str),
    #[error(
        "error-rate, rate-limit-rate, bare-rate-limit-rate and drop-rate add up to more than 1"
    )]
    RatesAboveOne,
}

impl FaultSettings {
    pub fn validate(&self) -> Result<(), FaultSettingsError> {
        let rates = self.rates();
        for (name, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err(FaultSettingsError::RateOutOfRange(name));
            }
        }
        if rates.iter().map(|(_, r)| r).sum::<f64>() > 1.0 + 1e-9 {
            return Err(FaultSettingsError::RatesAboveOne);
        }
        Ok(())
    }

    fn rates(&self) -> [(&'static str, f64); 4] {
        [
            ("error-rate", self.error_rate),
            ("rate-limit-rate", self.rate_limit_rate),
            ("bare-rate-limit-rate", self.bare_rate_limit_rate),
            ("drop-rate", self.drop_rate),
        ]
    }
}

/// What an unlucky request gets instead of the vendor's real answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Outage,
    ServerError,
    RateLimited { retry_after_secs: Option<u64> },
    Dropped,
}

impl Fault {
    /// The name recorded in `/__sandbox/requests`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Outage => "outage",
            Fault::ServerError => "error",
            Fault::RateLimited {
                retry_after_secs: Some(_),
            } => "rate_limited",
            Fault::RateLimited {
                retry_after_secs: None,
            } => "rate_limited_without_retry_after",
            Fault::Dropped => "dropped",
        }
    }
}

/// The settings in force and the generator they seeded.
#[derive(Debug)]
pub struct Faults {
    settings: FaultSettings,
    rng: StdRng,
}

impl Faults {
    pub fn new(settings: FaultSettings) -> Self {
        let rng = StdRng::seed_from_u64(settings.seed);
        Faults { settings, rng }
    }

    pub fn settings(&self) -> &FaultSettings {
        &self.settings
    }

    /// Replaces the settings and reseeds, so a run after a `PUT` is reproducible too.
    pub fn replace(&mut self, settings: FaultSettings) -> Result<(), FaultSettingsError> {
        settings.validate()?;
        *self = Faults::new(settings);
        Ok(())
    }

    /// The extra delay of a request to `vendor` carrying `body`: `slow-order-ms` when it names
    /// one of the slow orders (CibleR: `orderInformation.orderId`; CitrusAd: any `orders[].id`).
    pub fn slow_order_delay(&self, vendor: Vendor, body: Option<&Value>) -> Duration {
        let slow = &self.settings.slow_orders;
        let Some(body) =
            body.filter(|_| !slow.is_empty() && self.settings.faults_on.covers(vendor))
        else {
            return Duration::ZERO;
        };
        let named = |id: &str| slow.iter().any(|listed| listed == id);
        let hit = match vendor {
            // CibleR's `orderId` is a Long.
            Vendor::Cibler => named(&body["orderInformation"]["orderId"].to_string()),
            Vendor::Citrus => super::citrus::order_ids(body).any(named),
        };
        if hit {
            Duration::from_millis(self.settings.slow_order_ms)
        } else {
            Duration::ZERO
        }
    }

    /// The latency to add and the fault, if any, for one request to `vendor`.
    pub fn decide(&mut self, vendor: Vendor) -> (Duration, Option<Fault>) {
        let s = &self.settings;
        if !s.faults_on.covers(vendor) {
            return (Duration::ZERO, None);
        }
        let latency = Duration::from_millis(s.latency_ms);
        if s.outage {
            return (latency, Some(Fault::Outage));
        }
        let draw: f64 = self.rng.gen();
        let thresholds = [
            (s.error_rate, Fault::ServerError),
            (
                s.rate_limit_rate,
                Fault::RateLimited {
                    retry_after_secs: Some(s.retry_after_secs),
                },
            ),
            (
                s.bare_rate_limit_rate,
                Fault::RateLimited {
                    retry_after_secs: None,
                },
            ),
            (s.drop_rate, Fault::Dropped),
        ];
        let mut upper = 0.0;
        for (rate, fault) in thresholds {
            upper += rate;
            if draw < upper {
                return (latency, Some(fault));
            }
        }
        (latency, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn draws(settings: FaultSettings, vendor: Vendor, n: usize) -> Vec<Option<Fault>> {
        let mut faults = Faults::new(settings);
        (0..n).map(|_| faults.decide(vendor).1).collect()
    }

    #[test]
    fn the_requests_of_slow_orders_are_delayed() {
        let faults = Faults::new(FaultSettings {
            slow_orders: vec!["7".into(), "A-9".into()],
            slow_order_ms: 250,
            ..FaultSettings::default()
        });
        let slow = Duration::from_millis(250);
        let cibler = |id: Value| json!({"orderInformation": {"orderId": id}});
        assert_eq!(
            faults.slow_order_delay(Vendor::Cibler, Some(&cibler(json!(7)))),
            slow
        );
        assert_eq!(
            faults.slow_order_delay(Vendor::Cibler, Some(&cibler(json!(8)))),
            Duration::ZERO
        );
        let batch = json!({"orders": [{"id": "1"}, {"id": "A-9"}]});
        assert_eq!(faults.slow_order_delay(Vendor::Citrus, Some(&batch)), slow);
        let batch = json!({"orders": [{"id": "1"}]});
        assert_eq!(
            faults.slow_order_delay(Vendor::Citrus, Some(&batch)),
            Duration::ZERO
        );
        assert_eq!(
            faults.slow_order_delay(Vendor::Citrus, None),
            Duration::ZERO
        );
        // Out of scope: no delay.
        let cibler_only = Faults::new(FaultSettings {
            slow_orders: vec!["A-9".into()],
            faults_on: FaultScope::Cibler,
            ..FaultSettings::default()
        });
        let batch = json!({"orders": [{"id": "A-9"}]});
        assert_eq!(
            cibler_only.slow_order_delay(Vendor::Citrus, Some(&batch)),
            Duration::ZERO
        );
    }

    #[test]
    fn no_settings_no_faults() {
        assert!(draws(FaultSettings::default(), Vendor::Citrus, 1000)
            .iter()
            .all(Option::is_none));
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let settings = FaultSettings {
            error_rate: 0.2,
            drop_rate: 0.2,
            seed: 7,
            ..FaultSettings::default()
        };
        let first = draws(settings.clone(), Vendor::Cibler, 200);
        assert_eq!(first, draws(settings.clone(), Vendor::Cibler, 200));
        let other_seed = FaultSettings {
            seed: 8,
            ..settings
        };
        assert_ne!(first, draws(other_seed, Vendor::Cibler, 200));
    }

    #[test]
    fn rates_are_roughly_honoured() {
        let settings = FaultSettings {
            error_rate: 0.1,
            rate_limit_rate: 0.2,
            bare_rate_limit_rate: 0.1,
            drop_rate: 0.1,
            retry_after_secs: 3,
            seed: 1,
            ..FaultSettings::default()
        };
        let all = draws(settings, Vendor::Citrus, 10_000);
        let count = |f: Fault| all.iter().filter(|x| **x == Some(f)).count();
        let near = |n: usize, expected: usize| n.abs_diff(expected) < expected / 5;
        assert!(near(count(Fault::ServerError), 1000));
        assert!(near(
            count(Fault::RateLimited {
                retry_after_secs: Some(3)
            }),
            2000
        ));
        assert!(near(
            count(Fault::RateLimited {
                retry_after_secs: None
            }),
            1000
        ));
        assert!(near(count(Fault::Dropped), 1000));
        assert!(near(all.iter().filter(|x| x.is_none()).count(), 5000));
    }

    #[test]
    fn scope_and_outage() {
        let settings = FaultSettings {
            error_rate: 1.0,
            faults_on: FaultScope::Cibler,
            ..FaultSettings::default()
        };
        assert!(draws(settings.clone(), Vendor::Citrus, 50)
            .iter()
            .all(Option::is_none));
        assert!(draws(settings, Vendor::Cibler, 50)
            .iter()
            .all(|f| *f == Some(Fault::ServerError)));
        let outage = FaultSettings {
            outage: true,
            latency_ms: 5,
            ..FaultSettings::default()
        };
        let mut faults = Faults::new(outage);
        assert_eq!(
            faults.decide(Vendor::Citrus),
            (Duration::from_millis(5), Some(Fault::Outage))
        );
    }

    #[test]
    fn impossible_rates_are_refused_naming_the_flag() {
        let negative = FaultSettings {
            drop_rate: -0.1,
            ..FaultSettings::default()
        };
        assert_eq!(
            negative.validate().unwrap_err().to_string(),
            "drop-rate must be between 0 and 1"
        );
        let too_much = FaultSettings {
            error_rate: 0.6,
            rate_limit_rate: 0.6,
            ..FaultSettings::default()
        };
        assert_eq!(too_much.validate(), Err(FaultSettingsError::RatesAboveOne));
        let mut faults = Faults::new(FaultSettings::default());
        assert!(faults.replace(too_much).is_err());
        assert_eq!(faults.settings(), &FaultSettings::default());
    }

    #[test]
    fn put_bodies_are_camel_case_and_strict() {
        let settings: FaultSettings =
            serde_json::from_str(r#"{"outage": true, "faultsOn": "citrus", "errorRate": 0.5}"#)
                .unwrap();
        assert!(settings.outage);
        assert_eq!(settings.faults_on, FaultScope::Citrus);
        assert_eq!(settings.retry_after_secs, 1);
        assert!(serde_json::from_str::<FaultSettings>(r#"{"errorrate": 0.5}"#).is_err());
    }
}
