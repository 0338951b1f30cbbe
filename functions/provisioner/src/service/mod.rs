//! `Custom::Service`: the Fargate service with its log group, task definition, scalable target
//! and target-tracking policies. PhysicalResourceId: the service's ARN.

mod aws;
pub mod plan;
pub mod properties;
mod requests;
pub mod rollout;

pub use rollout::{EcsRolloutWatcher, RolloutWatcher};

use crate::clients::Env;
use crate::error::{ProvisionError, Result};
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
    if let RequestKind::Delete { physical_id } = &request.kind {
        // An id that is not a service ARN was never created.
        let Some((cluster, name)) = parse_service_arn(physical_id) else {
            return Ok(Success {
                physical_id: physical_id.clone(),
                ..Success::default()
            });
        };
        let current = aws::read_service(clients, &cluster, &name).await?;
        let actions = plan::plan_delete(&current);
        tracing::info!(resource = "Custom::Service", service = %name, plan = ?actions, "plan");
        aws::delete(clients, &cluster, &name, &actions).await?;
        return Ok(Success {
            physical_id: physical_id.clone(),
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
    let current = aws::read(clients, &phase, &spec).await?;
    let plan = plan::plan(&phase, &spec, &current, &clients.region);
    tracing::info!(resource = "Custom::Service", service = %spec.name, plan = ?plan.actions, "plan");
    let done = aws::act(clients, &spec, &current, &plan).await?;

    let mut reason = plan.note.clone();
    if plan.actions.contains(&plan::Action::WaitForSteadyState) {
        // Leave a few seconds to answer after the wait.
        let until = env.answer_by - std::time::Duration::from_secs(5);
        match env
            .rollouts
            .wait(
                &clients.ecs,
                &spec.cluster,
                &spec.name,
                &done.task_definition_arn,
                until,
            )
            .await?
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
