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
        .ecs()
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
            .elb()
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
        .ecr()
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
        .ecr()
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
        .ecs()
        .create_cluster()
        .cluster_name(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(strict::calls("ecs:CreateCluster", &other), 1);
    w.clients
        .ecs()
        .create_cluster()
        .cluster_name(&mine)
        .send()
        .await
        .unwrap();
    assert_eq!(strict::calls("ecs:CreateCluster", &mine), 2);
}

/// A cluster with one service (EC2 launch type: no network needed in moto).
async fn cluster_with_service(w: &World, cluster: &str, service: &str) {
    let ecs = w.clients.ecs();
    ecs.create_cluster()
        .cluster_name(cluster)
        .send()
        .await
        .unwrap();
    let container = aws_sdk_ecs::types::ContainerDefinition::builder()
        .name("app")
        .image("nginx")
        .memory(512)
        .build();
    let td = ecs
        .register_task_definition()
        .family(service)
        .container_definitions(container)
        .send()
        .await
        .unwrap();
    let arn = td.task_definition().unwrap().task_definition_arn().unwrap();
    ecs.create_service()
        .cluster(cluster)
        .service_name(service)
        .task_definition(arn)
        .desired_count(1)
        .send()
        .await
        .unwrap();
}

async fn status(w: &World, cluster: &str, service: &str) -> String {
    let out = w
        .clients
        .ecs()
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .unwrap();
    out.services()[0].status().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_deleted_service_drains_and_meanwhile_blocks_its_cluster_and_its_name() {
    let w = World::new().await;
    let (cluster, service) = (w.name("drain"), w.name("web"));
    cluster_with_service(&w, &cluster, &service).await;
    let ecs = w.clients.ecs();
    let deleted = ecs
        .delete_service()
        .cluster(&cluster)
        .service(&service)
        .force(true)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.service().unwrap().status(), Some("DRAINING"));
    assert_eq!(status(&w, &cluster, &service).await, "DRAINING");

    let err = ecs
        .delete_cluster()
        .cluster(&cluster)
        .send()
        .await
        .expect_err("a draining service blocks it");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_cluster_contains_services_exception()),
        "{err:?}"
    );
    assert_eq!(
        err.message(),
        Some("The Cluster cannot be deleted while Services are active.")
    );

    let td = format!("{service}:1");
    let again = ecs
        .create_service()
        .cluster(&cluster)
        .service_name(&service)
        .task_definition(&td)
        .send()
        .await;
    let err = again.expect_err("the name is still draining");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_invalid_parameter_exception()),
        "{err:?}"
    );
    assert_eq!(
        err.message(),
        Some("Unable to Start a service that is still Draining.")
    );

    // It ends INACTIVE (after STRICT_DRAIN_SECONDS); then both succeed.
    while status(&w, &cluster, &service).await == "DRAINING" {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(status(&w, &cluster, &service).await, "INACTIVE");
    ecs.create_service()
        .cluster(&cluster)
        .service_name(&service)
        .task_definition(&td)
        .send()
        .await
        .unwrap();
    ecs.delete_service()
        .cluster(&cluster)
        .service(&service)
        .force(true)
        .send()
        .await
        .unwrap();
    let other = w.name("other");
    ecs.create_cluster()
        .cluster_name(&other)
        .send()
        .await
        .unwrap();
    ecs.delete_cluster()
        .cluster(&other)
        .send()
        .await
        .expect("a cluster without draining services goes");
}

// The only test in this binary that creates a cluster with capacity providers: the first one
// of the process (the account) is the one that fails.
#[tokio::test]
async fn the_first_capacity_provider_cluster_of_an_account_fails_once_on_the_service_linked_role() {
    let w = World::new().await;
    let create = |name: String| {
        w.clients
            .ecs()
            .create_cluster()
            .cluster_name(name)
            .capacity_providers("FARGATE")
            .capacity_providers("FARGATE_SPOT")
            .send()
    };
    let err = create(w.name("slr"))
        .await
        .expect_err("the role is being created");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_invalid_parameter_exception()),
        "{err:?}"
    );
    assert_eq!(
        err.message(),
        Some("Unable to assume the service linked role. Please verify that the ECS service linked role exists.")
    );
    create(w.name("slr")).await.expect("the role exists now");
}

/// A principal bound to `statements`, and ECS / ELB clients signing as it.
fn principal(
    w: &World,
    statements: serde_json::Value,
) -> (
    String,
    aws_sdk_ecs::Client,
    aws_sdk_elasticloadbalancingv2::Client,
) {
    let key = format!("AKIASTRICT{}", w.id.to_uppercase());
    let arn = format!(
        "arn:aws:sts::{}:assumed-role/strict-test/{}",
        local_harness::moto::ACCOUNT,
        w.id
    );
    strict::bind(
        &key,
        strict::Principal {
            arn,
            policy: serde_json::json!({"Version": "2012-10-17", "Statement": statements}),
        },
    );
    let config = local_harness::moto::sdk_config_as(&w.endpoint, &key);
    (
        key,
        aws_sdk_ecs::Client::new(&config),
        aws_sdk_elasticloadbalancingv2::Client::new(&config),
    )
}

#[tokio::test]
async fn a_bound_principal_gets_exactly_what_its_policy_allows_and_aws_shaped_denials() {
    let w = World::new().await;
    let prefix = w.name("iam");
    // ECS's service-linked role exists (made by the harness's own first cluster), so that
    // CreateCluster needs no iam:CreateServiceLinkedRole here.
    w.clients
        .ecs()
        .create_cluster()
        .cluster_name(w.name("first"))
        .send()
        .await
        .unwrap();
    let own = format!("arn:aws:ecs:us-east-1:123456789012:cluster/{prefix}*");
    let (key, ecs, _) = principal(
        &w,
        serde_json::json!([
            {"Effect": "Allow", "Action": "ecs:CreateCluster", "Resource": own},
            {"Effect": "Allow", "Action": "ecs:TagResource", "Resource": own,
             "Condition": {"StringEquals": {"ecs:CreateAction": "CreateCluster"}}},
        ]),
    );
    ecs.create_cluster()
        .cluster_name(format!("{prefix}-a"))
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("k")
                .value("v")
                .build(),
        )
        .send()
        .await
        .unwrap();

    let err = ecs
        .create_cluster()
        .cluster_name(w.name("elsewhere"))
        .send()
        .await
        .expect_err("not its cluster");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_access_denied_exception()),
        "{err:?}"
    );
    let denied = format!(
        "arn:aws:ecs:us-east-1:123456789012:cluster/{}",
        w.name("elsewhere")
    );
    assert_eq!(err.message().unwrap(), format!(
        "User: arn:aws:sts::123456789012:assumed-role/strict-test/{} is not authorized to perform: ecs:CreateCluster on resource: {denied} because no identity-based policy allows the ecs:CreateCluster action", w.id));

    let err = ecs
        .list_container_instances()
        .send()
        .await
        .expect_err("not in the table");
    assert_eq!(
        err.message(),
        Some("the strict layer does not know how to authorize ecs:ListContainerInstances")
    );

    let d = strict::decisions(&key);
    for line in &d {
        println!("{line}");
    }
    let verdicts: Vec<(&str, &str)> = d
        .iter()
        .map(|d| (d.action.as_str(), d.decision.as_str()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("ecs:CreateCluster", "Allowed"),
            ("ecs:TagResource", "Allowed"),
            ("ecs:CreateCluster", "ImplicitlyDenied"),
            ("ecs:ListContainerInstances", "Unknown"),
        ]
    );
    assert_eq!(d[1].implied_by.as_deref(), Some("ecs:CreateCluster"));
}

#[tokio::test]
async fn elb_creates_need_the_ec2_describes_aws_documents_and_resource_tags_are_conditions() {
    let w = World::new().await;
    let vpc = w.network().await.vpc_id.clone();
    let name = w.name("tg");
    let (key, _, elb) = principal(
        &w,
        serde_json::json!([
            {"Effect": "Allow", "Action": ["elasticloadbalancing:CreateTargetGroup", "ec2:DescribeVpcs"], "Resource": "*"},
            {"Effect": "Allow", "Action": "elasticloadbalancing:DeleteTargetGroup", "Resource": "*",
             "Condition": {"StringEquals": {"aws:ResourceTag/owner": "me"}}},
        ]),
    );
    let create = || {
        elb.create_target_group()
            .name(&name)
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(80)
            .vpc_id(&vpc)
            .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
            .send()
    };
    let err = create()
        .await
        .expect_err("ec2:DescribeInternetGateways is missing");
    assert_eq!(err.code(), Some("AccessDenied"));
    assert!(
        err.message()
            .unwrap()
            .contains("perform: ec2:DescribeInternetGateways on resource: *"),
        "{err:?}"
    );

    // The harness (unrestricted) makes it, tagged by someone else: the tag condition refuses.
    let made = w
        .clients
        .elb()
        .create_target_group()
        .name(&name)
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(80)
        .vpc_id(&vpc)
        .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
        .tags(
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key("owner")
                .value("someone-else")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arn = made.target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    let err = elb
        .delete_target_group()
        .target_group_arn(&arn)
        .send()
        .await
        .expect_err("not tagged owner=me");
    assert_eq!(err.code(), Some("AccessDenied"));
    w.clients
        .elb()
        .add_tags()
        .resource_arns(&arn)
        .tags(
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key("owner")
                .value("me")
                .build(),
        )
        .send()
        .await
        .unwrap();
    elb.delete_target_group()
        .target_group_arn(&arn)
        .send()
        .await
        .expect("tagged owner=me now");

    let d = strict::decisions(&key);
    for line in &d {
        println!("{line}");
    }
    let delete: Vec<&strict::Decision> = d
        .iter()
        .filter(|d| d.action == "elasticloadbalancing:DeleteTargetGroup")
        .collect();
    assert_eq!(delete[0].context["aws:ResourceTag/owner"], "someone-else");
    assert_eq!((delete[0].allowed(), delete[1].allowed()), (false, true));
}

#[tokio::test]
async fn cloudwatch_speaks_cbor_to_the_layer_and_moto_keeps_the_alarms() {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, StateValue, Statistic};
    let w = World::new().await;
    let cw = aws_sdk_cloudwatch::Client::new(&local_harness::moto::sdk_config(&w.endpoint));
    let (name, service) = (w.name("cpu-high"), w.name("web"));
    cw.put_metric_alarm()
        .alarm_name(&name)
        .namespace("AWS/ECS")
        .metric_name("CPUUtilization")
        .dimensions(
            Dimension::builder()
                .name("ServiceName")
                .value(&service)
                .build(),
        )
        .statistic(Statistic::Average)
        .period(120)
        .evaluation_periods(2)
        .threshold(85.5)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    // A throttled CBOR call is answered in CBOR and retried.
    strict::inject(fault(
        "cloudwatch:DescribeAlarms",
        &name,
        FaultKind::Throttle,
        1,
    ));
    let seen = cw
        .describe_alarms()
        .alarm_names(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(strict::calls("cloudwatch:DescribeAlarms", &name), 2);
    let alarm = &seen.metric_alarms()[0];
    assert_eq!(alarm.threshold(), Some(85.5));
    assert_eq!(alarm.period(), Some(120));
    assert_eq!(alarm.dimensions()[0].value(), Some(service.as_str()));
    assert!(alarm.state_updated_timestamp().is_some());

    cw.set_alarm_state()
        .alarm_name(&name)
        .state_value(StateValue::Alarm)
        .state_reason("test")
        .send()
        .await
        .unwrap();
    let by_metric = cw
        .describe_alarms_for_metric()
        .namespace("AWS/ECS")
        .metric_name("CPUUtilization")
        .send()
        .await
        .unwrap();
    let mine: Vec<_> = by_metric
        .metric_alarms()
        .iter()
        .filter(|a| a.alarm_name() == Some(name.as_str()))
        .collect();
    assert_eq!(mine[0].state_value(), Some(&StateValue::Alarm));

    cw.delete_alarms().alarm_names(&name).send().await.unwrap();
    let gone = cw
        .describe_alarms()
        .alarm_names(&name)
        .send()
        .await
        .unwrap();
    assert!(gone.metric_alarms().is_empty());
}

// The only test in this binary that creates a load balancer: ELB's service-linked role does
// not exist before it.
#[tokio::test]
async fn the_first_load_balancer_of_an_account_needs_to_create_the_service_linked_role() {
    let w = World::new().await;
    let n = w.network().await.clone();
    let ec2 = [
        "ec2:DescribeAccountAttributes",
        "ec2:DescribeAddresses",
        "ec2:DescribeInternetGateways",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
    ];
    let (key, _, elb) = principal(
        &w,
        serde_json::json!([
            {"Effect": "Allow", "Action": "elasticloadbalancing:CreateLoadBalancer", "Resource": "*"},
            {"Effect": "Allow", "Action": ec2, "Resource": "*"},
        ]),
    );
    let create = |name: String| {
        elb.create_load_balancer()
            .name(name)
            .set_subnets(Some(n.public_subnets.clone()))
            .security_groups(&n.alb_security_group)
            .send()
    };
    let err = create(w.name("lb"))
        .await
        .expect_err("the role would be made by this call");
    assert_eq!(err.code(), Some("AccessDenied"));
    assert!(err.message().unwrap().contains("perform: iam:CreateServiceLinkedRole on resource: arn:aws:iam::123456789012:role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing"), "{err:?}");
    let denied = strict::decisions(&key)
        .into_iter()
        .find(|d| !d.allowed())
        .unwrap();
    assert_eq!(
        denied.context["iam:AWSServiceName"],
        "elasticloadbalancing.amazonaws.com"
    );

    // Once any load balancer made the role, creating one needs no more than the rest.
    w.clients
        .elb()
        .create_load_balancer()
        .name(w.name("lb0"))
        .set_subnets(Some(n.public_subnets.clone()))
        .security_groups(&n.alb_security_group)
        .send()
        .await
        .unwrap();
    create(w.name("lb")).await.expect("the role exists now");
}
