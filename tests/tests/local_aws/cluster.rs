//! Custom::Cluster against moto.

use local_harness::world::World;
use serde_json::json;

const TYPE: &str = "Custom::Cluster";

async fn status(w: &World, name: &str) -> Option<String> {
    let out = w
        .clients
        .ecs()
        .describe_clusters()
        .clusters(name)
        .send()
        .await
        .unwrap();
    out.clusters()
        .first()
        .and_then(|c| c.status().map(str::to_string))
}

#[tokio::test]
async fn create_update_replace_and_delete() {
    let w = World::new().await;
    let props = w.cluster_props();
    let name = w.name("sky");

    let created = w.create(TYPE, "Cluster", &props).await;
    assert!(created.is_success(), "{}", created.reason);
    assert_eq!(created.physical_id, name);
    assert_eq!(created.data("ClusterName"), name);
    assert!(created
        .data("ClusterArn")
        .ends_with(&format!("cluster/{name}")));
    let c = w
        .clients
        .ecs()
        .describe_clusters()
        .clusters(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.clusters()[0].capacity_providers(),
        ["FARGATE", "FARGATE_SPOT"]
    );

    let again = w.create(TYPE, "Cluster", &props).await;
    assert!(
        again.is_success() && again.physical_id == name,
        "a repeated Create adopts"
    );

    let new = json!({"ClusterName": name, "ContainerInsights": "disabled",
                     "CapacityProviderStrategy": [{"CapacityProvider": "FARGATE", "Weight": 1}]});
    let updated = w.update(TYPE, "Cluster", &name, &props, &new).await;
    assert!(updated.is_success(), "{}", updated.reason);
    assert_eq!(updated.physical_id, name);
    let back = w.update(TYPE, "Cluster", &name, &new, &props).await;
    assert!(
        back.is_success(),
        "rollback to the old properties: {}",
        back.reason
    );

    let renamed = json!({"ClusterName": w.name("sky2")});
    let replaced = w.update(TYPE, "Cluster", &name, &props, &renamed).await;
    assert!(replaced.is_success(), "{}", replaced.reason);
    assert_eq!(replaced.physical_id, w.name("sky2"));
    assert_eq!(status(&w, &w.name("sky2")).await.as_deref(), Some("ACTIVE"));

    for (id, p) in [(name.clone(), &props), (w.name("sky2"), &renamed)] {
        let deleted = w.delete(TYPE, "Cluster", &id, p).await;
        assert!(deleted.is_success(), "{}", deleted.reason);
        assert_ne!(status(&w, &id).await.as_deref(), Some("ACTIVE"));
    }
    let never = w.delete(TYPE, "Cluster", &w.name("never"), &props).await;
    assert!(never.is_success(), "{}", never.reason);
}

#[tokio::test]
async fn a_cluster_this_stack_did_not_make_is_refused_and_survives() {
    let w = World::new().await;
    let name = w.name("by-hand");
    w.clients
        .ecs()
        .create_cluster()
        .cluster_name(&name)
        .send()
        .await
        .unwrap();
    let props = json!({"ClusterName": name});
    let refused = w.create(TYPE, "Cluster", &props).await;
    assert_eq!(refused.status, "FAILED");
    assert!(
        refused.reason.contains(&format!("ECS cluster {name}"))
            && refused.reason.contains("ClusterName"),
        "{}",
        refused.reason
    );
    assert!(refused.physical_id.starts_with("not-created:"));
    let deleted = w.delete(TYPE, "Cluster", &name, &props).await;
    assert!(deleted.is_success(), "{}", deleted.reason);
    assert!(
        deleted.reason.contains("left it alone"),
        "{}",
        deleted.reason
    );
    assert_eq!(status(&w, &name).await.as_deref(), Some("ACTIVE"));
}

#[tokio::test]
async fn the_clusters_strategy_is_data_for_the_service() {
    let w = World::new().await;
    let made = w.create(TYPE, "Cluster", &w.cluster_props()).await;
    assert!(made.is_success(), "{}", made.reason);
    assert_eq!(
        made.data("CapacityProviderStrategy"),
        "FARGATE:50:20,FARGATE_SPOT:50:0"
    );
}

/// Sends every ECS call of a client as another moto account.
#[derive(Debug)]
struct Account(&'static str);

impl aws_sdk_ecs::config::Intercept for Account {
    fn name(&self) -> &'static str {
        "moto account"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_ecs::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_sdk_ecs::config::RuntimeComponents,
        _cfg: &mut aws_sdk_ecs::config::ConfigBag,
    ) -> Result<(), aws_sdk_ecs::error::BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0);
        Ok(())
    }
}

#[tokio::test]
async fn an_accounts_first_cluster_is_retried_until_the_service_linked_role_exists() {
    use local_harness::world::FixedRollout;
    use provisioner::rollout::RolloutOutcome;
    let w = World::new().await;
    // A fresh account: its first CreateCluster with capacity providers meets the
    // service-linked role still being made (the strict layer plays it).
    let config = local_harness::moto::sdk_config(&w.endpoint);
    let clients = w.clients.clone().with_ecs(aws_sdk_ecs::Client::from_conf(
        aws_sdk_ecs::config::Builder::from(&config)
            .interceptor(Account("000000000042"))
            .build(),
    ));
    let name = w.name("first");
    let p = w.cfn.request(
        "Create",
        TYPE,
        "Cluster",
        &json!({"ClusterName": name}),
        None,
        None,
    );
    local_harness::cfn::invoke_in_process(
        &p,
        clients,
        Box::new(FixedRollout(RolloutOutcome::Completed)),
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap();
    let answer = w.cfn.answers(&p).pop().unwrap();
    assert!(answer.is_success(), "{}", answer.reason);
    assert_eq!(
        local_harness::strict::calls("ecs:CreateCluster", &name),
        2,
        "refused once, then retried"
    );
}
