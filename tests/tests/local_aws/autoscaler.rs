//! The autoscaler against the local AWS, run as its real binary through the local Lambda
//! Runtime API: every trigger runs the same reconcile over the service's alarms (CloudWatch and
//! target tracking's activities played by the scenario's stand-in), bounds from the real
//! scalable target, the cooldown counting every change of the count (its own record across cold
//! starts, a deployment, target tracking), the record finished by a retry instead of a second
//! step, and malformed events rejected without an AWS call.

use local_harness::moto;
use local_harness::runtime_api::LambdaProcess;
use local_harness::scenarios::autoscaler::{
    self as scenario, alarm_name, desired, now_secs, tick, StandIn, StandInAlarm, ALARMS,
};
use local_harness::stack::{build_function, LocalStack};
use local_harness::strict::{self, Fault, FaultKind};
use local_harness::world::World;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// A service (desired 2, bounds [min, max]), the stand-in for its alarms, and the function.
struct Setup {
    w: World,
    cluster: String,
    service: String,
    stand_in: StandIn,
}

async fn setup(min: i32, max: i32) -> Setup {
    let w = World::new().await;
    let (cluster, service) = scenario::service_with_target(&w, min, max).await;
    let stand_in = StandIn::start(&w.endpoint, &cluster, &service).await;
    Setup {
        w,
        cluster,
        service,
        stand_in,
    }
}

impl Setup {
    async fn start(&self, extra: &[(&str, &str)]) -> LambdaProcess {
        let home = std::env::temp_dir().join(format!("skyhigh-autoscaler-test-{}", self.w.id));
        std::fs::create_dir_all(&home).unwrap();
        let mut env = moto::process_env(&self.w.endpoint, &home);
        env.extend(scenario::settings(&self.cluster, &self.service));
        env.extend(self.stand_in.env());
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        LambdaProcess::start(&build_function("autoscaler"), "autoscaler", &env)
            .await
            .expect("start the autoscaler")
    }

    fn alarm(&self, suffix: &str) -> String {
        alarm_name(&self.service, suffix)
    }

    fn event(&self, file: &str) -> Value {
        scenario::event(file, &self.cluster, &self.service)
    }

    async fn seen(&self) -> (i32, Vec<(String, String)>) {
        desired(&self.w, &self.cluster, &self.service)
            .await
            .unwrap()
    }
}

async fn invoke(p: &LambdaProcess, event: Value) -> Result<Value, Value> {
    p.runtime
        .invoke(event, Duration::from_secs(60))
        .await
        .expect("the function answers")
}

fn tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|(k, _)| k == &format!("skyhigh:autoscaler:{key}"))
        .map(|(_, v)| v.as_str())
}

fn why(r: &Value) -> &str {
    r["decision"]["why"].as_str().unwrap_or_default()
}

fn outcome(r: &Value) -> &str {
    r["decision"]["outcome"].as_str().unwrap_or_default()
}

fn step(r: &Value) -> (Option<i64>, Option<i64>) {
    (r["decision"]["from"].as_i64(), r["decision"]["to"].as_i64())
}

fn calls(r: &Value) -> u64 {
    r["aws_calls"].as_u64().expect("aws_calls is reported")
}

// The service was created a moment ago, and its deployment counts as a change of the count:
// tests that must scale at once use a zero scale-out cooldown.
const NO_COOLDOWN: [(&str, &str); 1] = [("SCALE_OUT_COOLDOWN_SECONDS", "0")];
/// A cooldown no slow machine outlasts between two steps of a test (the template's is 60 s).
const LONG_COOLDOWN: [(&str, &str); 1] = [("SCALE_OUT_COOLDOWN_SECONDS", "3600")];

#[tokio::test]
async fn every_trigger_runs_the_same_reconcile() {
    let s = setup(1, 5).await;
    let p = s.start(&NO_COOLDOWN).await;

    // The alarm's own action, CPU 93.5 % vs 70 %: ceil(2 × 93.5 / 70) = 3.
    s.stand_in.set(&s.alarm("cpu-high"), true, &[88.2, 93.5]);
    let r = invoke(&p, s.event("cpu-high-alarm")).await.unwrap();
    assert_eq!(
        (outcome(&r), step(&r)),
        ("scaled", (Some(2), Some(3))),
        "{r}"
    );
    assert_eq!(r["decision"]["trigger"], "AlarmAction");
    assert_eq!(r["decision"]["alarm"], s.alarm("cpu-high"));
    assert_eq!(
        calls(&r),
        7,
        "3 reads, target tracking's activities, intent, UpdateService, done"
    );
    let (count, tags) = s.seen().await;
    assert_eq!(count, 3);
    let record = tag(&tags, "record").unwrap();
    assert!(
        record.starts_with("from=2 to=3 at=") && record.ends_with("state=done"),
        "{record}"
    );
    assert!(tag(&tags, "cause")
        .unwrap()
        .starts_with(&s.alarm("cpu-high")));
    assert_eq!(tag(&tags, "last-direction"), Some("out"));
    assert!(tag(&tags, "last-decision")
        .unwrap()
        .starts_with("scale out 2 to 3"));

    // EventBridge's form of a memory alarm: memory wants ceil(3 × 96.8 / 80) = 4, the CPU alarm
    // still in ALARM one step (its datapoints are older than the count): 4.
    s.stand_in.set(&s.alarm("memory-high"), true, &[96.8]);
    let r = invoke(&p, s.event("memory-high-alarm-eventbridge"))
        .await
        .unwrap();
    assert_eq!(r["decision"]["trigger"], "EventBridge");
    assert_eq!(step(&r), (Some(3), Some(4)), "{r}");

    // The minute's schedule, with no event at all: both still in ALARM, one more step, to max.
    let r = invoke(&p, tick()).await.unwrap();
    assert_eq!(r["decision"]["trigger"], "Schedule");
    assert_eq!(step(&r), (Some(4), Some(5)), "{r}");
    let r = invoke(&p, tick()).await.unwrap();
    assert_eq!(outcome(&r), "unchanged");
    assert!(
        why(&r).contains("already at max: desired 5, max 5"),
        "{}",
        why(&r)
    );
    assert_eq!(calls(&r), 3, "a refusal costs the three reads");
    assert_eq!(s.stand_in.calls("DescribeScalingActivities"), 3);
    p.stop().await;
}

#[tokio::test]
async fn the_cooldown_counts_the_last_change_by_anyone() {
    let s = setup(1, 5).await;
    s.stand_in.set(&s.alarm("cpu-high"), true, &[90.0]);

    // A deployment: the service was created a moment ago.
    let p = s.start(&LONG_COOLDOWN).await;
    let r = invoke(&p, tick()).await.unwrap();
    assert_eq!(outcome(&r), "unchanged");
    assert!(
        why(&r).contains("scale-out cooldown: last change by a deployment"),
        "{}",
        why(&r)
    );
    p.stop().await;

    // Target tracking (its activity stamped ahead of this clock: any skew counts against scaling).
    s.stand_in.target_tracking_scaled(now_secs() + 60.0);
    let p = s.start(&NO_COOLDOWN).await;
    let r = invoke(&p, tick()).await.unwrap();
    assert!(
        why(&r).contains("last change by target tracking"),
        "{}",
        why(&r)
    );
    assert_eq!(
        calls(&r),
        4,
        "the activities are read only when a scaling is otherwise due"
    );
    assert_eq!(s.seen().await.0, 2);
    p.stop().await;
}

#[tokio::test]
async fn the_record_survives_a_cold_start() {
    let s = setup(1, 5).await;
    s.stand_in.set(&s.alarm("cpu-high"), true, &[88.2, 93.5]);
    let first = s.start(&NO_COOLDOWN).await;
    let r = invoke(&first, s.event("cpu-high-alarm-eventbridge"))
        .await
        .unwrap();
    assert_eq!(step(&r), (Some(2), Some(3)), "{r}");
    first.stop().await;
    let (_, tags_after_first) = s.seen().await;

    // A new execution environment with a cooldown: the record is in the service's tags,
    // newer than the deployment.
    let second = s.start(&LONG_COOLDOWN).await;
    let r = invoke(&second, s.event("cpu-high-alarm-eventbridge"))
        .await
        .unwrap();
    assert_eq!(outcome(&r), "unchanged");
    assert!(
        why(&r).contains("scale-out cooldown: last change by this function"),
        "{}",
        why(&r)
    );
    assert!(why(&r).contains("cooldown 3600 s"), "{}", why(&r));
    assert_eq!(
        s.seen().await,
        (3, tags_after_first),
        "a refusal writes nothing"
    );
    second.stop().await;
}

fn fault(action: &str, matching: &str, kind: FaultKind) -> Fault {
    Fault {
        action: action.into(),
        matching: matching.into(),
        kind,
        // As many as the SDK's attempts: the failure reaches the function.
        times: 3,
    }
}

#[tokio::test]
async fn a_lost_update_answer_is_finished_by_the_retry_not_repeated() {
    let s = setup(1, 10).await;
    // A cooldown that the retry falls within, once the service's creation (a deployment) is
    // past it.
    let p = s.start(&[("SCALE_OUT_COOLDOWN_SECONDS", "15")]).await;
    tokio::time::sleep(Duration::from_secs(16)).await;
    s.stand_in.set(&s.alarm("cpu-high"), true, &[150.0]);
    // UpdateService reaches the local AWS, its answers are lost: the count changed, the record
    // is still the intent.
    strict::inject(fault(
        "ecs:UpdateService",
        &s.service,
        FaultKind::LostResponse,
    ));
    let err = invoke(&p, s.event("cpu-high-alarm")).await.unwrap_err();
    assert_eq!(err["errorType"], "AwsCallFailed", "{err}");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("ecs:UpdateService failed"),
        "{err}"
    );
    let (count, tags) = s.seen().await;
    assert_eq!(count, 5, "ceil(2 x 150 / 70) = 5");
    assert!(
        tag(&tags, "record").unwrap().ends_with("state=pending"),
        "{tags:?}"
    );

    // Lambda's retry of the same event: the count is the record's `to`, so the change
    // happened; the record is finished, and the cooldown (from the record) holds a second step.
    let r = invoke(&p, s.event("cpu-high-alarm")).await.unwrap();
    assert_eq!(outcome(&r), "finished", "{r}");
    assert!(
        why(&r).contains("the recorded change 2 to 5 is finished; scale-out cooldown: last change by this function"),
        "{}",
        why(&r)
    );
    let (count, tags) = s.seen().await;
    assert_eq!(count, 5);
    assert!(tag(&tags, "record").unwrap().ends_with("state=done"));
    p.stop().await;
}

#[tokio::test]
async fn an_intent_whose_update_failed_is_decided_again() {
    let s = setup(1, 10).await;
    s.stand_in.set(&s.alarm("cpu-high"), true, &[93.5]);
    let p = s.start(&NO_COOLDOWN).await;
    strict::inject(fault(
        "ecs:UpdateService",
        &s.service,
        FaultKind::ServerError,
    ));
    let err = invoke(&p, tick()).await.unwrap_err();
    assert_eq!(err["errorType"], "AwsCallFailed", "{err}");
    let (count, tags) = s.seen().await;
    assert_eq!(count, 2, "the 500s changed nothing");
    assert!(tag(&tags, "record").unwrap().ends_with("state=pending"));
    let r = invoke(&p, tick()).await.unwrap();
    assert_eq!(
        (outcome(&r), step(&r)),
        ("scaled", (Some(2), Some(3))),
        "{r}"
    );
    p.stop().await;
}

#[tokio::test]
async fn scale_in_is_refused_while_moto_reports_a_deployment() {
    // moto keeps one PRIMARY deployment IN_PROGRESS forever: every scale-in is refused there.
    // The rule itself, and its retry on the next minute, are tested on constructed states.
    let s = setup(1, 5).await;
    s.stand_in.set(&s.alarm("cpu-low"), true, &[8.0]);
    let p = s.start(&[]).await;
    for e in [
        s.event("cpu-low-alarm"),
        s.event("cpu-low-alarm-eventbridge"),
        tick(),
    ] {
        let r = invoke(&p, e).await.unwrap();
        assert!(
            why(&r).contains("no scale-in during a deployment"),
            "{}",
            why(&r)
        );
        assert_eq!(calls(&r), 3, "the three reads only");
    }
    assert_eq!(s.seen().await, (2, vec![]));
    p.stop().await;
}

#[tokio::test]
async fn target_trackings_own_alarm_is_left_to_target_tracking() {
    let s = setup(1, 5).await;
    let mut tt = StandInAlarm::of_template(&ALARMS[0], &s.cluster, &s.service);
    tt.name = format!(
        "TargetTracking-service/{}/{}-AlarmHigh-1",
        s.cluster, s.service
    );
    tt.threshold = 70.0;
    tt.actions = vec![format!("arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:1:resource/ecs/service/{}/{}:policyName/cpu", s.cluster, s.service)];
    s.stand_in.add_alarm(tt.clone());
    s.stand_in.set(&tt.name, true, &[75.0]);
    let p = s.start(&NO_COOLDOWN).await;
    let r = invoke(&p, tick()).await.unwrap();
    assert_eq!(why(&r), "no alarm of the service is in ALARM", "{r}");
    assert_eq!(s.seen().await.0, 2);
    p.stop().await;
}

#[tokio::test]
async fn ok_transitions_and_other_alarms_cost_nothing() {
    let s = setup(1, 5).await;
    let p = s.start(&[]).await;
    for file in ["cpu-high-ok", "cpu-high-ok-eventbridge"] {
        let r = invoke(&p, s.event(file)).await.unwrap();
        assert_eq!(outcome(&r), "skipped");
        assert!(why(&r).contains("went to OK: no action"), "{}", why(&r));
        assert_eq!(calls(&r), 0);
    }
    let r = invoke(
        &p,
        scenario::event("cpu-high-alarm", &s.cluster, "another-service"),
    )
    .await
    .unwrap();
    assert!(why(&r).starts_with("ignored"), "{}", why(&r));
    assert_eq!(calls(&r), 0);
    assert_eq!(s.seen().await, (2, vec![]));
    p.stop().await;
}

#[tokio::test]
async fn malformed_events_are_rejected_not_retried_and_touch_nothing() {
    let s = setup(1, 5).await;
    let p = s.start(&NO_COOLDOWN).await;
    let good = s.event("cpu-high-alarm");
    let mut no_state = good.clone();
    no_state["alarmData"]
        .as_object_mut()
        .unwrap()
        .remove("state");
    let mut bad_state = good.clone();
    bad_state["alarmData"]["state"]["value"] = json!("FIRING");
    let mut wrong_type = s.event("cpu-high-alarm-eventbridge");
    wrong_type["detail-type"] = json!("ECR Image Action");
    let mut foreign_schedule = tick();
    foreign_schedule["source"] = json!("my.app");
    for (event, expect) in [
        (json!({"hello": "world"}), "neither"),
        (json!("ALARM"), "not a JSON object"),
        (no_state, "missing field `state`"),
        (bad_state, "FIRING"),
        (wrong_type, "ECR Image Action"),
        (foreign_schedule, "my.app"),
    ] {
        let r = invoke(&p, event)
            .await
            .expect("a malformed event is answered, not failed: Lambda would retry it");
        assert_eq!(outcome(&r), "rejected", "{r}");
        assert!(why(&r).starts_with("malformed event"), "{}", why(&r));
        assert!(
            why(&r).contains(expect),
            "{} should mention {expect}",
            why(&r)
        );
        assert_eq!(calls(&r), 0);
    }
    assert_eq!(s.seen().await, (2, vec![]), "no UpdateService, no tags");
    // And the function still serves the next, good event.
    s.stand_in.set(&s.alarm("cpu-high"), true, &[93.5]);
    assert_eq!(outcome(&invoke(&p, good).await.unwrap()), "scaled");
    p.stop().await;
}

#[tokio::test]
async fn an_aws_failure_reaches_lambda_named_by_its_kind() {
    let s = setup(1, 5).await;
    let p = s.start(&[]).await;
    strict::inject(fault(
        "ecs:DescribeServices",
        &s.service,
        FaultKind::ServerError,
    ));
    let err = invoke(&p, tick()).await.unwrap_err();
    assert_eq!(err["errorType"], "AwsCallFailed", "{err}");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("ecs:DescribeServices failed"),
        "{err}"
    );
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
    let env = scenario::local_env(&w, &cluster, &service);
    scenario::demo(&w, &bin, &env, &cluster, &service)
        .await
        .unwrap();
    let (count, tags) = desired(&w, &cluster, &service).await.unwrap();
    assert_eq!(
        count, 3,
        "the alarm → 2 → 3, then the duplicate and the schedule are held by the cooldown"
    );
    assert_eq!(tags.len(), 6, "{tags:?}");
}

/// The autoscaler as template.yaml deploys it: its environment and its own key, which the strict
/// layer authorizes by the function's `Policies` (evaluated as IAM does, the TagResource tag-key
/// condition included). The calls the stand-in answers are authorized there first. Every call of
/// a reconcile that scales is allowed.
#[tokio::test]
async fn the_autoscaler_runs_under_its_own_template_policy() {
    let w = World::new().await;
    let mut stack = LocalStack::for_test(&w, &w.name("scaled"), &[]).await;
    stack.create().await.unwrap();
    let mut env = stack.function_env("AutoscalerFunction").unwrap();
    let setting = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} in {env:?}"))
    };
    let (key, cluster, service) = (
        setting("AWS_ACCESS_KEY_ID"),
        setting("CLUSTER_NAME"),
        setting("SERVICE_NAME"),
    );
    let stand_in = StandIn::start(&w.endpoint, &cluster, &service).await;
    env.retain(|(k, _)| k != "SCALE_OUT_COOLDOWN_SECONDS");
    env.push(("SCALE_OUT_COOLDOWN_SECONDS".into(), "0".into()));
    env.extend(stand_in.env());
    stand_in.set(&alarm_name(&service, "cpu-high"), true, &[93.5]);
    let p = LambdaProcess::start(&build_function("autoscaler"), "autoscaler", &env)
        .await
        .unwrap();
    let r = invoke(&p, tick()).await.expect("no AccessDenied");
    assert_eq!(outcome(&r), "scaled", "{r}");
    p.stop().await;

    let decisions = strict::decisions(&key);
    let denied: Vec<String> = decisions
        .iter()
        .filter(|d| !d.allowed())
        .map(|d| d.to_string())
        .collect();
    assert!(denied.is_empty(), "denied: {denied:#?}");
    let actions: BTreeSet<&str> = decisions.iter().map(|d| d.action.as_str()).collect();
    for needed in [
        "ecs:DescribeServices",
        "ecs:UpdateService",
        "ecs:TagResource",
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:DescribeScalingActivities",
        "cloudwatch:DescribeAlarms",
    ] {
        assert!(
            actions.contains(needed),
            "{needed} not authorized: {actions:?}"
        );
    }
}
