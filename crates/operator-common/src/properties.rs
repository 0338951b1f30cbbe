//! Typed reading of custom-resource properties. CloudFormation delivers every scalar as a
//! string ("512", "true"); lists and maps keep their shape with string leaves. Values that
//! arrive as JSON numbers or booleans (a hand-written test event, say) are accepted too.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

/// Keys CloudFormation itself adds to ResourceProperties.
const PROTOCOL_KEYS: &[&str] = &["ServiceToken", "ServiceTimeout"];

/// A property that is missing, malformed or not known, named so that a person can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertyError {
    #[error("property {property} is required")]
    Missing { property: String },
    #[error("property {property} is {found}: {expected}")]
    Invalid {
        property: String,
        found: String,
        expected: String,
    },
    #[error("unknown property {property} (known: {known})")]
    Unknown { property: String, known: String },
}

impl PropertyError {
    pub fn invalid(property: &str, found: impl Display, expected: impl Into<String>) -> Self {
        let mut found = found.to_string();
        if found.len() > 80 {
            // At a character boundary: `truncate` panics inside a multi-byte character.
            let cut = (0..=77)
                .rev()
                .find(|i| found.is_char_boundary(*i))
                .unwrap_or(0);
            found.truncate(cut);
            found.push_str("...");
        }
        PropertyError::Invalid {
            property: property.to_string(),
            found,
            expected: expected.into(),
        }
    }

    /// The property this error is about.
    pub fn property(&self) -> &str {
        match self {
            PropertyError::Missing { property }
            | PropertyError::Invalid { property, .. }
            | PropertyError::Unknown { property, .. } => property,
        }
    }
}

pub type Result<T> = std::result::Result<T, PropertyError>;

/// A read-only view of one resource's properties.
#[derive(Debug, Clone, Copy)]
pub struct Properties<'a> {
    map: &'a Map<String, Value>,
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a map".into(),
        other => other.to_string(),
    }
}

impl<'a> Properties<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Properties { map }
    }

    /// Fails on the first key that is neither in `known` nor added by CloudFormation.
    pub fn reject_unknown(&self, known: &[&str]) -> Result<()> {
        let mut keys: Vec<&String> = self.map.keys().collect();
        keys.sort();
        match keys
            .into_iter()
            .find(|k| !known.contains(&k.as_str()) && !PROTOCOL_KEYS.contains(&k.as_str()))
        {
            Some(k) => Err(PropertyError::Unknown {
                property: k.clone(),
                known: known.join(", "),
            }),
            None => Ok(()),
        }
    }

    /// A scalar as text; `None` when absent, null or empty (how `!Ref AWS::NoValue` and an
    /// empty optional parameter both arrive).
    pub fn optional_string(&self, name: &str) -> Result<Option<String>> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
            Some(v) => Err(PropertyError::invalid(
                name,
                describe(v),
                "expected a string",
            )),
        }
    }

    pub fn string(&self, name: &str) -> Result<String> {
        self.optional_string(name)?
            .ok_or_else(|| PropertyError::Missing {
                property: name.into(),
            })
    }

    pub fn string_or(&self, name: &str, default: &str) -> Result<String> {
        Ok(self
            .optional_string(name)?
            .unwrap_or_else(|| default.to_string()))
    }

    /// One of `allowed` (compared case-insensitively, returned as spelled in `allowed`).
    pub fn one_of(&self, name: &str, default: &str, allowed: &[&str]) -> Result<String> {
        let value = self.string_or(name, default)?;
        allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(&value))
            .map(|a| a.to_string())
            .ok_or_else(|| {
                PropertyError::invalid(
                    name,
                    format!("{value:?}"),
                    format!("expected one of {}", allowed.join(", ")),
                )
            })
    }

    pub fn bool(&self, name: &str, default: bool) -> Result<bool> {
        match self.optional_string(name)? {
            None => Ok(default),
            Some(s) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(s) if s.eq_ignore_ascii_case("false") => Ok(false),
            Some(s) => Err(PropertyError::invalid(
                name,
                format!("{s:?}"),
                "expected true or false",
            )),
        }
    }

    /// An integer within `min..=max`.
    pub fn int<T>(&self, name: &str, default: T, min: T, max: T) -> Result<T>
    where
        T: FromStr + PartialOrd + Display + Copy,
    {
        let value = match self.optional_string(name)? {
            None => default,
            Some(s) => s.parse::<T>().map_err(|_| {
                PropertyError::invalid(
                    name,
                    format!("{s:?}"),
                    format!("expected a whole number from {min} to {max}"),
                )
            })?,
        };
        if value < min || value > max {
            return Err(PropertyError::invalid(
                name,
                value,
                format!("expected a whole number from {min} to {max}"),
            ));
        }
        Ok(value)
    }

    /// A list of strings. A single comma-separated string (what `!Join [",", …]` or a
    /// `CommaDelimitedList` parameter passed through `!Join` gives) is accepted too.
    pub fn string_list(&self, name: &str) -> Result<Vec<String>> {
        let items: Vec<String> = match self.map.get(name) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => s.split(',').map(|p| p.trim().to_string()).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.trim().to_string()),
                    other => Err(PropertyError::invalid(
                        name,
                        describe(other),
                        "expected a list of strings",
                    )),
                })
                .collect::<Result<_>>()?,
            Some(v) => {
                return Err(PropertyError::invalid(
                    name,
                    describe(v),
                    "expected a list of strings",
                ))
            }
        };
        Ok(items.into_iter().filter(|s| !s.is_empty()).collect())
    }

    pub fn non_empty_string_list(&self, name: &str) -> Result<Vec<String>> {
        let items = self.string_list(name)?;
        if items.is_empty() {
            return Err(PropertyError::Missing {
                property: name.into(),
            });
        }
        Ok(items)
    }

    /// A map of string to string (numbers and booleans are taken as their text).
    pub fn string_map(&self, name: &str) -> Result<BTreeMap<String, String>> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::String(s)) if s.is_empty() => Ok(BTreeMap::new()),
            Some(Value::Object(entries)) => entries
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    Value::Number(_) | Value::Bool(_) => Ok((k.clone(), v.to_string())),
                    other => Err(PropertyError::invalid(
                        &format!("{name}.{k}"),
                        describe(other),
                        "expected a string",
                    )),
                })
                .collect(),
            Some(v) => Err(PropertyError::invalid(
                name,
                describe(v),
                "expected a map of names to strings",
            )),
        }
    }

    /// The raw list of objects under `name` (each then read with its own `Properties`).
    pub fn object_list(&self, name: &str) -> Result<Option<Vec<&'a Map<String, Value>>>> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::Object(o) => Ok(o),
                    other => Err(PropertyError::invalid(
                        name,
                        describe(other),
                        "expected a list of maps",
                    )),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(v) => Err(PropertyError::invalid(
                name,
                describe(v),
                "expected a list of maps",
            )),
        }
    }

    /// The raw value, for comparing old and new properties.
    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn strings_numbers_and_booleans_arrive_as_text() {
        let m = props(json!({"Cpu": "512", "Wait": "TRUE", "N": 3, "B": false}));
        let p = Properties::new(&m);
        assert_eq!(p.int("Cpu", 0u32, 0, 4096), Ok(512));
        assert_eq!(p.bool("Wait", false), Ok(true));
        assert_eq!(p.int("N", 0u32, 0, 10), Ok(3));
        assert_eq!(p.bool("B", true), Ok(false));
        assert_eq!(p.bool("Absent", true), Ok(true));
    }

    #[test]
    fn a_long_value_is_cut_between_characters() {
        // Found by the parser fuzzing (functions/provisioner/tests/fuzz_requests.rs).
        let e = PropertyError::invalid("Name", format!("{:?}", "€".repeat(40)), "a name");
        let PropertyError::Invalid { found, .. } = &e else {
            panic!("{e:?}")
        };
        assert!(found.len() <= 80 && found.ends_with("..."), "{found}");
    }

    #[test]
    fn errors_name_the_property() {
        let m = props(
            json!({"Cpu": "lots", "Port": "70000", "Flag": "yes", "List": [1], "Map": {"A": []}}),
        );
        let p = Properties::new(&m);
        assert_eq!(p.int("Cpu", 0u32, 0, 10).unwrap_err().property(), "Cpu");
        assert_eq!(
            p.int("Port", 80u32, 1, 65535).unwrap_err().property(),
            "Port"
        );
        assert_eq!(p.bool("Flag", false).unwrap_err().property(), "Flag");
        assert_eq!(p.string_list("List").unwrap_err().property(), "List");
        assert_eq!(p.string_map("Map").unwrap_err().property(), "Map.A");
        assert_eq!(p.string("Missing").unwrap_err().property(), "Missing");
        let msg = p.int("Port", 80u32, 1, 65535).unwrap_err().to_string();
        assert!(msg.contains("Port") && msg.contains("70000"), "{msg}");
    }

    #[test]
    fn unknown_keys_are_rejected_but_protocol_keys_are_not() {
        let m = props(
            json!({"ServiceToken": "arn", "ServiceTimeout": "900", "Name": "a", "Nmae": "b"}),
        );
        let p = Properties::new(&m);
        let err = p.reject_unknown(&["Name"]).unwrap_err();
        assert_eq!(err.property(), "Nmae");
        let m = props(json!({"ServiceToken": "arn", "Name": "a"}));
        assert!(Properties::new(&m).reject_unknown(&["Name"]).is_ok());
    }

    #[test]
    fn lists_accept_comma_separated_text_and_empty_means_absent() {
        let m = props(json!({"A": "subnet-1, subnet-2", "B": ["x", ""], "C": "", "D": ["sg"]}));
        let p = Properties::new(&m);
        assert_eq!(p.string_list("A").unwrap(), vec!["subnet-1", "subnet-2"]);
        assert_eq!(p.string_list("B").unwrap(), vec!["x"]);
        assert_eq!(p.optional_string("C").unwrap(), None);
        assert!(p.non_empty_string_list("C").is_err());
        assert_eq!(p.non_empty_string_list("D").unwrap(), vec!["sg"]);
    }

    #[test]
    fn one_of_is_case_insensitive_and_canonical() {
        let m = props(json!({"M": "immutable", "X": "sometimes"}));
        let p = Properties::new(&m);
        assert_eq!(
            p.one_of("M", "MUTABLE", &["MUTABLE", "IMMUTABLE"]).unwrap(),
            "IMMUTABLE"
        );
        assert_eq!(
            p.one_of("Absent", "MUTABLE", &["MUTABLE", "IMMUTABLE"])
                .unwrap(),
            "MUTABLE"
        );
        assert_eq!(
            p.one_of("X", "MUTABLE", &["MUTABLE"])
                .unwrap_err()
                .property(),
            "X"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_integer_text_in_range_round_trips(n in 0u32..100_000, lo in 0u32..50_000) {
            let m = props(json!({"N": n.to_string()}));
            let got = Properties::new(&m).int("N", 0u32, lo, 99_999);
            if n >= lo && n <= 99_999 { proptest::prop_assert_eq!(got, Ok(n)); }
            else { let err = got.unwrap_err(); proptest::prop_assert_eq!(err.property(), "N"); }
        }
    }
}
