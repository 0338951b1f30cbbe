use super::*;
use crate::alarm::{MetricRef, PayloadForm};
use crate::record;
use proptest::prelude::*;

const NOW: i64 = 1_790_000_000;
const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service/sky-high-booker/sky-high-booker";

fn settings() -> Settings {
    Settings {
        cluster: "sky-high-booker".into(),
        service: "sky-high-booker".into(),
        scale_out_cooldown_seconds: 60,
        scale_in_cooldown_seconds: 300,
        cpu_target_percent: 70.0,
        memory_target_percent: 80.0,
        dry_run: false,
    }
}

fn alarm(
    name: &str,
    metric: Metric,
    direction: Direction,
    ago: i64,
    value: Option<f64>,
) -> AlarmView {
    AlarmView {
        name: name.into(),
        metric,
        direction,
        in_alarm: true,
        changed_at: NOW - ago,
        value,
        threshold: Some(if direction == Direction::High {
            85.0
        } else {
            20.0
        }),
        managed: false,
        actions_enabled: true,
    }
}

fn cpu_high(ago: i64, value: Option<f64>) -> AlarmView {
    alarm(
        "sky-high-booker-cpu-high",
        Metric::Cpu,
        Direction::High,
        ago,
        value,
    )
}

fn cpu_low(ago: i64) -> AlarmView {
    alarm(
        "sky-high-booker-cpu-low",
        Metric::Cpu,
        Direction::Low,
        ago,
        Some(10.0),
    )
}

fn observed(desired: i32, min: i32, max: i32, alarms: Vec<AlarmView>) -> Observed {
    Observed {
        service: Some(ServiceView {
            arn: ARN.into(),
            status: "ACTIVE".into(),
            desired,
            running: desired,
            deployment_in_progress: false,
            deployment_times: vec![NOW - 100_000],
            record: None,
            last: None,
            last_scale_out: None,
        }),
        bounds: Some(Bounds {
            min,
            max,
            scale_in_suspended: false,
            scale_out_suspended: false,
        }),
        alarms,
        target_tracking_changed_at: None,
    }
}

fn svc(o: &mut Observed) -> &mut ServiceView {
    o.service.as_mut().unwrap()
}

fn scale(d: &Decision) -> Option<(i32, i32)> {
    match d.action {
        Action::Scale { from, to, .. } => Some((from, to)),
        Action::None => None,
    }
}

fn cause(d: &Decision) -> Option<&str> {
    match &d.action {
        Action::Scale { cause, .. } => Some(cause.alarm.as_str()),
        Action::None => None,
    }
}

#[test]
fn scale_out_is_proportional_and_at_least_one() {
    let s = settings();
    // 2 tasks at 93.5 % vs 70 %: ceil(2.67) = 3.
    let d = decide(&observed(2, 1, 5, vec![cpu_high(30, Some(93.5))]), &s, NOW);
    assert_eq!(scale(&d), Some((2, 3)), "{}", d.why);
    assert_eq!(cause(&d), Some("sky-high-booker-cpu-high"));
    // 4 tasks at 100 %: ceil(5.7) = 6 → max 5; 3 tasks at 150 %: ceil(6.4) = 7 within 10.
    let d = decide(&observed(4, 1, 5, vec![cpu_high(30, Some(100.0))]), &s, NOW);
    assert_eq!(scale(&d), Some((4, 5)));
    let d = decide(
        &observed(3, 1, 10, vec![cpu_high(30, Some(150.0))]),
        &s,
        NOW,
    );
    assert_eq!(scale(&d), Some((3, 7)));
    // Just above target: still +1. No datapoints: the threshold stands in.
    let d = decide(&observed(2, 1, 5, vec![cpu_high(30, Some(71.0))]), &s, NOW);
    assert_eq!(scale(&d), Some((2, 3)));
    let d = decide(&observed(4, 1, 9, vec![cpu_high(30, None)]), &s, NOW);
    assert_eq!(scale(&d), Some((4, 5)), "ceil(4 x 85 / 70) = 5");
    // Below min (App Auto Scaling has not corrected it yet): up to min at least.
    let d = decide(&observed(0, 2, 5, vec![cpu_high(30, Some(90.0))]), &s, NOW);
    assert_eq!(scale(&d), Some((0, 2)));
    // Memory uses its own target: 2 × 100 / 80 = 2.5 → 3.
    let m = alarm(
        "sky-high-booker-memory-high",
        Metric::Memory,
        Direction::High,
        30,
        Some(100.0),
    );
    let d = decide(&observed(2, 1, 5, vec![m]), &s, NOW);
    assert_eq!(scale(&d), Some((2, 3)));
    assert!(
        d.why.contains("MemoryUtilization 100 vs target 80"),
        "{}",
        d.why
    );
}

#[test]
fn the_alarm_asking_for_most_is_the_cause() {
    let s = settings();
    let memory = alarm(
        "sky-high-booker-memory-high",
        Metric::Memory,
        Direction::High,
        10,
        Some(160.0),
    );
    let d = decide(
        &observed(3, 1, 10, vec![cpu_high(30, Some(90.0)), memory]),
        &s,
        NOW,
    );
    assert_eq!(
        scale(&d),
        Some((3, 6)),
        "ceil(3 x 160 / 80) = 6 beats ceil(3 x 90 / 70) = 4"
    );
    assert_eq!(cause(&d), Some("sky-high-booker-memory-high"));
}

#[test]
fn an_alarm_still_in_alarm_scales_one_step_per_cooldown() {
    let s = settings();
    // The alarm changed 300 s ago; the count changed (by this function) 61 s ago: its
    // datapoints are older than the count, so one step, not ceil(3 x 150 / 70) = 7.
    let mut o = observed(3, 1, 10, vec![cpu_high(300, Some(150.0))]);
    svc(&mut o).last = Some(LastScaling {
        at: NOW - 61,
        direction: Direction::High,
    });
    let d = decide(&o, &s, NOW);
    assert_eq!(scale(&d), Some((3, 4)), "{}", d.why);
    assert!(
        d.why
            .contains("still in ALARM since before the last change"),
        "{}",
        d.why
    );
    svc(&mut o).last = Some(LastScaling {
        at: NOW - 59,
        direction: Direction::High,
    });
    let d = decide(&o, &s, NOW);
    assert_eq!(d.action, Action::None);
    assert!(
        d.why
            .contains("scale-out cooldown: last change by this function 59 s ago"),
        "{}",
        d.why
    );
}

#[test]
fn the_cooldown_counts_every_change_of_the_count() {
    let s = settings();
    let high = || observed(2, 1, 5, vec![cpu_high(300, Some(99.0))]);
    // Target tracking 30 s ago (direction unknown): no scale-out yet.
    let mut o = high();
    o.target_tracking_changed_at = Some(NOW - 30);
    let d = decide(&o, &s, NOW);
    assert!(
        d.why.contains("last change by target tracking 30 s ago"),
        "{}",
        d.why
    );
    // A deployment 10 s ago.
    let mut o = high();
    svc(&mut o).deployment_times.push(NOW - 10);
    assert!(decide(&o, &s, NOW)
        .why
        .contains("last change by a deployment 10 s ago"));
    // This function's own scale-in 5 s ago does not hold a scale-out back.
    let mut o = high();
    svc(&mut o).last = Some(LastScaling {
        at: NOW - 5,
        direction: Direction::Low,
    });
    assert_eq!(scale(&decide(&o, &s, NOW)), Some((2, 3)));
    // Scale-in waits 300 s after any change, whoever made it.
    for (tt, deploy, last) in [
        (Some(NOW - 299), None, None),
        (None, Some(NOW - 299), None),
        (
            None,
            None,
            Some(LastScaling {
                at: NOW - 299,
                direction: Direction::High,
            }),
        ),
        (
            None,
            None,
            Some(LastScaling {
                at: NOW - 299,
                direction: Direction::Low,
            }),
        ),
    ] {
        let mut o = observed(3, 1, 5, vec![cpu_low(600)]);
        o.target_tracking_changed_at = tt;
        svc(&mut o).deployment_times.extend(deploy);
        svc(&mut o).last = last;
        let d = decide(&o, &s, NOW);
        assert!(d.why.contains("scale-in cooldown"), "{}", d.why);
        let d = decide(&o, &s, NOW + 1);
        assert_eq!(scale(&d), Some((3, 2)), "{}", d.why);
    }
}

#[test]
fn scale_in_is_one_step_and_cautious() {
    let s = settings();
    assert_eq!(
        scale(&decide(&observed(3, 1, 5, vec![cpu_low(600)]), &s, NOW)),
        Some((3, 2))
    );
    // Above max: clamped to max.
    assert_eq!(
        scale(&decide(&observed(8, 1, 5, vec![cpu_low(600)]), &s, NOW)),
        Some((8, 5))
    );
    assert!(decide(&observed(1, 1, 5, vec![cpu_low(600)]), &s, NOW)
        .why
        .contains("already at min"));
    let mut o = observed(3, 1, 5, vec![cpu_low(600)]);
    svc(&mut o).deployment_in_progress = true;
    assert!(decide(&o, &s, NOW)
        .why
        .contains("no scale-in during a deployment"));
    // Any high alarm in ALARM holds it: target tracking's (which this function never acts on)
    // and one whose actions a person disabled.
    for (managed, enabled) in [(true, true), (false, false)] {
        let mut busy = alarm(
            "TargetTracking-service/sky-high-booker/sky-high-booker-AlarmHigh-1",
            Metric::Cpu,
            Direction::High,
            20,
            Some(75.0),
        );
        busy.managed = managed;
        busy.actions_enabled = enabled;
        let d = decide(&observed(3, 1, 5, vec![cpu_low(600), busy]), &s, NOW);
        assert_eq!(d.action, Action::None);
        assert!(
            d.why
                .contains("no scale-in while a high alarm is in ALARM: TargetTracking-"),
            "{}",
            d.why
        );
    }
}

#[test]
fn only_the_services_own_enabled_alarms_in_alarm_act() {
    let s = settings();
    let mut managed = cpu_high(30, Some(99.0));
    managed.managed = true;
    let mut disabled = cpu_high(30, Some(99.0));
    disabled.actions_enabled = false;
    let mut ok = cpu_high(30, Some(99.0));
    ok.in_alarm = false;
    for a in [managed, disabled, ok] {
        let d = decide(&observed(2, 1, 5, vec![a]), &s, NOW);
        assert_eq!(d.action, Action::None);
        assert_eq!(d.why, "no alarm of the service is in ALARM");
    }
    // A high alarm outranks a low one.
    let d = decide(
        &observed(3, 1, 5, vec![cpu_low(600), cpu_high(30, Some(80.0))]),
        &s,
        NOW,
    );
    assert_eq!(scale(&d), Some((3, 4)));
}

#[test]
fn missing_service_or_bounds_or_suspension_means_no_action() {
    let s = settings();
    let high = vec![cpu_high(30, Some(99.0))];
    let mut o = observed(2, 1, 5, high.clone());
    o.bounds = None;
    assert!(decide(&o, &s, NOW)
        .why
        .contains("no scalable target for service/sky-high-booker/sky-high-booker"));
    let mut o = observed(2, 1, 5, high.clone());
    svc(&mut o).status = "DRAINING".into();
    assert_eq!(decide(&o, &s, NOW).action, Action::None);
    assert_eq!(decide(&Observed::default(), &s, NOW).action, Action::None);
    let mut o = observed(2, 1, 5, high);
    o.bounds.as_mut().unwrap().scale_out_suspended = true;
    assert!(decide(&o, &s, NOW).why.contains("suspended"));
    let mut o = observed(3, 1, 5, vec![cpu_low(600)]);
    o.bounds.as_mut().unwrap().scale_in_suspended = true;
    assert!(decide(&o, &s, NOW).why.contains("suspended"));
}

fn pending(from: i32, to: i32, ago: i64) -> Record {
    Record {
        from,
        to,
        at: NOW - ago,
        pending: true,
        cause: Some(Cause {
            alarm: "sky-high-booker-cpu-high".into(),
            changed_at: NOW - 100,
        }),
    }
}

#[test]
fn a_retry_reads_the_count_against_the_record() {
    let s = settings();
    // The intent 2 → 3 was written 20 s ago; the count is 3: UpdateService happened (its answer
    // may have been lost). Only the record is finished: no second step.
    let mut o = observed(3, 1, 10, vec![cpu_high(100, Some(150.0))]);
    svc(&mut o).record = Some(pending(2, 3, 20));
    let d = decide(&o, &s, NOW);
    assert_eq!(d.action, Action::None);
    assert_eq!(d.finishes, Some(pending(2, 3, 20)));
    assert!(d.why.contains("the recorded change 2 to 3 is finished; scale-out cooldown: last change by this function 20 s ago"), "{}", d.why);
    assert_eq!(writes(&d, NOW).len(), 1);
    // The count is still 2: it did not happen. It is decided again (and happens now).
    let mut o = observed(2, 1, 10, vec![cpu_high(100, Some(93.5))]);
    svc(&mut o).record = Some(pending(2, 3, 20));
    let d = decide(&o, &s, NOW);
    assert_eq!(scale(&d), Some((2, 3)));
    assert_eq!(d.finishes, None);
    // Someone else moved it since (5): the record is finished and its time counts.
    let mut o = observed(5, 1, 10, vec![cpu_high(100, Some(99.0))]);
    svc(&mut o).record = Some(pending(2, 3, 20));
    let d = decide(&o, &s, NOW);
    assert_eq!(
        (d.action.clone(), d.finishes.is_some()),
        (Action::None, true)
    );
    // A finished record past its cooldown, the alarm still in ALARM: the next step, and the
    // record's change is remembered in the same first write.
    let mut o = observed(3, 1, 10, vec![cpu_high(100, Some(150.0))]);
    svc(&mut o).record = Some(pending(2, 3, 70));
    let d = decide(&o, &s, NOW);
    assert_eq!(scale(&d), Some((3, 4)), "{}", d.why);
    let w = writes(&d, NOW);
    let Write::Tags(first) = &w[0] else {
        panic!("{w:?}")
    };
    let (rec, last) = record::read(first.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert_eq!(
        last,
        Some(LastScaling {
            at: NOW - 70,
            direction: Direction::High
        })
    );
    assert_eq!(
        (
            rec.as_ref().unwrap().from,
            rec.as_ref().unwrap().to,
            rec.unwrap().pending
        ),
        (3, 4, true)
    );
}

#[test]
fn the_intent_is_written_before_the_count_and_finished_after() {
    let s = settings();
    let d = decide(&observed(2, 1, 5, vec![cpu_high(30, Some(93.5))]), &s, NOW);
    let w = writes(&d, NOW);
    assert_eq!(w.len(), 3);
    let read = |w: &Write| match w {
        Write::Tags(t) => record::read(t.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .0
            .unwrap(),
        Write::Desired(_) => panic!("{w:?}"),
    };
    let intent = read(&w[0]);
    assert!(intent.pending && intent.from == 2 && intent.to == 3 && intent.at == NOW);
    assert_eq!(
        intent.cause,
        Some(Cause {
            alarm: "sky-high-booker-cpu-high".into(),
            changed_at: NOW - 30
        })
    );
    assert_eq!(w[1], Write::Desired(3));
    assert!(!read(&w[2]).pending);
    assert_eq!(
        writes(&decide(&observed(2, 1, 5, vec![]), &s, NOW), NOW),
        vec![]
    );
}

fn change(
    state: AlarmState,
    namespace: &str,
    metric: &str,
    cluster: &str,
    service: &str,
) -> AlarmChange {
    AlarmChange {
        form: PayloadForm::AlarmAction,
        alarm_name: "a".into(),
        alarm_arn: None,
        state,
        previous_state: None,
        state_timestamp: None,
        metric: Some(MetricRef {
            namespace: Some(namespace.into()),
            name: metric.into(),
            dimensions: [
                ("ClusterName".to_string(), cluster.to_string()),
                ("ServiceName".to_string(), service.to_string()),
            ]
            .into_iter()
            .collect(),
        }),
        value: None,
        threshold: None,
        comparison: Some(Direction::High),
    }
}

#[test]
fn an_alarm_event_reconciles_only_for_this_services_alarms_going_to_alarm() {
    let s = settings();
    let n = "sky-high-booker";
    assert_eq!(
        triage(
            &change(AlarmState::Alarm, "AWS/ECS", "MemoryUtilization", n, n),
            &s
        ),
        Triage::Reconcile
    );
    for (state, why) in [
        (AlarmState::Ok, "went to OK"),
        (AlarmState::InsufficientData, "went to INSUFFICIENT_DATA"),
    ] {
        match triage(&change(state, "AWS/ECS", "CPUUtilization", n, n), &s) {
            Triage::Skip(w) => assert!(w.contains(why)),
            other => panic!("{other:?}"),
        }
    }
    for c in [
        change(AlarmState::Alarm, "AWS/ECS", "CPUUtilization", n, "other"),
        change(AlarmState::Alarm, "AWS/ECS", "CPUUtilization", "other", n),
        change(AlarmState::Alarm, "AWS/EC2", "CPUUtilization", n, n),
        change(AlarmState::Alarm, "AWS/ECS", "RunningTaskCount", n, n),
        AlarmChange {
            metric: None,
            ..change(AlarmState::Alarm, "AWS/ECS", "CPUUtilization", n, n)
        },
    ] {
        match triage(&c, &s) {
            Triage::Skip(w) => assert!(w.starts_with("ignored"), "{w}"),
            other => panic!("{other:?}"),
        }
    }
}

// ---- Properties of one decision ----

fn arb_direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::High), Just(Direction::Low)]
}

prop_compose! {
    fn arb_alarm()(
        direction in arb_direction(),
        memory in any::<bool>(),
        in_alarm in any::<bool>(),
        ago in 0i64..2000,
        value in proptest::option::of(prop_oneof![0.0f64..500.0, Just(f64::NAN), Just(1e300)]),
        threshold in proptest::option::of(0.0f64..100.0),
        managed in proptest::bool::weighted(0.2),
        enabled in proptest::bool::weighted(0.9),
    ) -> AlarmView {
        AlarmView {
            name: String::new(),
            metric: if memory { Metric::Memory } else { Metric::Cpu },
            direction, in_alarm, changed_at: NOW - ago, value, threshold, managed,
            actions_enabled: enabled,
        }
    }
}

prop_compose! {
    fn arb_case()(
        desired in 0i32..40,
        min in 0i32..20,
        span in 0i32..20,
        deploying in any::<bool>(),
        alarms in proptest::collection::vec(arb_alarm(), 0..5),
        last in proptest::option::of((0i64..1000, arb_direction())),
        record in proptest::option::of((0i32..40, 1i32..10, any::<bool>(), 0i64..1000, any::<bool>(), 0u8..3)),
        deployed_ago in 0i64..2000,
        tt in proptest::option::of(0i64..1000),
        suspended in (proptest::bool::weighted(0.1), proptest::bool::weighted(0.1)),
        out_cd in 0i64..400,
        in_cd in 0i64..900,
    ) -> (Observed, Settings) {
        let mut s = settings();
        s.scale_out_cooldown_seconds = out_cd;
        s.scale_in_cooldown_seconds = in_cd;
        // CloudWatch alarm names are unique in an account and region.
        let alarms = alarms
            .into_iter()
            .enumerate()
            .map(|(i, a)| AlarmView { name: format!("alarm-{i}"), ..a })
            .collect();
        let mut o = observed(desired, min, min + span, alarms);
        {
            let v = svc(&mut o);
            v.deployment_in_progress = deploying;
            v.deployment_times = vec![NOW - deployed_ago];
            v.last = last.map(|(ago, d)| LastScaling { at: NOW - ago, direction: d });
            // A record whose count is at its from, its to, or elsewhere.
            v.record = record.map(|(from, step, up, ago, pending, at)| {
                let to = if up { from + step } else { (from - step).max(0) };
                let (from, to) = if from == to { (from, from + 1) } else { (from, to) };
                if pending {
                    v.desired = [from, to, desired][usize::from(at)];
                }
                Record { from, to, at: NOW - ago, pending, cause: None }
            });
        }
        o.target_tracking_changed_at = tt.map(|ago| NOW - ago);
        o.bounds.as_mut().unwrap().scale_in_suspended = suspended.0;
        o.bounds.as_mut().unwrap().scale_out_suspended = suspended.1;
        (o, s)
    }
}

/// Every change the decision must honour, as (time, direction if known).
fn known_changes(o: &Observed) -> Vec<(i64, Option<Direction>)> {
    let v = o.service.as_ref().unwrap();
    let mut all: Vec<(i64, Option<Direction>)> =
        v.deployment_times.iter().map(|&t| (t, None)).collect();
    all.extend(o.target_tracking_changed_at.map(|t| (t, None)));
    all.extend(v.last.map(|l| (l.at, Some(l.direction))));
    all.extend(
        v.record
            .iter()
            .filter(|r| r.pending && v.desired != r.from)
            .map(|r| (r.at, Some(r.direction()))),
    );
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_outside_bounds_and_always_the_right_way((o, s) in arb_case()) {
        let d = decide(&o, &s, NOW);
        if let Action::Scale { from, to, cause } = &d.action {
            let b = o.bounds.unwrap();
            prop_assert!(b.min <= *to && *to <= b.max, "{} not in [{}, {}]", to, b.min, b.max);
            prop_assert_eq!(*from, o.service.as_ref().unwrap().desired);
            let a = o.alarms.iter().find(|a| a.name == cause.alarm && a.changed_at == cause.changed_at).unwrap();
            prop_assert!(a.in_alarm && !a.managed && a.actions_enabled);
            match a.direction {
                Direction::High => prop_assert!(to > from),
                Direction::Low => prop_assert!(to < from),
            }
        }
    }

    #[test]
    fn cooldowns_count_every_known_change((o, s) in arb_case()) {
        let d = decide(&o, &s, NOW);
        if let Action::Scale { from, to, .. } = d.action {
            for (at, dir) in known_changes(&o) {
                let since = NOW - at;
                if to > from {
                    prop_assert!(dir == Some(Direction::Low) || since >= s.scale_out_cooldown_seconds, "{} s after {:?}: {}", since, dir, d.why);
                } else {
                    prop_assert!(since >= s.scale_in_cooldown_seconds, "{} s: {}", since, d.why);
                }
            }
        }
    }

    #[test]
    fn never_scales_in_during_a_deployment_or_a_high_alarm((o, s) in arb_case()) {
        let d = decide(&o, &s, NOW);
        if let Action::Scale { from, to, .. } = d.action {
            if to < from {
                prop_assert!(!o.service.as_ref().unwrap().deployment_in_progress);
                prop_assert!(!o.alarms.iter().any(|a| a.in_alarm && a.direction == Direction::High));
            }
        }
    }

    #[test]
    fn an_unfinished_record_is_finished_unless_its_change_did_not_happen((o, s) in arb_case()) {
        let d = decide(&o, &s, NOW);
        let v = o.service.as_ref().unwrap();
        let open = v.record.as_ref().filter(|r| r.pending && v.desired != r.from);
        prop_assert_eq!(d.finishes.as_ref(), open);
    }

    #[test]
    fn reading_target_tracking_only_before_a_scaling_changes_nothing((o, s) in arb_case()) {
        let mut without = o.clone();
        without.target_tracking_changed_at = None;
        let first = decide(&without, &s, NOW);
        let full = decide(&o, &s, NOW);
        if !needs_target_tracking(&first) {
            prop_assert_eq!((&first.action, &first.finishes), (&full.action, &full.finishes));
        }
    }

    #[test]
    fn same_input_same_output((o, s) in arb_case()) {
        prop_assert_eq!(decide(&o, &s, NOW), decide(&o.clone(), &s.clone(), NOW));
    }
}

mod delivery;
