//! The redeployer as Lambda runs it (its real binary behind a local Runtime API) against the
//! local AWS: whatever the event, the service ends on what the tracked tag points to.

use aws_sdk_ecr::types::ImageIdentifier;
use local_harness::http::{HttpResponse, Server};
use local_harness::moto;
use local_harness::scenarios::redeployer::{
    ecr_event, foundations, next_second, release, revisions, schedule_event, service_image,
    settings, Redeployer,
};
use local_harness::strict::{self, Fault, FaultKind};
use local_harness::world::World;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

async fn setup() -> (World, String, Value, Redeployer) {
    let w = World::new().await;
    let (repository, props) = foundations(&w).await;
    let f = Redeployer::start(&w.endpoint, function_settings(&w, &repository)).await;
    (w, repository, props, f)
}

fn function_settings(w: &World, repository: &str) -> Vec<(String, String)> {
    settings(&w.name("sky"), &w.name("web"), repository)
}

fn uri(repository: &str) -> String {
    format!(
        "{}.dkr.ecr.{}.amazonaws.com/{repository}",
        moto::ACCOUNT,
        moto::REGION
    )
}

fn calls(response: &Value) -> u64 {
    response["aws_calls"].as_u64().expect("aws_calls")
}

#[tokio::test]
async fn a_push_rolls_the_service_onto_exactly_that_image_once() {
    let (w, repository, _, f) = setup().await;
    let digest = release(&w, &repository, 11).await;
    let event = ecr_event("PUSH", &repository, Some("latest"), &digest);

    let response = f.send(event.clone()).await.unwrap();
    assert_eq!(response["decision"], "deployed", "{response}");
    assert_eq!(response["reused"], false, "{response}");
    let (td, image) = service_image(&w).await;
    assert_eq!(
        image,
        format!("{}@{digest}", uri(&repository)),
        "pinned by digest"
    );
    assert_eq!(
        response["task_definition"],
        json!(td),
        "the service is on the new revision"
    );
    // DescribeImages, DescribeServices, DescribeTaskDefinition (what runs), ListTaskDefinitions,
    // RegisterTaskDefinition, UpdateService, TagResource (the record of the roll).
    assert_eq!(calls(&response), 7, "{response}");
    let def = w
        .clients
        .ecs()
        .describe_task_definition()
        .task_definition(&td)
        .send()
        .await
        .unwrap();
    let c = &def.task_definition().unwrap().container_definitions()[0];
    assert_eq!(
        c.environment()[0].value(),
        Some("production"),
        "the rest of the revision is copied"
    );

    // The same event again (EventBridge delivers at least once): nothing changes.
    let before = revisions(&w).await;
    let again = f.send(event).await.unwrap();
    assert_eq!(again["decision"], "nothing", "{again}");
    assert!(
        again["why"].as_str().unwrap().contains("already on"),
        "{again}"
    );
    // DescribeImages and DescribeServices; the running revision is remembered.
    assert_eq!(calls(&again), 2, "{again}");
    assert_eq!(revisions(&w).await, before, "no new revision");
    f.stop().await;
}

#[tokio::test]
async fn a_late_event_deploys_what_the_tag_points_to_now() {
    let (w, repository, _, f) = setup().await;
    let older = release(&w, &repository, 21).await;
    let newer = release(&w, &repository, 22).await;

    // The older push's event arrives after the tag moved on: the tag's digest is deployed.
    let late = f
        .send(ecr_event("PUSH", &repository, Some("latest"), &older))
        .await
        .unwrap();
    assert_eq!(late["decision"], "deployed", "{late}");
    assert_eq!(late["tag_digest"], json!(newer));
    assert!(
        late["why"]
            .as_str()
            .unwrap()
            .contains("no longer holds the tag"),
        "{late}"
    );
    assert!(service_image(&w).await.1.ends_with(&newer));
    // Then the newer push's own event: already done.
    let on_time = f
        .send(ecr_event("PUSH", &repository, Some("latest"), &newer))
        .await
        .unwrap();
    assert_eq!(on_time["decision"], "nothing", "{on_time}");
    assert!(service_image(&w).await.1.ends_with(&newer));
    f.stop().await;
}

#[tokio::test]
async fn a_rollback_by_retag_rolls_back_onto_the_revision_that_ran_it() {
    let (w, repository, _, f) = setup().await;
    let good = release(&w, &repository, 31).await;
    let first = f
        .send(ecr_event("PUSH", &repository, Some("latest"), &good))
        .await
        .unwrap();
    let good_revision = first["task_definition"].clone();
    let bad = release(&w, &repository, 32).await;
    f.send(ecr_event("PUSH", &repository, Some("latest"), &bad))
        .await
        .unwrap();
    assert!(service_image(&w).await.1.ends_with(&bad));
    let before = revisions(&w).await;

    // `latest` moved back onto the good image: its push time is still its first push's.
    w.push_image(&repository, "latest", 31).await;
    let back = f
        .send(ecr_event("PUSH", &repository, Some("latest"), &good))
        .await
        .unwrap();
    assert_eq!(back["decision"], "deployed", "{back}");
    assert_eq!(back["reused"], true, "{back}");
    assert_eq!(back["task_definition"], good_revision);
    assert!(service_image(&w).await.1.ends_with(&good));
    assert_eq!(
        revisions(&w).await,
        before,
        "no revision registered for a rollback"
    );
    // DescribeImages, DescribeServices, ListTaskDefinitions, UpdateService, TagResource: both
    // revisions are remembered by the warm function.
    assert_eq!(calls(&back), 5, "{back}");
    f.stop().await;
}

#[tokio::test]
async fn a_cold_process_reads_older_revisions_only_for_an_image_that_may_have_run_before() {
    let (w, repository, _, warm) = setup().await;
    let mut digests = Vec::new();
    for seed in [41, 42, 43] {
        let digest = release(&w, &repository, seed).await;
        let deployed = warm
            .send(ecr_event("PUSH", &repository, Some("latest"), &digest))
            .await
            .unwrap();
        assert_eq!(deployed["decision"], "deployed", "{deployed}");
        digests.push(digest);
    }
    warm.stop().await;
    let cold = || Redeployer::start(&w.endpoint, function_settings(&w, &repository));

    // An image first pushed after the running revision was registered: no older one can run it.
    next_second().await;
    let new = release(&w, &repository, 44).await;
    let f = cold().await;
    let pushed = f
        .send(ecr_event("PUSH", &repository, Some("latest"), &new))
        .await
        .unwrap();
    f.stop().await;
    assert_eq!(pushed["decision"], "deployed", "{pushed}");
    assert_eq!(pushed["reused"], false, "{pushed}");
    // DescribeImages and DescribeServices, then DescribeTaskDefinition (what runs) with
    // ListTaskDefinitions, RegisterTaskDefinition, UpdateService, TagResource: none of the
    // three older revisions is read.
    assert_eq!(calls(&pushed), 7, "{pushed}");

    // A retag of an older image (its push time stays the first push's): the older revisions
    // are read, and the one that ran it is rolled onto again.
    let before = revisions(&w).await;
    w.push_image(&repository, "latest", 42).await;
    let f = cold().await;
    let back = f
        .send(ecr_event("PUSH", &repository, Some("latest"), &digests[1]))
        .await
        .unwrap();
    f.stop().await;
    assert_eq!(back["decision"], "deployed", "{back}");
    assert_eq!(back["reused"], true, "{back}");
    assert!(calls(&back) > 7, "{back}");
    assert_eq!(revisions(&w).await, before, "no revision registered");
    assert!(service_image(&w).await.1.ends_with(&digests[1]));
}

#[tokio::test]
async fn a_failed_early_listing_fails_nothing_that_did_not_need_it() {
    let (w, repository, _, warm) = setup().await;
    let digest = release(&w, &repository, 51).await;
    let event = ecr_event("PUSH", &repository, Some("latest"), &digest);
    let deployed = warm.send(event.clone()).await.unwrap();
    assert_eq!(deployed["decision"], "deployed", "{deployed}");
    warm.stop().await;

    // The same push again, to a cold process (a duplicate delivery): it lists the family early,
    // and that listing fails past the SDK's retries. Nothing was to be deployed, so nothing fails.
    strict::inject(Fault {
        action: "ecs:ListTaskDefinitions".into(),
        matching: w.name("web"),
        kind: FaultKind::ServerError,
        times: 3,
    });
    let f = Redeployer::start(&w.endpoint, function_settings(&w, &repository)).await;
    let again = f.send(event).await.expect("no failure");
    f.stop().await;
    assert_eq!(again["decision"], "nothing", "{again}");
    assert_eq!(
        strict::calls("ecs:ListTaskDefinitions", &w.name("web")),
        3 + 1,
        "the warm deploy's listing and the cold one's three attempts"
    );
}

#[tokio::test]
async fn a_retry_after_a_partial_failure_reuses_the_registered_revision() {
    let (w, repository, _, f) = setup().await;
    let (initial, _) = service_image(&w).await;
    let digest = release(&w, &repository, 41).await;
    let event = ecr_event("PUSH", &repository, Some("latest"), &digest);
    // UpdateService fails on every attempt the SDK makes (3): the revision is registered,
    // the service is not moved.
    strict::inject(Fault {
        action: "ecs:UpdateService".into(),
        matching: w.name("web"),
        kind: FaultKind::ServerError,
        times: 3,
    });
    let err = f
        .send(event.clone())
        .await
        .expect_err("the invocation fails");
    assert_eq!(err["errorType"], "AwsCallFailed", "{err}");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("ecs:UpdateService failed"),
        "{err}"
    );
    assert_eq!(
        service_image(&w).await.0,
        initial,
        "the service did not move"
    );
    let registered = revisions(&w).await;
    f.stop().await;

    // Lambda's retry lands on a fresh execution environment: it finds the revision and reuses it.
    let retry = Redeployer::start(&w.endpoint, function_settings(&w, &repository)).await;
    let done = retry.send(event).await.unwrap();
    assert_eq!(done["decision"], "deployed", "{done}");
    assert_eq!(done["reused"], true, "{done}");
    assert_eq!(revisions(&w).await, registered, "not registered again");
    assert!(service_image(&w).await.1.ends_with(&digest));
    // DescribeImages, DescribeServices, DescribeTaskDefinition (what runs), ListTaskDefinitions,
    // DescribeTaskDefinition (the newest revision: reusable), UpdateService, TagResource.
    assert_eq!(calls(&done), 7, "{done}");
    retry.stop().await;
}

#[tokio::test]
async fn a_circuit_breaker_rollback_is_not_fought() {
    let (w, repository, _, f) = setup().await;
    let good = release(&w, &repository, 43).await;
    let first = f
        .send(ecr_event("PUSH", &repository, Some("latest"), &good))
        .await
        .unwrap();
    let good_revision = first["task_definition"].as_str().unwrap().to_string();
    let bad = release(&w, &repository, 44).await;
    let rolled = f
        .send(ecr_event("PUSH", &repository, Some("latest"), &bad))
        .await
        .unwrap();
    assert_eq!(rolled["decision"], "deployed", "{rolled}");
    // The bad image's tasks never start: the circuit breaker rolls the service back (here
    // played by the test; moto has no circuit breaker) and the failed deployment drains.
    w.clients
        .ecs()
        .update_service()
        .cluster(w.name("sky"))
        .service(w.name("web"))
        .task_definition(&good_revision)
        .send()
        .await
        .unwrap();
    let quiet = f.send(schedule_event()).await.unwrap();
    assert_eq!(quiet["decision"], "nothing", "{quiet}");
    assert!(
        quiet["why"].as_str().unwrap().contains("rolled back"),
        "{quiet}"
    );
    assert_eq!(
        service_image(&w).await.0,
        good_revision,
        "the rollback stands"
    );
    // A fix is pushed: it is rolled out.
    let fix = release(&w, &repository, 46).await;
    let fixed = f
        .send(ecr_event("PUSH", &repository, Some("latest"), &fix))
        .await
        .unwrap();
    assert_eq!(fixed["decision"], "deployed", "{fixed}");
    assert!(service_image(&w).await.1.ends_with(&fix));
    f.stop().await;
}

#[tokio::test]
async fn a_roll_whose_record_failed_is_recorded_by_the_retry() {
    let (w, repository, _, f) = setup().await;
    let before = release(&w, &repository, 48).await;
    f.send(ecr_event("PUSH", &repository, Some("latest"), &before))
        .await
        .unwrap();
    let (initial, _) = service_image(&w).await;
    let digest = release(&w, &repository, 47).await;
    let event = ecr_event("PUSH", &repository, Some("latest"), &digest);
    strict::inject(Fault {
        action: "ecs:TagResource".into(),
        matching: w.name("web"),
        kind: FaultKind::Throttle,
        times: 3,
    });
    let err = f.send(event.clone()).await.expect_err("the record failed");
    assert_eq!(err["errorType"], "AwsCallFailed", "{err}");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("ecs:TagResource"),
        "{err}"
    );
    let (rolled_onto, image) = service_image(&w).await;
    assert!(
        image.ends_with(&digest),
        "the service moved before the record failed"
    );
    // Lambda's retry: nothing to deploy, the record is written.
    let retry = f.send(event).await.unwrap();
    assert_eq!(retry["decision"], "nothing", "{retry}");
    assert!(
        retry["why"].as_str().unwrap().contains("repaired"),
        "{retry}"
    );
    // So a circuit-breaker rollback of that roll is still known as one.
    w.clients
        .ecs()
        .update_service()
        .cluster(w.name("sky"))
        .service(w.name("web"))
        .task_definition(&initial)
        .send()
        .await
        .unwrap();
    let quiet = f.send(schedule_event()).await.unwrap();
    assert_eq!(quiet["decision"], "nothing", "{quiet}");
    assert!(
        quiet["why"].as_str().unwrap().contains(&rolled_onto),
        "{quiet}"
    );
    f.stop().await;
}

#[tokio::test]
async fn a_lost_answer_to_the_registration_is_healed_without_a_second_revision() {
    let (w, repository, _, f) = setup().await;
    let digest = release(&w, &repository, 45).await;
    let before = revisions(&w).await;
    strict::inject(Fault {
        action: "ecs:RegisterTaskDefinition".into(),
        matching: w.name("web"),
        kind: FaultKind::LostResponse,
        times: 1,
    });
    let err = f
        .send(ecr_event("PUSH", &repository, Some("latest"), &digest))
        .await
        .expect_err("the registration's answer was lost");
    assert_eq!(err["errorType"], "AwsCallFailed", "{err}");
    assert_eq!(
        revisions(&w).await,
        before + 1,
        "registered once, not retried blindly"
    );
    let healed = f.send(schedule_event()).await.unwrap();
    assert_eq!(healed["decision"], "deployed", "{healed}");
    assert_eq!(healed["reused"], true, "{healed}");
    assert_eq!(revisions(&w).await, before + 1);
    assert!(service_image(&w).await.1.ends_with(&digest));
    f.stop().await;
}

#[tokio::test]
async fn the_schedule_heals_a_lost_push() {
    let (w, repository, _, f) = setup().await;
    let digest = release(&w, &repository, 51).await;
    // The push's event never arrives.
    let healed = f.send(schedule_event()).await.unwrap();
    assert_eq!(healed["decision"], "deployed", "{healed}");
    assert_eq!(healed["trigger"], "schedule");
    assert!(service_image(&w).await.1.ends_with(&digest));
    let quiet = f.send(schedule_event()).await.unwrap();
    assert_eq!(quiet["decision"], "nothing", "{quiet}");
    f.stop().await;
}

#[tokio::test]
async fn a_deleted_tag_changes_nothing_and_says_so() {
    let (w, repository, _, f) = setup().await;
    let digest = release(&w, &repository, 61).await;
    f.send(ecr_event("PUSH", &repository, Some("latest"), &digest))
        .await
        .unwrap();
    let before = (revisions(&w).await, service_image(&w).await);
    w.clients
        .ecr()
        .batch_delete_image()
        .repository_name(&repository)
        .image_ids(ImageIdentifier::builder().image_tag("latest").build())
        .send()
        .await
        .unwrap();
    for event in [
        ecr_event("DELETE", &repository, Some("latest"), &digest),
        schedule_event(),
    ] {
        let r = f.send(event).await.unwrap();
        assert_eq!(r["decision"], "nothing", "{r}");
        assert!(
            r["why"].as_str().unwrap().contains("not in the repository"),
            "{r}"
        );
    }
    assert_eq!((revisions(&w).await, service_image(&w).await), before);
    f.stop().await;
}

#[tokio::test]
async fn events_that_cannot_move_the_tag_are_ignored_without_a_call() {
    let (w, repository, _, f) = setup().await;
    let digest = w.push_image(&repository, "feature-x", 71).await;
    let before = (revisions(&w).await, service_image(&w).await);
    let events = [
        ecr_event("PUSH", "some-other-repository", Some("latest"), &digest),
        ecr_event("DELETE", &repository, Some("feature-x"), &digest),
        ecr_event("DELETE", &repository, None, &digest),
        ecr_event("STORAGE_CLASS_CHANGE", &repository, None, &digest),
        ecr_event("PUSH", &repository, None, &digest),
    ];
    for event in events {
        let r = f.send(event.clone()).await.unwrap();
        assert_eq!(r["decision"], "ignored", "{event}: {r}");
        assert_eq!(r["aws_calls"], 0, "decided from the event alone");
    }
    // A push of another tag may have come with the tracked one: it looks, and finds nothing.
    let other_tag = f
        .send(ecr_event("PUSH", &repository, Some("feature-x"), &digest))
        .await
        .unwrap();
    assert_eq!(other_tag["decision"], "nothing", "{other_tag}");
    assert!(
        other_tag["why"]
            .as_str()
            .unwrap()
            .contains("not in the repository"),
        "no `latest` pushed yet: {other_tag}"
    );
    assert_eq!((revisions(&w).await, service_image(&w).await), before);
    f.stop().await;
}

#[tokio::test]
async fn a_malformed_event_is_rejected_once_without_a_call_and_not_retried() {
    // Point the function at a closed port: any AWS call would fail.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let f = Redeployer::start(
        &format!("http://127.0.0.1:{closed}"),
        settings("sky", "web", "sky-high-booker"),
    )
    .await;
    for event in [
        json!({"source": "aws.ecr", "detail-type": "ECR Image Action", "detail": {"repository-name": "x"}}),
        json!({"hello": "world"}),
        json!([1, 2, 3]),
        json!({"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "my.app",
               "account": "1", "time": "2026-11-25T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {}}),
    ] {
        let r = f
            .send(event.clone())
            .await
            .expect("answered, so that Lambda does not retry it");
        assert_eq!(r["decision"], "rejected", "{event}: {r}");
        assert_eq!(r["aws_calls"], 0, "{event}: {r}");
    }
    f.stop().await;
}

#[tokio::test]
async fn aws_errors_reach_lambda_with_their_kind() {
    // An endpoint that always answers 500: the SDK retries (3 attempts per call), then the
    // invocation fails with errorType AwsCallFailed, so that Lambda retries the event.
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let failing = Server::start(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
        async {
            HttpResponse {
                status: 500,
                headers: vec![("content-type".into(), "application/x-amz-json-1.1".into())],
                body: br#"{"__type":"ServerException","message":"internal failure"}"#.to_vec(),
            }
        }
    })
    .await
    .unwrap();
    let f = Redeployer::start(
        &format!("http://127.0.0.1:{}", failing.port),
        settings("sky", "web", "sky-high-booker"),
    )
    .await;
    let err = f
        .send(schedule_event())
        .await
        .expect_err("reported as an error");
    assert_eq!(err["errorType"], "AwsCallFailed", "{err}");
    let message = err["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("ecr:DescribeImages failed")
            || message.contains("ecs:DescribeServices failed"),
        "{err}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        6,
        "two reads at once, each with the SDK's 3 attempts"
    );
    f.stop().await;

    // A service that is not there: AWS answered, a person must look.
    let w = World::new().await;
    let (repository, _) = foundations(&w).await;
    release(&w, &repository, 81).await;
    let lost = Redeployer::start(
        &w.endpoint,
        settings(&w.name("sky"), "no-such-service", &repository),
    )
    .await;
    let err = lost.send(schedule_event()).await.expect_err("unusable");
    assert_eq!(err["errorType"], "Unusable", "{err}");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("no-such-service"),
        "{err}"
    );
    lost.stop().await;
}

#[tokio::test]
async fn a_later_stack_update_keeps_the_pushed_digest() {
    let (w, repository, props, f) = setup().await;
    let digest = release(&w, &repository, 91).await;
    f.send(ecr_event("PUSH", &repository, Some("latest"), &digest))
        .await
        .unwrap();
    let arn = {
        let out = w
            .clients
            .ecs()
            .describe_services()
            .cluster(w.name("sky"))
            .services(w.name("web"))
            .send()
            .await
            .unwrap();
        out.services()[0].service_arn().unwrap().to_string()
    };
    // sam deploy with an unrelated change (more memory), the image properties untouched.
    let mut new = props.clone();
    new["Memory"] = json!("2048");
    let updated = w
        .update("Custom::Service", "Service", &arn, &props, &new)
        .await;
    assert!(updated.is_success(), "{}", updated.reason);
    let (td, image) = service_image(&w).await;
    assert!(
        image.ends_with(&format!("@{digest}")),
        "the pushed digest stays: {image}"
    );
    let def = w
        .clients
        .ecs()
        .describe_task_definition()
        .task_definition(&td)
        .send()
        .await
        .unwrap();
    assert_eq!(def.task_definition().unwrap().memory(), Some("2048"));
    // The next reconcile finds the service on the tag's digest: nothing to do.
    let after = f.send(schedule_event()).await.unwrap();
    assert_eq!(after["decision"], "nothing", "{after}");
    f.stop().await;
}
