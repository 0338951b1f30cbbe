//! The pruner's settings, read from environment variables at start (see DESIGN.md).

use operator_common::settings::{Env, FromEnv, SettingError};
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub cluster_name: String,
    pub service_name: String,
    pub repository_name: String,
    /// KEEP_IMAGES: the newest tagged images always kept (10).
    pub keep_images: usize,
    /// KEEP_ROLLBACK_REVISIONS: previous task-definition revisions whose images are kept (3).
    pub keep_rollback_revisions: usize,
    /// PROTECTED_TAGS: images carrying any of these tags are never deleted (empty).
    pub protected_tags: BTreeSet<String>,
    /// UNTAGGED_EXPIRY_DAYS: untagged images younger than this are kept (1).
    pub untagged_expiry_days: u32,
    /// DRY_RUN: log the plan, delete nothing (false).
    pub dry_run: bool,
    /// DELETE_CALLS_IN_FLIGHT: BatchDeleteImage calls at once, at most (4, at least 1).
    pub delete_calls_in_flight: usize,
}

impl FromEnv for Settings {
    /// A missing or malformed setting is an error naming it.
    fn read(s: &Env) -> Result<Self, SettingError> {
        Ok(Settings {
            cluster_name: s.required("CLUSTER_NAME")?,
            service_name: s.required("SERVICE_NAME")?,
            repository_name: s.required("REPOSITORY_NAME")?,
            keep_images: s.parsed_or("KEEP_IMAGES", 10usize)?,
            keep_rollback_revisions: s.parsed_or("KEEP_ROLLBACK_REVISIONS", 3usize)?,
            protected_tags: s.list("PROTECTED_TAGS").into_iter().collect(),
            untagged_expiry_days: s.parsed_or("UNTAGGED_EXPIRY_DAYS", 1u32)?,
            dry_run: s.bool_or("DRY_RUN", false)?,
            delete_calls_in_flight: s
                .parsed_or("DELETE_CALLS_IN_FLIGHT", crate::schedule::MAX_IN_FLIGHT)?
                .max(1),
        })
    }
}

impl Settings {
    /// The age after which an untagged image expires, in milliseconds.
    pub fn untagged_expiry_millis(&self) -> i64 {
        i64::from(self.untagged_expiry_days) * 86_400_000
    }

    /// The defaults, for cluster `sky`, service `web` and repository `sky-high-booker`: the
    /// settings tests start from.
    #[cfg(test)]
    pub(crate) fn example() -> Settings {
        Settings::read(&Env::from_pairs(&[
            ("CLUSTER_NAME", "sky"),
            ("SERVICE_NAME", "web"),
            ("REPOSITORY_NAME", "sky-high-booker"),
        ]))
        .expect("the required settings are given")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Settings, SettingError> {
        Settings::read(&Env::from_pairs(pairs))
    }

    const REQUIRED: [(&str, &str); 3] = [
        ("CLUSTER_NAME", "sky"),
        ("SERVICE_NAME", "web"),
        ("REPOSITORY_NAME", "sky-high-booker"),
    ];

    #[test]
    fn defaults_apply_when_only_the_required_settings_are_set() {
        let s = read(&REQUIRED).unwrap();
        assert_eq!(s, Settings::example());
        assert_eq!(
            s,
            Settings {
                cluster_name: "sky".into(),
                service_name: "web".into(),
                repository_name: "sky-high-booker".into(),
                keep_images: 10,
                keep_rollback_revisions: 3,
                protected_tags: BTreeSet::new(),
                untagged_expiry_days: 1,
                dry_run: false,
                delete_calls_in_flight: 4,
            }
        );
        assert_eq!(s.untagged_expiry_millis(), 86_400_000);
    }

    #[test]
    fn every_setting_is_read() {
        let mut pairs = REQUIRED.to_vec();
        pairs.extend([
            ("KEEP_IMAGES", "5"),
            ("KEEP_ROLLBACK_REVISIONS", "0"),
            ("PROTECTED_TAGS", "prod, stable,,"),
            ("UNTAGGED_EXPIRY_DAYS", "7"),
            ("DRY_RUN", "true"),
            ("DELETE_CALLS_IN_FLIGHT", "1"),
        ]);
        let s = read(&pairs).unwrap();
        assert_eq!(s.keep_images, 5);
        assert_eq!(s.keep_rollback_revisions, 0);
        assert_eq!(
            s.protected_tags,
            BTreeSet::from(["prod".to_string(), "stable".to_string()])
        );
        assert_eq!(s.untagged_expiry_days, 7);
        assert!(s.dry_run);
        assert_eq!(s.delete_calls_in_flight, 1);
    }

    #[test]
    fn missing_or_malformed_settings_are_named() {
        for missing in ["CLUSTER_NAME", "SERVICE_NAME", "REPOSITORY_NAME"] {
            let pairs: Vec<_> = REQUIRED
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let e = read(&pairs).unwrap_err();
            assert!(e.to_string().contains(missing), "{e}");
        }
        for (name, bad) in [
            ("KEEP_IMAGES", "ten"),
            ("KEEP_IMAGES", "-1"),
            ("KEEP_ROLLBACK_REVISIONS", "3.5"),
            ("UNTAGGED_EXPIRY_DAYS", "one"),
            ("DRY_RUN", "yes"),
            ("DELETE_CALLS_IN_FLIGHT", "many"),
        ] {
            let mut pairs = REQUIRED.to_vec();
            pairs.push((name, bad));
            let e = read(&pairs).unwrap_err();
            assert!(e.to_string().contains(name), "{e}");
        }
    }
}
