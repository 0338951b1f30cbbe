//! `Custom::Cluster`: an ECS cluster with Fargate capacity providers.
//! PhysicalResourceId: the cluster name.

mod aws;
pub mod plan;
pub mod properties;

use crate::clients::Env;
use crate::error::{ProvisionError, Result};
use crate::ownership::Owner;
use operator_common::custom_resource::{Request, RequestKind, Success};
use plan::Phase;
use properties::ClusterSpec;

pub async fn handle(request: &Request, env: &Env) -> Result<Success> {
    let ecs = env.clients.ecs();
    let (phase, spec) = match &request.kind {
        RequestKind::Create => (Phase::Create, ClusterSpec::parse(&request.properties)?),
        RequestKind::Update { old_properties, .. } => (
            Phase::Update {
                old: ClusterSpec::parse(old_properties).ok(),
            },
            ClusterSpec::parse(&request.properties)?,
        ),
        RequestKind::Delete { physical_id } => (Phase::Delete, ClusterSpec::named(physical_id)),
    };
    let owner = Owner::of(request);
    let current = aws::read(ecs, &spec.name, &owner).await?;
    let plan = plan::plan(&phase, &spec, current.as_ref()).map_err(ProvisionError::Refused)?;
    tracing::info!(resource = "Custom::Cluster", name = %spec.name, plan = ?plan.actions, "plan");
    aws::act(env, &plan, &spec, current, &owner).await
}
