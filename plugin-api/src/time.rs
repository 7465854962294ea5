//! Times for people, shared by the host and plugins so both say it the same way: "5 minutes
//! ago", and the exact UTC time for hover text.

use crate::Timestamp;
use serde::Serialize;

/// "just now", "5 minutes ago", "3 hours ago", "2 days ago", or the date.
pub fn relative(at: Timestamp, now: Timestamp) -> String {
    let secs = (now.0 - at.0).max(0) / 1000;
    let plural = |n: i64, unit: &str| format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" });
    match secs {
        0..60 => "just now".to_owned(),
        60..3600 => plural(secs / 60, "minute"),
        3600..86_400 => plural(secs / 3600, "hour"),
        86_400..604_800 => plural(secs / 86_400, "day"),
        _ => exact(at)[..10].to_owned(),
    }
}

/// `2026-11-22 04:30 UTC`.
pub fn exact(at: Timestamp) -> String {
    let (y, m, d, hour, minute, _) = utc(at);
    format!("{y:04}-{m:02}-{d:02} {hour:02}:{minute:02} UTC")
}

/// `2026-11-22T04:30:05Z`, for a `<time datetime>` attribute (the portal's script keeps
/// relative times current from it, in the words of [`relative`]).
pub fn iso(at: Timestamp) -> String {
    let (y, m, d, hour, minute, second) = utc(at);
    format!("{y:04}-{m:02}-{d:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// A moment as a page shows it, in one value for templates:
/// `<time datetime="{{when.iso}}" title="{{when.exact}}">{{when.text}}</time>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Moment {
    /// [`relative`]: "5 minutes ago".
    pub text: String,
    /// [`exact`]: the hover text.
    pub exact: String,
    /// [`iso`]: the `datetime` attribute.
    pub iso: String,
}

impl Moment {
    /// `at`, seen at `now`.
    pub fn of(at: Timestamp, now: Timestamp) -> Moment {
        Moment { text: relative(at, now), exact: exact(at), iso: iso(at) }
    }
}

/// (year, month, day, hour, minute, second) of `at`, UTC.
fn utc(at: Timestamp) -> (i64, u32, u32, i64, i64, i64) {
    let secs = at.0.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
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

    #[test]
    fn times_read_like_people_say_them() {
        let now = Timestamp(1_795_000_000_000);
        assert_eq!(relative(now, now), "just now");
        assert_eq!(relative(Timestamp(now.0 - 60_000), now), "1 minute ago");
        assert_eq!(relative(Timestamp(now.0 - 5 * 60_000), now), "5 minutes ago");
        assert_eq!(relative(Timestamp(now.0 - 3 * 3_600_000), now), "3 hours ago");
        assert_eq!(relative(Timestamp(now.0 - 2 * 86_400_000), now), "2 days ago");
        assert_eq!(exact(Timestamp(0)), "1970-01-01 00:00 UTC");
        assert_eq!(exact(Timestamp(1_795_000_000_000)), "2026-11-18 11:06 UTC");
        assert_eq!(relative(Timestamp(0), now), "1970-01-01");
        assert_eq!(iso(Timestamp(1_795_000_000_000)), "2026-11-18T11:06:40Z");
        let moment = Moment::of(Timestamp(now.0 - 5 * 60_000), now);
        assert_eq!((moment.text.as_str(), moment.iso.as_str()), ("5 minutes ago", "2026-11-18T11:01:40Z"));
    }
}
