//! The redeployer's scenarios: an ECR push event, its benchmark, and its demo step.

use super::BenchCase;
use crate::runtime_api::LambdaProcess;
use crate::world::World;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// The EventBridge event ECR sends for a push (or, with `action`, a delete).
pub fn ecr_event(action: &str, repository: &str, tag: Option<&str>, digest: &str) -> Value {
    let mut detail = json!({"result": "SUCCESS", "repository-name": repository, "image-digest": digest, "action-type": action});
    if let Some(tag) = tag {
        detail["image-tag"] = json!(tag);
    }
    json!({"version": "0", "id": format!("{:x}", digest.len() * 7919 + repository.len()), "detail-type": "ECR Image Action",
           "source": "aws.ecr", "account": crate::moto::ACCOUNT, "time": "2026-11-25T18:54:34Z",
           "region": crate::moto::REGION, "resources": [], "detail": detail})
}

/// The function's settings for a service deployed with these names.
pub fn settings(cluster: &str, service: &str, repository: &str) -> Vec<(String, String)> {
    [
        ("CLUSTER_NAME", cluster),
        ("SERVICE_NAME", service),
        ("REPOSITORY_NAME", repository),
        ("IMAGE_TAG", "latest"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A deployed service. Returns (repository name, service properties).
pub async fn foundations(w: &World) -> (String, Value) {
    let (repository, _, props) = w.foundations().await;
    w.create_service(&props).await;
    (repository, props)
}

/// One common-path push: the service runs an older digest, a newer one is pushed.
pub async fn bench_case(w: &World) -> BenchCase {
    let (repository, _) = foundations(w).await;
    let digest = w.push_image(&repository, "latest", 1).await;
    BenchCase {
        env: settings(&w.name("sky"), &w.name("web"), &repository),
        event: ecr_event("PUSH", &repository, Some("latest"), &digest),
    }
}

/// Demo: push a new image → the service rolls to it.
pub async fn demo(
    w: &World,
    binary: &Path,
    env: &[(String, String)],
    repository: &str,
    seed: u32,
) -> Result<Value, String> {
    let digest = w.push_image(repository, "latest", seed).await;
    println!("   pushed {repository}:latest ({digest})");
    let process = LambdaProcess::start(binary, "redeployer", env)
        .await
        .map_err(|e| e.to_string())?;
    let outcome = process
        .runtime
        .invoke(
            ecr_event("PUSH", repository, Some("latest"), &digest),
            Duration::from_secs(60),
        )
        .await;
    process.stop().await;
    match outcome {
        Some(Ok(response)) => Ok(response),
        other => Err(format!("redeployer: {other:?}")),
    }
}
