//! What IAM authorizes for each call a function makes: the action's resource ARN(s), the
//! request's context keys, and the implicit checks AWS makes on the caller's behalf (dependent
//! actions, iam:PassRole, tagging on create). One arm per action; an action missing here is
//! refused loudly by the layer, never allowed. Pure.
//!
//! Sources: the Service Authorization Reference (resource types per action); "Elastic Load
//! Balancing API permissions" (https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/elb-api-permissions.html);
//! "Application Auto Scaling identity-based policy examples", section "Permissions required for
//! API actions on target services and CloudWatch"
//! (https://docs.aws.amazon.com/autoscaling/application/userguide/security_iam_id-based-policy-examples.html)
//! "IAM permissions required for Amazon ECS service auto scaling"
//! (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/auto-scaling-IAM.html), and
//! "Permissions validation for Application Auto Scaling API calls on target resources"
//! (https://docs.aws.amazon.com/autoscaling/application/userguide/security_iam_permission_validation.html);
//! service-linked roles on first use: the ELB page above and "Authentication and Access Control
//! for Application Auto Scaling" (RegisterScalableTarget needs iam:CreateServiceLinkedRole).

use serde_json::{json, Value};
use std::collections::BTreeMap;

/// One authorization IAM makes for a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub action: String,
    pub resource: String,
    pub context: BTreeMap<String, Value>,
    /// An existing resource whose tags are `aws:ResourceTag/*` for this check.
    pub tags_of: Option<String>,
    /// The call's own action when this check is implicit (a dependent action, PassRole…).
    pub implied_by: Option<String>,
}

/// A call's parameters, whatever the protocol: JSON bodies as they are; Query forms as a flat
/// map (`Subnets.member.1`); CBOR bodies converted to JSON.
pub enum Params<'a> {
    Json(&'a Value),
    Form(&'a BTreeMap<String, String>),
}

impl Params<'_> {
    fn str(&self, key: &str) -> Option<String> {
        match self {
            Params::Json(v) => v.get(key).and_then(Value::as_str).map(str::to_string),
            Params::Form(f) => f.get(key).cloned(),
        }
    }

    /// A list parameter: a JSON array of strings, or `Key.member.N` in a form.
    fn list(&self, key: &str) -> Vec<String> {
        match self {
            Params::Json(v) => v
                .get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            Params::Form(f) => (1..)
                .map_while(|i| f.get(&format!("{key}.member.{i}")).cloned())
                .collect(),
        }
    }

    /// Request tags, in whichever shape the service uses: `[{key, value}]` (ECS),
    /// `[{Key, Value}]` (ECR), `{k: v}` (Logs, Application Auto Scaling), `Tags.member.N.Key`.
    fn tags(&self, key: &str) -> BTreeMap<String, String> {
        match self {
            Params::Json(v) => match v.get(key) {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|t| {
                        let k = t.get("key").or_else(|| t.get("Key"))?.as_str()?;
                        let v = t
                            .get("value")
                            .or_else(|| t.get("Value"))
                            .and_then(Value::as_str);
                        Some((k.to_string(), v.unwrap_or_default().to_string()))
                    })
                    .collect(),
                Some(Value::Object(map)) => map
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect(),
                _ => BTreeMap::new(),
            },
            Params::Form(f) => (1..)
                .map_while(|i| {
                    let k = f.get(&format!("{key}.member.{i}.Key"))?;
                    let v = f
                        .get(&format!("{key}.member.{i}.Value"))
                        .cloned()
                        .unwrap_or_default();
                    Some((k.clone(), v))
                })
                .collect(),
        }
    }
}

/// Where the call is made: names become ARNs here.
pub struct Scope<'a> {
    pub region: &'a str,
    pub account: &'a str,
}

impl Scope<'_> {
    fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{resource}",
            self.region, self.account
        )
    }

    fn named(&self, service: &str, kind: &str, name_or_arn: &str) -> String {
        if name_or_arn.starts_with("arn:") {
            name_or_arn.to_string()
        } else {
            self.arn(service, &format!("{kind}/{name_or_arn}"))
        }
    }

    fn cluster(&self, p: &Params) -> String {
        self.named(
            "ecs",
            "cluster",
            &p.str("cluster").unwrap_or_else(|| "default".into()),
        )
    }

    fn service(&self, p: &Params, name_or_arn: &str) -> String {
        if name_or_arn.starts_with("arn:") {
            return name_or_arn.to_string();
        }
        let cluster = self.cluster(p);
        let cluster = cluster.rsplit('/').next().unwrap_or_default();
        self.arn("ecs", &format!("service/{cluster}/{name_or_arn}"))
    }
}

/// Unknown to the table: the layer refuses it, naming the action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the strict layer does not know how to authorize {0}")]
pub struct Unknown(pub String);

fn check(action: &str, resource: String) -> Check {
    Check {
        action: action.to_string(),
        resource,
        context: BTreeMap::new(),
        tags_of: None,
        implied_by: None,
    }
}

impl Check {
    fn ctx(mut self, key: &str, value: impl Into<Value>) -> Check {
        self.context.insert(key.to_string(), value.into());
        self
    }

    fn existing(mut self) -> Check {
        self.tags_of = Some(self.resource.clone());
        self
    }

    fn request_tags(mut self, tags: &BTreeMap<String, String>) -> Check {
        if !tags.is_empty() {
            for (k, v) in tags {
                self.context.insert(format!("aws:RequestTag/{k}"), json!(v));
            }
            self.context
                .insert("aws:TagKeys".into(), json!(tags.keys().collect::<Vec<_>>()));
        }
        self
    }

    fn implied(mut self, by: &str) -> Check {
        self.implied_by = Some(by.to_string());
        self
    }
}

/// Actions with no resource-level permissions: authorized on "*".
const ON_ANY: &[&str] = &[
    "ecs:ListClusters",
    "ecs:ListTaskDefinitions",
    "ecs:ListTaskDefinitionFamilies",
    "ecs:DescribeTaskDefinition",
    "ecs:DeregisterTaskDefinition",
    "ecr:GetAuthorizationToken",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeRules",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "application-autoscaling:DescribeScalingActivities",
    "application-autoscaling:DescribeScheduledActions",
    "cloudwatch:DescribeAlarmsForMetric",
    "cloudwatch:GetMetricData",
    "cloudwatch:GetMetricStatistics",
    "cloudwatch:ListMetrics",
    "logs:DescribeLogGroups",
    "acm:RequestCertificate",
    "acm:ListCertificates",
];

/// ECR actions on one repository, named by `repositoryName`.
const ON_REPOSITORY: &[&str] = &[
    "DeleteRepository",
    "PutImageScanningConfiguration",
    "PutImageTagMutability",
    "ListImages",
    "DescribeImages",
    "BatchGetImage",
    "BatchDeleteImage",
    "PutImage",
    "PutLifecyclePolicy",
    "GetLifecyclePolicy",
    "DeleteLifecyclePolicy",
    "GetRepositoryPolicy",
    "SetRepositoryPolicy",
    "DeleteRepositoryPolicy",
    "BatchCheckLayerAvailability",
    "GetDownloadUrlForLayer",
];

const EC2_FOR_CREATE_LOAD_BALANCER: &[&str] = &[
    "ec2:DescribeAccountAttributes",
    "ec2:DescribeAddresses",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
];

/// The ids AWS gives resources that do not exist yet (the policy matches their pattern).
const NEW_ID: &str = "0123456789abcdef";

/// Every authorization AWS makes for `service:operation` with these parameters.
pub fn checks(
    service: &str,
    operation: &str,
    p: &Params,
    at: &Scope,
) -> Result<Vec<Check>, Unknown> {
    let action = format!("{service}:{operation}");
    if ON_ANY.contains(&action.as_str()) || service == "ec2" && operation.starts_with("Describe") {
        return Ok(vec![check(&action, "*".into())]);
    }
    let a = action.as_str();
    let tag_on_create =
        |tagging: &str, resource: &str, tags: &BTreeMap<String, String>, key: &str| {
            (!tags.is_empty()).then(|| {
                check(tagging, resource.to_string())
                    .request_tags(tags)
                    .ctx(key, operation)
                    .implied(a)
            })
        };
    let out = match (service, operation) {
        // ---- ECS ----
        ("ecs", "CreateCluster") => {
            let arn = at.named(
                "ecs",
                "cluster",
                &p.str("clusterName").unwrap_or_else(|| "default".into()),
            );
            let tags = p.tags("tags");
            let mut out = vec![check(a, arn.clone()).request_tags(&tags)];
            out.extend(tag_on_create(
                "ecs:TagResource",
                &arn,
                &tags,
                "ecs:CreateAction",
            ));
            out
        }
        ("ecs", "DescribeClusters") => {
            let names = p.list("clusters");
            let names = if names.is_empty() {
                vec!["default".to_string()]
            } else {
                names
            };
            names
                .iter()
                .map(|n| check(a, at.named("ecs", "cluster", n)).existing())
                .collect()
        }
        (
            "ecs",
            "UpdateCluster"
            | "UpdateClusterSettings"
            | "PutClusterCapacityProviders"
            | "DeleteCluster",
        ) => {
            vec![check(a, at.cluster(p)).existing()]
        }
        ("ecs", "ListServices" | "ListTasks") => {
            vec![check(a, "*".into()).ctx("ecs:cluster", at.cluster(p))]
        }
        ("ecs", "CreateService") => {
            let arn = at.service(p, &p.str("serviceName").unwrap_or_default());
            let tags = p.tags("tags");
            let mut out = vec![check(a, arn.clone())
                .request_tags(&tags)
                .ctx("ecs:cluster", at.cluster(p))];
            out.extend(tag_on_create(
                "ecs:TagResource",
                &arn,
                &tags,
                "ecs:CreateAction",
            ));
            out
        }
        ("ecs", "UpdateService" | "DeleteService") => {
            let arn = at.service(p, &p.str("service").unwrap_or_default());
            vec![check(a, arn).existing().ctx("ecs:cluster", at.cluster(p))]
        }
        ("ecs", "DescribeServices") => p
            .list("services")
            .iter()
            .map(|s| {
                check(a, at.service(p, s))
                    .existing()
                    .ctx("ecs:cluster", at.cluster(p))
            })
            .collect(),
        ("ecs", "DescribeTasks") => {
            let cluster = at.cluster(p);
            let cluster_name = cluster.rsplit('/').next().unwrap_or_default().to_string();
            p.list("tasks")
                .iter()
                .map(|t| {
                    let arn = if t.starts_with("arn:") {
                        t.clone()
                    } else {
                        at.arn("ecs", &format!("task/{cluster_name}/{t}"))
                    };
                    check(a, arn).ctx("ecs:cluster", cluster.clone())
                })
                .collect()
        }
        ("ecs", "RegisterTaskDefinition") => {
            let family = p.str("family").unwrap_or_default();
            let arn = at.arn("ecs", &format!("task-definition/{family}:0"));
            let tags = p.tags("tags");
            let mut out = vec![check(a, arn.clone()).request_tags(&tags)];
            for role in ["executionRoleArn", "taskRoleArn"]
                .iter()
                .filter_map(|k| p.str(k))
            {
                out.push(
                    check("iam:PassRole", role)
                        .ctx("iam:PassedToService", "ecs-tasks.amazonaws.com")
                        .implied(a),
                );
            }
            out.extend(tag_on_create(
                "ecs:TagResource",
                &arn,
                &tags,
                "ecs:CreateAction",
            ));
            out
        }
        ("ecs", "TagResource" | "UntagResource" | "ListTagsForResource") => {
            let arn = p.str("resourceArn").unwrap_or_default();
            let c = check(a, arn).existing().request_tags(&p.tags("tags"));
            let keys = p.list("tagKeys");
            vec![if keys.is_empty() {
                c
            } else {
                c.ctx("aws:TagKeys", keys)
            }]
        }
        // ---- ECR ----
        ("ecr", "CreateRepository") => {
            let arn = at.named(
                "ecr",
                "repository",
                &p.str("repositoryName").unwrap_or_default(),
            );
            let tags = p.tags("tags");
            let mut out = vec![check(a, arn.clone()).request_tags(&tags)];
            out.extend(tag_on_create(
                "ecr:TagResource",
                &arn,
                &tags,
                "ecr:CreateAction",
            ));
            out
        }
        ("ecr", "DescribeRepositories") => {
            let names = p.list("repositoryNames");
            if names.is_empty() {
                vec![check(a, "*".into())]
            } else {
                names
                    .iter()
                    .map(|n| check(a, at.named("ecr", "repository", n)).existing())
                    .collect()
            }
        }
        ("ecr", op) if ON_REPOSITORY.contains(&op) => {
            vec![check(
                a,
                at.named(
                    "ecr",
                    "repository",
                    &p.str("repositoryName").unwrap_or_default(),
                ),
            )
            .existing()]
        }
        ("ecr", "TagResource" | "UntagResource" | "ListTagsForResource") => {
            let c = check(a, p.str("resourceArn").unwrap_or_default())
                .existing()
                .request_tags(&p.tags("tags"));
            let keys = p.list("tagKeys");
            vec![if keys.is_empty() {
                c
            } else {
                c.ctx("aws:TagKeys", keys)
            }]
        }
        // ---- Elastic Load Balancing v2 ----
        ("elasticloadbalancing", "CreateLoadBalancer") => {
            let kind = if p.str("Type").as_deref() == Some("network") {
                "net"
            } else {
                "app"
            };
            let name = p.str("Name").unwrap_or_default();
            let arn = at.arn(
                "elasticloadbalancing",
                &format!("loadbalancer/{kind}/{name}/{NEW_ID}"),
            );
            let tags = p.tags("Tags");
            let mut out = vec![check(a, arn.clone()).request_tags(&tags)];
            out.extend(
                EC2_FOR_CREATE_LOAD_BALANCER
                    .iter()
                    .map(|d| check(d, "*".into()).implied(a)),
            );
            out.extend(tag_on_create(
                "elasticloadbalancing:AddTags",
                &arn,
                &tags,
                "elasticloadbalancing:CreateAction",
            ));
            out
        }
        ("elasticloadbalancing", "CreateTargetGroup") => {
            let name = p.str("Name").unwrap_or_default();
            let arn = at.arn(
                "elasticloadbalancing",
                &format!("targetgroup/{name}/{NEW_ID}"),
            );
            let tags = p.tags("Tags");
            let mut out = vec![check(a, arn.clone()).request_tags(&tags)];
            out.extend(
                ["ec2:DescribeInternetGateways", "ec2:DescribeVpcs"]
                    .iter()
                    .map(|d| check(d, "*".into()).implied(a)),
            );
            out.extend(tag_on_create(
                "elasticloadbalancing:AddTags",
                &arn,
                &tags,
                "elasticloadbalancing:CreateAction",
            ));
            out
        }
        ("elasticloadbalancing", "CreateListener") => {
            // Authorized on the load balancer; the new listener is what gets the tags.
            let lb = p.str("LoadBalancerArn").unwrap_or_default();
            let listener = format!(
                "{}/{NEW_ID}",
                lb.replacen(":loadbalancer/", ":listener/", 1)
            );
            let tags = p.tags("Tags");
            let mut out = vec![check(a, lb).existing().request_tags(&tags)];
            out.extend(tag_on_create(
                "elasticloadbalancing:AddTags",
                &listener,
                &tags,
                "elasticloadbalancing:CreateAction",
            ));
            out
        }
        (
            "elasticloadbalancing",
            "ModifyLoadBalancerAttributes"
            | "SetSecurityGroups"
            | "DeleteLoadBalancer"
            | "SetIpAddressType",
        ) => {
            vec![check(a, p.str("LoadBalancerArn").unwrap_or_default()).existing()]
        }
        ("elasticloadbalancing", "SetSubnets") => vec![
            check(a, p.str("LoadBalancerArn").unwrap_or_default()).existing(),
            check("ec2:DescribeSubnets", "*".into()).implied(a),
        ],
        (
            "elasticloadbalancing",
            "ModifyTargetGroup"
            | "ModifyTargetGroupAttributes"
            | "DeleteTargetGroup"
            | "RegisterTargets"
            | "DeregisterTargets",
        ) => {
            vec![check(a, p.str("TargetGroupArn").unwrap_or_default()).existing()]
        }
        ("elasticloadbalancing", "ModifyListener" | "DeleteListener") => {
            vec![check(a, p.str("ListenerArn").unwrap_or_default()).existing()]
        }
        ("elasticloadbalancing", "AddTags") => {
            let tags = p.tags("Tags");
            p.list("ResourceArns")
                .into_iter()
                .map(|r| check(a, r).existing().request_tags(&tags))
                .collect()
        }
        ("elasticloadbalancing", "RemoveTags") => {
            let keys = p.list("TagKeys");
            p.list("ResourceArns")
                .into_iter()
                .map(|r| check(a, r).existing().ctx("aws:TagKeys", keys.clone()))
                .collect()
        }
        // ---- Application Auto Scaling (ECS services) ----
        (
            "application-autoscaling",
            "RegisterScalableTarget"
            | "PutScalingPolicy"
            | "DeleteScalingPolicy"
            | "DeregisterScalableTarget",
        ) => {
            let resource_id = p.str("ResourceId").unwrap_or_default();
            let target = scalable_target(
                at,
                &resource_id,
                &p.str("ScalableDimension").unwrap_or_default(),
            );
            let namespace = p.str("ServiceNamespace").unwrap_or_default();
            let dimension = p.str("ScalableDimension").unwrap_or_default();
            let tags = p.tags("Tags");
            let mut out = vec![check(a, target.clone())
                .existing()
                .request_tags(&tags)
                .ctx("application-autoscaling:service-namespace", namespace)
                .ctx("application-autoscaling:scalable-dimension", dimension)];
            // Registering with tags also needs TagResource (as every tag-on-create does).
            if operation == "RegisterScalableTarget" && !tags.is_empty() {
                out.push(
                    check("application-autoscaling:TagResource", target)
                        .request_tags(&tags)
                        .implied(a),
                );
            }
            // Target tracking's alarms are named TargetTracking-<ResourceId>-AlarmHigh-<uuid>.
            let alarm = at.arn("cloudwatch", &format!("alarm:TargetTracking-{resource_id}-AlarmHigh-00000000-0000-0000-0000-000000000000"));
            let service = resource_id
                .strip_prefix("service/")
                .map(|s| at.arn("ecs", &format!("service/{s}")));
            let implied: Vec<(&str, String)> = match operation {
                "RegisterScalableTarget" => service
                    .into_iter()
                    .flat_map(|s| {
                        [
                            ("ecs:DescribeServices", s.clone()),
                            ("ecs:UpdateService", s),
                        ]
                    })
                    .collect(),
                "PutScalingPolicy" => vec![
                    ("cloudwatch:DescribeAlarms", alarm.clone()),
                    ("cloudwatch:PutMetricAlarm", alarm),
                ],
                _ => vec![
                    ("cloudwatch:DescribeAlarms", alarm.clone()),
                    ("cloudwatch:DeleteAlarms", alarm),
                ],
            };
            out.extend(
                implied
                    .into_iter()
                    .map(|(d, r)| check(d, r).existing().implied(a)),
            );
            out
        }
        ("application-autoscaling", "TagResource" | "UntagResource" | "ListTagsForResource") => {
            vec![check(a, p.str("ResourceARN").unwrap_or_default()).request_tags(&p.tags("Tags"))]
        }
        // ---- CloudWatch ----
        ("cloudwatch", "DescribeAlarms") => {
            let names = p.list("AlarmNames");
            if names.is_empty() {
                vec![check(a, "*".into())]
            } else {
                names
                    .iter()
                    .map(|n| check(a, at.arn("cloudwatch", &format!("alarm:{n}"))))
                    .collect()
            }
        }
        ("cloudwatch", "PutMetricAlarm") => {
            let arn = at.arn(
                "cloudwatch",
                &format!("alarm:{}", p.str("AlarmName").unwrap_or_default()),
            );
            let tags = p.tags("Tags");
            let mut out = vec![check(a, arn.clone()).request_tags(&tags)];
            if !tags.is_empty() {
                out.push(
                    check("cloudwatch:TagResource", arn)
                        .request_tags(&tags)
                        .implied(a),
                );
            }
            out
        }
        ("cloudwatch", "DeleteAlarms") => p
            .list("AlarmNames")
            .iter()
            .map(|n| check(a, at.arn("cloudwatch", &format!("alarm:{n}"))))
            .collect(),
        ("cloudwatch", "SetAlarmState") => {
            vec![check(
                a,
                at.arn(
                    "cloudwatch",
                    &format!("alarm:{}", p.str("AlarmName").unwrap_or_default()),
                ),
            )]
        }
        // ---- CloudWatch Logs ----
        ("logs", "CreateLogGroup") => {
            let arn = at.arn(
                "logs",
                &format!("log-group:{}", p.str("logGroupName").unwrap_or_default()),
            );
            let tags = p.tags("tags");
            let mut out = vec![check(a, arn.clone()).request_tags(&tags)];
            if !tags.is_empty() {
                out.push(
                    check("logs:TagResource", arn)
                        .request_tags(&tags)
                        .implied(a),
                );
            }
            out
        }
        (
            "logs",
            "PutRetentionPolicy"
            | "DeleteRetentionPolicy"
            | "DeleteLogGroup"
            | "ListTagsLogGroup"
            | "TagLogGroup",
        ) => {
            let arn = at.arn(
                "logs",
                &format!("log-group:{}", p.str("logGroupName").unwrap_or_default()),
            );
            vec![check(a, arn).existing().request_tags(&p.tags("tags"))]
        }
        ("logs", "TagResource" | "UntagResource" | "ListTagsForResource") => {
            let arn = p.str("resourceArn").unwrap_or_default();
            vec![check(a, arn.trim_end_matches(":*").to_string())
                .existing()
                .request_tags(&p.tags("tags"))]
        }
        // ---- ACM ----
        ("acm", "DescribeCertificate" | "GetCertificate") => {
            vec![check(a, p.str("CertificateArn").unwrap_or_default())]
        }
        _ => return Err(Unknown(action)),
    };
    Ok(out)
}

/// The service-linked role a call makes AWS create when the account has none yet (the caller
/// then needs iam:CreateServiceLinkedRole for it): (AWS service name, role ARN).
pub fn linked_role(
    service: &str,
    operation: &str,
    p: &Params,
    at: &Scope,
) -> Option<(&'static str, String)> {
    let (name, role) = match (service, operation) {
        ("elasticloadbalancing", "CreateLoadBalancer") => (
            "elasticloadbalancing.amazonaws.com",
            "AWSServiceRoleForElasticLoadBalancing",
        ),
        ("ecs", "CreateCluster") => ("ecs.amazonaws.com", "AWSServiceRoleForECS"),
        ("application-autoscaling", "RegisterScalableTarget")
            if p.str("ServiceNamespace").as_deref() == Some("ecs") =>
        {
            (
                "ecs.application-autoscaling.amazonaws.com",
                "AWSServiceRoleForApplicationAutoScaling_ECSService",
            )
        }
        _ => return None,
    };
    Some((
        name,
        format!(
            "arn:aws:iam::{}:role/aws-service-role/{name}/{role}",
            at.account
        ),
    ))
}

/// The implicit check for creating `linked_role`'s role.
pub fn create_linked_role(action: &str, (name, role): (&str, String)) -> Check {
    check("iam:CreateServiceLinkedRole", role)
        .ctx("iam:AWSServiceName", name)
        .implied(action)
}

/// Scalable targets have opaque ids; one stable id per (resource, dimension) stands in (moto
/// keeps no tags for them: the layer does, under this ARN).
pub fn scalable_target(at: &Scope, resource_id: &str, dimension: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (resource_id, dimension).hash(&mut h);
    at.arn(
        "application-autoscaling",
        &format!("scalable-target/{:016x}", h.finish()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: Scope = Scope {
        region: "us-east-1",
        account: "123456789012",
    };

    fn json_checks(service: &str, op: &str, body: Value) -> Vec<Check> {
        checks(service, op, &Params::Json(&body), &AT).unwrap()
    }

    fn form_checks(service: &str, op: &str, pairs: &[(&str, &str)]) -> Vec<Check> {
        let form: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        checks(service, op, &Params::Form(&form), &AT).unwrap()
    }

    fn actions(c: &[Check]) -> Vec<&str> {
        c.iter().map(|c| c.action.as_str()).collect()
    }

    #[test]
    fn an_unknown_action_is_refused_by_name() {
        let err = checks("ecs", "RunTask", &Params::Json(&json!({})), &AT).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the strict layer does not know how to authorize ecs:RunTask"
        );
    }

    #[test]
    fn create_service_names_the_service_in_its_cluster_and_tags_on_create() {
        let c = json_checks(
            "ecs",
            "CreateService",
            json!({"cluster": "sky", "serviceName": "web",
            "tags": [{"key": "skyhigh:stack", "value": "s1"}]}),
        );
        assert_eq!(actions(&c), ["ecs:CreateService", "ecs:TagResource"]);
        assert_eq!(
            c[0].resource,
            "arn:aws:ecs:us-east-1:123456789012:service/sky/web"
        );
        assert_eq!(
            c[0].context["ecs:cluster"],
            "arn:aws:ecs:us-east-1:123456789012:cluster/sky"
        );
        assert_eq!(c[0].context["aws:RequestTag/skyhigh:stack"], "s1");
        assert_eq!(c[0].context["aws:TagKeys"], json!(["skyhigh:stack"]));
        assert_eq!(c[1].context["ecs:CreateAction"], "CreateService");
        assert_eq!(c[1].implied_by.as_deref(), Some("ecs:CreateService"));
        let untagged = json_checks(
            "ecs",
            "CreateService",
            json!({"cluster": "sky", "serviceName": "web"}),
        );
        assert_eq!(actions(&untagged), ["ecs:CreateService"]);
    }

    #[test]
    fn existing_services_are_checked_with_their_tags() {
        let arn = "arn:aws:ecs:us-east-1:123456789012:service/sky/web";
        let c = json_checks(
            "ecs",
            "UpdateService",
            json!({"cluster": "sky", "service": arn}),
        );
        assert_eq!(
            (c[0].resource.as_str(), c[0].tags_of.as_deref()),
            (arn, Some(arn))
        );
        let c = json_checks(
            "ecs",
            "DescribeServices",
            json!({"cluster": "sky", "services": ["web", "api"]}),
        );
        assert_eq!(c.len(), 2);
        assert!(c[1].resource.ends_with("service/sky/api"));
    }

    #[test]
    fn register_task_definition_passes_each_role_to_ecs_tasks() {
        let c = json_checks(
            "ecs",
            "RegisterTaskDefinition",
            json!({"family": "web",
            "executionRoleArn": "arn:aws:iam::123456789012:role/exec", "taskRoleArn": "arn:aws:iam::123456789012:role/task"}),
        );
        assert_eq!(
            actions(&c),
            ["ecs:RegisterTaskDefinition", "iam:PassRole", "iam:PassRole"]
        );
        assert_eq!(c[1].resource, "arn:aws:iam::123456789012:role/exec");
        assert_eq!(
            c[2].context["iam:PassedToService"],
            "ecs-tasks.amazonaws.com"
        );
    }

    #[test]
    fn create_load_balancer_needs_the_documented_ec2_describes_and_add_tags_for_its_tags() {
        let c = form_checks(
            "elasticloadbalancing",
            "CreateLoadBalancer",
            &[
                ("Name", "sky"),
                ("Tags.member.1.Key", "skyhigh:stack"),
                ("Tags.member.1.Value", "s1"),
            ],
        );
        assert_eq!(
            actions(&c),
            [
                "elasticloadbalancing:CreateLoadBalancer",
                "ec2:DescribeAccountAttributes",
                "ec2:DescribeAddresses",
                "ec2:DescribeInternetGateways",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeVpcs",
                "elasticloadbalancing:AddTags"
            ]
        );
        assert!(c[0].resource.contains(":loadbalancer/app/sky/"));
        assert_eq!(c[7].context["aws:RequestTag/skyhigh:stack"], "s1");
        let c = form_checks(
            "elasticloadbalancing",
            "CreateTargetGroup",
            &[("Name", "sky-tg")],
        );
        assert_eq!(
            actions(&c),
            [
                "elasticloadbalancing:CreateTargetGroup",
                "ec2:DescribeInternetGateways",
                "ec2:DescribeVpcs"
            ]
        );
        let c = form_checks(
            "elasticloadbalancing",
            "SetSubnets",
            &[("LoadBalancerArn", "arn:x")],
        );
        assert_eq!(
            actions(&c),
            ["elasticloadbalancing:SetSubnets", "ec2:DescribeSubnets"]
        );
    }

    #[test]
    fn a_listener_is_authorized_on_its_load_balancer() {
        let lb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/sky/abc";
        let c = form_checks(
            "elasticloadbalancing",
            "CreateListener",
            &[
                ("LoadBalancerArn", lb),
                ("Tags.member.1.Key", "k"),
                ("Tags.member.1.Value", "v"),
            ],
        );
        assert_eq!(c[0].resource, lb);
        assert!(c[1].resource.starts_with(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/sky/abc/"
        ));
    }

    #[test]
    fn scaling_checks_what_application_auto_scaling_does_on_the_callers_behalf() {
        let body = json!({"ServiceNamespace": "ecs", "ResourceId": "service/sky/web", "ScalableDimension": "ecs:service:DesiredCount"});
        let c = json_checks(
            "application-autoscaling",
            "RegisterScalableTarget",
            body.clone(),
        );
        assert_eq!(
            actions(&c),
            [
                "application-autoscaling:RegisterScalableTarget",
                "ecs:DescribeServices",
                "ecs:UpdateService"
            ]
        );
        assert_eq!(
            c[1].resource,
            "arn:aws:ecs:us-east-1:123456789012:service/sky/web"
        );
        let c = json_checks("application-autoscaling", "PutScalingPolicy", body.clone());
        assert_eq!(
            actions(&c)[1..],
            ["cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"]
        );
        assert!(c[1]
            .resource
            .contains(":alarm:TargetTracking-service/sky/web-"));
        for op in ["DeleteScalingPolicy", "DeregisterScalableTarget"] {
            let c = json_checks("application-autoscaling", op, body.clone());
            assert_eq!(
                actions(&c)[1..],
                ["cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"]
            );
        }
    }

    #[test]
    fn tagging_on_create_needs_the_services_tag_action() {
        let c = json_checks(
            "ecr",
            "CreateRepository",
            json!({"repositoryName": "r", "tags": [{"Key": "a", "Value": "b"}]}),
        );
        assert_eq!(actions(&c), ["ecr:CreateRepository", "ecr:TagResource"]);
        let c = json_checks(
            "logs",
            "CreateLogGroup",
            json!({"logGroupName": "/ecs/web", "tags": {"a": "b"}}),
        );
        assert_eq!(actions(&c), ["logs:CreateLogGroup", "logs:TagResource"]);
        assert_eq!(
            c[0].resource,
            "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web"
        );
        let c = json_checks(
            "ecs",
            "CreateCluster",
            json!({"clusterName": "c", "tags": [{"key": "a", "value": "b"}]}),
        );
        assert_eq!(actions(&c), ["ecs:CreateCluster", "ecs:TagResource"]);
    }

    #[test]
    fn tag_keys_of_a_tag_call_are_its_condition() {
        let c = json_checks(
            "ecs",
            "TagResource",
            json!({"resourceArn": "arn:aws:ecs:us-east-1:1:service/c/s",
            "tags": [{"key": "skyhigh:autoscaler:last", "value": "1"}]}),
        );
        assert_eq!(
            c[0].context["aws:TagKeys"],
            json!(["skyhigh:autoscaler:last"])
        );
        assert_eq!(
            c[0].tags_of.as_deref(),
            Some("arn:aws:ecs:us-east-1:1:service/c/s")
        );
    }

    #[test]
    fn the_first_use_of_a_service_makes_its_linked_role() {
        let lb = BTreeMap::new();
        let (name, role) = linked_role(
            "elasticloadbalancing",
            "CreateLoadBalancer",
            &Params::Form(&lb),
            &AT,
        )
        .unwrap();
        assert_eq!(name, "elasticloadbalancing.amazonaws.com");
        assert_eq!(role, "arn:aws:iam::123456789012:role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing");
        let ecs = json!({"ServiceNamespace": "ecs"});
        assert!(linked_role(
            "application-autoscaling",
            "RegisterScalableTarget",
            &Params::Json(&ecs),
            &AT
        )
        .is_some());
        let other = json!({"ServiceNamespace": "dynamodb"});
        assert!(linked_role(
            "application-autoscaling",
            "RegisterScalableTarget",
            &Params::Json(&other),
            &AT
        )
        .is_none());
        let c = create_linked_role(
            "ecs:CreateCluster",
            linked_role("ecs", "CreateCluster", &Params::Json(&json!({})), &AT).unwrap(),
        );
        assert_eq!(c.context["iam:AWSServiceName"], "ecs.amazonaws.com");
        assert_eq!(c.implied_by.as_deref(), Some("ecs:CreateCluster"));
    }

    #[test]
    fn actions_without_resource_level_permissions_are_on_any_resource() {
        for (s, op) in [
            ("ecs", "DescribeTaskDefinition"),
            ("ec2", "DescribeVpcs"),
            ("cloudwatch", "DescribeAlarmsForMetric"),
        ] {
            assert_eq!(json_checks(s, op, json!({}))[0].resource, "*");
        }
        let c = json_checks("ecs", "ListTasks", json!({"cluster": "sky"}));
        assert_eq!(
            c[0].context["ecs:cluster"],
            "arn:aws:ecs:us-east-1:123456789012:cluster/sky"
        );
    }

    const KNOWN: &[(&str, &str)] = &[
        ("ecs", "CreateCluster"),
        ("ecs", "DescribeClusters"),
        ("ecs", "UpdateCluster"),
        ("ecs", "DeleteCluster"),
        ("ecs", "PutClusterCapacityProviders"),
        ("ecs", "CreateService"),
        ("ecs", "UpdateService"),
        ("ecs", "DeleteService"),
        ("ecs", "DescribeServices"),
        ("ecs", "ListTasks"),
        ("ecs", "DescribeTasks"),
        ("ecs", "RegisterTaskDefinition"),
        ("ecs", "DescribeTaskDefinition"),
        ("ecs", "TagResource"),
        ("ecr", "CreateRepository"),
        ("ecr", "DescribeRepositories"),
        ("ecr", "DescribeImages"),
        ("ecr", "BatchDeleteImage"),
        ("ecr", "TagResource"),
        ("logs", "CreateLogGroup"),
        ("logs", "PutRetentionPolicy"),
        ("application-autoscaling", "RegisterScalableTarget"),
        ("application-autoscaling", "PutScalingPolicy"),
        ("application-autoscaling", "DeregisterScalableTarget"),
        ("cloudwatch", "DescribeAlarms"),
        ("cloudwatch", "PutMetricAlarm"),
        ("cloudwatch", "DeleteAlarms"),
    ];

    proptest::proptest! {
        /// Whatever the names, each call is authorized first as itself, on "*" or an ARN of
        /// this account and region, and every other check says which call implied it.
        #[test]
        fn every_check_names_an_arn_and_the_first_is_the_call_itself(
            op in 0..KNOWN.len(), name in "[a-z][a-z0-9-]{0,20}", tagged in proptest::bool::ANY,
        ) {
            let (service, operation) = KNOWN[op];
            let tags = if tagged { json!([{"key": "k", "value": "v", "Key": "k", "Value": "v"}]) } else { json!([]) };
            let body = json!({"cluster": name, "clusterName": name, "serviceName": name, "service": name,
                "services": [name], "clusters": [name], "tasks": [name], "family": name, "repositoryName": name,
                "repositoryNames": [name], "logGroupName": format!("/ecs/{name}"), "tags": tags,
                "resourceArn": format!("arn:aws:ecs:us-east-1:123456789012:service/{name}/{name}"),
                "ServiceNamespace": "ecs", "ResourceId": format!("service/{name}/{name}"),
                "ScalableDimension": "ecs:service:DesiredCount", "AlarmNames": [name], "AlarmName": name});
            let c = checks(service, operation, &Params::Json(&body), &AT).unwrap();
            proptest::prop_assert_eq!(&c[0].action, &format!("{service}:{operation}"));
            for check in &c {
                proptest::prop_assert!(check.resource == "*" || check.resource.starts_with("arn:aws:"), "{:?}", check);
                proptest::prop_assert!(!check.resource.contains(":us-east-1:") || check.resource.contains(":123456789012:"));
            }
            for check in &c[1..] {
                proptest::prop_assert_eq!(check.implied_by.clone(), Some(format!("{service}:{operation}")));
            }
        }
    }
}
