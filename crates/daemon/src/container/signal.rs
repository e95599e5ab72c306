//! Signal names as Docker accepts them: `SIGTERM`, `TERM`, `15`, `SIGRTMIN+3`.

use nix::sys::signal::Signal;

use crate::error::{Error, Result};

pub fn parse_signal(s: &str) -> Result<i32> {
    let s = s.trim();
    let invalid = || Error::InvalidArgument(format!("Invalid signal: {s}"));
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=64).contains(&n) {
            Ok(n)
        } else {
            Err(invalid())
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    if let Some(rest) = name.strip_prefix("SIGRTMIN+") {
        let n: i32 = rest.parse().map_err(|_| invalid())?;
        let sig = libc::SIGRTMIN() + n;
        return if sig <= libc::SIGRTMAX() {
            Ok(sig)
        } else {
            Err(invalid())
        };
    }
    if name == "SIGRTMIN" {
        return Ok(libc::SIGRTMIN());
    }
    if name == "SIGRTMAX" {
        return Ok(libc::SIGRTMAX());
    }
    name.parse::<Signal>()
        .map(|s| s as i32)
        .map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_spellings() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("term").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("SIGRTMIN+1").unwrap(), libc::SIGRTMIN() + 1);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("65").is_err());
    }
}
