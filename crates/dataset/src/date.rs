//! Dates as gallery-dl writes them and as the index stores them (`YYYY-MM-DD HH:MM:SS`, UTC).
//!
//! Every metadata file has two dates and chrono's format-string parser re-reads its pattern
//! each time, so the two forms gallery-dl writes (`2023-05-01 12:00:00` and
//! `2023-05-01T21:00:00+09:00`) are read by hand; anything else goes to chrono, which decides.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Timelike};

/// Parses `YYYY-MM-DD HH:MM:SS` (naive UTC) or RFC 3339 with an offset (to naive UTC).
pub fn parse_date(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if let Some(d) = parse_common(s) {
        return Some(d);
    }
    // Naive forms: ours, Python's `str(datetime)` (with microseconds) and ISO without offset.
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, format) {
            return Some(d);
        }
    }
    DateTime::parse_from_rfc3339(s).ok().map(|d| d.naive_utc())
}

/// Formats a date as the index stores it: `YYYY-MM-DD HH:MM:SS`.
pub fn format_date(d: &NaiveDateTime) -> String {
    if !(0..=9999).contains(&d.year()) || d.nanosecond() >= 1_000_000_000 {
        // Years chrono prints with a sign, and leap seconds: its own formatting.
        return d.format("%Y-%m-%d %H:%M:%S").to_string();
    }
    // Written digit by digit: `format!` costs more than the rest of a row's encoding.
    let mut out = String::with_capacity(19);
    let mut push = |value: u32, width: u32, then: Option<char>| {
        for place in (0..width).rev() {
            out.push(char::from(b'0' + (value / 10u32.pow(place) % 10) as u8));
        }
        out.extend(then);
    };
    push(d.year() as u32, 4, Some('-'));
    push(d.month(), 2, Some('-'));
    push(d.day(), 2, Some(' '));
    push(d.hour(), 2, Some(':'));
    push(d.minute(), 2, Some(':'));
    push(d.second(), 2, None);
    out
}

/// `YYYY-MM-DD[ T]HH:MM:SS`, optionally followed by `Z` or `±HH:MM`; `None` for anything else
/// (which may still be a date chrono reads).
fn parse_common(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if b.len() < 19 || !matches!(b[10], b' ' | b'T') {
        return None;
    }
    let date =
        NaiveDate::from_ymd_opt(digits(b, 0, 4)? as i32, digits(b, 5, 2)?, digits(b, 8, 2)?)?;
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    // `from_hms_opt` refuses a leap second (`:60`), which chrono's parser accepts: left to it.
    let time = date.and_hms_opt(digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?)?;
    let offset_minutes = match &b[19..] {
        b"" => 0,
        b"Z" if b[10] == b'T' => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] if b[10] == b'T' => {
            let (hours, minutes) = (digits(b, 20, 2)?, digits(b, 23, 2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = i64::from(hours * 60 + minutes);
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    time.checked_sub_signed(TimeDelta::minutes(offset_minutes))
}

/// The decimal number in `b[start..start + len]`, all ASCII digits.
fn digits(b: &[u8], start: usize, len: usize) -> Option<u32> {
    b.get(start..start + len)?
        .iter()
        .try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the parser did before the hand-written path: chrono alone.
    fn chrono_only(s: &str) -> Option<NaiveDateTime> {
        let s = s.trim();
        for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
            if let Ok(d) = NaiveDateTime::parse_from_str(s, format) {
                return Some(d);
            }
        }
        DateTime::parse_from_rfc3339(s).ok().map(|d| d.naive_utc())
    }

    #[test]
    fn the_fast_path_agrees_with_chrono() {
        let cases = [
            "2023-05-01 12:00:00",
            "2023-05-01T21:00:00+09:00",
            "2023-05-01T21:00:00-03:30",
            "2023-05-01T00:30:00+09:00",
            "2000-03-01T00:00:00+00:01",
            "2024-02-29 23:59:59",
            "2023-02-29 12:00:00",
            "2023-05-01T12:00:00Z",
            "2023-05-01 12:00:00Z",
            "2023-05-01 12:00:00+09:00",
            "2023-05-01T12:00:00",
            "2023-05-01T12:00:00.25",
            "2023-05-01 12:00:00.250000",
            "2016-12-31 23:59:60",
            "2023-13-01 12:00:00",
            "2023-05-01 24:00:00",
            "2023-05-01T12:00:00+24:00",
            "2023-05-01T12:00:00+09",
            "2023/05/01 12:00:00",
            "+2023-05-01 12:00:00",
            "2023-5-01 12:00:00",
            " 2023-05-01 12:00:00 ",
            "0000-01-01T00:00:00+01:00",
            "[Invalid DateTime]",
            "",
        ];
        for case in cases {
            assert_eq!(parse_date(case), chrono_only(case), "{case:?}");
        }
    }

    #[test]
    fn formatting_agrees_with_chrono() {
        for case in ["2023-05-01 12:00:00", "0001-01-01 00:00:00", "2016-12-31 23:59:60"] {
            let d = chrono_only(case).unwrap();
            assert_eq!(format_date(&d), d.format("%Y-%m-%d %H:%M:%S").to_string(), "{case}");
        }
        let far = NaiveDate::from_ymd_opt(12345, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
        assert_eq!(format_date(&far), far.format("%Y-%m-%d %H:%M:%S").to_string());
    }
}
