//! Reading what the decision needs and carrying it out: ECS, Application Auto Scaling and
//! CloudWatch. Common path (scale-out): DescribeServices (with tags) and DescribeScalableTargets
//! in parallel, then UpdateService and TagResource: 4 calls. A scale-in that nothing else
//! refuses also reads the alarms in ALARM (DescribeAlarms); an alarm whose payload does not
//! tell high from low costs one more DescribeAlarms for its configuration.

use crate::alarm::Direction;
use crate::decide::{last_scaling, Bounds, Metric, Observed, ServiceView};
use crate::error::{AwsContext, Result};
use crate::settings::Settings;
use aws_config::SdkConfig;
use aws_sdk_applicationautoscaling::operation::describe_scalable_targets::builders::DescribeScalableTargetsFluentBuilder;
use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
use aws_sdk_cloudwatch::operation::describe_alarms::builders::DescribeAlarmsFluentBuilder;
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use aws_sdk_ecs::operation::describe_services::builders::DescribeServicesFluentBuilder;
use aws_sdk_ecs::operation::tag_resource::builders::TagResourceFluentBuilder;
use aws_sdk_ecs::operation::update_service::builders::UpdateServiceFluentBuilder;
use aws_sdk_ecs::types::{Deployment, ServiceField, Tag};

/// The clients the function uses, built once per execution environment; each counts its calls.
#[derive(Debug, Clone)]
pub struct Clients {
    pub ecs: aws_sdk_ecs::Client,
    pub scaling: aws_sdk_applicationautoscaling::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Clients {
        Clients {
            ecs: operator_common::counted_client!(aws_sdk_ecs, config),
            scaling: operator_common::counted_client!(aws_sdk_applicationautoscaling, config),
            cloudwatch: operator_common::counted_client!(aws_sdk_cloudwatch, config),
        }
    }
}

// The requests, as builders (unit-tested without sending them).

pub fn describe_service(ecs: &aws_sdk_ecs::Client, s: &Settings) -> DescribeServicesFluentBuilder {
    ecs.describe_services()
        .cluster(&s.cluster)
        .services(&s.service)
        .include(ServiceField::Tags)
}

pub fn describe_scalable_target(
    scaling: &aws_sdk_applicationautoscaling::Client,
    s: &Settings,
) -> DescribeScalableTargetsFluentBuilder {
    scaling
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(s.scaling_resource_id())
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
}

pub fn describe_alarm(cw: &aws_sdk_cloudwatch::Client, name: &str) -> DescribeAlarmsFluentBuilder {
    cw.describe_alarms()
        .alarm_names(name)
        .alarm_types(AlarmType::MetricAlarm)
}

pub fn describe_alarms_in_alarm(cw: &aws_sdk_cloudwatch::Client) -> DescribeAlarmsFluentBuilder {
    cw.describe_alarms()
        .state_value(StateValue::Alarm)
        .alarm_types(AlarmType::MetricAlarm)
        .max_records(100)
}

pub fn update_service(
    ecs: &aws_sdk_ecs::Client,
    s: &Settings,
    desired: i32,
) -> UpdateServiceFluentBuilder {
    ecs.update_service()
        .cluster(&s.cluster)
        .service(&s.service)
        .desired_count(desired)
}

pub fn tag_service(
    ecs: &aws_sdk_ecs::Client,
    service_arn: &str,
    tags: &[(String, String)],
) -> TagResourceFluentBuilder {
    ecs.tag_resource().resource_arn(service_arn).set_tags(Some(
        tags.iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect(),
    ))
}

/// More than one deployment, or a PRIMARY one not COMPLETED (rolloutState is absent for
/// services without the circuit breaker: then only the count tells).
pub fn deployment_in_progress(deployments: &[Deployment]) -> bool {
    deployments.len() > 1
        || deployments
            .iter()
            .any(|d| d.rollout_state().is_some_and(|r| r.as_str() != "COMPLETED"))
}

/// Whether an alarm (namespace, metric, dimensions, operator) is a high alarm of this service.
pub fn is_high_alarm_of(
    s: &Settings,
    namespace: Option<&str>,
    metric: Option<&str>,
    dimensions: &[(&str, &str)],
    comparison: Option<&str>,
) -> bool {
    let dim = |k: &str| dimensions.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    namespace == Some("AWS/ECS")
        && metric.and_then(Metric::from_name).is_some()
        && dim("ClusterName") == Some(s.cluster.as_str())
        && dim("ServiceName") == Some(s.service.as_str())
        && comparison.and_then(Direction::from_comparison) == Some(Direction::High)
}

/// The alarm's direction from its configuration, when the payload did not tell.
pub async fn alarm_direction(clients: &Clients, name: &str) -> Result<Option<Direction>> {
    let out = describe_alarm(&clients.cloudwatch, name)
        .send()
        .await
        .context("cloudwatch:DescribeAlarms")?;
    Ok(out
        .metric_alarms()
        .first()
        .and_then(|a| a.comparison_operator())
        .and_then(|c| Direction::from_comparison(c.as_str())))
}

async fn read_service(clients: &Clients, s: &Settings) -> Result<Option<ServiceView>> {
    let out = match describe_service(&clients.ecs, s).send().await {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_cluster_not_found_exception()) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e).context("ecs:DescribeServices"),
    };
    Ok(out.services().first().map(|svc| ServiceView {
        arn: svc.service_arn().unwrap_or_default().to_string(),
        status: svc.status().unwrap_or_default().to_string(),
        desired: svc.desired_count(),
        running: svc.running_count(),
        deployment_in_progress: deployment_in_progress(svc.deployments()),
        last: last_scaling(
            svc.tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value()?))),
        ),
    }))
}

async fn read_bounds(clients: &Clients, s: &Settings) -> Result<Option<Bounds>> {
    let out = describe_scalable_target(&clients.scaling, s)
        .send()
        .await
        .context("application-autoscaling:DescribeScalableTargets")?;
    Ok(out.scalable_targets().first().map(|t| {
        let suspended = t.suspended_state();
        Bounds {
            min: t.min_capacity(),
            max: t.max_capacity(),
            scale_in_suspended: suspended
                .and_then(|s| s.dynamic_scaling_in_suspended())
                .unwrap_or(false),
            scale_out_suspended: suspended
                .and_then(|s| s.dynamic_scaling_out_suspended())
                .unwrap_or(false),
        }
    }))
}

async fn read_high_alarms(clients: &Clients, s: &Settings) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut pages = describe_alarms_in_alarm(&clients.cloudwatch)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.context("cloudwatch:DescribeAlarms")?;
        for a in page.metric_alarms() {
            let dims: Vec<(&str, &str)> = a
                .dimensions()
                .iter()
                .filter_map(|d| Some((d.name()?, d.value()?)))
                .collect();
            if is_high_alarm_of(
                s,
                a.namespace(),
                a.metric_name(),
                &dims,
                a.comparison_operator().map(|c| c.as_str()),
            ) {
                names.push(a.alarm_name().unwrap_or_default().to_string());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// The service (with its tags) and its scalable target, read in parallel.
pub async fn read(clients: &Clients, s: &Settings) -> Result<Observed> {
    let (service, bounds) = tokio::join!(read_service(clients, s), read_bounds(clients, s));
    Ok(Observed {
        service: service?,
        bounds: bounds?,
        high_alarms_in_alarm: Vec::new(),
    })
}

/// This service's high alarms now in ALARM (read only before a scale-in).
pub async fn high_alarms_in_alarm(clients: &Clients, s: &Settings) -> Result<Vec<String>> {
    read_high_alarms(clients, s).await
}

/// Sets the desired count, then remembers it in the service's tags. In this order: a failed
/// UpdateService leaves no false memory (no cooldown for a change that did not happen).
pub async fn act(
    clients: &Clients,
    s: &Settings,
    service_arn: &str,
    to: i32,
    tags: &[(String, String)],
) -> Result<()> {
    update_service(&clients.ecs, s, to)
        .send()
        .await
        .context("ecs:UpdateService")?;
    tag_service(&clients.ecs, service_arn, tags)
        .send()
        .await
        .context("ecs:TagResource")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::{BehaviorVersion, Region};
    use aws_sdk_ecs::types::DeploymentRolloutState;

    fn offline() -> Clients {
        Clients::new(
            &SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .build(),
        )
    }

    fn settings() -> Settings {
        Settings::from_lookup(|n| match n {
            "CLUSTER_NAME" => Some("sky".into()),
            "SERVICE_NAME" => Some("web".into()),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn requests_carry_what_the_decision_needs() {
        let c = offline();
        let s = settings();
        let r = describe_service(&c.ecs, &s)
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(r.cluster(), Some("sky"));
        assert_eq!(r.services(), ["web"]);
        assert_eq!(
            r.include(),
            [ServiceField::Tags],
            "tags carry the memory: no extra call"
        );
        let r = describe_scalable_target(&c.scaling, &s)
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(r.service_namespace(), Some(&ServiceNamespace::Ecs));
        assert_eq!(r.resource_ids(), ["service/sky/web"]);
        assert_eq!(
            r.scalable_dimension(),
            Some(&ScalableDimension::EcsServiceDesiredCount)
        );
        let r = update_service(&c.ecs, &s, 4)
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(
            (r.cluster(), r.service(), r.desired_count()),
            (Some("sky"), Some("web"), Some(4))
        );
        assert_eq!(r.task_definition(), None, "only the count changes");
        assert_eq!(r.deployment_configuration(), None);
        let tags = vec![("k".to_string(), "v".to_string())];
        let r = tag_service(&c.ecs, "arn:svc", &tags)
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(r.resource_arn(), Some("arn:svc"));
        assert_eq!(r.tags()[0].key(), Some("k"));
        let r = describe_alarms_in_alarm(&c.cloudwatch)
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(r.state_value(), Some(&StateValue::Alarm));
        assert_eq!(r.alarm_types(), [AlarmType::MetricAlarm]);
        let r = describe_alarm(&c.cloudwatch, "sky-cpu-high")
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(r.alarm_names(), ["sky-cpu-high"]);
    }

    #[test]
    fn a_deployment_is_in_progress_unless_one_primary_completed() {
        let d = |state: Option<DeploymentRolloutState>| {
            Deployment::builder()
                .status("PRIMARY")
                .set_rollout_state(state)
                .build()
        };
        assert!(!deployment_in_progress(&[d(Some(
            DeploymentRolloutState::Completed
        ))]));
        assert!(!deployment_in_progress(&[d(None)]));
        assert!(deployment_in_progress(&[d(Some(
            DeploymentRolloutState::InProgress
        ))]));
        assert!(deployment_in_progress(&[
            d(Some(DeploymentRolloutState::Completed)),
            d(None)
        ]));
    }

    #[test]
    fn high_alarms_are_this_services_cpu_or_memory_above_a_threshold() {
        let s = settings();
        let dims = [("ClusterName", "sky"), ("ServiceName", "web")];
        assert!(is_high_alarm_of(
            &s,
            Some("AWS/ECS"),
            Some("CPUUtilization"),
            &dims,
            Some("GreaterThanThreshold")
        ));
        assert!(is_high_alarm_of(
            &s,
            Some("AWS/ECS"),
            Some("MemoryUtilization"),
            &dims,
            Some("GreaterThanOrEqualToThreshold")
        ));
        assert!(!is_high_alarm_of(
            &s,
            Some("AWS/ECS"),
            Some("CPUUtilization"),
            &dims,
            Some("LessThanThreshold")
        ));
        assert!(!is_high_alarm_of(
            &s,
            Some("AWS/ECS"),
            Some("CPUUtilization"),
            &[("ClusterName", "sky"), ("ServiceName", "api")],
            Some("GreaterThanThreshold")
        ));
        assert!(!is_high_alarm_of(
            &s,
            Some("AWS/EC2"),
            Some("CPUUtilization"),
            &dims,
            Some("GreaterThanThreshold")
        ));
    }
}
