//! Validation errors that name the field and the reason.
//!
//! Messages are `&'static str` and field paths are built with `push_str`, not `format!`:
//! the browser module links this code, and `core::fmt` would cost it kilobytes.

use std::borrow::Cow;

/// Where in the checkout (or the options around it) a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    /// The line item's index when the field belongs to `items[i]`.
    pub item: Option<usize>,
    /// The camelCase field name, as it appears on the wire (or an unknown key, as given).
    pub name: Cow<'static, str>,
}

impl FieldPath {
    pub const fn top(name: &'static str) -> Self {
        Self {
            item: None,
            name: Cow::Borrowed(name),
        }
    }

    pub const fn item(index: usize, name: &'static str) -> Self {
        Self {
            item: Some(index),
            name: Cow::Borrowed(name),
        }
    }

    /// A key the caller sent that we do not know, named as it was sent; the empty key is
    /// named `""` so that every error still names a field.
    pub fn unknown(item: Option<usize>, key: &str) -> Self {
        let name = if key.is_empty() {
            Cow::Borrowed("\"\"")
        } else {
            Cow::Owned(key.to_owned())
        };
        Self { item, name }
    }

    /// `orderId`, `items[3].quantity`, or `items[3]` for the item itself.
    pub fn to_path_string(&self) -> String {
        let mut out = String::new();
        if let Some(index) = self.item {
            out.push_str("items[");
            push_decimal(&mut out, index as u64);
            out.push(']');
            if !self.name.is_empty() {
                out.push('.');
            }
        }
        out.push_str(&self.name);
        out
    }
}

/// Why a field was refused. Each reason has one fixed, human-readable message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Missing,
    NotAnObject,
    NotAString,
    NotAnArray,
    NotANumber,
    Empty,
    TooLong,
    ControlCharacter,
    UnknownField,
    DuplicateField,
    NotAnInteger,
    NotPositive,
    Negative,
    TooManyDecimals,
    TooLarge,
    UnsafeInteger,
    NotALong,
    InvalidEmail,
    InvalidTimestamp,
    NoItems,
    TooManyItems,
    InvalidUrl,
    QueryTooLong,
    InvalidQuery,
    LengthMismatch,
}

impl Reason {
    pub const fn message(self) -> &'static str {
        match self {
            Reason::Missing => "is required",
            Reason::NotAnObject => "must be an object",
            Reason::NotAString => "must be a string",
            Reason::NotAnArray => "must be an array",
            Reason::NotANumber => "must be a number or a decimal string",
            Reason::Empty => "must not be empty",
            Reason::TooLong => "is too long (at most 256 characters)",
            Reason::ControlCharacter => "must not contain control characters",
            Reason::UnknownField => "is not a known field",
            Reason::DuplicateField => "appears more than once",
            Reason::NotAnInteger => "must be a whole number",
            Reason::NotPositive => "must be greater than zero",
            Reason::Negative => "must not be negative",
            Reason::TooManyDecimals => "has more than 2 decimals",
            Reason::TooLarge => "is too large",
            Reason::UnsafeInteger => {
                "is above 2^53 and cannot be exact as a JSON number: pass it as a string"
            }
            Reason::NotALong => "must be a whole number that fits a 64-bit integer (CibleR Long)",
            Reason::InvalidEmail => "must be an email address",
            Reason::InvalidTimestamp => {
                "must be an RFC 3339 date-time with Z or +HH:MM, e.g. 2021-12-02T15:00:00Z"
            }
            Reason::NoItems => "must hold at least one line item for CitrusAd",
            Reason::TooManyItems => "has too many line items (at most 1000)",
            Reason::InvalidUrl => "must be an absolute http(s) URL",
            Reason::QueryTooLong => "makes a URL longer than a GET request can safely carry",
            Reason::InvalidQuery => "is not a valid query",
            Reason::LengthMismatch => "must have as many entries as procods, pris and quas",
        }
    }
}

/// A refused field: the path to it and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}", .field.to_path_string(), .reason.message())]
pub struct ValidationError {
    pub field: FieldPath,
    pub reason: Reason,
}

impl ValidationError {
    pub fn new(field: FieldPath, reason: Reason) -> Self {
        Self { field, reason }
    }

    pub fn field_path(&self) -> String {
        self.field.to_path_string()
    }

    pub fn message(&self) -> &'static str {
        self.reason.message()
    }
}

/// Appends the decimal digits of `value`; a hand-written `itoa` for the size budget.
pub fn push_decimal(out: &mut String, value: u64) {
    let mut digits = [0u8; 20];
    let mut n = value;
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[start..] {
        out.push(d as char);
    }
}

/// The decimal digits of `value`, as a new string ([`push_decimal`]).
pub fn decimal_string(value: u64) -> String {
    let mut out = String::new();
    push_decimal(&mut out, value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_item_and_field() {
        assert_eq!(FieldPath::top("orderId").to_path_string(), "orderId");
        assert_eq!(
            FieldPath::item(12, "quantity").to_path_string(),
            "items[12].quantity"
        );
        assert_eq!(FieldPath::item(0, "").to_path_string(), "items[0]");
    }

    #[test]
    fn an_empty_unknown_key_is_still_named() {
        assert_eq!(FieldPath::unknown(None, "").to_path_string(), "\"\"");
        assert_eq!(
            FieldPath::unknown(Some(2), "").to_path_string(),
            "items[2].\"\""
        );
        assert_eq!(
            FieldPath::unknown(None, "totalSpend").to_path_string(),
            "totalSpend"
        );
    }

    #[test]
    fn display_joins_path_and_message() {
        let e = ValidationError::new(FieldPath::item(3, "gtin"), Reason::Missing);
        assert_eq!(e.to_string(), "items[3].gtin: is required");
    }

    #[test]
    fn decimal_digits() {
        for n in [0u64, 7, 10, 99, 12345, u64::MAX] {
            let mut s = String::new();
            push_decimal(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }
}
