//! Real delivery for the redeployer: generated streams of pushes, retags and tag deletes whose
//! events arrive duplicated, reordered or never, with faults injected between the function and
//! the local AWS (throttling, 5xx, an answer lost after the call took effect) and Lambda's
//! retries played as Lambda plays them (two more attempts, then the event is dropped).
//!
//! Property: after the stream and one scheduled reconcile, the service runs exactly what the
//! tag points to (or, the tag deleted, what it ran), a second reconcile changes nothing, and no
//! image was ever registered twice (registrations ≤ distinct digests deployed).
//!
//! Each case runs the real binary against moto (one process per case), so the case count is
//! modest; the same rules are checked over thousands of histories by the pure model in
//! functions/redeployer/src/decide.rs.

use local_harness::scenarios::redeployer::{
    ecr_event, foundations, schedule_event, service_image, settings, Redeployer,
};
use local_harness::strict::{self, Fault, FaultKind};
use local_harness::world::World;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The calls a fault can be put on, as IAM names them.
const ACTIONS: [&str; 6] = [
    "ecr:DescribeImages",
    "ecs:DescribeServices",
    "ecs:ListTaskDefinitions",
    "ecs:RegisterTaskDefinition",
    "ecs:UpdateService",
    "ecs:TagResource",
];

#[derive(Debug, Clone)]
enum Step {
    /// Build `seed` gets `latest`: a push the first time (events for `build-<seed>` and
    /// `latest`), a retag of the old image later (event for `latest`).
    Tag(u32),
    /// `latest` is deleted (event: DELETE latest).
    Untag,
    /// A pending event is delivered (and kept for another delivery when `again`), possibly
    /// with one fault on one call.
    Deliver {
        pick: usize,
        again: bool,
        fault: Option<(usize, FaultKind, u32)>,
    },
    /// A pending event is lost.
    Drop { pick: usize },
}

fn kind() -> impl Strategy<Value = FaultKind> {
    prop_oneof![
        Just(FaultKind::Throttle),
        Just(FaultKind::ServerError),
        Just(FaultKind::LostResponse),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1u32..=4).prop_map(Step::Tag),
        1 => Just(Step::Untag),
        5 => (any::<usize>(), any::<bool>(), proptest::option::weighted(0.6, (0..ACTIONS.len(), kind(), 1u32..=3)))
            .prop_map(|(pick, again, fault)| Step::Deliver { pick, again, fault }),
        1 => any::<usize>().prop_map(|pick| Step::Drop { pick }),
    ]
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

/// Every revision of the service's family: ARN → the app container's image.
async fn family(w: &World) -> BTreeMap<String, String> {
    let arns = w
        .clients
        .ecs()
        .list_task_definitions()
        .family_prefix(w.name("web"))
        .send()
        .await
        .unwrap()
        .task_definition_arns()
        .to_vec();
    let mut images = BTreeMap::new();
    for arn in arns {
        let td = w
            .clients
            .ecs()
            .describe_task_definition()
            .task_definition(&arn)
            .send()
            .await
            .unwrap();
        let image = td.task_definition().unwrap().container_definitions()[0]
            .image()
            .unwrap()
            .to_string();
        images.insert(arn, image);
    }
    images
}

/// Lambda's asynchronous invocation: the event, and up to two retries while it fails.
async fn invoke_as_lambda(f: &Redeployer, event: &Value) -> Result<Value, TestCaseError> {
    let mut last = None;
    for _ in 0..3 {
        match f.send(event.clone()).await {
            Ok(r) => {
                prop_assert_ne!(&r["decision"], "rejected", "{}", r);
                return Ok(r);
            }
            Err(e) => {
                FAILED.fetch_add(1, Ordering::SeqCst);
                prop_assert_eq!(&e["errorType"], "AwsCallFailed", "{}", e);
                last = Some(e);
            }
        }
    }
    // Dropped after its retries (on AWS: recorded on the on-failure queue).
    Ok(last.unwrap_or_default())
}

/// The call a fault can safely target in this delivery: one the reconcile will make, judged
/// from the state before it (so that no fault is left over for a later call).
fn fault_target(index: usize, will_deploy: bool, will_register: bool) -> &'static str {
    let action = ACTIONS[index];
    match action {
        "ecs:ListTaskDefinitions" | "ecs:UpdateService" | "ecs:TagResource" if will_deploy => {
            action
        }
        "ecs:RegisterTaskDefinition" if will_register => action,
        "ecr:DescribeImages" => action,
        _ => "ecs:DescribeServices",
    }
}

async fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let w = World::new().await;
    let (repository, _) = foundations(&w).await;
    let uri = format!(
        "{}.dkr.ecr.{}.amazonaws.com/{repository}",
        local_harness::moto::ACCOUNT,
        local_harness::moto::REGION
    );
    let f = Redeployer::start(
        &w.endpoint,
        settings(&w.name("sky"), &w.name("web"), &repository),
    )
    .await;
    let initial = family(&w).await.len();
    let mut pushed: BTreeMap<u32, String> = BTreeMap::new();
    let mut tag: Option<u32> = None;
    let mut pending: Vec<Value> = Vec::new();
    for step in steps {
        match step {
            Step::Tag(seed) if tag == Some(seed) => {
                // Pushing what the tag already holds: ECR refuses; EventBridge may still repeat.
                pending.push(ecr_event(
                    "PUSH",
                    &repository,
                    Some("latest"),
                    &pushed[&seed],
                ));
            }
            Step::Tag(seed) => {
                if let std::collections::btree_map::Entry::Vacant(new) = pushed.entry(seed) {
                    let build = format!("build-{seed}");
                    let digest = w.push_image(&repository, &build, seed).await;
                    pending.push(ecr_event("PUSH", &repository, Some(&build), &digest));
                    new.insert(digest);
                }
                w.push_image(&repository, "latest", seed).await;
                pending.push(ecr_event(
                    "PUSH",
                    &repository,
                    Some("latest"),
                    &pushed[&seed],
                ));
                tag = Some(seed);
            }
            Step::Untag => {
                if let Some(seed) = tag.take() {
                    w.clients
                        .ecr()
                        .batch_delete_image()
                        .repository_name(&repository)
                        .image_ids(
                            aws_sdk_ecr::types::ImageIdentifier::builder()
                                .image_tag("latest")
                                .build(),
                        )
                        .send()
                        .await
                        .unwrap();
                    pending.push(ecr_event(
                        "DELETE",
                        &repository,
                        Some("latest"),
                        &pushed[&seed],
                    ));
                }
            }
            Step::Drop { pick } if !pending.is_empty() => {
                pending.remove(pick % pending.len());
            }
            Step::Deliver { pick, again, fault } if !pending.is_empty() => {
                let at = pick % pending.len();
                let event = if again {
                    pending[at].clone()
                } else {
                    pending.remove(at)
                };
                if let Some((index, kind, times)) = fault {
                    let wanted = tag.map(|s| format!("{uri}@{}", pushed[&s]));
                    let running = service_image(&w).await.1;
                    let will_deploy = wanted.as_ref().is_some_and(|i| *i != running);
                    let will_register = will_deploy
                        && !family(&w)
                            .await
                            .values()
                            .any(|i| Some(i) == wanted.as_ref());
                    let action = fault_target(index, will_deploy, will_register);
                    // Not retried by the SDK (not idempotent), and a lost answer is one call.
                    let times = if action == "ecs:RegisterTaskDefinition"
                        || kind == FaultKind::LostResponse
                    {
                        1
                    } else {
                        times
                    };
                    let matching = if action.starts_with("ecr:") {
                        repository.clone()
                    } else {
                        w.name("web")
                    };
                    FAULTS.fetch_add(1, Ordering::SeqCst);
                    strict::inject(Fault {
                        action: action.into(),
                        matching,
                        kind,
                        times,
                    });
                }
                invoke_as_lambda(&f, &event).await?;
            }
            Step::Drop { .. } | Step::Deliver { .. } => {}
        }
    }
    // Whatever is still pending is lost. The schedule runs once.
    let before = service_image(&w).await.1;
    let healed = f.send(schedule_event()).await;
    prop_assert!(healed.is_ok(), "{:?}", healed);
    let after = service_image(&w).await.1;
    match tag {
        Some(seed) => prop_assert_eq!(&after, &format!("{uri}@{}", pushed[&seed])),
        None => prop_assert_eq!(&after, &before, "a deleted tag moves nothing"),
    }
    let again = f.send(schedule_event()).await;
    prop_assert_eq!(
        &again.as_ref().map(|r| r["decision"].clone()),
        &Ok(Value::from("nothing")),
        "{:?}",
        again
    );

    let revisions = family(&w).await;
    let registered = revisions.len() - initial;
    let distinct: BTreeSet<&String> = revisions.values().filter(|i| i.contains('@')).collect();
    prop_assert_eq!(
        registered,
        distinct.len(),
        "an image registered twice: {:?}",
        revisions
    );
    f.stop().await;
    Ok(())
}

/// Over all cases: faults injected, and invocations they made fail (so the property was
/// checked against failures, not only clean runs).
static FAULTS: AtomicUsize = AtomicUsize::new(0);
static FAILED: AtomicUsize = AtomicUsize::new(0);

#[test]
fn the_service_ends_on_the_tags_digest_whatever_the_delivery() {
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 24,
        max_shrink_iters: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let outcome = runner.run(&proptest::collection::vec(step(), 1..16), |steps| {
        runtime().block_on(run(steps))
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    let (faults, failed) = (FAULTS.load(Ordering::SeqCst), FAILED.load(Ordering::SeqCst));
    eprintln!("{faults} faults injected, {failed} invocations failed");
    assert!(
        faults > 0 && failed > 0,
        "{faults} faults, {failed} failed invocations"
    );
}
