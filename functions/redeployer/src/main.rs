//! The `redeployer` Lambda function (EventBridge: ECR Image Action and a schedule).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use operator_common::settings::Settings as Env;
use redeployer::error::RedeployError;
use redeployer::{handle, settings::Settings, Clients, Decision};
use serde_json::Value;
use tokio::sync::OnceCell;

/// Built on the first event that matters, not at start (cold-start budget).
static CLIENTS: OnceCell<Clients> = OnceCell::const_new();

async fn clients() -> &'static Clients {
    CLIENTS
        .get_or_init(|| async { Clients::new(operator_common::aws::config().await) })
        .await
}

/// Errors reach Lambda as `RedeployError`, so that `errorType` names their kind.
async fn invocation(
    event: LambdaEvent<Value>,
    settings: &Settings,
) -> Result<Value, RedeployError> {
    let before = operator_common::aws::api_calls();
    let result = handle(&event.payload, settings, clients).await;
    let aws_calls = operator_common::aws::api_calls() - before;
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::error!(error_type = e.kind(), error = %e, aws_calls, "reconcile failed");
            return Err(e);
        }
    };
    if outcome.decision == Decision::Rejected {
        // Logged once here, answered successfully: Lambda must not retry what will never parse.
        let mut shown = event.payload.to_string();
        if shown.len() > 2048 {
            let end = (0..=2048)
                .rev()
                .find(|i| shown.is_char_boundary(*i))
                .unwrap_or(0);
            shown.truncate(end);
            shown.push('…');
        }
        tracing::error!(why = %outcome.why, event = %shown, "rejected event (not retried)");
    } else {
        tracing::info!(
            decision = ?outcome.decision,
            trigger = outcome.trigger.unwrap_or(""),
            event_digest = outcome.event_digest.as_deref().unwrap_or(""),
            tag_digest = outcome.tag_digest.as_deref().unwrap_or(""),
            running = outcome.running.as_deref().unwrap_or(""),
            task_definition = outcome.task_definition.as_deref().unwrap_or(""),
            reused = outcome.reused.unwrap_or(false),
            why = %outcome.why,
            aws_calls,
            "reconciled"
        );
    }
    let mut response = serde_json::to_value(&outcome).unwrap_or_default();
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
