use operator_common::properties::{Properties, PropertyError, Result};
use serde_json::{Map, Value};

pub const KNOWN: &[&str] = &[
    "Name",
    "VpcId",
    "Subnets",
    "SecurityGroups",
    "Scheme",
    "TargetPort",
    "HealthCheckPath",
    "HealthyThreshold",
    "UnhealthyThreshold",
    "HealthCheckIntervalSeconds",
    "CertificateArn",
    "AccessLogsBucket",
    "DeregistrationDelaySeconds",
];

/// How long a target that leaves keeps its connections. ELB's 300 s default makes every
/// rollout and every service delete wait five minutes; a web app's requests end in seconds.
pub const DEFAULT_DEREGISTRATION_DELAY_SECONDS: i32 = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub path: String,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
    pub interval_seconds: i32,
    /// Not a property: ELB requires it below the interval; 5 s, or interval − 1 when shorter.
    pub timeout_seconds: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerSpec {
    pub name: String,
    pub vpc_id: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub scheme: String,
    pub target_port: i32,
    pub health_check: HealthCheck,
    pub certificate_arn: Option<String>,
    pub access_logs_bucket: Option<String>,
    pub deregistration_delay_seconds: i32,
}

/// ELB's naming rule, shared by load balancers and target groups.
fn valid_elb_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.starts_with("internal-")
}

impl LoadBalancerSpec {
    pub fn parse(map: &Map<String, Value>) -> Result<Self> {
        let p = Properties::new(map);
        p.reject_unknown(KNOWN)?;
        let name = p.string("Name")?;
        if !valid_elb_name(&name) {
            return Err(PropertyError::invalid(
                "Name",
                format!("{name:?}"),
                "expected 1-32 letters, digits and inner hyphens, not starting with internal-",
            ));
        }
        let subnets = p.non_empty_string_list("Subnets")?;
        if subnets.len() < 2 {
            return Err(PropertyError::invalid(
                "Subnets",
                format!("{} subnet", subnets.len()),
                "an Application Load Balancer needs subnets in at least two Availability Zones",
            ));
        }
        let path = p.string_or("HealthCheckPath", "/")?;
        if !path.starts_with('/') || path.len() > 1024 {
            return Err(PropertyError::invalid(
                "HealthCheckPath",
                format!("{path:?}"),
                "expected a path starting with /",
            ));
        }
        let interval_seconds = p.int("HealthCheckIntervalSeconds", 30, 5, 300)?;
        let certificate_arn = p.optional_string("CertificateArn")?;
        if let Some(arn) = &certificate_arn {
            if !arn.starts_with("arn:") {
                return Err(PropertyError::invalid(
                    "CertificateArn",
                    format!("{arn:?}"),
                    "expected an ACM certificate ARN",
                ));
            }
        }
        Ok(LoadBalancerSpec {
            vpc_id: p.string("VpcId")?,
            security_groups: p.non_empty_string_list("SecurityGroups")?,
            scheme: p.one_of(
                "Scheme",
                "internet-facing",
                &["internet-facing", "internal"],
            )?,
            target_port: p.int("TargetPort", 80, 1, 65535)?,
            health_check: HealthCheck {
                path,
                healthy_threshold: p.int("HealthyThreshold", 2, 2, 10)?,
                unhealthy_threshold: p.int("UnhealthyThreshold", 2, 2, 10)?,
                interval_seconds,
                timeout_seconds: 5.min(interval_seconds - 1),
            },
            certificate_arn,
            access_logs_bucket: p.optional_string("AccessLogsBucket")?,
            deregistration_delay_seconds: p.int(
                "DeregistrationDelaySeconds",
                DEFAULT_DEREGISTRATION_DELAY_SECONDS,
                0,
                3600,
            )?,
            subnets,
            name,
        })
    }

    /// The target group's name: derived from the load balancer's, within ELB's 32 characters.
    pub fn target_group_name(&self) -> String {
        target_group_name(&self.name)
    }
}

pub fn target_group_name(lb_name: &str) -> String {
    let stem: String = lb_name.chars().take(29).collect();
    format!("{}-tg", stem.trim_end_matches('-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"Name": "sky-high-booker", "VpcId": "vpc-1", "Subnets": ["subnet-a", "subnet-b"], "SecurityGroups": ["sg-1"]})
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = base();
        v[key] = value;
        v
    }

    #[test]
    fn defaults_are_the_seed_health_check() {
        let s = LoadBalancerSpec::parse(base().as_object().unwrap()).unwrap();
        assert_eq!(s.scheme, "internet-facing");
        assert_eq!(s.target_port, 80);
        assert_eq!(
            s.health_check,
            HealthCheck {
                path: "/".into(),
                healthy_threshold: 2,
                unhealthy_threshold: 2,
                interval_seconds: 30,
                timeout_seconds: 5
            }
        );
        assert_eq!(s.target_group_name(), "sky-high-booker-tg");
        assert_eq!(s.deregistration_delay_seconds, 30);
        assert_eq!(target_group_name(&"a".repeat(32)).len(), 32);
    }

    #[test]
    fn every_bad_value_names_its_property() {
        let cases = [
            (with("Name", json!("internal-x")), "Name"),
            (with("Name", json!("a".repeat(33))), "Name"),
            (with("Subnets", json!(["subnet-a"])), "Subnets"),
            (with("SecurityGroups", json!([])), "SecurityGroups"),
            (with("Scheme", json!("public")), "Scheme"),
            (with("TargetPort", json!("0")), "TargetPort"),
            (with("TargetPort", json!("65536")), "TargetPort"),
            (with("HealthCheckPath", json!("health")), "HealthCheckPath"),
            (with("HealthyThreshold", json!("1")), "HealthyThreshold"),
            (
                with("UnhealthyThreshold", json!("11")),
                "UnhealthyThreshold",
            ),
            (
                with("HealthCheckIntervalSeconds", json!("2")),
                "HealthCheckIntervalSeconds",
            ),
            (with("CertificateArn", json!("my-cert")), "CertificateArn"),
            (with("Listener", json!("80")), "Listener"),
            (
                with("DeregistrationDelaySeconds", json!("3601")),
                "DeregistrationDelaySeconds",
            ),
            (
                with("DeregistrationDelaySeconds", json!("-1")),
                "DeregistrationDelaySeconds",
            ),
        ];
        for (props, property) in cases {
            let err = LoadBalancerSpec::parse(props.as_object().unwrap()).unwrap_err();
            assert_eq!(err.property(), property, "{props}");
        }
        let mut no_vpc = base();
        no_vpc.as_object_mut().unwrap().remove("VpcId");
        assert_eq!(
            LoadBalancerSpec::parse(no_vpc.as_object().unwrap())
                .unwrap_err()
                .property(),
            "VpcId"
        );
    }
}
