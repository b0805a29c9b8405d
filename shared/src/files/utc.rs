//! Wall-clock UTC stamps for file names that sort by time (snapshots, recordings, black-box
//! dumps), without a date crate: a day count to a Gregorian date is a dozen lines.

use std::time::{SystemTime, UNIX_EPOCH};

/// `YYYYMMDD-HHMMSS.mmm` in UTC, for file names that sort by time.
pub fn utc_stamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}.{:03}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// The Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_stamps_sort_and_read_as_dates() {
        let at = |s: u64, ms: u64| UNIX_EPOCH + Duration::from_secs(s) + Duration::from_millis(ms);
        assert_eq!(utc_stamp(at(0, 0)), "19700101-000000.000");
        // 2026-11-30 01:45:02.123 UTC.
        assert_eq!(utc_stamp(at(1_796_003_102, 123)), "20261130-014502.123");
        // A leap day.
        assert_eq!(utc_stamp(at(951_782_400, 7)), "20000229-000000.007");
    }
}
