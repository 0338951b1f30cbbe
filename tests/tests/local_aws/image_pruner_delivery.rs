//! The image pruner under real delivery: EventBridge delivers pushes at least once, late and
//! out of order; Lambda runs one invocation at a time (reserved concurrency 1) and retries a
//! failed one; AWS throttles, fails, and loses answers to calls that took effect. Streams of
//! events are generated (proptest strategies, a few cases: each runs against moto) and faults
//! are injected by the strict layer in front of moto.
//!
//! Properties: a burst of pushes, however delivered, leads to one prune; no image in use, kept
//! for rollback, among the newest, protected, a referrer of a kept image or a platform
//! manifest of a kept index is ever deleted; whatever fails, a retry converges.

use aws_sdk_ecs::types::ContainerDefinition;
use local_harness::scenarios::image_pruner::{
    now_millis, push_event, push_multi_arch, schedule_event, sign, Pruner,
};
use local_harness::strict::{self, Fault, FaultKind};
use local_harness::world::World;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const KEEP_IMAGES: usize = 3;
/// The settings of every test: a small KEEP_IMAGES, a protected tag, untagged images expire at
/// once (so that only the rules about indexes and referrers keep untagged manifests).
const SETTINGS: [(&str, &str); 4] = [
    ("KEEP_IMAGES", "3"),
    ("KEEP_ROLLBACK_REVISIONS", "1"),
    ("PROTECTED_TAGS", "stable"),
    ("UNTAGGED_EXPIRY_DAYS", "0"),
];

/// A repository as an app's CI leaves it, and a service running a signed multi-arch image.
struct Stage {
    w: World,
    repo: String,
    /// Digests that must survive every prune: the image in use (an index), its platform
    /// manifests and signatures, the image kept for rollback, the protected image.
    always: BTreeSet<String>,
    /// What belongs to each image pushed: its platform manifests and signatures.
    belongings: BTreeMap<String, Vec<String>>,
    seed: u64,
}

impl Stage {
    async fn new() -> Stage {
        let w = World::new().await;
        let (repo, uri, props) = w.foundations().await;
        let ecr = w.clients.ecr().clone();
        let (in_use, children) = push_multi_arch(&ecr, &repo, "latest", 1).await;
        let (referrer, sig) = sign(&ecr, &repo, &in_use, 1).await;
        w.create_service(&props).await;
        // A previous image that a newer revision of the family names (kept for rollback),
        // and a protected one.
        let rollback = w.push_image(&repo, "v0", 2).await;
        w.clients
            .ecs()
            .register_task_definition()
            .family(w.name("web"))
            .container_definitions(
                ContainerDefinition::builder()
                    .name("web")
                    .image(format!("{uri}@{rollback}"))
                    .memory(512)
                    .build(),
            )
            .send()
            .await
            .expect("a revision naming the rollback image");
        let stable = w.push_image(&repo, "stable", 3).await;
        let always = [in_use, referrer, sig, rollback, stable]
            .into_iter()
            .chain(children)
            .collect();
        Stage {
            w,
            repo,
            always,
            belongings: BTreeMap::new(),
            seed: 10,
        }
    }

    /// Pushes one image (multi-arch and signed, or plain) tagged `tag`; returns the push
    /// events ECR would send for it (one per manifest pushed).
    async fn push(&mut self, tag: &str, multi_arch: bool) -> Vec<Value> {
        self.seed += 1;
        let ecr = self.w.clients.ecr();
        let at = now_millis();
        if multi_arch {
            let (index, children) = push_multi_arch(ecr, &self.repo, tag, self.seed).await;
            let (referrer, sig) = sign(ecr, &self.repo, &index, self.seed).await;
            let mut events: Vec<Value> = children
                .iter()
                .chain([&referrer, &sig])
                .map(|d| push_event(&self.repo, d, None, at))
                .collect();
            events.push(push_event(&self.repo, &index, Some(tag), at));
            self.belongings
                .insert(index, children.into_iter().chain([referrer, sig]).collect());
            events
        } else {
            let digest = self.w.push_image(&self.repo, tag, self.seed as u32).await;
            self.belongings.insert(digest.clone(), vec![]);
            vec![push_event(&self.repo, &digest, Some(tag), at)]
        }
    }

    /// The repository now: digest → (tags, push time in ms).
    async fn images(&self) -> BTreeMap<String, (Vec<String>, i64)> {
        let out = self
            .w
            .clients
            .ecr()
            .describe_images()
            .repository_name(&self.repo)
            .send()
            .await
            .expect("DescribeImages");
        out.image_details()
            .iter()
            .map(|d| {
                (
                    d.image_digest().unwrap_or_default().to_string(),
                    (
                        d.image_tags().to_vec(),
                        d.image_pushed_at()
                            .and_then(|t| t.to_millis().ok())
                            .unwrap_or_default(),
                    ),
                )
            })
            .collect()
    }

    /// What a prune of `images` must leave, computed here independently of the pruner: the
    /// images always kept, the KEEP_IMAGES newest tagged app images (ties by digest), and
    /// what belongs to each of them.
    fn expected(&self, images: &BTreeMap<String, (Vec<String>, i64)>) -> BTreeSet<String> {
        let mut tagged: Vec<(&String, i64)> = images
            .iter()
            .filter(|(_, (tags, _))| {
                !tags.is_empty() && !tags.iter().all(|t| t.starts_with("sha256-"))
            })
            .map(|(d, (_, at))| (d, *at))
            .collect();
        tagged.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut keep = self.always.clone();
        for (d, _) in tagged.into_iter().take(KEEP_IMAGES) {
            keep.insert(d.clone());
            keep.extend(self.belongings.get(d).into_iter().flatten().cloned());
        }
        keep.retain(|d| images.contains_key(d));
        keep
    }
}

/// How one round of pushes is delivered.
#[derive(Debug, Clone)]
struct Round {
    /// One entry per image pushed: multi-arch (and signed) or plain.
    pushes: Vec<bool>,
    /// Extra deliveries of this round's events (indexes into them, modulo their number).
    duplicates: Vec<usize>,
    /// Late deliveries of earlier rounds' events.
    late: Vec<usize>,
    /// Every event of this round is lost: only the schedule prunes.
    dropped: bool,
    /// The order of delivery.
    shuffle: u64,
}

fn arb_round() -> impl Strategy<Value = Round> {
    (
        proptest::collection::vec(any::<bool>(), 1..4),
        proptest::collection::vec(0usize..32, 0..4),
        proptest::collection::vec(0usize..64, 0..3),
        proptest::bool::weighted(0.2),
        any::<u64>(),
    )
        .prop_map(|(pushes, duplicates, late, dropped, shuffle)| Round {
            pushes,
            duplicates,
            late,
            dropped,
            shuffle,
        })
}

/// A Fisher–Yates shuffle driven by `seed`.
fn shuffled<T>(mut items: Vec<T>, seed: u64) -> Vec<T> {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
    items
}

fn decision(outcome: &Value) -> &str {
    outcome["decision"].as_str().unwrap_or_default()
}

async fn run_stream(rounds: Vec<Round>) {
    let mut stage = Stage::new().await;
    let pruner = Pruner::start(&stage.w, &stage.repo, &SETTINGS).await;
    let mut delivered_before: Vec<Value> = Vec::new();
    for (r, round) in rounds.iter().enumerate() {
        let mut events = Vec::new();
        for (i, multi_arch) in round.pushes.iter().enumerate() {
            events.extend(stage.push(&format!("r{r}-{i}"), *multi_arch).await);
        }
        // Lambda's async delivery comes after the pushes; EventBridge's `time` is to the
        // second, so a prune that starts a second later has certainly seen them.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let before = stage.images().await;
        let expected = stage.expected(&before);

        let mut deliveries: Vec<Value> = Vec::new();
        if !round.dropped {
            deliveries.extend(events.iter().cloned());
            deliveries.extend(
                round
                    .duplicates
                    .iter()
                    .map(|&k| events[k % events.len()].clone()),
            );
        }
        if !delivered_before.is_empty() {
            deliveries.extend(
                round
                    .late
                    .iter()
                    .map(|&k| delivered_before[k % delivered_before.len()].clone()),
            );
        }
        let deliveries = shuffled(deliveries, round.shuffle);
        let reads_before = strict::calls("ecr:DescribeImages", &stage.repo);
        let mut decisions = Vec::new();
        for event in &deliveries {
            let out = pruner
                .invoke(event.clone())
                .await
                .unwrap_or_else(|e| panic!("round {r} of {rounds:?}: {event} failed: {e}"));
            decisions.push(decision(&out).to_string());
        }
        let prunes = decisions.iter().filter(|d| *d == "pruned").count();
        let reads = strict::calls("ecr:DescribeImages", &stage.repo) - reads_before;
        if round.dropped {
            assert_eq!(
                prunes, 0,
                "round {r}: only late events: {decisions:?} {rounds:?}"
            );
        } else {
            assert_eq!(
                prunes, 1,
                "round {r}: one prune per burst: {decisions:?} {rounds:?}"
            );
        }
        assert!(
            decisions.iter().all(|d| d == "pruned" || d == "skipped"),
            "{decisions:?}"
        );
        assert_eq!(reads, prunes, "round {r}: a skipped push reads nothing");

        // The daily schedule always prunes; after it the repository is exactly what the
        // rules keep (a dropped round is healed here).
        let daily = pruner.invoke(schedule_event()).await.expect("the schedule");
        assert_eq!(decision(&daily), "pruned");
        if !round.dropped {
            assert_eq!(
                daily["deleted"], 0,
                "the burst's prune left nothing: {daily}"
            );
        }
        let after: BTreeSet<String> = stage.images().await.into_keys().collect();
        for d in &expected {
            assert!(after.contains(d), "round {r}: {d} was deleted; {rounds:?}");
        }
        assert_eq!(after, expected, "round {r}: {rounds:?}");
        delivered_before.extend(events);
    }
    pruner.stop().await;
}

/// Streams of pushes (plain and multi-arch with signatures), delivered with duplicates, in
/// any order, with late events of earlier bursts, some bursts lost, and the daily schedule.
#[tokio::test]
async fn generated_streams_of_pushes_lead_to_one_prune_per_burst_and_keep_what_they_must() {
    let mut runner = TestRunner::new(Config::with_cases(2));
    let strategy = proptest::collection::vec(arb_round(), 2..4);
    for _ in 0..2 {
        let rounds = strategy
            .new_tree(&mut runner)
            .expect("a generated stream")
            .current();
        run_stream(rounds).await;
    }
}

// ---- Faults between the function and AWS ----

/// A stage with more images than the rules keep, and a push event for the newest.
async fn crowded() -> (Stage, Value, BTreeSet<String>) {
    let mut stage = Stage::new().await;
    for i in 0..4 {
        stage.push(&format!("old-{i}"), i % 2 == 0).await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let events = stage.push("new", false).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expected = stage.expected(&stage.images().await);
    (stage, events[0].clone(), expected)
}

fn fault(action: &str, stage: &Stage, kind: FaultKind, times: u32) -> Fault {
    Fault {
        action: action.into(),
        matching: stage.repo.clone(),
        kind,
        times,
    }
}

async fn record(stage: &Stage) -> Option<String> {
    let out = stage
        .w
        .clients
        .ecr()
        .list_tags_for_resource()
        .resource_arn(format!(
            "arn:aws:ecr:us-east-1:123456789012:repository/{}",
            stage.repo
        ))
        .send()
        .await
        .expect("ListTagsForResource");
    out.tags()
        .iter()
        .find(|t| t.key() == "skyhigh:image-pruner:last-run-started")
        .map(|t| t.value().to_string())
}

#[tokio::test]
async fn a_lost_answer_to_batch_delete_image_is_retried_and_the_prune_converges() {
    let (stage, push, expected) = crowded().await;
    let pruner = Pruner::start(&stage.w, &stage.repo, &SETTINGS).await;
    let deletes = strict::calls("ecr:BatchDeleteImage", &stage.repo);
    strict::inject(fault(
        "ecr:BatchDeleteImage",
        &stage,
        FaultKind::LostResponse,
        1,
    ));
    let out = pruner.invoke(push.clone()).await;
    // The deletion took effect; the SDK retried the call whose answer was lost, and ECR
    // answered ImageNotFound for what the first attempt had deleted.
    let out = out.expect("the SDK retries a lost answer");
    assert_eq!(decision(&out), "pruned", "{out}");
    assert!(out["deletion"]["not_found"].as_u64().unwrap() > 0, "{out}");
    assert!(strict::calls("ecr:BatchDeleteImage", &stage.repo) - deletes >= 2);
    let after: BTreeSet<String> = stage.images().await.into_keys().collect();
    assert_eq!(after, expected);
    // Lambda delivering the event again changes nothing.
    let again = pruner.invoke(push).await.expect("a duplicate");
    assert_eq!(decision(&again), "skipped", "{again}");
    pruner.stop().await;
}

#[tokio::test]
async fn a_throttled_describe_images_is_retried_by_the_sdk() {
    let (stage, push, expected) = crowded().await;
    let pruner = Pruner::start(&stage.w, &stage.repo, &SETTINGS).await;
    let reads = strict::calls("ecr:DescribeImages", &stage.repo);
    strict::inject(fault("ecr:DescribeImages", &stage, FaultKind::Throttle, 1));
    let out = pruner.invoke(push).await.expect("pruned after one retry");
    assert_eq!(decision(&out), "pruned", "{out}");
    assert_eq!(strict::calls("ecr:DescribeImages", &stage.repo) - reads, 2);
    let after: BTreeSet<String> = stage.images().await.into_keys().collect();
    assert_eq!(after, expected);
    pruner.stop().await;
}

#[tokio::test]
async fn when_reading_keeps_failing_nothing_is_deleted_and_lambdas_retry_prunes() {
    let (stage, push, expected) = crowded().await;
    let before: BTreeSet<String> = stage.images().await.into_keys().collect();
    let pruner = Pruner::start(&stage.w, &stage.repo, &SETTINGS).await;
    // More throttles than the SDK's three attempts, then a 5xx on the manifests' read.
    strict::inject(fault("ecr:DescribeImages", &stage, FaultKind::Throttle, 3));
    let err = pruner
        .invoke(push.clone())
        .await
        .expect_err("throttled out");
    assert_eq!(err["errorType"], "AwsCallFailed", "{err}");
    assert!(
        err["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("ecr:DescribeImages")),
        "{err}"
    );
    strict::inject(fault(
        "ecr:BatchGetImage",
        &stage,
        FaultKind::ServerError,
        3,
    ));
    let err = pruner.invoke(push.clone()).await.expect_err("5xx out");
    assert_eq!(err["errorType"], "AwsCallFailed", "{err}");
    let unchanged: BTreeSet<String> = stage.images().await.into_keys().collect();
    assert_eq!(unchanged, before, "nothing is deleted on a partial read");
    assert_eq!(record(&stage).await, None, "a failed prune is not recorded");

    // Lambda's retry of the same event prunes.
    let out = pruner.invoke(push).await.expect("the retry prunes");
    assert_eq!(decision(&out), "pruned", "{out}");
    let after: BTreeSet<String> = stage.images().await.into_keys().collect();
    assert_eq!(after, expected);
    pruner.stop().await;
}

#[tokio::test]
async fn a_prune_whose_record_failed_is_redone_harmlessly_by_the_retry() {
    let (stage, push, expected) = crowded().await;
    let pruner = Pruner::start(&stage.w, &stage.repo, &SETTINGS).await;
    strict::inject(fault("ecr:TagResource", &stage, FaultKind::ServerError, 3));
    let err = pruner
        .invoke(push.clone())
        .await
        .expect_err("the record fails");
    assert_eq!(err["errorType"], "AwsCallFailed", "{err}");
    assert!(
        err["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("ecr:TagResource")),
        "{err}"
    );
    let after: BTreeSet<String> = stage.images().await.into_keys().collect();
    assert_eq!(after, expected, "the deletions were made before the record");
    assert_eq!(record(&stage).await, None);

    let out = pruner.invoke(push.clone()).await.expect("the retry prunes");
    assert_eq!(decision(&out), "pruned", "{out}");
    assert_eq!(out["deleted"], 0, "{out}");
    assert!(record(&stage).await.is_some());
    let again = pruner.invoke(push).await.expect("a duplicate");
    assert_eq!(decision(&again), "skipped", "{again}");
    let after: BTreeSet<String> = stage.images().await.into_keys().collect();
    assert_eq!(after, expected);
    pruner.stop().await;
}
