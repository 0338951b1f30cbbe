//! The `provisioner` function: CloudFormation custom resources that build the Sky High Booker
//! environment. Each resource is a module with the same three steps:
//! `properties` (parse and validate), `plan` (a pure decision), `aws` (read state, act).

pub mod capacity;
pub mod clients;
pub mod cluster;
pub mod error;
pub mod load_balancer;
pub mod ownership;
pub mod repository;
pub mod rollout;
pub mod service;
pub mod wait;

use clients::Env;
use operator_common::custom_resource::{is_delete, Failure, Request, Success};
use std::sync::Arc;

pub const RESOURCE_TYPES: &[&str] = &[
    "Custom::Repository",
    "Custom::Cluster",
    "Custom::LoadBalancer",
    "Custom::Service",
];

/// Dispatches a request on its ResourceType.
pub async fn handle(request: Request, env: Arc<Env>) -> Result<Success, Failure> {
    let result = match request.resource_type.as_str() {
        "Custom::Repository" => repository::handle(&request, &env).await,
        "Custom::Cluster" => cluster::handle(&request, &env).await,
        "Custom::LoadBalancer" => load_balancer::handle(&request, &env).await,
        "Custom::Service" => service::handle(&request, &env).await,
        // Nothing of an unknown type was ever created, so its Delete succeeds.
        _ if is_delete(&request) => Ok(Success {
            physical_id: request.physical_id().unwrap_or_default().to_string(),
            ..Success::default()
        }),
        other => {
            return Err(Failure::new(format!(
                "unknown ResourceType {other}: this function provides {}",
                RESOURCE_TYPES.join(", ")
            )))
        }
    };
    result.map_err(|e| e.into_failure())
}
