//! Settings of the event-driven functions, read from environment variables. A missing or
//! malformed setting is an error naming the variable, raised at start.

use std::fmt::Display;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("setting {name} is required (environment variable)")]
    Missing { name: String },
    #[error("setting {name} is {value:?}: {expected}")]
    Invalid {
        name: String,
        value: String,
        expected: String,
    },
}

/// A function's settings, read once at start (the runner reads them before the first event).
/// The one convention: `impl FromEnv for Settings`, tested with [`Env::from_pairs`].
pub trait FromEnv: Sized {
    fn read(env: &Env) -> Result<Self, SettingError>;
}

/// A function without settings.
impl FromEnv for () {
    fn read(_: &Env) -> Result<(), SettingError> {
        Ok(())
    }
}

/// Where settings are read from: the process environment, or given pairs in tests. Values are
/// trimmed; an empty value counts as unset.
pub struct Env {
    lookup: Box<Lookup>,
}

type Lookup = dyn Fn(&str) -> Option<String>;

impl Env {
    pub fn process() -> Env {
        Env {
            lookup: Box::new(|name| std::env::var(name).ok()),
        }
    }

    /// The given variables and no others (for tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Env {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env {
            lookup: Box::new(move |name| {
                pairs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            }),
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &str) -> Result<String, SettingError> {
        self.get(name)
            .ok_or_else(|| SettingError::Missing { name: name.into() })
    }

    pub fn string_or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_string())
    }

    pub fn parsed_or<T: FromStr + Display>(
        &self,
        name: &str,
        default: T,
    ) -> Result<T, SettingError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| SettingError::Invalid {
                name: name.into(),
                value: v,
                expected: format!("expected a value like {default}"),
            }),
        }
    }

    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, SettingError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(SettingError::Invalid {
                name: name.into(),
                value: v,
                expected: "expected true or false".into(),
            }),
        }
    }

    /// A comma-separated list; empty when unset.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_malformed_settings_name_the_variable() {
        let s = Env::from_pairs(&[
            ("KEEP_IMAGES", "ten"),
            ("DRY_RUN", "TRUE"),
            ("PROTECTED_TAGS", "prod, ,stable"),
            ("BLANK", "  "),
        ]);
        assert_eq!(
            s.required("CLUSTER_NAME"),
            Err(SettingError::Missing {
                name: "CLUSTER_NAME".into()
            })
        );
        assert!(s
            .parsed_or("KEEP_IMAGES", 10u32)
            .unwrap_err()
            .to_string()
            .contains("KEEP_IMAGES"));
        assert_eq!(s.parsed_or("ABSENT", 3u32), Ok(3));
        assert_eq!(s.bool_or("DRY_RUN", false), Ok(true));
        assert_eq!(s.list("PROTECTED_TAGS"), vec!["prod", "stable"]);
        assert_eq!(s.string_or("BLANK", "default"), "default");
        assert_eq!(<()>::read(&s), Ok(()));
    }
}
