//! The image pruner's benchmark case, its step of the local demo, and what its tests share:
//! the function run as Lambda runs it (one process, one invocation at a time: reserved
//! concurrency 1), real-shaped push events, and images of every kind ECR holds (multi-arch
//! indexes, OCI referrers, cosign's tag-scheme signatures).

use super::BenchCase;
use crate::moto::{process_env, workspace_root};
use crate::runtime_api::{LambdaProcess, Outcome};
use crate::stack::build_function;
use crate::world::World;
use aws_sdk_ecr::primitives::{DateTime, DateTimeFormat};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The pruner's binary, started once; invocations are served one at a time, as with the
/// template's reserved concurrency of 1.
pub struct Pruner {
    process: LambdaProcess,
}

impl Pruner {
    /// Starts the pruner against `w`'s local AWS for `repository`, the world's cluster and
    /// service, and `settings` on top.
    pub async fn start(w: &World, repository: &str, settings: &[(&str, &str)]) -> Pruner {
        let home = std::env::temp_dir().join(format!("image-pruner-home-{}", w.id));
        std::fs::create_dir_all(&home).expect("a HOME for the function");
        let mut env = process_env(&w.endpoint, &home);
        for (k, v) in [
            ("CLUSTER_NAME", w.name("sky")),
            ("SERVICE_NAME", w.name("web")),
            ("REPOSITORY_NAME", repository.to_string()),
            // moto's BatchDeleteImage deletes by list index while it iterates: concurrent
            // calls on one repository lose deletions there (ECR serves them concurrently).
            ("DELETE_CALLS_IN_FLIGHT", "1".to_string()),
        ] {
            env.push((k.into(), v));
        }
        env.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Pruner::start_with_env(&env).await
    }

    /// Starts the pruner with exactly `env` (e.g. a deployed template's, signing with the
    /// function's own key, bound to its policy by the strict layer).
    pub async fn start_with_env(env: &[(String, String)]) -> Pruner {
        let bin = build_function("image-pruner");
        let process = LambdaProcess::start(&bin, "image-pruner", env)
            .await
            .expect("start image-pruner");
        Pruner { process }
    }

    /// One invocation: the answer (Ok) or the error Lambda records (Err, with `errorType`).
    pub async fn invoke(&self, event: Value) -> Outcome {
        self.process
            .runtime
            .invoke(event, Duration::from_secs(240))
            .await
            .unwrap_or_else(|| {
                panic!(
                    "no answer; init error {:?}",
                    self.process.runtime.init_error()
                )
            })
    }

    pub async fn stop(self) {
        self.process.stop().await;
    }
}

/// ms since the Unix epoch.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A real-shaped "ECR Image Action" push event, its `time` stamped to the second as
/// EventBridge does.
pub fn push_event(repository: &str, digest: &str, tag: Option<&str>, at_millis: i64) -> Value {
    let time = DateTime::from_secs(at_millis.div_euclid(1000))
        .fmt(DateTimeFormat::DateTime)
        .expect("a time EventBridge can stamp");
    let mut detail = json!({"result": "SUCCESS", "repository-name": repository,
        "image-digest": digest, "action-type": "PUSH"});
    if let Some(tag) = tag {
        detail["image-tag"] = tag.into();
    }
    json!({"version": "0", "id": format!("push-{digest}-{at_millis}"),
        "detail-type": "ECR Image Action", "source": "aws.ecr", "account": "123456789012",
        "time": time, "region": "us-east-1", "resources": [], "detail": detail})
}

/// The daily schedule's event.
pub fn schedule_event() -> Value {
    sample("schedule.json").expect("events/image-pruner/schedule.json")
}

/// A digest for test manifests: `sha256:` and 64 hex digits from `seed` (moto derives
/// colliding digests when none is given).
pub fn digest_of(seed: u64) -> String {
    format!(
        "sha256:{:064x}",
        seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
    )
}

/// Puts `manifest` under `digest` (and `tag`); moto stores it as given, without checking that
/// an index's manifests or a referrer's subject exist (ECR checks the former).
pub async fn put_manifest(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    manifest: &Value,
    digest: &str,
    tag: Option<&str>,
) {
    ecr.put_image()
        .repository_name(repository)
        .image_manifest(manifest.to_string())
        .image_digest(digest)
        .set_image_tag(tag.map(str::to_string))
        .send()
        .await
        .expect("put_image");
}

/// An OCI image manifest (one platform's image; unique by its digest).
pub fn oci_image(digest: &str) -> Value {
    json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest, "size": 2},
        "layers": []})
}

/// An OCI image index naming `children` (linux/amd64, linux/arm64, …).
pub fn oci_index(children: &[String]) -> Value {
    let manifests: Vec<Value> = children
        .iter()
        .zip(["amd64", "arm64", "s390x", "ppc64le"].iter().cycle())
        .map(|(d, arch)| {
            json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": d, "size": 2, "platform": {"os": "linux", "architecture": arch}})
        })
        .collect();
    json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests})
}

/// An OCI 1.1 referrer of `subject` (a signature: `artifactType`, empty config, `subject`).
pub fn oci_referrer(own: &str, subject: &str) -> Value {
    json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                   "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": own, "size": 2}],
        "subject": {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": subject, "size": 2}})
}

/// What a multi-architecture push leaves in ECR: two platform manifests (untagged) and the
/// index that names them, tagged. Returns (index, children).
pub async fn push_multi_arch(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    tag: &str,
    seed: u64,
) -> (String, Vec<String>) {
    let children = vec![digest_of(seed * 10 + 1), digest_of(seed * 10 + 2)];
    for c in &children {
        put_manifest(ecr, repository, &oci_image(c), c, None).await;
    }
    let index = digest_of(seed * 10);
    put_manifest(ecr, repository, &oci_index(&children), &index, Some(tag)).await;
    (index, children)
}

/// A signature of `subject` pushed the OCI 1.1 way (untagged, `subject`) and one pushed the
/// cosign tag-scheme way (`sha256-<hex>.sig`). Returns (referrer, tag-scheme signature).
pub async fn sign(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    subject: &str,
    seed: u64,
) -> (String, String) {
    let referrer = digest_of(seed * 10 + 5);
    put_manifest(
        ecr,
        repository,
        &oci_referrer(&referrer, subject),
        &referrer,
        None,
    )
    .await;
    let tagged = digest_of(seed * 10 + 6);
    let scheme_tag = format!("{}.sig", subject.replacen(':', "-", 1));
    put_manifest(
        ecr,
        repository,
        &oci_image(&tagged),
        &tagged,
        Some(&scheme_tag),
    )
    .await;
    (referrer, tagged)
}

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
        .ecr()
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
        .ecs()
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .ok()?;
    let td = out.services().first()?.task_definition()?.to_string();
    let out = w
        .clients
        .ecs()
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

/// The pruner's environment against the local AWS with the harness's own (unrestricted) key.
pub fn local_env(
    w: &World,
    repository: &str,
    cluster: &str,
    service: &str,
) -> Result<Vec<(String, String)>, String> {
    let home = std::env::temp_dir().join("skyhigh-demo-home");
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let mut env = process_env(&w.endpoint, &home);
    env.extend([
        ("CLUSTER_NAME".to_string(), cluster.to_string()),
        ("SERVICE_NAME".to_string(), service.to_string()),
        ("REPOSITORY_NAME".to_string(), repository.to_string()),
        ("KEEP_IMAGES".to_string(), "10".to_string()),
        // See Pruner::start: moto loses deletions under concurrent calls.
        ("DELETE_CALLS_IN_FLIGHT".to_string(), "1".to_string()),
    ]);
    Ok(env)
}

/// The demo step: 15 images pushed → pruned to 10 + the ones in use, through the real binary
/// on a push event, against an already deployed stack whose service runs an image of
/// `repository`.
/// `env` is the function's whole environment: [`local_env`], or the template's own
/// (`LocalStack::function_env`), which runs it under its policy.
pub async fn demo(
    w: &World,
    binary: &std::path::Path,
    env: &[(String, String)],
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
    let digest = before
        .iter()
        .find(|(_, tags)| tags == "build-15")
        .map(|(d, _)| d.clone())
        .ok_or("build-15 is not in the repository")?;
    let event = push_event(repository, &digest, Some("build-15"), now_millis());
    let process = LambdaProcess::start(binary, "image-pruner", env)
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
