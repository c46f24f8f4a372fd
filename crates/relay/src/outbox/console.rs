//! What the operators' console ([`crate::server::console`]) reads from the outbox, beyond the
//! queue depth and the dead letters: recent deliveries per destination, the latest orders (or
//! those whose id starts with a search), and accepted and delivered orders per minute.

use serde::Serialize;

use super::Destination;

/// One minute, in milliseconds: the chart's bucket.
pub const MINUTE_MS: i64 = 60_000;
/// One hour, in milliseconds.
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
/// One day, in milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Deliveries to one destination in the last hour and the last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveredRecently {
    pub destination: Destination,
    pub last_hour: u64,
    pub last_day: u64,
}

impl DeliveredRecently {
    /// No delivery to `destination` at all.
    pub fn none(destination: Destination) -> Self {
        DeliveredRecently {
            destination,
            last_hour: 0,
            last_day: 0,
        }
    }
}

/// Orders accepted and orders delivered in one minute.
///
/// An order counts as delivered in the minute its last destination was delivered, once none
/// is left pending, retrying or dead (a destination skipped for that order does not hold it
/// back, but an order skipped everywhere was never delivered and is not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MinuteActivity {
    /// The minute's start, unix milliseconds (a multiple of [`MINUTE_MS`]).
    pub minute_ms: i64,
    pub accepted: u64,
    pub delivered: u64,
}

/// The minute `ms` falls in, as the start of that minute.
pub fn minute_of(ms: i64) -> i64 {
    ms.div_euclid(MINUTE_MS) * MINUTE_MS
}

/// What a per-minute count counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    Accepted,
    Delivered,
}

/// Adds `n` orders `counted` in the minute starting at `minute_ms` to the buckets, kept in time
/// order (both backends count accepted and delivered orders in separate queries, merged here).
pub(crate) fn add_to_minute(
    buckets: &mut std::collections::BTreeMap<i64, MinuteActivity>,
    minute_ms: i64,
    counted: Counted,
    n: u64,
) {
    let bucket = buckets.entry(minute_ms).or_insert(MinuteActivity {
        minute_ms,
        accepted: 0,
        delivered: 0,
    });
    match counted {
        Counted::Accepted => bucket.accepted += n,
        Counted::Delivered => bucket.delivered += n,
    }
}

/// The smallest string greater than every string starting with `prefix` (in code point order,
/// which is UTF-8's byte order): the exclusive upper bound of a prefix search as a range of an
/// index. `None` when there is none (an empty prefix, or one of only `char::MAX`).
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_bound_is_above_every_string_with_the_prefix_and_below_the_rest() {
        let bound = prefix_upper_bound("A-10").unwrap();
        assert_eq!(bound, "A-11");
        for inside in ["A-10", "A-10", "A-1099", "A-10\u{10FFFF}x"] {
            assert!(inside < bound.as_str(), "{inside}");
        }
        assert!("A-11" >= bound.as_str());
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").unwrap(), "b");
        // The surrogate gap is skipped: the next char after U+D7FF is U+E000.
        assert_eq!(prefix_upper_bound("\u{D7FF}").unwrap(), "\u{E000}");
    }

    #[test]
    fn minutes_start_on_the_minute() {
        assert_eq!(minute_of(125_000), 120_000);
        assert_eq!(minute_of(120_000), 120_000);
        assert_eq!(minute_of(-1), -60_000);
    }
}
