//! `skyhigh status` against the local AWS: the template deployed, its Outputs registered as a
//! moto stack, an image pushed and rolled out, an operator log line in its log group; then the
//! status read in-process and by the real binary (table and `--json`).

use local_harness::moto;
use local_harness::outputs_stack;
use local_harness::stack::{build_function, LocalStack};
use local_harness::world::World;
use skyhigh_cli::read::{self, Clients};
use skyhigh_cli::render::{render, WIDTH};
use std::collections::BTreeMap;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A line as the autoscaler logs its decision (functions/autoscaler/src/lib.rs, `Outcome::log`),
/// written where Lambda would write it.
async fn log_decision(w: &World, group: &str, at_ms: i64) {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&moto::sdk_config(&w.endpoint));
    let _ = logs.create_log_group().log_group_name(group).send().await;
    logs.create_log_stream()
        .log_group_name(group)
        .log_stream_name("2026/11/27/[$LATEST]local")
        .send()
        .await
        .unwrap();
    let line = r#"{"level":"INFO","fields":{"message":"decision","outcome":"ScaledOut","trigger":"Alarm","from":2,"to":3,"why":"cpu-high in ALARM: one step out"}}"#;
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name("2026/11/27/[$LATEST]local")
        .log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(at_ms)
                .message(line)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_status_shows_the_deployed_stack() {
    let w = World::new().await;
    let app = w.name("status");
    let stack_name = format!("stack-{}", w.id);
    let mut stack = LocalStack::for_test(&w, &app, &[]).await;
    stack.create().await.unwrap();
    let digest = w.push_image(&app, "v2", 77).await;
    stack
        .update(&BTreeMap::from([(
            "ImageTag".to_string(),
            "v2".to_string(),
        )]))
        .await
        .unwrap();
    let outputs = stack.outputs().unwrap();
    outputs_stack::register(&w.endpoint, &stack_name, &outputs)
        .await
        .unwrap();
    let autoscaler_logs = outputs["OperatorLogGroups"]
        .split_whitespace()
        .find(|g| g.contains("Autoscaler") || g.ends_with("/autoscaler"))
        .unwrap()
        .to_string();
    log_decision(&w, &autoscaler_logs, now_ms() - 60_000).await;

    let clients = Clients::new(&moto::sdk_config(&w.endpoint));
    let status = read::status(&clients, &stack_name, now_ms()).await.unwrap();
    assert_eq!(status.problems, Vec::<String>::new());
    let running = status.running.as_ref().unwrap();
    assert_eq!(running.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(running.tags, ["v2"]);
    assert_eq!(running.in_repository, Some(true));
    let service = status.service.as_ref().unwrap();
    assert_eq!((service.status.as_str(), service.desired), ("ACTIVE", 2));
    assert!(!service.deployments.is_empty());
    assert_eq!(status.bounds, Some((1, 5)));
    assert_eq!(status.targets, Some(vec![]));
    let alarms: Vec<&str> = status.alarms.iter().map(|a| a.name.as_str()).collect();
    assert!(
        alarms.contains(&format!("{app}-cpu-high").as_str()),
        "{alarms:?}"
    );
    assert_eq!(status.repository.as_ref().unwrap().images, 1);
    assert_eq!(status.decisions[0].function, "autoscaler");
    assert_eq!(status.decisions[0].why, "cpu-high in ALARM: one step out");
    // moto runs no task.
    assert!(
        status
            .attention
            .contains(&"running 0 of 2 desired tasks".to_string()),
        "{:?}",
        status.attention
    );
    for line in render(&status).lines() {
        assert!(line.chars().count() <= WIDTH, "{line}");
    }

    // The binary, as a person runs it.
    let bin = build_function("skyhigh");
    let home = std::env::temp_dir().join(format!("skyhigh-status-home-{}", w.id));
    std::fs::create_dir_all(&home).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(&bin)
            .args(args)
            .env_clear()
            .envs(moto::process_env(&w.endpoint, &home))
            .output()
            .unwrap()
    };
    let table = run(&["status", "--stack", &stack_name]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&table.stderr)
    );
    assert!(
        text.contains(&format!("Repository   {app}: 1 images")),
        "{text}"
    );
    assert!(text.contains("cpu-high in ALARM: one step out"), "{text}");
    let json = run(&["status", "--stack", &stack_name, "--json"]);
    assert!(json.status.success());
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["running"]["digest"], digest.as_str());
    assert_eq!(value["bounds"], serde_json::json!([1, 5]));

    let missing = run(&["status", "--stack", "no-such-stack"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no-such-stack not found"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    stack.stop().await;
}
