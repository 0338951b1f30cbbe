//! The exact requests sent to ECS and Application Auto Scaling. Unit-tested field by field:
//! moto silently drops several of them (capacity provider strategy, deployment configuration,
//! grace period), so its read-back cannot prove them.

use super::plan::TaskSpec;
use super::properties::ServiceSpec;
use crate::cluster::properties::StrategyItem;
use aws_sdk_applicationautoscaling::operation::put_scaling_policy::builders::PutScalingPolicyFluentBuilder;
use aws_sdk_applicationautoscaling::operation::register_scalable_target::builders::RegisterScalableTargetFluentBuilder;
use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_ecs::operation::create_service::builders::CreateServiceFluentBuilder;
use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::operation::update_service::builders::UpdateServiceFluentBuilder;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition,
    DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentController,
    DeploymentControllerType, KeyValuePair, LaunchType, LoadBalancer, LogConfiguration, LogDriver,
    NetworkConfiguration, NetworkMode, PortMapping, PropagateTags, Secret, TransportProtocol,
};

/// Scale-out reacts within a minute; scale-in waits five, as the seed's policies do.
pub const SCALE_OUT_COOLDOWN_SECONDS: i32 = 60;
pub const SCALE_IN_COOLDOWN_SECONDS: i32 = 300;

pub fn register_task_definition(
    ecs: &aws_sdk_ecs::Client,
    task: &TaskSpec,
) -> RegisterTaskDefinitionFluentBuilder {
    let container = ContainerDefinition::builder()
        .name(&task.container_name)
        .image(&task.image)
        .essential(true)
        .port_mappings(
            PortMapping::builder()
                .container_port(task.container_port)
                .protocol(TransportProtocol::Tcp)
                .build(),
        )
        .set_environment(Some(
            task.environment
                .iter()
                .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
                .collect(),
        ))
        .set_secrets(Some(
            task.secrets
                .iter()
                .map(|(k, v)| {
                    Secret::builder()
                        .name(k)
                        .value_from(v)
                        .build()
                        .expect("name and valueFrom are set")
                })
                .collect(),
        ))
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", &task.log_group)
                .options("awslogs-region", &task.log_region)
                .options("awslogs-stream-prefix", "ecs")
                .build()
                .expect("log driver is set"),
        )
        .build();
    ecs.register_task_definition()
        .family(&task.family)
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu(&task.cpu)
        .memory(&task.memory)
        .execution_role_arn(&task.execution_role_arn)
        .set_task_role_arn(task.task_role_arn.clone())
        .container_definitions(container)
}

fn network(spec: &ServiceSpec) -> NetworkConfiguration {
    NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(spec.subnets.clone()))
                .set_security_groups(Some(spec.security_groups.clone()))
                .assign_public_ip(if spec.assign_public_ip {
                    AssignPublicIp::Enabled
                } else {
                    AssignPublicIp::Disabled
                })
                .build()
                .expect("subnets are set"),
        )
        .build()
}

fn deployment(spec: &ServiceSpec) -> DeploymentConfiguration {
    DeploymentConfiguration::builder()
        .minimum_healthy_percent(spec.minimum_healthy_percent)
        .maximum_percent(spec.maximum_percent)
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(true)
                .rollback(true)
                .build(),
        )
        .build()
}

fn load_balancers(spec: &ServiceSpec) -> Option<Vec<LoadBalancer>> {
    spec.target_group_arn.as_ref().map(|tg| {
        vec![LoadBalancer::builder()
            .target_group_arn(tg)
            .container_name(&spec.name)
            .container_port(spec.container_port)
            .build()]
    })
}

/// ECS accepts a grace period only for a service behind a load balancer.
fn grace_period(spec: &ServiceSpec) -> Option<i32> {
    spec.target_group_arn
        .as_ref()
        .map(|_| spec.grace_period_seconds)
}

pub fn create_service(
    ecs: &aws_sdk_ecs::Client,
    spec: &ServiceSpec,
    task_definition: &str,
    strategy: &[StrategyItem],
) -> CreateServiceFluentBuilder {
    let request = ecs
        .create_service()
        .cluster(&spec.cluster)
        .service_name(&spec.name)
        .task_definition(task_definition)
        .desired_count(spec.desired_count)
        .network_configuration(network(spec))
        .set_load_balancers(load_balancers(spec))
        .set_health_check_grace_period_seconds(grace_period(spec))
        .deployment_configuration(deployment(spec))
        .deployment_controller(
            DeploymentController::builder()
                .r#type(DeploymentControllerType::Ecs)
                .build()
                .expect("type is set"),
        )
        .enable_ecs_managed_tags(true)
        .propagate_tags(PropagateTags::Service)
        .platform_version("LATEST");
    // Either the cluster's strategy (FARGATE / FARGATE_SPOT spread) or plain Fargate.
    if strategy.is_empty() {
        request.launch_type(LaunchType::Fargate)
    } else {
        request.set_capacity_provider_strategy(Some(crate::cluster::strategy_items(strategy)))
    }
}

pub fn update_service(
    ecs: &aws_sdk_ecs::Client,
    spec: &ServiceSpec,
    task_definition: Option<&str>,
    desired_count: Option<i32>,
    settings: bool,
) -> UpdateServiceFluentBuilder {
    let request = ecs
        .update_service()
        .cluster(&spec.cluster)
        .service(&spec.name)
        .set_task_definition(task_definition.map(str::to_string))
        .set_desired_count(desired_count);
    if !settings {
        return request;
    }
    request
        .network_configuration(network(spec))
        .set_load_balancers(load_balancers(spec))
        .set_health_check_grace_period_seconds(grace_period(spec))
        .deployment_configuration(deployment(spec))
}

pub fn register_scalable_target(
    scaling: &aws_sdk_applicationautoscaling::Client,
    spec: &ServiceSpec,
) -> RegisterScalableTargetFluentBuilder {
    scaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(spec.scaling_resource_id())
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(spec.min_capacity)
        .max_capacity(spec.max_capacity)
}

/// The two target-tracking policies: (name suffix, metric, target).
pub fn scaling_policies(spec: &ServiceSpec) -> [(String, MetricType, u32); 2] {
    [
        (
            format!("{}-cpu-target", spec.name),
            MetricType::EcsServiceAverageCpuUtilization,
            spec.cpu_target_percent,
        ),
        (
            format!("{}-memory-target", spec.name),
            MetricType::EcsServiceAverageMemoryUtilization,
            spec.memory_target_percent,
        ),
    ]
}

pub fn put_scaling_policy(
    scaling: &aws_sdk_applicationautoscaling::Client,
    spec: &ServiceSpec,
    name: &str,
    metric: MetricType,
    target: u32,
) -> PutScalingPolicyFluentBuilder {
    scaling
        .put_scaling_policy()
        .policy_name(name)
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(spec.scaling_resource_id())
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(
            TargetTrackingScalingPolicyConfiguration::builder()
                .target_value(f64::from(target))
                .predefined_metric_specification(
                    PredefinedMetricSpecification::builder()
                        .predefined_metric_type(metric)
                        .build()
                        .expect("metric type is set"),
                )
                .scale_out_cooldown(SCALE_OUT_COOLDOWN_SECONDS)
                .scale_in_cooldown(SCALE_IN_COOLDOWN_SECONDS)
                .build()
                .expect("target value is set"),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::tests::{offline_ecs, offline_scaling};
    use crate::cluster::properties::default_strategy;
    use crate::service::plan::task_spec;
    use crate::service::properties::tests::spec_with;
    use serde_json::json;

    #[test]
    fn create_service_sends_what_moto_drops() {
        let spec = spec_with(json!({"HealthCheckGracePeriodSeconds": "90"}));
        let input = create_service(&offline_ecs(), &spec, "arn:td:1", &default_strategy())
            .as_input()
            .clone()
            .build()
            .unwrap();
        let strategy = input.capacity_provider_strategy();
        assert_eq!(strategy.len(), 2);
        assert_eq!(
            (
                strategy[0].capacity_provider(),
                strategy[0].weight(),
                strategy[0].base()
            ),
            ("FARGATE", 50, 20)
        );
        assert_eq!(
            (strategy[1].capacity_provider(), strategy[1].weight()),
            ("FARGATE_SPOT", 50)
        );
        assert_eq!(
            input.launch_type(),
            None,
            "a strategy and a launch type are exclusive"
        );
        let d = input.deployment_configuration().unwrap();
        assert_eq!(
            (d.minimum_healthy_percent(), d.maximum_percent()),
            (Some(50), Some(200))
        );
        let breaker = d.deployment_circuit_breaker().unwrap();
        assert!(breaker.enable() && breaker.rollback());
        assert_eq!(input.health_check_grace_period_seconds(), Some(90));
        assert_eq!(input.enable_ecs_managed_tags(), Some(true));
        let vpc = input
            .network_configuration()
            .unwrap()
            .awsvpc_configuration()
            .unwrap();
        assert_eq!(vpc.subnets(), ["subnet-a", "subnet-b"]);
        assert_eq!(vpc.security_groups(), ["sg-1"]);
        assert_eq!(vpc.assign_public_ip(), Some(&AssignPublicIp::Disabled));
        let lb = &input.load_balancers()[0];
        assert_eq!(
            (lb.container_name(), lb.container_port()),
            (Some("web"), Some(80))
        );
        assert_eq!(input.desired_count(), Some(2));
    }

    #[test]
    fn without_a_cluster_strategy_the_service_is_plain_fargate() {
        let spec = spec_with(json!({"TargetGroupArn": ""}));
        let input = create_service(&offline_ecs(), &spec, "arn:td:1", &[])
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(input.launch_type(), Some(&LaunchType::Fargate));
        assert!(input.load_balancers().is_empty());
        assert_eq!(input.health_check_grace_period_seconds(), None);
    }

    #[test]
    fn update_sends_only_what_the_plan_changes() {
        let spec = spec_with(json!({}));
        let bare = update_service(&offline_ecs(), &spec, None, None, false)
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!((bare.task_definition(), bare.desired_count()), (None, None));
        assert!(
            bare.deployment_configuration().is_none() && bare.network_configuration().is_none()
        );
        let full = update_service(&offline_ecs(), &spec, Some("arn:td:2"), Some(3), true)
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(
            (full.task_definition(), full.desired_count()),
            (Some("arn:td:2"), Some(3))
        );
        assert!(full
            .deployment_configuration()
            .unwrap()
            .deployment_circuit_breaker()
            .unwrap()
            .rollback());
        assert_eq!(full.health_check_grace_period_seconds(), Some(60));
    }

    #[test]
    fn task_definition_is_fargate_awsvpc_awslogs() {
        let spec = spec_with(json!({"Environment": {"MODE": "prod"},
            "Secrets": {"DB_URL": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"}}));
        let task = task_spec(&spec, "repo@sha256:abc".into(), "us-east-1");
        let input = register_task_definition(&offline_ecs(), &task)
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(input.requires_compatibilities(), [Compatibility::Fargate]);
        assert_eq!(input.network_mode(), Some(&NetworkMode::Awsvpc));
        assert_eq!((input.cpu(), input.memory()), (Some("512"), Some("1024")));
        let c = &input.container_definitions()[0];
        assert_eq!(c.image(), Some("repo@sha256:abc"));
        assert_eq!(c.port_mappings()[0].container_port(), Some(80));
        assert_eq!(c.environment()[0].name(), Some("MODE"));
        assert_eq!(
            c.secrets()[0].value_from(),
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"
        );
        let logs = c.log_configuration().unwrap();
        assert_eq!(logs.log_driver(), &LogDriver::Awslogs);
        assert_eq!(logs.options().unwrap()["awslogs-group"], "/ecs/web");
    }

    #[test]
    fn scaling_uses_the_service_bounds_and_targets() {
        let spec = spec_with(
            json!({"MinCapacity": "2", "MaxCapacity": "8", "DesiredCount": "2", "CpuTargetPercent": "65"}),
        );
        let target = register_scalable_target(&offline_scaling(), &spec)
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(target.resource_id(), Some("service/sky/web"));
        assert_eq!(
            (target.min_capacity(), target.max_capacity()),
            (Some(2), Some(8))
        );
        let [(name, metric, value), _] = scaling_policies(&spec);
        let policy = put_scaling_policy(&offline_scaling(), &spec, &name, metric, value)
            .as_input()
            .clone()
            .build()
            .unwrap();
        let config = policy
            .target_tracking_scaling_policy_configuration()
            .unwrap();
        assert_eq!(config.target_value(), 65.0);
        assert_eq!(
            config
                .predefined_metric_specification()
                .unwrap()
                .predefined_metric_type(),
            &MetricType::EcsServiceAverageCpuUtilization
        );
        assert_eq!(
            (config.scale_out_cooldown(), config.scale_in_cooldown()),
            (Some(60), Some(300))
        );
    }
}
