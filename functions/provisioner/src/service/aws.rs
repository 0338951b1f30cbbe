//! Reading and changing the service through ECS, ECR, CloudWatch Logs and Application Auto Scaling.

use super::plan::{self, Action, Current, Phase, Plan, ServiceState, TaskDefinitionRef, TaskSpec};
use super::properties::ServiceSpec;
use super::requests;
use crate::capacity::StrategyItem;
use crate::clients::{Clients, Env};
use crate::error::{AwsContext, ProvisionError, Result};
use crate::ownership::{tag_map, Owner};
use crate::wait::retrying;
use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
use aws_sdk_ecr::types::ImageIdentifier;
use aws_sdk_ecs::types::{ServiceField, TaskDefinition};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::time::Instant;

/// What the service ends on.
pub struct Done {
    pub service_arn: String,
    pub task_definition_arn: String,
}

fn task_spec_of(td: &TaskDefinition) -> Option<TaskSpec> {
    let c = td.container_definitions().first()?;
    let options = c.log_configuration().and_then(|l| l.options());
    Some(TaskSpec {
        family: td.family().unwrap_or_default().to_string(),
        cpu: td.cpu().unwrap_or_default().to_string(),
        memory: td.memory().unwrap_or_default().to_string(),
        execution_role_arn: td.execution_role_arn().unwrap_or_default().to_string(),
        task_role_arn: td.task_role_arn().map(str::to_string),
        container_name: c.name().unwrap_or_default().to_string(),
        image: c.image().unwrap_or_default().to_string(),
        container_port: c
            .port_mappings()
            .first()
            .and_then(|p| p.container_port())
            .unwrap_or_default(),
        environment: c
            .environment()
            .iter()
            .map(|kv| {
                (
                    kv.name().unwrap_or_default().to_string(),
                    kv.value().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        secrets: c
            .secrets()
            .iter()
            .map(|s| (s.name().to_string(), s.value_from().to_string()))
            .collect(),
        log_group: options
            .and_then(|o| o.get("awslogs-group"))
            .cloned()
            .unwrap_or_default(),
        log_region: options
            .and_then(|o| o.get("awslogs-region"))
            .cloned()
            .unwrap_or_default(),
    })
}

/// The service, whose it is, and its running task definition, if it exists.
pub async fn read_service(
    clients: &Clients,
    cluster: &str,
    name: &str,
    owner: &Owner,
) -> Result<Current> {
    let described = clients
        .ecs()
        .describe_services()
        .cluster(cluster)
        .services(name)
        .include(ServiceField::Tags)
        .send()
        .await;
    let service = match described {
        Ok(out) => out.services().first().cloned(),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_cluster_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(e).context("ecs:DescribeServices").map_err(Into::into),
    };
    let Some(service) = service else {
        return Ok(Current::default());
    };
    let task_definition_arn = service.task_definition().unwrap_or_default().to_string();
    let ownership = owner.judge(&tag_map(service.tags()));
    let task = if service.status() == Some("ACTIVE")
        && ownership.is_ours()
        && !task_definition_arn.is_empty()
    {
        let out = clients
            .ecs()
            .describe_task_definition()
            .task_definition(&task_definition_arn)
            .send()
            .await
            .context("ecs:DescribeTaskDefinition")?;
        out.task_definition().and_then(task_spec_of)
    } else {
        None
    };
    Ok(Current {
        service: Some(ServiceState {
            arn: service.service_arn().unwrap_or_default().to_string(),
            status: service.status().unwrap_or_default().to_string(),
            desired_count: service.desired_count(),
            task_definition_arn,
            task,
            strategy: service
                .capacity_provider_strategy()
                .iter()
                .map(StrategyItem::of)
                .collect(),
            ownership,
        }),
        ..Current::default()
    })
}

/// Polls until the service is no longer DRAINING (INACTIVE or gone), or `until`. Our own poll
/// rather than the SDK's `wait_until_services_inactive`: that waiter's 15 s minimum delay is
/// fixed, which makes it unusable against a local AWS that drains in a second.
pub async fn wait_while_draining(
    env: &Env,
    cluster: &str,
    name: &str,
    owner: &Owner,
    until: Instant,
) -> Result<Current> {
    let mut attempt = 0;
    loop {
        let current = read_service(&env.clients, cluster, name, owner).await?;
        let draining = current
            .service
            .as_ref()
            .is_some_and(ServiceState::is_draining);
        if !draining {
            return Ok(current);
        }
        match env.backoff.next(attempt, Instant::now(), until) {
            Some(delay) => {
                attempt += 1;
                tokio::time::sleep(delay).await;
            }
            None => {
                return Err(ProvisionError::Refused(format!(
                    "ECS service {name} in cluster {cluster} is still DRAINING (its tasks are stopping, \
                     within the target group's deregistration delay); CloudFormation's retry will find it gone"
                )))
            }
        }
    }
}

/// `ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME` → NAME; None for images outside ECR.
fn ecr_repository_name(uri: &str) -> Option<&str> {
    let (host, name) = uri.split_once('/')?;
    host.contains(".dkr.ecr.").then_some(name)
}

/// The digest ECR has for the tag, and whether ECR was asked and has no such image.
async fn image_digest(clients: &Clients, spec: &ServiceSpec) -> Result<(Option<String>, bool)> {
    let Some(repository) = ecr_repository_name(&spec.repository_uri) else {
        return Ok((None, false));
    };
    let described = clients
        .ecr()
        .describe_images()
        .repository_name(repository)
        .image_ids(
            ImageIdentifier::builder()
                .image_tag(&spec.image_tag)
                .build(),
        )
        .send()
        .await;
    match described {
        Ok(out) => {
            let digest = out
                .image_details()
                .first()
                .and_then(|d| d.image_digest().map(str::to_string));
            let missing = digest.is_none();
            Ok((digest, missing))
        }
        // Not pushed yet: the service starts on the tag, and the first push rolls it.
        Err(e)
            if e.as_service_error().is_some_and(|s| {
                s.is_image_not_found_exception() || s.is_repository_not_found_exception()
            }) =>
        {
            Ok((None, true))
        }
        Err(e) => Err(e).context("ecr:DescribeImages").map_err(Into::into),
    }
}

async fn cluster_strategy(clients: &Clients, cluster: &str) -> Result<Vec<StrategyItem>> {
    // The cluster's default, for a new service and to carry a changed one to an existing service.
    let out = clients
        .ecs()
        .describe_clusters()
        .clusters(cluster)
        .send()
        .await
        .context("ecs:DescribeClusters")?;
    let Some(c) = out
        .clusters()
        .first()
        .filter(|c| c.status() == Some("ACTIVE"))
    else {
        return Err(ProvisionError::Refused(format!(
            "cluster {cluster} (ClusterName) does not exist or is not active"
        )));
    };
    Ok(c.default_capacity_provider_strategy()
        .iter()
        .map(StrategyItem::of)
        .collect())
}

/// Everything the decision needs, and only that: the digest when the image may change, and the
/// cluster's strategy. A service of that name still DRAINING from a deletion is waited for
/// first: ECS refuses to create a service under its name until it is INACTIVE.
pub async fn read(env: &Env, phase: &Phase, spec: &ServiceSpec, owner: &Owner) -> Result<Current> {
    let clients = &env.clients;
    let mut current =
        wait_while_draining(env, &spec.cluster, &spec.name, owner, env.wait_until()).await?;
    let exists = current
        .service
        .as_ref()
        .is_some_and(|s| s.status == "ACTIVE");
    if exists
        && !current
            .service
            .as_ref()
            .is_some_and(|s| s.ownership.is_ours())
    {
        // Someone else's: the plan refuses it, nothing more to read.
        return Ok(current);
    }
    if plan::needs_digest(phase, spec, exists) {
        (current.image_digest, current.image_missing) = image_digest(clients, spec).await?;
    }
    current.cluster_strategy = cluster_strategy(clients, &spec.cluster).await?;
    Ok(current)
}

/// Carries out a Create or Update plan. `made_service` is set once this invocation created
/// the service (so that a failed Update can delete it again).
pub async fn act(
    env: &Env,
    spec: &ServiceSpec,
    current: &Current,
    plan: &Plan,
    owner: &Owner,
    made_service: &mut bool,
) -> Result<Done> {
    let clients = &env.clients;
    let mut service_arn = current
        .service
        .as_ref()
        .filter(|s| s.status == "ACTIVE")
        .map(|s| s.arn.clone());
    let mut new_revision: Option<String> = None;
    let resolve = |r: &TaskDefinitionRef, new: &Option<String>| match r {
        TaskDefinitionRef::Existing(arn) => arn.clone(),
        TaskDefinitionRef::New => new.clone().unwrap_or_default(),
    };
    for action in &plan.actions {
        let step: Result<()> = async {
            match action {
                Action::EnsureLogGroup {
                    name,
                    retention_days,
                } => {
                    let [(stack_key, stack), (logical_key, logical)] = owner.tags();
                    let created = clients
                        .logs()
                        .create_log_group()
                        .log_group_name(name)
                        .tags(stack_key, stack)
                        .tags(logical_key, logical)
                        .send()
                        .await;
                    match created {
                        Ok(_) => {}
                        Err(e)
                            if e.as_service_error()
                                .is_some_and(|s| s.is_resource_already_exists_exception()) => {}
                        Err(e) => return Err(e).context("logs:CreateLogGroup").map_err(Into::into),
                    }
                    clients
                        .logs()
                        .put_retention_policy()
                        .log_group_name(name)
                        .retention_in_days(*retention_days)
                        .send()
                        .await
                        .context("logs:PutRetentionPolicy")?;
                }
                Action::RegisterTaskDefinition(task) => {
                    let out = requests::register_task_definition(clients.ecs(), task, owner)
                        .send()
                        .await
                        .context("ecs:RegisterTaskDefinition")?;
                    new_revision = out
                        .task_definition()
                        .and_then(|t| t.task_definition_arn().map(str::to_string));
                }
                Action::CreateService {
                    task_definition,
                    strategy,
                } => {
                    let td = resolve(task_definition, &new_revision);
                    // Between our read and this call a deleted service of this name may still
                    // have been draining: ECS then refuses the name for a while.
                    let out = retrying(
                        &env.backoff,
                        env.wait_until(),
                        |e: &aws_smithy_runtime_api::client::result::SdkError<_, _>| {
                            e.message().is_some_and(|m| m.contains("still Draining"))
                        },
                        || {
                            requests::create_service(clients.ecs(), spec, &td, strategy, owner)
                                .send()
                        },
                    )
                    .await
                    .context("ecs:CreateService")?;
                    service_arn = out
                        .service()
                        .and_then(|s| s.service_arn().map(str::to_string));
                    *made_service = true;
                }
                Action::UpdateService {
                    task_definition,
                    desired_count,
                    restate,
                } => {
                    let td = task_definition.as_ref().map(|r| resolve(r, &new_revision));
                    requests::update_service(
                        clients.ecs(),
                        spec,
                        td.as_deref(),
                        *desired_count,
                        restate,
                    )
                    .send()
                    .await
                    .context("ecs:UpdateService")?;
                }
                Action::RegisterScalableTarget { .. } => {
                    requests::register_scalable_target(clients.scaling(), spec, owner)
                        .send()
                        .await
                        .context("application-autoscaling:RegisterScalableTarget")?;
                }
                Action::PutScalingPolicies { .. } => {
                    for (name, metric, target) in requests::scaling_policies(spec) {
                        requests::put_scaling_policy(
                            clients.scaling(),
                            spec,
                            &name,
                            metric,
                            target,
                        )
                        .send()
                        .await
                        .context("application-autoscaling:PutScalingPolicy")?;
                    }
                }
                // The handler waits, once everything is in place.
                Action::WaitForSteadyState => {}
                Action::DeregisterScalableTarget
                | Action::DeleteService { .. }
                | Action::WaitUntilInactive => {
                    unreachable!("delete actions are carried out by delete()")
                }
            }
            Ok(())
        }
        .await;
        // A Create that fails after the service exists names it, so the rollback deletes it.
        step.map_err(|e| match &service_arn {
            Some(arn) => e.made(arn),
            None => e,
        })?;
    }
    Ok(Done {
        service_arn: service_arn.unwrap_or_default(),
        task_definition_arn: resolve(&plan.task_definition, &new_revision),
    })
}

pub async fn delete(
    env: &Env,
    cluster: &str,
    name: &str,
    actions: &[Action],
    owner: &Owner,
) -> Result<()> {
    let clients = &env.clients;
    for action in actions {
        match action {
            Action::DeregisterScalableTarget => {
                let out = clients
                    .scaling()
                    .deregister_scalable_target()
                    .service_namespace(ServiceNamespace::Ecs)
                    .resource_id(format!("service/{cluster}/{name}"))
                    .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                    .send()
                    .await;
                match out {
                    Ok(_) => {}
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_object_not_found_exception()) => {}
                    Err(e) => {
                        return Err(e)
                            .context("application-autoscaling:DeregisterScalableTarget")
                            .map_err(Into::into)
                    }
                }
            }
            Action::DeleteService { .. } => {
                // force: ECS scales the service to zero and drains it.
                let out = clients
                    .ecs()
                    .delete_service()
                    .cluster(cluster)
                    .service(name)
                    .force(true)
                    .send()
                    .await;
                match out {
                    Ok(_) => {}
                    Err(e)
                        if e.as_service_error().is_some_and(|s| {
                            s.is_service_not_found_exception() || s.is_cluster_not_found_exception()
                        }) => {}
                    Err(e) => return Err(e).context("ecs:DeleteService").map_err(Into::into),
                }
            }
            Action::WaitUntilInactive => {
                wait_while_draining(env, cluster, name, owner, env.wait_until()).await?;
            }
            other => unreachable!("not a delete action: {other:?}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ecr_images_are_resolved_to_digests() {
        assert_eq!(
            ecr_repository_name("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app"),
            Some("team/app")
        );
        assert_eq!(ecr_repository_name("public.ecr.aws/nginx/nginx"), None);
        assert_eq!(ecr_repository_name("nginx"), None);
    }
}
