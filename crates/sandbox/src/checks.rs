//! Declarative field checks shared by the CibleR and CitrusAd stand-ins.
//!
//! Each vendor's contract is written as a table of [`Field`]s; [`check_object`] walks a JSON
//! object against such a table and records one violation per broken rule, each naming the
//! field by its full path (`orders[0].orderItems[1].quantity`), so a test or a person reading
//! `/__sandbox/requests` sees exactly what the relay got wrong.

use serde_json::{Map, Value};

use ordersync_core::timestamp::is_rfc3339;

/// The JSON type a vendor documents for a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A JSON string (may be empty: the seeds do not forbid it, e.g. a missing cookie).
    String,
    /// A JSON string with at least one character (identifiers).
    NonEmptyString,
    /// A JSON integer that fits Java's `Integer` (32-bit signed), as CibleR's `siteId`.
    Integer,
    /// A JSON integer that fits Java's `Long` (64-bit signed), as CibleR's `orderId`.
    Long,
    /// Any JSON number (`Double` in CibleR's table, prices in CitrusAd's examples).
    Number,
    /// A JSON integer greater than zero (CitrusAd's `quantity`).
    PositiveInteger,
    /// A string holding an RFC 3339 date-time with `Z` or `+HH:MM` (CitrusAd's `orderDate`).
    Rfc3339,
    /// A JSON object, checked further by the caller.
    Object,
    /// A JSON array, checked further by the caller.
    Array,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::String => "must be a string",
            Kind::NonEmptyString => "must be a non-empty string",
            Kind::Integer => "must be an Integer (a whole JSON number that fits 32 bits)",
            Kind::Long => "must be a Long (a whole JSON number that fits 64 bits)",
            Kind::Number => "must be a JSON number",
            Kind::PositiveInteger => "must be a whole JSON number greater than zero",
            Kind::Rfc3339 => {
                "must be an RFC 3339 date-time string with Z or +HH:MM, e.g. 2021-12-02T15:00:00Z"
            }
            Kind::Object => "must be an object",
            Kind::Array => "must be an array",
        }
    }

    fn accepts(self, value: &Value) -> bool {
        match self {
            Kind::String => value.is_string(),
            Kind::NonEmptyString => value.as_str().is_some_and(|s| !s.is_empty()),
            Kind::Integer => value
                .as_i64()
                .is_some_and(|n| i32::try_from(n).is_ok() && is_integer_literal(value)),
            Kind::Long => value.as_i64().is_some() && is_integer_literal(value),
            Kind::Number => value.is_number(),
            Kind::PositiveInteger => value.as_u64().is_some_and(|n| n > 0),
            Kind::Rfc3339 => value.as_str().is_some_and(is_rfc3339),
            Kind::Object => value.is_object(),
            Kind::Array => value.is_array(),
        }
    }
}

/// serde_json keeps `13` as an integer and `13.0` as a float: a Java `Integer` or `Long`
/// field refuses the latter, so we do too.
fn is_integer_literal(value: &Value) -> bool {
    value.as_number().is_some_and(|n| !n.is_f64())
}

/// Whether a field must be there, and whether `null` is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Present and not null.
    Required,
    /// Present; `null` allowed (CibleR's "can be null" fields, CitrusAd's `substitutedFor`).
    RequiredNullable,
    /// May be left out; when present, of the right type and not null.
    Optional,
}

/// One row of a vendor's property table.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub presence: Presence,
}

impl Field {
    pub const fn required(name: &'static str, kind: Kind) -> Self {
        Field {
            name,
            kind,
            presence: Presence::Required,
        }
    }

    pub const fn nullable(name: &'static str, kind: Kind) -> Self {
        Field {
            name,
            kind,
            presence: Presence::RequiredNullable,
        }
    }

    pub const fn optional(name: &'static str, kind: Kind) -> Self {
        Field {
            name,
            kind,
            presence: Presence::Optional,
        }
    }
}

/// The contract violations found in one request, each `"path: what is wrong"`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(Vec<String>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, path: &str, problem: &str) {
        self.0.push(format!("{path}: {problem}"));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// `parent.name`, or `name` at the top level.
pub fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// Checks `value` (found at `path`) against `fields`: it must be an object, every field must
/// match its row, and no member outside the table is allowed (a misspelt field name, such
/// as `environment` for CibleR's `environnement`, would otherwise be silently ignored).
/// Returns the object so the caller can check nested members further.
pub fn check_object<'v>(
    value: &'v Value,
    path: &str,
    fields: &[Field],
    violations: &mut Violations,
) -> Option<&'v Map<String, Value>> {
    let Some(object) = value.as_object() else {
        violations.push(display_path(path), Kind::Object.describe());
        return None;
    };
    for field in fields {
        check_field(object, path, field, violations);
    }
    for key in object.keys() {
        if !fields.iter().any(|f| f.name == key) {
            violations.push(&join(path, key), "is not a field of this request");
        }
    }
    Some(object)
}

fn check_field(
    object: &Map<String, Value>,
    parent: &str,
    field: &Field,
    violations: &mut Violations,
) {
    let path = join(parent, field.name);
    match (object.get(field.name), field.presence) {
        (None, Presence::Optional) => {}
        (None, _) => violations.push(&path, "is required"),
        (Some(Value::Null), Presence::RequiredNullable) => {}
        (Some(Value::Null), _) => violations.push(&path, "must not be null"),
        (Some(value), _) if !field.kind.accepts(value) => {
            violations.push(&path, field.kind.describe())
        }
        (Some(_), _) => {}
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "body"
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TABLE: &[Field] = &[
        Field::required("name", Kind::NonEmptyString),
        Field::required("site", Kind::Integer),
        Field::required("order", Kind::Long),
        Field::nullable("code", Kind::String),
        Field::optional("seller", Kind::String),
        Field::required("count", Kind::PositiveInteger),
        Field::required("at", Kind::Rfc3339),
    ];

    fn check(value: Value) -> Vec<String> {
        let mut v = Violations::new();
        check_object(&value, "x", TABLE, &mut v);
        v.into_vec()
    }

    fn good() -> Value {
        json!({"name": "n", "site": 13, "order": 234567865, "code": null, "count": 3,
               "at": "2021-12-02T15:00:00+10:00"})
    }

    #[test]
    fn a_conforming_object_has_no_violation() {
        assert_eq!(check(good()), Vec::<String>::new());
    }

    #[test]
    fn each_broken_rule_names_the_field() {
        let cases = [
            ("name", json!(""), "x.name: must be a non-empty string"),
            ("site", json!(13.0), "x.site: must be an Integer"),
            (
                "site",
                json!(3_000_000_000u64),
                "x.site: must be an Integer",
            ),
            ("order", json!("234567865"), "x.order: must be a Long"),
            ("order", json!(1.5), "x.order: must be a Long"),
            ("code", json!(7), "x.code: must be a string"),
            ("seller", json!(null), "x.seller: must not be null"),
            (
                "count",
                json!(0),
                "x.count: must be a whole JSON number greater",
            ),
            (
                "count",
                json!(-2),
                "x.count: must be a whole JSON number greater",
            ),
            (
                "at",
                json!("2021-12-02 15:00:00"),
                "x.at: must be an RFC 3339",
            ),
            ("extra", json!(1), "x.extra: is not a field of this request"),
        ];
        for (name, bad, expected) in cases {
            let mut value = good();
            value[name] = bad;
            let found = check(value);
            assert_eq!(found.len(), 1, "{name}: {found:?}");
            assert!(found[0].starts_with(expected), "{found:?} vs {expected}");
        }
    }

    #[test]
    fn missing_and_null_are_told_apart() {
        let mut value = good();
        value.as_object_mut().unwrap().remove("code");
        assert_eq!(check(value), vec!["x.code: is required"]);
        let mut value = good();
        value["name"] = Value::Null;
        assert_eq!(check(value), vec!["x.name: must not be null"]);
    }

    #[test]
    fn a_non_object_is_refused_as_a_whole() {
        assert_eq!(check(json!([1])), vec!["x: must be an object"]);
        let mut v = Violations::new();
        check_object(&json!("text"), "", TABLE, &mut v);
        assert_eq!(v.into_vec(), vec!["body: must be an object"]);
    }
}
