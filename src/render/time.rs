//! Times as people read them: relative ("in 12 days", "3h ago") and absolute, to the
//! minute, in the zone the reader asked for.

use chrono::{DateTime, Local, Offset, Utc};

use super::Style;

/// The zone absolute times are shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// The machine's local time (`TZ`).
    Local,
    Utc,
}

/// "in 12 days", "3h ago", "just now".
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    let span = secs.unsigned_abs();
    if span < 60 {
        return "just now".into();
    }
    // Rounded to the nearest unit: a 30-day token created a second ago expires "in 30 days".
    let round = |unit: u64| (span + unit / 2) / unit;
    let amount = match span {
        s if s < 3_570 => format!("{}m", round(60)),
        s if s < 84_600 => format!("{}h", round(3_600)),
        s if s < 129_600 => "1 day".into(),
        s if s < 59 * 86_400 => format!("{} days", round(86_400)),
        s if s < 729 * 86_400 => format!("{} months", round(30 * 86_400)),
        _ => format!("{} years", round(365 * 86_400)),
    };
    if secs > 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// The moment in the reader's zone with `format` (chrono's strftime), then the zone:
/// `UTC`, or the local offset (`+01:00`) where it is not zero. A time without its zone is
/// read wrongly by anyone in another one, or by a cron job's mail read elsewhere.
pub fn absolute(t: DateTime<Utc>, style: &Style, format: &str) -> String {
    let local = t.with_timezone(&Local);
    match style.zone {
        Zone::Local if local.offset().fix().local_minus_utc() != 0 => {
            format!("{} {}", local.format(format), local.format("%:z"))
        }
        _ => format!("{} UTC", t.format(format)),
    }
}

/// To the minute, then relative: "2027-03-01 10:00 (in 93 days)".
pub fn when(t: DateTime<Utc>, style: &Style) -> String {
    format!(
        "{} ({})",
        absolute(t, style, "%Y-%m-%d %H:%M"),
        relative(t, style.now)
    )
}

/// An optional time in a table cell: relative, or `none` when there is none.
pub fn cell(t: Option<DateTime<Utc>>, now: DateTime<Utc>, none: &str) -> String {
    t.map_or_else(|| none.to_string(), |t| relative(t, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        let now: DateTime<Utc> = "2026-06-01T12:00:00Z".parse().unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(relative(at("2026-06-01T12:00:30Z"), now), "just now");
        assert_eq!(relative(at("2026-06-01T09:00:00Z"), now), "3h ago");
        assert_eq!(relative(at("2026-06-13T12:00:00Z"), now), "in 12 days");
        assert_eq!(relative(at("2026-06-02T13:00:00Z"), now), "in 1 day");
        assert_eq!(relative(at("2026-06-01T12:05:00Z"), now), "in 5m");
        assert_eq!(relative(at("2027-06-01T12:00:00Z"), now), "in 12 months");
        assert_eq!(relative(at("2030-06-01T12:00:00Z"), now), "in 4 years");
    }
}
