//! Sending: gloo-net's fetch `Request` with a timeout, `navigator.sendBeacon` where there is no
//! `fetch`, and what an answer means.
//!
//! Requests are built with gloo-net's `RequestBuilder` and answers read through its `Response`;
//! they are sent through the page's own `fetch` ([`crate::page::fetch`], which catches), not
//! gloo-net's `Request::send`: that calls `fetch` without `catch` and panics when the answer is
//! not a `Response`, and a page's `fetch` wrapper or polyfill may throw, answer a plain object or
//! never settle, and the module must still resolve every call to a report (tests/hostile.rs
//! pins each of these).
//!
//! Each request starts when [`post`] or [`get_pixel`] is called (so the order of requests is
//! the order of calls), and [`Sending::outcome`] waits for its end.

use gloo_net::http::{Request, RequestBuilder, Response};
use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestInit, RequestMode};

use crate::page;

/// A request still unanswered after this long counts as unreachable (and stays queued). The
/// abort signal ends the request then; a page's `fetch` may ignore the signal, so a timer ends
/// the wait half a second later whatever `fetch` does.
pub const TIMEOUT_MS: u32 = 10_000;
const LATE_MS: f64 = 10_500.0;

/// Browsers refuse `keepalive` bodies over 64 KiB (in flight, per page); a bigger hand-off goes
/// without it (and by `sendBeacon` if the page is hidden while it is in flight).
pub const KEEPALIVE_MAX_BODY: usize = 60_000;

/// How a request ended.
#[derive(Debug)]
pub enum Outcome {
    /// `fetch` resolved to an object.
    Answered(Answer),
    /// `fetch` rejected (network error, CORS, the abort signal) or resolved to a non-object.
    NetworkError,
    /// No answer within the timeout, not even to the abort signal.
    TimedOut,
    /// `fetch` is unavailable; `navigator.sendBeacon` took the request.
    BeaconQueued,
    /// Neither `fetch` nor `sendBeacon` could send it.
    NoTransport,
}

/// A request on its way.
pub enum Sending {
    Done(Outcome),
    Waiting {
        answer: JsFuture,
        timer: Option<JsValue>,
        late: JsValue,
    },
}

impl Sending {
    pub async fn outcome(self) -> Outcome {
        let (answer, timer, late) = match self {
            Sending::Done(outcome) => return outcome,
            Sending::Waiting {
                answer,
                timer,
                late,
            } => (answer, timer, late),
        };
        let result = answer.await;
        if let Some(timer) = timer {
            page::clear_timeout(&timer);
        }
        match result {
            Ok(value) if Object::is(&value, &late) => Outcome::TimedOut,
            Ok(value) if value.is_object() => Outcome::Answered(Answer::from(value)),
            _ => Outcome::NetworkError,
        }
    }
}

/// POSTs a hand-off: `fetch` (with `keepalive` when asked, so it survives the page unloading),
/// or `navigator.sendBeacon` where `fetch` is missing or throws at once. The string body makes
/// both send `text/plain;charset=UTF-8`, a "simple" request with no CORS preflight, which the
/// relay accepts as JSON.
pub fn post(url: &str, body: &str, keepalive: bool) -> Sending {
    let request = with_timeout(Request::post(url))
        .body(body)
        .ok()
        .and_then(|request| {
            if keepalive {
                kept_alive(request)
            } else {
                Some(request)
            }
        });
    request
        .and_then(fetch)
        .unwrap_or_else(|| Sending::Done(beacon(url, body)))
}

/// The third-o GET: `no-cors` (CitrusAd's answer is not needed, only the request), `keepalive`.
pub fn get_pixel(url: &str) -> Sending {
    with_timeout(Request::get(url).mode(RequestMode::NoCors))
        .build()
        .ok()
        .and_then(kept_alive)
        .and_then(fetch)
        .unwrap_or(Sending::Done(Outcome::NoTransport))
}

/// `navigator.sendBeacon(url, body)`: [`Outcome::BeaconQueued`] when the browser took it.
pub fn beacon(url: &str, body: &str) -> Outcome {
    let sent = web_sys::window()
        .map(|window| window.navigator())
        .and_then(|navigator| navigator.send_beacon_with_opt_str(url, Some(body)).ok());
    if sent == Some(true) {
        Outcome::BeaconQueued
    } else {
        Outcome::NoTransport
    }
}

/// `request` with `keepalive`, which neither gloo-net's `RequestBuilder` nor web-sys's
/// `RequestInit` can set: a `web_sys::Request` made from the built one and an init that holds
/// only `keepalive` (the fetch API's `new Request(request, { keepalive: true })`), wrapped back.
fn kept_alive(request: Request) -> Option<Request> {
    let init = RequestInit::new();
    let _ = Reflect::set(&init, &JsValue::from_str("keepalive"), &JsValue::TRUE);
    web_sys::Request::new_with_request_and_init(&request.into(), &init)
        .ok()
        .map(Request::from)
}

/// The builder with an abort signal that ends the request after [`TIMEOUT_MS`], where the page
/// has `AbortSignal.timeout` (the timer in [`fetch`] ends the wait in any case).
fn with_timeout(builder: RequestBuilder) -> RequestBuilder {
    builder.abort_signal(timeout_signal().as_ref())
}

/// Starts `fetch(request)` and a timer; `None` when there is no `fetch` to start.
fn fetch(request: Request) -> Option<Sending> {
    let request = page::fetch(&request.into())?;
    let late: JsValue = Object::new().into();
    let mut timer = None;
    let deadline = Promise::new(&mut |resolve: Function, _reject: Function| {
        timer = page::set_timeout(&resolve, LATE_MS, &late);
    });
    let race = Promise::race(&Array::of2(&request, &deadline));
    Some(Sending::Waiting {
        answer: JsFuture::from(race),
        timer,
        late,
    })
}

/// `AbortSignal.timeout(TIMEOUT_MS)`, `None` where it is missing or throws (the timer still
/// ends the wait).
fn timeout_signal() -> Option<web_sys::AbortSignal> {
    let class = page::global("AbortSignal");
    let timeout = Reflect::get(&class, &JsValue::from_str("timeout")).ok()?;
    let signal = timeout
        .dyn_ref::<Function>()?
        .call1(&class, &JsValue::from(TIMEOUT_MS))
        .ok()?;
    signal.dyn_into().ok()
}

/// What a relay request's end means for the hand-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx.
    Delivered(u16),
    /// Another 4xx: retrying cannot help.
    Refused(u16),
    /// Network error, aborted, 408, 429, 5xx, or an answer with no readable status: retried.
    /// The HTTP status when there was one.
    Retry(Option<u16>),
    /// No answer at all within the timeout: retried too.
    Late,
    /// Handed to `sendBeacon`.
    Beacon,
    /// No way to send it.
    NoTransport,
}

impl Verdict {
    /// Whether the relay was reached: it took the hand-off, refused it for good, or the
    /// browser's beacon queue took it.
    pub fn reached(self) -> bool {
        matches!(
            self,
            Verdict::Delivered(_) | Verdict::Refused(_) | Verdict::Beacon
        )
    }
}

/// The verdict on `outcome`. Every response body is cancelled but a refusal's when
/// `read_refusal` (the caller then reads it with [`refused_field`]).
pub fn verdict(outcome: &Outcome, read_refusal: bool) -> Verdict {
    let answer = match outcome {
        Outcome::Answered(answer) => answer,
        Outcome::NetworkError => return Verdict::Retry(None),
        Outcome::TimedOut => return Verdict::Late,
        Outcome::BeaconQueued => return Verdict::Beacon,
        Outcome::NoTransport => return Verdict::NoTransport,
    };
    let status = answer.status().unwrap_or(0);
    let verdict = match status {
        200..=299 => Verdict::Delivered(status),
        408 | 429 => Verdict::Retry(Some(status)),
        400..=499 => Verdict::Refused(status),
        _ => Verdict::Retry(Some(status)),
    };
    if !(read_refusal && matches!(verdict, Verdict::Refused(_))) {
        answer.release_body();
    }
    verdict
}

/// What a page's `fetch` resolved to.
#[derive(Debug)]
pub enum Answer {
    /// A `Response`, read through gloo-net.
    Response(Response),
    /// Any other object: a page's `fetch` wrapper or polyfill may answer a plain object such as
    /// `{ status: 202 }`, whose getters may throw; it is read only through calls that catch.
    Foreign(JsValue),
}

impl From<JsValue> for Answer {
    fn from(value: JsValue) -> Answer {
        match value.dyn_into::<web_sys::Response>() {
            Ok(response) => Answer::Response(Response::from(response)),
            Err(other) => Answer::Foreign(other),
        }
    }
}

impl Answer {
    /// The HTTP status; `None` when a foreign answer has none that is a number in range.
    fn status(&self) -> Option<u16> {
        match self {
            Answer::Response(response) => Some(response.status()),
            Answer::Foreign(value) => Reflect::get(value, &JsValue::from_str("status"))
                .ok()
                .and_then(|status| status.as_f64())
                .filter(|status| (0.0..65536.0).contains(status))
                // In range, so the conversion is exact after truncation.
                .map(|status| status as u16),
        }
    }

    /// Cancels the body. Until it is read or cancelled, Chromium keeps counting a finished
    /// keepalive request against the 64 KiB of keepalive bodies a page may have in flight, and
    /// refuses later hand-offs with a network error.
    fn release_body(&self) {
        let cancelling = match self {
            Answer::Response(response) => response.body().map(|body| body.cancel().into()),
            Answer::Foreign(value) => Reflect::get(value, &JsValue::from_str("body"))
                .ok()
                .and_then(|body| page::call_method(&body, "cancel")),
        };
        if let Some(cancelling) = cancelling {
            ignore_rejection(&cancelling);
        }
    }

    /// The body parsed as JSON, `None` when it cannot be read or is not JSON.
    async fn json(&self) -> Option<JsValue> {
        match self {
            Answer::Response(response) => js_sys::JSON::parse(&response.text().await.ok()?).ok(),
            Answer::Foreign(value) => {
                let reading = page::call_method(value, "json")?
                    .dyn_into::<Promise>()
                    .ok()?;
                JsFuture::from(reading).await.ok()
            }
        }
    }
}

/// Attaches a no-op rejection handler to `value` when it is a promise, so a rejection the
/// module does not wait for is not reported to the page as unhandled.
pub fn ignore_rejection(value: &JsValue) {
    thread_local! {
        static IGNORE: Closure<dyn FnMut(JsValue)> = Closure::new(|_: JsValue| {});
    }
    if let Some(promise) = value.dyn_ref::<Promise>() {
        IGNORE.with(|ignore| {
            let _ = promise.catch(ignore);
        });
    }
}

/// The field the relay's refusal names (`{"error": {"field"}}`: its 400 for a checkout field
/// the browser does not validate), or `None`. Own properties only, as everything the module
/// reads from the page.
pub async fn refused_field(outcome: &Outcome) -> Option<String> {
    let Outcome::Answered(answer) = outcome else {
        return None;
    };
    let body = answer.json().await?;
    page::own_str(&page::own_str(&body, "error"), "field").as_string()
}
