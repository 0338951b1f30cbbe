//! The `redeployer` Lambda function (EventBridge: ECR Image Action).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use operator_common::settings::Settings as Env;
use redeployer::{parse, redeploy, settings::Settings, Clients};
use serde_json::Value;
use tokio::sync::OnceCell;

/// Built on the first push that matters, not at start (cold-start budget).
static CLIENTS: OnceCell<Clients> = OnceCell::const_new();

async fn clients() -> &'static Clients {
    CLIENTS
        .get_or_init(|| async { Clients::new(operator_common::aws::config().await) })
        .await
}

async fn invocation(event: LambdaEvent<Value>, settings: &Settings) -> Result<Value, Error> {
    let before = operator_common::aws::api_calls();
    let push =
        parse(event.payload).inspect_err(|e| tracing::error!(error = %e, "rejected event"))?;
    let outcome = redeploy(&push, settings, clients).await.inspect_err(
        |e| tracing::error!(digest = %push.image_digest, error = %e, "redeploy failed"),
    )?;
    let aws_calls = operator_common::aws::api_calls() - before;
    tracing::info!(
        decision = outcome.decision,
        repository = %push.repository_name,
        tag = push.image_tag.as_deref().unwrap_or(""),
        digest = %outcome.digest,
        why = %outcome.why,
        task_definition = outcome.task_definition.as_deref().unwrap_or(""),
        aws_calls,
        "push handled"
    );
    let mut response = serde_json::to_value(&outcome)?;
    response["aws_calls"] = aws_calls.into();
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    operator_common::logging::init();
    let settings = Settings::read(&Env::from_env())?;
    let settings = &settings;
    lambda_runtime::run(service_fn(move |event| invocation(event, settings))).await
}
