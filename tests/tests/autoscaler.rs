//! The autoscaler against moto, run as its real binary through the local Lambda Runtime API:
//! both payload forms, bounds from the real scalable target, the cooldown carried across cold
//! starts in the service's tags, scale-in refused while moto reports a deployment, and
//! malformed payloads (an error, no AWS call).

use local_harness::moto;
use local_harness::runtime_api::LambdaProcess;
use local_harness::scenarios::autoscaler::{self as scenario, alarm_name};
use local_harness::stack::build_function;
use local_harness::world::World;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

async fn start(w: &World, cluster: &str, service: &str, extra: &[(&str, &str)]) -> LambdaProcess {
    let bin: PathBuf = build_function("autoscaler");
    let home = std::env::temp_dir().join(format!("skyhigh-autoscaler-test-{}", w.id));
    std::fs::create_dir_all(&home).unwrap();
    let mut env = moto::process_env(&w.endpoint, &home);
    env.extend(scenario::settings(cluster, service));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    LambdaProcess::start(&bin, "autoscaler", &env)
        .await
        .expect("start the autoscaler")
}

async fn invoke(p: &LambdaProcess, event: Value) -> Result<Value, Value> {
    p.runtime
        .invoke(event, Duration::from_secs(60))
        .await
        .expect("the function answers")
}

/// Desired count and the autoscaler's tags.
async fn seen(w: &World, cluster: &str, service: &str) -> (i32, Vec<(String, String)>) {
    let out = w
        .clients
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .send()
        .await
        .unwrap();
    let s = &out.services()[0];
    let mut tags: Vec<(String, String)> = s
        .tags()
        .iter()
        .filter(|t| {
            t.key()
                .unwrap_or_default()
                .starts_with("skyhigh:autoscaler:")
        })
        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
        .collect();
    tags.sort();
    (s.desired_count(), tags)
}

fn tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn why(r: &Value) -> &str {
    r["decision"]["why"].as_str().unwrap_or_default()
}

fn calls(r: &Value) -> u64 {
    r["aws_calls"].as_u64().expect("aws_calls is reported")
}

#[tokio::test]
async fn both_payload_forms_scale_out_proportionally() {
    let w = World::new().await;
    let (cluster, service) = scenario::service_with_target(&w, 1, 5).await;
    assert_eq!(seen(&w, &cluster, &service).await.0, 2);
    let p = start(
        &w,
        &cluster,
        &service,
        &[("SCALE_OUT_COOLDOWN_SECONDS", "0")],
    )
    .await;

    // Direct alarm action, CPU 93.5 % vs 70 %: ceil(2 × 93.5 / 70) = 3.
    let r = invoke(&p, scenario::event("cpu-high-alarm", &cluster, &service))
        .await
        .unwrap();
    assert_eq!(
        (r["decision"]["from"].as_i64(), r["decision"]["to"].as_i64()),
        (Some(2), Some(3)),
        "{r}"
    );
    assert_eq!(r["decision"]["form"], "AlarmAction");
    assert!(r["decision"]["scaled"].as_bool().unwrap());
    assert!(calls(&r) <= 4, "common path: {} AWS calls", calls(&r));
    println!("scale-out via the alarm action: {} AWS calls", calls(&r));
    let (desired, tags) = seen(&w, &cluster, &service).await;
    assert_eq!(desired, 3);
    assert_eq!(tag(&tags, "skyhigh:autoscaler:last-direction"), Some("out"));
    assert!(tag(&tags, "skyhigh:autoscaler:last-scaled-at")
        .unwrap()
        .ends_with('Z'));
    let decision = tag(&tags, "skyhigh:autoscaler:last-decision").unwrap();
    assert!(decision.starts_with("scale out 2 to 3"), "{decision}");
    assert!(
        decision.contains(&alarm_name(&service, "cpu-high")),
        "{decision}"
    );

    // EventBridge form, memory 96.8 % vs 80 %: ceil(3 × 96.8 / 80) = 4.
    let r = invoke(
        &p,
        scenario::event("memory-high-alarm-eventbridge", &cluster, &service),
    )
    .await
    .unwrap();
    assert_eq!(r["decision"]["form"], "EventBridge");
    assert_eq!(
        (r["decision"]["from"].as_i64(), r["decision"]["to"].as_i64()),
        (Some(3), Some(4)),
        "{r}"
    );
    assert!(calls(&r) <= 4);
    println!("scale-out via EventBridge: {} AWS calls", calls(&r));
    assert_eq!(seen(&w, &cluster, &service).await.0, 4);
    p.stop().await;
}

#[tokio::test]
async fn bounds_come_from_the_scalable_target() {
    let w = World::new().await;
    let (cluster, service) = scenario::service_with_target(&w, 1, 3).await;
    let p = start(
        &w,
        &cluster,
        &service,
        &[("SCALE_OUT_COOLDOWN_SECONDS", "0")],
    )
    .await;
    let mut hot = scenario::event("cpu-high-alarm", &cluster, &service);
    let reason_data = json!({"version": "1.0", "statistic": "Average", "period": 120,
        "recentDatapoints": [300.0, 280.0], "threshold": 85.0})
    .to_string();
    hot["alarmData"]["state"]["reasonData"] = json!(reason_data);

    // ceil(2 × 300 / 70) = 9, clamped to the registered max 3.
    let r = invoke(&p, hot.clone()).await.unwrap();
    assert_eq!(r["decision"]["to"].as_i64(), Some(3), "{r}");
    assert!(why(&r).contains("max 3"), "{}", why(&r));
    let r = invoke(&p, hot.clone()).await.unwrap();
    assert!(why(&r).contains("already at max"), "{}", why(&r));
    assert_eq!(r["decision"]["scaled"], false);

    // A person raises the max on the scalable target: the next alarm uses it.
    w.clients
        .scaling
        .register_scalable_target()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_id(format!("service/{cluster}/{service}"))
        .scalable_dimension(
            aws_sdk_applicationautoscaling::types::ScalableDimension::EcsServiceDesiredCount,
        )
        .min_capacity(1)
        .max_capacity(4)
        .send()
        .await
        .unwrap();
    let r = invoke(&p, hot).await.unwrap();
    assert_eq!(
        (r["decision"]["from"].as_i64(), r["decision"]["to"].as_i64()),
        (Some(3), Some(4)),
        "{r}"
    );
    assert_eq!(seen(&w, &cluster, &service).await.0, 4);
    p.stop().await;
}

#[tokio::test]
async fn the_cooldown_survives_a_cold_start() {
    let w = World::new().await;
    let (cluster, service) = scenario::service_with_target(&w, 1, 5).await;
    let event = scenario::event("cpu-high-alarm-eventbridge", &cluster, &service);
    let first = start(&w, &cluster, &service, &[]).await;
    let r = invoke(&first, event.clone()).await.unwrap();
    assert_eq!(r["decision"]["to"].as_i64(), Some(3), "{r}");
    first.stop().await;
    let (_, tags_after_first) = seen(&w, &cluster, &service).await;

    // A new execution environment: the memory is in the service's tags, not in the process.
    let second = start(&w, &cluster, &service, &[]).await;
    let r = invoke(&second, event).await.unwrap();
    assert_eq!(r["decision"]["scaled"], false);
    assert!(why(&r).contains("scale-out cooldown"), "{}", why(&r));
    assert!(why(&r).contains("cooldown 60 s"), "{}", why(&r));
    assert_eq!(calls(&r), 2, "only the two reads");
    let (desired, tags) = seen(&w, &cluster, &service).await;
    assert_eq!(desired, 3);
    assert_eq!(tags, tags_after_first, "a refusal does not move the memory");
    second.stop().await;
}

#[tokio::test]
async fn scale_in_is_refused_while_moto_reports_a_deployment() {
    // moto keeps one PRIMARY deployment IN_PROGRESS forever: every scale-in is refused there,
    // before CloudWatch is asked anything. The rule itself is tested on constructed states
    // (decide.rs), the alarms read only when nothing else refuses.
    let w = World::new().await;
    let (cluster, service) = scenario::service_with_target(&w, 1, 5).await;
    let p = start(&w, &cluster, &service, &[]).await;
    for file in ["cpu-low-alarm", "cpu-low-alarm-eventbridge"] {
        let r = invoke(&p, scenario::event(file, &cluster, &service))
            .await
            .unwrap();
        assert_eq!(r["decision"]["direction"], "low");
        assert!(
            why(&r).contains("no scale-in during a deployment"),
            "{}",
            why(&r)
        );
        assert_eq!(calls(&r), 2, "service and scalable target only");
    }
    assert_eq!(seen(&w, &cluster, &service).await, (2, vec![]));
    p.stop().await;
}

#[tokio::test]
async fn ok_transitions_and_other_alarms_cost_nothing() {
    let w = World::new().await;
    let (cluster, service) = scenario::service_with_target(&w, 1, 5).await;
    let p = start(&w, &cluster, &service, &[]).await;
    for file in ["cpu-high-ok", "cpu-high-ok-eventbridge"] {
        let r = invoke(&p, scenario::event(file, &cluster, &service))
            .await
            .unwrap();
        assert!(why(&r).contains("went to OK: no action"), "{}", why(&r));
        assert_eq!(calls(&r), 0);
    }
    let r = invoke(
        &p,
        scenario::event("cpu-high-alarm", &cluster, "another-service"),
    )
    .await
    .unwrap();
    assert!(why(&r).starts_with("ignored"), "{}", why(&r));
    assert_eq!(calls(&r), 0);
    assert_eq!(seen(&w, &cluster, &service).await, (2, vec![]));
    p.stop().await;
}

#[tokio::test]
async fn an_unreadable_alarm_configuration_is_an_error_and_scales_nothing() {
    // A payload whose reason does not say "greater than" / "less than" needs the alarm's
    // ComparisonOperator from DescribeAlarms. moto 5.2 cannot answer aws-sdk-cloudwatch (it
    // speaks Smithy RPC v2 CBOR, moto only the Query protocol: getmoto/moto#9195), which makes
    // this the AWS-failure path: an error for Lambda to retry, and no scaling call.
    let w = World::new().await;
    let (cluster, service) = scenario::service_with_target(&w, 1, 5).await;
    scenario::put_alarms(&w.endpoint, &cluster, &service)
        .await
        .unwrap();
    let p = start(&w, &cluster, &service, &[]).await;
    let mut e = scenario::event("cpu-high-alarm", &cluster, &service);
    e["alarmData"]["state"]["reason"] = json!("Set by a person for a test");
    let err = invoke(&p, e)
        .await
        .expect_err("CloudWatch cannot be read here");
    let message = err["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("cloudwatch:DescribeAlarms failed"),
        "{err}"
    );
    assert_eq!(seen(&w, &cluster, &service).await, (2, vec![]));
    p.stop().await;
}

#[tokio::test]
async fn malformed_payloads_fail_clearly_and_touch_nothing() {
    let w = World::new().await;
    let (cluster, service) = scenario::service_with_target(&w, 1, 5).await;
    let p = start(&w, &cluster, &service, &[]).await;
    let good = scenario::event("cpu-high-alarm", &cluster, &service);
    let mut no_state = good.clone();
    no_state["alarmData"]
        .as_object_mut()
        .unwrap()
        .remove("state");
    let mut bad_state = good.clone();
    bad_state["alarmData"]["state"]["value"] = json!("FIRING");
    let mut wrong_type = scenario::event("cpu-high-alarm-eventbridge", &cluster, &service);
    wrong_type["detail-type"] = json!("ECR Image Action");
    for (event, expect) in [
        (json!({"hello": "world"}), "neither"),
        (json!("ALARM"), "not a JSON object"),
        (no_state, "missing field `state`"),
        (bad_state, "FIRING"),
        (wrong_type, "ECR Image Action"),
    ] {
        let e = invoke(&p, event)
            .await
            .expect_err("a malformed payload is an error");
        let message = e["errorMessage"].as_str().unwrap_or_default();
        assert!(message.contains("malformed alarm event"), "{e}");
        assert!(
            message.contains(expect),
            "{message} should mention {expect}"
        );
    }
    assert_eq!(
        seen(&w, &cluster, &service).await,
        (2, vec![]),
        "no UpdateService, no tags"
    );
    // And the function still serves the next, good event.
    assert!(invoke(&p, good).await.is_ok());
    p.stop().await;
}

#[tokio::test]
async fn a_missing_setting_stops_the_function_at_start_naming_it() {
    let w = World::new().await;
    let bin = build_function("autoscaler");
    let home = std::env::temp_dir().join(format!("skyhigh-autoscaler-test-{}", w.id));
    std::fs::create_dir_all(&home).unwrap();
    let mut env = moto::process_env(&w.endpoint, &home);
    env.push(("CLUSTER_NAME".into(), "sky".into()));
    env.push(("CPU_TARGET_PERCENT".into(), "seventy".into()));
    let mut p = LambdaProcess::start(&bin, "autoscaler", &env)
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), p.child.wait())
        .await
        .expect("it exits")
        .unwrap();
    assert!(!status.success());
    assert!(p.runtime.first_next().is_none(), "never asked for an event");
}

#[tokio::test]
async fn the_demo_step_runs_against_a_service() {
    let w = World::new().await;
    let (cluster, service) = scenario::service_with_target(&w, 1, 5).await;
    let bin = build_function("autoscaler");
    scenario::demo(&w, &bin, &cluster, &service).await.unwrap();
    let (desired, tags) = seen(&w, &cluster, &service).await;
    assert_eq!(
        desired, 3,
        "CPU alarm fires → 2 → 3, then the cooldown holds"
    );
    assert_eq!(tags.len(), 3);
}

/// CBOR (RFC 8949) for the few shapes a DescribeAlarms answer needs.
enum Cbor {
    Text(String),
    Array(Vec<Cbor>),
    Map(Vec<(String, Cbor)>),
}

impl Cbor {
    fn head(major: u8, len: usize, out: &mut Vec<u8>) {
        match len {
            0..=23 => out.push(major << 5 | len as u8),
            24..=255 => out.extend([major << 5 | 24, len as u8]),
            _ => {
                out.push(major << 5 | 25);
                out.extend((len as u16).to_be_bytes());
            }
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Cbor::Text(s) => {
                Self::head(3, s.len(), out);
                out.extend(s.as_bytes());
            }
            Cbor::Array(items) => {
                Self::head(4, items.len(), out);
                items.iter().for_each(|i| i.encode(out));
            }
            Cbor::Map(entries) => {
                Self::head(5, entries.len(), out);
                for (k, v) in entries {
                    Cbor::Text(k.clone()).encode(out);
                    v.encode(out);
                }
            }
        }
    }
}

/// A stand-in for CloudWatch's DescribeAlarms in the protocol aws-sdk-cloudwatch speaks (Smithy
/// RPC v2 CBOR), which moto 5.2 does not: it knows the service's four alarms, all in OK but
/// `in_alarm`. Filters by the names or the state the request carries.
async fn fake_cloudwatch(
    cluster: &str,
    service: &str,
    in_alarm: &'static [&'static str],
) -> local_harness::http::Server {
    let alarms: Vec<(String, &'static str, &'static str, &'static str)> = scenario::ALARMS
        .iter()
        .map(|a| {
            let state = if in_alarm.contains(&a.suffix) {
                "ALARM"
            } else {
                "OK"
            };
            (alarm_name(service, a.suffix), a.metric, a.comparison, state)
        })
        .collect();
    let (cluster, service) = (cluster.to_string(), service.to_string());
    local_harness::http::Server::start(move |req| {
        let body = req.body.clone();
        let contains = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
        let by_state = contains(b"StateValue");
        let listed: Vec<Cbor> = alarms
            .iter()
            .filter(|(name, _, _, state)| {
                if by_state {
                    *state == "ALARM"
                } else {
                    contains(name.as_bytes())
                }
            })
            .map(|(name, metric, comparison, state)| {
                let t = |s: &str| Cbor::Text(s.to_string());
                let dim = |n: &str, v: &str| {
                    Cbor::Map(vec![("Name".into(), t(n)), ("Value".into(), t(v))])
                };
                Cbor::Map(vec![
                    ("AlarmName".into(), t(name)),
                    ("Namespace".into(), t("AWS/ECS")),
                    ("MetricName".into(), t(metric)),
                    ("ComparisonOperator".into(), t(comparison)),
                    ("StateValue".into(), t(state)),
                    (
                        "Dimensions".into(),
                        Cbor::Array(vec![
                            dim("ClusterName", &cluster),
                            dim("ServiceName", &service),
                        ]),
                    ),
                ])
            })
            .collect();
        let mut out = Vec::new();
        Cbor::Map(vec![("MetricAlarms".into(), Cbor::Array(listed))]).encode(&mut out);
        let path_ok = req.path.ends_with("/operation/DescribeAlarms");
        async move {
            if !path_ok {
                return local_harness::http::HttpResponse::status(404);
            }
            local_harness::http::HttpResponse::ok(out)
                .header("content-type", "application/cbor")
                .header("smithy-protocol", "rpc-v2-cbor")
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_alarm_configuration_is_read_when_the_payload_does_not_tell() {
    let w = World::new().await;
    let (cluster, service) = scenario::service_with_target(&w, 1, 5).await;
    let cloudwatch = fake_cloudwatch(&cluster, &service, &["cpu-high"]).await;
    let endpoint = format!("http://127.0.0.1:{}", cloudwatch.port);
    let p = start(
        &w,
        &cluster,
        &service,
        &[("AWS_ENDPOINT_URL_CLOUDWATCH", &endpoint)],
    )
    .await;
    let mut e = scenario::event("cpu-high-alarm-eventbridge", &cluster, &service);
    e["detail"]["state"]["reason"] = json!("Set by a person for a test");
    let r = invoke(&p, e).await.unwrap();
    assert_eq!(r["decision"]["direction"], "high", "{r}");
    assert_eq!(
        (r["decision"]["from"].as_i64(), r["decision"]["to"].as_i64()),
        (Some(2), Some(3)),
        "{r}"
    );
    assert_eq!(
        calls(&r),
        5,
        "DescribeAlarms for the operator, then the common path"
    );
    assert_eq!(seen(&w, &cluster, &service).await.0, 3);
    p.stop().await;
}
