//! JSON text to [`Input`], written by hand, without serde.
//!
//! The relay reads every hand-off with it (`wire::input_from_json`): one pass, where a
//! serde_json reader keeping number literals re-scans each nesting level (measured: most of a
//! token's verification in the relay's profile). The browser module reads a signed checkout's
//! claims with it too, so the two read a token alike (about 2 KB of the module, a fraction of
//! what serde_json would add). It yields exactly what the serde_json reader
//! (`wire::input_from_serde_json`) yields, or refuses where it refuses (a proptest in
//! `tests/input_json.rs` and a fuzz target compare the two): strict JSON (RFC 8259), no trailing
//! garbage or commas, numbers kept as their literal text (money never passes through a float), members in
//! the order given with duplicated keys kept (so validation can name them), nesting at most
//! [`MAX_DEPTH`] containers deep, and lone UTF-16 surrogates in `\u` escapes refused, as
//! serde_json refuses them in a string.

use crate::input::Input;

/// Deepest nesting read (also `wire::MAX_JSON_DEPTH`).
pub const MAX_DEPTH: usize = 32;

/// Why the text is not JSON we read (no position or detail: the callers only refuse it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError;

/// Parses `text` (one JSON value, whitespace around it allowed).
pub fn parse_json(text: &str) -> Result<Input, JsonError> {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    let value = reader.value(0)?;
    reader.skip_space();
    if reader.at == reader.bytes.len() {
        Ok(value)
    } else {
        Err(JsonError)
    }
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Result<u8, JsonError> {
        let byte = self.peek().ok_or(JsonError)?;
        self.at += 1;
        Ok(byte)
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Consumes `byte` (after whitespace) when it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_space();
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    fn value(&mut self, depth: usize) -> Result<Input, JsonError> {
        self.skip_space();
        let start = self.at;
        match self.next()? {
            b'"' => self.string().map(Input::String),
            open @ (b'{' | b'[') => {
                if depth >= MAX_DEPTH {
                    return Err(JsonError);
                }
                self.container(open == b'{', depth + 1)
            }
            b't' => self.literal(b"rue", Input::Bool(true)),
            b'f' => self.literal(b"alse", Input::Bool(false)),
            b'n' => self.literal(b"ull", Input::Null),
            _ => {
                self.at = start;
                self.number(start)
            }
        }
    }

    fn literal(&mut self, rest: &[u8], value: Input) -> Result<Input, JsonError> {
        if self.bytes[self.at..].starts_with(rest) {
            self.at += rest.len();
            Ok(value)
        } else {
            Err(JsonError)
        }
    }

    /// An object's members or an array's elements, after the opening bracket.
    fn container(&mut self, object: bool, depth: usize) -> Result<Input, JsonError> {
        let close = if object { b'}' } else { b']' };
        let mut members = Vec::new();
        let mut elements = Vec::new();
        if !self.eat(close) {
            loop {
                if object {
                    if !self.eat(b'"') {
                        return Err(JsonError);
                    }
                    let key = self.string()?;
                    if !self.eat(b':') {
                        return Err(JsonError);
                    }
                    members.push((key, self.value(depth)?));
                } else {
                    elements.push(self.value(depth)?);
                }
                if self.eat(close) {
                    break;
                }
                if !self.eat(b',') {
                    return Err(JsonError);
                }
            }
        }
        Ok(if object {
            Input::Object(members)
        } else {
            Input::Array(elements)
        })
    }

    /// A string's content, after its opening quote.
    fn string(&mut self) -> Result<String, JsonError> {
        let mut out = String::new();
        loop {
            let start = self.at;
            while matches!(self.peek(), Some(byte) if byte != b'"' && byte != b'\\' && byte >= 0x20)
            {
                self.at += 1;
            }
            // The run starts and ends at ASCII bytes: whole characters of the text.
            out.push_str(&self.text[start..self.at]);
            match self.next()? {
                b'"' => return Ok(out),
                b'\\' => {}
                _ => return Err(JsonError), // a raw control character
            }
            let unescaped = match self.next()? {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => self.unicode_escape()?,
                _ => return Err(JsonError),
            };
            out.push(unescaped);
        }
    }

    /// The character of a `\uXXXX` escape (after `\u`), a surrogate pair read as one.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = match first {
            0xd800..=0xdbff => {
                if self.next()? != b'\\' || self.next()? != b'u' {
                    return Err(JsonError);
                }
                let second = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&second) {
                    return Err(JsonError);
                }
                0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
            }
            code => code,
        };
        // A lone trailing surrogate is no `char`: refused.
        char::from_u32(code).ok_or(JsonError)
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = char::from(self.next()?).to_digit(16).ok_or(JsonError)?;
            code = code * 16 + digit;
        }
        Ok(code)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, kept as its text.
    fn number(&mut self, start: usize) -> Result<Input, JsonError> {
        self.at += usize::from(self.peek() == Some(b'-'));
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(JsonError),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.required_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            self.at += usize::from(matches!(self.peek(), Some(b'+' | b'-')));
            self.required_digits()?;
        }
        Ok(Input::Number(self.text[start..self.at].to_owned()))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }

    fn required_digits(&mut self) -> Result<(), JsonError> {
        let start = self.at;
        self.digits();
        if self.at == start {
            Err(JsonError)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Input {
        parse_json(text).unwrap_or_else(|_| panic!("refused {text:?}"))
    }

    #[test]
    fn reads_every_kind_keeping_literals_order_and_duplicates() {
        assert_eq!(
            ok(r#" {"b":1.50,"a":[true,false,null,-0,1e+21],"b":"x","":{}} "#),
            Input::object([
                ("b", Input::num("1.50")),
                (
                    "a",
                    Input::Array(vec![
                        Input::Bool(true),
                        Input::Bool(false),
                        Input::Null,
                        Input::num("-0"),
                        Input::num("1e+21"),
                    ])
                ),
                ("b", Input::str("x")),
                ("", Input::Object(vec![])),
            ])
        );
        assert_eq!(ok("[]"), Input::Array(vec![]));
        assert_eq!(ok("\t\r\n 7 \n"), Input::num("7"));
    }

    #[test]
    fn unescapes_strings() {
        assert_eq!(
            ok(r#""a\"b\\c\/d\b\f\n\r\t\u00e9\u20AC\ud83d\ude00é😀""#),
            Input::str("a\"b\\c/d\u{8}\u{c}\n\r\té€😀é😀")
        );
    }

    #[test]
    fn refuses_what_is_not_strict_json() {
        for bad in [
            "",
            " ",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "[1 2]",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "+1",
            "NaN",
            "Infinity",
            "tru",
            "nul",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"a\tb\"",
            "\"open",
            "1 2",
            "{} x",
            "'a'",
        ] {
            assert_eq!(parse_json(bad), Err(JsonError), "{bad:?}");
        }
    }

    #[test]
    fn nests_at_most_max_depth_containers() {
        let nested = |n: usize| "[".repeat(n) + &"]".repeat(n);
        assert!(parse_json(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(parse_json(&nested(MAX_DEPTH + 1)), Err(JsonError));
        assert_eq!(parse_json(&nested(100_000)), Err(JsonError));
    }
}
