//! template.yaml as CloudFormation receives it (expanded by SAM's own translator, offline):
//! every asynchronous trigger keeps what it could not deliver, the event functions never run
//! concurrently with themselves, and every function's log group exists before the function.

use local_harness::template::expanded_by_sam;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The expanded template's Resources.
fn expanded() -> serde_json::Map<String, Value> {
    expanded_by_sam()["Resources"]
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

/// `Fn::Sub`, `Ref` and `Fn::GetAtt` replaced by the longest value each can take on a real
/// account, so that a size check holds for every stack.
fn longest(value: &Value) -> Value {
    // AppName's pattern allows 26 characters; the longest region name is 14.
    let subs = [
        ("AWS::Partition", "aws-iso-b"),
        ("AWS::Region", "ap-southeast-7"),
        ("AWS::AccountId", "123456789012"),
        ("AWS::StackName", &"s".repeat(128)),
        ("AppName", &"a".repeat(26)),
    ];
    match value {
        Value::Object(o) if o.contains_key("Fn::Sub") => {
            let mut text = o["Fn::Sub"].as_str().unwrap_or_default().to_string();
            for (name, with) in subs {
                text = text.replace(&format!("${{{name}}}"), with);
            }
            Value::String(text)
        }
        // A stack id: arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<uuid>.
        Value::Object(o) if o.get("Ref").is_some_and(|r| r == "AWS::StackId") => {
            Value::String(format!(
                "arn:aws-iso-b:cloudformation:ap-southeast-7:123456789012:stack/{}/{}",
                "s".repeat(128),
                "u".repeat(36)
            ))
        }
        // An ARN of another resource of the stack (roles, the service, queues): at most 120.
        Value::Object(o) if o.contains_key("Ref") || o.contains_key("Fn::GetAtt") => {
            Value::String("x".repeat(120))
        }
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), longest(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(longest).collect()),
        other => other.clone(),
    }
}

/// A policy document's size as IAM counts it: whitespace not counted.
fn policy_size(document: &Value) -> usize {
    serde_json::to_string(&longest(document))
        .unwrap()
        .chars()
        .filter(|c| !c.is_whitespace())
        .count()
}

#[test]
fn every_role_fits_iams_policy_quotas() {
    // "IAM and AWS STS quotas": a role's inline policies together hold at most 10,240
    // characters, a managed policy 6,144, and a role takes 10 managed policies by default;
    // CloudFormation fails the role or the policy beyond that.
    let resources = expanded();
    for id in of_type(&resources, "AWS::IAM::ManagedPolicy") {
        let size = policy_size(&resources[id]["Properties"]["PolicyDocument"]);
        assert!(size <= 6_144, "{id}: {size} characters of managed policy");
    }
    for role in of_type(&resources, "AWS::IAM::Role") {
        let properties = &resources[role]["Properties"];
        let inline: usize = properties["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| policy_size(&p["PolicyDocument"]))
            .sum();
        assert!(
            inline <= 10_240,
            "{role}: {inline} characters of inline policy"
        );
        let managed = properties["ManagedPolicyArns"]
            .as_array()
            .map_or(0, Vec::len);
        assert!(managed <= 10, "{role}: {managed} managed policies");
    }
}
