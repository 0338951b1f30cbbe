//! `Custom::Repository`: an ECR repository. PhysicalResourceId: the repository name.

mod aws;
pub mod plan;
pub mod properties;

use crate::clients::Env;
use crate::error::{ProvisionError, Result};
use crate::ownership::Owner;
use operator_common::custom_resource::{Request, RequestKind, Success};
use plan::Phase;
use properties::RepositorySpec;

pub async fn handle(request: &Request, env: &Env) -> Result<Success> {
    let ecr = env.clients.ecr();
    let (phase, name) = match &request.kind {
        RequestKind::Create => (
            Phase::Create,
            RepositorySpec::parse(&request.properties)?.name,
        ),
        RequestKind::Update { old_properties, .. } => {
            let old = RepositorySpec::parse(old_properties).ok();
            (
                Phase::Update { old },
                RepositorySpec::parse(&request.properties)?.name,
            )
        }
        RequestKind::Delete { physical_id } => (Phase::Delete, physical_id.clone()),
    };
    // Delete reads what it needs even when the stored properties no longer parse.
    let spec = match phase {
        // The physical id names the repository to delete, whatever the properties say.
        Phase::Delete => RepositorySpec {
            name: name.clone(),
            ..RepositorySpec::parse(&request.properties)
                .unwrap_or_else(|_| RepositorySpec::named(&name))
        },
        _ => RepositorySpec::parse(&request.properties)?,
    };
    let owner = Owner::of(request);
    let current = aws::read(ecr, &name, matches!(phase, Phase::Delete), &owner).await?;
    let plan = plan::plan(&phase, &spec, current.as_ref()).map_err(ProvisionError::Refused)?;
    tracing::info!(resource = "Custom::Repository", name = %name, plan = ?plan.actions, "plan");
    aws::act(ecr, &plan, current, &owner).await
}
