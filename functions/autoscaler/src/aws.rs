//! Reading what the decision needs and carrying out its writes: ECS, Application Auto Scaling
//! and CloudWatch.
//!
//! Every reconcile reads, in parallel: DescribeServices (with tags: the record),
//! DescribeScalableTargets (the bounds) and DescribeAlarms (the service's alarms): 3 calls.
//! Only before a scaling, DescribeScalingActivities (target tracking's last change). A scaling
//! then writes TagResource (the intent), UpdateService, TagResource (done): 7 calls in all.
//!
//! DescribeAlarms cannot filter by metric or dimension (only by name, prefix, state, action),
//! so it asks for the account's metric alarms in ALARM, the only state the decision acts on
//! (usually one page: few alarms are in ALARM at once), and keeps those on this service's CPU
//! or memory (`alarm_view`), target tracking's own included. Names are not used, so any alarm
//! a person adds on these metrics and dimensions counts, with no setting. DescribeAlarmsForMetric
//! would filter by dimensions, but takes two calls (one per metric) and `*` in IAM.

use crate::alarm::Direction;
use crate::decide::{AlarmView, Bounds, Metric, Observed, ServiceView, Write};
use crate::error::{AutoscalerError, AwsContext, Result};
use crate::settings::Settings;
use aws_config::SdkConfig;
use aws_sdk_applicationautoscaling::operation::describe_scalable_targets::builders::DescribeScalableTargetsFluentBuilder;
use aws_sdk_applicationautoscaling::operation::describe_scaling_activities::builders::DescribeScalingActivitiesFluentBuilder;
use aws_sdk_applicationautoscaling::types::{
    ScalableDimension, ScalingActivity, ScalingActivityStatusCode, ServiceNamespace,
};
use aws_sdk_cloudwatch::operation::describe_alarms::builders::DescribeAlarmsFluentBuilder;
use aws_sdk_cloudwatch::types::{AlarmType, MetricAlarm, StateValue};
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

/// The activities Application Auto Scaling ran on the service, newest first; the newest few
/// are enough (moto has no DescribeScalingActivities: this request is unit-tested, and the
/// harness answers it).
pub const ACTIVITIES_READ: i32 = 10;

pub fn describe_scaling_activities(
    scaling: &aws_sdk_applicationautoscaling::Client,
    s: &Settings,
) -> DescribeScalingActivitiesFluentBuilder {
    scaling
        .describe_scaling_activities()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(s.scaling_resource_id())
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .max_results(ACTIVITIES_READ)
}

pub fn describe_alarms(cw: &aws_sdk_cloudwatch::Client) -> DescribeAlarmsFluentBuilder {
    cw.describe_alarms()
        .state_value(StateValue::Alarm)
        .alarm_types(AlarmType::MetricAlarm)
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

/// The deployments' createdAt and updatedAt: ECS updates the PRIMARY deployment when the desired
/// count changes, so these also see a count set by hand or by a stack update.
pub fn deployment_times(deployments: &[Deployment]) -> Vec<i64> {
    deployments
        .iter()
        .flat_map(|d| [d.created_at(), d.updated_at()])
        .flatten()
        .map(|t| t.secs())
        .collect()
}

/// When target tracking last changed the count: its newest activity that did (Successful) or is
/// doing it (Pending, InProgress); failed, unfulfilled and overridden ones changed nothing.
pub fn target_tracking_changed_at(activities: &[ScalingActivity]) -> Option<i64> {
    activities
        .iter()
        .filter(|a| {
            matches!(
                a.status_code(),
                ScalingActivityStatusCode::Successful
                    | ScalingActivityStatusCode::InProgress
                    | ScalingActivityStatusCode::Pending
            )
        })
        .map(|a| {
            a.end_time().map_or(a.start_time().secs(), |e| {
                e.secs().max(a.start_time().secs())
            })
        })
        .max()
}

/// The highest of `recentDatapoints` in an alarm's StateReasonData (a JSON document).
pub fn highest_datapoint(reason_data: &str) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_str(reason_data).ok()?;
    v.get("recentDatapoints")?
        .as_array()?
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .filter(|v| v.is_finite())
        .reduce(f64::max)
}

/// One of the service's alarms as the decision sees it; None for an alarm that is not a
/// threshold alarm on this service's CPU or memory (another dimension set, an anomaly band).
pub fn alarm_view(s: &Settings, a: &MetricAlarm) -> Option<AlarmView> {
    let dims: Vec<(&str, &str)> = a
        .dimensions()
        .iter()
        .filter_map(|d| Some((d.name()?, d.value()?)))
        .collect();
    let dim = |k: &str| dims.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    if a.namespace() != Some("AWS/ECS")
        || dims.len() != 2
        || dim("ClusterName") != Some(s.cluster.as_str())
        || dim("ServiceName") != Some(s.service.as_str())
    {
        return None;
    }
    Some(AlarmView {
        name: a.alarm_name()?.to_string(),
        metric: Metric::from_name(a.metric_name()?)?,
        direction: Direction::from_comparison(a.comparison_operator()?.as_str())?,
        in_alarm: a.state_value() == Some(&StateValue::Alarm),
        changed_at: a
            .state_transitioned_timestamp()
            .or(a.state_updated_timestamp())
            .map_or(0, |t| t.secs()),
        value: a.state_reason_data().and_then(highest_datapoint),
        threshold: a.threshold().filter(|t| t.is_finite()),
        managed: a
            .alarm_actions()
            .iter()
            .any(|arn| arn.contains(":autoscaling:") && arn.contains(":scalingPolicy:")),
        actions_enabled: a.actions_enabled().unwrap_or(true),
    })
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
        Err(e) => return Err(e).context("ecs:DescribeServices").map_err(Into::into),
    };
    Ok(out.services().first().map(|svc| {
        let tags = || {
            svc.tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value()?)))
        };
        let (record, last) = crate::record::read(tags());
        ServiceView {
            arn: svc.service_arn().unwrap_or_default().to_string(),
            status: svc.status().unwrap_or_default().to_string(),
            desired: svc.desired_count(),
            running: svc.running_count(),
            deployment_in_progress: deployment_in_progress(svc.deployments()),
            deployment_times: deployment_times(svc.deployments()),
            record,
            last,
            last_scale_out: crate::record::last_scale_out(tags()),
        }
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

async fn read_alarms(clients: &Clients, s: &Settings) -> Result<Vec<AlarmView>> {
    let mut pages = describe_alarms(&clients.cloudwatch).into_paginator().send();
    let mut alarms = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.context("cloudwatch:DescribeAlarms")?;
        alarms.extend(page.metric_alarms().iter().filter_map(|a| alarm_view(s, a)));
    }
    Ok(alarms)
}

/// The service (with its record), its scalable target and its alarms, read in parallel.
pub async fn read(clients: &Clients, s: &Settings) -> Result<Observed> {
    let (service, bounds, alarms) = tokio::join!(
        read_service(clients, s),
        read_bounds(clients, s),
        read_alarms(clients, s),
    );
    Ok(Observed {
        service: service?,
        bounds: bounds?,
        alarms: alarms?,
        target_tracking_changed_at: None,
    })
}

/// When target tracking last changed the service's count (read only before a scaling).
pub async fn read_target_tracking(clients: &Clients, s: &Settings) -> Result<Option<i64>> {
    let out = describe_scaling_activities(&clients.scaling, s)
        .send()
        .await
        .context("application-autoscaling:DescribeScalingActivities")?;
    Ok(target_tracking_changed_at(out.scaling_activities()))
}

/// Carries out the writes in order; the first failure stops them. A failure after the count
/// was set is [`AutoscalerError::RecordNotFinished`]; a failed UpdateService is a plain
/// [`AutoscalerError::AwsCallFailed`] (it may or may not have happened: the retry reads the count).
pub async fn act(
    clients: &Clients,
    s: &Settings,
    service_arn: &str,
    writes: &[Write],
) -> Result<()> {
    let mut set = None;
    for w in writes {
        let result = match w {
            Write::Tags(tags) => tag_service(&clients.ecs, service_arn, tags)
                .send()
                .await
                .map(|_| ())
                .context("ecs:TagResource"),
            Write::Desired(n) => update_service(&clients.ecs, s, *n)
                .send()
                .await
                .map(|_| set = Some(*n))
                .context("ecs:UpdateService"),
        };
        if let Err(e) = result {
            return Err(match set {
                Some(to) => AutoscalerError::RecordNotFinished { to, source: e },
                None => e.into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::{BehaviorVersion, Region};
    use aws_sdk_cloudwatch::types::Dimension;
    use aws_sdk_ecs::types::DeploymentRolloutState;
    use aws_smithy_types::DateTime;

    fn offline() -> Clients {
        Clients::new(
            &SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .build(),
        )
    }

    fn settings() -> Settings {
        use operator_common::settings::{Env, FromEnv};
        Settings::read(&Env::from_pairs(&[
            ("CLUSTER_NAME", "sky"),
            ("SERVICE_NAME", "web"),
        ]))
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
            "tags carry the record: no extra call"
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
        assert_eq!(r.force_new_deployment(), None);
        let tags = vec![("k".to_string(), "v".to_string())];
        let r = tag_service(&c.ecs, "arn:svc", &tags)
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(r.resource_arn(), Some("arn:svc"));
        assert_eq!(r.tags()[0].key(), Some("k"));
    }

    #[test]
    fn the_alarms_asked_for_are_every_metric_alarm_in_alarm_by_no_name() {
        let c = offline();
        let r = describe_alarms(&c.cloudwatch)
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(r.state_value(), Some(&StateValue::Alarm));
        assert_eq!(r.alarm_types(), [AlarmType::MetricAlarm]);
        assert_eq!(r.alarm_names(), [] as [String; 0]);
        assert_eq!(r.alarm_name_prefix(), None);
        assert_eq!(r.action_prefix(), None);
    }

    #[test]
    fn target_trackings_activities_are_asked_for_this_service_only() {
        let r = describe_scaling_activities(&offline().scaling, &settings())
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(r.service_namespace(), Some(&ServiceNamespace::Ecs));
        assert_eq!(r.resource_id(), Some("service/sky/web"));
        assert_eq!(
            r.scalable_dimension(),
            Some(&ScalableDimension::EcsServiceDesiredCount)
        );
        assert_eq!(r.max_results(), Some(ACTIVITIES_READ));
        assert_eq!(
            r.include_not_scaled_activities(),
            None,
            "not-scaled activities changed nothing"
        );
    }

    fn activity(
        status: ScalingActivityStatusCode,
        start: i64,
        end: Option<i64>,
    ) -> ScalingActivity {
        ScalingActivity::builder()
            .activity_id("a")
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id("service/sky/web")
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .description("Setting desired count to 3.")
            .cause("monitor alarm TargetTracking-service/sky/web-AlarmHigh-1 in state ALARM triggered policy cpu")
            .start_time(DateTime::from_secs(start))
            .set_end_time(end.map(DateTime::from_secs))
            .status_code(status)
            .build()
            .unwrap()
    }

    #[test]
    fn only_activities_that_change_the_count_count() {
        use ScalingActivityStatusCode as S;
        assert_eq!(target_tracking_changed_at(&[]), None);
        assert_eq!(
            target_tracking_changed_at(&[
                activity(S::Successful, 100, Some(130)),
                activity(S::Failed, 500, Some(510)),
                activity(S::Unfulfilled, 600, None),
                activity(S::Overridden, 700, None),
                activity(S::InProgress, 200, None),
            ]),
            Some(200)
        );
        assert_eq!(
            target_tracking_changed_at(&[activity(S::Successful, 100, Some(130))]),
            Some(130)
        );
    }

    fn alarm(
        name: &str,
        operator: &str,
        dims: &[(&str, &str)],
    ) -> aws_sdk_cloudwatch::types::builders::MetricAlarmBuilder {
        let mut b = MetricAlarm::builder()
            .alarm_name(name)
            .namespace("AWS/ECS")
            .metric_name("CPUUtilization")
            .comparison_operator(operator.into())
            .threshold(85.0)
            .state_value(StateValue::Alarm)
            .state_transitioned_timestamp(DateTime::from_secs(1_000))
            .state_updated_timestamp(DateTime::from_secs(2_000))
            .state_reason_data(
                r#"{"version":"1.0","recentDatapoints":[88.2,93.5],"threshold":85.0}"#,
            );
        for (n, v) in dims {
            b = b.dimensions(Dimension::builder().name(*n).value(*v).build());
        }
        b
    }

    #[test]
    fn alarms_are_read_as_the_decision_sees_them() {
        let s = settings();
        let ours = [("ClusterName", "sky"), ("ServiceName", "web")];
        let v = alarm_view(
            &s,
            &alarm("web-cpu-high", "GreaterThanThreshold", &ours).build(),
        )
        .unwrap();
        assert_eq!(
            v,
            AlarmView {
                name: "web-cpu-high".into(),
                metric: Metric::Cpu,
                direction: Direction::High,
                in_alarm: true,
                changed_at: 1_000,
                value: Some(93.5),
                threshold: Some(85.0),
                managed: false,
                actions_enabled: true,
            }
        );
        let tt = alarm("TargetTracking-service/sky/web-AlarmHigh-1", "GreaterThanThreshold", &ours)
            .alarm_actions("arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:1:resource/ecs/service/sky/web:policyName/cpu")
            .actions_enabled(true)
            .build();
        assert!(alarm_view(&s, &tt).unwrap().managed);
        let low = alarm("web-cpu-low", "LessThanOrEqualToThreshold", &ours)
            .state_value(StateValue::Ok)
            .actions_enabled(false)
            .build();
        let low = alarm_view(&s, &low).unwrap();
        assert_eq!(
            (low.direction, low.in_alarm, low.actions_enabled),
            (Direction::Low, false, false)
        );
        for other in [
            alarm(
                "x",
                "GreaterThanThreshold",
                &[("ClusterName", "sky"), ("ServiceName", "api")],
            ),
            alarm(
                "x",
                "GreaterThanThreshold",
                &[
                    ("ClusterName", "sky"),
                    ("ServiceName", "web"),
                    ("TaskDefinitionFamily", "web"),
                ],
            ),
            alarm("x", "GreaterThanUpperThreshold", &ours),
            alarm("x", "GreaterThanThreshold", &ours).namespace("AWS/EC2"),
        ] {
            assert_eq!(alarm_view(&s, &other.build()), None);
        }
        assert_eq!(highest_datapoint("not json"), None);
        assert_eq!(highest_datapoint(r#"{"recentDatapoints":[]}"#), None);
    }

    #[test]
    fn a_deployment_is_in_progress_unless_one_primary_completed() {
        let d = |state: Option<DeploymentRolloutState>| {
            Deployment::builder()
                .status("PRIMARY")
                .set_rollout_state(state)
                .created_at(DateTime::from_secs(10))
                .updated_at(DateTime::from_secs(20))
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
        assert_eq!(deployment_times(&[d(None)]), [10, 20]);
    }
}
