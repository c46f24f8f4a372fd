//! Any serde data format to [`Input`]: the browser module reads the page's checkout with it,
//! through serde-wasm-bindgen, into the same [`Input`] the relay reads from JSON text, and then
//! through the same validation ([`crate::checkout`]).
//!
//! Numbers become their decimal text, as [`Input::Number`] holds them. Whole numbers are
//! written here; a number with a fraction (or beyond 2^53) is written by the caller's
//! [`InputSeed::float_text`], so the core formats no binary float itself: in the browser that is
//! JavaScript's own `Number#toString`, the text `JSON.stringify` gives the relay for the same
//! value, and no float formatting code is linked into the module.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{decimal_string, push_decimal};
use crate::input::Input;

/// Reads one [`Input`]; `float_text` writes the numbers that are not whole (see module docs).
#[derive(Clone, Copy)]
pub struct InputSeed {
    pub float_text: fn(f64) -> String,
}

impl<'de> DeserializeSeed<'de> for InputSeed {
    type Value = Input;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Input, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for InputSeed {
    type Value = Input;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a JSON-like value")
    }

    fn visit_unit<E>(self) -> Result<Input, E> {
        Ok(Input::Null)
    }

    fn visit_none<E>(self) -> Result<Input, E> {
        Ok(Input::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Input, E> {
        Ok(Input::Bool(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Input, E> {
        Ok(Input::Number(decimal_string(value)))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Input, E> {
        let mut text = String::new();
        if value < 0 {
            text.push('-');
        }
        push_decimal(&mut text, value.unsigned_abs());
        Ok(Input::Number(text))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Input, E> {
        Ok(Input::Number((self.float_text)(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<Input, E> {
        Ok(Input::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Input, E> {
        Ok(Input::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Input, A::Error> {
        let mut elements = Vec::new();
        while let Some(element) = seq.next_element_seed(self)? {
            elements.push(element);
        }
        Ok(Input::Array(elements))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Input, A::Error> {
        let mut members = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            members.push((key, map.next_value_seed(self)?));
        }
        Ok(Input::Object(members))
    }
}

#[cfg(all(test, feature = "json"))]
mod tests {
    use super::InputSeed;
    use crate::input::Input;
    use serde::de::DeserializeSeed;

    fn read(json: &str) -> Input {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        InputSeed {
            float_text: |value| format!("{value}"),
        }
        .deserialize(&mut deserializer)
        .unwrap()
    }

    #[test]
    fn reads_every_kind_of_value_in_order() {
        assert_eq!(
            read(r#"{"b":[1,-2,1.5,"x",true,null],"a":{}}"#),
            Input::object([
                (
                    "b",
                    Input::Array(vec![
                        Input::num("1"),
                        Input::num("-2"),
                        Input::num("1.5"),
                        Input::str("x"),
                        Input::Bool(true),
                        Input::Null,
                    ])
                ),
                ("a", Input::object(Vec::<(String, Input)>::new())),
            ])
        );
    }
}
