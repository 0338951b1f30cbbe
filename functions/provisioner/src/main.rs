//! The `provisioner` Lambda function: answers every CloudFormation custom-resource request it
//! is given.

use operator_common::custom_resource::{answer_by, handle_invocation_on, InvocationError};
use operator_common::custom_resource::{handler_thread, ResponseSender, Status};
use operator_common::metrics::Metric;
use operator_common::runner::Invocation;
use provisioner::clients::{Clients, Env};
use provisioner::service::EcsRolloutWatcher;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::runtime::Handle;

async fn invocation(
    invocation: Invocation<(), Clients>,
    handlers: &Handle,
) -> Result<Value, InvocationError> {
    let deadline = invocation.context.deadline();
    let sender = ResponseSender::default();
    let env = Arc::new(Env {
        clients: invocation.clients().await.clone(),
        rollouts: Box::new(EcsRolloutWatcher::default()),
        answer_by: answer_by(deadline, &sender),
        backoff: provisioner::wait::Backoff::default(),
    });
    let response = handle_invocation_on(
        handlers,
        invocation.payload,
        deadline,
        &sender,
        move |request| provisioner::handle(request, env),
    )
    .await
    // No answer reached CloudFormation: a failure of the resource too.
    .inspect_err(|_| operator_common::metrics::record(Metric::CustomResourceFailures, 1))?;
    if response.status == Status::Failed {
        operator_common::metrics::record(Metric::CustomResourceFailures, 1);
    }
    Ok(json!({
        "Status": response.status,
        "PhysicalResourceId": response.physical_resource_id,
    }))
}

// One thread for the invocation loop and one for the handlers (`handler_thread`): a handler
// that never yields (a loop, a blocking call) must not hold the timer that answers
// CloudFormation before the deadline (tests/tests/local_aws/protocol.rs,
// a_handler_that_never_yields_still_answers_failed_in_time), and tokio's worker threads cost a
// cold start more (README, "Cold start").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let handlers = handler_thread()?;
    let handlers = &handlers;
    operator_common::runner::run(Clients::new, move |i| invocation(i, handlers)).await
}
