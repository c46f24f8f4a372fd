//! Reading and validating what the page passes to `reportOrder` / `thirdOUrl`.
//!
//! Every refusal is a [`Problem`] naming the option or checkout field and the reason, with
//! static messages (no `format!`: `core::fmt` would cost the bundle kilobytes).

use ordersync_core::third_o::{FrontendConfig, ThirdOQuery};
use ordersync_core::{FrontendCheckout, Input, ValidationError};
use wasm_bindgen::JsValue;

use crate::input::{self, push_json, push_json_string};
use crate::{js, jws, CHECKOUTS_PATH};

/// A refused option or checkout field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: &'static str,
}

impl Problem {
    fn new(field: &str, message: &'static str) -> Problem {
        Problem {
            field: field.to_owned(),
            message,
        }
    }
}

impl From<ValidationError> for Problem {
    fn from(error: ValidationError) -> Problem {
        Problem {
            field: error.field_path(),
            message: error.message(),
        }
    }
}

/// When the CitrusAd front-end request (third-o) is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Only when the relay could not be reached (the default).
    Fallback,
    Always,
    Never,
}

/// The `citrus` options.
pub struct Citrus {
    pub base_url: String,
    pub publishable_key: String,
    pub team_id: Option<String>,
    pub catalog_id: String,
    pub policy: Policy,
}

/// Where the checkout came from: a signed token passed through untouched, or a plain object.
pub enum Source {
    Token(String),
    Plain(Input),
}

/// A checkout, validated in the fields the browser reads (the relay validates the rest and
/// answers 400 naming the field), and the form it came in.
pub struct Order {
    pub checkout: FrontendCheckout,
    pub source: Source,
}

const MUST_BE_OBJECT: &str = "must be an object";
const MUST_BE_STRING: &str = "must be a string";
const REQUIRED: &str = "is required";

/// `options.token` (decoded) or `options.checkout`, validated by the core in the fields the
/// browser reads ([`FrontendCheckout`]).
pub fn order(options: &JsValue) -> Result<Order, Problem> {
    if !options.is_object() {
        return Err(Problem::new("options", MUST_BE_OBJECT));
    }
    let token = js::get_own(options, "token");
    let plain = js::get_own(options, "checkout");
    let given = |value: &JsValue| !value.is_undefined() && !value.is_null();
    let (input, source) = match (given(&token), given(&plain)) {
        (true, true) => {
            return Err(Problem::new(
                "token",
                "must not be given together with checkout",
            ))
        }
        (false, false) => return Err(Problem::new("checkout", "is required (or token)")),
        (true, false) => {
            let token = token
                .as_string()
                .ok_or_else(|| Problem::new("token", MUST_BE_STRING))?;
            let claims = jws::payload_text(&token)
                .and_then(|text| js::parse_json(&text))
                .ok_or_else(|| {
                    Problem::new("token", "must be a compact JWS whose payload is JSON")
                })?;
            (input::from_js(&claims), Some(token))
        }
        (false, true) => (input::from_js(&plain), None),
    };
    let checkout = FrontendCheckout::from_input(&input).map_err(|error| {
        let mut problem = Problem::from(error);
        if problem.field.is_empty() {
            // The checkout itself (not one of its fields) is the wrong type.
            problem.field = if source.is_some() {
                "token"
            } else {
                "checkout"
            }
            .to_owned();
        }
        problem
    })?;
    let source = match source {
        Some(token) => Source::Token(token),
        None => Source::Plain(input),
    };
    Ok(Order { checkout, source })
}

/// The longest `relayUrl` taken: a base URL is short, and a longer one would only be queued
/// and retried for days against servers that refuse long request lines.
pub const MAX_RELAY_URL_BYTES: usize = 2048;

/// `{relayUrl}/v1/checkouts`. `relayUrl` is an absolute http(s) URL or a path on the shop's
/// own origin (where a reverse proxy forwards to the relay, out of reach of ad blockers).
///
/// A path must not start with `//` or `/\`: browsers read both as a protocol-relative URL
/// naming another host. Backslashes are refused anywhere (URL parsers read them as `/` in
/// http(s) URLs, so they never mean what they seem), and so is a URL over 2,048 bytes.
pub fn checkouts_url(options: &JsValue) -> Result<String, Problem> {
    const FIELD: &str = "relayUrl";
    let url = js::get_own(options, FIELD);
    if url.is_undefined() || url.is_null() {
        return Err(Problem::new(FIELD, REQUIRED));
    }
    let url = url
        .as_string()
        .ok_or_else(|| Problem::new(FIELD, MUST_BE_STRING))?;
    if url.len() > MAX_RELAY_URL_BYTES {
        return Err(Problem::new(FIELD, "must be at most 2048 bytes long"));
    }
    let base = url.trim_end_matches('/');
    let absolute = url.starts_with("https://") || url.starts_with("http://");
    let site_path = url.starts_with('/') && !url.starts_with("//");
    let clean = !url.contains(['?', '#', '\\'])
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if !(absolute || site_path) || !clean {
        return Err(Problem::new(
            FIELD,
            "must be an http(s) URL or a path on this site (not //host), without query, fragment or backslash",
        ));
    }
    Ok([base, CHECKOUTS_PATH].concat())
}

/// `options.citrus`, `None` when absent.
pub fn citrus(options: &JsValue) -> Result<Option<Citrus>, Problem> {
    let citrus = js::get_own(options, "citrus");
    if citrus.is_undefined() || citrus.is_null() {
        return Ok(None);
    }
    if !citrus.is_object() {
        return Err(Problem::new("citrus", MUST_BE_OBJECT));
    }
    let text = |name: &'static str, field: &'static str, required: bool| {
        let value = js::get_own(&citrus, name);
        if value.is_undefined() || value.is_null() {
            return if required {
                Err(Problem::new(field, REQUIRED))
            } else {
                Ok(None)
            };
        }
        value
            .as_string()
            .map(Some)
            .ok_or_else(|| Problem::new(field, MUST_BE_STRING))
    };
    let required = |name, field| text(name, field, true).map(Option::unwrap_or_default);
    let policy = match text("frontend", "citrus.frontend", false)?.as_deref() {
        None | Some("fallback") => Policy::Fallback,
        Some("always") => Policy::Always,
        Some("never") => Policy::Never,
        Some(_) => {
            return Err(Problem::new(
                "citrus.frontend",
                "must be \"fallback\", \"always\" or \"never\"",
            ))
        }
    };
    Ok(Some(Citrus {
        base_url: required("baseUrl", "citrus.baseUrl")?,
        publishable_key: required("publishableKey", "citrus.publishableKey")?,
        team_id: text("teamId", "citrus.teamId", false)?,
        catalog_id: required("catalogId", "citrus.catalogId")?,
        policy,
    }))
}

/// The third-o GET URL for `checkout`; `now` (RFC 3339) stands in for a missing order date.
pub fn third_o_url(
    checkout: &FrontendCheckout,
    citrus: &Citrus,
    now: &str,
) -> Result<String, Problem> {
    let config = FrontendConfig {
        base_url: &citrus.base_url,
        publishable_key: &citrus.publishable_key,
        team_id: citrus.team_id.as_deref(),
        catalog_id: &citrus.catalog_id,
    };
    Ok(ThirdOQuery::frontend_url(checkout, &config, now)?)
}

/// The relay hand-off body: `{"token": …, "cookieId": …}` or `{"checkout": …, "cookieId": …}`.
/// A plain checkout without `orderDate` gets `now`, so a hand-off delivered late from the
/// queue still carries the time of the order, the same one the third-o request used.
pub fn handoff_body(order: &Order, cookie_id: Option<&str>, now: &str) -> String {
    let mut body = String::with_capacity(256);
    match &order.source {
        Source::Token(token) => {
            body.push_str("{\"token\":");
            push_json_string(&mut body, token);
        }
        Source::Plain(input) => {
            body.push_str("{\"checkout\":");
            match (input, order.checkout.order_date.is_none()) {
                (Input::Object(members), true) => {
                    // The members as given, but `orderDate` (null when it is there) last, as now.
                    body.push('{');
                    for (key, member) in members.iter().filter(|(key, _)| key != "orderDate") {
                        push_json_string(&mut body, key);
                        body.push(':');
                        push_json(&mut body, member);
                        body.push(',');
                    }
                    body.push_str("\"orderDate\":");
                    push_json_string(&mut body, now);
                    body.push('}');
                }
                _ => push_json(&mut body, input),
            }
        }
    }
    body.push_str(",\"cookieId\":");
    match cookie_id {
        Some(id) => push_json_string(&mut body, id),
        None => body.push_str("null"),
    }
    body.push('}');
    body
}
