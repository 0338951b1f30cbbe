//! The `image-pruner` Lambda function: the daily schedule and ECR push events → prune the
//! stack's repository (see lib.rs).

use image_pruner::aws::Clients;
use image_pruner::error::PruneError;
use image_pruner::settings::Settings;
use image_pruner::{Decision, Outcome};
use operator_common::metrics::Metric;
use operator_common::runner::Invocation;
use std::time::{SystemTime, UNIX_EPOCH};

async fn invocation(invocation: Invocation<Settings, Clients>) -> Result<Outcome, PruneError> {
    let now_millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let outcome = image_pruner::handle_until(
        &invocation.payload,
        invocation.clients().await,
        invocation.settings,
        now_millis,
        i64::try_from(invocation.context.deadline).ok(),
        &invocation.context.invoked_function_arn,
    )
    .await?;
    for (metric, n) in metrics(&outcome) {
        operator_common::metrics::record(metric, n);
    }
    Ok(outcome)
}

/// The operator's metrics this outcome counts (operator-common's metrics.rs).
fn metrics(outcome: &Outcome) -> Vec<(Metric, u64)> {
    match outcome.decision {
        Decision::Pruned if !outcome.dry_run => {
            vec![(Metric::ImagesDeleted, outcome.counts.deleted as u64)]
        }
        Decision::Rejected => vec![(Metric::RejectedEvents, 1)],
        _ => Vec::new(),
    }
}

// One thread: see operator_common::runner on why.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    operator_common::runner::run(Clients::new, invocation).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_images_and_rejected_events_are_counted() {
        let mut o = Outcome {
            decision: Decision::Pruned,
            ..Outcome::default()
        };
        o.counts.deleted = 5;
        assert_eq!(metrics(&o), [(Metric::ImagesDeleted, 5)]);
        o.dry_run = true;
        assert_eq!(metrics(&o), []);
        o.decision = Decision::Rejected;
        assert_eq!(metrics(&o), [(Metric::RejectedEvents, 1)]);
        for quiet in [Decision::Skipped, Decision::Ignored] {
            o.decision = quiet;
            assert_eq!(metrics(&o), []);
        }
    }
}
