//! Go's `flag` package accepts long flags with one dash (`-topic=t`, `-topic t`); clap wants
//! two. This rewrites `-name...` (more than one letter) to `--name...` before parsing, so
//! command lines written for the Go tools work unchanged. `-n 5` stays a short flag.

use std::ffi::OsString;

/// Rewrites single-dash long flags to double-dash ones.
pub fn normalize<I: IntoIterator<Item = OsString>>(args: I) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut after_separator = false;
    for arg in args {
        let rewritten = match arg.to_str() {
            Some("--") => {
                after_separator = true;
                None
            }
            Some(s) if !after_separator && is_single_dash_long(s) => Some(format!("-{s}").into()),
            _ => None,
        };
        out.push(rewritten.unwrap_or(arg));
    }
    out
}

fn is_single_dash_long(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('-') else {
        return false;
    };
    if rest.starts_with('-') {
        return false;
    }
    let name = rest.split('=').next().unwrap_or_default();
    name.len() > 1
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalize(args.iter().map(OsString::from))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn rewrites_go_style_flags_only() {
        assert_eq!(
            norm(&[
                "nsq",
                "tail",
                "-topic=t",
                "-n",
                "5",
                "--channel",
                "c",
                "-nsqd-tcp-address",
                "a:1"
            ]),
            [
                "nsq",
                "tail",
                "--topic=t",
                "-n",
                "5",
                "--channel",
                "c",
                "--nsqd-tcp-address",
                "a:1"
            ]
        );
        assert_eq!(
            norm(&["nsq", "pub", "--", "-topic"]),
            ["nsq", "pub", "--", "-topic"]
        );
        assert_eq!(norm(&["nsq", "-", "-n=3"]), ["nsq", "-", "-n=3"]);
    }
}
