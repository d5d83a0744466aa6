//! Topic and channel name validation: 1..=64 bytes matching `^[.a-zA-Z0-9_-]+(#ephemeral)?$`.

/// Maximum length of a topic or channel name in bytes, `#ephemeral` suffix included.
pub const MAX_NAME_LENGTH: usize = 64;

/// The suffix that makes a topic or channel ephemeral (no disk queue, auto-deleted).
pub const EPHEMERAL_SUFFIX: &str = "#ephemeral";

/// Whether `name` is a valid topic name.
///
/// ```
/// use nsq_wire::names::is_valid_topic_name;
/// assert!(is_valid_topic_name("orders.created"));
/// assert!(is_valid_topic_name("x#ephemeral"));
/// assert!(!is_valid_topic_name("#ephemeral"));
/// assert!(!is_valid_topic_name("a b"));
/// ```
pub fn is_valid_topic_name(name: &str) -> bool {
    is_valid_name(name.as_bytes())
}

/// Whether `name` is a valid channel name (the same rule as topics).
pub fn is_valid_channel_name(name: &str) -> bool {
    is_valid_name(name.as_bytes())
}

/// Whether the raw bytes form a valid topic/channel name (the rule shared by both).
pub fn is_valid_name(name: &[u8]) -> bool {
    if name.is_empty() || name.len() > MAX_NAME_LENGTH {
        return false;
    }
    let base = name
        .strip_suffix(EPHEMERAL_SUFFIX.as_bytes())
        .unwrap_or(name);
    !base.is_empty() && base.iter().all(|&b| is_name_byte(b))
}

/// Whether the name ends in `#ephemeral`.
pub fn is_ephemeral(name: &str) -> bool {
    name.ends_with(EPHEMERAL_SUFFIX)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_names() {
        for name in ["a", "A.b-c_d", "x#ephemeral", "0", "..", "-_-"] {
            assert!(is_valid_topic_name(name), "{name}");
            assert!(is_valid_channel_name(name), "{name}");
        }
    }

    #[test]
    fn rejects_invalid_names() {
        for name in [
            "",
            "#ephemeral",
            "a#Ephemeral",
            "a#ephemeralx",
            "a#b",
            "a b",
            "a:b",
            "a/b",
            "é",
            "a#ephemeral#ephemeral",
        ] {
            assert!(!is_valid_topic_name(name), "{name:?}");
        }
    }

    #[test]
    fn length_limit_includes_suffix() {
        let sixty_four = "a".repeat(64);
        assert!(is_valid_topic_name(&sixty_four));
        assert!(!is_valid_topic_name(&"a".repeat(65)));
        let with_suffix = format!("{}#ephemeral", "a".repeat(54));
        assert_eq!(with_suffix.len(), 64);
        assert!(is_valid_topic_name(&with_suffix));
        let too_long = format!("{}#ephemeral", "a".repeat(55));
        assert!(!is_valid_topic_name(&too_long));
    }

    #[test]
    fn detects_ephemeral() {
        assert!(is_ephemeral("c#ephemeral"));
        assert!(!is_ephemeral("c"));
    }
}
