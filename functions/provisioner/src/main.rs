//! The `provisioner` Lambda function: speaks the Lambda Runtime API through lambda_runtime and
//! answers every CloudFormation custom-resource request it is given.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use operator_common::custom_resource::{answer_by, handle_invocation, ResponseSender};
use provisioner::clients::{Clients, Env};
use provisioner::service::EcsRolloutWatcher;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Built on the first invocation, not at start: it reads the trust store (cold-start budget).
static CLIENTS: OnceCell<Clients> = OnceCell::const_new();

async fn invocation(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let deadline = event.context.deadline();
    let calls_before = operator_common::aws::api_calls();
    let sender = ResponseSender::default();
    let clients = CLIENTS
        .get_or_init(|| async { Clients::new(operator_common::aws::config().await) })
        .await
        .clone();
    let env = Arc::new(Env {
        clients,
        rollouts: Box::new(EcsRolloutWatcher::default()),
        answer_by: answer_by(deadline, &sender),
        backoff: provisioner::wait::Backoff::default(),
    });
    let response = handle_invocation(event.payload, deadline, &sender, move |request| {
        provisioner::handle(request, env)
    })
    .await?;
    Ok(serde_json::json!({
        "Status": response.status,
        "PhysicalResourceId": response.physical_resource_id,
        "aws_calls": operator_common::aws::api_calls() - calls_before,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    operator_common::logging::init();
    lambda_runtime::run(service_fn(invocation)).await
}
