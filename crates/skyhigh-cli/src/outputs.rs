//! What the status command needs from the stack: its Outputs (template.yaml), by name.

use std::collections::BTreeMap;

/// The stack's resources the status command reads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StackRefs {
    pub cluster: String,
    pub service: String,
    pub repository: String,
    /// The load balancer's target group (Output `TargetGroupArn`).
    pub target_group_arn: Option<String>,
    /// The stack's alarms by name (Output `AlarmNames`, space-separated).
    pub alarms: Vec<String>,
    /// The functions' log groups (Output `OperatorLogGroups`, space-separated).
    pub log_groups: Vec<String>,
    /// Output `DashboardName`, shown so a person knows where the graphs are.
    pub dashboard: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutputsError {
    #[error(
        "the stack has no output {0}: it was deployed from an older template.yaml (sam deploy it again)"
    )]
    Missing(&'static str),
}

fn words(value: Option<&String>) -> Vec<String> {
    value
        .map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

impl StackRefs {
    /// From the stack's Outputs (key → value). Empty values count as missing.
    pub fn from_outputs(outputs: &BTreeMap<String, String>) -> Result<StackRefs, OutputsError> {
        let get = |key: &str| outputs.get(key).filter(|v| !v.trim().is_empty());
        let required = |key: &'static str| {
            get(key)
                .map(|v| v.trim().to_string())
                .ok_or(OutputsError::Missing(key))
        };
        Ok(StackRefs {
            cluster: required("ClusterName")?,
            service: required("ServiceName")?,
            repository: required("RepositoryName")?,
            target_group_arn: get("TargetGroupArn").map(|v| v.trim().to_string()),
            alarms: words(get("AlarmNames")),
            log_groups: words(get("OperatorLogGroups")),
            dashboard: get("DashboardName").map(|v| v.trim().to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_every_output_it_knows() {
        let refs = StackRefs::from_outputs(&outputs(&[
            ("ClusterName", "app"),
            ("ServiceName", "web"),
            ("RepositoryName", "repo"),
            ("TargetGroupArn", "arn:tg"),
            ("AlarmNames", "app-cpu-high  app-memory-high"),
            (
                "OperatorLogGroups",
                "/aws/lambda/s/redeployer /aws/lambda/s/autoscaler",
            ),
            ("DashboardName", "app"),
            ("Url", "http://x"),
        ]))
        .unwrap();
        assert_eq!(refs.cluster, "app");
        assert_eq!(refs.alarms, ["app-cpu-high", "app-memory-high"]);
        assert_eq!(refs.log_groups.len(), 2);
        assert_eq!(refs.target_group_arn.as_deref(), Some("arn:tg"));
        assert_eq!(refs.dashboard.as_deref(), Some("app"));
    }

    #[test]
    fn a_missing_or_empty_required_output_is_named() {
        let all = [
            ("ClusterName", "app"),
            ("ServiceName", "web"),
            ("RepositoryName", "repo"),
        ];
        for (i, (missing, _)) in all.iter().enumerate() {
            let mut some: Vec<_> = all.to_vec();
            some.remove(i);
            assert_eq!(
                StackRefs::from_outputs(&outputs(&some)),
                Err(OutputsError::Missing(missing))
            );
            let mut empty = all.to_vec();
            empty[i].1 = " ";
            assert_eq!(
                StackRefs::from_outputs(&outputs(&empty)),
                Err(OutputsError::Missing(missing))
            );
        }
    }

    #[test]
    fn optional_outputs_may_be_absent() {
        let refs = StackRefs::from_outputs(&outputs(&[
            ("ClusterName", "app"),
            ("ServiceName", "web"),
            ("RepositoryName", "repo"),
        ]))
        .unwrap();
        assert!(refs.alarms.is_empty() && refs.log_groups.is_empty());
        assert_eq!(refs.target_group_arn, None);
    }
}
