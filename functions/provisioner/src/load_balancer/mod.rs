//! `Custom::LoadBalancer`: an Application Load Balancer with its target group (IP targets, for
//! Fargate) and listeners. PhysicalResourceId: the load balancer's ARN.

mod aws;
pub mod plan;
pub mod properties;

use crate::clients::Env;
use crate::error::{ProvisionError, Result};
use operator_common::custom_resource::{Request, RequestKind, Success};
use plan::Phase;
use properties::LoadBalancerSpec;

pub async fn handle(request: &Request, env: &Env) -> Result<Success> {
    let elb = &env.clients.elb;
    match &request.kind {
        RequestKind::Delete { physical_id } => {
            let tg_name = LoadBalancerSpec::parse(&request.properties)
                .ok()
                .map(|s| s.target_group_name());
            let current = aws::read_for_delete(elb, physical_id, tg_name.as_deref()).await?;
            let found = current.load_balancer.as_ref().map(|lb| lb.name.clone());
            tracing::info!(resource = "Custom::LoadBalancer", arn = %physical_id, found = ?found, "delete");
            let delete = plan::Plan {
                actions: plan::plan_delete(&current),
            };
            aws::act(elb, &delete, current, None).await?;
            Ok(Success {
                physical_id: physical_id.clone(),
                ..Success::default()
            })
        }
        kind => {
            let spec = LoadBalancerSpec::parse(&request.properties)?;
            let phase = match kind {
                RequestKind::Update { old_properties, .. } => Phase::Update {
                    old: LoadBalancerSpec::parse(old_properties).ok(),
                },
                _ => Phase::Create,
            };
            let current = aws::read(elb, &spec).await?;
            let plan = plan::plan(&phase, &spec, &current).map_err(ProvisionError::Refused)?;
            tracing::info!(resource = "Custom::LoadBalancer", name = %spec.name, plan = ?plan.actions, "plan");
            aws::act(elb, &plan, current, Some(&spec)).await
        }
    }
}
