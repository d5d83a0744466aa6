//! TEMPORARY stand-in until the nsqd-core helper's `names` module lands (removed at merge).
pub fn is_valid_topic_name(name: &str) -> bool {
    is_valid_name(name.as_bytes())
}
pub fn is_valid_channel_name(name: &str) -> bool {
    is_valid_name(name.as_bytes())
}
pub fn is_valid_name(name: &[u8]) -> bool {
    if name.is_empty() || name.len() > 64 {
        return false;
    }
    let base = name.strip_suffix(b"#ephemeral").unwrap_or(name);
    !base.is_empty()
        && base
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
