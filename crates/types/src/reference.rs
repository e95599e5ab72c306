//! Image references' grammar, shared by the image store (parsing `docker pull` names) and the
//! registry (validating names in URLs), so both accept exactly the same repositories.

/// Whether `c` is one `/`-separated component of a repository path:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` (the distribution reference grammar).
pub fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-", followed by an alphanumeric.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= b.len() || !alnum(b[i]) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::valid_path_component as ok;

    #[test]
    fn components_follow_the_distribution_grammar() {
        for good in ["busybox", "a", "a.b", "a_b", "a__b", "a---b", "0x"] {
            assert!(ok(good), "{good}");
        }
        for bad in [
            "", "A", "aB", "-a", "a-", "a...b", "a___b", "a.", ".a", "a/b", "a b",
        ] {
            assert!(!ok(bad), "{bad}");
        }
    }
}
