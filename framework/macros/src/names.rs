//! NSQ's topic and channel name rules (nsqd's `IsValidTopicName`/`IsValidChannelName`):
//! 1 to 64 characters of `[.a-zA-Z0-9_-]`, optionally ending in `#ephemeral`.

const EPHEMERAL: &str = "#ephemeral";

/// Whether `name` is a valid NSQ topic or channel name (the rules are the same).
pub fn is_valid(name: &str) -> bool {
    if name.is_empty() || name.len() > 64 {
        return false;
    }
    let base = name.strip_suffix(EPHEMERAL).unwrap_or(name);
    !base.is_empty()
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A compile error message for an invalid `what` (topic, channel, ...) name, or `None`.
pub fn check(what: &str, name: &str) -> Option<String> {
    if is_valid(name) {
        None
    } else {
        Some(format!(
            "invalid NSQ {what} name {name:?}: use 1 to 64 characters of [.a-zA-Z0-9_-], \
             optionally ending in #ephemeral"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsq_name_rules() {
        for good in [
            "order.created",
            "a",
            "A-b_c.9",
            "email#ephemeral",
            &"x".repeat(64),
        ] {
            assert!(is_valid(good), "{good}");
        }
        for bad in [
            "",
            "bad topic",
            "a/b",
            "#ephemeral",
            "é",
            &"x".repeat(65),
            "a#eph",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
        assert!(check("topic", "a b")
            .unwrap()
            .contains("invalid NSQ topic name"));
    }
}
