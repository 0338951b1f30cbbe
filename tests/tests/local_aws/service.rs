//! Custom::Service against moto, with the repository, cluster and load balancer it needs.

use local_harness::cfn::Answer;
use local_harness::world::{FixedRollout, World};
use provisioner::service::plan::RolloutOutcome;
use serde_json::Value;
use std::time::Duration;

const TYPE: &str = "Custom::Service";

/// What a service stands on; returns the service's properties and the repository's name.
async fn foundations(w: &World) -> (Value, String) {
    let (repository, _, props) = w.foundations().await;
    (props, repository)
}

fn with(props: &Value, key: &str, value: &str) -> Value {
    let mut p = props.clone();
    p[key] = value.into();
    p
}

struct Seen {
    desired: i32,
    image: String,
    task_definition: String,
    status: String,
}

async fn seen(w: &World, answer: &Answer) -> Seen {
    let (cluster, name) =
        provisioner::service::parse_service_arn(&answer.physical_id).expect("a service ARN");
    let out = w
        .clients
        .ecs()
        .describe_services()
        .cluster(&cluster)
        .services(&name)
        .send()
        .await
        .unwrap();
    let s = &out.services()[0];
    let td = s.task_definition().unwrap().to_string();
    let image = if td.is_empty() {
        String::new()
    } else {
        let out = w
            .clients
            .ecs()
            .describe_task_definition()
            .task_definition(&td)
            .send()
            .await
            .unwrap();
        out.task_definition().unwrap().container_definitions()[0]
            .image()
            .unwrap()
            .to_string()
    };
    Seen {
        desired: s.desired_count(),
        image,
        task_definition: td,
        status: s.status().unwrap().to_string(),
    }
}

async fn revisions(w: &World, family: &str) -> usize {
    let out = w
        .clients
        .ecs()
        .list_task_definitions()
        .family_prefix(family)
        .send()
        .await
        .unwrap();
    out.task_definition_arns().len()
}

#[tokio::test]
async fn create_update_and_delete() {
    let w = World::new().await;
    let (props, repository) = foundations(&w).await;
    let digest = w.push_image(&repository, "latest", 7).await;

    let created = w.create(TYPE, "Service", &props).await;
    assert!(created.is_success(), "{}", created.reason);
    let arn = created.physical_id.clone();
    assert_eq!(created.data("ServiceArn"), arn);
    assert_eq!(created.data("ServiceName"), w.name("web"));
    assert_eq!(
        created.data("LogGroupName"),
        format!("/ecs/{}", w.name("web"))
    );
    let s = seen(&w, &created).await;
    assert_eq!(s.desired, 2);
    assert_eq!(
        s.image,
        format!("{}@{digest}", props["RepositoryUri"].as_str().unwrap()),
        "pinned by digest"
    );
    assert_eq!(s.task_definition, created.data("TaskDefinitionArn"));

    let logs = w
        .clients
        .logs()
        .describe_log_groups()
        .log_group_name_prefix(created.data("LogGroupName"))
        .send()
        .await
        .unwrap();
    assert_eq!(logs.log_groups()[0].retention_in_days(), Some(14));
    let resource_id = format!("service/{}/{}", w.name("sky"), w.name("web"));
    let targets = w
        .clients
        .scaling()
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_ids(&resource_id)
        .send()
        .await
        .unwrap();
    let t = &targets.scalable_targets()[0];
    assert_eq!((t.min_capacity(), t.max_capacity()), (1, 5));
    let policies = w
        .clients
        .scaling()
        .describe_scaling_policies()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_id(&resource_id)
        .send()
        .await
        .unwrap();
    let mut targets: Vec<f64> = policies
        .scaling_policies()
        .iter()
        .map(|p| {
            p.target_tracking_scaling_policy_configuration()
                .unwrap()
                .target_value()
        })
        .collect();
    targets.sort_by(f64::total_cmp);
    assert_eq!(targets, vec![70.0, 80.0]);

    // A repeated Create adopts the service and registers no new revision.
    let again = w.create(TYPE, "Service", &props).await;
    assert!(again.is_success(), "{}", again.reason);
    assert_eq!(again.physical_id, arn);
    assert_eq!(revisions(&w, &w.name("web")).await, 1);

    // In place: more CPU and memory, a new revision of the same service.
    let bigger = with(&with(&props, "Cpu", "1024"), "Memory", "2048");
    let updated = w.update(TYPE, "Service", &arn, &props, &bigger).await;
    assert!(updated.is_success(), "{}", updated.reason);
    assert_eq!(updated.physical_id, arn);
    assert_ne!(
        updated.data("TaskDefinitionArn"),
        created.data("TaskDefinitionArn")
    );
    assert_eq!(
        seen(&w, &updated).await.task_definition,
        updated.data("TaskDefinitionArn")
    );
    // An Update with nothing changed registers nothing.
    w.update(TYPE, "Service", &arn, &bigger, &bigger).await;
    assert_eq!(revisions(&w, &w.name("web")).await, 2);

    // Rollback: back to the old properties.
    let back = w.update(TYPE, "Service", &arn, &bigger, &props).await;
    assert!(back.is_success(), "{}", back.reason);
    let td = w
        .clients
        .ecs()
        .describe_task_definition()
        .task_definition(back.data("TaskDefinitionArn"))
        .send()
        .await
        .unwrap();
    assert_eq!(td.task_definition().unwrap().cpu(), Some("512"));

    let deleted = w.delete(TYPE, "Service", &arn, &props).await;
    assert!(deleted.is_success(), "{}", deleted.reason);
    let out = w
        .clients
        .ecs()
        .describe_services()
        .cluster(w.name("sky"))
        .services(w.name("web"))
        .send()
        .await
        .unwrap();
    assert!(
        out.services().iter().all(|s| s.status() != Some("ACTIVE")),
        "the service is gone"
    );
    let targets = w
        .clients
        .scaling()
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_ids(&resource_id)
        .send()
        .await
        .unwrap();
    assert!(
        targets.scalable_targets().is_empty(),
        "scaling stops with the service"
    );
    let again = w.delete(TYPE, "Service", &arn, &props).await;
    assert!(again.is_success(), "a repeated Delete: {}", again.reason);
}

#[tokio::test]
async fn a_stack_update_keeps_the_autoscaled_count_and_the_pushed_digest() {
    let w = World::new().await;
    let (props, repository) = foundations(&w).await;
    w.push_image(&repository, "latest", 1).await;
    let created = w.create(TYPE, "Service", &props).await;
    assert!(created.is_success(), "{}", created.reason);
    let arn = created.physical_id.clone();
    let (cluster, name) = (w.name("sky"), w.name("web"));

    // At run time: the autoscaler scales to 4, the redeployer rolls a newer push.
    w.clients
        .ecs()
        .update_service()
        .cluster(&cluster)
        .service(&name)
        .desired_count(4)
        .send()
        .await
        .unwrap();
    let pushed = w.push_image(&repository, "latest", 2).await;
    let current = seen(&w, &created).await;
    let td = w
        .clients
        .ecs()
        .describe_task_definition()
        .task_definition(&current.task_definition)
        .send()
        .await
        .unwrap();
    let mut container = td.task_definition().unwrap().container_definitions()[0].clone();
    let pushed_image = format!("{}@{pushed}", props["RepositoryUri"].as_str().unwrap());
    container.image = Some(pushed_image.clone());
    let td = td.task_definition().unwrap();
    let redeployed = w
        .clients
        .ecs()
        .register_task_definition()
        .family(td.family().unwrap())
        .set_requires_compatibilities(Some(td.requires_compatibilities().to_vec()))
        .set_network_mode(td.network_mode().cloned())
        .set_cpu(td.cpu().map(str::to_string))
        .set_memory(td.memory().map(str::to_string))
        .set_execution_role_arn(td.execution_role_arn().map(str::to_string))
        .container_definitions(container)
        .send()
        .await
        .unwrap();
    let redeployed_arn = redeployed
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_string();
    w.clients
        .ecs()
        .update_service()
        .cluster(&cluster)
        .service(&name)
        .task_definition(&redeployed_arn)
        .send()
        .await
        .unwrap();

    // A stack update that changes neither DesiredCount nor the image properties keeps both.
    let env_changed = {
        let mut p = props.clone();
        p["Environment"]["FEATURE"] = "on".into();
        p
    };
    let updated = w.update(TYPE, "Service", &arn, &props, &env_changed).await;
    assert!(updated.is_success(), "{}", updated.reason);
    let s = seen(&w, &updated).await;
    assert_eq!(s.desired, 4, "the autoscaled count stays");
    assert_eq!(s.image, pushed_image, "the pushed digest stays");
    assert_ne!(
        s.task_definition, redeployed_arn,
        "the environment change made a new revision"
    );

    // An update with nothing changed keeps the redeployed revision itself.
    let same = w
        .update(TYPE, "Service", &arn, &env_changed, &env_changed)
        .await;
    assert_eq!(same.data("TaskDefinitionArn"), s.task_definition);

    // Changing DesiredCount in the template wins.
    let three = with(&env_changed, "DesiredCount", "3");
    let scaled = w.update(TYPE, "Service", &arn, &env_changed, &three).await;
    assert_eq!(seen(&w, &scaled).await.desired, 3);

    // Narrower bounds clamp the running count.
    w.clients
        .ecs()
        .update_service()
        .cluster(&cluster)
        .service(&name)
        .desired_count(5)
        .send()
        .await
        .unwrap();
    let narrow = with(&with(&three, "MaxCapacity", "4"), "DesiredCount", "3");
    let clamped = w.update(TYPE, "Service", &arn, &three, &narrow).await;
    assert_eq!(seen(&w, &clamped).await.desired, 4);

    // Changing ImageTag in the template wins too: the new tag, pinned by its digest.
    let v2 = w.push_image(&repository, "v2", 3).await;
    let tagged = with(&narrow, "ImageTag", "v2");
    let retagged = w.update(TYPE, "Service", &arn, &narrow, &tagged).await;
    assert!(retagged.is_success(), "{}", retagged.reason);
    assert!(seen(&w, &retagged).await.image.ends_with(&format!("@{v2}")));
}

#[tokio::test]
async fn a_new_service_name_replaces_the_service() {
    let w = World::new().await;
    let (props, _) = foundations(&w).await;
    let created = w.create(TYPE, "Service", &props).await;
    assert!(created.is_success(), "{}", created.reason);
    assert!(
        seen(&w, &created).await.image.ends_with(":latest"),
        "no push yet: the tag itself"
    );
    let renamed = with(&props, "ServiceName", &w.name("web2"));
    let replaced = w
        .update(TYPE, "Service", &created.physical_id, &props, &renamed)
        .await;
    assert!(replaced.is_success(), "{}", replaced.reason);
    assert_ne!(replaced.physical_id, created.physical_id);
    assert_eq!(seen(&w, &replaced).await.status, "ACTIVE");
    assert_eq!(
        seen(&w, &created).await.status,
        "ACTIVE",
        "the old one waits for cleanup"
    );
    let cleanup = w
        .delete(TYPE, "Service", &created.physical_id, &props)
        .await;
    assert!(cleanup.is_success());
    assert_ne!(seen(&w, &created).await.status, "ACTIVE");
    assert_eq!(seen(&w, &replaced).await.status, "ACTIVE");
}

#[tokio::test]
async fn waiting_for_steady_state_reports_the_rollout() {
    let w = World::new().await;
    let (props, repository) = foundations(&w).await;
    w.push_image(&repository, "latest", 5).await;
    let waiting = with(&props, "WaitForSteadyState", "true");

    let p = w
        .cfn
        .request("Create", TYPE, "Service", &waiting, None, None);
    let breaker = "ECS deployment circuit breaker: 3 tasks failed to start";
    let failed = w
        .send_with(
            &p,
            Box::new(FixedRollout(RolloutOutcome::Failed(breaker.into()))),
            Duration::from_secs(120),
        )
        .await;
    assert_eq!(failed.status, "FAILED");
    assert!(
        failed.reason.contains(breaker),
        "ECS's reason is passed on: {}",
        failed.reason
    );
    assert!(
        failed.physical_id.contains(":service/"),
        "the rollback Delete gets the service: {}",
        failed.physical_id
    );

    let bigger = with(&with(&waiting, "Cpu", "1024"), "Memory", "2048");
    let p = w.cfn.request(
        "Update",
        TYPE,
        "Service",
        &bigger,
        Some(&failed.physical_id),
        Some(&waiting),
    );
    let running = w
        .send_with(
            &p,
            Box::new(FixedRollout(RolloutOutcome::StillRunning)),
            Duration::from_secs(120),
        )
        .await;
    assert!(running.is_success(), "{}", running.reason);
    assert!(
        running.reason.contains("still rolling out"),
        "{}",
        running.reason
    );

    let p = w.cfn.request(
        "Update",
        TYPE,
        "Service",
        &waiting,
        Some(&failed.physical_id),
        Some(&bigger),
    );
    let done = w
        .send_with(
            &p,
            Box::new(FixedRollout(RolloutOutcome::Completed)),
            Duration::from_secs(120),
        )
        .await;
    assert!(
        done.is_success() && done.reason.is_empty(),
        "{}",
        done.reason
    );
}

async fn status_of(w: &World, cluster: &str, name: &str) -> Option<String> {
    let out = w
        .clients
        .ecs()
        .describe_services()
        .cluster(cluster)
        .services(name)
        .send()
        .await
        .ok()?;
    out.services()
        .first()
        .and_then(|s| s.status().map(str::to_string))
}

/// Deletes the service behind the provisioner's back: ECS then keeps it DRAINING for a while.
async fn delete_by_hand(w: &World, cluster: &str, name: &str) {
    w.clients
        .ecs()
        .delete_service()
        .cluster(cluster)
        .service(name)
        .force(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_of(w, cluster, name).await.as_deref(),
        Some("DRAINING")
    );
}

#[tokio::test]
async fn delete_waits_until_the_service_is_inactive_so_the_cluster_goes_next() {
    let w = World::new().await;
    let (props, _) = foundations(&w).await;
    let created = w.create_service(&props).await;
    let deleted = w
        .delete(TYPE, "Service", &created.physical_id, &props)
        .await;
    assert!(deleted.is_success(), "{}", deleted.reason);
    let (cluster, name) = (w.name("sky"), w.name("web"));
    assert_eq!(
        status_of(&w, &cluster, &name).await.as_deref(),
        Some("INACTIVE"),
        "not answered while DRAINING"
    );
    let cluster_gone = w
        .delete("Custom::Cluster", "Cluster", &cluster, &w.cluster_props())
        .await;
    assert!(cluster_gone.is_success(), "{}", cluster_gone.reason);
    assert!(
        cluster_gone.reason.is_empty(),
        "deleted, not retained: {}",
        cluster_gone.reason
    );
}

#[tokio::test]
async fn a_cluster_delete_retries_while_a_service_drains() {
    let w = World::new().await;
    let (props, _) = foundations(&w).await;
    w.create_service(&props).await;
    let (cluster, name) = (w.name("sky"), w.name("web"));
    delete_by_hand(&w, &cluster, &name).await;
    let deleted = w
        .delete("Custom::Cluster", "Cluster", &cluster, &w.cluster_props())
        .await;
    assert!(deleted.is_success(), "{}", deleted.reason);
    assert!(
        local_harness::strict::calls("ecs:DeleteCluster", &cluster) > 1,
        "the first DeleteCluster met ClusterContainsServicesException"
    );
    let out = w
        .clients
        .ecs()
        .describe_clusters()
        .clusters(&cluster)
        .send()
        .await
        .unwrap();
    assert_ne!(out.clusters()[0].status(), Some("ACTIVE"));
}

#[tokio::test]
async fn a_create_waits_for_a_same_named_service_still_draining() {
    let w = World::new().await;
    let (props, _) = foundations(&w).await;
    w.create_service(&props).await;
    let (cluster, name) = (w.name("sky"), w.name("web"));
    delete_by_hand(&w, &cluster, &name).await;
    let again = w.create(TYPE, "Service", &props).await;
    assert!(again.is_success(), "{}", again.reason);
    assert_eq!(
        status_of(&w, &cluster, &name).await.as_deref(),
        Some("ACTIVE")
    );
}

#[tokio::test]
async fn a_delete_that_outlasts_the_deadline_says_what_still_drains() {
    let w = World::new().await;
    let (props, _) = foundations(&w).await;
    let created = w.create_service(&props).await;
    let p = w.cfn.request(
        "Delete",
        TYPE,
        "Service",
        &props,
        Some(&created.physical_id),
        None,
    );
    // Just enough time to answer (the sender keeps ~11 s of it), none to wait.
    let late = w
        .send_with(
            &p,
            Box::new(FixedRollout(RolloutOutcome::Completed)),
            Duration::from_secs(14),
        )
        .await;
    assert_eq!(late.status, "FAILED");
    assert!(
        late.reason.contains("still DRAINING") && late.reason.contains(&w.name("web")),
        "{}",
        late.reason
    );
    // CloudFormation retries the Delete: it waits the drain out.
    let retried = w
        .delete(TYPE, "Service", &created.physical_id, &props)
        .await;
    assert!(retried.is_success(), "{}", retried.reason);
}

#[tokio::test]
async fn another_stacks_service_is_refused_and_survives() {
    let w = World::new().await;
    let (props, _) = foundations(&w).await;
    let mut theirs = w.cfn.request("Create", TYPE, "Service", &props, None, None);
    theirs.event["StackId"] = serde_json::json!(
        "arn:aws:cloudformation:us-east-1:123456789012:stack/other/11111111-2222-3333-4444-555555555555"
    );
    let made = w.send(&theirs).await;
    assert!(made.is_success(), "{}", made.reason);

    let refused = w.create(TYPE, "Service", &props).await;
    assert_eq!(refused.status, "FAILED");
    assert!(
        refused.reason.contains("stack/other/") && refused.reason.contains("ServiceName"),
        "{}",
        refused.reason
    );
    assert!(refused.physical_id.starts_with("not-created:"));
    let deleted = w.delete(TYPE, "Service", &made.physical_id, &props).await;
    assert!(deleted.is_success(), "{}", deleted.reason);
    assert!(
        deleted.reason.contains("left it alone"),
        "{}",
        deleted.reason
    );
    assert_eq!(
        status_of(&w, &w.name("sky"), &w.name("web"))
            .await
            .as_deref(),
        Some("ACTIVE")
    );
}

#[tokio::test]
async fn a_rename_whose_deployment_fails_deletes_the_new_service() {
    let w = World::new().await;
    let (props, repository) = foundations(&w).await;
    w.push_image(&repository, "latest", 9).await;
    let created = w.create_service(&props).await;
    let renamed = with(
        &with(&props, "ServiceName", &w.name("web2")),
        "WaitForSteadyState",
        "true",
    );
    let p = w.cfn.request(
        "Update",
        TYPE,
        "Service",
        &renamed,
        Some(&created.physical_id),
        Some(&props),
    );
    let failed = w
        .send_with(
            &p,
            Box::new(FixedRollout(RolloutOutcome::Failed("tasks failed".into()))),
            Duration::from_secs(120),
        )
        .await;
    assert_eq!(failed.status, "FAILED");
    assert_eq!(failed.physical_id, created.physical_id, "the old id stays");
    assert_ne!(
        status_of(&w, &w.name("sky"), &w.name("web2"))
            .await
            .as_deref(),
        Some("ACTIVE"),
        "the new service does not leak"
    );
    assert_eq!(
        status_of(&w, &w.name("sky"), &w.name("web"))
            .await
            .as_deref(),
        Some("ACTIVE")
    );
}

#[tokio::test]
async fn a_network_change_starts_a_deployment_that_is_waited_for() {
    let w = World::new().await;
    let (props, repository) = foundations(&w).await;
    w.push_image(&repository, "latest", 11).await;
    let created = w.create_service(&props).await;
    let waiting = with(&props, "WaitForSteadyState", "true");
    let mut moved = waiting.clone();
    moved["AssignPublicIp"] = "true".into();
    let p = w.cfn.request(
        "Update",
        TYPE,
        "Service",
        &moved,
        Some(&created.physical_id),
        Some(&waiting),
    );
    let failing = || Box::new(FixedRollout(RolloutOutcome::Failed("tasks failed".into())));
    // Control: an Update that starts no deployment watches none.
    let calm = w.cfn.request(
        "Update",
        TYPE,
        "Service",
        &waiting,
        Some(&created.physical_id),
        Some(&props),
    );
    let calm = w
        .send_with(&calm, failing(), Duration::from_secs(120))
        .await;
    assert!(calm.is_success(), "{}", calm.reason);
    // No new revision, yet the deployment it starts is watched: its failure is reported.
    let failed = w
        .send_with(
            &p,
            Box::new(FixedRollout(RolloutOutcome::Failed("tasks failed".into()))),
            Duration::from_secs(120),
        )
        .await;
    assert_eq!(failed.status, "FAILED", "{}", failed.reason);
    assert!(failed.reason.contains("tasks failed"), "{}", failed.reason);
    assert_eq!(revisions(&w, &w.name("web")).await, 1);
}

/// A new AppName renames everything: CloudFormation then deletes the old resources with the
/// NEW policy, which still allows it because the policy scopes changes by the stack's tag.
#[tokio::test]
async fn after_a_rename_the_old_resources_are_deleted_under_the_new_policy() {
    use local_harness::stack::{function_key, LocalStack, PROVISIONER};

    use std::collections::BTreeMap;

    let w = World::new().await;
    let (before, after) = (w.name("booker"), w.name("renamed"));
    let stack_name = format!("stack-{}", w.id);
    let mut stack = LocalStack::for_test(&w, &before, &[]).await;
    let denied = || -> Vec<String> {
        local_harness::strict::decisions(&function_key(&stack_name, PROVISIONER))
            .iter()
            .filter(|d| !d.allowed())
            .map(|d| d.to_string())
            .collect()
    };
    stack.create().await.unwrap();
    let renamed = stack
        .update(&BTreeMap::from([("AppName".to_string(), after.clone())]))
        .await;
    assert!(
        renamed.is_ok() && denied().is_empty(),
        "{renamed:?}\ndenied:\n{}",
        denied().join("\n")
    );
    assert_ne!(
        status_of(&w, &before, &before).await.as_deref(),
        Some("ACTIVE"),
        "the old service is deleted"
    );
    assert_eq!(
        status_of(&w, &after, &after).await.as_deref(),
        Some("ACTIVE")
    );
    let old_cluster = w
        .clients
        .ecs()
        .describe_clusters()
        .clusters(&before)
        .send()
        .await
        .unwrap();
    assert!(old_cluster
        .clusters()
        .iter()
        .all(|c| c.status() != Some("ACTIVE")));
    let old_lb = w
        .clients
        .elb()
        .describe_load_balancers()
        .names(&before)
        .send()
        .await;
    assert!(old_lb.is_err() || old_lb.unwrap().load_balancers().is_empty());
    let deleted = stack.delete().await;
    assert!(
        deleted.is_ok() && denied().is_empty(),
        "{deleted:?}\ndenied:\n{}",
        denied().join("\n")
    );
    stack.stop().await;
}
