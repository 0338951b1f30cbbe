use operator_common::settings::{Env, FromEnv, SettingError};

/// What the redeployer watches, from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub cluster: String,
    pub service: String,
    pub repository: String,
    /// The tag whose pushes roll the service (the Service's ImageTag).
    pub image_tag: String,
    /// Log the decision instead of acting.
    pub dry_run: bool,
}

impl FromEnv for Settings {
    fn read(env: &Env) -> Result<Settings, SettingError> {
        Ok(Settings {
            cluster: env.required("CLUSTER_NAME")?,
            service: env.required("SERVICE_NAME")?,
            repository: env.required("REPOSITORY_NAME")?,
            image_tag: env.string_or("IMAGE_TAG", "latest"),
            dry_run: env.bool_or("DRY_RUN", false)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_environment_with_the_seed_defaults() {
        let env = Env::from_pairs(&[
            ("CLUSTER_NAME", "sky"),
            ("SERVICE_NAME", "web"),
            ("REPOSITORY_NAME", "sky-high-booker"),
        ]);
        let s = Settings::read(&env).unwrap();
        assert_eq!((s.image_tag.as_str(), s.dry_run), ("latest", false));
        let missing = Settings::read(&Env::from_pairs(&[("CLUSTER_NAME", "sky")]));
        assert!(missing.unwrap_err().to_string().contains("SERVICE_NAME"));
    }
}
