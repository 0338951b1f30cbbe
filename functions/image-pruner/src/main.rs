//! The `image-pruner` Lambda function: the daily schedule and ECR push events → prune the
//! stack's repository (see lib.rs).

use image_pruner::aws::Clients;
use image_pruner::error::PruneError;
use image_pruner::settings::PrunerSettings;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;

/// Built on the first invocation, not at start: it reads the trust store (cold-start budget).
static CLIENTS: OnceCell<Clients> = OnceCell::const_new();

/// Returns the pruner's own error type, so that Lambda records its kind as `errorType`.
async fn invocation(
    settings: &PrunerSettings,
    event: LambdaEvent<Value>,
) -> Result<Value, PruneError> {
    let calls_before = operator_common::aws::api_calls();
    let clients = CLIENTS
        .get_or_init(|| async { Clients::new(operator_common::aws::config().await) })
        .await;
    let now_millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let outcome = image_pruner::handle(
        &event.payload,
        clients,
        settings,
        now_millis,
        &event.context.invoked_function_arn,
    )
    .await
    .inspect_err(|e| tracing::error!(error = %e, kind = e.kind(), "prune failed"))?;
    let mut response = serde_json::to_value(&outcome)?;
    response["aws_calls"] = (operator_common::aws::api_calls() - calls_before).into();
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    operator_common::logging::init();
    // A missing or malformed setting fails at start, naming it.
    let settings =
        PrunerSettings::from_env().inspect_err(|e| tracing::error!(error = %e, "bad settings"))?;
    let settings = &settings;
    lambda_runtime::run(service_fn(move |event| invocation(settings, event))).await
}
