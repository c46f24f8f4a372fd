//! The hand-written JSON reader (`input_json`, which the browser module and the relay read with)
//! against the independent one built on serde_json (`wire::input_from_serde_json`): for any
//! text, the same `Input` or both refuse.

use ordersync_core::input_json::parse_json;
use ordersync_core::wire::{input_from_serde_json as input_from_json, MAX_JSON_DEPTH};
use ordersync_core::Input;
use proptest::prelude::*;

fn same(text: &str) -> Result<(), TestCaseError> {
    let ours = parse_json(text).ok();
    let theirs = input_from_json(text).ok();
    prop_assert_eq!(ours, theirs, "{:?}", text);
    Ok(())
}

/// Strings with escapes, non-ASCII, surrogate pairs and lone surrogates, raw controls.
fn json_string() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[a-zA-Z0-9 é€😀]{0,4}".prop_map(|s| s),
            Just("\\\"".to_owned()),
            Just("\\\\".to_owned()),
            Just("\\/".to_owned()),
            Just("\\b\\f\\n\\r\\t".to_owned()),
            "\\\\u[0-9a-fA-F]{4}".prop_map(|s| s),
            Just("\\ud83d\\ude00".to_owned()),
            Just("\\ud800".to_owned()),
            Just("\\udc00x".to_owned()),
            Just("\\ud800\\u0041".to_owned()),
            Just("\t".to_owned()),
            Just("\u{7f}".to_owned()),
            Just("\\x".to_owned()),
        ],
        0..5,
    )
    .prop_map(|parts| format!("\"{}\"", parts.concat()))
}

fn json_number() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?(0|[1-9][0-9]{0,25})(\\.[0-9]{1,5})?([eE][+-]?[0-9]{1,3})?".prop_map(|s| s),
        // Not JSON numbers: leading zeros, bare signs and dots, words.
        "[-+]?[0-9]{0,3}\\.?[0-9]{0,2}[eE]?[+-]?".prop_map(|s| s),
        Just("NaN".to_owned()),
        Just("Infinity".to_owned()),
    ]
}

fn space() -> impl Strategy<Value = String> {
    "[ \t\r\n]{0,2}".prop_map(|s| s)
}

fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        json_string(),
        json_number(),
        Just("true".to_owned()),
        Just("false".to_owned()),
        Just("null".to_owned()),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            (
                prop::collection::vec((space(), inner.clone()), 0..6),
                space()
            )
                .prop_map(|(elements, end)| {
                    let list: Vec<String> = elements.into_iter().map(|(s, e)| s + &e).collect();
                    format!("[{}{end}]", list.join(","))
                }),
            (
                prop::collection::vec((json_string(), space(), inner), 0..6),
                space()
            )
                .prop_map(|(members, end)| {
                    let list: Vec<String> = members
                        .into_iter()
                        .map(|(k, s, v)| format!("{k}{s}:{s}{v}"))
                        .collect();
                    format!("{{{}{end}}}", list.join(","))
                }),
        ]
    })
}

/// Edits that break or bend JSON: insert, delete or replace a character.
fn mutate(text: &str, edits: &[(usize, u8, char)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for &(at, kind, c) in edits {
        let at = if chars.is_empty() {
            0
        } else {
            at % (chars.len() + 1)
        };
        match kind % 3 {
            0 => chars.insert(at, c),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ if at < chars.len() => chars[at] = c,
            _ => chars.push(c),
        }
    }
    chars.into_iter().collect()
}

fn edit_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![
            '{', '}', '[', ']', ',', ':', '"', '\\', ' ', '\n', '0', '1', '-', '.', 'e', 'u', 'n',
            't', 'é', '\u{0}', '\u{1f}'
        ]),
        any::<char>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn generated_json_reads_as_serde_json_reads_it(text in json_text(), before in space(), after in space()) {
        same(&format!("{before}{text}{after}"))?;
    }

    #[test]
    fn mutated_json_reads_as_serde_json_reads_it(
        text in json_text(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), edit_char()), 1..4),
    ) {
        same(&mutate(&text, &edits))?;
    }

    #[test]
    fn any_text_reads_as_serde_json_reads_it(text in ".{0,40}") {
        same(&text)?;
    }
}

#[test]
fn nesting_limit_is_the_relays() {
    for depth in [31, 32, 33, 40] {
        let arrays = "[".repeat(depth) + &"]".repeat(depth);
        let objects = "{\"a\":".repeat(depth - 1) + "{}" + &"}".repeat(depth - 1);
        same(&arrays).unwrap();
        same(&objects).unwrap();
    }
    assert_eq!(
        parse_json("[[1]]").unwrap(),
        Input::Array(vec![Input::Array(vec![Input::num("1")])])
    );
}

/// Both readers read nesting up to the limit and refuse it beyond, without recursing once per
/// level of hostile input (which would overflow the thread's stack).
#[test]
fn both_readers_read_nesting_up_to_the_limit_and_refuse_it_beyond() {
    let nested = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    let hostile = [
        format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000)),
        format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000)),
    ];
    type Reads = fn(&str) -> bool;
    let readers: [(&str, Reads); 2] = [
        ("hand-written", |text| parse_json(text).is_ok()),
        ("serde_json", |text| input_from_json(text).is_ok()),
    ];
    for (name, reads) in readers {
        assert!(reads(&nested(MAX_JSON_DEPTH)), "{name}");
        assert!(!reads(&nested(MAX_JSON_DEPTH + 1)), "{name}");
        for text in &hostile {
            assert!(!reads(text), "{name}");
        }
    }
}
