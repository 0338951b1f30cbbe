//! The `image-pruner` Lambda function: the daily schedule and ECR push events → prune the
//! stack's repository (see lib.rs).

use image_pruner::aws::Clients;
use image_pruner::error::PruneError;
use image_pruner::settings::PrunerSettings;
use image_pruner::Outcome;
use operator_common::runner::Invocation;
use std::time::{SystemTime, UNIX_EPOCH};

async fn invocation(
    invocation: Invocation<PrunerSettings, Clients>,
) -> Result<Outcome, PruneError> {
    let now_millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    image_pruner::handle(
        &invocation.payload,
        invocation.clients().await,
        invocation.settings,
        now_millis,
        &invocation.context.invoked_function_arn,
    )
    .await
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    operator_common::runner::run(Clients::new, invocation).await
}
