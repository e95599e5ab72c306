//! Go's `time.ParseDuration`, for `HEALTHCHECK --interval=1m30s` and friends.

/// Parses a Go duration into signed nanoseconds, with Go's error messages.
pub(crate) fn parse_go_duration(s: &str) -> Result<i128, String> {
    let orig = s;
    let invalid = || format!("time: invalid duration {orig:?}");
    let (neg, mut s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &s[..int_len];
        s = &s[int_len..];
        let mut frac_part = "";
        if let Some(rest) = s.strip_prefix('.') {
            let n = rest.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &rest[..n];
            s = &rest[n..];
            if int_len == 0 && n == 0 {
                return Err(invalid());
            }
        } else if int_len == 0 {
            return Err(invalid());
        }
        let unit_len = s
            .char_indices()
            .find(|&(_, c)| c == '.' || c.is_ascii_digit())
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {orig:?}"));
        }
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {orig:?}")),
        };
        // Cap digits so the arithmetic cannot overflow; Go rejects values over ~292 years.
        if int_part.len() > 30 {
            return Err(invalid());
        }
        let int_v: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut v = int_v * scale;
        let mut div: i128 = 1;
        let mut frac_v: i128 = 0;
        for d in frac_part.bytes().take(30) {
            frac_v = frac_v * 10 + i128::from(d - b'0');
            div *= 10;
        }
        v += frac_v * scale / div;
        total += v;
        if total > i128::from(i64::MAX) {
            return Err(invalid());
        }
    }
    Ok(if neg { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::parse_go_duration as p;

    #[test]
    fn go_durations() {
        assert_eq!(p("30s"), Ok(30_000_000_000));
        assert_eq!(p("1m30s"), Ok(90_000_000_000));
        assert_eq!(p("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(p("500ms"), Ok(500_000_000));
        assert_eq!(p(".5s"), Ok(500_000_000));
        assert_eq!(p("0"), Ok(0));
        assert_eq!(p("-1s"), Ok(-1_000_000_000));
        assert_eq!(
            p("1x").unwrap_err(),
            "time: unknown unit \"x\" in duration \"1x\""
        );
        assert_eq!(
            p("10").unwrap_err(),
            "time: missing unit in duration \"10\""
        );
        assert!(p("").is_err());
        assert!(p("s").is_err());
        assert!(p("99999999999999999999999h").is_err());
    }
}
