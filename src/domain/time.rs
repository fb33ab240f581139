//! Time as stored (epoch milliseconds, UTC) and as shown (ISO-8601).

use chrono::{DateTime, Datelike, TimeZone, Utc};

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// `2025-03-21T12:55:00Z`, the form the Office Integrator API uses.
pub fn iso(ms: i64) -> String {
    datetime(ms).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn datetime(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

const DAY_MS: i64 = 86_400_000;

/// The first instant (UTC) of the day that contains `ms`: the key of the usage rollup.
pub fn day_start(ms: i64) -> i64 {
    ms - ms.rem_euclid(DAY_MS)
}

/// `2026-11-01` as the epoch ms of that day's first instant (UTC).
pub fn day_from_iso(text: &str) -> Option<i64> {
    let day = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// The billing cycle is the calendar month (UTC) that contains `ms`: returns its first and the next month's first instant.
pub fn billing_cycle(ms: i64) -> (i64, i64) {
    let at = datetime(ms);
    let start = Utc
        .with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let (next_year, next_month) = if at.month() == 12 {
        (at.year() + 1, 1)
    } else {
        (at.year(), at.month() + 1)
    };
    let end = Utc
        .with_ymd_and_hms(next_year, next_month, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    (start.timestamp_millis(), end.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_is_utc_with_seconds() {
        assert_eq!(iso(1742561700047), "2025-03-21T12:55:00Z");
    }

    #[test]
    fn billing_cycle_is_the_calendar_month() {
        let (start, end) = billing_cycle(1742561700047);
        assert_eq!(iso(start), "2025-03-01T00:00:00Z");
        assert_eq!(iso(end), "2025-04-01T00:00:00Z");
        let (start, end) = billing_cycle(
            Utc.with_ymd_and_hms(2026, 12, 31, 23, 0, 0)
                .unwrap()
                .timestamp_millis(),
        );
        assert_eq!(iso(start), "2026-12-01T00:00:00Z");
        assert_eq!(iso(end), "2027-01-01T00:00:00Z");
    }

    #[test]
    fn day_start_is_utc_midnight() {
        assert_eq!(iso(day_start(1742561700047)), "2025-03-21T00:00:00Z");
        let (cycle_start, _) = billing_cycle(1742561700047);
        assert_eq!(day_start(cycle_start), cycle_start);
    }

    #[test]
    fn days_parse_as_utc_midnight() {
        assert_eq!(
            day_from_iso("2025-03-21").map(iso).as_deref(),
            Some("2025-03-21T00:00:00Z")
        );
        assert_eq!(day_from_iso("21/03/2025"), None);
        assert_eq!(day_from_iso("2025-02-30"), None);
    }
}
