//! What the page passes to `reportOrder` and `thirdOUrl`, read from the options' own
//! properties only (getters included, run once; never from a prototype, so a polluted
//! `Object.prototype` supplies no relay URL, checkout or citrus options the shop never gave),
//! and checked field by field. Every refusal is a [`FieldError`] naming the option or checkout
//! field.

use ordersync_core::third_o::{FrontendConfig, ThirdOQuery};
use ordersync_core::{FrontendCheckout, Input};
use wasm_bindgen::{JsCast, JsValue};

use crate::page::{own_str, to_json};
use crate::report::FieldError;
use crate::{snapshot, token, CHECKOUTS_PATH};

const MUST_BE_STRING: &str = "must be a string";
const BAD_TOKEN: &str = "must be a compact JWS whose payload is JSON";

/// Where the checkout comes from.
pub enum Source {
    /// A signed checkout: the token as the page gave it (passed on untouched) and its claims.
    Token {
        token: JsValue,
        claims: Option<Input>,
    },
    /// A plain checkout (unsigned relays only): its plain copy ([`snapshot`]).
    Plain(JsValue),
}

impl Source {
    /// The checkout or token of `options`.
    pub fn read(options: &JsValue) -> Result<Source, FieldError> {
        if !options.is_object() {
            return Err(FieldError::new("options", "must be an object"));
        }
        let token = own_str(options, "token");
        let plain = own_str(options, "checkout");
        if !token.is_null() && !token.is_undefined() && !plain.is_null() && !plain.is_undefined() {
            return Err(FieldError::new(
                "token",
                "must not be given together with checkout",
            ));
        }
        if !plain.is_null() && !plain.is_undefined() {
            return Ok(Source::Plain(snapshot::snapshot(&plain)));
        }
        if token.is_null() || token.is_undefined() {
            return Err(FieldError::new("checkout", "is required (or token)"));
        }
        let Some(text) = token.as_string() else {
            return Err(FieldError::new("token", MUST_BE_STRING));
        };
        let claims = token::claims(&text);
        Ok(Source::Token { token, claims })
    }

    /// The checkout validated in the fields the browser reads.
    ///
    /// The browser validates with the core's [`FrontendCheckout`]: exactly the fields the relay
    /// hand-off and the third-o request are built from (order id and date, customer and session
    /// ids, each item's code, quantity and unit price), with the same field paths and reasons as
    /// the relay's full validation (`Checkout::from_input`, which `crates/core/tests/frontend.rs`
    /// proves it agrees with). A checkout wrong only elsewhere (an email, an amount, an unknown
    /// key) is handed to the relay, whose 400 names the field in the report's `relay.field`:
    /// the behaviour the README documents and tests/hostile.rs pins case by case.
    pub fn checkout(&self) -> Result<FrontendCheckout, FieldError> {
        let (input, field) = match self {
            Source::Token { claims, .. } => match claims {
                Some(claims) => (claims.clone(), "token"),
                None => return Err(FieldError::new("token", BAD_TOKEN)),
            },
            Source::Plain(plain) => (snapshot::to_input(plain), "checkout"),
        };
        FrontendCheckout::from_input(&input).map_err(|error| {
            let path = error.field_path();
            // The checkout itself (not one of its fields) is the wrong type.
            let path = if path.is_empty() { field.into() } else { path };
            FieldError::new(path, error.message())
        })
    }

    /// The hand-off's JSON body: `{"token", "cookieId"}` or `{"checkout", "cookieId"}`. A plain
    /// checkout without `orderDate` gets `now` (last, as the relay writes it), so a hand-off
    /// delivered late from the queue still carries the time of the order, the one the third-o
    /// request used.
    pub fn body(&self, cookie_id: Option<&str>, now: &str) -> Option<String> {
        let envelope = crate::page::bare_object();
        match self {
            Source::Token { token, .. } => crate::page::set(&envelope, "token", token),
            Source::Plain(checkout) => {
                let date = own_str(checkout, "orderDate");
                if date.is_null() || date.is_undefined() {
                    let _ = js_sys::Reflect::delete_property(
                        checkout.unchecked_ref::<js_sys::Object>(),
                        &JsValue::from_str("orderDate"),
                    );
                    crate::page::set(checkout, "orderDate", &JsValue::from_str(now));
                }
                crate::page::set(&envelope, "checkout", checkout);
            }
        }
        let cookie = cookie_id.map_or(JsValue::NULL, JsValue::from_str);
        crate::page::set(&envelope, "cookieId", &cookie);
        to_json(&envelope)
    }
}

/// When the CitrusAd front-end (third-o) request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontendPolicy {
    /// Only when the relay could not be reached (the default).
    Fallback,
    Always,
    Never,
}

/// The `citrus` options, checked.
pub struct Citrus {
    pub base_url: String,
    pub publishable_key: String,
    pub team_id: Option<String>,
    pub catalog_id: String,
    pub policy: FrontendPolicy,
}

impl Citrus {
    /// `None` when `options.citrus` is absent or null; else the checked options or the first
    /// refused one (`citrus.frontend` first, then `baseUrl`, `publishableKey`, `teamId`,
    /// `catalogId`).
    pub fn read(options: &JsValue) -> Option<Result<Citrus, FieldError>> {
        let citrus = own_str(options, "citrus");
        if citrus.is_null() || citrus.is_undefined() {
            return None;
        }
        if !citrus.is_object() {
            return Some(Err(FieldError::new("citrus", "must be an object")));
        }
        Some(Self::read_fields(&citrus))
    }

    fn read_fields(citrus: &JsValue) -> Result<Citrus, FieldError> {
        let policy = match optional_text(citrus, "frontend")?.as_deref() {
            None | Some("fallback") => FrontendPolicy::Fallback,
            Some("always") => FrontendPolicy::Always,
            Some("never") => FrontendPolicy::Never,
            Some(_) => {
                return Err(FieldError::new(
                    "citrus.frontend",
                    r#"must be "fallback", "always" or "never""#,
                ))
            }
        };
        Ok(Citrus {
            base_url: required_text(citrus, "baseUrl")?,
            publishable_key: required_text(citrus, "publishableKey")?,
            team_id: optional_text(citrus, "teamId")?,
            catalog_id: required_text(citrus, "catalogId")?,
            policy,
        })
    }

    fn config(&self) -> FrontendConfig<'_> {
        FrontendConfig {
            base_url: &self.base_url,
            publishable_key: &self.publishable_key,
            team_id: self.team_id.as_deref(),
            catalog_id: &self.catalog_id,
        }
    }

    /// The third-o URL for `checkout` (`now` for a missing order date).
    pub fn third_o_url(
        &self,
        checkout: &FrontendCheckout,
        now: &str,
    ) -> Result<String, FieldError> {
        let config = self.config();
        ThirdOQuery::from_frontend(checkout, &config, now)
            .and_then(|query| query.to_url(config.base_url))
            .map_err(|error| FieldError::new(error.field_path(), error.message()))
    }
}

/// `citrus[name]` as a string, `None` when absent or null.
fn optional_text(citrus: &JsValue, name: &str) -> Result<Option<String>, FieldError> {
    let value = own_str(citrus, name);
    if value.is_null() || value.is_undefined() {
        return Ok(None);
    }
    match value.as_string() {
        Some(text) => Ok(Some(text)),
        None => Err(FieldError::new(["citrus.", name].concat(), MUST_BE_STRING)),
    }
}

fn required_text(citrus: &JsValue, name: &str) -> Result<String, FieldError> {
    optional_text(citrus, name)?
        .ok_or_else(|| FieldError::new(["citrus.", name].concat(), "is required"))
}

/// A longer `relayUrl` is refused: a base URL is short, and a longer one would only be queued
/// and retried for days against servers that refuse long request lines.
const MAX_RELAY_URL_BYTES: usize = 2048;

/// `{relayUrl}/v1/checkouts`. `relayUrl` is an absolute http(s) URL or a path on the shop's
/// own origin (where a reverse proxy forwards to the relay, out of reach of ad blockers). A
/// path must not start with `//` or `/\`: browsers read both as a protocol-relative URL naming
/// another host. Backslashes are refused anywhere (URL parsers read them as `/` in http(s)
/// URLs, so they never mean what they seem), and so are whitespace and control characters.
pub fn checkouts_url(options: &JsValue) -> Result<String, FieldError> {
    const FIELD: &str = "relayUrl";
    let value = own_str(options, FIELD);
    if value.is_null() || value.is_undefined() {
        return Err(FieldError::new(FIELD, "is required"));
    }
    let Some(url) = value.as_string() else {
        return Err(FieldError::new(FIELD, MUST_BE_STRING));
    };
    if url.len() > MAX_RELAY_URL_BYTES {
        return Err(FieldError::new(FIELD, "must be at most 2048 bytes long"));
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .or_else(|| url.strip_prefix('/').filter(|rest| !rest.starts_with('/')));
    let clean = |c: char| !(c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '\\'));
    if rest.is_none() || !url.chars().all(clean) {
        return Err(FieldError::new(
            FIELD,
            "must be an http(s) URL or a path on this site (not //host), without query, fragment or backslash",
        ));
    }
    Ok([url.trim_end_matches('/'), CHECKOUTS_PATH].concat())
}

/// Whether the shop has the shopper's consent to marketing (`consent.marketing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    Granted,
    Denied,
}

impl Consent {
    /// `options.consent`: absent or null means granted (as before consent was an option);
    /// given, it must say `marketing: true` or `marketing: false`.
    pub fn read(options: &JsValue) -> Result<Consent, FieldError> {
        let consent = own_str(options, "consent");
        if consent.is_null() || consent.is_undefined() {
            return Ok(Consent::Granted);
        }
        if !consent.is_object() {
            return Err(FieldError::new("consent", "must be an object"));
        }
        match own_str(&consent, "marketing").as_bool() {
            Some(true) => Ok(Consent::Granted),
            Some(false) => Ok(Consent::Denied),
            None => Err(FieldError::new(
                "consent.marketing",
                "must be true or false",
            )),
        }
    }
}
