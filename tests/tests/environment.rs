//! The whole environment from template.yaml, through the real provisioner binary speaking the
//! Lambda Runtime API: create in dependency order, update, delete.

use local_harness::moto;
use local_harness::stack::{build_provisioner, LocalStack};
use local_harness::template::Template;
use local_harness::world::World;
use std::collections::BTreeMap;

#[tokio::test]
async fn the_template_deploys_updates_and_deletes_in_dependency_order() {
    let w = World::new().await;
    let template = Template::load(&moto::workspace_root().join("template.yaml")).unwrap();
    let app = w.name("booker");
    let parameters = BTreeMap::from([
        ("AppName".to_string(), app.clone()),
        // moto never finishes a deployment.
        ("WaitForSteadyState".to_string(), "false".to_string()),
    ]);
    let bin = build_provisioner();
    let mut stack = LocalStack::new(
        &template,
        &parameters,
        &format!("stack-{}", w.id),
        &w.endpoint,
        &bin,
        Box::new(|_| {}),
    )
    .await
    .unwrap();

    stack.create().await.unwrap();
    let customs: Vec<&str> = stack
        .steps
        .iter()
        .filter(|s| s.kind.starts_with("Custom::"))
        .map(|s| s.logical_id.as_str())
        .collect();
    let at = |id: &str| customs.iter().position(|c| *c == id).unwrap();
    assert!(
        at("Repository") < at("Service")
            && at("Cluster") < at("Service")
            && at("LoadBalancer") < at("Service")
    );
    let outputs = stack.outputs().unwrap();
    assert!(outputs["Url"].starts_with("http://"), "{outputs:?}");
    assert_eq!(outputs["ServiceName"], app);
    assert_eq!(outputs["ClusterName"], app);
    assert!(outputs["RepositoryUri"].ends_with(&format!("/{app}")));
    let service = w
        .clients
        .ecs
        .describe_services()
        .cluster(&app)
        .services(&app)
        .send()
        .await
        .unwrap();
    let service = &service.services()[0];
    assert_eq!(service.status(), Some("ACTIVE"));
    assert_eq!(service.desired_count(), 2);
    assert_eq!(service.load_balancers()[0].container_port(), Some(80));

    // sam deploy with a new tag (pushed first) and a new desired count.
    let digest = w.push_image(&app, "v2", 42).await;
    let changed = stack
        .update(&BTreeMap::from([
            ("ImageTag".to_string(), "v2".to_string()),
            ("DesiredCount".to_string(), "3".to_string()),
        ]))
        .await
        .unwrap();
    assert_eq!(
        changed,
        vec!["Service".to_string()],
        "only the service's properties changed"
    );
    let service = w
        .clients
        .ecs
        .describe_services()
        .cluster(&app)
        .services(&app)
        .send()
        .await
        .unwrap();
    let service = &service.services()[0];
    assert_eq!(service.desired_count(), 3);
    let td = w
        .clients
        .ecs
        .describe_task_definition()
        .task_definition(service.task_definition().unwrap())
        .send()
        .await
        .unwrap();
    assert!(td.task_definition().unwrap().container_definitions()[0]
        .image()
        .unwrap()
        .ends_with(&format!("@{digest}")));

    // sam delete: the repository holds an image, so it is retained rather than emptied.
    stack.delete().await.unwrap();
    let repo_step = stack
        .steps
        .iter()
        .rev()
        .find(|s| s.logical_id == "Repository")
        .unwrap();
    assert!(
        repo_step.reason.contains("retained"),
        "{}",
        repo_step.reason
    );
    let service = w
        .clients
        .ecs
        .describe_services()
        .cluster(&app)
        .services(&app)
        .send()
        .await
        .unwrap();
    assert!(service
        .services()
        .iter()
        .all(|s| s.status() != Some("ACTIVE")));
    let lbs = w
        .clients
        .elb
        .describe_load_balancers()
        .names(&app)
        .send()
        .await;
    assert!(lbs.is_err() || lbs.unwrap().load_balancers().is_empty());
    stack.stop().await;
}
