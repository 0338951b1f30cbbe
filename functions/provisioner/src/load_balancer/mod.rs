//! `Custom::LoadBalancer`: an Application Load Balancer with its target group (IP targets, for
//! Fargate) and listeners. PhysicalResourceId: the load balancer's ARN.

mod aws;
pub mod plan;
pub mod properties;

use crate::clients::Env;
use crate::error::{ProvisionError, Result};
use crate::ownership::Owner;
use operator_common::custom_resource::{Request, RequestKind, Success};
use plan::Phase;
use properties::LoadBalancerSpec;

pub async fn handle(request: &Request, env: &Env) -> Result<Success> {
    let elb = env.clients.elb();
    let owner = Owner::of(request);
    match &request.kind {
        RequestKind::Delete { physical_id } => {
            let tg_name = LoadBalancerSpec::parse(&request.properties)
                .ok()
                .map(|s| s.target_group_name());
            let current =
                aws::read_for_delete(elb, physical_id, tg_name.as_deref(), &owner).await?;
            let found = current.load_balancer.as_ref().map(|lb| lb.name.clone());
            let delete = plan::Plan {
                actions: plan::plan_delete(&current),
            };
            let reason = plan::delete_note(&current);
            tracing::info!(resource = "Custom::LoadBalancer", arn = %physical_id, found = ?found, plan = ?delete.actions, "delete");
            aws::act(
                elb,
                &delete,
                current,
                None,
                &owner,
                aws::OnFailure::ReportMade,
            )
            .await?;
            Ok(Success {
                physical_id: physical_id.clone(),
                reason,
                ..Success::default()
            })
        }
        kind => {
            let spec = LoadBalancerSpec::parse(&request.properties)?;
            let (phase, on_failure) = match kind {
                RequestKind::Update { old_properties, .. } => (
                    Phase::Update {
                        old: LoadBalancerSpec::parse(old_properties).ok(),
                    },
                    aws::OnFailure::DeleteMade,
                ),
                _ => (Phase::Create, aws::OnFailure::ReportMade),
            };
            let current = aws::read(elb, &spec, &owner).await?;
            let plan = plan::plan(&phase, &spec, &current).map_err(ProvisionError::Refused)?;
            tracing::info!(resource = "Custom::LoadBalancer", name = %spec.name, plan = ?plan.actions, "plan");
            aws::act(elb, &plan, current, Some(&spec), &owner, on_failure).await
        }
    }
}
