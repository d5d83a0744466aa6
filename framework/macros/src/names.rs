//! NSQ's topic and channel name rules, checked at compile time: 1 to 64 characters of
//! `[.a-zA-Z0-9_-]`, optionally ending in `#ephemeral`.

/// Why a name is not a valid NSQ topic/channel name, or `None` when it is.
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 64 {
        return Some(format!(
            "NSQ names are 1 to 64 characters; {name:?} has {}",
            name.len()
        ));
    }
    let base = name.strip_suffix("#ephemeral").unwrap_or(name);
    if base.is_empty() {
        return Some("NSQ names need characters before `#ephemeral`".to_string());
    }
    base.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .map(|bad| {
            format!(
                "{bad:?} is not allowed in NSQ name {name:?} (use letters, digits, '.', '_', '-', optionally ending in #ephemeral)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::name_problem;

    #[test]
    fn follows_nsq_rules() {
        for ok in [
            "order.created",
            "a",
            "a_b-c.d",
            "tmp#ephemeral",
            &"x".repeat(64),
        ] {
            assert_eq!(name_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "has space",
            "slash/no",
            "#ephemeral",
            &"x".repeat(65),
            "a#b",
        ] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
    }
}
