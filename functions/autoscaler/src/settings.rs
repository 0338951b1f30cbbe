//! The autoscaler's settings, read once at start from the environment.

use operator_common::settings::{Env, FromEnv, SettingError};

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub cluster: String,
    pub service: String,
    /// After a scale-out, no further scale-out for this long (a scale-in does not block one).
    pub scale_out_cooldown_seconds: i64,
    /// After any scaling, no scale-in for this long.
    pub scale_in_cooldown_seconds: i64,
    pub cpu_target_percent: f64,
    pub memory_target_percent: f64,
    /// Log the decision, change nothing.
    pub dry_run: bool,
}

fn percent(l: &Env, name: &str, default: u32) -> Result<f64, SettingError> {
    let v: u32 = l.parsed_or(name, default)?;
    if !(1..=100).contains(&v) {
        return Err(SettingError::Invalid {
            name: name.into(),
            value: v.to_string(),
            expected: "expected a whole percentage from 1 to 100".into(),
        });
    }
    Ok(f64::from(v))
}

fn seconds(l: &Env, name: &str, default: u32) -> Result<i64, SettingError> {
    let v: u32 = l.parsed_or(name, default)?;
    Ok(i64::from(v))
}

impl FromEnv for Settings {
    fn read(l: &Env) -> Result<Settings, SettingError> {
        Ok(Settings {
            cluster: l.required("CLUSTER_NAME")?,
            service: l.required("SERVICE_NAME")?,
            scale_out_cooldown_seconds: seconds(l, "SCALE_OUT_COOLDOWN_SECONDS", 60)?,
            scale_in_cooldown_seconds: seconds(l, "SCALE_IN_COOLDOWN_SECONDS", 300)?,
            cpu_target_percent: percent(l, "CPU_TARGET_PERCENT", 70)?,
            memory_target_percent: percent(l, "MEMORY_TARGET_PERCENT", 80)?,
            dry_run: l.bool_or("DRY_RUN", false)?,
        })
    }
}

impl Settings {
    /// The Application Auto Scaling resource id of the service.
    pub fn scaling_resource_id(&self) -> String {
        format!("service/{}/{}", self.cluster, self.service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Settings, SettingError> {
        Settings::read(&Env::from_pairs(pairs))
    }

    #[test]
    fn defaults_apply_and_names_are_required() {
        let s = read(&[("CLUSTER_NAME", "c"), ("SERVICE_NAME", "s")]).unwrap();
        assert_eq!(s.scale_out_cooldown_seconds, 60);
        assert_eq!(s.scale_in_cooldown_seconds, 300);
        assert_eq!(s.cpu_target_percent, 70.0);
        assert_eq!(s.memory_target_percent, 80.0);
        assert!(!s.dry_run);
        assert_eq!(s.scaling_resource_id(), "service/c/s");
        let e = read(&[("CLUSTER_NAME", "c")]).unwrap_err();
        assert!(e.to_string().contains("SERVICE_NAME"), "{e}");
    }

    #[test]
    fn malformed_settings_name_the_variable() {
        for (name, value) in [
            ("SCALE_OUT_COOLDOWN_SECONDS", "a minute"),
            ("SCALE_IN_COOLDOWN_SECONDS", "-5"),
            ("CPU_TARGET_PERCENT", "0"),
            ("MEMORY_TARGET_PERCENT", "150"),
            ("DRY_RUN", "maybe"),
        ] {
            let e =
                read(&[("CLUSTER_NAME", "c"), ("SERVICE_NAME", "s"), (name, value)]).unwrap_err();
            assert!(e.to_string().contains(name), "{e}");
        }
        let s = read(&[
            ("CLUSTER_NAME", "c"),
            ("SERVICE_NAME", "s"),
            ("SCALE_OUT_COOLDOWN_SECONDS", "0"),
            ("CPU_TARGET_PERCENT", "50"),
        ])
        .unwrap();
        assert_eq!(s.scale_out_cooldown_seconds, 0);
        assert_eq!(s.cpu_target_percent, 50.0);
    }
}
