//! The decision over whole streams of deliveries, as Lambda makes them: alarm events late,
//! duplicated, out of order or lost, the minute schedule (some ticks lost too), retries of a
//! failed invocation 1 and 3 minutes later, and faults between the writes (a write that did not
//! happen, or one that happened but whose answer was lost). Target tracking and deployments
//! change the count too. The world is a model of what AWS keeps (the count, the service's tags,
//! the alarms); each invocation reads it, decides with [`decide`] and applies [`writes`] in order.

use super::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The i-th write fails before it reaches AWS.
    Before(usize),
    /// The i-th write happens, its answer is lost: the invocation fails.
    Lost(usize),
}

#[derive(Debug, Clone)]
enum Happening {
    /// Alarm `alarm` goes to ALARM (`true`, with this highest datapoint) or OK.
    Alarm {
        alarm: usize,
        in_alarm: bool,
        value: f64,
    },
    /// Target tracking sets the count.
    TargetTracking { to: i32 },
    /// A deployment (a stack update, a push).
    Deployment,
}

/// Who changed the count, when, which way, and for which alarm change (this function's).
#[derive(Debug, Clone, PartialEq)]
struct CountChange {
    at: i64,
    from: i32,
    to: i32,
    ours: Option<Cause>,
}

struct World {
    s: Settings,
    bounds: Bounds,
    desired: i32,
    tags: BTreeMap<String, String>,
    alarms: Vec<AlarmView>,
    deployment_times: Vec<i64>,
    target_tracking: Option<i64>,
    history: Vec<CountChange>,
    invocations: usize,
}

const NAMES: [(&str, Metric, Direction, bool); 5] = [
    ("app-cpu-high", Metric::Cpu, Direction::High, false),
    ("app-cpu-low", Metric::Cpu, Direction::Low, false),
    ("app-memory-high", Metric::Memory, Direction::High, false),
    ("app-memory-low", Metric::Memory, Direction::Low, false),
    (
        "TargetTracking-service/c/app-AlarmHigh-1",
        Metric::Cpu,
        Direction::High,
        true,
    ),
];

impl World {
    fn new(s: Settings, bounds: Bounds, desired: i32) -> World {
        World {
            s,
            bounds,
            desired,
            tags: BTreeMap::new(),
            alarms: NAMES
                .iter()
                .map(|(name, metric, direction, managed)| AlarmView {
                    name: name.to_string(),
                    metric: *metric,
                    direction: *direction,
                    in_alarm: false,
                    changed_at: -100_000,
                    value: None,
                    threshold: Some(50.0),
                    managed: *managed,
                    actions_enabled: true,
                })
                .collect(),
            deployment_times: vec![-100_000],
            target_tracking: None,
            history: vec![],
            invocations: 0,
        }
    }

    fn happen(&mut self, at: i64, h: &Happening) {
        match *h {
            Happening::Alarm {
                alarm,
                in_alarm,
                value,
            } => {
                let a = &mut self.alarms[alarm];
                if a.in_alarm != in_alarm {
                    a.in_alarm = in_alarm;
                    a.changed_at = at;
                    a.value = in_alarm.then_some(value);
                }
            }
            Happening::TargetTracking { to } => {
                self.target_tracking = Some(at);
                self.set(at, to, None);
            }
            Happening::Deployment => self.deployment_times.push(at),
        }
    }

    fn set(&mut self, at: i64, to: i32, ours: Option<Cause>) {
        if to != self.desired {
            self.history.push(CountChange {
                at,
                from: self.desired,
                to,
                ours,
            });
        }
        self.desired = to;
    }

    fn observe(&self) -> Observed {
        let tags = || self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let (record, last) = record::read(tags());
        Observed {
            service: Some(ServiceView {
                arn: ARN.into(),
                status: "ACTIVE".into(),
                desired: self.desired,
                running: self.desired,
                deployment_in_progress: false,
                deployment_times: self.deployment_times.clone(),
                record,
                last,
                last_scale_out: record::last_scale_out(tags()),
            }),
            bounds: Some(self.bounds),
            alarms: self.alarms.clone(),
            target_tracking_changed_at: None,
        }
    }

    /// One invocation, as lib.rs's reconcile runs it; Err when it fails (Lambda retries it).
    fn invoke(&mut self, now: i64, fault: Option<Fault>) -> Result<(), ()> {
        self.invocations += 1;
        let mut o = self.observe();
        let mut d = decide(&o, &self.s, now);
        if needs_target_tracking(&d) {
            o.target_tracking_changed_at = self.target_tracking;
            d = decide(&o, &self.s, now);
        }
        let cause = match &d.action {
            Action::Scale { cause, .. } => Some(cause.clone()),
            Action::None => None,
        };
        for (i, w) in writes(&d, now).into_iter().enumerate() {
            if fault == Some(Fault::Before(i)) {
                return Err(());
            }
            match w {
                Write::Tags(tags) => self.tags.extend(tags),
                Write::Desired(n) => self.set(now, n, cause.clone()),
            }
            if fault == Some(Fault::Lost(i)) {
                return Err(());
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Case {
    out_cd: i64,
    in_cd: i64,
    min: i32,
    span: i32,
    desired: i32,
    /// (time, what happens), in any order: sorted before the run.
    happenings: Vec<(i64, Happening)>,
    /// For each alarm happening: delays of its deliveries (none: lost; several: duplicates).
    hint_delays: Vec<Vec<i64>>,
    /// Which minute ticks are lost.
    lost_ticks: Vec<bool>,
    /// The fault each invocation meets, in turn (cycled).
    faults: Vec<Option<Fault>>,
}

fn arb_fault() -> impl Strategy<Value = Option<Fault>> {
    prop_oneof![
        6 => Just(None),
        1 => (0usize..3).prop_map(|i| Some(Fault::Before(i))),
        1 => (0usize..3).prop_map(|i| Some(Fault::Lost(i))),
    ]
}

fn arb_happening() -> impl Strategy<Value = Happening> {
    prop_oneof![
        6 => (0usize..NAMES.len(), any::<bool>(), 0.0f64..300.0)
            .prop_map(|(alarm, in_alarm, value)| Happening::Alarm { alarm, in_alarm, value }),
        1 => (0i32..15).prop_map(|to| Happening::TargetTracking { to }),
        1 => Just(Happening::Deployment),
    ]
}

const HORIZON: i64 = 2400;

prop_compose! {
    fn arb_stream()(
        out_cd in 1i64..200,
        in_cd in 1i64..700,
        min in 0i32..4,
        span in 0i32..8,
        desired in 0i32..14,
        happenings in proptest::collection::vec((0i64..HORIZON, arb_happening()), 0..25),
        hint_delays in proptest::collection::vec(proptest::collection::vec(0i64..400, 0..4), 25),
        lost_ticks in proptest::collection::vec(proptest::bool::weighted(0.3), (HORIZON / 60) as usize + 1),
        faults in proptest::collection::vec(arb_fault(), 1..40),
    ) -> Case {
        Case { out_cd, in_cd, min, span, desired, happenings, hint_delays, lost_ticks, faults }
    }
}

/// Runs a case; returns the world at the end.
fn run(case: &Case) -> World {
    let mut s = settings();
    s.scale_out_cooldown_seconds = case.out_cd;
    s.scale_in_cooldown_seconds = case.in_cd;
    let bounds = Bounds {
        min: case.min,
        max: case.min + case.span,
        scale_in_suspended: false,
        scale_out_suspended: false,
    };
    let mut w = World::new(s, bounds, case.desired);
    let mut happenings = case.happenings.clone();
    happenings.sort_by_key(|(t, _)| *t);
    // (time, sequence, attempt, reconciles): an alarm event going to OK reconciles nothing.
    let mut deliveries: Vec<(i64, usize, u8, bool)> = vec![];
    let mut seq = 0;
    for (minute, lost) in case.lost_ticks.iter().enumerate() {
        if !lost {
            deliveries.push((minute as i64 * 60, seq, 0, true));
            seq += 1;
        }
    }
    for (i, (t, h)) in happenings.iter().enumerate() {
        if let Happening::Alarm {
            alarm, in_alarm, ..
        } = h
        {
            // Target tracking's alarm invokes its policy, not this function.
            let to_us = !NAMES[*alarm].3;
            for delay in case.hint_delays.get(i).into_iter().flatten() {
                if to_us {
                    deliveries.push((t + delay, seq, 0, *in_alarm));
                    seq += 1;
                }
            }
        }
    }
    let mut next_happening = 0;
    let mut fault_turn = 0;
    loop {
        deliveries.sort();
        let Some(&(now, _, attempt, reconciles)) = deliveries.first() else {
            break;
        };
        deliveries.remove(0);
        while next_happening < happenings.len() && happenings[next_happening].0 <= now {
            w.happen(happenings[next_happening].0, &happenings[next_happening].1);
            next_happening += 1;
        }
        if !reconciles {
            continue;
        }
        let fault = case.faults[fault_turn % case.faults.len()];
        fault_turn += 1;
        // Lambda retries a failed asynchronous invocation twice: about 1 and 2 minutes apart.
        if w.invoke(now, fault).is_err() && attempt < 2 {
            deliveries.push((now + 60 * (i64::from(attempt) + 1), seq, attempt + 1, true));
            seq += 1;
        }
    }
    w
}

fn check(case: &Case, w: &World) -> Result<(), TestCaseError> {
    let b = w.bounds;
    for (i, c) in w.history.iter().enumerate() {
        let Some(cause) = &c.ours else { continue };
        prop_assert!(
            b.min <= c.to && c.to <= b.max,
            "{:?} outside [{}, {}]",
            c,
            b.min,
            b.max
        );
        let up = c.to > c.from;
        // Every earlier change of the count, by anyone, and every deployment.
        let earlier = w.history[..i]
            .iter()
            .map(|e| {
                (
                    e.at,
                    if e.ours.is_some() {
                        Some(e.to > e.from)
                    } else {
                        None
                    },
                )
            })
            .chain(
                w.deployment_times
                    .iter()
                    .filter(|&&t| t <= c.at)
                    .map(|&t| (t, None)),
            );
        for (at, was_up) in earlier {
            let since = c.at - at;
            if up {
                prop_assert!(
                    was_up == Some(false) || since >= case.out_cd,
                    "scale-out {:?} only {} s after a change (up: {:?}); history {:?}",
                    c,
                    since,
                    was_up,
                    w.history
                );
            } else {
                prop_assert!(
                    since >= case.in_cd,
                    "scale-in {:?} only {} s after a change; history {:?}",
                    c,
                    since,
                    w.history
                );
            }
        }
        // Never two steps for one alarm change within its cooldown.
        if let Some(prev) = w.history[..i]
            .iter()
            .rev()
            .find(|e| e.ours.as_ref() == Some(cause))
        {
            let cooldown = if up { case.out_cd } else { case.in_cd };
            prop_assert!(
                c.at - prev.at >= cooldown,
                "two steps for {:?}: {:?} then {:?}",
                cause,
                prev,
                c
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn within_bounds_and_never_two_steps_for_one_alarm_change(case in arb_stream()) {
        let mut w = run(&case);
        check(&case, &w)?;
        // Whatever failed in between, one clean reconcile leaves no unfinished record whose
        // change happened.
        w.invoke(HORIZON + 1000, None).unwrap();
        let (record, _) = record::read(w.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Some(r) = record {
            prop_assert!(!r.pending || w.desired == r.from, "{:?} with desired {}", r, w.desired);
        }
    }

    /// Drops healed by the schedule: the alarm's own event lost, a high alarm that stays in
    /// ALARM reaches max, one step per cooldown, from the minute ticks alone.
    #[test]
    fn an_alarm_that_stays_in_alarm_keeps_scaling_until_max(
        out_cd in 1i64..150, min in 0i32..4, span in 1i32..6, start in 0i32..4, faults in proptest::collection::vec(arb_fault(), 1..10),
    ) {
        let mut s = settings();
        s.scale_out_cooldown_seconds = out_cd;
        let bounds = Bounds { min, max: min + span, scale_in_suspended: false, scale_out_suspended: false };
        let mut w = World::new(s, bounds, start.min(min + span));
        w.happen(0, &Happening::Alarm { alarm: 0, in_alarm: true, value: 55.0 });
        let minutes_per_step = out_cd / 60 + 1;
        // Every other tick meets a fault: room for each step and a failed tick before it.
        let minutes = (i64::from(span) + 1) * (minutes_per_step + 2) + 3;
        for minute in 1..=minutes {
            let fault = if minute % 2 == 0 { None } else { faults[minute as usize % faults.len()] };
            let _ = w.invoke(minute * 60, fault);
        }
        let _ = w.invoke((minutes + 10) * 60, None);
        let _ = w.invoke((minutes + 20) * 60, None);
        prop_assert_eq!(w.desired, min + span, "history {:?}", w.history);
    }
}

#[test]
fn a_refused_scale_in_is_retried_on_the_next_minute() {
    let mut w = World::new(
        settings(),
        Bounds {
            min: 1,
            max: 5,
            scale_in_suspended: false,
            scale_out_suspended: false,
        },
        3,
    );
    w.happen(
        0,
        &Happening::Alarm {
            alarm: 1,
            in_alarm: true,
            value: 5.0,
        },
    );
    w.happen(
        0,
        &Happening::Alarm {
            alarm: 4,
            in_alarm: true,
            value: 75.0,
        },
    );
    w.invoke(0, None).unwrap();
    assert_eq!(
        w.desired, 3,
        "target tracking's high alarm holds the scale-in"
    );
    w.happen(
        30,
        &Happening::Alarm {
            alarm: 4,
            in_alarm: false,
            value: 0.0,
        },
    );
    w.invoke(60, None).unwrap();
    assert_eq!(w.desired, 2, "the next tick scales in");
    assert_eq!(
        w.history.last().unwrap().ours.as_ref().unwrap().alarm,
        "app-cpu-low"
    );
}

#[test]
fn a_lost_update_answer_is_finished_not_repeated() {
    let mut w = World::new(
        settings(),
        Bounds {
            min: 1,
            max: 10,
            scale_in_suspended: false,
            scale_out_suspended: false,
        },
        2,
    );
    w.happen(
        0,
        &Happening::Alarm {
            alarm: 0,
            in_alarm: true,
            value: 93.5,
        },
    );
    // UpdateService (write 1) reaches AWS, its answer is lost.
    assert!(w.invoke(10, Some(Fault::Lost(1))).is_err());
    assert_eq!(w.desired, 3);
    // Lambda's retry a minute later finds the count at the record's `to`: it finishes the
    // record (the change was 60 s ago: the cooldown has just passed, so it may step again,
    // but by one: the datapoints are older than the count).
    w.s.scale_out_cooldown_seconds = 120;
    w.invoke(70, None).unwrap();
    assert_eq!(w.desired, 3, "no second step for the same alarm change");
    let (record, last) = record::read(w.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert!(!record.unwrap().pending);
    assert_eq!(last.unwrap().at, 10);
    // A failure before UpdateService: the count did not move; the retry does the step.
    let mut w = World::new(
        settings(),
        Bounds {
            min: 1,
            max: 10,
            scale_in_suspended: false,
            scale_out_suspended: false,
        },
        2,
    );
    w.happen(
        0,
        &Happening::Alarm {
            alarm: 0,
            in_alarm: true,
            value: 93.5,
        },
    );
    assert!(w.invoke(10, Some(Fault::Before(1))).is_err());
    assert_eq!(w.desired, 2);
    w.invoke(70, None).unwrap();
    assert_eq!((w.desired, w.history.len()), (3, 1));
}

/// Reserved concurrency keeps runs apart; should two overlap anyway (both read before either
/// writes), they set the same absolute count: one step, not two.
#[test]
fn overlapping_runs_that_read_the_same_state_set_the_same_count() {
    let mut w = World::new(
        settings(),
        Bounds {
            min: 1,
            max: 10,
            scale_in_suspended: false,
            scale_out_suspended: false,
        },
        2,
    );
    w.happen(
        0,
        &Happening::Alarm {
            alarm: 0,
            in_alarm: true,
            value: 150.0,
        },
    );
    let (first, second) = (w.observe(), w.observe());
    let a = decide(&first, &w.s, 100);
    let b = decide(&second, &w.s, 101);
    assert_eq!(scale(&a), Some((2, 5)));
    assert_eq!(scale(&a), scale(&b));
    let (wa, wb) = (writes(&a, 100), writes(&b, 101));
    for (x, y) in wa.into_iter().zip(wb) {
        for write in [x, y] {
            match write {
                Write::Tags(tags) => w.tags.extend(tags),
                Write::Desired(n) => w.set(100, n, None),
            }
        }
    }
    assert_eq!((w.desired, w.history.len()), (5, 1));
    // And the next run sees a finished record and its cooldown.
    let d = decide(&w.observe(), &w.s, 102);
    assert_eq!(d.action, Action::None, "{}", d.why);
}
