//! Object identifiers: random 256-bit IDs printed as 64 hex characters, their 12-character short
//! form, and the validation rules Docker applies to user-chosen names.

use rand::RngCore;

/// Length of the short form of an ID, as `docker ps` prints it.
pub const SHORT_ID_LEN: usize = 12;

/// A fresh random 64-hex-character ID. Like Docker, an ID that is all digits is re-drawn, so that
/// a short ID can never be mistaken for a number.
pub fn generate_id() -> String {
    let mut rng = rand::rng();
    loop {
        let mut buf = [0u8; 32];
        rng.fill_bytes(&mut buf);
        let id = hex::encode(buf);
        if !id[..SHORT_ID_LEN].bytes().all(|b| b.is_ascii_digit()) {
            return id;
        }
    }
}

/// The 12-character short form of a (possibly `sha256:`-prefixed) ID.
pub fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(SHORT_ID_LEN)]
}

/// Whether `s` is a full 64-character lowercase hex ID.
pub fn is_full_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Docker's rule for container names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (a leading `/` is accepted and
/// dropped).
pub fn valid_container_name(name: &str) -> bool {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    name.len() >= 2 && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_64_hex_and_not_numeric() {
        for _ in 0..100 {
            let id = generate_id();
            assert!(is_full_id(&id), "{id}");
            assert!(!short_id(&id).bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn short_id_strips_algorithm() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
    }

    #[test]
    fn container_names_follow_docker_rules() {
        assert!(valid_container_name("web"));
        assert!(valid_container_name("/web_1.a-b"));
        assert!(!valid_container_name("a"));
        assert!(!valid_container_name("-web"));
        assert!(!valid_container_name("we b"));
        assert!(!valid_container_name("we/b"));
        assert!(!valid_container_name(""));
    }
}
