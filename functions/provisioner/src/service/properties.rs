use crate::capacity::valid_ecs_name as valid_cluster_name;
use operator_common::image::ImageRef;
use operator_common::properties::{Properties, PropertyError, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub const KNOWN: &[&str] = &[
    "ClusterName",
    "ServiceName",
    "RepositoryUri",
    "ImageTag",
    "Cpu",
    "Memory",
    "ContainerPort",
    "DesiredCount",
    "MinCapacity",
    "MaxCapacity",
    "CpuTargetPercent",
    "MemoryTargetPercent",
    "Subnets",
    "SecurityGroups",
    "AssignPublicIp",
    "TargetGroupArn",
    "ExecutionRoleArn",
    "TaskRoleArn",
    "LogRetentionDays",
    "Environment",
    "Secrets",
    "HealthCheckGracePeriodSeconds",
    "MinimumHealthyPercent",
    "MaximumPercent",
    "WaitForSteadyState",
    "ClusterCapacityProviderStrategy",
];

/// CloudWatch Logs accepts only these retention periods.
pub const LOG_RETENTION_DAYS: &[i32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// The memory sizes (MiB) Fargate accepts for a task CPU size (CPU units).
pub fn fargate_memory_sizes(cpu: u32) -> Vec<u32> {
    let (from, to, step) = match cpu {
        256 => return vec![512, 1024, 2048],
        512 => (1024, 4096, 1024),
        1024 => (2048, 8192, 1024),
        2048 => (4096, 16384, 1024),
        4096 => (8192, 30720, 1024),
        8192 => (16384, 61440, 4096),
        16384 => (32768, 122880, 8192),
        _ => return Vec::new(),
    };
    (from..=to).step_by(step).collect()
}

/// Its `Debug` shows the variables' names only (redact.rs).
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    pub cluster: String,
    pub name: String,
    pub repository_uri: String,
    pub image_tag: String,
    pub cpu: u32,
    pub memory: u32,
    pub container_port: i32,
    pub desired_count: i32,
    pub min_capacity: i32,
    pub max_capacity: i32,
    pub cpu_target_percent: u32,
    pub memory_target_percent: u32,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    pub target_group_arn: Option<String>,
    pub execution_role_arn: String,
    pub task_role_arn: Option<String>,
    pub log_retention_days: i32,
    pub environment: BTreeMap<String, String>,
    /// Name → Secrets Manager or SSM Parameter Store ARN.
    pub secrets: BTreeMap<String, String>,
    pub grace_period_seconds: i32,
    pub minimum_healthy_percent: i32,
    pub maximum_percent: i32,
    pub wait_for_steady_state: bool,
    /// `Fn::GetAtt Cluster.CapacityProviderStrategy`: only there so that a change of the
    /// cluster's strategy reaches the service as an Update (the cluster itself is read).
    pub cluster_strategy: Option<String>,
}

fn arn(p: &Properties, name: &str, required: bool) -> Result<Option<String>> {
    let value = if required {
        Some(p.string(name)?)
    } else {
        p.optional_string(name)?
    };
    match value {
        Some(v) if !v.starts_with("arn:") => Err(PropertyError::invalid(
            name,
            format!("{v:?}"),
            "expected an ARN",
        )),
        v => Ok(v),
    }
}

impl ServiceSpec {
    pub fn parse(map: &Map<String, Value>) -> Result<Self> {
        let p = Properties::new(map);
        p.reject_unknown(KNOWN)?;
        let cluster = p.string("ClusterName")?;
        let name = p.string("ServiceName")?;
        for (property, value) in [("ClusterName", &cluster), ("ServiceName", &name)] {
            if !valid_cluster_name(value) {
                return Err(PropertyError::invalid(
                    property,
                    format!("{value:?}"),
                    "expected 1-255 letters, digits, hyphens and underscores",
                ));
            }
        }
        let repository_uri = p.string("RepositoryUri")?;
        let image = ImageRef::parse(&repository_uri);
        if !image.is_ok_and(|i| i.tag.is_none() && i.digest.is_none()) {
            return Err(PropertyError::invalid(
                "RepositoryUri",
                format!("{repository_uri:?}"),
                "expected a repository URI without tag or digest (the tag goes in ImageTag)",
            ));
        }
        let image_tag = p.string_or("ImageTag", "latest")?;
        if image_tag.len() > 128 || image_tag.contains([':', '@', '/', ' ']) {
            return Err(PropertyError::invalid(
                "ImageTag",
                format!("{image_tag:?}"),
                "expected a Docker tag",
            ));
        }

        let cpu = p.int("Cpu", 512u32, 256, 16384)?;
        let memory_sizes = fargate_memory_sizes(cpu);
        if memory_sizes.is_empty() {
            return Err(PropertyError::invalid(
                "Cpu",
                cpu,
                "expected a Fargate CPU size: 256, 512, 1024, 2048, 4096, 8192 or 16384",
            ));
        }
        let memory = p.int("Memory", 1024u32, 512, 122_880)?;
        if !memory_sizes.contains(&memory) {
            return Err(PropertyError::invalid(
                "Memory",
                memory,
                format!(
                    "Fargate with Cpu {cpu} takes Memory from {} to {} MiB in steps of {}",
                    memory_sizes[0],
                    memory_sizes[memory_sizes.len() - 1],
                    memory_sizes.get(1).map_or(0, |m| m - memory_sizes[0]),
                ),
            ));
        }

        let min_capacity = p.int("MinCapacity", 1, 0, 1000)?;
        let max_capacity = p.int("MaxCapacity", 5, 1, 1000)?;
        if min_capacity > max_capacity {
            return Err(PropertyError::invalid(
                "MinCapacity",
                min_capacity,
                format!("must not exceed MaxCapacity ({max_capacity})"),
            ));
        }
        let desired_count = p.int("DesiredCount", 2, 0, 1000)?;
        if desired_count < min_capacity || desired_count > max_capacity {
            return Err(PropertyError::invalid(
                "DesiredCount",
                desired_count,
                format!(
                    "must be between MinCapacity ({min_capacity}) and MaxCapacity ({max_capacity})"
                ),
            ));
        }

        let log_retention_days = p.int("LogRetentionDays", 14, 1, 3653)?;
        if !LOG_RETENTION_DAYS.contains(&log_retention_days) {
            return Err(PropertyError::invalid(
                "LogRetentionDays",
                log_retention_days,
                "expected one of CloudWatch Logs' periods: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, …, 3653",
            ));
        }

        let environment = p.string_map("Environment")?;
        let secrets = p.string_map("Secrets")?;
        for (key, value) in &secrets {
            if !value.starts_with("arn:") {
                return Err(PropertyError::invalid(
                    &format!("Secrets.{key}"),
                    "not an ARN",
                    "expected a Secrets Manager secret or SSM parameter ARN",
                ));
            }
            if environment.contains_key(key) {
                return Err(PropertyError::invalid(
                    &format!("Secrets.{key}"),
                    "also in Environment",
                    "a variable comes from Environment or from Secrets, not both",
                ));
            }
        }
        for key in environment.keys().chain(secrets.keys()) {
            if key.is_empty() || key.contains('=') {
                return Err(PropertyError::invalid(
                    "Environment",
                    format!("{key:?}"),
                    "expected variable names",
                ));
            }
        }

        let minimum_healthy_percent = p.int("MinimumHealthyPercent", 50, 0, 100)?;
        let maximum_percent = p.int("MaximumPercent", 200, 100, 400)?;
        Ok(ServiceSpec {
            cluster,
            name,
            repository_uri,
            image_tag,
            cpu,
            memory,
            container_port: p.int("ContainerPort", 80, 1, 65535)?,
            desired_count,
            min_capacity,
            max_capacity,
            cpu_target_percent: p.int("CpuTargetPercent", 70, 1, 100)?,
            memory_target_percent: p.int("MemoryTargetPercent", 80, 1, 100)?,
            subnets: p.non_empty_string_list("Subnets")?,
            security_groups: p.non_empty_string_list("SecurityGroups")?,
            assign_public_ip: p.bool("AssignPublicIp", false)?,
            target_group_arn: arn(&p, "TargetGroupArn", false)?,
            execution_role_arn: arn(&p, "ExecutionRoleArn", true)?.unwrap_or_default(),
            task_role_arn: arn(&p, "TaskRoleArn", false)?,
            log_retention_days,
            cluster_strategy: p.optional_string("ClusterCapacityProviderStrategy")?,
            environment,
            secrets,
            grace_period_seconds: p.int("HealthCheckGracePeriodSeconds", 60, 0, 2_147_483_647)?,
            minimum_healthy_percent,
            maximum_percent,
            wait_for_steady_state: p.bool("WaitForSteadyState", true)?,
        })
    }

    pub fn log_group_name(&self) -> String {
        format!("/ecs/{}", self.name)
    }

    /// The Application Auto Scaling resource id.
    pub fn scaling_resource_id(&self) -> String {
        format!("service/{}/{}", self.cluster, self.name)
    }

    /// Whether a change from `old` needs a new service (ECS cannot rename or move one).
    pub fn replaces(&self, old: &ServiceSpec) -> bool {
        self.name != old.name || self.cluster != old.cluster
    }

    /// Whether the image the template names changed (otherwise a redeployed digest stays).
    pub fn image_changed(&self, old: &ServiceSpec) -> bool {
        self.repository_uri != old.repository_uri || self.image_tag != old.image_tag
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub fn base() -> Value {
        json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:provisioner",
            "ClusterName": "sky", "ServiceName": "web",
            "RepositoryUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sky-high-booker",
            "Subnets": ["subnet-a", "subnet-b"], "SecurityGroups": ["sg-1"],
            "TargetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/sky-tg/1",
            "ExecutionRoleArn": "arn:aws:iam::123456789012:role/exec"
        })
    }

    pub fn spec_with(changes: Value) -> ServiceSpec {
        let mut v = base();
        for (k, x) in changes.as_object().unwrap() {
            v[k] = x.clone();
        }
        ServiceSpec::parse(v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn defaults_are_the_seed() {
        let s = spec_with(json!({}));
        assert_eq!((s.cpu, s.memory, s.container_port), (512, 1024, 80));
        assert_eq!((s.desired_count, s.min_capacity, s.max_capacity), (2, 1, 5));
        assert_eq!((s.cpu_target_percent, s.memory_target_percent), (70, 80));
        assert_eq!((s.minimum_healthy_percent, s.maximum_percent), (50, 200));
        assert_eq!((s.grace_period_seconds, s.log_retention_days), (60, 14));
        assert_eq!(s.image_tag, "latest");
        assert!(!s.assign_public_ip && s.wait_for_steady_state);
        assert_eq!(s.log_group_name(), "/ecs/web");
    }

    #[test]
    fn every_bad_value_names_its_property() {
        let cases = [
            (json!({"Cpu": "300"}), "Cpu"),
            (json!({"Cpu": "lots"}), "Cpu"),
            (json!({"Cpu": "256", "Memory": "4096"}), "Memory"),
            (json!({"Memory": "1000"}), "Memory"),
            (json!({"ContainerPort": "0"}), "ContainerPort"),
            (json!({"ContainerPort": "65536"}), "ContainerPort"),
            (
                json!({"MinCapacity": "4", "MaxCapacity": "3", "DesiredCount": "3"}),
                "MinCapacity",
            ),
            (json!({"DesiredCount": "9"}), "DesiredCount"),
            (json!({"DesiredCount": "-1"}), "DesiredCount"),
            (json!({"CpuTargetPercent": "0"}), "CpuTargetPercent"),
            (json!({"MemoryTargetPercent": "101"}), "MemoryTargetPercent"),
            (json!({"Subnets": []}), "Subnets"),
            (json!({"SecurityGroups": ""}), "SecurityGroups"),
            (json!({"AssignPublicIp": "yes"}), "AssignPublicIp"),
            (json!({"TargetGroupArn": "sky-tg"}), "TargetGroupArn"),
            (json!({"ExecutionRoleArn": ""}), "ExecutionRoleArn"),
            (json!({"TaskRoleArn": "role"}), "TaskRoleArn"),
            (json!({"LogRetentionDays": "10"}), "LogRetentionDays"),
            (json!({"Environment": ["A=1"]}), "Environment"),
            (json!({"Environment": {"A": ["x"]}}), "Environment.A"),
            (json!({"Secrets": {"DB": "plain-text"}}), "Secrets.DB"),
            (
                json!({"Environment": {"DB": "x"}, "Secrets": {"DB": "arn:aws:ssm:us-east-1:1:parameter/db"}}),
                "Secrets.DB",
            ),
            (
                json!({"HealthCheckGracePeriodSeconds": "-5"}),
                "HealthCheckGracePeriodSeconds",
            ),
            (
                json!({"MinimumHealthyPercent": "150"}),
                "MinimumHealthyPercent",
            ),
            (json!({"MaximumPercent": "50"}), "MaximumPercent"),
            (
                json!({"WaitForSteadyState": "sometimes"}),
                "WaitForSteadyState",
            ),
            (json!({"RepositoryUri": "repo:latest"}), "RepositoryUri"),
            (json!({"RepositoryUri": "repo@sha256:1"}), "RepositoryUri"),
            (json!({"RepositoryUri": "host.example/"}), "RepositoryUri"),
            (json!({"ImageTag": "a:b"}), "ImageTag"),
            (json!({"ServiceName": "web/1"}), "ServiceName"),
            (json!({"ClusterName": ""}), "ClusterName"),
            (json!({"Replicas": "2"}), "Replicas"),
        ];
        for (changes, property) in cases {
            let mut v = base();
            for (k, x) in changes.as_object().unwrap() {
                v[k] = x.clone();
            }
            let err = ServiceSpec::parse(v.as_object().unwrap()).unwrap_err();
            assert_eq!(err.property(), property, "{changes}: {err}");
        }
    }

    #[test]
    fn fargate_pairs_match_the_published_table() {
        assert_eq!(fargate_memory_sizes(256), vec![512, 1024, 2048]);
        assert_eq!(fargate_memory_sizes(512), vec![1024, 2048, 3072, 4096]);
        assert_eq!(fargate_memory_sizes(4096).last(), Some(&30720));
        assert!(fargate_memory_sizes(8192).contains(&20480));
        assert!(!fargate_memory_sizes(8192).contains(&17408));
        assert!(fargate_memory_sizes(300).is_empty());
        let ok = spec_with(json!({"Cpu": "1024", "Memory": "3072"}));
        assert_eq!(ok.memory, 3072);
    }
}
