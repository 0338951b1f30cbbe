//! The autoscaler's scenarios: a service with a scalable target in moto, the service's CPU and
//! memory alarms (moto never fires them: the harness plays CloudWatch and hands the function
//! the real-shaped event), the benchmark case and the demo step "CPU alarm fires → 2 → N".

use super::BenchCase;
use crate::moto::{self, ACCOUNT, REGION};
use crate::runtime_api::LambdaProcess;
use crate::world::World;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// One of the four alarms template.yaml creates for the service.
#[derive(Debug, Clone)]
pub struct AlarmSpec {
    /// `cpu-high`, `cpu-low`, `memory-high`, `memory-low`: the alarm is `<service>-<suffix>`.
    pub suffix: &'static str,
    pub metric: &'static str,
    pub comparison: &'static str,
    pub threshold: f64,
    pub period: u32,
    pub evaluation_periods: u32,
}

/// As in template.yaml (the seed's high-CPU alarm: above 85 % for 2 periods of 120 s).
pub const ALARMS: [AlarmSpec; 4] = [
    AlarmSpec {
        suffix: "cpu-high",
        metric: "CPUUtilization",
        comparison: "GreaterThanThreshold",
        threshold: 85.0,
        period: 120,
        evaluation_periods: 2,
    },
    AlarmSpec {
        suffix: "cpu-low",
        metric: "CPUUtilization",
        comparison: "LessThanThreshold",
        threshold: 20.0,
        period: 300,
        evaluation_periods: 3,
    },
    AlarmSpec {
        suffix: "memory-high",
        metric: "MemoryUtilization",
        comparison: "GreaterThanThreshold",
        threshold: 90.0,
        period: 120,
        evaluation_periods: 2,
    },
    AlarmSpec {
        suffix: "memory-low",
        metric: "MemoryUtilization",
        comparison: "LessThanThreshold",
        threshold: 30.0,
        period: 300,
        evaluation_periods: 3,
    },
];

pub fn alarm_name(service: &str, suffix: &str) -> String {
    format!("{service}-{suffix}")
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One CloudWatch Query API call to moto (no aws-sdk-cloudwatch in this crate); the answer's text.
pub async fn cloudwatch_call(endpoint: &str, params: &[(&str, &str)]) -> Result<String, String> {
    let mut form = vec![("Version", "2010-08-01")];
    form.extend_from_slice(params);
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let auth = format!("AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/monitoring/aws4_request, SignedHeaders=host, Signature=0");
    let response = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("authorization", auth)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("cloudwatch call: {e}"))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("cloudwatch {params:?}: HTTP {status}: {text}"));
    }
    Ok(text)
}

/// Creates (or overwrites) one of the service's alarms, its action the function.
pub async fn put_alarm(
    endpoint: &str,
    cluster: &str,
    service: &str,
    spec: &AlarmSpec,
) -> Result<(), String> {
    let name = alarm_name(service, spec.suffix);
    let (threshold, period, periods) = (
        spec.threshold.to_string(),
        spec.period.to_string(),
        spec.evaluation_periods.to_string(),
    );
    let action = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{service}-autoscaler");
    cloudwatch_call(
        endpoint,
        &[
            ("Action", "PutMetricAlarm"),
            ("AlarmName", &name),
            ("Namespace", "AWS/ECS"),
            ("MetricName", spec.metric),
            ("Statistic", "Average"),
            ("Period", &period),
            ("EvaluationPeriods", &periods),
            ("Threshold", &threshold),
            ("ComparisonOperator", spec.comparison),
            ("Dimensions.member.1.Name", "ClusterName"),
            ("Dimensions.member.1.Value", cluster),
            ("Dimensions.member.2.Name", "ServiceName"),
            ("Dimensions.member.2.Value", service),
            ("AlarmActions.member.1", &action),
        ],
    )
    .await
    .map(|_| ())
}

/// The four alarms of the service.
pub async fn put_alarms(endpoint: &str, cluster: &str, service: &str) -> Result<(), String> {
    for spec in &ALARMS {
        put_alarm(endpoint, cluster, service, spec).await?;
    }
    Ok(())
}

/// What CloudWatch does when an alarm's datapoints cross its threshold (moto never evaluates).
pub async fn set_alarm_state(endpoint: &str, name: &str, state: &str) -> Result<(), String> {
    cloudwatch_call(
        endpoint,
        &[
            ("Action", "SetAlarmState"),
            ("AlarmName", name),
            ("StateValue", state),
            ("StateReason", "set by the local harness"),
        ],
    )
    .await
    .map(|_| ())
}

/// A sample event from events/autoscaler/ (`cpu-high-alarm`, `cpu-low-alarm`, … with
/// `-eventbridge` for the EventBridge form), re-aimed at this cluster and service.
pub fn event(file: &str, cluster: &str, service: &str) -> Value {
    let path = moto::workspace_root()
        .join("events/autoscaler")
        .join(format!("{file}.json"));
    let mut e: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the sample event"))
            .expect("sample events are JSON");
    let data_key = if e.get("detail").is_some() {
        "detail"
    } else {
        "alarmData"
    };
    let data = &mut e[data_key];
    let suffix = data["alarmName"]
        .as_str()
        .and_then(|n| n.strip_prefix("sky-high-booker-"))
        .expect("sample alarms are named sky-high-booker-<suffix>")
        .to_string();
    let name = alarm_name(service, &suffix);
    data["alarmName"] = json!(name);
    for m in data["configuration"]["metrics"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        m["metricStat"]["metric"]["dimensions"] =
            json!({"ClusterName": cluster, "ServiceName": service});
    }
    let arn = format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}");
    if data_key == "detail" {
        e["resources"] = json!([arn]);
    } else {
        e["alarmArn"] = json!(arn);
    }
    e
}

/// The function's settings for this service.
pub fn settings(cluster: &str, service: &str) -> Vec<(String, String)> {
    vec![
        ("CLUSTER_NAME".into(), cluster.into()),
        ("SERVICE_NAME".into(), service.into()),
    ]
}

/// A cluster and a service (desired 2) with its scalable target [min, max], made through the
/// provisioner in process, as template.yaml would. Returns (cluster, service).
pub async fn service_with_target(w: &World, min: i32, max: i32) -> (String, String) {
    let repo = w
        .create("Custom::Repository", "Repository", &w.repository_props())
        .await;
    let cluster = w
        .create("Custom::Cluster", "Cluster", &w.cluster_props())
        .await;
    assert!(
        repo.is_success() && cluster.is_success(),
        "{} {}",
        repo.reason,
        cluster.reason
    );
    let mut props = w.service_props(&repo.data("RepositoryUri"), "unused").await;
    let props_map = props.as_object_mut().expect("an object");
    props_map.remove("TargetGroupArn");
    props_map.insert("MinCapacity".into(), json!(min.to_string()));
    props_map.insert("MaxCapacity".into(), json!(max.to_string()));
    let service = w.create("Custom::Service", "Service", &props).await;
    assert!(service.is_success(), "{}", service.reason);
    (cluster.data("ClusterName"), service.data("ServiceName"))
}

pub async fn bench_case(w: &World) -> BenchCase {
    let (cluster, service) = service_with_target(w, 1, 5).await;
    BenchCase {
        env: settings(&cluster, &service),
        event: event("cpu-high-alarm", &cluster, &service),
    }
}

async fn desired(
    w: &World,
    cluster: &str,
    service: &str,
) -> Result<(i32, Vec<(String, String)>), String> {
    let out = w
        .clients
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .send()
        .await
        .map_err(|e| format!("DescribeServices: {e}"))?;
    let s = out.services().first().ok_or("service not found")?;
    let tags = s
        .tags()
        .iter()
        .filter(|t| {
            t.key()
                .is_some_and(|k| k.starts_with("skyhigh:autoscaler:"))
        })
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    Ok((s.desired_count(), tags))
}

/// The demo step "CPU alarm fires → service scales 2 → N", against a deployed stack.
pub async fn demo(w: &World, binary: &Path, cluster: &str, service: &str) -> Result<(), String> {
    println!("\n5. CPU alarm fires → the autoscaler scales the service");
    let alarm = alarm_name(service, "cpu-high");
    let listed = cloudwatch_call(
        &w.endpoint,
        &[
            ("Action", "DescribeAlarms"),
            ("AlarmNames.member.1", &alarm),
        ],
    )
    .await?;
    if !listed.contains(&alarm) {
        put_alarms(&w.endpoint, cluster, service).await?;
        println!(
            "  alarms {service}-{{cpu,memory}}-{{high,low}} created (moto never evaluates them)"
        );
    }
    set_alarm_state(&w.endpoint, &alarm, "ALARM").await?;
    let home = std::env::temp_dir().join(format!("skyhigh-demo-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let mut env = moto::process_env(&w.endpoint, &home);
    env.extend(settings(cluster, service));
    let process = LambdaProcess::start(binary, "autoscaler", &env)
        .await
        .map_err(|e| format!("start autoscaler: {e}"))?;
    let event = event("cpu-high-alarm", cluster, service);
    let mut result = Ok(());
    for (i, attempt) in [
        "alarm → ALARM (CPU 93.5 % vs target 70 %)",
        "the same alarm again, within the 60 s cooldown",
    ]
    .into_iter()
    .enumerate()
    {
        let (before, _) = desired(w, cluster, service).await?;
        match process
            .runtime
            .invoke(event.clone(), Duration::from_secs(60))
            .await
        {
            Some(Ok(r)) => {
                let d = &r["decision"];
                let (after, tags) = desired(w, cluster, service).await?;
                println!("  {alarm}: {attempt}");
                println!(
                    "    desired {before} → {after}   ({} AWS calls)",
                    r["aws_calls"]
                );
                println!("    decision: {}", d["why"].as_str().unwrap_or_default());
                for (k, v) in tags.into_iter().filter(|_| i == 0) {
                    println!("    tag {k} = {v}");
                }
            }
            other => {
                result = Err(format!("autoscaler invocation failed: {other:?}"));
                break;
            }
        }
    }
    process.stop().await;
    let _ = std::fs::remove_dir_all(&home);
    result
}
