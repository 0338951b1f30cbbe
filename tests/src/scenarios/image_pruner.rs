//! The image pruner's benchmark case and its step of the local demo.

use super::BenchCase;
use crate::moto::{process_env, workspace_root};
use crate::runtime_api::LambdaProcess;
use crate::world::World;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

/// Images in the benchmark's repository: the scale the pruner must handle in one invocation.
pub const BENCH_IMAGES: u32 = 10_000;

fn sample(name: &str) -> Result<Value, String> {
    let path = workspace_root().join("events/image-pruner").join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A repository of [`BENCH_IMAGES`] images and a service running one of them; the schedule
/// event; DRY_RUN so that both benchmark invocations see the same repository (moto deletes in
/// quadratic time: the deletion path is measured by the 2,500-image integration test).
/// The response's `decision_micros` is the time of the pure decision over all images.
pub async fn bench_case(w: &World) -> BenchCase {
    let (repository, _, props) = w.foundations().await;
    w.push_image(&repository, "latest", 1).await;
    w.create_service(&props).await;
    w.push_images(
        &repository,
        "build-",
        100_000..100_000 + BENCH_IMAGES - 1,
        8,
    )
    .await;
    BenchCase {
        env: vec![
            ("CLUSTER_NAME".into(), w.name("sky")),
            ("SERVICE_NAME".into(), w.name("web")),
            ("REPOSITORY_NAME".into(), repository),
            ("DRY_RUN".into(), "true".into()),
        ],
        event: sample("schedule.json").expect("events/image-pruner/schedule.json"),
    }
}

async fn images(w: &World, repository: &str) -> Result<BTreeSet<(String, String)>, String> {
    let out = w
        .clients
        .ecr
        .describe_images()
        .repository_name(repository)
        .send()
        .await
        .map_err(|e| format!("ecr:DescribeImages: {e:?}"))?;
    Ok(out
        .image_details()
        .iter()
        .map(|d| {
            (
                d.image_digest().unwrap_or_default().to_string(),
                d.image_tags().join(","),
            )
        })
        .collect())
}

/// The digest the service's task definition pins, if it pins one.
async fn running_digest(w: &World, cluster: &str, service: &str) -> Option<String> {
    let out = w
        .clients
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .ok()?;
    let td = out.services().first()?.task_definition()?.to_string();
    let out = w
        .clients
        .ecs
        .describe_task_definition()
        .task_definition(td)
        .send()
        .await
        .ok()?;
    let image = out
        .task_definition()?
        .container_definitions()
        .first()?
        .image()?;
    image.split_once('@').map(|(_, d)| d.to_string())
}

/// The demo step: 15 images pushed → pruned to 10 + the ones in use, through the real binary
/// on a push event, against an already deployed stack whose service runs an image of
/// `repository`.
pub async fn demo(
    w: &World,
    binary: &std::path::Path,
    repository: &str,
    cluster: &str,
    service: &str,
) -> Result<(), String> {
    let in_use = running_digest(w, cluster, service).await;
    // moto stamps pushes to the second: pushed a moment later, the 15 are all newer.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for seed in 7001..=7015u32 {
        w.push_image(repository, &format!("build-{}", seed - 7000), seed)
            .await;
    }
    let before = images(w, repository).await?;
    println!(
        "   pushed build-1 … build-15: {} images in {repository}",
        before.len()
    );
    let home = std::env::temp_dir().join("skyhigh-demo-home");
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let mut env = process_env(&w.endpoint, &home);
    env.extend([
        ("CLUSTER_NAME".to_string(), cluster.to_string()),
        ("SERVICE_NAME".to_string(), service.to_string()),
        ("REPOSITORY_NAME".to_string(), repository.to_string()),
        ("KEEP_IMAGES".to_string(), "10".to_string()),
    ]);
    let mut event = sample("push.json")?;
    event["detail"]["repository-name"] = repository.into();
    event["detail"]["image-tag"] = "build-15".into();
    if let Some((digest, _)) = before.iter().find(|(_, tags)| tags == "build-15") {
        event["detail"]["image-digest"] = digest.as_str().into();
    }
    let process = LambdaProcess::start(binary, "image-pruner", &env)
        .await
        .map_err(|e| format!("start image-pruner: {e}"))?;
    let outcome = process
        .runtime
        .invoke(event, Duration::from_secs(120))
        .await;
    process.stop().await;
    let out = match outcome {
        Some(Ok(out)) => out,
        Some(Err(e)) => return Err(format!("image-pruner failed: {e}")),
        None => return Err("image-pruner did not answer".into()),
    };
    let n = |k: &str| out[k].as_u64().unwrap_or_default();
    println!(
        "   image-pruner (push of build-15): seen {}, kept {} (newest {}, in use {}, rollback {}), deleted {} in {} BatchDeleteImage call(s), {} AWS calls, decision {} µs",
        n("seen"),
        n("kept"),
        n("kept_newest"),
        n("kept_in_use"),
        n("kept_rollback"),
        n("deleted"),
        out["deletion"]["calls"].as_array().map_or(0, Vec::len),
        n("aws_calls"),
        n("decision_micros"),
    );
    let after = images(w, repository).await?;
    let in_use_kept = in_use
        .as_ref()
        .is_some_and(|d| after.iter().any(|(digest, _)| digest == d));
    println!(
        "   {} images left: 10 newest + the ones in use; the running image …{} is {}",
        after.len(),
        in_use
            .as_deref()
            .map_or("(named by tag)", |d| &d[d.len().saturating_sub(12)..]),
        if in_use_kept || in_use.is_none() {
            "kept"
        } else {
            "GONE"
        }
    );
    if in_use.is_some() && !in_use_kept {
        return Err("the image in use was deleted".into());
    }
    Ok(())
}
