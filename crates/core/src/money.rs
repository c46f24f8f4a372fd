//! Money in integer minor units, and the exact decimal parsing that gets it there.
//!
//! Amounts arrive as JSON number literals or decimal strings and leave as two-decimal text;
//! no binary floating point is involved at any step.

use crate::error::Reason;

/// A non-negative amount in minor units (cents) of a two-decimal currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(u64);

impl Money {
    /// 999,999,999,999.99: 14 significant digits, so every amount survives a trip through a
    /// JavaScript number (exact up to 15 digits) unchanged.
    pub const MAX_MINOR_UNITS: u64 = 99_999_999_999_999;
    pub const ZERO: Money = Money(0);

    pub const fn from_minor_units(minor: u64) -> Option<Money> {
        if minor <= Self::MAX_MINOR_UNITS {
            Some(Money(minor))
        } else {
            None
        }
    }

    pub const fn minor_units(self) -> u64 {
        self.0
    }

    /// Parses `"150"`, `"150.0"`, `"150.00"`, `"1.5e2"`; refuses negatives, NaN, infinities,
    /// and more than two (non-zero) decimals.
    pub fn parse(text: &str) -> Result<Money, Reason> {
        let decimal = Decimal::parse(text)?;
        if decimal.negative && decimal.mantissa != 0 {
            return Err(Reason::Negative);
        }
        let minor = decimal.scaled(2).map_err(|e| match e {
            ScaleError::Fraction => Reason::TooManyDecimals,
            ScaleError::Overflow => Reason::TooLarge,
        })?;
        Money::from_minor_units(minor).ok_or(Reason::TooLarge)
    }

    /// Two decimals, always: `150.00`, `0.30`.
    pub fn to_decimal_string(self) -> String {
        let mut out = String::new();
        crate::error::push_decimal(&mut out, self.0 / 100);
        out.push('.');
        let cents = (self.0 % 100) as u8;
        out.push((b'0' + cents / 10) as char);
        out.push((b'0' + cents % 10) as char);
        out
    }
}

/// A decimal number as `mantissa × 10^exponent`, parsed from JSON number syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decimal {
    pub negative: bool,
    pub mantissa: u128,
    pub exponent: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScaleError {
    /// The value has non-zero digits below the requested scale.
    Fraction,
    Overflow,
}

/// Significant digits beyond this are refused as too large rather than risked in a u128.
const MAX_SIGNIFICANT_DIGITS: usize = 30;

impl Decimal {
    /// JSON number grammar: `-?digits(.digits)?([eE][+-]?digits)?`. Leading zeros are allowed
    /// (decimal strings from shop templates carry them); anything else is not a number.
    pub fn parse(text: &str) -> Result<Decimal, Reason> {
        let bytes = text.as_bytes();
        let mut pos = 0;
        let negative = bytes.first() == Some(&b'-');
        if negative {
            pos += 1;
        }
        let int_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        let int_digits = &bytes[int_start..pos];
        if int_digits.is_empty() {
            return Err(Reason::NotANumber);
        }
        let mut frac_digits: &[u8] = &[];
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
            let frac_start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            frac_digits = &bytes[frac_start..pos];
            if frac_digits.is_empty() {
                return Err(Reason::NotANumber);
            }
        }
        let mut exponent: i64 = 0;
        if matches!(bytes.get(pos), Some(b'e' | b'E')) {
            pos += 1;
            let exp_negative = match bytes.get(pos) {
                Some(b'-') => {
                    pos += 1;
                    true
                }
                Some(b'+') => {
                    pos += 1;
                    false
                }
                _ => false,
            };
            let exp_start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                // Clamp: any exponent this large is out of range for money anyway.
                exponent = (exponent * 10 + i64::from(bytes[pos] - b'0')).min(1_000_000);
                pos += 1;
            }
            if pos == exp_start {
                return Err(Reason::NotANumber);
            }
            if exp_negative {
                exponent = -exponent;
            }
        }
        if pos != bytes.len() {
            return Err(Reason::NotANumber);
        }
        while let [rest @ .., b'0'] = frac_digits {
            frac_digits = rest;
        }
        let mut mantissa: u128 = 0;
        let mut significant = 0;
        for &d in int_digits.iter().chain(frac_digits) {
            if mantissa == 0 && d == b'0' {
                continue;
            }
            significant += 1;
            if significant > MAX_SIGNIFICANT_DIGITS {
                return Err(Reason::TooLarge);
            }
            mantissa = mantissa * 10 + u128::from(d - b'0');
        }
        exponent -= frac_digits.len() as i64;
        if mantissa == 0 {
            exponent = 0;
        }
        while mantissa != 0 && mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        Ok(Decimal {
            negative,
            mantissa,
            exponent,
        })
    }

    /// The value times `10^scale` as an integer, if it is one and fits in a u64.
    pub fn scaled(self, scale: u32) -> Result<u64, ScaleError> {
        if self.mantissa == 0 {
            return Ok(0);
        }
        let shift = self.exponent + i64::from(scale);
        if shift < 0 {
            return Err(ScaleError::Fraction);
        }
        if shift > 38 {
            return Err(ScaleError::Overflow);
        }
        let factor = 10u128.pow(shift as u32);
        let value = self
            .mantissa
            .checked_mul(factor)
            .ok_or(ScaleError::Overflow)?;
        u64::try_from(value).map_err(|_| ScaleError::Overflow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cents(text: &str) -> Result<u64, Reason> {
        Money::parse(text).map(Money::minor_units)
    }

    #[test]
    fn parses_the_seed_amounts() {
        assert_eq!(cents("150.0"), Ok(15000));
        assert_eq!(cents("20.00"), Ok(2000));
        assert_eq!(cents("0.00"), Ok(0));
        assert_eq!(cents("1.00"), Ok(100));
        assert_eq!(cents("3"), Ok(300));
    }

    #[test]
    fn accepts_exponents_and_trailing_zeros_when_exact() {
        assert_eq!(cents("1.5e2"), Ok(15000));
        assert_eq!(cents("12345e-2"), Ok(12345));
        assert_eq!(cents("1.500"), Ok(150));
        assert_eq!(cents("-0"), Ok(0));
        assert_eq!(cents("007.10"), Ok(710));
    }

    #[test]
    fn refuses_what_is_not_money() {
        assert_eq!(cents("1.005"), Err(Reason::TooManyDecimals));
        assert_eq!(cents("1e-7"), Err(Reason::TooManyDecimals));
        assert_eq!(cents("-1.00"), Err(Reason::Negative));
        assert_eq!(cents("NaN"), Err(Reason::NotANumber));
        assert_eq!(cents("Infinity"), Err(Reason::NotANumber));
        assert_eq!(cents(""), Err(Reason::NotANumber));
        assert_eq!(cents("1."), Err(Reason::NotANumber));
        assert_eq!(cents(".5"), Err(Reason::NotANumber));
        assert_eq!(cents("1,00"), Err(Reason::NotANumber));
        assert_eq!(cents(" 1"), Err(Reason::NotANumber));
        assert_eq!(cents("1e21"), Err(Reason::TooLarge));
        assert_eq!(cents("1000000000000"), Err(Reason::TooLarge));
        assert_eq!(cents("999999999999.99"), Ok(Money::MAX_MINOR_UNITS));
        assert_eq!(cents("1e999999999999"), Err(Reason::TooLarge));
    }

    #[test]
    fn prints_two_decimals() {
        assert_eq!(Money(15000).to_decimal_string(), "150.00");
        assert_eq!(Money(5).to_decimal_string(), "0.05");
        assert_eq!(Money(0).to_decimal_string(), "0.00");
        assert_eq!(
            Money(Money::MAX_MINOR_UNITS).to_decimal_string(),
            "999999999999.99"
        );
    }
}
