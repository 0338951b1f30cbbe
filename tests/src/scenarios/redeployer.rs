//! The redeployer's scenarios: its events, its process, its benchmark and its demo step.

use super::BenchCase;
use crate::runtime_api::LambdaProcess;
use crate::world::World;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
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

/// The EventBridge event of the function's schedule (template.yaml: rate(5 minutes)).
pub fn schedule_event() -> Value {
    json!({"version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602", "detail-type": "Scheduled Event",
           "source": "aws.events", "account": crate::moto::ACCOUNT, "time": "2026-11-25T18:55:00Z",
           "region": crate::moto::REGION,
           "resources": [format!("arn:aws:events:{}:{}:rule/sky-high-booker-RedeployerFunctionReconcile-1Q2W3E4R5T6Y",
                                 crate::moto::REGION, crate::moto::ACCOUNT)],
           "detail": {}})
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

/// Build `seed` of the app: pushed as `build-<seed>` (which keeps it in the repository, as
/// real ECR keeps untagged images), then `latest` moved onto it. Returns its digest.
pub async fn release(w: &World, repository: &str, seed: u32) -> String {
    w.push_image(repository, &format!("build-{seed}"), seed)
        .await;
    w.push_image(repository, "latest", seed).await
}

/// Waits for the next whole second. ECR records push times in whole seconds (moto too): after
/// this, a push is seen as later than everything done before (a revision's `registeredAt`).
pub async fn next_second() {
    let into = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(1_010 - into))).await;
}

/// The redeployer's binary, built once per test process.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| crate::stack::build_function("redeployer"))
}

/// The redeployer's real binary behind a local Lambda Runtime API.
pub struct Redeployer {
    pub process: LambdaProcess,
}

impl Redeployer {
    pub async fn start(endpoint: &str, extra: Vec<(String, String)>) -> Redeployer {
        let home = std::env::temp_dir().join(format!("redeployer-home-{}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        let mut env = crate::moto::process_env(endpoint, &home);
        env.extend(extra);
        let process = LambdaProcess::start(binary(), "redeployer", &env)
            .await
            .unwrap();
        Redeployer { process }
    }

    /// One invocation: the function's response, or the error it reported to Lambda.
    pub async fn send(&self, event: Value) -> Result<Value, Value> {
        self.process
            .runtime
            .invoke(event, Duration::from_secs(90))
            .await
            .expect("the function answers")
    }

    pub async fn stop(self) {
        self.process.stop().await;
    }
}

/// The service's task definition and its app image (the first container's).
pub async fn service_image(w: &World) -> (String, String) {
    let out = w
        .clients
        .ecs()
        .describe_services()
        .cluster(w.name("sky"))
        .services(w.name("web"))
        .send()
        .await
        .unwrap();
    let td = out.services()[0].task_definition().unwrap().to_string();
    let def = w
        .clients
        .ecs()
        .describe_task_definition()
        .task_definition(&td)
        .send()
        .await
        .unwrap();
    let image = def.task_definition().unwrap().container_definitions()[0]
        .image()
        .unwrap()
        .to_string();
    (td, image)
}

/// How many revisions the service's family has.
pub async fn revisions(w: &World) -> usize {
    let out = w
        .clients
        .ecs()
        .list_task_definitions()
        .family_prefix(w.name("web"))
        .send()
        .await
        .unwrap();
    out.task_definition_arns().len()
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

/// Demo: push a new image of the tag the function tracks (`IMAGE_TAG` in `env`) → the service
/// rolls to it.
pub async fn demo(
    w: &World,
    binary: &Path,
    env: &[(String, String)],
    repository: &str,
    seed: u32,
) -> Result<Value, String> {
    let tag = env
        .iter()
        .find(|(k, _)| k == "IMAGE_TAG")
        .map_or("latest", |(_, v)| v.as_str());
    let digest = w.push_image(repository, tag, seed).await;
    println!("   pushed {repository}:{tag} ({digest})");
    let process = LambdaProcess::start(binary, "redeployer", env)
        .await
        .map_err(|e| e.to_string())?;
    let outcome = process
        .runtime
        .invoke(
            ecr_event("PUSH", repository, Some(tag), &digest),
            Duration::from_secs(60),
        )
        .await;
    process.stop().await;
    match outcome {
        Some(Ok(response)) => Ok(response),
        other => Err(format!("redeployer: {other:?}")),
    }
}
