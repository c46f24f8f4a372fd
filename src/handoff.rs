//! One `reportOrder` call: the options checked, the order handed to the relay, the third-o
//! request sent per policy, and the report of all of it.
//!
//! [`start`] does everything that can be done at once, while the page is certainly still
//! there: reads the cookie and the options, records the order in `localStorage` (reported, and
//! queued until the relay takes it), and starts the relay request (and the third-o request under
//! the `always` policy). [`Started::finish`] waits for the answers and writes the report.

use ordersync_core::FrontendCheckout;
use wasm_bindgen::JsValue;

use crate::options::{checkouts_url, Citrus, Consent, FrontendPolicy, Source};
use crate::queue::{self, InFlight};
use crate::report::{
    FieldError, PixelReport, PixelStatus, RelayReport, RelayStatus, Report, ALREADY_REPORTED,
};
use crate::storage::{Pending, Storage};
use crate::transport::{self, Outcome, Sending, Verdict};
use crate::{cookie, page};

/// A `reportOrder` call after [`start`].
pub struct Started {
    report: Report,
    sending: Option<InProgress>,
}

/// The requests of a hand-off on their way.
struct InProgress {
    order_id: String,
    relay: Sending,
    /// The third-o URL when it is to be sent, and whether it already was (policy `always`).
    pixel: Option<(String, Option<Sending>)>,
    /// Whether the hand-off is queued in `localStorage` (so it is retried if not delivered).
    queued: bool,
}

/// What the options decided, before anything is sent.
struct Plan {
    order_id: String,
    relay_url: String,
    body: String,
    pixel: PixelReport,
    policy: FrontendPolicy,
}

/// Reads the options and starts the hand-off (see the module docs).
pub fn start(options: &JsValue) -> Started {
    let consent = match Consent::read(options) {
        Ok(consent) => consent,
        Err(error) => return Started::done(Report::refused(None, None, error)),
    };
    // Without marketing consent the CibleR cookie is not even read.
    let cookie_id = match consent {
        Consent::Granted => cookie::read_cibler_id(),
        Consent::Denied => None,
    };
    match plan(options, consent, cookie_id.as_deref()) {
        Ok(plan) => send(plan, cookie_id),
        Err((order_id, error)) => Started::done(Report::refused(order_id, cookie_id, error)),
    }
}

fn plan(
    options: &JsValue,
    consent: Consent,
    cookie_id: Option<&str>,
) -> Result<Plan, (Option<String>, FieldError)> {
    let now = page::now_iso();
    let source = Source::read(options).map_err(|error| (None, error))?;
    let citrus = Citrus::read(options);
    let checkout = source.checkout().map_err(|error| (None, error))?;
    let order_id = checkout.order_id.clone();
    let relay_url = checkouts_url(options).map_err(|error| (Some(order_id.clone()), error))?;
    let Some(body) = source.body(cookie_id, &now) else {
        let error = FieldError::new("checkout", "could not be written as JSON");
        return Err((Some(order_id), error));
    };
    let (pixel, policy) = pixel_plan(citrus, &checkout, consent, &now);
    Ok(Plan {
        order_id,
        relay_url,
        body,
        pixel,
        policy,
    })
}

/// The third-o request's report before anything is sent: skipped with a reason (and the
/// field that kept it from being built), or to be sent (a URL and no reason) per the policy.
fn pixel_plan(
    citrus: Option<Result<Citrus, FieldError>>,
    checkout: &FrontendCheckout,
    consent: Consent,
    now: &str,
) -> (PixelReport, FrontendPolicy) {
    let skipped = |reason: &str, field: Option<String>, url: Option<String>| PixelReport {
        status: PixelStatus::Skipped,
        reason: Some(reason.into()),
        field,
        url,
    };
    let never = FrontendPolicy::Never;
    let citrus = match citrus {
        None => return (skipped("no citrus options given", None, None), never),
        Some(Err(error)) => return (skipped(&error.message, Some(error.field), None), never),
        Some(Ok(citrus)) => citrus,
    };
    let url = match citrus.third_o_url(checkout, now) {
        Ok(url) => url,
        Err(error) => return (skipped(&error.message, Some(error.field), None), never),
    };
    let reason = match (consent, citrus.policy) {
        (Consent::Denied, _) => "no marketing consent (consent.marketing is false)",
        (_, FrontendPolicy::Never) => r#"citrus.frontend is "never""#,
        _ => return (skipped("", None, Some(url)).planned(), citrus.policy),
    };
    (skipped(reason, None, Some(url)), never)
}

impl PixelReport {
    /// To be sent: no reason yet.
    fn planned(mut self) -> PixelReport {
        self.reason = None;
        self
    }
}

fn send(plan: Plan, cookie_id: Option<String>) -> Started {
    let Plan {
        order_id,
        relay_url,
        body,
        pixel,
        policy,
    } = plan;
    let pixel_url = pixel.reason.is_none().then(|| pixel.url.clone()).flatten();
    let mut report = Report {
        order_id: Some(order_id.clone()),
        cookie_id,
        relay: RelayReport {
            status: RelayStatus::Skipped,
            reason: None,
            http_status: None,
            field: None,
        },
        pixel,
        error: None,
        dropped: Vec::new(),
    };
    let now = page::now_ms();
    let storage = Storage::open();
    if storage
        .as_ref()
        .is_some_and(|storage| storage.was_reported(&order_id, now))
    {
        report.relay.status = RelayStatus::Duplicate;
        report.relay.reason = Some(ALREADY_REPORTED.into());
        if pixel_url.is_some() {
            report.pixel.reason = Some(ALREADY_REPORTED.into());
        }
        return Started::done(report);
    }
    let queued = storage.as_ref().is_some_and(|storage| {
        storage.remember_reported(&order_id, now);
        let row = Pending {
            created_ms: now,
            url: relay_url.clone(),
            order_id: order_id.clone(),
            body: body.clone(),
        };
        queue::add(storage, row, now)
    });
    let keepalive = body.len() <= transport::KEEPALIVE_MAX_BODY;
    let relay = queue::send_tracked(InFlight {
        order_id: order_id.clone(),
        url: relay_url,
        body,
        keepalive,
    });
    let pixel = pixel_url.map(|url| {
        let early = (policy == FrontendPolicy::Always).then(|| transport::get_pixel(&url));
        (url, early)
    });
    Started {
        report,
        sending: Some(InProgress {
            order_id,
            relay,
            pixel,
            queued,
        }),
    }
}

impl Started {
    fn done(report: Report) -> Started {
        Started {
            report,
            sending: None,
        }
    }

    /// Adds the queued hand-offs of earlier orders that this call dropped unsent.
    pub fn with_dropped(mut self, dropped: Vec<crate::report::Dropped>) -> Started {
        self.report.dropped = dropped;
        self
    }

    /// Waits for the relay's answer (then sends the third-o request under the `fallback` policy
    /// if the relay was not reached) and returns the report.
    pub async fn finish(self) -> Report {
        let Started {
            mut report,
            sending,
        } = self;
        let Some(InProgress {
            order_id,
            relay,
            pixel,
            queued,
        }) = sending
        else {
            return report;
        };
        let outcome = relay.outcome().await;
        queue::release(&order_id);
        let verdict = transport::verdict(&outcome, true);
        let field = match verdict {
            Verdict::Refused(_) => transport::refused_field(&outcome).await,
            _ => None,
        };
        report.relay = relay_report(verdict, queued, field);
        if verdict.reached() {
            if let Some(storage) = Storage::open() {
                queue::remove(&storage, &order_id);
            }
        }
        let sending = match pixel {
            Some((_, Some(early))) => Some(early),
            Some((url, None)) if !verdict.reached() => Some(transport::get_pixel(&url)),
            Some((_, None)) => {
                report.pixel.reason = Some(
                    r#"the relay was reached (citrus.frontend is "fallback"), so the relay reports to CitrusAd"#
                        .into(),
                );
                None
            }
            None => None,
        };
        if let Some(sending) = sending {
            record_pixel(&mut report.pixel, sending.outcome().await);
        }
        report
    }
}

/// The relay's part of the report.
fn relay_report(verdict: Verdict, queued: bool, field: Option<String>) -> RelayReport {
    let lost = if queued {
        RelayStatus::Queued
    } else {
        RelayStatus::Failed
    };
    let with = |status, reason: &str, http_status| RelayReport {
        status,
        reason: (!reason.is_empty()).then(|| reason.into()),
        http_status,
        field: None,
    };
    let unreached = |what: &str, http_status| {
        let then = if queued {
            "; queued in localStorage for a later retry"
        } else {
            " and localStorage is unavailable, so nothing was queued"
        };
        with(lost, &[what, then].concat(), http_status)
    };
    match verdict {
        Verdict::Delivered(status) => with(RelayStatus::Accepted, "", Some(status)),
        Verdict::Refused(status) => RelayReport {
            field,
            ..with(
                RelayStatus::Rejected,
                "the relay refused the hand-off (not retried)",
                Some(status),
            )
        },
        Verdict::Beacon => with(
            RelayStatus::Beacon,
            "fetch is unavailable; handed to navigator.sendBeacon",
            None,
        ),
        Verdict::NoTransport => with(
            lost,
            "neither fetch nor navigator.sendBeacon is available",
            None,
        ),
        Verdict::Late => unreached("the relay gave no answer within 10 s (timed out)", None),
        Verdict::Retry(status) if queued => {
            unreached("the relay could not be reached or asked to retry", status)
        }
        Verdict::Retry(status) => unreached("the relay could not be reached", status),
    }
}

fn record_pixel(pixel: &mut PixelReport, outcome: Outcome) {
    let failure = match outcome {
        Outcome::Answered(_) => {
            pixel.status = PixelStatus::Sent;
            pixel.reason = None;
            return;
        }
        Outcome::NoTransport | Outcome::BeaconQueued => "fetch is unavailable",
        Outcome::TimedOut => "no answer within 10 s (timed out)",
        Outcome::NetworkError => "the request failed (network error or blocked)",
    };
    pixel.status = PixelStatus::Failed;
    pixel.reason = Some(failure.into());
}
