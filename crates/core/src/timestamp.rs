//! RFC 3339 date-times as CitrusAd reads them: `2021-12-02T15:00:00Z` or with `+HH:MM`.

/// True when `text` is `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` with a real calendar
/// date (leap years included) and in-range clock fields. A leap second (`:60`) is allowed, as
/// RFC 3339 allows it.
pub fn is_rfc3339(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return false;
    }
    if b[13] != b':' || b[16] != b':' {
        return false;
    }
    let (Some(year), Some(month), Some(day)) = (digits(b, 0, 4), digits(b, 5, 2), digits(b, 8, 2))
    else {
        return false;
    };
    let (Some(hour), Some(minute), Some(second)) =
        (digits(b, 11, 2), digits(b, 14, 2), digits(b, 17, 2))
    else {
        return false;
    };
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return false;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return false;
    }
    let mut pos = 19;
    if b[pos] == b'.' {
        let start = pos + 1;
        pos = start;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == start || pos - start > 9 {
            return false;
        }
    }
    is_offset(&b[pos..])
}

fn is_offset(b: &[u8]) -> bool {
    match b {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', ..] if b.len() == 6 && b[3] == b':' => {
            matches!((digits(b, 1, 2), digits(b, 4, 2)), (Some(h), Some(m)) if h <= 23 && m <= 59)
        }
        _ => false,
    }
}

fn digits(b: &[u8], start: usize, len: usize) -> Option<u32> {
    let slice = b.get(start..start + len)?;
    slice.iter().try_fold(0u32, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::is_rfc3339;

    #[test]
    fn accepts_the_seed_forms() {
        assert!(is_rfc3339("2021-12-02T15:00:00Z"));
        assert!(is_rfc3339("2021-12-02T15:00:00+10:00"));
        assert!(is_rfc3339("2021-12-02T15:00:00-03:30"));
        assert!(is_rfc3339("2026-11-22T11:39:42.123Z"));
        assert!(is_rfc3339("2024-02-29T00:00:00Z"));
        assert!(is_rfc3339("2016-12-31T23:59:60Z"));
    }

    #[test]
    fn refuses_near_misses() {
        for bad in [
            "",
            "2021-12-02",
            "2021-12-02 15:00:00Z",
            "2021-12-02T15:00:00",
            "2021-12-02T15:00:00+1000",
            "2021-12-02T15:00Z",
            "2021-13-02T15:00:00Z",
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2021-12-02T24:00:00Z",
            "2021-12-02T15:60:00Z",
            "2021-12-02T15:00:00.Z",
            "2021-12-02T15:00:00+24:00",
            "2021-12-02T15:00:00Z ",
            "２021-12-02T15:00:00Z",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }
}
