//! `Custom::Service`: the Fargate service with its log group, task definition, scalable target
//! and target-tracking policies. PhysicalResourceId: the service's ARN.

mod aws;
pub mod plan;
pub mod properties;
pub mod redact;
mod requests;
// The rollout watch lives below the resources (the handler environment holds one).
pub use crate::rollout;
pub use crate::rollout::{EcsRolloutWatcher, RolloutWatcher};

use crate::clients::Env;
use crate::error::{ProvisionError, Result};
use crate::ownership::Owner;
use operator_common::custom_resource::{Request, RequestKind, Success};
use plan::{Phase, RolloutOutcome};
use properties::ServiceSpec;
use std::collections::BTreeMap;

/// Splits `arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME` into cluster and name.
pub fn parse_service_arn(arn: &str) -> Option<(String, String)> {
    let resource = arn.strip_prefix("arn:")?.splitn(5, ':').nth(4)?;
    let mut parts = resource.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("service"), Some(cluster), Some(name), None)
            if !cluster.is_empty() && !name.is_empty() =>
        {
            Some((cluster.to_string(), name.to_string()))
        }
        _ => None,
    }
}

pub async fn handle(request: &Request, env: &Env) -> Result<Success> {
    let clients = &env.clients;
    let owner = Owner::of(request);
    if let RequestKind::Delete { physical_id } = &request.kind {
        // An id that is not a service ARN was never created.
        let Some((cluster, name)) = parse_service_arn(physical_id) else {
            return Ok(Success {
                physical_id: physical_id.clone(),
                ..Success::default()
            });
        };
        let current = aws::read_service(clients, &cluster, &name, &owner).await?;
        let actions = plan::plan_delete(&current);
        let reason = current
            .service
            .as_ref()
            .filter(|s| !s.ownership.is_ours() && s.status != "INACTIVE")
            .map(|s| {
                s.ownership
                    .left_alone(&format!("ECS service {name} in cluster {cluster}"))
            });
        tracing::info!(resource = "Custom::Service", service = %name, plan = ?actions, "plan");
        aws::delete(env, &cluster, &name, &actions, &owner).await?;
        return Ok(Success {
            physical_id: physical_id.clone(),
            reason,
            ..Success::default()
        });
    }

    let spec = ServiceSpec::parse(&request.properties)?;
    let phase = match &request.kind {
        RequestKind::Update { old_properties, .. } => Phase::Update {
            old: ServiceSpec::parse(old_properties).ok(),
        },
        _ => Phase::Create,
    };
    let mut made_service = false;
    let outcome = create_or_update(env, &phase, &spec, &owner, &mut made_service).await;
    match outcome {
        // An Update keeps the id CloudFormation knows, so nothing would ever delete a service
        // it made (a new ServiceName or ClusterName): delete it before answering FAILED.
        Err(e) if made_service && matches!(phase, Phase::Update { .. }) => {
            clean_up(env, &spec, &owner).await;
            Err(match e {
                ProvisionError::AfterMaking { source, .. } => *source,
                other => other,
            })
        }
        other => other,
    }
}

/// Best effort, logged: removes the service a failed Update made.
async fn clean_up(env: &Env, spec: &ServiceSpec, owner: &Owner) {
    let actions = [
        plan::Action::DeregisterScalableTarget,
        plan::Action::DeleteService { arn: String::new() },
    ];
    match aws::delete(env, &spec.cluster, &spec.name, &actions, owner).await {
        Ok(()) => tracing::warn!(service = %spec.name, cluster = %spec.cluster,
            "deleted the service this failed update made"),
        Err(e) => tracing::error!(service = %spec.name, cluster = %spec.cluster, error = %e,
            "could not delete the service this failed update made"),
    }
}

async fn create_or_update(
    env: &Env,
    phase: &Phase,
    spec: &ServiceSpec,
    owner: &Owner,
    made_service: &mut bool,
) -> Result<Success> {
    let clients = &env.clients;
    let current = aws::read(env, phase, spec, owner).await?;
    let plan =
        plan::plan(phase, spec, &current, &clients.region).map_err(ProvisionError::Refused)?;
    tracing::info!(resource = "Custom::Service", service = %spec.name, plan = ?plan.actions, "plan");
    let done = aws::act(env, spec, &current, &plan, owner, made_service).await?;

    let mut reason = plan.note.clone();
    if plan.actions.contains(&plan::Action::WaitForSteadyState) {
        match env
            .rollouts
            .wait(
                clients.ecs(),
                &spec.cluster,
                &spec.name,
                &done.task_definition_arn,
                env.wait_until(),
            )
            .await
            .map_err(|e| e.made(&done.service_arn))?
        {
            RolloutOutcome::Completed => {}
            RolloutOutcome::Failed(why) => {
                let failed = ProvisionError::Refused(format!(
                    "deployment of service {} failed: {why}",
                    spec.name
                ));
                return Err(failed.made(&done.service_arn));
            }
            RolloutOutcome::StillRunning => {
                reason = Some(format!(
                    "service {} is still rolling out {}; the deployment circuit breaker keeps guarding it",
                    spec.name, done.task_definition_arn
                ));
            }
        }
    }
    Ok(Success {
        physical_id: done.service_arn.clone(),
        data: BTreeMap::from([
            ("ServiceName".to_string(), spec.name.clone()),
            ("ServiceArn".to_string(), done.service_arn),
            ("TaskDefinitionArn".to_string(), done.task_definition_arn),
            ("LogGroupName".to_string(), spec.log_group_name()),
        ]),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_arns_name_cluster_and_service() {
        assert_eq!(
            parse_service_arn("arn:aws:ecs:us-east-1:123456789012:service/sky/web"),
            Some(("sky".into(), "web".into()))
        );
        assert_eq!(
            parse_service_arn("arn:aws:ecs:us-east-1:123456789012:service/web"),
            None
        );
        assert_eq!(parse_service_arn("not-created:Service:req"), None);
        assert_eq!(parse_service_arn("web"), None);
    }
}
