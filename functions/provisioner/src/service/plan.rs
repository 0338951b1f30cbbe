//! The pure decision for a service: which task definition, which desired count, what to call.
//! Here live the rules that keep runtime decisions: a stack update keeps the autoscaled desired
//! count and the digest the redeployer rolled out unless the template changed those properties.

use super::properties::ServiceSpec;
use crate::capacity::{self, StrategyItem};
use crate::ownership::Ownership;
pub use crate::rollout::{classify_rollout, DeploymentView, RolloutOutcome};
use std::collections::BTreeMap;

/// Create or Update (a Delete needs no spec: see [`plan_delete`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one per invocation
pub enum Phase {
    Create,
    /// `old` is None when the old properties no longer parse.
    Update {
        old: Option<ServiceSpec>,
    },
}

impl Phase {
    fn old(&self) -> Option<&ServiceSpec> {
        match self {
            Phase::Update { old } => old.as_ref(),
            Phase::Create => None,
        }
    }
}

/// The parts of a task definition this resource sets; two equal specs need no new revision.
/// Its `Debug` (in `redact.rs`) shows variable names only: plans are logged.
#[derive(Clone, PartialEq, Eq)]
pub struct TaskSpec {
    pub family: String,
    pub cpu: String,
    pub memory: String,
    pub execution_role_arn: String,
    pub task_role_arn: Option<String>,
    pub container_name: String,
    pub image: String,
    pub container_port: i32,
    pub environment: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub log_group: String,
    pub log_region: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    pub arn: String,
    /// ACTIVE, DRAINING or INACTIVE: only ACTIVE is a live service.
    pub status: String,
    pub desired_count: i32,
    pub task_definition_arn: String,
    /// The running task definition, as far as this resource sets it.
    pub task: Option<TaskSpec>,
    /// The service's own capacity provider strategy (empty: a launch type).
    pub strategy: Vec<StrategyItem>,
    /// What its tags say.
    pub ownership: Ownership,
}

impl ServiceState {
    /// Deleted, its tasks still stopping: the name cannot be used again until it is INACTIVE.
    pub fn is_draining(&self) -> bool {
        self.status == "DRAINING"
    }
}

/// What AWS has that the decision needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Current {
    pub service: Option<ServiceState>,
    /// The digest ECR has for RepositoryUri:ImageTag, when it was looked up and found.
    pub image_digest: Option<String>,
    /// The cluster's default capacity provider strategy.
    pub cluster_strategy: Vec<StrategyItem>,
    /// ECR was asked for RepositoryUri:ImageTag and has no such image (yet).
    pub image_missing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskDefinitionRef {
    Existing(String),
    /// The revision registered earlier in the same plan.
    New,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    EnsureLogGroup {
        name: String,
        retention_days: i32,
    },
    RegisterTaskDefinition(Box<TaskSpec>),
    CreateService {
        task_definition: TaskDefinitionRef,
        strategy: Vec<StrategyItem>,
    },
    UpdateService {
        /// None keeps the running revision.
        task_definition: Option<TaskDefinitionRef>,
        /// None keeps the running count.
        desired_count: Option<i32>,
        restate: Restate,
    },
    RegisterScalableTarget {
        min: i32,
        max: i32,
    },
    PutScalingPolicies {
        cpu_target: u32,
        memory_target: u32,
    },
    WaitForSteadyState,
    DeregisterScalableTarget,
    DeleteService {
        arn: String,
    },
    /// Until DescribeServices says INACTIVE: the cluster cannot be deleted, nor the name
    /// used again, while the service drains.
    WaitUntilInactive,
}

/// The service settings an UpdateService sends besides revision and count.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Restate {
    /// Deployment configuration (circuit breaker, percents) and grace period.
    pub deployment: bool,
    /// Subnets, security groups, public IP: ECS starts a new deployment.
    pub network: bool,
    /// The target group: ECS starts a new deployment.
    pub load_balancer: bool,
    /// The cluster's strategy, sent with forceNewDeployment: a service keeps the strategy it
    /// was created with and ignores later changes of the cluster's default.
    pub strategy: Option<Vec<StrategyItem>>,
}

impl Restate {
    /// Whether ECS starts a new deployment for these settings.
    pub fn deploys(&self) -> bool {
        self.network || self.load_balancer || self.strategy.is_some()
    }

    pub fn is_empty(&self) -> bool {
        *self == Restate::default()
    }
}

/// The strategy to send to a service: the cluster's, when it has one the service lacks.
pub fn strategy_to_send(
    service: &[StrategyItem],
    cluster: &[StrategyItem],
) -> Option<Vec<StrategyItem>> {
    (!cluster.is_empty() && !capacity::same(service, cluster)).then(|| cluster.to_vec())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// The task definition the service ends on.
    pub task_definition: TaskDefinitionRef,
    /// Something the user should know, shown as the answer's Reason.
    pub note: Option<String>,
}

fn live(current: &Current) -> Option<&ServiceState> {
    current.service.as_ref().filter(|s| s.status == "ACTIVE")
}

/// Whether the decision needs ECR's digest for the tag: only when the image may change.
pub fn needs_digest(phase: &Phase, spec: &ServiceSpec, service_exists: bool) -> bool {
    match phase.old() {
        Some(old) => !service_exists || old.replaces(spec) || spec.image_changed(old),
        None => true,
    }
}

/// The image to run: the one already running when the template's image properties did not
/// change (so a redeployed digest survives a stack update), else the tag pinned to its digest.
pub fn choose_image(
    phase: &Phase,
    spec: &ServiceSpec,
    running: Option<&str>,
    digest: Option<&str>,
) -> String {
    if let (Some(old), Some(running)) = (phase.old(), running) {
        if !spec.image_changed(old) && !old.replaces(spec) {
            return running.to_string();
        }
    }
    match digest {
        Some(d) => format!("{}@{}", spec.repository_uri, d),
        None => format!("{}:{}", spec.repository_uri, spec.image_tag),
    }
}

/// The desired count to set, or None to leave the running one. The template's DesiredCount
/// wins only when it changed (or for a new service); otherwise the autoscaled count stays,
/// clamped into new bounds.
pub fn choose_desired_count(
    phase: &Phase,
    spec: &ServiceSpec,
    running: Option<i32>,
) -> Option<i32> {
    let Some(running) = running else {
        return Some(spec.desired_count);
    };
    if let Some(old) = phase.old() {
        if old.desired_count != spec.desired_count {
            return (running != spec.desired_count).then_some(spec.desired_count);
        }
    }
    let clamped = running.clamp(spec.min_capacity, spec.max_capacity);
    (clamped != running).then_some(clamped)
}

pub fn task_spec(spec: &ServiceSpec, image: String, region: &str) -> TaskSpec {
    TaskSpec {
        family: spec.name.clone(),
        cpu: spec.cpu.to_string(),
        memory: spec.memory.to_string(),
        execution_role_arn: spec.execution_role_arn.clone(),
        task_role_arn: spec.task_role_arn.clone(),
        container_name: spec.name.clone(),
        image,
        container_port: spec.container_port,
        environment: spec.environment.clone(),
        secrets: spec.secrets.clone(),
        log_group: spec.log_group_name(),
        log_region: region.to_string(),
    }
}

/// What an UpdateService must restate. `old` is None when adopting (a retried Create, made
/// from these same properties: network and load balancer are not restated, since sending them
/// would start a deployment) or when the old properties no longer parse.
fn restate(
    spec: &ServiceSpec,
    old: Option<&ServiceSpec>,
    service: &ServiceState,
    cluster: &[StrategyItem],
) -> Restate {
    let changed = |f: &dyn Fn(&ServiceSpec) -> bool| old.is_some_and(f);
    let network = changed(&|o| {
        spec.subnets != o.subnets
            || spec.security_groups != o.security_groups
            || spec.assign_public_ip != o.assign_public_ip
    });
    let load_balancer = changed(&|o| {
        spec.target_group_arn != o.target_group_arn || spec.container_port != o.container_port
    });
    let deployment = load_balancer
        || old.is_none_or(|o| {
            spec.grace_period_seconds != o.grace_period_seconds
                || spec.minimum_healthy_percent != o.minimum_healthy_percent
                || spec.maximum_percent != o.maximum_percent
        });
    Restate {
        deployment,
        network,
        load_balancer,
        // Only when the cluster's strategy changed (the property that carries it): sending it
        // is a new deployment, and a service made with a launch type keeps it otherwise.
        strategy: changed(&|o| o.cluster_strategy != spec.cluster_strategy)
            .then(|| strategy_to_send(&service.strategy, cluster))
            .flatten(),
    }
}

/// Create and Update: bring the service to the spec, or say why it must not be touched.
pub fn plan(
    phase: &Phase,
    spec: &ServiceSpec,
    current: &Current,
    region: &str,
) -> Result<Plan, String> {
    if let Some(other) = live(current).filter(|s| !s.ownership.is_ours()) {
        return Err(other.ownership.refusal(
            &format!("ECS service {} in cluster {}", spec.name, spec.cluster),
            "ServiceName",
        ));
    }
    let service = live(current);
    // A replacement (new name or cluster) is a Create of the new service.
    let old = phase.old().filter(|old| !old.replaces(spec));
    let mut actions = Vec::new();

    if old.is_none_or(|o| o.log_retention_days != spec.log_retention_days) || service.is_none() {
        actions.push(Action::EnsureLogGroup {
            name: spec.log_group_name(),
            retention_days: spec.log_retention_days,
        });
    }

    let running_task = service.and_then(|s| s.task.as_ref());
    let image = choose_image(
        phase,
        spec,
        running_task.map(|t| t.image.as_str()),
        current.image_digest.as_deref(),
    );
    let waits_for_first_push =
        current.image_missing && image == format!("{}:{}", spec.repository_uri, spec.image_tag);
    let wanted = task_spec(spec, image, region);
    let task_definition = match service {
        Some(s) if running_task == Some(&wanted) => {
            TaskDefinitionRef::Existing(s.task_definition_arn.clone())
        }
        _ => {
            actions.push(Action::RegisterTaskDefinition(Box::new(wanted)));
            TaskDefinitionRef::New
        }
    };

    match service {
        None => actions.push(Action::CreateService {
            task_definition: task_definition.clone(),
            strategy: current.cluster_strategy.clone(),
        }),
        Some(s) => {
            let new_revision =
                (task_definition == TaskDefinitionRef::New).then_some(TaskDefinitionRef::New);
            let desired_count = choose_desired_count(phase, spec, Some(s.desired_count));
            let restate = restate(spec, old, s, &current.cluster_strategy);
            if new_revision.is_some() || desired_count.is_some() || !restate.is_empty() {
                actions.push(Action::UpdateService {
                    task_definition: new_revision,
                    desired_count,
                    restate,
                });
            }
        }
    }

    if old
        .is_none_or(|o| o.min_capacity != spec.min_capacity || o.max_capacity != spec.max_capacity)
    {
        actions.push(Action::RegisterScalableTarget {
            min: spec.min_capacity,
            max: spec.max_capacity,
        });
    }
    if old.is_none_or(|o| {
        o.cpu_target_percent != spec.cpu_target_percent
            || o.memory_target_percent != spec.memory_target_percent
            || o.min_capacity != spec.min_capacity
            || o.max_capacity != spec.max_capacity
    }) {
        actions.push(Action::PutScalingPolicies {
            cpu_target: spec.cpu_target_percent,
            memory_target: spec.memory_target_percent,
        });
    }
    let deploys = actions.iter().any(|a| match a {
        Action::CreateService { .. } => true,
        Action::UpdateService {
            task_definition,
            restate,
            ..
        } => task_definition.is_some() || restate.deploys(),
        _ => false,
    });
    // Before the first push no task can start: waiting would only end in a failed stack.
    if spec.wait_for_steady_state && deploys && !waits_for_first_push {
        actions.push(Action::WaitForSteadyState);
    }
    let note = waits_for_first_push.then(|| {
        format!(
            "no image {}:{} in ECR yet: the service's tasks start once it is pushed",
            spec.repository_uri, spec.image_tag
        )
    });
    Ok(Plan {
        actions,
        task_definition,
        note,
    })
}

/// Delete: stop scaling, delete the service, and wait while ECS drains its tasks (so that the
/// cluster's Delete, next, succeeds). The log group and task definitions stay: they are the
/// record of what ran. A service this stack did not make is left alone.
pub fn plan_delete(current: &Current) -> Vec<Action> {
    match &current.service {
        Some(s) if !s.ownership.is_ours() => Vec::new(),
        Some(s) if s.status == "ACTIVE" => vec![
            Action::DeregisterScalableTarget,
            Action::DeleteService { arn: s.arn.clone() },
            Action::WaitUntilInactive,
        ],
        Some(s) if s.is_draining() => vec![Action::WaitUntilInactive],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::properties::tests::spec_with;
    use proptest::prelude::*;
    use serde_json::json;

    const REGION: &str = "us-east-1";
    const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const PUSHED: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn running(spec: &ServiceSpec, image: &str, desired: i32) -> Current {
        Current {
            service: Some(ServiceState {
                arn: "arn:aws:ecs:us-east-1:123456789012:service/sky/web".into(),
                status: "ACTIVE".into(),
                desired_count: desired,
                task_definition_arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3"
                    .into(),
                task: Some(task_spec(spec, image.to_string(), REGION)),
                strategy: Vec::new(),
                ownership: Ownership::Ours,
            }),
            image_digest: None,
            cluster_strategy: Vec::new(),
            image_missing: false,
        }
    }

    fn plan(phase: &Phase, spec: &ServiceSpec, current: &Current, region: &str) -> Plan {
        super::plan(phase, spec, current, region).unwrap()
    }

    #[test]
    fn create_builds_everything_with_the_tag_pinned_by_digest() {
        let spec = spec_with(json!({}));
        let current = Current {
            image_digest: Some(DIGEST.into()),
            ..Current::default()
        };
        let p = plan(&Phase::Create, &spec, &current, REGION);
        let names: Vec<&str> = p
            .actions
            .iter()
            .map(|a| match a {
                Action::EnsureLogGroup { .. } => "log",
                Action::RegisterTaskDefinition(t) => {
                    assert_eq!(t.image, format!("{}@{DIGEST}", spec.repository_uri));
                    "taskdef"
                }
                Action::CreateService { .. } => "create",
                Action::RegisterScalableTarget { min: 1, max: 5 } => "target",
                Action::PutScalingPolicies {
                    cpu_target: 70,
                    memory_target: 80,
                } => "policies",
                Action::WaitForSteadyState => "wait",
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            names,
            ["log", "taskdef", "create", "target", "policies", "wait"]
        );
    }

    #[test]
    fn before_the_first_push_the_service_is_made_without_waiting_and_says_so() {
        let spec = spec_with(json!({"WaitForSteadyState": "true"}));
        let current = Current {
            image_missing: true,
            ..Current::default()
        };
        let p = plan(&Phase::Create, &spec, &current, REGION);
        assert!(p
            .actions
            .iter()
            .any(|a| matches!(a, Action::CreateService { .. })));
        assert!(!p.actions.contains(&Action::WaitForSteadyState));
        assert!(p.note.unwrap().contains("once it is pushed"));
        let pushed = Current {
            image_digest: Some(DIGEST.into()),
            ..Current::default()
        };
        let p = plan(&Phase::Create, &spec, &pushed, REGION);
        assert!(p.actions.contains(&Action::WaitForSteadyState));
        assert!(p.note.is_none());
    }

    #[test]
    fn an_unresolved_tag_is_used_as_a_tag() {
        let spec = spec_with(json!({"ImageTag": "v1"}));
        assert_eq!(
            choose_image(&Phase::Create, &spec, None, None),
            format!("{}:v1", spec.repository_uri)
        );
    }

    #[test]
    fn a_stack_update_keeps_the_autoscaled_count_and_the_pushed_digest() {
        let old = spec_with(json!({}));
        let new = spec_with(json!({"Cpu": "1024", "Memory": "2048"}));
        let pushed = format!("{}@{PUSHED}", old.repository_uri);
        let current = running(&old, &pushed, 4);
        let p = plan(
            &Phase::Update {
                old: Some(old.clone()),
            },
            &new,
            &current,
            REGION,
        );
        let Some(Action::RegisterTaskDefinition(t)) = p
            .actions
            .iter()
            .find(|a| matches!(a, Action::RegisterTaskDefinition(_)))
        else {
            panic!("a CPU change needs a new revision: {:?}", p.actions)
        };
        assert_eq!(t.image, pushed);
        assert_eq!(t.cpu, "1024");
        assert!(p.actions.contains(&Action::UpdateService {
            task_definition: Some(TaskDefinitionRef::New),
            desired_count: None,
            restate: Restate::default()
        }));
    }

    #[test]
    fn a_changed_image_tag_or_desired_count_in_the_template_wins() {
        let old = spec_with(json!({}));
        let new = spec_with(json!({"ImageTag": "v2", "DesiredCount": "3"}));
        let current = Current {
            image_digest: Some(DIGEST.into()),
            ..running(&old, &format!("{}@{PUSHED}", old.repository_uri), 4)
        };
        let phase = Phase::Update { old: Some(old) };
        assert!(needs_digest(&phase, &new, true));
        let p = plan(&phase, &new, &current, REGION);
        assert!(p.actions.contains(&Action::UpdateService {
            task_definition: Some(TaskDefinitionRef::New),
            desired_count: Some(3),
            restate: Restate::default()
        }));
        assert!(p.actions.iter().any(
            |a| matches!(a, Action::RegisterTaskDefinition(t) if t.image.ends_with(&format!("@{DIGEST}")))
        ));
    }

    #[test]
    fn an_unchanged_update_and_a_repeated_create_change_nothing() {
        let spec = spec_with(json!({}));
        let image = format!("{}@{DIGEST}", spec.repository_uri);
        let current = running(&spec, &image, 2);
        let p = plan(
            &Phase::Update {
                old: Some(spec.clone()),
            },
            &spec,
            &current,
            REGION,
        );
        assert!(p.actions.is_empty(), "{:?}", p.actions);
        assert!(!needs_digest(
            &Phase::Update {
                old: Some(spec.clone())
            },
            &spec,
            true
        ));
        // A retried Create finds the service on the same revision: no new revision, no deployment.
        let retry = Current {
            image_digest: Some(DIGEST.into()),
            ..current
        };
        let p = plan(&Phase::Create, &spec, &retry, REGION);
        assert!(!p.actions.iter().any(|a| matches!(
            a,
            Action::RegisterTaskDefinition(_) | Action::CreateService { .. }
        )));
        assert!(!p.actions.contains(&Action::WaitForSteadyState));
    }

    #[test]
    fn a_new_service_name_is_a_replacement() {
        let old = spec_with(json!({}));
        let new = spec_with(json!({"ServiceName": "web2"}));
        let p = plan(
            &Phase::Update { old: Some(old) },
            &new,
            &Current::default(),
            REGION,
        );
        assert!(p
            .actions
            .iter()
            .any(|a| matches!(a, Action::CreateService { .. })));
        assert!(p
            .actions
            .contains(&Action::RegisterScalableTarget { min: 1, max: 5 }));
    }

    #[test]
    fn delete_stops_scaling_then_deletes_only_a_live_service() {
        let spec = spec_with(json!({}));
        let current = running(&spec, "img", 2);
        assert_eq!(
            plan_delete(&current),
            vec![
                Action::DeregisterScalableTarget,
                Action::DeleteService {
                    arn: "arn:aws:ecs:us-east-1:123456789012:service/sky/web".into()
                },
                Action::WaitUntilInactive
            ]
        );
        let mut draining = current.clone();
        draining.service.as_mut().unwrap().status = "DRAINING".into();
        assert_eq!(plan_delete(&draining), vec![Action::WaitUntilInactive]);
        let mut gone = current.clone();
        gone.service.as_mut().unwrap().status = "INACTIVE".into();
        assert!(plan_delete(&gone).is_empty());
        assert!(plan_delete(&Current::default()).is_empty());
        let mut foreign = current;
        foreign.service.as_mut().unwrap().ownership = Ownership::Untagged;
        assert!(plan_delete(&foreign).is_empty());
    }

    #[test]
    fn another_stacks_service_is_refused() {
        let spec = spec_with(json!({}));
        let mut current = running(&spec, "img", 2);
        current.service.as_mut().unwrap().ownership = Ownership::OtherStack {
            stack_id: "arn:other".into(),
        };
        for phase in [
            Phase::Create,
            Phase::Update {
                old: Some(spec.clone()),
            },
        ] {
            let err = super::plan(&phase, &spec, &current, REGION).unwrap_err();
            assert!(
                err.contains("ECS service web in cluster sky") && err.contains("arn:other"),
                "{err}"
            );
        }
    }

    fn update_of(p: &Plan) -> Option<(&Option<TaskDefinitionRef>, &Restate)> {
        p.actions.iter().find_map(|a| match a {
            Action::UpdateService {
                task_definition,
                restate,
                ..
            } => Some((task_definition, restate)),
            _ => None,
        })
    }

    #[test]
    fn settings_that_start_a_deployment_are_waited_for() {
        let old = spec_with(json!({"WaitForSteadyState": "true"}));
        let image = format!("{}@{DIGEST}", old.repository_uri);
        let phase = Phase::Update {
            old: Some(old.clone()),
        };
        let cases = [
            (json!({"Subnets": ["subnet-c", "subnet-d"]}), "network"),
            (json!({"SecurityGroups": ["sg-2"]}), "network"),
            (json!({"AssignPublicIp": "true"}), "network"),
            (
                json!({"TargetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/other/1"}),
                "load_balancer",
            ),
            (
                json!({"HealthCheckGracePeriodSeconds": "120"}),
                "deployment",
            ),
        ];
        for (change, what) in cases {
            let mut props = crate::service::properties::tests::base();
            props["WaitForSteadyState"] = json!("true");
            for (k, v) in change.as_object().unwrap() {
                props[k] = v.clone();
            }
            let new = ServiceSpec::parse(props.as_object().unwrap()).unwrap();
            let p = plan(&phase, &new, &running(&old, &image, 2), REGION);
            let (td, restate) = update_of(&p).unwrap_or_else(|| panic!("{what}: {:?}", p.actions));
            assert_eq!(*td, None, "{what}: no new revision");
            assert_eq!(restate.network, what == "network", "{what}");
            assert_eq!(restate.load_balancer, what == "load_balancer", "{what}");
            assert!(restate.deployment || what == "network", "{what}");
            // Only what starts a deployment is waited for.
            assert_eq!(
                p.actions.contains(&Action::WaitForSteadyState),
                what != "deployment",
                "{what}"
            );
        }
    }

    #[test]
    fn a_changed_cluster_strategy_reaches_the_service_with_a_new_deployment() {
        let spec = spec_with(json!({"WaitForSteadyState": "true"}));
        let image = format!("{}@{DIGEST}", spec.repository_uri);
        let mut current = running(&spec, &image, 2);
        let seed = crate::capacity::default_strategy();
        current.service.as_mut().unwrap().strategy = seed.clone();
        current.cluster_strategy = seed.iter().rev().cloned().collect();
        let old = spec_with(json!({"WaitForSteadyState": "true",
            "ClusterCapacityProviderStrategy": "FARGATE:50:20,FARGATE_SPOT:50:0"}));
        let phase = Phase::Update {
            old: Some(old.clone()),
        };
        let new = spec_with(json!({"WaitForSteadyState": "true",
            "ClusterCapacityProviderStrategy": "FARGATE:1:0"}));
        // The same strategy in another order: nothing to do.
        assert!(plan(&phase, &new, &current, REGION).actions.is_empty());
        let fargate_only = vec![StrategyItem {
            capacity_provider: "FARGATE".into(),
            weight: 1,
            base: 0,
        }];
        current.cluster_strategy = fargate_only.clone();
        // Unless the cluster's strategy changed, a difference is left alone (a launch type stays).
        let unchanged = Phase::Update {
            old: Some(new.clone()),
        };
        assert!(plan(&unchanged, &new, &current, REGION).actions.is_empty());
        let adopting = plan(&Phase::Create, &new, &current, REGION);
        assert_eq!(update_of(&adopting).unwrap().1.strategy, None);
        let p = plan(&phase, &new, &current, REGION);
        let (_, restate) = update_of(&p).unwrap();
        assert_eq!(restate.strategy, Some(fargate_only.clone()));
        assert!(p.actions.contains(&Action::WaitForSteadyState));
        // A cluster without a strategy leaves the service's alone.
        assert_eq!(strategy_to_send(&seed, &[]), None);
        assert_eq!(strategy_to_send(&[], &fargate_only), Some(fargate_only));
    }

    proptest! {
        #[test]
        fn desired_count_rules(min in 0i32..10, span in 0i32..10, old_d in 0i32..20, new_d in 0i32..20, running in 0i32..25) {
            let max = (min + span).max(1);
            let clamp = |d: i32| d.clamp(min, max);
            let old = spec_with(json!({"MinCapacity": "0", "MaxCapacity": "20", "DesiredCount": old_d.to_string()}));
            let new = spec_with(json!({"MinCapacity": min.to_string(), "MaxCapacity": max.to_string(),
                                       "DesiredCount": clamp(new_d).to_string()}));
            let phase = Phase::Update { old: Some(old.clone()) };
            let chosen = choose_desired_count(&phase, &new, Some(running));
            let result = chosen.unwrap_or(running);
            if old.desired_count != new.desired_count {
                // The template changed DesiredCount: it wins.
                prop_assert_eq!(result, new.desired_count);
            } else {
                // Otherwise the running count stays, only brought inside the bounds.
                prop_assert_eq!(result, clamp(running));
            }
            prop_assert!(result >= min && result <= max);
            // No call when nothing changes.
            prop_assert_eq!(chosen.is_none(), result == running);
        }

        #[test]
        fn the_running_image_survives_any_update_that_keeps_the_image_properties(
            cpu_big in any::<bool>(), desired in 1i32..5, tag_changes in any::<bool>(), pushed in "[0-9a-f]{64}"
        ) {
            let old = spec_with(json!({}));
            let new = spec_with(json!({
                "Cpu": if cpu_big { "1024" } else { "512" }, "Memory": "2048",
                "DesiredCount": desired.to_string(),
                "ImageTag": if tag_changes { "v9" } else { "latest" }}));
            let running_image = format!("{}@sha256:{pushed}", old.repository_uri);
            let image = choose_image(&Phase::Update { old: Some(old) }, &new, Some(&running_image), Some(DIGEST));
            if tag_changes {
                prop_assert_eq!(image, format!("{}@{DIGEST}", new.repository_uri));
            } else {
                prop_assert_eq!(image, running_image);
            }
        }
    }
}
