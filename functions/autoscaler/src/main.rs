//! The `autoscaler` Lambda function: the one-minute schedule and the service's CPU / memory alarm
//! state changes (the alarm's own Lambda action, or EventBridge "CloudWatch Alarm State
//! Change") → reconcile the service's desired count.

use autoscaler::error::AutoscalerError;
use autoscaler::settings::Settings;
use autoscaler::{Admission, Clients};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;

/// Built on the first invocation, not at start: it reads the trust store (cold-start budget).
static CLIENTS: OnceCell<Clients> = OnceCell::const_new();

async fn invocation(
    settings: &Settings,
    event: LambdaEvent<Value>,
) -> Result<Value, AutoscalerError> {
    let before = operator_common::aws::api_calls();
    // Decided from the event alone: a malformed or foreign event never reaches AWS.
    let outcome = match autoscaler::admit(&event.payload, settings) {
        Admission::Done(outcome) => outcome,
        Admission::Reconcile(trigger) => {
            let clients = CLIENTS
                .get_or_init(|| async { Clients::new(operator_common::aws::config().await) })
                .await;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or_default();
            autoscaler::reconcile(&trigger, clients, settings, now)
                .await
                .inspect_err(|e| tracing::error!(error_type = e.kind(), error = %e, "failed"))?
        }
    };
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
