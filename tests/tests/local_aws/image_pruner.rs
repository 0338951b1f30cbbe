//! The image pruner against moto, run as a process through the local Lambda Runtime API.
//!
//! moto's imagePushedAt has 1 s resolution: images pushed in a burst share a push time and the
//! pruner breaks the tie by digest. Tests that need a known "newest" set sleep 1.1 s between an
//! older and a newer group; the others only assert what holds whatever the tie-breaking.

use aws_sdk_ecs::types::ContainerDefinition;
use local_harness::moto::workspace_root;
use local_harness::scenarios::image_pruner as scenario;
use local_harness::scenarios::image_pruner::{
    now_millis, oci_image, push_event, push_multi_arch, put_manifest, sign, Pruner,
};
use local_harness::stack::{build_function, LocalStack};
use local_harness::strict;
use local_harness::world::World;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

fn sample(name: &str) -> Value {
    let path = workspace_root().join("events/image-pruner").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Runs the real binary once on `event`, with the world's names and `settings` added.
async fn prune(
    w: &World,
    repository: &str,
    settings: &[(&str, &str)],
    event: Value,
) -> Result<Value, Value> {
    let pruner = Pruner::start(w, repository, settings).await;
    let outcome = pruner.invoke(event).await;
    pruner.stop().await;
    outcome
}

async fn schedule(w: &World, repository: &str, settings: &[(&str, &str)]) -> Value {
    prune(w, repository, settings, sample("schedule.json"))
        .await
        .expect("the prune succeeds")
}

async fn repository(w: &World) -> String {
    let repo = w
        .create("Custom::Repository", "Repository", &w.repository_props())
        .await;
    assert!(repo.is_success(), "{}", repo.reason);
    repo.data("RepositoryName")
}

async fn digests(w: &World, repository: &str) -> BTreeSet<String> {
    let out = w
        .clients
        .ecr()
        .describe_images()
        .repository_name(repository)
        .send()
        .await
        .unwrap();
    out.image_details()
        .iter()
        .map(|d| d.image_digest().unwrap().to_string())
        .collect()
}

async fn push_many(w: &World, repository: &str, seeds: std::ops::Range<u32>) -> Vec<String> {
    let mut pushed = Vec::new();
    for seed in seeds {
        pushed.push(w.push_image(repository, &format!("v{seed}"), seed).await);
    }
    pushed
}

fn calls(outcome: &Value) -> Vec<u64> {
    outcome["deletion"]["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect()
}

/// Repository, cluster, load balancer (through the provisioner), an image tagged latest, and
/// the service running it pinned by digest. Returns (repository, repository URI, digest).
async fn service_running_an_image(w: &World) -> (String, String, String) {
    let (name, uri, props) = w.foundations().await;
    let running = w.push_image(&name, "latest", 1).await;
    w.create_service(&props).await;
    (name, uri, running)
}

#[tokio::test]
async fn fifteen_pushes_are_pruned_to_the_ten_newest() {
    let w = World::new().await;
    let repo = repository(&w).await;
    let old = push_many(&w, &repo, 100..105).await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // strictly newer push times
    let new = push_many(&w, &repo, 105..115).await;

    let out = schedule(&w, &repo, &[]).await;
    assert_eq!(out["trigger"], "schedule");
    assert_eq!(out["decision"], "pruned");
    assert_eq!(
        out["service_found"], false,
        "no service: only the newest are kept"
    );
    assert_eq!(
        (
            out["seen"].as_u64(),
            out["kept_newest"].as_u64(),
            out["deleted"].as_u64()
        ),
        (Some(15), Some(10), Some(5)),
        "{out}"
    );
    assert_eq!(calls(&out), vec![5]);
    assert!(out["aws_calls"].as_u64().unwrap() >= 3, "{out}");
    assert!(out["decision_micros"].is_u64());
    let left = digests(&w, &repo).await;
    assert_eq!(left, new.iter().cloned().collect());
    assert!(old.iter().all(|d| !left.contains(d)));

    // A second run finds nothing more to delete.
    let again = schedule(&w, &repo, &[]).await;
    assert_eq!(
        (again["seen"].as_u64(), again["deleted"].as_u64()),
        (Some(10), Some(0))
    );
    assert!(calls(&again).is_empty());
}

#[tokio::test]
async fn an_image_in_use_older_than_the_newest_ten_is_kept() {
    let w = World::new().await;
    let (repo, _, running) = service_running_an_image(&w).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // 15 pushes in a burst: the newest ten among them are chosen by digest on ties, which
    // does not matter here: all fifteen are newer than the image in use.
    let pushed = push_many(&w, &repo, 200..215).await;

    let out = prune(&w, &repo, &[], sample("push.json").tap_repository(&repo))
        .await
        .expect("the prune succeeds");
    assert_eq!(out["trigger"], "push");
    assert_eq!(out["decision"], "pruned");
    assert_eq!(out["service_found"], true);
    assert_eq!(out["kept_in_use"], 1, "{out}");
    assert_eq!(out["kept_newest"], 10, "{out}");
    assert_eq!(out["deleted"], 5, "{out}");
    let left = digests(&w, &repo).await;
    assert!(left.contains(&running), "the image the service runs stays");
    assert_eq!(left.len(), 11, "10 newest + the one in use");
    assert_eq!(pushed.iter().filter(|d| left.contains(*d)).count(), 10);
}

#[tokio::test]
async fn images_named_only_by_digest_or_by_a_rollback_revision_are_kept() {
    let w = World::new().await;
    let (repo, uri, running) = service_running_an_image(&w).await;
    // An untagged image named by digest, and a tagged one named by tag, each in a previous
    // revision of the service's family (registered after it: not current, kept for rollback).
    let untagged = "sha256:00000000000000000000000000000000000000000000000000000000000000d2";
    let manifest = json!({"schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": untagged, "size": 2,
                   "mediaType": "application/vnd.docker.container.image.v1+json"},
        "layers": []});
    w.clients
        .ecr()
        .put_image()
        .repository_name(&repo)
        .image_manifest(manifest.to_string())
        .image_digest(untagged)
        .send()
        .await
        .unwrap();
    let by_tag = w.push_image(&repo, "v-old", 4).await;
    let unreferenced = w.push_image(&repo, "v-mid", 6).await;
    let family = w.name("web");
    for image in [format!("{uri}@{untagged}"), format!("{uri}:v-old")] {
        w.clients
            .ecs()
            .register_task_definition()
            .family(&family)
            .container_definitions(
                ContainerDefinition::builder()
                    .name("web")
                    .image(image)
                    .memory(512)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    // KEEP_IMAGES=0 and an immediate untagged expiry: only references keep anything, so the
    // outcome does not depend on push times.
    let strict = [("KEEP_IMAGES", "0"), ("UNTAGGED_EXPIRY_DAYS", "0")];

    // Only the newest previous revision (v-old by tag), in a dry run: nothing is deleted.
    let mut one = strict.to_vec();
    one.extend([("KEEP_ROLLBACK_REVISIONS", "1"), ("DRY_RUN", "true")]);
    let dry = schedule(&w, &repo, &one).await;
    assert_eq!(
        (
            dry["kept_in_use"].as_u64(),
            dry["kept_rollback"].as_u64(),
            dry["deleted"].as_u64()
        ),
        (Some(1), Some(1), Some(2)),
        "{dry}"
    );
    assert!(calls(&dry).is_empty());
    assert_eq!(
        digests(&w, &repo).await.len(),
        4,
        "a dry run deletes nothing"
    );

    let out = schedule(&w, &repo, &strict).await;
    assert_eq!(
        (
            out["kept_in_use"].as_u64(),
            out["kept_rollback"].as_u64(),
            out["deleted"].as_u64()
        ),
        (Some(1), Some(2), Some(1)),
        "{out}"
    );
    let left = digests(&w, &repo).await;
    assert_eq!(
        left,
        BTreeSet::from([running, untagged.to_string(), by_tag]),
        "in use by digest, rollback by digest (untagged), rollback by tag"
    );
    assert!(!left.contains(&unreferenced));
}

#[tokio::test]
async fn a_dry_run_deletes_nothing() {
    let w = World::new().await;
    let repo = repository(&w).await;
    push_many(&w, &repo, 300..315).await;
    let out = schedule(&w, &repo, &[("DRY_RUN", "true")]).await;
    assert_eq!(out["dry_run"], true);
    assert_eq!(
        (out["kept_newest"].as_u64(), out["deleted"].as_u64()),
        (Some(10), Some(5))
    );
    assert!(calls(&out).is_empty(), "no BatchDeleteImage call");
    assert_eq!(digests(&w, &repo).await.len(), 15);
}

#[tokio::test]
async fn a_push_to_another_repository_is_ignored_and_other_events_are_rejected_without_aws_calls() {
    let w = World::new().await;
    let repo = repository(&w).await;
    push_many(&w, &repo, 400..412).await;
    let out = prune(
        &w,
        &repo,
        &[],
        sample("push.json").tap_repository("someone-else"),
    )
    .await
    .expect("ignored, not failed");
    assert_eq!(out["decision"], "ignored");
    assert_eq!(out["aws_calls"], 0);
    assert_eq!(digests(&w, &repo).await.len(), 12);

    // Not retried by Lambda: answered, with the reason, and nothing asked of AWS.
    for event in [
        json!({"RequestType": "Create"}),
        json!({"detail-type": "ECR Image Action", "source": "aws.ecr", "detail": {"result": "SUCCESS"}}),
    ] {
        let out = prune(&w, &repo, &[], event)
            .await
            .expect("a malformed event is answered, not failed");
        assert_eq!(out["decision"], "rejected", "{out}");
        assert_eq!(out["aws_calls"], 0);
        assert!(
            out["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{out}"
        );
    }
    assert_eq!(digests(&w, &repo).await.len(), 12);
}

#[tokio::test]
async fn an_aws_failure_reaches_lambda_with_its_kind_as_error_type() {
    let w = World::new().await;
    let err = prune(
        &w,
        &w.name("no-such-repository"),
        &[],
        sample("schedule.json"),
    )
    .await
    .expect_err("the repository does not exist");
    assert_eq!(err["errorType"], "AwsCallFailed", "{err}");
    let message = err["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("ecr:DescribeImages"), "{message}");
    assert!(message.contains("RepositoryNotFoundException"), "{message}");
}

#[tokio::test]
async fn a_push_that_a_later_prune_already_saw_is_skipped_with_one_call() {
    let w = World::new().await;
    let repo = repository(&w).await;
    let pushed = push_many(&w, &repo, 500..512).await;
    let pushed_at = now_millis() - 60_000;
    let event = push_event(&repo, &pushed[11], Some("v511"), pushed_at);

    let pruner = Pruner::start(&w, &repo, &[]).await;
    let first = pruner.invoke(event.clone()).await.expect("pruned");
    assert_eq!(first["decision"], "pruned", "{first}");
    assert!(
        first.get("last_run_started").is_none(),
        "no record before: {first}"
    );
    let recorded = first["recorded_run_started"]
        .as_str()
        .expect("recorded")
        .to_string();
    let tags = w
        .clients
        .ecr()
        .list_tags_for_resource()
        .resource_arn(format!(
            "arn:aws:ecr:us-east-1:123456789012:repository/{repo}"
        ))
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "skyhigh:image-pruner:last-run-started" && t.value() == recorded),
        "{tags:?}"
    );

    // The same event again (a duplicate), and an older one: skipped, one AWS call each.
    for late in [
        event,
        push_event(&repo, &pushed[0], Some("v500"), pushed_at - 5_000),
    ] {
        let out = pruner.invoke(late).await.expect("skipped");
        assert_eq!(out["decision"], "skipped", "{out}");
        assert_eq!(out["aws_calls"], 1, "ListTagsForResource only: {out}");
        assert_eq!(out["last_run_started"], recorded.as_str());
    }
    // A push after that prune started needs a prune; the schedule always prunes.
    let after = pruner
        .invoke(push_event(&repo, &pushed[1], Some("v501"), now_millis()))
        .await
        .expect("pruned");
    assert_eq!(after["decision"], "pruned", "{after}");
    let daily = pruner
        .invoke(sample("schedule.json"))
        .await
        .expect("pruned");
    assert_eq!(daily["decision"], "pruned", "{daily}");
    pruner.stop().await;
}

#[tokio::test]
async fn platform_manifests_and_signatures_of_kept_images_stay_the_rest_goes() {
    let w = World::new().await;
    let repo = repository(&w).await;
    let ecr = w.clients.ecr();
    // An old multi-arch image and its signatures, then a newer one with its own.
    let (old, old_children) = push_multi_arch(ecr, &repo, "v1", 900).await;
    let (old_referrer, old_sig) = sign(ecr, &repo, &old, 900).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (new, new_children) = push_multi_arch(ecr, &repo, "v2", 901).await;
    let (new_referrer, new_sig) = sign(ecr, &repo, &new, 901).await;
    let unreferenced = local_harness::scenarios::image_pruner::digest_of(9_999);
    put_manifest(ecr, &repo, &oci_image(&unreferenced), &unreferenced, None).await;
    assert_eq!(digests(&w, &repo).await.len(), 11);

    // Only the newest image is kept by the policy; untagged images expire at once.
    let strict = [("KEEP_IMAGES", "1"), ("UNTAGGED_EXPIRY_DAYS", "0")];
    let out = schedule(&w, &repo, &strict).await;
    assert_eq!(
        (
            out["kept_newest"].as_u64(),
            out["kept_platform_of_kept"].as_u64(),
            out["kept_referrer"].as_u64(),
            out["deleted"].as_u64()
        ),
        (Some(1), Some(2), Some(2), Some(6)),
        "{out}"
    );
    // Both indexes and every OCI manifest that may be a referrer were read.
    assert!(out["manifests_read"].as_u64().unwrap() >= 2, "{out}");
    // The index goes in a call of its own, before its children.
    assert_eq!(calls(&out), vec![1, 5], "{out}");
    let left = digests(&w, &repo).await;
    let kept: BTreeSet<String> = [new.clone(), new_referrer, new_sig]
        .into_iter()
        .chain(new_children)
        .collect();
    assert_eq!(left, kept);
    for gone in [old, old_referrer, old_sig, unreferenced]
        .into_iter()
        .chain(old_children)
    {
        assert!(
            !left.contains(&gone),
            "{gone} is deleted with the image it belongs to"
        );
    }
}

#[tokio::test]
async fn a_repository_of_2500_images_is_deleted_in_batches_of_at_most_100() {
    let w = World::new().await;
    let repo = repository(&w).await;
    w.push_images(&repo, "b", 1000..3500, 8).await;
    assert_eq!(digests(&w, &repo).await.len(), 2500);

    let out = schedule(&w, &repo, &[]).await;
    assert_eq!(
        (out["seen"].as_u64(), out["deleted"].as_u64()),
        (Some(2500), Some(2490)),
        "{out}"
    );
    let sizes = calls(&out);
    assert!(sizes.len() >= 25, "{sizes:?}");
    assert!(sizes.iter().all(|s| *s <= 100), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<u64>(), 2490);
    assert_eq!(digests(&w, &repo).await.len(), 10);
}

/// Sets the push event's repository-name.
trait TapRepository {
    fn tap_repository(self, repository: &str) -> Value;
}

impl TapRepository for Value {
    fn tap_repository(mut self, repository: &str) -> Value {
        self["detail"]["repository-name"] = repository.into();
        self
    }
}

/// The demo step against a service running an image of the repository (as after `sam deploy`).
#[tokio::test]
async fn the_demo_step_prunes_to_ten_plus_the_image_in_use() {
    let w = World::new().await;
    let (repo, _, running) = service_running_an_image(&w).await;
    let bin = build_function("image-pruner");
    let (cluster, service) = (w.name("sky"), w.name("web"));
    let env = scenario::local_env(&w, &repo, &cluster, &service).unwrap();
    scenario::demo(&w, &bin, &env, &repo, &cluster, &service)
        .await
        .expect("the demo step");
    let left = digests(&w, &repo).await;
    assert_eq!(left.len(), 11);
    assert!(left.contains(&running));
}

/// The pruner as template.yaml deploys it: its environment, and its own key, which the strict
/// layer authorizes by the function's `Policies` (evaluated as IAM does). Every call of the
/// push path, the skip path and the schedule is allowed.
#[tokio::test]
async fn the_pruner_runs_under_its_own_template_policy() {
    let w = World::new().await;
    let app = w.name("pruned");
    let mut stack = LocalStack::for_test(&w, &app, &[("KeepImages", "1")]).await;
    stack.create().await.unwrap();
    let env = stack.function_env("ImagePrunerFunction").unwrap();
    let key = env
        .iter()
        .find(|(k, _)| k == "AWS_ACCESS_KEY_ID")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(
        env.contains(&("REPOSITORY_NAME".to_string(), app.clone())),
        "{env:?}"
    );

    let ecr = w.clients.ecr();
    let (old, _) = push_multi_arch(ecr, &app, "v1", 700).await;
    sign(ecr, &app, &old, 700).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (new, _) = push_multi_arch(ecr, &app, "v2", 701).await;
    let pushed_at = now_millis();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let pruner = Pruner::start_with_env(&env).await;
    let push = push_event(&app, &new, Some("v2"), pushed_at);
    let out = pruner.invoke(push.clone()).await.expect("pruned");
    assert_eq!(out["decision"], "pruned", "{out}");
    // The old index and its tag-scheme signature; untagged manifests are a day's grace.
    assert_eq!(
        (
            out["deleted"].as_u64(),
            out["kept_recent_untagged"].as_u64()
        ),
        (Some(2), Some(5)),
        "{out}"
    );
    let again = pruner.invoke(push).await.expect("skipped");
    assert_eq!(again["decision"], "skipped", "{again}");
    let daily = pruner
        .invoke(sample("schedule.json"))
        .await
        .expect("pruned");
    assert_eq!(daily["decision"], "pruned", "{daily}");
    pruner.stop().await;

    let decisions = strict::decisions(&key);
    let denied: Vec<String> = decisions
        .iter()
        .filter(|d| !d.allowed())
        .map(|d| d.to_string())
        .collect();
    assert!(denied.is_empty(), "denied: {denied:#?}");
    let actions: BTreeSet<&str> = decisions.iter().map(|d| d.action.as_str()).collect();
    for needed in [
        "ecr:ListTagsForResource",
        "ecr:DescribeImages",
        "ecr:BatchGetImage",
        "ecr:BatchDeleteImage",
        "ecr:TagResource",
        "ecs:DescribeServices",
        "ecs:ListTasks",
        "ecs:DescribeTaskDefinition",
    ] {
        assert!(
            actions.contains(needed),
            "{needed} was not checked: {actions:?}"
        );
    }
    stack.stop().await;
}
