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
    "SslPolicy",
];

/// ELB's recommended policy for HTTPS listeners ("Security policies for your Application Load
/// Balancer"): TLS 1.3 and 1.2 with forward-secret AEAD ciphers and hybrid post-quantum key
/// exchange. CreateListener's own default (ELBSecurityPolicy-2016-08) still allows TLS 1.0.
pub const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09";

/// ELB's predefined policies name their lowest TLS version after the family; these are the
/// families that start at TLS 1.2 or 1.3 (TLS13-1-0, TLS-1-1, FS-1-1, 2016-08… allow older).
const TLS12_OR_LATER: &[&str] = &["TLS13-1-2-", "TLS13-1-3-", "TLS-1-2-", "FS-1-2-"];

/// Whether `name` is an ELB security policy that refuses TLS 1.0 and 1.1.
pub fn valid_ssl_policy(name: &str) -> bool {
    name.strip_prefix("ELBSecurityPolicy-").is_some_and(|rest| {
        TLS12_OR_LATER.iter().any(|family| {
            rest.strip_prefix(family).is_some_and(|tail| {
                !tail.is_empty() && tail.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        })
    })
}

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
    /// The HTTPS listener's security policy (only used with a certificate).
    pub ssl_policy: String,
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
        let ssl_policy = p.optional_string("SslPolicy")?;
        match (&ssl_policy, &certificate_arn) {
            (Some(policy), _) if !valid_ssl_policy(policy) => {
                return Err(PropertyError::invalid(
                    "SslPolicy",
                    format!("{policy:?}"),
                    "expected an ELB security policy that starts at TLS 1.2 or 1.3, such as \
                     ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
                ))
            }
            (Some(_), None) => {
                return Err(PropertyError::invalid(
                    "SslPolicy",
                    "set without CertificateArn",
                    "the policy is the HTTPS listener's, and there is one only with CertificateArn",
                ))
            }
            _ => {}
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
            ssl_policy: ssl_policy.unwrap_or_else(|| DEFAULT_SSL_POLICY.to_string()),
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
        assert_eq!(s.ssl_policy, DEFAULT_SSL_POLICY);
        assert_eq!(target_group_name(&"a".repeat(32)).len(), 32);
    }

    #[test]
    fn only_policies_that_start_at_tls_1_2_are_taken() {
        for good in [
            DEFAULT_SSL_POLICY,
            "ELBSecurityPolicy-TLS13-1-2-2021-06",
            "ELBSecurityPolicy-TLS13-1-3-2021-06",
            "ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09",
            "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
            "ELBSecurityPolicy-FS-1-2-Res-2020-10",
        ] {
            assert!(valid_ssl_policy(good), "{good}");
        }
        for bad in [
            "ELBSecurityPolicy-2016-08",
            "ELBSecurityPolicy-TLS13-1-0-2021-06",
            "ELBSecurityPolicy-TLS13-1-1-2021-06",
            "ELBSecurityPolicy-TLS-1-1-2017-01",
            "ELBSecurityPolicy-FS-1-1-2019-08",
            "ELBSecurityPolicy-FS-2018-06",
            "ELBSecurityPolicy-TLS13-1-2-",
            "ELBSecurityPolicy-TLS13-1-2-2021-06 ",
            "TLS13-1-2-2021-06",
            "elbsecuritypolicy-TLS13-1-2-2021-06",
            "",
        ] {
            assert!(!valid_ssl_policy(bad), "{bad:?}");
        }
        let cert = with(
            "CertificateArn",
            json!("arn:aws:acm:us-east-1:123456789012:certificate/abc"),
        );
        let mut chosen = cert.clone();
        chosen["SslPolicy"] = json!("ELBSecurityPolicy-TLS13-1-3-2021-06");
        let s = LoadBalancerSpec::parse(chosen.as_object().unwrap()).unwrap();
        assert_eq!(s.ssl_policy, "ELBSecurityPolicy-TLS13-1-3-2021-06");
        let mut legacy = cert;
        legacy["SslPolicy"] = json!("ELBSecurityPolicy-2016-08");
        let err = LoadBalancerSpec::parse(legacy.as_object().unwrap()).unwrap_err();
        assert_eq!(err.property(), "SslPolicy");
        assert!(err.to_string().contains("TLS 1.2"), "{err}");
        let alone = with("SslPolicy", json!(DEFAULT_SSL_POLICY));
        let err = LoadBalancerSpec::parse(alone.as_object().unwrap()).unwrap_err();
        assert!(err.to_string().contains("CertificateArn"), "{err}");
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
