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
        if decimal.negative && decimal.mantissa != Some(0) {
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
    /// The significant digits, or `None` when they do not fit in a u64. u64 rather than u128
    /// for the browser module's size budget (no 128-bit multiply and divide helpers): a value
    /// whose digits overflow a u64 can only scale to an overflow or a fraction, never to a u64.
    pub mantissa: Option<u64>,
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
        let mut digits = int_digits
            .iter()
            .chain(frac_digits)
            .skip_while(|&&d| d == b'0');
        let mut mantissa: Option<u64> = Some(0);
        let mut significant = 0;
        // Trailing zeros of the significant digits go to the exponent, as they did when the
        // mantissa was normalised after the fact.
        let mut zeros_held = 0;
        for &d in &mut digits {
            significant += 1;
            if significant > MAX_SIGNIFICANT_DIGITS {
                return Err(Reason::TooLarge);
            }
            if d == b'0' {
                zeros_held += 1;
                continue;
            }
            for digit in core::iter::repeat_n(0, zeros_held).chain([u64::from(d - b'0')]) {
                mantissa = mantissa
                    .and_then(|m| m.checked_mul(10))
                    .and_then(|m| m.checked_add(digit));
            }
            zeros_held = 0;
        }
        exponent -= frac_digits.len() as i64;
        if mantissa == Some(0) {
            exponent = 0;
        } else {
            exponent += zeros_held as i64;
        }
        Ok(Decimal {
            negative,
            mantissa,
            exponent,
        })
    }

    /// The value times `10^scale` as an integer, if it is one and fits in a u64.
    pub fn scaled(self, scale: u32) -> Result<u64, ScaleError> {
        if self.mantissa == Some(0) {
            return Ok(0);
        }
        let shift = self.exponent + i64::from(scale);
        if shift < 0 {
            return Err(ScaleError::Fraction);
        }
        let mut value = self.mantissa.ok_or(ScaleError::Overflow)?;
        for _ in 0..shift {
            value = value.checked_mul(10).ok_or(ScaleError::Overflow)?;
        }
        Ok(value)
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

    /// The u128 scaling this module used before the u64 mantissa, kept as the reference: both
    /// must give the same result (value or error) for every text.
    fn reference_scaled(text: &str, scale: u32) -> Result<u64, String> {
        Decimal::parse(text).map_err(|r| format!("{r:?}"))?;
        let bytes = text.trim_start_matches('-');
        let (number, exp) = match bytes.find(['e', 'E']) {
            Some(at) => (
                &bytes[..at],
                bytes[at + 1..]
                    .parse::<i64>()
                    .unwrap_or(1_000_000)
                    .clamp(-1_000_000, 1_000_000),
            ),
            None => (bytes, 0),
        };
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        let frac = frac.trim_end_matches('0');
        let digits: String = format!("{int}{frac}").trim_start_matches('0').to_owned();
        if digits.len() > MAX_SIGNIFICANT_DIGITS {
            return Err("TooLarge".to_owned());
        }
        if digits.is_empty() {
            return Ok(0);
        }
        let mut mantissa: u128 = digits.parse().unwrap();
        let mut exponent = exp - frac.len() as i64;
        while mantissa.is_multiple_of(10) {
            mantissa /= 10;
            exponent += 1;
        }
        let shift = exponent + i64::from(scale);
        if shift < 0 {
            return Err("Fraction".to_owned());
        }
        if shift > 38 {
            return Err("Overflow".to_owned());
        }
        let value = mantissa
            .checked_mul(10u128.pow(shift as u32))
            .ok_or("Overflow")?;
        u64::try_from(value).map_err(|_| "Overflow".to_owned())
    }

    fn ours(text: &str, scale: u32) -> Result<u64, String> {
        let decimal = Decimal::parse(text).map_err(|r| format!("{r:?}"))?;
        decimal.scaled(scale).map_err(|e| match e {
            ScaleError::Fraction => "Fraction".to_owned(),
            ScaleError::Overflow => "Overflow".to_owned(),
        })
    }

    #[test]
    fn u64_mantissa_agrees_with_the_u128_reference_at_the_edges() {
        for text in [
            "18446744073709551615",
            "18446744073709551616",
            "184467440737095516150",
            "1844674407370955161.5",
            "0.18446744073709551616",
            "123456789012345678901234567890",
            "1234567890123456789012345678901",
            "100000000000000000000000000000e-28",
            "1000000000000000000000000000000",
            "0.000000000000000000000000000001",
            "1e18",
            "1e19",
            "1e20",
            "10e18",
            "0.1e20",
            "99999999999999999999e-18",
            "0e999",
            "-0.0e-999",
            "5",
        ] {
            for scale in [0, 2] {
                assert_eq!(
                    ours(text, scale),
                    reference_scaled(text, scale),
                    "{text} at {scale}"
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn u64_mantissa_agrees_with_the_u128_reference(
            int in "-?[0-9]{1,24}",
            frac in proptest::option::of("[0-9]{1,24}"),
            exp in proptest::option::of(-45i64..45),
            scale in 0u32..3,
        ) {
            let mut text = int;
            if let Some(frac) = frac {
                text = format!("{text}.{frac}");
            }
            if let Some(exp) = exp {
                text = format!("{text}e{exp}");
            }
            proptest::prop_assert_eq!(ours(&text, scale), reference_scaled(&text, scale), "{}", text);
        }
    }
}
