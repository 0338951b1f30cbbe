//! The whole environment from template.yaml, through the real provisioner binary speaking the
//! Lambda Runtime API, on the strict local AWS: create in dependency order, the event functions'
//! main paths, update, delete; every function signs as itself and every call it makes is
//! authorized against its own policy in template.yaml. A policy missing one needed action fails.

use local_harness::moto;
use local_harness::runtime_api::LambdaProcess;
use local_harness::scenarios::{image_pruner, redeployer};
use local_harness::stack::{
    build_function, build_provisioner, function_key, LocalStack, PROVISIONER,
};
use local_harness::strict;
use local_harness::template::Template;
use local_harness::world::World;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

fn parameters(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("AppName".to_string(), app.to_string()),
        // moto never finishes a deployment.
        ("WaitForSteadyState".to_string(), "false".to_string()),
    ])
}

/// Every authorization made for `logical_id` of `stack`, printed; the ones not allowed.
fn denials(stack: &str, logical_id: &str) -> Vec<String> {
    let decisions = strict::decisions(&function_key(stack, logical_id));
    println!("---- {logical_id}: {} authorizations", decisions.len());
    for d in &decisions {
        println!("{d}");
    }
    decisions
        .iter()
        .filter(|d| !d.allowed())
        .map(|d| format!("{logical_id}: {d}"))
        .collect()
}

/// Runs one of the template's event functions under its own policy for one event.
async fn run(
    stack: &LocalStack<'_>,
    logical_id: &str,
    binary: &str,
    event: Value,
) -> Result<Value, Value> {
    let env = stack.function_env(logical_id).unwrap();
    let process = LambdaProcess::start(&build_function(binary), binary, &env)
        .await
        .unwrap();
    let outcome = process
        .runtime
        .invoke(event, Duration::from_secs(120))
        .await;
    let init = process.runtime.init_error();
    process.stop().await;
    outcome.unwrap_or_else(|| panic!("{binary} did not answer; init error {init:?}"))
}

#[tokio::test]
async fn the_template_deploys_updates_and_deletes_with_every_function_under_its_own_policy() {
    let w = World::new().await;
    let app = w.name("booker");
    let stack_name = format!("stack-{}", w.id);
    let mut stack = LocalStack::for_test(&w, &app, &[]).await;

    let created = stack.create().await;
    let mut denied = denials(&stack_name, PROVISIONER);
    assert!(
        created.is_ok() && denied.is_empty(),
        "create: {created:?}\ndenied:\n{}",
        denied.join("\n")
    );
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
    let described = w
        .clients
        .ecs()
        .describe_services()
        .cluster(&app)
        .services(&app)
        .send()
        .await
        .unwrap();
    let service = &described.services()[0];
    assert_eq!(service.status(), Some("ACTIVE"));
    assert_eq!(service.desired_count(), 2);
    assert_eq!(service.load_balancers()[0].container_port(), Some(80));

    // A push of the tracked tag: the redeployer rolls the service onto it, under its policy.
    let pushed = w.push_image(&app, "latest", 7).await;
    let rolled = run(
        &stack,
        "RedeployerFunction",
        "redeployer",
        redeployer::ecr_event("PUSH", &app, Some("latest"), &pushed),
    )
    .await;
    denied.extend(denials(&stack_name, "RedeployerFunction"));
    assert!(
        rolled.as_ref().is_ok_and(|r| r["decision"] == "deployed"),
        "redeployer: {rolled:?}\ndenied:\n{}",
        denied.join("\n")
    );
    // The daily prune, under its policy.
    let pruned = run(
        &stack,
        "ImagePrunerFunction",
        "image-pruner",
        image_pruner::schedule_event(),
    )
    .await;
    denied.extend(denials(&stack_name, "ImagePrunerFunction"));
    assert!(
        pruned.is_ok(),
        "image-pruner: {pruned:?}\ndenied:\n{}",
        denied.join("\n")
    );

    // The CPU alarm in ALARM: the autoscaler's schedule acts on it, under its policy (the
    // alarms are moto's own, read through the layer's CBOR translation).
    let alarms: Vec<&str> = stack
        .steps
        .iter()
        .filter(|s| s.kind == "AWS::CloudWatch::Alarm" && s.reason == "made in moto")
        .map(|s| s.logical_id.as_str())
        .collect();
    assert!(
        alarms.contains(&"CpuHighAlarm"),
        "{:?}",
        stack
            .steps
            .iter()
            .filter(|s| s.kind == "AWS::CloudWatch::Alarm")
            .collect::<Vec<_>>()
    );
    let cw = aws_sdk_cloudwatch::Client::new(&moto::sdk_config(&w.endpoint));
    cw.set_alarm_state()
        .alarm_name(format!("{app}-cpu-high"))
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason(
            "Threshold Crossed: 2 datapoints [91.0, 93.5] were greater than the threshold (85.0).",
        )
        .send()
        .await
        .unwrap();
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(moto::workspace_root().join("events/autoscaler/schedule.json"))
            .unwrap(),
    )
    .unwrap();
    let scaled = run(&stack, "AutoscalerFunction", "autoscaler", event).await;
    denied.extend(denials(&stack_name, "AutoscalerFunction"));
    assert!(
        scaled.is_ok() && denied.is_empty(),
        "autoscaler: {scaled:?}\ndenied:\n{}",
        denied.join("\n")
    );
    println!("autoscaler: {scaled:?}");

    // sam deploy with a new tag (pushed first) and a new desired count.
    let digest = w.push_image(&app, "v2", 42).await;
    let changed = stack
        .update(&BTreeMap::from([
            ("ImageTag".to_string(), "v2".to_string()),
            ("DesiredCount".to_string(), "3".to_string()),
        ]))
        .await;
    let denied_now = denials(&stack_name, PROVISIONER);
    assert_eq!(
        changed,
        Ok(vec!["Service".to_string()]),
        "only the service's properties changed; denied:\n{}",
        denied_now.join("\n")
    );
    let described = w
        .clients
        .ecs()
        .describe_services()
        .cluster(&app)
        .services(&app)
        .send()
        .await
        .unwrap();
    let service = &described.services()[0];
    assert_eq!(service.desired_count(), 3);
    let td = w
        .clients
        .ecs()
        .describe_task_definition()
        .task_definition(service.task_definition().unwrap())
        .send()
        .await
        .unwrap();
    assert!(td.task_definition().unwrap().container_definitions()[0]
        .image()
        .unwrap()
        .ends_with(&format!("@{digest}")));

    // sam delete: the repository holds images, so it is retained rather than emptied; the
    // cluster goes although its service is still draining.
    let deleted = stack.delete().await;
    let denied_now = denials(&stack_name, PROVISIONER);
    assert!(
        deleted.is_ok() && denied_now.is_empty(),
        "delete: {deleted:?}\ndenied:\n{}",
        denied_now.join("\n")
    );
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
    let described = w
        .clients
        .ecs()
        .describe_services()
        .cluster(&app)
        .services(&app)
        .send()
        .await
        .unwrap();
    assert!(described
        .services()
        .iter()
        .all(|s| s.status() != Some("ACTIVE")));
    let lbs = w
        .clients
        .elb()
        .describe_load_balancers()
        .names(&app)
        .send()
        .await;
    assert!(lbs.is_err() || lbs.unwrap().load_balancers().is_empty());
    stack.stop().await;
}

/// The template with `action` removed from the provisioner's statements.
fn without(template: &Template, action: &str) -> Template {
    let mut t = template.clone();
    let mut removed = 0;
    for statement in t
        .function_policy_documents_mut(PROVISIONER)
        .into_iter()
        .flat_map(|p| p["Statement"].as_array_mut().unwrap().iter_mut())
    {
        match &mut statement["Action"] {
            Value::Array(actions) => {
                let before = actions.len();
                actions.retain(|a| a != action);
                removed += before - actions.len();
            }
            single if *single == action => {
                *single = Value::String("ecs:ListClusters".into());
                removed += 1;
            }
            _ => {}
        }
    }
    assert!(
        removed > 0,
        "{action} is not in the provisioner's statements"
    );
    t
}

#[tokio::test]
async fn a_provisioner_policy_missing_one_needed_action_fails_the_deploy_naming_it() {
    let template = Template::load(&moto::workspace_root().join("template.yaml")).unwrap();
    let bin = build_provisioner();
    for action in ["elasticloadbalancing:AddTags", "ecs:CreateService"] {
        let w = World::new().await;
        let stripped = without(&template, action);
        let stack_name = format!("stack-{}", w.id);
        let mut stack = LocalStack::new(
            &stripped,
            &parameters(&w.name("booker")),
            &stack_name,
            &w.endpoint,
            &bin,
            Box::new(|_| {}),
        )
        .await
        .unwrap();
        let err = stack
            .create()
            .await
            .expect_err("the deploy cannot succeed without it");
        assert!(
            err.contains(&format!("not authorized to perform: {action}")),
            "{action}: {err}"
        );
        let decisions = strict::decisions(&function_key(&stack_name, PROVISIONER));
        assert!(
            decisions.iter().any(|d| d.action == action && !d.allowed()),
            "{action}"
        );
        stack.stop().await;
    }
}
