//! The `redeployer` Lambda function (EventBridge: ECR Image Action and a schedule).

use operator_common::runner::Invocation;
use redeployer::error::RedeployError;
use redeployer::{handle, settings::Settings, Clients, Decision, Outcome};

async fn invocation(invocation: Invocation<Settings, Clients>) -> Result<Outcome, RedeployError> {
    let event = &invocation.payload;
    let outcome = handle(event, invocation.settings, || invocation.clients()).await?;
    if let Some(metric) = outcome.decision.metric() {
        operator_common::metrics::record(metric, 1);
    }
    if outcome.decision == Decision::Rejected {
        // Logged once here, answered successfully: Lambda must not retry what will never parse.
        let mut shown = event.to_string();
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
            "reconciled"
        );
    }
    Ok(outcome)
}

// One thread: see operator_common::runner on why.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    operator_common::runner::run(Clients::new, invocation).await
}
