//! Values formatted as nats-server's Go encoders print them: times as
//! RFC 3339 with nanoseconds, durations as `time.Duration.String()`,
//! uptimes as `myUptime`, floats without a `.0`, and JSON with Go's
//! HTML-safe escaping.

use serde::Serializer;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `time.Time` as Go's JSON encoder writes it (RFC 3339, fraction trimmed
/// of trailing zeros), always in UTC.
pub fn rfc3339(t: SystemTime) -> String {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let (s, n) = (d.as_secs() as i64, d.subsec_nanos());
            if n == 0 {
                (-s, 0)
            } else {
                (-s - 1, 1_000_000_000 - n)
            }
        }
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Go's `time.Duration.String()`: `0s`, `850ns`, `1.5µs`, `2.25ms`,
/// `1h2m3.5s`.
pub fn duration(d: Duration) -> String {
    let n = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    match n {
        0 => "0s".to_string(),
        1..=999 => format!("{n}ns"),
        1_000..=999_999 => fraction(n, 1_000, 3, "µs"),
        1_000_000..=999_999_999 => fraction(n, 1_000_000, 6, "ms"),
        _ => {
            let secs = n / 1_000_000_000;
            let (h, m) = (secs / 3600, secs / 60 % 60);
            let mut out = String::new();
            if h > 0 {
                out.push_str(&format!("{h}h"));
            }
            if h > 0 || m > 0 {
                out.push_str(&format!("{m}m"));
            }
            out + &fraction(n % 60_000_000_000, 1_000_000_000, 9, "s")
        }
    }
}

fn fraction(n: u64, unit: u64, digits: usize, suffix: &str) -> String {
    let (whole, rem) = (n / unit, n % unit);
    if rem == 0 {
        return format!("{whole}{suffix}");
    }
    let frac = format!("{rem:0digits$}");
    format!("{whole}.{}{suffix}", frac.trim_end_matches('0'))
}

/// A round trip as nats-server's `getRTT` shows it: truncated to whole
/// microseconds between 1µs and 1ms.
pub fn rtt(d: Duration) -> String {
    if d > Duration::from_micros(1) && d < Duration::from_millis(1) {
        duration(Duration::from_micros(d.as_micros() as u64))
    } else {
        duration(d)
    }
}

/// nats-server's `myUptime`: whole seconds as `1y2d3h4m5s`, leading zero
/// units left out.
pub fn uptime(d: Duration) -> String {
    let secs = d.as_secs();
    let (mins, hrs) = (secs / 60, secs / 3600);
    let (days, yrs) = (hrs / 24, hrs / 24 / 365);
    if yrs > 0 {
        format!(
            "{yrs}y{}d{}h{}m{}s",
            days % 365,
            hrs % 24,
            mins % 60,
            secs % 60
        )
    } else if days > 0 {
        format!("{days}d{}h{}m{}s", hrs % 24, mins % 60, secs % 60)
    } else if hrs > 0 {
        format!("{hrs}h{}m{}s", mins % 60, secs % 60)
    } else if mins > 0 {
        format!("{mins}m{}s", secs % 60)
    } else {
        format!("{secs}s")
    }
}

/// The time between `from` and `to`, zero when `to` is earlier.
pub fn since(from: SystemTime, to: SystemTime) -> Duration {
    to.duration_since(from).unwrap_or_default()
}

/// Serializes a time as [`rfc3339`].
pub fn ser_time<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// Serializes an optional time as [`rfc3339`] (used with
/// `skip_serializing_if = "Option::is_none"`).
pub fn ser_opt_time<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

/// Serializes a float as Go does: integral values without a fraction.
pub fn ser_float<S: Serializer>(f: &f64, s: S) -> Result<S::Ok, S::Error> {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        s.serialize_i64(*f as i64)
    } else {
        s.serialize_f64(*f)
    }
}

/// A duration as Go's JSON writes `time.Duration`: integer nanoseconds.
pub fn ser_nanos<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Go's `json.MarshalIndent(v, "", "  ")`: two-space indentation and the
/// HTML-safe escapes Go applies inside strings (`<`, `>`, `&`, U+2028,
/// U+2029; those characters can only occur inside strings in JSON).
pub fn to_json_indent<T: serde::Serialize>(v: &T) -> String {
    go_escape(serde_json::to_string_pretty(v).unwrap_or_default())
}

/// Go's compact `json.Marshal`, with the same escapes.
pub fn to_json<T: serde::Serialize>(v: &T) -> String {
    go_escape(serde_json::to_string(v).unwrap_or_default())
}

fn go_escape(json: String) -> String {
    if !json.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_durations_uptimes_as_go_prints_them() {
        let t = UNIX_EPOCH + Duration::new(1_795_331_867, 759_858_300);
        assert_eq!(rfc3339(t), "2026-11-22T07:17:47.7598583Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(duration(Duration::ZERO), "0s");
        assert_eq!(duration(Duration::from_nanos(850)), "850ns");
        assert_eq!(duration(Duration::from_nanos(1_500)), "1.5µs");
        assert_eq!(duration(Duration::from_nanos(2_250_000)), "2.25ms");
        assert_eq!(duration(Duration::from_millis(3_723_500)), "1h2m3.5s");
        assert_eq!(duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(duration(Duration::from_secs(61)), "1m1s");
        assert_eq!(rtt(Duration::from_nanos(123_456)), "123µs");
        assert_eq!(rtt(Duration::from_nanos(1_234_567)), "1.234567ms");
        assert_eq!(uptime(Duration::from_secs(5)), "5s");
        assert_eq!(uptime(Duration::from_secs(3_725)), "1h2m5s");
        assert_eq!(uptime(Duration::from_secs(90_061)), "1d1h1m1s");
        assert_eq!(uptime(Duration::from_secs(366 * 86_400)), "1y1d0h0m0s");
        assert_eq!(to_json(&"<a&b>"), "\"\\u003ca\\u0026b\\u003e\"");
    }
}
