//! CitrusAd's front-end order report: `GET /v1/resource/third-o` with index-aligned
//! `procods` / `pris` / `quas`.

use percent_encoding::percent_decode_str;

use crate::checkout::{check_text, Checkout, FrontendCheckout};
use crate::error::{decimal_string, FieldPath, Reason, ValidationError};
use crate::money::Money;
use crate::timestamp::is_rfc3339;

pub const THIRD_O_PATH: &str = "/v1/resource/third-o";

/// Longest URL we will send as a GET. Browsers take far more, but proxies and servers commonly
/// stop at 8 KiB for the whole request line; a longer report is skipped, never truncated.
pub const MAX_URL_BYTES: usize = 8000;

/// Everything but RFC 3986 unreserved characters is percent-encoded (query values here, the
/// CibleR path segment in `wire::cibler`).
#[cfg(any(feature = "json", test))]
pub(crate) const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Appends `value` percent-encoded exactly as [`COMPONENT`] encodes it (upper-case hex),
/// without `percent-encoding`'s 768-byte `%00`…`%FF` table: the browser module's size budget.
pub(crate) fn push_component(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in value.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
}

/// What the page configures for the front-end path (never a secret: the key is publishable).
#[derive(Debug, Clone, Copy)]
pub struct FrontendConfig<'a> {
    pub base_url: &'a str,
    pub publishable_key: &'a str,
    pub team_id: Option<&'a str>,
    pub catalog_id: &'a str,
}

/// The order-level values of a third-o query.
struct Order<'a> {
    order_id: &'a str,
    order_date: &'a str,
    session_id: &'a str,
    customer_id: &'a str,
}

/// The third-o parameters, one entry per line item in each of the three arrays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThirdOQuery {
    pub key: String,
    pub teaid: Option<String>,
    pub catid: String,
    pub ordid: String,
    pub ordts: String,
    pub sesid: String,
    pub cusid: Option<String>,
    pub procods: Vec<String>,
    pub pris: Vec<String>,
    pub quas: Vec<String>,
}

impl ThirdOQuery {
    /// Builds the query for `checkout`; `now` (RFC 3339) stands in for a missing order date.
    /// `pris` carries each line's unit price (`regularUnitPrice`), so `pris × quas` is the line.
    pub fn from_checkout(
        checkout: &Checkout,
        config: &FrontendConfig<'_>,
        now: &str,
    ) -> Result<ThirdOQuery, ValidationError> {
        let items = &checkout.items;
        Self::build(
            config,
            Order {
                order_id: &checkout.order_id,
                order_date: checkout.order_date_or(now),
                session_id: &checkout.session_id,
                customer_id: checkout.citrus_customer_id(),
            },
            items
                .iter()
                .map(|i| (&i.gtin, i.regular_unit_price, i.quantity)),
        )
    }

    /// The same query from the fields the browser module validates ([`FrontendCheckout`]):
    /// equal to [`ThirdOQuery::from_checkout`] for every checkout that accepts.
    pub fn from_frontend(
        checkout: &FrontendCheckout,
        config: &FrontendConfig<'_>,
        now: &str,
    ) -> Result<ThirdOQuery, ValidationError> {
        let items = &checkout.items;
        Self::build(
            config,
            Order {
                order_id: &checkout.order_id,
                order_date: checkout.order_date.as_deref().unwrap_or(now),
                session_id: &checkout.session_id,
                customer_id: checkout.citrus_customer_id(),
            },
            items
                .iter()
                .map(|i| (&i.gtin, i.regular_unit_price, i.quantity)),
        )
    }

    /// The checks before a query is built: the options' texts, at least one item, the date.
    fn check(
        config: &FrontendConfig<'_>,
        items: usize,
        order_date: &str,
    ) -> Result<(), ValidationError> {
        check_text(
            config.publishable_key,
            &FieldPath::top("citrus.publishableKey"),
        )?;
        check_text(config.catalog_id, &FieldPath::top("citrus.catalogId"))?;
        if let Some(team) = config.team_id {
            check_text(team, &FieldPath::top("citrus.teamId"))?;
        }
        if items == 0 {
            return Err(ValidationError::new(
                FieldPath::top("items"),
                Reason::NoItems,
            ));
        }
        if !is_rfc3339(order_date) {
            return Err(ValidationError::new(
                FieldPath::top("orderDate"),
                Reason::InvalidTimestamp,
            ));
        }
        Ok(())
    }

    fn build<'a>(
        config: &FrontendConfig<'_>,
        order: Order<'_>,
        items: impl ExactSizeIterator<Item = (&'a String, Money, u64)> + Clone,
    ) -> Result<ThirdOQuery, ValidationError> {
        Self::check(config, items.len(), order.order_date)?;
        Ok(ThirdOQuery {
            key: config.publishable_key.to_owned(),
            teaid: config.team_id.map(str::to_owned),
            catid: config.catalog_id.to_owned(),
            ordid: order.order_id.to_owned(),
            ordts: order.order_date.to_owned(),
            sesid: order.session_id.to_owned(),
            cusid: Some(order.customer_id.to_owned()),
            procods: items.clone().map(|(gtin, _, _)| gtin.clone()).collect(),
            pris: items
                .clone()
                .map(|(_, price, _)| price.to_decimal_string())
                .collect(),
            quas: items
                .map(|(_, _, quantity)| decimal_string(quantity))
                .collect(),
        })
    }

    /// `key=…&teaid=…&…&procods=…&pris=…&quas=…` in item order, every value percent-encoded.
    pub fn to_query_string(&self) -> String {
        let mut out = String::new();
        write_query(
            &mut out,
            &QueryParams {
                key: &self.key,
                teaid: self.teaid.as_deref(),
                catid: &self.catid,
                ordid: &self.ordid,
                ordts: &self.ordts,
                sesid: &self.sesid,
                cusid: self.cusid.as_deref(),
            },
            self.procods
                .iter()
                .zip(&self.pris)
                .zip(&self.quas)
                .map(|((code, price), quantity)| (code, price, quantity)),
        );
        out
    }

    /// The full GET URL on `base_url`, refused when longer than [`MAX_URL_BYTES`].
    pub fn to_url(&self, base_url: &str) -> Result<String, ValidationError> {
        let base = check_base_url(base_url)?;
        let mut url = String::with_capacity(base.len() + 256);
        url.push_str(base);
        url.push_str(THIRD_O_PATH);
        url.push('?');
        url.push_str(&self.to_query_string());
        if url.len() > MAX_URL_BYTES {
            return Err(ValidationError::new(
                FieldPath::top("items"),
                Reason::QueryTooLong,
            ));
        }
        Ok(url)
    }

    /// Reads a third-o query as strictly as CitrusAd's specification describes it: every
    /// required parameter once, the three arrays of equal length, `ordts` RFC 3339, prices
    /// decimal strings, quantities positive whole numbers.
    pub fn parse(query: &str) -> Result<ThirdOQuery, ValidationError> {
        let mut single: [Option<String>; 7] = Default::default();
        let (mut procods, mut pris, mut quas) = (Vec::new(), Vec::new(), Vec::new());
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode_component(raw, name)?;
            match name {
                "procods" => procods.push(value),
                "pris" => pris.push(value),
                "quas" => quas.push(value),
                _ => {
                    let Some(slot) = SINGLE_PARAMS.iter().position(|p| *p == name) else {
                        return Err(ValidationError::new(
                            FieldPath::unknown(None, name),
                            Reason::UnknownField,
                        ));
                    };
                    if single[slot].replace(value).is_some() {
                        return Err(ValidationError::new(
                            FieldPath::top(SINGLE_PARAMS[slot]),
                            Reason::InvalidQuery,
                        ));
                    }
                }
            }
        }
        let [key, teaid, catid, ordid, ordts, sesid, cusid] = single;
        let required = |value: Option<String>, name: &'static str| {
            let field = FieldPath::top(name);
            let value =
                value.ok_or_else(|| ValidationError::new(field.clone(), Reason::Missing))?;
            check_text(&value, &field).map(|()| value)
        };
        let parsed = ThirdOQuery {
            key: required(key, "key")?,
            teaid,
            catid: required(catid, "catid")?,
            ordid: required(ordid, "ordid")?,
            ordts: required(ordts, "ordts")?,
            sesid: required(sesid, "sesid")?,
            cusid,
            procods,
            pris,
            quas,
        };
        parsed.check_arrays()?;
        if !is_rfc3339(&parsed.ordts) {
            return Err(ValidationError::new(
                FieldPath::top("ordts"),
                Reason::InvalidTimestamp,
            ));
        }
        Ok(parsed)
    }

    fn check_arrays(&self) -> Result<(), ValidationError> {
        if self.procods.is_empty() {
            return Err(ValidationError::new(
                FieldPath::top("procods"),
                Reason::Missing,
            ));
        }
        for (name, len) in [("pris", self.pris.len()), ("quas", self.quas.len())] {
            if len != self.procods.len() {
                return Err(ValidationError::new(
                    FieldPath::top(name),
                    Reason::LengthMismatch,
                ));
            }
        }
        for code in &self.procods {
            check_text(code, &FieldPath::top("procods"))?;
        }
        for price in &self.pris {
            Money::parse(price)
                .map_err(|reason| ValidationError::new(FieldPath::top("pris"), reason))?;
        }
        for quantity in &self.quas {
            let whole = !quantity.is_empty() && quantity.bytes().all(|b| b.is_ascii_digit());
            if !whole || quantity.bytes().all(|b| b == b'0') {
                return Err(ValidationError::new(
                    FieldPath::top("quas"),
                    Reason::NotPositive,
                ));
            }
        }
        Ok(())
    }
}

/// The order-level third-o parameters, borrowed from a [`ThirdOQuery`] or straight from a
/// [`FrontendCheckout`] and its [`FrontendConfig`].
struct QueryParams<'a> {
    key: &'a str,
    teaid: Option<&'a str>,
    catid: &'a str,
    ordid: &'a str,
    ordts: &'a str,
    sesid: &'a str,
    cusid: Option<&'a str>,
}

/// The writer of a third-o query ([`ThirdOQuery::to_query_string`]): `key=…&teaid=…&…` then
/// `procods`, `pris`, `quas` once per item, in item order, every value percent-encoded.
fn write_query<A: AsRef<str>, B: AsRef<str>, C: AsRef<str>>(
    out: &mut String,
    params: &QueryParams<'_>,
    items: impl Iterator<Item = (A, B, C)>,
) {
    let mut first = true;
    let mut add = |name: &str, value: &str| {
        if !first {
            out.push('&');
        }
        first = false;
        out.push_str(name);
        out.push('=');
        push_component(out, value);
    };
    add("key", params.key);
    if let Some(teaid) = params.teaid {
        add("teaid", teaid);
    }
    add("catid", params.catid);
    add("ordid", params.ordid);
    add("ordts", params.ordts);
    add("sesid", params.sesid);
    if let Some(cusid) = params.cusid {
        add("cusid", cusid);
    }
    for (code, price, quantity) in items {
        add("procods", code.as_ref());
        add("pris", price.as_ref());
        add("quas", quantity.as_ref());
    }
}

const SINGLE_PARAMS: [&str; 7] = ["key", "teaid", "catid", "ordid", "ordts", "sesid", "cusid"];

fn decode_component(raw: &str, name: &str) -> Result<String, ValidationError> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| ValidationError::new(FieldPath::unknown(None, name), Reason::InvalidQuery))
}

/// The base URL without its trailing slash, if it is an absolute http(s) URL with a host and
/// nothing after the path.
pub fn check_base_url(base_url: &str) -> Result<&str, ValidationError> {
    let refuse = || ValidationError::new(FieldPath::top("citrus.baseUrl"), Reason::InvalidUrl);
    let base = base_url.trim_end_matches('/');
    let rest = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"))
        .ok_or_else(refuse)?;
    // The host (before the first `/`) is empty exactly when `rest` is or starts with `/`.
    let no_host = rest.is_empty() || rest.starts_with('/');
    let clean =
        !base.contains(['?', '#']) && !base.chars().any(|c| c.is_whitespace() || c.is_control());
    if no_host || !clean {
        return Err(refuse());
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use percent_encoding::utf8_percent_encode;

    #[test]
    fn push_component_encodes_like_the_component_set() {
        let every_char: String = (0u32..0x800).filter_map(char::from_u32).collect();
        for value in [
            "",
            "abc-._~XYZ09",
            "a b&c=d/e?f#g+h%i",
            "é€😀",
            every_char.as_str(),
        ] {
            let mut ours = String::new();
            push_component(&mut ours, value);
            let theirs: String = utf8_percent_encode(value, COMPONENT).collect();
            assert_eq!(ours, theirs, "{value:?}");
        }
    }
}
