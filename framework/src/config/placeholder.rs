//! `${VAR}` and `${VAR:default}` placeholders, expanded in a file's text before parsing.

use std::collections::HashMap;

/// Where placeholder (and environment source) values come from.
#[derive(Clone, Debug, Default)]
pub enum Vars {
    /// The process environment.
    #[default]
    Process,
    /// A fixed map (tests, or values gathered elsewhere).
    Map(HashMap<String, String>),
}

impl Vars {
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        match self {
            Vars::Process => std::env::var(name).ok(),
            Vars::Map(map) => map.get(name).cloned(),
        }
    }
}

/// A placeholder that cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceholderError {
    /// `${VAR}` without a default and `VAR` unset.
    #[error("variable {0} is not set and has no default (write ${{{0}:default}})")]
    Unset(String),
    /// `${` without a closing `}`.
    #[error("unclosed placeholder starting at byte {0}")]
    Unclosed(usize),
    /// `${}` or `${:x}`.
    #[error("empty variable name in placeholder at byte {0}")]
    EmptyName(usize),
}

/// Replaces every `${NAME}` / `${NAME:default}` in `text`. The value is inserted verbatim,
/// so `port = ${PORT:8000}` is a TOML number and `"${HOST:localhost}:80"` a string.
pub fn expand(text: &str, vars: &Vars) -> Result<String, PlaceholderError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let at = offset + start;
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(PlaceholderError::Unclosed(at))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(':') {
            Some((name, default)) => (name.trim(), Some(default)),
            None => (inner.trim(), None),
        };
        if name.is_empty() {
            return Err(PlaceholderError::EmptyName(at));
        }
        match (vars.get(name), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(PlaceholderError::Unset(name.to_string())),
        }
        let consumed = start + 2 + end + 1;
        rest = &rest[consumed..];
        offset += consumed;
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn expands_set_unset_and_defaults() {
        let vars = vars(&[("HOST", "db.local"), ("EMPTY", "")]);
        let text = "a=${HOST:localhost} b=${PORT:5432} c=${EMPTY:x} d=${NONE:} e=${HOST}";
        assert_eq!(
            expand(text, &vars).unwrap(),
            "a=db.local b=5432 c= d= e=db.local"
        );
    }

    #[test]
    fn default_may_contain_colons() {
        let text = "url = \"${URL:http://127.0.0.1:4317}\"";
        assert_eq!(
            expand(text, &vars(&[])).unwrap(),
            "url = \"http://127.0.0.1:4317\""
        );
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            expand("x=${MISSING}", &vars(&[])),
            Err(PlaceholderError::Unset("MISSING".into()))
        );
        assert_eq!(
            expand("x=${OPEN", &vars(&[])),
            Err(PlaceholderError::Unclosed(2))
        );
        assert_eq!(
            expand("${:d}", &vars(&[])),
            Err(PlaceholderError::EmptyName(0))
        );
    }

    #[test]
    fn text_without_placeholders_is_unchanged() {
        let text = "price = \"$5\" # {braces}";
        assert_eq!(expand(text, &vars(&[])).unwrap(), text);
    }
}
