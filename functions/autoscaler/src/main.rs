//! The `autoscaler` Lambda function: the one-minute schedule and the service's CPU / memory alarm
//! state changes (the alarm's own Lambda action, or EventBridge "CloudWatch Alarm State
//! Change") → reconcile the service's desired count.

use autoscaler::error::AutoscalerError;
use autoscaler::settings::Settings;
use autoscaler::{Admission, Clients};
use operator_common::runner::Invocation;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

async fn invocation(invocation: Invocation<Settings, Clients>) -> Result<Value, AutoscalerError> {
    let settings = invocation.settings;
    // Decided from the event alone: a malformed or foreign event never reaches AWS.
    let outcome = match autoscaler::admit(&invocation.payload, settings) {
        Admission::Done(outcome) => outcome,
        Admission::Reconcile(trigger) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or_default();
            autoscaler::reconcile(&trigger, invocation.clients().await, settings, now).await?
        }
    };
    Ok(json!({ "decision": outcome }))
}

// One thread: see operator_common::runner on why.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    operator_common::runner::run(Clients::new, invocation).await
}
