//! `Custom::Cluster`: an ECS cluster with Fargate capacity providers.
//! PhysicalResourceId: the cluster name.

mod aws;
pub(crate) use aws::strategy_items;
pub mod plan;
pub mod properties;

use crate::clients::Env;
use crate::error::Result;
use operator_common::custom_resource::{Request, RequestKind, Success};
use plan::Phase;
use properties::ClusterSpec;

pub async fn handle(request: &Request, env: &Env) -> Result<Success> {
    let ecs = &env.clients.ecs;
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
    let current = aws::read(ecs, &spec.name).await?;
    let plan = plan::plan(&phase, &spec, current.as_ref());
    tracing::info!(resource = "Custom::Cluster", name = %spec.name, plan = ?plan.actions, "plan");
    aws::act(ecs, &plan, current).await
}
