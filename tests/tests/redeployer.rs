//! The redeployer as Lambda runs it (its real binary behind a local Runtime API) against moto.

use local_harness::http::{HttpResponse, Server};
use local_harness::moto;
use local_harness::runtime_api::LambdaProcess;
use local_harness::scenarios::redeployer::{ecr_event, foundations, settings};
use local_harness::stack::build_function;
use local_harness::world::World;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct Redeployer {
    process: LambdaProcess,
}

impl Redeployer {
    async fn start(endpoint: &str, extra: Vec<(String, String)>) -> Redeployer {
        let home = std::env::temp_dir().join(format!("redeployer-home-{}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        let mut env = moto::process_env(endpoint, &home);
        env.extend(extra);
        let process = LambdaProcess::start(&build_function("redeployer"), "redeployer", &env)
            .await
            .unwrap();
        Redeployer { process }
    }

    async fn send(&self, event: Value) -> Result<Value, Value> {
        self.process
            .runtime
            .invoke(event, Duration::from_secs(90))
            .await
            .expect("the function answers")
    }
}

async fn service_image(w: &World) -> (String, String) {
    let out = w
        .clients
        .ecs
        .describe_services()
        .cluster(w.name("sky"))
        .services(w.name("web"))
        .send()
        .await
        .unwrap();
    let td = out.services()[0].task_definition().unwrap().to_string();
    let def = w
        .clients
        .ecs
        .describe_task_definition()
        .task_definition(&td)
        .send()
        .await
        .unwrap();
    (
        td,
        def.task_definition().unwrap().container_definitions()[0]
            .image()
            .unwrap()
            .to_string(),
    )
}

async fn revisions(w: &World) -> usize {
    let out = w
        .clients
        .ecs
        .list_task_definitions()
        .family_prefix(w.name("web"))
        .send()
        .await
        .unwrap();
    out.task_definition_arns().len()
}

async fn setup() -> (World, String, Value, Redeployer) {
    let w = World::new().await;
    let (repository, props) = foundations(&w).await;
    let f = Redeployer::start(
        &w.endpoint,
        settings(&w.name("sky"), &w.name("web"), &repository),
    )
    .await;
    (w, repository, props, f)
}

#[tokio::test]
async fn a_push_rolls_the_service_onto_exactly_that_image_once() {
    let (w, repository, _, f) = setup().await;
    let uri = format!(
        "{}.dkr.ecr.{}.amazonaws.com/{repository}",
        moto::ACCOUNT,
        moto::REGION
    );
    let digest = w.push_image(&repository, "latest", 11).await;
    let event = ecr_event("PUSH", &repository, Some("latest"), &digest);

    let response = f.send(event.clone()).await.unwrap();
    assert_eq!(response["decision"], "deployed", "{response}");
    let (td, image) = service_image(&w).await;
    assert_eq!(
        image,
        format!("{uri}@{digest}"),
        "pinned by the event's digest"
    );
    assert_eq!(
        response["task_definition"],
        json!(td),
        "the service is on the new revision"
    );
    let calls = response["aws_calls"].as_u64().unwrap();
    assert!(calls <= 4, "{calls} AWS calls for one push");
    let def = w
        .clients
        .ecs
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
    assert_eq!(again["decision"], "ignored", "{again}");
    assert!(again["why"].as_str().unwrap().contains("already runs"));
    assert_eq!(revisions(&w).await, before, "no new revision");
    f.process.stop().await;
}

#[tokio::test]
async fn a_late_event_for_an_older_push_never_rolls_back() {
    let (w, repository, _, f) = setup().await;
    let older = w.push_image(&repository, "latest", 21).await;
    // A second tag keeps the older image in moto once `latest` moves on (as real ECR keeps it untagged).
    w.push_image(&repository, "v1", 21).await;
    // ECR's imagePushedAt has one-second resolution: keep the two pushes in different seconds.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let newer = w.push_image(&repository, "latest", 22).await;

    let first = f
        .send(ecr_event("PUSH", &repository, Some("latest"), &newer))
        .await
        .unwrap();
    assert_eq!(first["decision"], "deployed");
    let late = f
        .send(ecr_event("PUSH", &repository, Some("latest"), &older))
        .await
        .unwrap();
    assert_eq!(late["decision"], "ignored", "{late}");
    assert!(
        late["why"].as_str().unwrap().contains("late event"),
        "{late}"
    );
    assert!(service_image(&w).await.1.ends_with(&newer));
    f.process.stop().await;
}

#[tokio::test]
async fn other_tags_repositories_and_actions_are_ignored() {
    let (w, repository, _, f) = setup().await;
    let digest = w.push_image(&repository, "feature-x", 31).await;
    let before = (revisions(&w).await, service_image(&w).await);
    let events = [
        ecr_event("PUSH", &repository, Some("feature-x"), &digest),
        ecr_event("PUSH", "some-other-repository", Some("latest"), &digest),
        ecr_event("DELETE", &repository, Some("latest"), &digest),
        ecr_event("STORAGE_CLASS_CHANGE", &repository, None, &digest),
    ];
    for event in events {
        let r = f.send(event.clone()).await.unwrap();
        assert_eq!(r["decision"], "ignored", "{event}: {r}");
        assert_eq!(r["aws_calls"], 0, "decided from the event alone");
    }
    assert_eq!((revisions(&w).await, service_image(&w).await), before);
    f.process.stop().await;
}

#[tokio::test]
async fn a_malformed_event_is_a_clear_error_and_calls_nothing() {
    // Point the function at a closed port: any AWS call would fail differently.
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
        json!({"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events", "account": "1",
               "time": "2026-11-25T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {}}),
    ] {
        let err = f
            .send(event.clone())
            .await
            .expect_err("an error, so it shows in the function's metrics");
        let message = err["errorMessage"].as_str().unwrap_or_default();
        assert!(
            message.contains("not an ECR Image Action event"),
            "{event}: {err}"
        );
    }
    f.process.stop().await;
}

#[tokio::test]
async fn aws_errors_are_retried_by_the_sdk_then_reported() {
    // An ECS endpoint that always answers 500: the SDK retries (3 attempts), then the function
    // returns an error so Lambda retries the asynchronous event.
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
    let endpoint = format!("http://127.0.0.1:{}", failing.port);
    let f = Redeployer::start(&endpoint, settings("sky", "web", "sky-high-booker")).await;
    let err = f
        .send(ecr_event(
            "PUSH",
            "sky-high-booker",
            Some("latest"),
            "sha256:abc",
        ))
        .await
        .expect_err("reported as an error");
    let message = err["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("ecs:DescribeTaskDefinition failed"),
        "{err}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "the SDK's standard retry: 3 attempts"
    );
    f.process.stop().await;
}

#[tokio::test]
async fn a_later_stack_update_keeps_the_pushed_digest() {
    let (w, repository, props, f) = setup().await;
    let digest = w.push_image(&repository, "latest", 41).await;
    f.send(ecr_event("PUSH", &repository, Some("latest"), &digest))
        .await
        .unwrap();
    let arn = {
        let out = w
            .clients
            .ecs
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
        .ecs
        .describe_task_definition()
        .task_definition(&td)
        .send()
        .await
        .unwrap();
    assert_eq!(def.task_definition().unwrap().memory(), Some("2048"));
    f.process.stop().await;
}
