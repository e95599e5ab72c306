//! Human-readable sizes like `units.HumanSizeWithPrecision` of go-units: decimal (base-1000)
//! units and Go's `%.Ng` formatting, e.g. `4.26MB`, `1.98MB`, `0B`, `100kB`.

const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/// `units.HumanSizeWithPrecision(size, precision)`.
pub fn human_size_with_precision(size: f64, precision: usize) -> String {
    let mut size = size;
    let mut i = 0;
    while size >= 1000.0 && i < UNITS.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g(size, precision), UNITS[i])
}

/// `units.HumanSize` (precision 4).
pub fn human_size(size: f64) -> String {
    human_size_with_precision(size, 4)
}

/// The size column of `docker images` / `docker ps -s`: three significant digits.
pub fn docker_size(size: i64) -> String {
    human_size_with_precision(size as f64, 3)
}

/// Go's `%.{p}g`: `p` significant digits, trailing zeros dropped, exponent form when the
/// exponent is < -4 or >= p.
pub fn go_g(v: f64, p: usize) -> String {
    let p = p.max(1);
    if v == 0.0 {
        return "0".to_string();
    }
    // Round to p significant digits through the e-format, which also gives the exponent.
    let e_repr = format!("{:.*e}", p - 1, v);
    let (mantissa, exp) = e_repr.split_once('e').unwrap_or((&e_repr, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.abs());
    }
    let decimals = (p as i32 - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{:.*}", decimals, v)).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_go_units() {
        assert_eq!(docker_size(0), "0B");
        assert_eq!(docker_size(999), "999B");
        assert_eq!(docker_size(1000), "1kB");
        assert_eq!(docker_size(1_978_000), "1.98MB");
        assert_eq!(docker_size(4_261_000), "4.26MB");
        assert_eq!(docker_size(1_500_000_000), "1.5GB");
        assert_eq!(docker_size(123_456), "123kB");
        assert_eq!(human_size(1_234_567.0), "1.235MB");
        // Go prints this corner in exponent form too.
        assert_eq!(docker_size(999_999), "1e+03kB");
    }

    #[test]
    fn go_g_formats() {
        assert_eq!(go_g(2.0, 3), "2");
        assert_eq!(go_g(1.5, 3), "1.5");
        assert_eq!(go_g(0.0001234, 3), "0.000123");
        assert_eq!(go_g(0.00001234, 3), "1.23e-05");
    }
}
