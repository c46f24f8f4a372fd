//! Stored column values read back as the domain's types, with checked conversions: a value
//! out of range (a negative count, a status above 65535) is a damaged row, said as
//! [`StorageError::Corrupt`], never silently wrapped by a cast.

use super::StorageError;

/// An attempt count.
pub(crate) fn attempts(value: i64) -> Result<u32, StorageError> {
    u32::try_from(value).map_err(|_| StorageError::Corrupt(format!("attempt count {value}")))
}

/// A vendor's HTTP status, when one was recorded.
pub(crate) fn vendor_status(value: Option<i64>) -> Result<Option<u16>, StorageError> {
    value
        .map(|status| {
            u16::try_from(status)
                .map_err(|_| StorageError::Corrupt(format!("vendor status {status}")))
        })
        .transpose()
}

/// A number of rows (a `COUNT` or a kept tally).
pub(crate) fn row_count(value: i64) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| StorageError::Corrupt(format!("row count {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_out_of_range_are_a_damaged_row() {
        assert_eq!(attempts(3).unwrap(), 3);
        assert!(matches!(attempts(-1), Err(StorageError::Corrupt(_))));
        assert!(matches!(attempts(1 << 40), Err(StorageError::Corrupt(_))));
        assert_eq!(vendor_status(None).unwrap(), None);
        assert_eq!(vendor_status(Some(503)).unwrap(), Some(503));
        assert!(matches!(
            vendor_status(Some(70_000)),
            Err(StorageError::Corrupt(_))
        ));
        assert!(matches!(row_count(-2), Err(StorageError::Corrupt(_))));
    }
}
