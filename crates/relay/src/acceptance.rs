//! From a hand-off body to a checkout ready to store: the envelope, the signature, and the
//! per-destination rule.
//!
//! **The per-destination rule.** A checkout is checked against every *enabled* destination:
//! - CibleR needs `orderId` to be a Long. If CibleR is enabled and it is not, the checkout is
//!   refused (400 naming `orderId`): the shop's integration sends ids CibleR can never take,
//!   and the shop must hear about it at once rather than find dead letters later.
//! - CitrusAd needs at least one line item. An order without items is legitimate (a CibleR
//!   bonus-code activation), so CitrusAd is marked `skipped` with the reason, and CibleR still
//!   gets it. Any other CitrusAd problem (an item without `catalogId` and no configured default)
//!   refuses the checkout (400 naming the field).
//! - A destination that is not configured is recorded as `skipped` ("not configured").
//! - If no destination is left to deliver to, the checkout is refused (400 naming the field
//!   that made the last one skip it), so nothing is ever accepted only to be dropped.

use ordersync_core::wire::{CiblerOrder, CitrusOrder};
use ordersync_core::{Checkout, Input, Reason, ValidationError};

use crate::config::{CiblerSettings, CitrusSettings};
use crate::outbox::{Destination, InitialState, NewCheckout};
use crate::signing::{SignatureError, Verifier};

/// Longest `cookieId` accepted (the real cookie is about 30 characters).
pub const MAX_COOKIE_ID_CHARS: usize = 256;

/// Why a hand-off was refused, split by the HTTP status it earns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcceptError {
    /// 400: the body or the checkout is wrong. `field` names where, when it can.
    #[error("{}{message}", field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default())]
    Invalid {
        field: Option<String>,
        message: String,
        /// A short, fixed label for metrics (`invalid_json`, `not_a_long`, ...).
        reason: &'static str,
    },
    /// 401: the signature is missing, forged or expired.
    #[error("{message}")]
    Unauthorized {
        message: String,
        reason: &'static str,
    },
}

impl AcceptError {
    fn invalid(field: Option<&str>, message: impl Into<String>, reason: &'static str) -> Self {
        AcceptError::Invalid {
            field: field.map(str::to_owned),
            message: message.into(),
            reason,
        }
    }

    /// The metrics label of this refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            AcceptError::Invalid { reason, .. } | AcceptError::Unauthorized { reason, .. } => {
                reason
            }
        }
    }
}

impl From<ValidationError> for AcceptError {
    fn from(e: ValidationError) -> Self {
        let path = e.field_path();
        AcceptError::Invalid {
            field: (!path.is_empty()).then_some(path),
            message: e.message().to_owned(),
            reason: reason_label(e.reason),
        }
    }
}

impl From<SignatureError> for AcceptError {
    fn from(e: SignatureError) -> Self {
        let reason = match e {
            SignatureError::Forged => "forged_signature",
            SignatureError::Expired => "expired_token",
            _ => "bad_token",
        };
        AcceptError::Unauthorized {
            message: e.to_string(),
            reason,
        }
    }
}

/// A fixed, low-cardinality label per validation reason.
fn reason_label(reason: Reason) -> &'static str {
    match reason {
        Reason::NotALong => "not_a_long",
        Reason::NoItems => "no_items",
        Reason::UnknownField | Reason::DuplicateField => "unknown_field",
        Reason::Missing => "missing_field",
        _ => "invalid_field",
    }
}

/// The enabled destinations and their settings.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    pub cibler: Option<CiblerSettings>,
    pub citrus: Option<CitrusSettings>,
}

/// How hand-offs are authenticated.
#[derive(Debug, Clone)]
pub struct Acceptance {
    pub verifier: Option<Verifier>,
    pub accept_unsigned: bool,
    pub destinations: Destinations,
}

/// A hand-off, verified and planned, ready for the outbox.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub checkout: Checkout,
    pub new_checkout: NewCheckout,
}

impl Acceptance {
    /// Parses the hand-off body (`{"token", "cookieId"}` or `{"checkout", "cookieId"}`),
    /// verifies it, validates the checkout, fills a missing `orderDate` with `now` and plans
    /// each destination.
    pub fn accept(&self, body: &str, now_rfc3339: &str) -> Result<Accepted, AcceptError> {
        let Envelope {
            token,
            checkout,
            cookie_id,
        } = Envelope::parse(body)?;
        let claims = match (token, checkout) {
            (Some(_), Some(_)) => {
                return Err(AcceptError::invalid(
                    Some("checkout"),
                    "give either token or checkout, not both",
                    "invalid_envelope",
                ))
            }
            (Some(token), None) => match &self.verifier {
                Some(verifier) => verifier.verify(&token)?,
                None => {
                    return Err(AcceptError::Unauthorized {
                        message: "this relay has no signing secret and cannot verify tokens".into(),
                        reason: "bad_token",
                    })
                }
            },
            (None, Some(checkout)) if self.accept_unsigned => checkout,
            (None, Some(_)) => {
                return Err(AcceptError::Unauthorized {
                    message: "unsigned checkouts are not accepted: send a signed {\"token\"}"
                        .into(),
                    reason: "missing_signature",
                })
            }
            (None, None) => {
                return Err(AcceptError::Unauthorized {
                    message: "missing signature: the body needs a \"token\" (compact JWS)".into(),
                    reason: "missing_signature",
                })
            }
        };
        self.accept_checkout(&claims, cookie_id, now_rfc3339)
    }

    /// One line of an operator's import (`ordersync-relay import`): a checkout object, plus
    /// `cookieId` when the shop knows it, unsigned (the operator's machine is trusted). The
    /// checkout and the cookie go through exactly the rules of a hand-off: the same `cookieId`
    /// checks as the envelope's, then [`Acceptance::accept_checkout`].
    pub fn accept_record(&self, line: &str, now_rfc3339: &str) -> Result<Accepted, AcceptError> {
        let input = ordersync_core::wire::input_from_json(line)
            .map_err(|_| AcceptError::invalid(None, not_json(line), "invalid_json"))?;
        let Input::Object(members) = input else {
            return Err(AcceptError::invalid(
                None,
                "a line must be a JSON object: a checkout, with cookieId when known",
                "invalid_record",
            ));
        };
        let mut checkout = Vec::with_capacity(members.len());
        let mut cookie = None;
        for (key, value) in members {
            if key != "cookieId" {
                checkout.push((key, value));
            } else if cookie.replace(cookie_id(&value)?).is_some() {
                return Err(AcceptError::invalid(
                    Some("cookieId"),
                    "appears more than once",
                    "invalid_record",
                ));
            }
        }
        self.accept_checkout(&Input::Object(checkout), cookie.flatten(), now_rfc3339)
    }

    /// The rules every checkout goes through, whether it came in a hand-off or an import:
    /// validation, a missing `orderDate` filled with `now`, and the per-destination plan.
    pub fn accept_checkout(
        &self,
        input: &Input,
        cookie_id: Option<String>,
        now_rfc3339: &str,
    ) -> Result<Accepted, AcceptError> {
        let mut checkout = Checkout::from_input(input)?;
        if checkout.order_date.is_none() {
            checkout.order_date = Some(now_rfc3339.to_owned());
        }
        let destinations = self.plan(&checkout, cookie_id.as_deref(), now_rfc3339)?;
        let new_checkout = NewCheckout {
            order_id: checkout.order_id.clone(),
            checkout_json: ordersync_core::wire::checkout_to_json(&checkout),
            cookie_id,
            destinations,
        };
        Ok(Accepted {
            checkout,
            new_checkout,
        })
    }

    /// Applies the per-destination rule (see the module documentation).
    pub fn plan(
        &self,
        checkout: &Checkout,
        cookie_id: Option<&str>,
        now_rfc3339: &str,
    ) -> Result<Vec<(Destination, InitialState)>, AcceptError> {
        let not_configured = || InitialState::Skipped {
            reason: "destination not configured when the order was accepted".into(),
        };
        let mut plan = Vec::with_capacity(2);
        let mut last_skip: Option<ValidationError> = None;
        match &self.destinations.cibler {
            Some(cibler) => {
                CiblerOrder::new(checkout, &cibler.order, cookie_id)?;
                plan.push((Destination::Cibler, InitialState::Pending));
            }
            None => plan.push((Destination::Cibler, not_configured())),
        }
        match &self.destinations.citrus {
            Some(citrus) => match CitrusOrder::new(checkout, &citrus.order, now_rfc3339) {
                Ok(_) => plan.push((Destination::Citrusad, InitialState::Pending)),
                Err(e) if e.reason == Reason::NoItems => {
                    plan.push((
                        Destination::Citrusad,
                        InitialState::Skipped {
                            reason: e.to_string(),
                        },
                    ));
                    last_skip = Some(e);
                }
                Err(e) => return Err(e.into()),
            },
            None => plan.push((Destination::Citrusad, not_configured())),
        }
        if !plan.iter().any(|(_, s)| *s == InitialState::Pending) {
            return Err(match last_skip {
                Some(e) => e.into(),
                None => {
                    AcceptError::invalid(None, "no destination is configured", "no_destination")
                }
            });
        }
        Ok(plan)
    }
}

/// Why an import line is not JSON, with where, for the operator fixing it: serde_json's
/// message (`EOF while parsing an object at line 1 column 13`), read only for a refused line.
fn not_json(line: &str) -> String {
    match serde_json::from_str::<serde::de::IgnoredAny>(line) {
        Err(error) => format!("the line is not valid JSON: {error}"),
        Ok(_) => format!(
            "the line is not valid JSON: {}",
            ordersync_core::wire::InvalidJson
        ),
    }
}

/// The hand-off body.
///
/// Read from the core's JSON reader rather than by `#[derive(Deserialize)]` with
/// `deny_unknown_fields`, for two things the relay's 400 must do: name a duplicated member
/// (serde's derive reports `duplicate field` only as message text, at the object's path, as
/// `serde_path_to_error` shows); and the checkout inside must be read by that reader in any case
/// (number literals exactly as written, duplicate keys refused), so one pass reads both.
#[derive(Debug, Clone, Default)]
struct Envelope {
    token: Option<String>,
    checkout: Option<Input>,
    cookie_id: Option<String>,
}

impl Envelope {
    fn parse(body: &str) -> Result<Envelope, AcceptError> {
        let input = ordersync_core::wire::input_from_json(body).map_err(|_| {
            AcceptError::invalid(None, "the body is not valid JSON", "invalid_json")
        })?;
        let Input::Object(members) = input else {
            return Err(AcceptError::invalid(
                None,
                "the body must be a JSON object {\"token\", \"cookieId\"}",
                "invalid_envelope",
            ));
        };
        let mut envelope = Envelope::default();
        // The known fields seen so far (an unknown one is refused at once). Members are taken
        // by value, so the token and the checkout move out instead of being copied.
        let mut seen = [false; EnvelopeField::COUNT];
        for (key, value) in members {
            let Some(field) = EnvelopeField::named(&key) else {
                return Err(AcceptError::invalid(
                    Some(&key),
                    "is not a known field (expected token, checkout, cookieId)",
                    "invalid_envelope",
                ));
            };
            if std::mem::replace(&mut seen[field as usize], true) {
                return Err(AcceptError::invalid(
                    Some(&key),
                    "appears more than once",
                    "invalid_envelope",
                ));
            }
            match field {
                EnvelopeField::Token => envelope.token = Some(token(value)?),
                EnvelopeField::Checkout => envelope.checkout = Some(value),
                EnvelopeField::CookieId => envelope.cookie_id = cookie_id(&value)?,
            }
        }
        Ok(envelope)
    }
}

/// The hand-off body's members.
#[derive(Debug, Clone, Copy)]
enum EnvelopeField {
    Token,
    Checkout,
    CookieId,
}

impl EnvelopeField {
    const COUNT: usize = 3;

    fn named(key: &str) -> Option<EnvelopeField> {
        match key {
            "token" => Some(EnvelopeField::Token),
            "checkout" => Some(EnvelopeField::Checkout),
            "cookieId" => Some(EnvelopeField::CookieId),
            _ => None,
        }
    }
}

fn token(value: Input) -> Result<String, AcceptError> {
    match value {
        Input::String(s) if !s.is_empty() => Ok(s),
        _ => Err(AcceptError::invalid(
            Some("token"),
            "must be a non-empty string (a compact JWS)",
            "invalid_envelope",
        )),
    }
}

/// The `cibler_id` cookie's value as the browser read it; empty means none.
fn cookie_id(value: &Input) -> Result<Option<String>, AcceptError> {
    let refuse = |message| {
        Err(AcceptError::invalid(
            Some("cookieId"),
            message,
            "invalid_envelope",
        ))
    };
    match value {
        Input::Null => Ok(None),
        Input::String(s) if s.trim().is_empty() => Ok(None),
        Input::String(s) if s.chars().count() > MAX_COOKIE_ID_CHARS => {
            refuse("is too long (at most 256 characters)")
        }
        Input::String(s) if s.chars().any(char::is_control) => {
            refuse("must not contain control characters")
        }
        Input::String(s) => Ok(Some(s.trim().to_owned())),
        _ => refuse("must be a string or null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CitrusAuthScheme;
    use crate::signing::sign_json;
    use ordersync_core::wire::{CiblerConfig, CitrusConfig};
    use std::time::Duration;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: &str = "2026-01-02T03:04:05Z";

    fn cibler() -> CiblerSettings {
        CiblerSettings {
            base_url: "http://127.0.0.1:1".parse().unwrap(),
            customer_id: "c1".into(),
            order: CiblerConfig {
                key: "xxxx".into(),
                environment: "Prod".into(),
                site_id: 13,
            },
        }
    }

    fn citrus() -> CitrusSettings {
        CitrusSettings {
            base_url: "http://127.0.0.1:1".parse().unwrap(),
            api_key: "key".into(),
            auth_scheme: CitrusAuthScheme::Raw,
            order: CitrusConfig {
                team_id: Some("team".into()),
                catalog_id: Some("cat".into()),
            },
        }
    }

    fn acceptance(cibler_on: bool, citrus_on: bool, unsigned: bool) -> Acceptance {
        Acceptance {
            verifier: Some(Verifier::new(SECRET, Duration::ZERO)),
            accept_unsigned: unsigned,
            destinations: Destinations {
                cibler: cibler_on.then(cibler),
                citrus: citrus_on.then(citrus),
            },
        }
    }

    fn checkout(order_id: &str, items: &str) -> String {
        format!(
            r#"{{"orderId":{order_id},"email":"a@b.c","country":"CH","customerGuid":"g",
            "sessionId":"s","totalSpent":150.0,"taxes":20.00,"shippingCost":0,
            "giftCode":null,"discountAmount":30.00,"items":{items}}}"#
        )
    }

    const ONE_ITEM: &str = r#"[{"gtin":"1","quantity":3,"regularUnitPrice":1.00,
        "totalOrderItemPriceAfterDiscounts":3.00}]"#;

    fn signed_body(checkout_json: &str, cookie: &str) -> String {
        let exp = jsonwebtoken::get_current_timestamp() + 600;
        let claims = format!(
            "{},\"exp\":{exp}}}",
            checkout_json.trim_end().trim_end_matches('}')
        );
        format!(
            r#"{{"token":"{}","cookieId":{cookie}}}"#,
            sign_json(&claims, SECRET)
        )
    }

    fn state_of(plan: &[(Destination, InitialState)], d: Destination) -> &InitialState {
        &plan.iter().find(|(x, _)| *x == d).unwrap().1
    }

    #[test]
    fn a_signed_checkout_is_planned_for_both_destinations() {
        let body = signed_body(&checkout("234567865", ONE_ITEM), r#""CIB1.1.2""#);
        let accepted = acceptance(true, true, false).accept(&body, NOW).unwrap();
        let plan = &accepted.new_checkout.destinations;
        assert_eq!(state_of(plan, Destination::Cibler), &InitialState::Pending);
        assert_eq!(
            state_of(plan, Destination::Citrusad),
            &InitialState::Pending
        );
        assert_eq!(accepted.new_checkout.cookie_id.as_deref(), Some("CIB1.1.2"));
        // The stored form is canonical, with the order date filled in and exact money.
        let stored = &accepted.new_checkout.checkout_json;
        assert!(
            stored.contains(r#""orderDate":"2026-01-02T03:04:05Z""#),
            "{stored}"
        );
        assert!(stored.contains(r#""totalSpent":150.00"#), "{stored}");
        assert!(!stored.contains("exp"), "{stored}");
    }

    #[test]
    fn no_items_skips_citrusad_but_keeps_cibler() {
        let body = signed_body(&checkout("234567866", "[]"), "null");
        let plan = acceptance(true, true, false)
            .accept(&body, NOW)
            .unwrap()
            .new_checkout
            .destinations;
        assert_eq!(state_of(&plan, Destination::Cibler), &InitialState::Pending);
        assert!(matches!(
            state_of(&plan, Destination::Citrusad),
            InitialState::Skipped { reason } if reason.starts_with("items:")
        ));
    }

    #[test]
    fn no_items_with_only_citrusad_is_refused_naming_items() {
        let body = signed_body(&checkout("1", "[]"), "null");
        let err = acceptance(false, true, false)
            .accept(&body, NOW)
            .unwrap_err();
        assert!(
            matches!(&err, AcceptError::Invalid { field: Some(f), .. } if f == "items"),
            "{err:?}"
        );
    }

    #[test]
    fn a_non_numeric_order_id_is_refused_while_cibler_is_enabled() {
        let body = signed_body(&checkout(r#""3h30e938""#, ONE_ITEM), "null");
        let err = acceptance(true, true, false)
            .accept(&body, NOW)
            .unwrap_err();
        assert!(
            matches!(&err, AcceptError::Invalid { field: Some(f), reason: "not_a_long", .. } if f == "orderId"),
            "{err:?}"
        );
        // ... and is fine for CitrusAd alone.
        let plan = acceptance(false, true, false).accept(&body, NOW).unwrap();
        assert_eq!(
            state_of(&plan.new_checkout.destinations, Destination::Cibler),
            &InitialState::Skipped {
                reason: "destination not configured when the order was accepted".into()
            }
        );
    }

    #[test]
    fn unsigned_checkouts_need_the_flag() {
        let body = format!(
            r#"{{"checkout":{},"cookieId":null}}"#,
            checkout("1", ONE_ITEM)
        );
        assert!(matches!(
            acceptance(true, true, false).accept(&body, NOW),
            Err(AcceptError::Unauthorized {
                reason: "missing_signature",
                ..
            })
        ));
        assert!(acceptance(true, true, true).accept(&body, NOW).is_ok());
    }

    #[test]
    fn envelope_mistakes_are_named() {
        let a = acceptance(true, true, true);
        let field = |body: &str| match a.accept(body, NOW) {
            Err(AcceptError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field("not json"), None);
        assert_eq!(field("[]"), None);
        assert_eq!(
            field(r#"{"token":"a","tokn":"b"}"#).as_deref(),
            Some("tokn")
        );
        assert_eq!(field(r#"{"token":5}"#).as_deref(), Some("token"));
        assert_eq!(
            field(r#"{"token":"a","token":"b"}"#).as_deref(),
            Some("token")
        );
        assert_eq!(
            field(r#"{"cookieId":null,"token":"a","cookieId":null}"#).as_deref(),
            Some("cookieId")
        );
        assert_eq!(
            field(r#"{"token":"a","cookieId":7}"#).as_deref(),
            Some("cookieId")
        );
        assert_eq!(
            field(r#"{"token":"a","checkout":{}}"#).as_deref(),
            Some("checkout")
        );
        let bad_item = format!(
            r#"{{"checkout":{}}}"#,
            checkout(
                "1",
                r#"[{"gtin":"1","quantity":0,"regularUnitPrice":1,"totalOrderItemPriceAfterDiscounts":1}]"#
            )
        );
        assert_eq!(field(&bad_item).as_deref(), Some("items[0].quantity"));
    }

    /// An import line: the checkout's own members plus `cookieId`, no signature needed.
    fn import_line(checkout_json: &str, cookie: &str) -> String {
        format!(
            r#"{{"cookieId":{cookie},{}"#,
            &checkout_json.trim_start()[1..]
        )
    }

    #[test]
    fn an_import_line_is_stored_as_the_same_hand_off_would_be() {
        let a = acceptance(true, true, false);
        let checkout_json = checkout("234567865", ONE_ITEM);
        let imported = a
            .accept_record(&import_line(&checkout_json, r#"" CIB1.1.2 ""#), NOW)
            .unwrap()
            .new_checkout;
        let handed_off = a
            .accept(&signed_body(&checkout_json, r#"" CIB1.1.2 ""#), NOW)
            .unwrap()
            .new_checkout;
        assert_eq!(imported.order_id, "234567865");
        assert_eq!(imported.checkout_json, handed_off.checkout_json);
        assert_eq!(imported.cookie_id.as_deref(), Some("CIB1.1.2"));
        assert_eq!(imported.destinations, handed_off.destinations);
        let without_cookie = a.accept_record(&checkout_json, NOW).unwrap();
        assert_eq!(without_cookie.new_checkout.cookie_id, None);
    }

    #[test]
    fn an_import_line_is_refused_as_the_same_hand_off_would_be() {
        let refusal = |a: &Acceptance, line: &str| match a.accept_record(line, NOW) {
            Err(AcceptError::Invalid { field, reason, .. }) => (field, reason),
            other => panic!("{line}: {other:?}"),
        };
        let both = acceptance(true, true, false);
        let field = |field: &str| Some(field.to_owned());
        assert_eq!(
            refusal(&both, &checkout(r#""3h30e938""#, ONE_ITEM)),
            (field("orderId"), "not_a_long")
        );
        let zero_quantity = r#"[{"gtin":"1","quantity":0,"regularUnitPrice":1,
            "totalOrderItemPriceAfterDiscounts":1}]"#;
        assert_eq!(
            refusal(&both, &checkout("1", zero_quantity)).0,
            field("items[0].quantity")
        );
        assert_eq!(
            refusal(&acceptance(false, true, false), &checkout("1", "[]")).0,
            field("items")
        );
        let ok = checkout("1", ONE_ITEM);
        assert_eq!(refusal(&both, &import_line(&ok, "7")).0, field("cookieId"));
        let twice = import_line(&import_line(&ok, "null"), r#""a""#);
        assert_eq!(
            refusal(&both, &twice),
            (field("cookieId"), "invalid_record")
        );
        // A token is not a way in: it is a member no checkout has.
        assert_eq!(
            refusal(&both, &import_line(&ok, r#"null,"token":"x""#)).0,
            field("token")
        );
        assert_eq!(refusal(&both, r#"{"orderId":1,"#), (None, "invalid_json"));
        assert_eq!(refusal(&both, "[1]"), (None, "invalid_record"));
    }

    #[test]
    fn signature_problems_are_401() {
        let a = acceptance(true, true, false);
        assert!(matches!(
            a.accept("{}", NOW),
            Err(AcceptError::Unauthorized { .. })
        ));
        let forged = sign_json(
            r#"{"exp":99999999999}"#,
            b"another-secret-another-secret-xx",
        );
        let body = format!(r#"{{"token":"{forged}"}}"#);
        assert!(matches!(
            a.accept(&body, NOW),
            Err(AcceptError::Unauthorized {
                reason: "forged_signature",
                ..
            })
        ));
    }

    /// Nanoseconds per `accept` of the ingest benchmark's signed hand-off (one item), the
    /// whole path before storage: envelope, signature, validation, plan, stored JSON. Run it
    /// in release: `cargo test --release -p ordersync-relay --lib accept_speed -- --ignored
    /// --nocapture`
    #[test]
    #[ignore = "a measurement, not a check: run it in release by name"]
    fn accept_speed() {
        let one_item = r#"[{"gtin":"3017620400001","quantity":2,"regularUnitPrice":"18.80",
            "totalOrderItemPriceAfterDiscounts":"37.60","catalogId":"catalog-bench"}]"#;
        let body = signed_body(&checkout("1000001", one_item), r#""CIB1.1.2""#);
        let a = acceptance(true, true, false);
        assert!(a.accept(&body, NOW).is_ok());
        let iterations = 100_000_u32;
        let best = (0..5)
            .map(|_round| {
                let start = std::time::Instant::now();
                for _ in 0..iterations {
                    std::hint::black_box(a.accept(std::hint::black_box(&body), NOW).is_ok());
                }
                start.elapsed().as_nanos() as f64 / f64::from(iterations)
            })
            .fold(f64::MAX, f64::min);
        println!(
            "accept_speed: body {} bytes: {best:.0} ns per accept (best of 5 rounds of {iterations})",
            body.len()
        );
    }
}
