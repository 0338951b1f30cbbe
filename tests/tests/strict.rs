//! The strict local AWS acting on real SDK calls: injected faults (throttling, server errors,
//! a response lost after the change happened).

use aws_sdk_ecs::error::ProvideErrorMetadata;
use local_harness::strict::{self, Fault, FaultKind};
use local_harness::world::World;

fn fault(action: &str, matching: &str, kind: FaultKind, times: u32) -> Fault {
    Fault {
        action: action.into(),
        matching: matching.into(),
        kind,
        times,
    }
}

#[tokio::test]
async fn a_throttled_call_is_retried_by_the_sdk_and_succeeds() {
    let w = World::new().await;
    let name = w.name("throttled");
    strict::inject(fault("ecs:CreateCluster", &name, FaultKind::Throttle, 2));
    w.clients
        .ecs
        .create_cluster()
        .cluster_name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        strict::calls("ecs:CreateCluster", &name),
        3,
        "two throttled, then the real one"
    );
}

#[tokio::test]
async fn a_server_error_on_a_query_protocol_call_is_retried_and_then_surfaces() {
    let w = World::new().await;
    let vpc = w.network().await.vpc_id.clone();
    let name = w.name("tg5xx");
    let create = || {
        w.clients
            .elb
            .create_target_group()
            .name(&name)
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(80)
            .vpc_id(&vpc)
            .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
            .send()
    };
    // More failures than the SDK's 3 attempts: the error reaches the caller, in Query's shape.
    strict::inject(fault(
        "elasticloadbalancing:CreateTargetGroup",
        &name,
        FaultKind::ServerError,
        3,
    ));
    let err = create().await.expect_err("three 500s exhaust the retries");
    assert_eq!(err.code(), Some("InternalError"), "{err:?}");
    assert_eq!(
        strict::calls("elasticloadbalancing:CreateTargetGroup", &name),
        3
    );
    // One failure: the retry succeeds.
    strict::inject(fault(
        "elasticloadbalancing:CreateTargetGroup",
        &name,
        FaultKind::ServerError,
        1,
    ));
    let made = create().await.unwrap();
    assert_eq!(
        made.target_groups()[0].target_group_name(),
        Some(name.as_str())
    );
    assert_eq!(
        strict::calls("elasticloadbalancing:CreateTargetGroup", &name),
        5
    );
}

#[tokio::test]
async fn a_lost_response_happened_in_aws_and_the_retry_meets_its_effect() {
    let w = World::new().await;
    let name = w.name("lost");
    strict::inject(fault(
        "ecr:CreateRepository",
        &name,
        FaultKind::LostResponse,
        1,
    ));
    let err = w
        .clients
        .ecr
        .create_repository()
        .repository_name(&name)
        .send()
        .await;
    // The first attempt created the repository; the SDK's retry is told it already exists.
    let err = err.expect_err("the retry meets the repository the lost call made");
    assert_eq!(
        err.code(),
        Some("RepositoryAlreadyExistsException"),
        "{err:?}"
    );
    assert_eq!(strict::calls("ecr:CreateRepository", &name), 2);
    let seen = w
        .clients
        .ecr
        .describe_repositories()
        .repository_names(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(seen.repositories().len(), 1);
}

#[tokio::test]
async fn faults_touch_only_the_matching_calls() {
    let w = World::new().await;
    let (mine, other) = (w.name("mine"), w.name("other"));
    strict::inject(fault("ecs:CreateCluster", &mine, FaultKind::Throttle, 1));
    w.clients
        .ecs
        .create_cluster()
        .cluster_name(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(strict::calls("ecs:CreateCluster", &other), 1);
    w.clients
        .ecs
        .create_cluster()
        .cluster_name(&mine)
        .send()
        .await
        .unwrap();
    assert_eq!(strict::calls("ecs:CreateCluster", &mine), 2);
}
