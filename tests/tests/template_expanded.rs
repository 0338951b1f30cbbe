//! template.yaml as CloudFormation receives it (expanded by SAM's own translator, offline):
//! every asynchronous trigger keeps what it could not deliver, the event functions never run
//! concurrently with themselves, and every function's log group exists before the function.

use local_harness::moto::workspace_root;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::Command;

/// The expanded template's Resources.
fn expanded() -> serde_json::Map<String, Value> {
    let root = workspace_root();
    let out = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/sam/expand.py"))
        .arg(root.join("template.yaml"))
        .output()
        .expect("run tests/sam/expand.py with .venv's Python (make tools installs it)");
    assert!(
        out.status.success(),
        "SAM's translator refused template.yaml: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let template: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    template["Resources"]
        .as_object()
        .expect("Resources")
        .clone()
}

fn of_type<'a>(resources: &'a serde_json::Map<String, Value>, kind: &str) -> Vec<&'a str> {
    resources
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(id, _)| id.as_str())
        .collect()
}

/// The logical id a `{"Fn::GetAtt": [id, attribute]}` or `{"Ref": id}` names.
fn named(value: &Value) -> Option<&str> {
    value["Fn::GetAtt"][0]
        .as_str()
        .or_else(|| value["Ref"].as_str())
}

/// Functions that EventBridge rules or alarm actions invoke (asynchronously).
fn event_functions(resources: &serde_json::Map<String, Value>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for r in resources.values() {
        let targets: Vec<&Value> = match r["Type"].as_str() {
            Some("AWS::Events::Rule") => r["Properties"]["Targets"]
                .as_array()
                .map(|t| t.iter().map(|t| &t["Arn"]).collect())
                .unwrap_or_default(),
            Some("AWS::CloudWatch::Alarm") => r["Properties"]["AlarmActions"]
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default(),
            _ => continue,
        };
        for t in targets {
            if let Some(id) = named(t) {
                if resources[id]["Type"] == "AWS::Lambda::Function" {
                    found.insert(id.to_string());
                }
            }
        }
    }
    found
}

#[test]
fn every_function_keeps_its_failed_events_for_14_days_and_alarms_on_them() {
    let resources = expanded();
    let functions = of_type(&resources, "AWS::Lambda::Function");
    assert_eq!(functions.len(), 4, "{functions:?}");
    for function in functions {
        let config = resources
            .values()
            .find(|r| {
                r["Type"] == "AWS::Lambda::EventInvokeConfig"
                    && r["Properties"]["FunctionName"] == json!({"Ref": function})
            })
            .unwrap_or_else(|| panic!("{function}: no EventInvokeConfig"));
        let destination = &config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"];
        let queue = named(destination)
            .unwrap_or_else(|| panic!("{function}: no on-failure destination in the stack"));
        let q = &resources[queue];
        assert_eq!(q["Type"], "AWS::SQS::Queue", "{function}: {queue}");
        assert_eq!(
            q["Properties"]["MessageRetentionPeriod"], 1_209_600,
            "{queue}: kept 14 days"
        );
        assert!(
            config["Properties"]["MaximumRetryAttempts"]
                .as_u64()
                .is_some_and(|n| n <= 2),
            "{function}"
        );

        let alarmed = resources.values().any(|r| {
            let p = &r["Properties"];
            r["Type"] == "AWS::CloudWatch::Alarm"
                && p["Namespace"] == "AWS/SQS"
                && p["MetricName"] == "ApproximateNumberOfMessagesVisible"
                && p["Dimensions"][0]["Value"] == json!({"Fn::GetAtt": [queue, "QueueName"]})
                && p["Threshold"] == 0
                && p["ComparisonOperator"] == "GreaterThanThreshold"
        });
        assert!(alarmed, "{queue}: no alarm on its depth");

        let role = named(&resources[function]["Properties"]["Role"]).expect("a role");
        let may_send = resources[role]["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| {
                p["PolicyDocument"]["Statement"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .any(|s| {
                s["Action"] == "sqs:SendMessage"
                    && s["Resource"] == json!({"Fn::GetAtt": [queue, "Arn"]})
            });
        assert!(may_send, "{function}: its role may not send to {queue}");
    }
}

#[test]
fn event_functions_run_one_at_a_time_and_on_a_schedule() {
    let resources = expanded();
    let functions = event_functions(&resources);
    assert_eq!(
        functions,
        BTreeSet::from(
            [
                "AutoscalerFunction",
                "ImagePrunerFunction",
                "RedeployerFunction"
            ]
            .map(String::from)
        )
    );
    for function in &functions {
        assert_eq!(
            resources[function]["Properties"]["ReservedConcurrentExecutions"],
            json!({"Fn::If": ["SerializeEvents", 1, {"Ref": "AWS::NoValue"}]}),
            "{function}: reads then writes, so one invocation at a time"
        );
        let scheduled = resources.values().any(|r| {
            r["Type"] == "AWS::Events::Rule"
                && r["Properties"]["ScheduleExpression"].is_string()
                && r["Properties"]["Targets"][0]["Arn"] == json!({"Fn::GetAtt": [function, "Arn"]})
        });
        assert!(scheduled, "{function}: no schedule heals a lost event");
    }
}

#[test]
fn every_function_logs_to_a_group_the_stack_made_first() {
    let resources = expanded();
    for function in of_type(&resources, "AWS::Lambda::Function") {
        let group = named(&resources[function]["Properties"]["LoggingConfig"]["LogGroup"])
            .unwrap_or_else(|| panic!("{function}: LoggingConfig.LogGroup is not the stack's"));
        let g = &resources[group];
        assert_eq!(g["Type"], "AWS::Logs::LogGroup", "{function}");
        assert!(g["Properties"]["RetentionInDays"].is_number(), "{group}");
        // A group named after the function would be the one Lambda creates itself on the first
        // invocation: "already exists" on create, back without retention after a delete.
        let name = g["Properties"]["LogGroupName"].to_string();
        assert!(!name.contains(function), "{group}: {name}");
    }
}
