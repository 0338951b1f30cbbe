//! The `autoscaler` Lambda function: CloudWatch CPU/memory alarm state changes (the alarm's
//! own Lambda action, or EventBridge "CloudWatch Alarm State Change") → scale the service.

use autoscaler::settings::Settings;
use autoscaler::Clients;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;

/// Built on the first invocation, not at start: it reads the trust store (cold-start budget).
static CLIENTS: OnceCell<Clients> = OnceCell::const_new();

async fn invocation(settings: &Settings, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let before = operator_common::aws::api_calls();
    // Parsed before the clients exist: a malformed event never reaches AWS.
    autoscaler::alarm::parse(&event.payload)?;
    let clients = CLIENTS
        .get_or_init(|| async { Clients::new(operator_common::aws::config().await) })
        .await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let outcome = autoscaler::handle(&event.payload, clients, settings, now).await?;
    Ok(serde_json::json!({
        "decision": outcome,
        "aws_calls": operator_common::aws::api_calls() - before,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    operator_common::logging::init();
    // A missing or malformed setting stops the function at start, naming the variable.
    let settings = Settings::from_env().inspect_err(|e| tracing::error!(error = %e, "settings"))?;
    let settings = &settings;
    lambda_runtime::run(service_fn(move |event| invocation(settings, event))).await
}
