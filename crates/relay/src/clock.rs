//! Wall-clock helpers: the outbox stores unix milliseconds; people read RFC 3339.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Now as RFC 3339 in UTC with whole seconds, e.g. `2026-11-22T11:39:42Z` (the form the
/// CitrusAd seed shows for `orderDate`).
pub fn now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc();
    let whole_seconds = now.replace_nanosecond(0).unwrap_or(now);
    format_rfc3339(whole_seconds)
}

/// Unix milliseconds as RFC 3339 in UTC (milliseconds kept when not zero).
pub fn ms_to_rfc3339(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .map(format_rfc3339)
        .unwrap_or_else(|_| ms.to_string())
}

fn format_rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .expect("a UTC date-time within years 0..9999 always formats as RFC 3339")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_a_seed_style_timestamp() {
        let now = now_rfc3339();
        assert!(ordersync_core::timestamp::is_rfc3339(&now), "{now}");
        assert!(now.ends_with('Z') && !now.contains('.'), "{now}");
    }

    #[test]
    fn milliseconds_round_trip_to_text() {
        assert_eq!(ms_to_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(ms_to_rfc3339(1_638_457_200_250), "2021-12-02T15:00:00.25Z");
    }
}
