//! The autoscaler under real delivery, against the strict local AWS: generated streams of alarm
//! state changes, their events (in either form) late, duplicated, out of order or lost, minute
//! ticks, Lambda's retries of a failed invocation, and faults injected between the function and
//! AWS (throttling, 5xx, an UpdateService or TagResource that happened but whose answer was lost).
//!
//! Each case runs well within one scale-out cooldown, so: the desired count stays within its
//! bounds and moves at most once, whatever arrives twice or fails half-way; a high alarm left in
//! ALARM has moved it by the end, even when every one of its events was lost (the schedule heals
//! it); and no record is left unfinished once a clean reconcile ran. The same properties over
//! many more streams, with time passing, are checked on the pure decision
//! (functions/autoscaler/src/decide/tests/delivery.rs).

use local_harness::moto;
use local_harness::runtime_api::LambdaProcess;
use local_harness::scenarios::autoscaler::{self as scenario, alarm_name, desired, tick, StandIn};
use local_harness::stack::build_function;
use local_harness::strict::{self, Fault, FaultKind};
use local_harness::world::World;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;
use std::time::{Duration, Instant};

const COOLDOWN: u64 = 30;
const MIN: i32 = 1;
const MAX: i32 = 6;

/// The alarms a stream moves: two that scale out, one that would scale in (refused: moto
/// reports a deployment in progress forever).
const ALARMS: [(&str, &str); 3] = [
    ("cpu-high", "cpu-high-alarm"),
    ("memory-high", "memory-high-alarm"),
    ("cpu-low", "cpu-low-alarm"),
];

#[derive(Debug, Clone, Copy)]
enum Injected {
    /// UpdateService happens, every answer lost: the count changed, the record did not finish.
    UpdateLost,
    /// The intent's TagResource happens, every answer lost: the record says pending, the count
    /// did not move.
    TagLost,
    /// TagResource refused three times (5xx): nothing written.
    TagServerError,
    /// DescribeServices throttled once: the SDK's retry succeeds.
    DescribeThrottled,
}

#[derive(Debug, Clone)]
enum Op {
    /// CloudWatch moves an alarm (it may already be in that state: then nothing changes).
    Change {
        alarm: usize,
        in_alarm: bool,
        value: f64,
    },
    /// An event of an earlier change (index modulo the changes so far): late, duplicated,
    /// out of order; changes never delivered are lost.
    Deliver {
        change: usize,
        eventbridge: bool,
    },
    Tick,
}

#[derive(Debug, Clone)]
struct Stream {
    start: i32,
    ops: Vec<(Op, Option<Injected>)>,
}

fn arb_injected() -> impl Strategy<Value = Option<Injected>> {
    prop_oneof![
        8 => Just(None),
        1 => Just(Some(Injected::UpdateLost)),
        1 => Just(Some(Injected::TagLost)),
        1 => Just(Some(Injected::TagServerError)),
        1 => Just(Some(Injected::DescribeThrottled)),
    ]
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..ALARMS.len(), proptest::bool::weighted(0.7), 60.0f64..250.0)
            .prop_map(|(alarm, in_alarm, value)| Op::Change { alarm, in_alarm, value }),
        3 => (0usize..8, any::<bool>()).prop_map(|(change, eventbridge)| Op::Deliver { change, eventbridge }),
        1 => Just(Op::Tick),
    ]
}

fn arb_stream() -> impl Strategy<Value = Stream> {
    (
        MIN..MAX,
        proptest::collection::vec((arb_op(), arb_injected()), 3..14),
    )
        .prop_map(|(start, ops)| Stream { start, ops })
}

struct Env {
    w: World,
    cluster: String,
    service: String,
    stand_in: StandIn,
    process: LambdaProcess,
    /// moto itself, for resetting the service between cases without meeting injected faults.
    direct: aws_sdk_ecs::Client,
}

impl Env {
    async fn new() -> Env {
        let w = World::new().await;
        let (cluster, service) = scenario::service_with_target(&w, MIN, MAX).await;
        let stand_in = StandIn::start(&w.endpoint, &cluster, &service).await;
        let home = std::env::temp_dir().join(format!("skyhigh-autoscaler-delivery-{}", w.id));
        std::fs::create_dir_all(&home).unwrap();
        let mut env = moto::process_env(&w.endpoint, &home);
        env.extend(scenario::settings(&cluster, &service));
        env.extend(stand_in.env());
        env.push(("SCALE_OUT_COOLDOWN_SECONDS".into(), COOLDOWN.to_string()));
        let process = LambdaProcess::start(&build_function("autoscaler"), "autoscaler", &env)
            .await
            .expect("start the autoscaler");
        let direct = aws_sdk_ecs::Client::new(&moto::sdk_config(moto::backend().await));
        // The service's creation is a deployment, which the cooldown counts: let it pass.
        tokio::time::sleep(Duration::from_secs(COOLDOWN + 1)).await;
        Env {
            w,
            cluster,
            service,
            stand_in,
            process,
            direct,
        }
    }

    /// The count at `start`, no record, every alarm in OK.
    async fn reset(&self, start: i32) {
        for (suffix, _) in ALARMS {
            self.stand_in
                .set(&alarm_name(&self.service, suffix), false, &[]);
        }
        let out = self
            .direct
            .describe_services()
            .cluster(&self.cluster)
            .services(&self.service)
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .send()
            .await
            .unwrap();
        let svc = &out.services()[0];
        let keys: Vec<String> = svc
            .tags()
            .iter()
            .filter_map(|t| t.key())
            .filter(|k| k.starts_with("skyhigh:autoscaler:"))
            .map(str::to_string)
            .collect();
        if !keys.is_empty() {
            self.direct
                .untag_resource()
                .resource_arn(svc.service_arn().unwrap())
                .set_tag_keys(Some(keys))
                .send()
                .await
                .unwrap();
        }
        self.direct
            .update_service()
            .cluster(&self.cluster)
            .service(&self.service)
            .desired_count(start)
            .send()
            .await
            .unwrap();
    }

    fn inject(&self, injected: Injected) {
        let (action, kind, times) = match injected {
            Injected::UpdateLost => ("ecs:UpdateService", FaultKind::LostResponse, 3),
            Injected::TagLost => ("ecs:TagResource", FaultKind::LostResponse, 3),
            Injected::TagServerError => ("ecs:TagResource", FaultKind::ServerError, 3),
            Injected::DescribeThrottled => ("ecs:DescribeServices", FaultKind::Throttle, 1),
        };
        // A fault the next invocation does not meet stays for a later one: still a fault.
        strict::inject(Fault {
            action: action.into(),
            matching: self.service.clone(),
            kind,
            times,
        });
    }

    /// One delivery, and Lambda's two retries if it fails. Ok(false) when all three failed.
    async fn deliver(&self, event: &Value) -> Result<bool, TestCaseError> {
        for _ in 0..3 {
            match self
                .process
                .runtime
                .invoke(event.clone(), Duration::from_secs(60))
                .await
            {
                Some(Ok(r)) => {
                    prop_assert_ne!(&r["decision"]["outcome"], "rejected", "{}", r);
                    return Ok(true);
                }
                Some(Err(e)) => {
                    let kind = e["errorType"].as_str().unwrap_or_default().to_string();
                    prop_assert!(
                        kind == "AwsCallFailed" || kind == "RecordNotFinished",
                        "{}",
                        e
                    );
                }
                None => prop_assert!(false, "the function did not answer"),
            }
        }
        Ok(false)
    }

    async fn run(&self, stream: &Stream) -> Result<(), TestCaseError> {
        self.reset(stream.start).await;
        let started = Instant::now();
        // (alarm, in ALARM) of each change, in order.
        let mut changes: Vec<(usize, bool)> = vec![];
        let mut in_alarm = [false; ALARMS.len()];
        let mut count = stream.start;
        let mut steps: Vec<(i32, i32, String)> = vec![];
        for (op, injected) in &stream.ops {
            let event = match op {
                Op::Change {
                    alarm,
                    in_alarm: state,
                    value,
                } => {
                    self.stand_in.set(
                        &alarm_name(&self.service, ALARMS[*alarm].0),
                        *state,
                        &[*value],
                    );
                    in_alarm[*alarm] = *state;
                    changes.push((*alarm, *state));
                    continue;
                }
                Op::Deliver { .. } if changes.is_empty() => tick(),
                Op::Deliver {
                    change,
                    eventbridge,
                } => {
                    let (alarm, state) = changes[change % changes.len()];
                    let base = match (ALARMS[alarm].0, state) {
                        ("cpu-high", false) => "cpu-high-ok",
                        (_, false) => continue,
                        (_, true) => ALARMS[alarm].1,
                    };
                    let file = if *eventbridge {
                        format!("{base}-eventbridge")
                    } else {
                        base.to_string()
                    };
                    scenario::event(&file, &self.cluster, &self.service)
                }
                Op::Tick => tick(),
            };
            if let Some(i) = injected {
                self.inject(*i);
            }
            self.deliver(&event).await?;
            let (now, tags) = desired(&self.w, &self.cluster, &self.service)
                .await
                .map_err(TestCaseError::fail)?;
            prop_assert!(
                (MIN..=MAX).contains(&now),
                "desired {} outside [{}, {}]",
                now,
                MIN,
                MAX
            );
            if now != count {
                let cause = tags
                    .iter()
                    .find(|(k, _)| k == "skyhigh:autoscaler:cause")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                steps.push((count, now, cause));
                count = now;
            }
        }
        // The next minutes: clean ticks (a fault injected above may still be waiting).
        let mut healed = false;
        for _ in 0..6 {
            if self.deliver(&tick()).await? {
                healed = true;
                break;
            }
        }
        prop_assert!(healed, "no tick succeeded");
        let (end, tags) = desired(&self.w, &self.cluster, &self.service)
            .await
            .map_err(TestCaseError::fail)?;
        if end != count {
            let cause = tags
                .iter()
                .find(|(k, _)| k == "skyhigh:autoscaler:cause")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            steps.push((count, end, cause));
        }
        let elapsed = started.elapsed().as_secs();
        let allowed = 1 + (elapsed / COOLDOWN) as usize;
        prop_assert!(
            steps.len() <= allowed,
            "{} steps in {} s (cooldown {} s): {:?}",
            steps.len(),
            elapsed,
            COOLDOWN,
            steps
        );
        for (from, to, cause) in &steps {
            prop_assert!(to > from, "only scale-outs here: {:?}", steps);
            prop_assert!(
                cause.contains("-high"),
                "a step caused by a high alarm: {:?}",
                steps
            );
        }
        let high_in_alarm = in_alarm[0] || in_alarm[1];
        if high_in_alarm && stream.start < MAX {
            prop_assert!(
                end > stream.start,
                "a high alarm left in ALARM moved nothing (events lost: the schedule heals): {:?}",
                stream
            );
        }
        if let Some((_, record)) = tags.iter().find(|(k, _)| k == "skyhigh:autoscaler:record") {
            let from: i32 = record
                .split_whitespace()
                .find_map(|p| p.strip_prefix("from="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(-1);
            prop_assert!(
                record.ends_with("state=done") || end == from,
                "unfinished record {} with desired {}",
                record,
                end
            );
        }
        Ok(())
    }
}

#[test]
fn streams_of_events_ticks_retries_and_faults_never_step_twice() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let env = rt.block_on(Env::new());
    let mut runner = TestRunner::new(Config {
        // Each case talks to the local AWS: a modest number, every one a different stream.
        cases: 10,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&arb_stream(), |stream| rt.block_on(env.run(&stream)));
    rt.block_on(async {
        let Env { process, .. } = env;
        process.stop().await;
    });
    result.unwrap();
}
