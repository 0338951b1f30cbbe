//! The custom-resource protocol: CloudFormation always gets an answer, bad input touches nothing.

use local_harness::cfn::{Answer, Cfn};
use local_harness::http::{HttpResponse, Server};
use local_harness::runtime_api::LambdaProcess;
use local_harness::world::World;
use operator_common::custom_resource::{handle_invocation, handle_invocation_on, handler_thread};
use operator_common::custom_resource::{Failure, ResponseSender, Success};
use operator_common::error::diagnostic;
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime};

fn quick_sender() -> ResponseSender {
    ResponseSender {
        attempts: 3,
        attempt_timeout: Duration::from_millis(500),
        backoff: Duration::from_millis(50),
    }
}

async fn only_answer(cfn: &Cfn, p: &local_harness::cfn::Pending) -> Answer {
    let answers = cfn.answers(p);
    assert_eq!(answers.len(), 1, "exactly one answer");
    answers.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_panicking_handler_still_answers_failed() {
    let cfn = Cfn::new("panics").await;
    let p = cfn.request(
        "Create",
        "Custom::Service",
        "Service",
        &json!({}),
        None,
        None,
    );
    let deadline = SystemTime::now() + Duration::from_secs(60);
    let result = handle_invocation(p.event.clone(), deadline, &quick_sender(), |_| async {
        if true {
            panic!("index out of bounds");
        }
        Ok::<Success, Failure>(Success::default())
    })
    .await;
    assert!(result.is_ok(), "the answer was delivered");
    let a = only_answer(&cfn, &p).await;
    assert_eq!(a.status, "FAILED");
    assert!(a.reason.contains("index out of bounds"), "{}", a.reason);
    assert!(
        a.physical_id.starts_with("not-created:"),
        "{}",
        a.physical_id
    );
}

#[tokio::test]
async fn a_handler_still_running_at_the_deadline_answers_failed_in_time() {
    let cfn = Cfn::new("slow").await;
    let p = cfn.request(
        "Update",
        "Custom::Cluster",
        "Cluster",
        &json!({}),
        Some("sky"),
        Some(&json!({})),
    );
    let sender = quick_sender();
    // The runner keeps the sender's worst case free before the deadline.
    let deadline = SystemTime::now() + sender.worst_case() + Duration::from_secs(2);
    handle_invocation(p.event.clone(), deadline, &sender, |_| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<Success, Failure>(Success::default())
    })
    .await
    .expect("answered");
    assert!(SystemTime::now() < deadline, "answered before the deadline");
    let a = only_answer(&cfn, &p).await;
    assert_eq!(a.status, "FAILED");
    assert!(a.reason.contains("timed out"), "{}", a.reason);
    assert_eq!(a.physical_id, "sky", "a failed Update keeps its id");
}

// The provisioner's runtimes (main.rs): the invocation on a current-thread runtime, the
// handler on a thread of its own. On one thread, a handler that never yields (a loop, a
// blocking call) would hold the deadline's timer too, and CloudFormation would wait an hour.
#[tokio::test]
async fn a_handler_that_never_yields_still_answers_failed_in_time() {
    let handlers = handler_thread().expect("a thread for the handler");
    let cfn = Cfn::new("blocked").await;
    let p = cfn.request(
        "Update",
        "Custom::Cluster",
        "Cluster",
        &json!({}),
        Some("sky"),
        Some(&json!({})),
    );
    let sender = quick_sender();
    let deadline = SystemTime::now() + sender.worst_case() + Duration::from_secs(2);
    let blocked_until = deadline + Duration::from_secs(1);
    handle_invocation_on(
        &handlers,
        p.event.clone(),
        deadline,
        &sender,
        move |_| async move {
            if let Ok(left) = blocked_until.duration_since(SystemTime::now()) {
                std::thread::sleep(left);
            }
            Ok::<Success, Failure>(Success::default())
        },
    )
    .await
    .expect("answered");
    assert!(SystemTime::now() < deadline, "answered before the deadline");
    let a = only_answer(&cfn, &p).await;
    assert_eq!(a.status, "FAILED");
    assert!(a.reason.contains("timed out"), "{}", a.reason);
}

#[tokio::test]
async fn an_unreachable_response_url_is_retried_a_bounded_number_of_times() {
    // A port nobody listens on, and a server that accepts but never answers.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hanging = Server::start(|_| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        HttpResponse::ok("")
    })
    .await
    .unwrap();
    let refusing = Server::start(|_| async { HttpResponse::status(403) })
        .await
        .unwrap();
    for url in [
        format!("http://127.0.0.1:{closed}/r"),
        format!("http://127.0.0.1:{}/r", hanging.port),
        format!("http://127.0.0.1:{}/r", refusing.port),
    ] {
        let cfn = Cfn::new("unreachable").await;
        let mut p = cfn.request(
            "Delete",
            "Custom::Repository",
            "Repo",
            &json!({}),
            Some("x"),
            None,
        );
        p.event["ResponseURL"] = json!(url);
        let sender = quick_sender();
        let started = Instant::now();
        let result = handle_invocation(
            p.event.clone(),
            SystemTime::now() + Duration::from_secs(60),
            &sender,
            |_| async {
                Ok::<Success, Failure>(Success {
                    physical_id: "x".into(),
                    ..Success::default()
                })
            },
        )
        .await;
        let err =
            diagnostic(&result.expect_err("delivery fails, so Lambda retries the invocation"));
        assert_eq!(err.error_type, "AnswerNotDelivered");
        assert!(
            err.error_message.contains("after 3 attempts"),
            "{url}: {err:?}"
        );
        // Bounded: never more than the sender's own worst case (a generous margin for slow CI).
        assert!(
            started.elapsed() < sender.worst_case() + Duration::from_secs(10),
            "{url} took {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn what_is_not_a_custom_resource_request_gets_no_answer_and_an_error() {
    let result = handle_invocation(
        json!({"source": "aws.ecr", "detail-type": "ECR Image Action"}),
        SystemTime::now() + Duration::from_secs(60),
        &quick_sender(),
        |_| async { Ok::<Success, Failure>(Success::default()) },
    )
    .await;
    assert_eq!(
        diagnostic(&result.unwrap_err()).error_type,
        "MalformedInput"
    );
}

#[tokio::test]
async fn lambda_records_the_kind_of_the_provisioners_error() {
    let binary = local_harness::stack::build_provisioner();
    // As Lambda runs it with the template's LoggingConfig (LogFormat JSON).
    let env = [
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let process = LambdaProcess::start(&binary, "provisioner", &env)
        .await
        .expect("start the provisioner");
    let outcome = process
        .runtime
        .invoke(json!({"source": "aws.ecr"}), Duration::from_secs(30))
        .await
        .expect("the function answers");
    process.stop().await;
    let err = outcome.expect_err("not a custom-resource request");
    assert_eq!(err["errorType"], "MalformedInput", "{err}");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("not a CloudFormation custom-resource request"),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_resource_types_fail_on_create_and_succeed_on_delete() {
    let w = World::new().await;
    let created = w
        .create("Custom::Database", "Db", &json!({"Name": "x"}))
        .await;
    assert_eq!(created.status, "FAILED");
    assert!(
        created.reason.contains("Custom::Database"),
        "{}",
        created.reason
    );
    let deleted = w
        .delete(
            "Custom::Database",
            "Db",
            &created.physical_id,
            &json!({"Name": "x"}),
        )
        .await;
    assert!(deleted.is_success());
}

async fn nothing_exists(w: &World) {
    let repo = w
        .clients
        .ecr()
        .describe_repositories()
        .repository_names(w.name("sky-high-booker"))
        .send()
        .await;
    assert!(repo.is_err(), "no repository was created");
    let clusters = w
        .clients
        .ecs()
        .describe_clusters()
        .clusters(w.name("sky"))
        .send()
        .await
        .unwrap();
    assert!(
        clusters
            .clusters()
            .iter()
            .all(|c| c.status() != Some("ACTIVE")),
        "no cluster was created"
    );
    let lbs = w
        .clients
        .elb()
        .describe_load_balancers()
        .names(w.name("sky"))
        .send()
        .await;
    assert!(
        lbs.is_err() || lbs.unwrap().load_balancers().is_empty(),
        "no load balancer was created"
    );
    let tds = w
        .clients
        .ecs()
        .list_task_definitions()
        .family_prefix(w.name("web"))
        .send()
        .await
        .unwrap();
    assert!(
        tds.task_definition_arns().is_empty(),
        "no task definition was registered"
    );
    let logs = w
        .clients
        .logs()
        .describe_log_groups()
        .log_group_name_prefix(format!("/ecs/{}", w.name("web")))
        .send()
        .await
        .unwrap();
    assert!(logs.log_groups().is_empty(), "no log group was created");
}

fn with(props: &Value, key: &str, value: Value) -> Value {
    let mut p = props.clone();
    p[key] = value;
    p
}

#[tokio::test]
async fn bad_properties_fail_naming_the_property_and_touch_nothing() {
    let w = World::new().await;
    let repo = w.repository_props();
    let cluster = w.cluster_props();
    let lb = w.load_balancer_props().await;
    let uri = format!(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/{}",
        w.name("sky-high-booker")
    );
    let service = w
        .service_props(
            &uri,
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/1",
        )
        .await;

    let cases: Vec<(&str, Value, &str)> = vec![
        // number
        (
            "Custom::Repository",
            with(&repo, "KeepImages", json!("ten")),
            "KeepImages",
        ),
        (
            "Custom::Service",
            with(&service, "DesiredCount", json!("two")),
            "DesiredCount",
        ),
        // number out of range
        (
            "Custom::LoadBalancer",
            with(&lb, "TargetPort", json!("70000")),
            "TargetPort",
        ),
        (
            "Custom::Service",
            with(&service, "ContainerPort", json!("0")),
            "ContainerPort",
        ),
        // boolean
        (
            "Custom::Repository",
            with(&repo, "EmptyOnDelete", json!("yes")),
            "EmptyOnDelete",
        ),
        (
            "Custom::Service",
            with(&service, "AssignPublicIp", json!("1")),
            "AssignPublicIp",
        ),
        // enumeration
        (
            "Custom::Cluster",
            with(&cluster, "ContainerInsights", json!("on")),
            "ContainerInsights",
        ),
        (
            "Custom::LoadBalancer",
            with(&lb, "Scheme", json!("public")),
            "Scheme",
        ),
        // list
        (
            "Custom::LoadBalancer",
            with(&lb, "Subnets", json!({"a": "b"})),
            "Subnets",
        ),
        (
            "Custom::Service",
            with(&service, "SecurityGroups", json!([])),
            "SecurityGroups",
        ),
        (
            "Custom::Cluster",
            with(
                &cluster,
                "CapacityProviderStrategy",
                json!([{"CapacityProvider": "EC2", "Weight": "1"}]),
            ),
            "CapacityProviderStrategy[0].CapacityProvider",
        ),
        // map
        (
            "Custom::Service",
            with(&service, "Environment", json!(["A=1"])),
            "Environment",
        ),
        (
            "Custom::Service",
            with(&service, "Secrets", json!({"DB": "hunter2"})),
            "Secrets.DB",
        ),
        // ARN
        (
            "Custom::Service",
            with(&service, "ExecutionRoleArn", json!("my-role")),
            "ExecutionRoleArn",
        ),
        // rules across properties
        (
            "Custom::Service",
            with(&service, "Memory", json!("8192")),
            "Memory",
        ),
        (
            "Custom::Service",
            with(
                &with(&service, "MinCapacity", json!("6")),
                "MaxCapacity",
                json!("5"),
            ),
            "MinCapacity",
        ),
        (
            "Custom::Service",
            with(&service, "LogRetentionDays", json!("10")),
            "LogRetentionDays",
        ),
        // names
        (
            "Custom::Repository",
            with(&repo, "RepositoryName", json!("Sky High")),
            "RepositoryName",
        ),
        (
            "Custom::LoadBalancer",
            with(&lb, "Name", json!("internal-sky")),
            "Name",
        ),
        // unknown key
        (
            "Custom::Service",
            with(&service, "Replicas", json!("3")),
            "Replicas",
        ),
        (
            "Custom::Cluster",
            with(&cluster, "Region", json!("eu-west-1")),
            "Region",
        ),
    ];
    for (resource_type, props, property) in cases {
        let answer = w.create(resource_type, "Bad", &props).await;
        assert_eq!(answer.status, "FAILED", "{resource_type} {property}");
        assert!(
            answer.reason.contains(property),
            "{resource_type}: the reason names {property}: {}",
            answer.reason
        );
        assert!(answer.physical_id.starts_with("not-created:"));
        // CloudFormation then deletes the failed resource: that must succeed and touch nothing.
        let delete = w
            .delete(resource_type, "Bad", &answer.physical_id, &props)
            .await;
        assert!(delete.is_success(), "{}", delete.reason);
    }
    nothing_exists(&w).await;

    // A bad Update fails too and leaves what exists alone.
    let created = w.create("Custom::Repository", "Repo", &repo).await;
    let bad = with(&repo, "ImageTagMutability", json!("SOMETIMES"));
    let answer = w
        .update(
            "Custom::Repository",
            "Repo",
            &created.physical_id,
            &repo,
            &bad,
        )
        .await;
    assert_eq!(answer.status, "FAILED");
    assert!(answer.reason.contains("ImageTagMutability"));
    assert_eq!(answer.physical_id, created.physical_id);
}

#[test]
fn the_release_profile_unwinds_on_panic() {
    // With abort, a panicking custom resource would die without answering CloudFormation.
    let manifest =
        std::fs::read_to_string(local_harness::moto::workspace_root().join("Cargo.toml")).unwrap();
    let release = manifest
        .split("[profile.release]")
        .nth(1)
        .expect("a release profile");
    let release = release.split("\n[").next().unwrap();
    assert!(release.contains("panic = \"unwind\""), "{release}");
}
