use operator_common::properties::{Properties, PropertyError, Result};
use serde_json::{Map, Value};

pub const KNOWN: &[&str] = &[
    "RepositoryName",
    "ScanOnPush",
    "ImageTagMutability",
    "KeepImages",
    "EmptyOnDelete",
];

/// What the template asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySpec {
    pub name: String,
    pub scan_on_push: bool,
    pub tag_mutability: String,
    /// Read by the image pruner (from the repository's `skyhigh:keep-images` tag).
    pub keep_images: u32,
    pub empty_on_delete: bool,
}

/// ECR's rule: lowercase path components of letters and digits joined by `.`, `_` or `-`.
fn valid_repository_name(name: &str) -> bool {
    (2..=256).contains(&name.len())
        && name.split('/').all(|part| {
            !part.is_empty()
                && part.split(['.', '_', '-']).all(|piece| {
                    !piece.is_empty()
                        && piece
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                })
        })
}

impl RepositorySpec {
    pub fn parse(map: &Map<String, Value>) -> Result<Self> {
        let p = Properties::new(map);
        p.reject_unknown(KNOWN)?;
        let name = p.string("RepositoryName")?;
        if !valid_repository_name(&name) {
            return Err(PropertyError::invalid(
                "RepositoryName",
                format!("{name:?}"),
                "expected 2-256 lowercase letters, digits, and . _ - / between them",
            ));
        }
        Ok(RepositorySpec {
            name,
            scan_on_push: p.bool("ScanOnPush", true)?,
            tag_mutability: p.one_of("ImageTagMutability", "MUTABLE", &["MUTABLE", "IMMUTABLE"])?,
            keep_images: p.int("KeepImages", 10u32, 1, 1000)?,
            empty_on_delete: p.bool("EmptyOnDelete", false)?,
        })
    }

    /// The safe defaults, for a Delete whose stored properties no longer parse: never empties.
    pub fn named(name: &str) -> Self {
        RepositorySpec {
            name: name.to_string(),
            scan_on_push: true,
            tag_mutability: "MUTABLE".into(),
            keep_images: 10,
            empty_on_delete: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<RepositorySpec> {
        RepositorySpec::parse(v.as_object().unwrap())
    }

    #[test]
    fn defaults_come_from_the_seed() {
        let s = parse(json!({"RepositoryName": "sky-high-booker", "ServiceToken": "arn"})).unwrap();
        assert!(s.scan_on_push);
        assert_eq!(s.tag_mutability, "MUTABLE");
        assert_eq!(s.keep_images, 10);
        assert!(!s.empty_on_delete);
    }

    #[test]
    fn every_bad_value_names_its_property() {
        let cases = [
            (json!({}), "RepositoryName"),
            (json!({"RepositoryName": "Upper"}), "RepositoryName"),
            (json!({"RepositoryName": "a//b"}), "RepositoryName"),
            (
                json!({"RepositoryName": "app", "ScanOnPush": "maybe"}),
                "ScanOnPush",
            ),
            (
                json!({"RepositoryName": "app", "ImageTagMutability": "SOMETIMES"}),
                "ImageTagMutability",
            ),
            (
                json!({"RepositoryName": "app", "KeepImages": "0"}),
                "KeepImages",
            ),
            (
                json!({"RepositoryName": "app", "KeepImages": "ten"}),
                "KeepImages",
            ),
            (
                json!({"RepositoryName": "app", "EmptyOnDelete": "1"}),
                "EmptyOnDelete",
            ),
            (json!({"RepositoryName": "app", "Colour": "blue"}), "Colour"),
        ];
        for (props, property) in cases {
            assert_eq!(
                parse(props.clone()).unwrap_err().property(),
                property,
                "{props}"
            );
        }
    }

    #[test]
    fn names_follow_ecr_rules() {
        assert!(valid_repository_name("team/sky-high_booker.web"));
        assert!(!valid_repository_name("a"));
        assert!(!valid_repository_name("-app"));
        assert!(!valid_repository_name("app/"));
    }
}
