//! The exact requests sent to ECS and Application Auto Scaling. Unit-tested field by field:
//! moto silently drops several of them (capacity provider strategy, deployment configuration,
//! grace period), so its read-back cannot prove them.

use super::plan::{Restate, TaskSpec};
use super::properties::ServiceSpec;
use crate::capacity::StrategyItem;
use crate::ownership::Owner;
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
    owner: &Owner,
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
        .set_tags(Some(crate::ownership::ecs_tags(owner)))
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
    owner: &Owner,
) -> CreateServiceFluentBuilder {
    let request = ecs
        .create_service()
        .set_tags(Some(crate::ownership::ecs_tags(owner)))
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
        request.set_capacity_provider_strategy(Some(crate::capacity::strategy_items(strategy)))
    }
}

pub fn update_service(
    ecs: &aws_sdk_ecs::Client,
    spec: &ServiceSpec,
    task_definition: Option<&str>,
    desired_count: Option<i32>,
    restate: &Restate,
) -> UpdateServiceFluentBuilder {
    let mut request = ecs
        .update_service()
        .cluster(&spec.cluster)
        .service(&spec.name)
        .set_task_definition(task_definition.map(str::to_string))
        .set_desired_count(desired_count);
    if restate.network {
        request = request.network_configuration(network(spec));
    }
    if restate.load_balancer {
        // An empty list removes the load balancer (absent would keep it).
        request = request.set_load_balancers(Some(load_balancers(spec).unwrap_or_default()));
    }
    if restate.deployment {
        request = request
            .set_health_check_grace_period_seconds(grace_period(spec))
            .deployment_configuration(deployment(spec));
    }
    if let Some(strategy) = &restate.strategy {
        // ECS applies a new strategy only with a new deployment.
        request = request
            .set_capacity_provider_strategy(Some(crate::capacity::strategy_items(strategy)))
            .force_new_deployment(true);
    }
    request
}

pub fn register_scalable_target(
    scaling: &aws_sdk_applicationautoscaling::Client,
    spec: &ServiceSpec,
    owner: &Owner,
) -> RegisterScalableTargetFluentBuilder {
    let [(stack_key, stack), (logical_key, logical)] = owner.tags();
    scaling
        .register_scalable_target()
        .tags(stack_key, stack)
        .tags(logical_key, logical)
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
    use crate::capacity::default_strategy;
    use crate::clients::tests::{offline_ecs, offline_scaling};
    use crate::service::plan::task_spec;
    use crate::service::properties::tests::spec_with;
    use serde_json::json;

    fn owner() -> Owner {
        Owner {
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1".into(),
            logical_id: "Service".into(),
        }
    }

    fn owned(tags: &[aws_sdk_ecs::types::Tag]) -> bool {
        let map = crate::ownership::tag_map(tags);
        owner().judge(&map).is_ours()
    }

    #[test]
    fn create_service_sends_what_moto_drops() {
        let spec = spec_with(json!({"HealthCheckGracePeriodSeconds": "90"}));
        let input = create_service(
            &offline_ecs(),
            &spec,
            "arn:td:1",
            &default_strategy(),
            &owner(),
        )
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
        assert!(owned(input.tags()), "tagged in the create call itself");
    }

    #[test]
    fn without_a_cluster_strategy_the_service_is_plain_fargate() {
        let spec = spec_with(json!({"TargetGroupArn": ""}));
        let input = create_service(&offline_ecs(), &spec, "arn:td:1", &[], &owner())
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(input.launch_type(), Some(&LaunchType::Fargate));
        assert!(input.load_balancers().is_empty());
        assert_eq!(input.health_check_grace_period_seconds(), None);
    }

    fn update(
        spec: &ServiceSpec,
        td: Option<&str>,
        count: Option<i32>,
        restate: Restate,
    ) -> aws_sdk_ecs::operation::update_service::UpdateServiceInput {
        update_service(&offline_ecs(), spec, td, count, &restate)
            .as_input()
            .clone()
            .build()
            .unwrap()
    }

    #[test]
    fn update_sends_only_what_the_plan_changes() {
        let spec = spec_with(json!({}));
        let bare = update(&spec, None, None, Restate::default());
        assert_eq!((bare.task_definition(), bare.desired_count()), (None, None));
        assert!(
            bare.deployment_configuration().is_none() && bare.network_configuration().is_none()
        );
        assert_eq!(bare.load_balancers, None);
        assert_eq!(bare.capacity_provider_strategy, None);
        assert_eq!(bare.force_new_deployment(), None);
        let counted = update(&spec, Some("arn:td:2"), Some(3), Restate::default());
        assert_eq!(
            (counted.task_definition(), counted.desired_count()),
            (Some("arn:td:2"), Some(3))
        );
    }

    #[test]
    fn update_restates_each_setting_alone() {
        let spec = spec_with(json!({}));
        let network = update(
            &spec,
            None,
            None,
            Restate {
                network: true,
                ..Restate::default()
            },
        );
        let vpc = network
            .network_configuration()
            .unwrap()
            .awsvpc_configuration()
            .unwrap();
        assert_eq!(vpc.subnets(), ["subnet-a", "subnet-b"]);
        assert_eq!(network.load_balancers, None);
        assert!(network.deployment_configuration().is_none());

        let lb = update(
            &spec,
            None,
            None,
            Restate {
                load_balancer: true,
                deployment: true,
                ..Restate::default()
            },
        );
        let target = &lb.load_balancers()[0];
        assert_eq!(
            (target.container_name(), target.container_port()),
            (Some("web"), Some(80))
        );
        assert!(lb.network_configuration().is_none());
        assert_eq!(lb.health_check_grace_period_seconds(), Some(60));
        assert!(lb
            .deployment_configuration()
            .unwrap()
            .deployment_circuit_breaker()
            .unwrap()
            .rollback());

        // Leaving the load balancer sends an empty list, and no grace period (ECS refuses one).
        let without = spec_with(json!({"TargetGroupArn": ""}));
        let off = update(
            &without,
            None,
            None,
            Restate {
                load_balancer: true,
                deployment: true,
                ..Restate::default()
            },
        );
        assert_eq!(off.load_balancers, Some(Vec::new()));
        assert_eq!(off.health_check_grace_period_seconds(), None);

        let strategy = update(
            &spec,
            None,
            None,
            Restate {
                strategy: Some(default_strategy()),
                ..Restate::default()
            },
        );
        assert_eq!(
            strategy.capacity_provider_strategy(),
            crate::capacity::strategy_items(&default_strategy()).as_slice()
        );
        assert_eq!(strategy.force_new_deployment(), Some(true));
        assert!(strategy.network_configuration().is_none() && strategy.load_balancers.is_none());
    }

    #[test]
    fn task_definition_is_fargate_awsvpc_awslogs() {
        let spec = spec_with(json!({"Environment": {"MODE": "prod"},
            "Secrets": {"DB_URL": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"}}));
        let task = task_spec(&spec, "repo@sha256:abc".into(), "us-east-1");
        let input = register_task_definition(&offline_ecs(), &task, &owner())
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
        assert!(owned(input.tags()));
    }

    #[test]
    fn scaling_uses_the_service_bounds_and_targets() {
        let spec = spec_with(
            json!({"MinCapacity": "2", "MaxCapacity": "8", "DesiredCount": "2", "CpuTargetPercent": "65"}),
        );
        let target = register_scalable_target(&offline_scaling(), &spec, &owner())
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(target.resource_id(), Some("service/sky/web"));
        assert_eq!(
            (target.min_capacity(), target.max_capacity()),
            (Some(2), Some(8))
        );
        let tags = target.tags().unwrap();
        assert_eq!(tags["skyhigh:logical-id"], "Service");
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
