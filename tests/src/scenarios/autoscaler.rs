//! The autoscaler's scenarios: a service with a scalable target in moto, the service's CPU and
//! memory alarms (played by [`StandIn`]: moto cannot answer aws-sdk-cloudwatch, nor
//! DescribeScalingActivities), real-shaped events, the benchmark case and the demo step
//! "CPU alarm fires → 3 → 5".

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

/// Seconds since the epoch, as AWS stamps times (the function reads the same clock).
pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// One alarm as the stand-in keeps it.
#[derive(Debug, Clone)]
pub struct StandInAlarm {
    pub name: String,
    pub metric: String,
    pub comparison: String,
    pub threshold: f64,
    pub dimensions: Vec<(String, String)>,
    pub in_alarm: bool,
    /// StateTransitionedTimestamp, seconds since the epoch.
    pub transitioned_at: f64,
    /// `recentDatapoints` of the state's reason data.
    pub datapoints: Vec<f64>,
    pub actions: Vec<String>,
    pub actions_enabled: bool,
}

impl StandInAlarm {
    /// One of the four alarms template.yaml makes for the service, in OK, its action the function.
    pub fn of_template(spec: &AlarmSpec, cluster: &str, service: &str) -> StandInAlarm {
        StandInAlarm {
            name: alarm_name(service, spec.suffix),
            metric: spec.metric.into(),
            comparison: spec.comparison.into(),
            threshold: spec.threshold,
            dimensions: vec![
                ("ClusterName".into(), cluster.into()),
                ("ServiceName".into(), service.into()),
            ],
            in_alarm: false,
            transitioned_at: now_secs() - 3600.0,
            datapoints: vec![],
            actions: vec![format!(
                "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{service}-autoscaler"
            )],
            actions_enabled: true,
        }
    }

    fn to_cbor(&self) -> ciborium::Value {
        use ciborium::Value as V;
        let text = |s: &str| V::Text(s.to_string());
        // RPC v2 CBOR timestamps: tag 1 around epoch seconds.
        let time = |t: f64| V::Tag(1, Box::new(V::Float(t)));
        let reason_data = serde_json::json!({"version": "1.0", "statistic": "Average",
            "recentDatapoints": self.datapoints, "threshold": self.threshold})
        .to_string();
        V::Map(vec![
            (text("AlarmName"), text(&self.name)),
            (
                text("AlarmArn"),
                text(&format!(
                    "arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{}",
                    self.name
                )),
            ),
            (text("Namespace"), text("AWS/ECS")),
            (text("MetricName"), text(&self.metric)),
            (text("Statistic"), text("Average")),
            (text("ComparisonOperator"), text(&self.comparison)),
            (text("Threshold"), V::Float(self.threshold)),
            (
                text("StateValue"),
                text(if self.in_alarm { "ALARM" } else { "OK" }),
            ),
            (text("StateReasonData"), text(&reason_data)),
            (
                text("StateTransitionedTimestamp"),
                time(self.transitioned_at),
            ),
            (text("StateUpdatedTimestamp"), time(self.transitioned_at)),
            (text("ActionsEnabled"), V::Bool(self.actions_enabled)),
            (
                text("AlarmActions"),
                V::Array(self.actions.iter().map(|a| text(a)).collect()),
            ),
            (
                text("Dimensions"),
                V::Array(
                    self.dimensions
                        .iter()
                        .map(|(n, v)| {
                            V::Map(vec![(text("Name"), text(n)), (text("Value"), text(v))])
                        })
                        .collect(),
                ),
            ),
        ])
    }
}

#[derive(Debug, Default)]
struct Shared {
    alarms: Vec<StandInAlarm>,
    /// Target tracking's scaling activities: (start, status code).
    activities: Vec<(f64, String)>,
    /// Operations answered (or forwarded), in order.
    calls: Vec<String>,
}

/// What the local AWS cannot answer the autoscaler, played here: CloudWatch's
/// DescribeAlarms in the protocol aws-sdk-cloudwatch speaks (Smithy RPC v2 CBOR, which
/// moto 5.2 does not: getmoto/moto#9195) and Application Auto Scaling's
/// DescribeScalingActivities (moto has none). Every other Application Auto Scaling call is
/// forwarded to the local AWS; the two it answers go there first too, to be authorized. Point
/// the function at it with [`StandIn::env`].
pub struct StandIn {
    shared: std::sync::Arc<std::sync::Mutex<Shared>>,
    pub url: String,
    _server: crate::http::Server,
}

fn cbor_text<'a>(map: &'a [(ciborium::Value, ciborium::Value)], key: &str) -> Option<&'a str> {
    map.iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .and_then(|(_, v)| v.as_text())
}

/// The state a DescribeAlarms request filters on, if any.
fn describe_alarms_state(body: &[u8]) -> Option<String> {
    let value: ciborium::Value = ciborium::from_reader(body).ok()?;
    cbor_text(value.as_map()?, "StateValue").map(str::to_string)
}

/// The request as the function sent it (its signature names its key), to the local AWS.
async fn forward(
    http: &reqwest::Client,
    backend: &str,
    req: &crate::http::HttpRequest,
) -> crate::http::HttpResponse {
    let mut forward = http
        .post(format!("{backend}{}", req.path))
        .body(req.body.clone());
    for (k, v) in &req.headers {
        if !matches!(k.as_str(), "host" | "content-length" | "connection") {
            forward = forward.header(k, v);
        }
    }
    match forward.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let headers: Vec<(String, String)> = r
                .headers()
                .iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "content-length" | "connection" | "transfer-encoding"
                    )
                })
                .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
                .collect();
            let body = r.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            let mut response = crate::http::HttpResponse::ok(body);
            response.status = status;
            response.headers = headers;
            response
        }
        Err(_) => crate::http::HttpResponse::status(502),
    }
}

/// A call the stand-in answers itself still goes through the local AWS first, so that the
/// strict layer authorizes it against the calling function's policy (and injects its faults):
/// a denial is the answer; anything else (moto cannot answer these) is ignored.
async fn authorize(
    http: &reqwest::Client,
    backend: &str,
    req: &crate::http::HttpRequest,
) -> Option<crate::http::HttpResponse> {
    let through = forward(http, backend, req).await;
    let denied = (400..500).contains(&through.status)
        && through.body.windows(12).any(|w| w == b"AccessDenied");
    denied.then_some(through)
}

impl StandIn {
    /// With the service's four template alarms, all in OK, and no scaling activity.
    pub async fn start(endpoint: &str, cluster: &str, service: &str) -> StandIn {
        let shared = std::sync::Arc::new(std::sync::Mutex::new(Shared {
            alarms: ALARMS
                .iter()
                .map(|a| StandInAlarm::of_template(a, cluster, service))
                .collect(),
            ..Shared::default()
        }));
        let (state, backend) = (shared.clone(), endpoint.to_string());
        let (resource_id, http) = (
            format!("service/{cluster}/{service}"),
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("an HTTP client"),
        );
        let server = crate::http::Server::start(move |req| {
            let (state, backend, resource_id, http) =
                (state.clone(), backend.clone(), resource_id.clone(), http.clone());
            async move {
                use crate::http::HttpResponse;
                if req.path.ends_with("/operation/DescribeAlarms") {
                    state.lock().unwrap().calls.push("DescribeAlarms".into());
                    if let Some(denied) = authorize(&http, &backend, &req).await {
                        return denied;
                    }
                    // Like CloudWatch: every alarm of the account, in the state asked for. The
                    // function picks the service's own by their dimensions.
                    let wanted = describe_alarms_state(&req.body);
                    let listed: Vec<ciborium::Value> = state
                        .lock()
                        .unwrap()
                        .alarms
                        .iter()
                        .filter(|a| {
                            let now = if a.in_alarm { "ALARM" } else { "OK" };
                            wanted.as_deref().is_none_or(|w| w == now)
                        })
                        .map(StandInAlarm::to_cbor)
                        .collect();
                    let mut body = Vec::new();
                    ciborium::into_writer(
                        &ciborium::Value::Map(vec![(
                            "MetricAlarms".into(),
                            ciborium::Value::Array(listed),
                        )]),
                        &mut body,
                    )
                    .expect("CBOR into a Vec");
                    return HttpResponse::ok(body)
                        .header("content-type", "application/cbor")
                        .header("smithy-protocol", "rpc-v2-cbor");
                }
                let target = req.headers.get("x-amz-target").cloned().unwrap_or_default();
                let operation = target.rsplit('.').next().unwrap_or_default().to_string();
                state.lock().unwrap().calls.push(operation.clone());
                if operation == "DescribeScalingActivities" {
                    if let Some(denied) = authorize(&http, &backend, &req).await {
                        return denied;
                    }
                    let activities: Vec<Value> = state
                        .lock()
                        .unwrap()
                        .activities
                        .iter()
                        .rev()
                        .map(|(at, status)| {
                            json!({"ActivityId": format!("activity-{at}"), "ServiceNamespace": "ecs",
                                "ResourceId": resource_id, "ScalableDimension": "ecs:service:DesiredCount",
                                "Description": "Setting desired count.",
                                "Cause": "monitor alarm TargetTracking-AlarmHigh in state ALARM triggered policy cpu",
                                "StartTime": at, "EndTime": at + 1.0, "StatusCode": status})
                        })
                        .collect();
                    return HttpResponse::ok(json!({"ScalingActivities": activities}).to_string())
                        .header("content-type", "application/x-amz-json-1.1");
                }
                // Everything else Application Auto Scaling: the local AWS answers.
                forward(&http, &backend, &req).await
            }
        })
        .await
        .expect("start the CloudWatch stand-in");
        StandIn {
            shared,
            url: format!("http://127.0.0.1:{}", server.port),
            _server: server,
        }
    }

    /// The function's environment additions that route these two services here.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL_CLOUDWATCH".into(), self.url.clone()),
            (
                "AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING".into(),
                self.url.clone(),
            ),
        ]
    }

    /// What CloudWatch does when an alarm's datapoints cross its threshold: the alarm
    /// `<service>-<suffix>` goes to ALARM (with these datapoints) or to OK, now. Same state:
    /// nothing changes (CloudWatch keeps the transition time).
    pub fn set(&self, name: &str, in_alarm: bool, datapoints: &[f64]) {
        let mut shared = self.shared.lock().unwrap();
        let a = shared
            .alarms
            .iter_mut()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no alarm {name}"));
        if a.in_alarm != in_alarm {
            a.in_alarm = in_alarm;
            a.transitioned_at = now_secs();
            a.datapoints = datapoints.to_vec();
        }
    }

    pub fn add_alarm(&self, alarm: StandInAlarm) {
        self.shared.lock().unwrap().alarms.push(alarm);
    }

    /// Target tracking changed the count at `at` (seconds since the epoch).
    pub fn target_tracking_scaled(&self, at: f64) {
        self.shared
            .lock()
            .unwrap()
            .activities
            .push((at, "Successful".into()));
    }

    /// How many times `operation` was asked of the stand-in.
    pub fn calls(&self, operation: &str) -> usize {
        self.shared
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| *c == operation)
            .count()
    }
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

/// The scale-out path: the service's CPU alarm in ALARM, its event handed to the function. The
/// stand-in lives as long as the process (the benchmark runs the function after this returns).
pub async fn bench_case(w: &World) -> BenchCase {
    let (cluster, service) = service_with_target(w, 1, 5).await;
    let stand_in = StandIn::start(&w.endpoint, &cluster, &service).await;
    stand_in.set(&alarm_name(&service, "cpu-high"), true, &[88.2, 93.5]);
    let mut env = settings(&cluster, &service);
    env.extend(stand_in.env());
    // The service was created a moment ago: no deployment cooldown in the measurement.
    env.push(("SCALE_OUT_COOLDOWN_SECONDS".into(), "0".into()));
    std::mem::forget(stand_in);
    BenchCase {
        env,
        event: event("cpu-high-alarm", &cluster, &service),
    }
}

/// The desired count and the autoscaler's tags.
pub async fn desired(
    w: &World,
    cluster: &str,
    service: &str,
) -> Result<(i32, Vec<(String, String)>), String> {
    let out = w
        .clients
        .ecs()
        .describe_services()
        .cluster(cluster)
        .services(service)
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .send()
        .await
        .map_err(|e| format!("DescribeServices: {e}"))?;
    let s = out.services().first().ok_or("service not found")?;
    let mut tags: Vec<(String, String)> = s
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
    tags.sort();
    Ok((s.desired_count(), tags))
}

/// The schedule's event, as EventBridge sends it every minute.
pub fn tick() -> Value {
    let path = moto::workspace_root().join("events/autoscaler/schedule.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("the sample schedule event"))
        .expect("JSON")
}

/// The demo step "CPU alarm fires → the service scales 3 → 5", against a deployed stack: the
/// alarm's event, a duplicate of it, then the minute's schedule. `env` is the function's
/// environment: [`local_env`], or the template's own (`LocalStack::function_env`), which runs
/// it under its policy.
pub async fn demo(
    w: &World,
    binary: &Path,
    env: &[(String, String)],
    cluster: &str,
    service: &str,
) -> Result<(), String> {
    println!("\n5. CPU alarm fires → the autoscaler scales the service");
    let stand_in = StandIn::start(&w.endpoint, cluster, service).await;
    let alarm = alarm_name(service, "cpu-high");
    stand_in.set(&alarm, true, &[88.2, 93.5]);
    println!("  {alarm} → ALARM (CPU 93.5 % vs target 70 %); CloudWatch played by the harness");
    let mut env = env.to_vec();
    env.extend(stand_in.env());
    // The stack was deployed seconds ago, and a deployment counts as a change of the count:
    // a short scale-out cooldown (the template's is 60 s) lets the demo show the scaling.
    env.push(("SCALE_OUT_COOLDOWN_SECONDS".into(), "5".into()));
    let process = LambdaProcess::start(binary, "autoscaler", &env)
        .await
        .map_err(|e| format!("start autoscaler: {e}"))?;
    let mut result = Ok(());
    let steps = [
        (
            "the alarm's event",
            event("cpu-high-alarm", cluster, service),
            5,
        ),
        (
            "the same event again (a duplicate delivery)",
            event("cpu-high-alarm", cluster, service),
            0,
        ),
        ("the minute's schedule", tick(), 0),
    ];
    for (i, (what, e, wait_if_refused)) in steps.into_iter().enumerate() {
        let (before, _) = desired(w, cluster, service).await?;
        let mut answer = process
            .runtime
            .invoke(e.clone(), Duration::from_secs(60))
            .await;
        if let Some(Ok(r)) = &answer {
            if r["decision"]["outcome"] == "unchanged" && wait_if_refused > 0 {
                println!(
                    "    {}: waiting {wait_if_refused} s",
                    r["decision"]["why"].as_str().unwrap_or_default()
                );
                tokio::time::sleep(Duration::from_secs(wait_if_refused)).await;
                answer = process.runtime.invoke(e, Duration::from_secs(60)).await;
            }
        }
        match answer {
            Some(Ok(r)) => {
                let d = &r["decision"];
                let (after, tags) = desired(w, cluster, service).await?;
                println!("  {what}: {}", d["outcome"].as_str().unwrap_or_default());
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
    result
}

/// The autoscaler's environment against the local AWS with the harness's own (unrestricted)
/// key.
pub fn local_env(w: &World, cluster: &str, service: &str) -> Vec<(String, String)> {
    let home = std::env::temp_dir().join(format!("skyhigh-demo-home-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&home);
    let mut env = moto::process_env(&w.endpoint, &home);
    env.extend(settings(cluster, service));
    env
}
