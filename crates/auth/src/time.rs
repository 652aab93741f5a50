//! The UTC timestamp formats the schemes carry, without a date-time dependency.
//!
//! Alibaba (`x-acs-date`, V2 `Timestamp`) uses ISO 8601 extended `YYYY-MM-DDTHH:MM:SSZ`;
//! Volcengine (`X-Date`) uses the basic form `YYYYMMDDTHHMMSSZ`. COS uses plain Unix seconds.

use crate::AuthError;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses a run of ASCII digits.
fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0i64, |n, d| {
        n.checked_mul(10)?.checked_add(i64::from(d - b'0'))
    })
}

fn to_unix(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3_600 + mi * 60 + s)
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (Alibaba `x-acs-date` and V2 `Timestamp`) into Unix seconds.
/// A fractional second (`…:SS.123Z`) is accepted and truncated, since some non-Python clients
/// send one.
pub fn parse_acs_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b.last() != Some(&b'Z') {
        return None;
    }
    let sep_ok = b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[16] == b':';
    if !sep_ok {
        return None;
    }
    let frac = &b[19..b.len() - 1];
    if !frac.is_empty() && (frac.len() > 10 || frac[0] != b'.' || digits(&frac[1..]).is_none()) {
        return None;
    }
    to_unix(
        digits(&b[0..4])?,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    )
}

/// Parses `YYYYMMDDTHHMMSSZ` (Volcengine `X-Date`) into Unix seconds.
pub fn parse_x_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    to_unix(
        digits(&b[0..4])?,
        digits(&b[4..6])?,
        digits(&b[6..8])?,
        digits(&b[9..11])?,
        digits(&b[11..13])?,
        digits(&b[13..15])?,
    )
}

fn split(unix: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (y, mo, d) = civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    (y, mo, d, secs / 3_600, secs / 60 % 60, secs % 60)
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (for signing Alibaba requests).
pub fn format_acs_date(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = split(unix);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Formats Unix seconds as `YYYYMMDDTHHMMSSZ` (for signing Volcengine requests).
pub fn format_x_date(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = split(unix);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// Checks a request timestamp against `now`: at most `max_past` seconds old
/// ([`AuthError::Expired`]) and at most `max_future` seconds ahead ([`AuthError::TimeSkewed`]).
pub(crate) fn check_timestamp(
    ts: i64,
    now: i64,
    max_past: u64,
    max_future: u64,
) -> Result<(), AuthError> {
    let age = i128::from(now) - i128::from(ts);
    if age > i128::from(max_past) {
        Err(AuthError::Expired)
    } else if -age > i128::from(max_future) {
        Err(AuthError::TimeSkewed)
    } else {
        Ok(())
    }
}

/// `ts + secs`, saturating.
pub(crate) fn add(ts: i64, secs: u64) -> i64 {
    ts.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(parse_acs_date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_acs_date("2024-10-22T06:23:35Z"), Some(1_729_578_215));
        assert_eq!(
            parse_acs_date("2024-10-22T06:23:35.999Z"),
            Some(1_729_578_215)
        );
        assert_eq!(parse_x_date("20241022T062335Z"), Some(1_729_578_215));
        assert_eq!(parse_x_date("20201230T081805Z"), Some(1_609_316_285));
        assert_eq!(parse_acs_date("2000-02-29T23:59:59Z"), Some(951_868_799));
        assert_eq!(format_acs_date(1_729_578_215), "2024-10-22T06:23:35Z");
        assert_eq!(format_x_date(1_609_316_285), "20201230T081805Z");
    }

    #[test]
    fn round_trip_over_centuries() {
        let mut t = -2_000_000_000i64;
        while t < 8_000_000_000 {
            assert_eq!(parse_acs_date(&format_acs_date(t)), Some(t), "{t}");
            assert_eq!(parse_x_date(&format_x_date(t)), Some(t), "{t}");
            t += 7_777_777;
        }
    }

    #[test]
    fn rejects_invalid() {
        for s in [
            "",
            "2024-10-22T06:23:35",
            "2024-10-22 06:23:35Z",
            "2024-13-22T06:23:35Z",
            "2023-02-29T06:23:35Z",
            "2024-10-22T24:00:00Z",
            "2024-10-22T06:23:35.Z",
            "2024-10-22T06:23:35+08:00",
            "+024-10-22T06:23:35Z",
            "２024-10-22T06:23:35Z",
        ] {
            assert_eq!(parse_acs_date(s), None, "{s:?}");
        }
        for s in [
            "",
            "20241022T062335",
            "20241022 062335Z",
            "2024102T0623355Z",
            "-0241022T062335Z",
        ] {
            assert_eq!(parse_x_date(s), None, "{s:?}");
        }
    }

    #[test]
    fn window() {
        assert_eq!(check_timestamp(100, 100, 10, 5), Ok(()));
        assert_eq!(check_timestamp(90, 100, 10, 5), Ok(()));
        assert_eq!(check_timestamp(89, 100, 10, 5), Err(AuthError::Expired));
        assert_eq!(check_timestamp(105, 100, 10, 5), Ok(()));
        assert_eq!(check_timestamp(106, 100, 10, 5), Err(AuthError::TimeSkewed));
        assert_eq!(
            check_timestamp(i64::MIN, i64::MAX, u64::MAX, u64::MAX),
            Ok(())
        );
    }
}
