//! The pure decision: (alarm change, what AWS has, settings, now) → scale or not, and why.
//! No I/O, no clock: `now` is passed in (seconds since the epoch).

use crate::alarm::{AlarmChange, AlarmState, Direction};
use crate::settings::Settings;
use serde::Serialize;

pub const CPU_METRIC: &str = "CPUUtilization";
pub const MEMORY_METRIC: &str = "MemoryUtilization";

/// The service's memory, kept in tags on the ECS service (survives cold starts, readable by a
/// person in the console): when it last scaled, which way, and the decision in words.
pub const TAG_LAST_SCALED_AT: &str = "skyhigh:autoscaler:last-scaled-at";
pub const TAG_LAST_DIRECTION: &str = "skyhigh:autoscaler:last-direction";
pub const TAG_LAST_DECISION: &str = "skyhigh:autoscaler:last-decision";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Metric {
    Cpu,
    Memory,
}

impl Metric {
    pub fn from_name(name: &str) -> Option<Metric> {
        match name {
            CPU_METRIC => Some(Metric::Cpu),
            MEMORY_METRIC => Some(Metric::Memory),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::Cpu => CPU_METRIC,
            Metric::Memory => MEMORY_METRIC,
        }
    }

    pub fn target(self, settings: &Settings) -> f64 {
        match self {
            Metric::Cpu => settings.cpu_target_percent,
            Metric::Memory => settings.memory_target_percent,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Action {
    None,
    Scale { from: i32, to: i32 },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub action: Action,
    pub why: String,
}

impl Decision {
    fn none(why: impl Into<String>) -> Decision {
        Decision {
            action: Action::None,
            why: why.into(),
        }
    }
}

/// Whether an alarm change concerns this service, before anything is read from AWS.
#[derive(Debug, Clone, PartialEq)]
pub enum Triage {
    /// Not this service's alarm, or not a change to ALARM: nothing to read, nothing to do.
    Skip(Decision),
    /// This service's CPU or memory alarm went to ALARM. `direction` is None when the payload
    /// does not tell high from low: the alarm's configuration must be read.
    Ours {
        metric: Metric,
        direction: Option<Direction>,
    },
}

pub fn triage(change: &AlarmChange, settings: &Settings) -> Triage {
    let Some(m) = &change.metric else {
        return Triage::Skip(Decision::none(format!(
            "ignored: alarm {} does not watch a single metric",
            change.alarm_name
        )));
    };
    let dim = |k: &str| m.dimensions.get(k).map(String::as_str);
    let metric = Metric::from_name(&m.name);
    let ours = m.namespace.as_deref() == Some("AWS/ECS")
        && dim("ClusterName") == Some(settings.cluster.as_str())
        && dim("ServiceName") == Some(settings.service.as_str());
    let (true, Some(metric)) = (ours, metric) else {
        return Triage::Skip(Decision::none(format!(
            "ignored: alarm {} watches {}/{} of ClusterName={} ServiceName={}, not CPUUtilization or MemoryUtilization of service {}/{}",
            change.alarm_name,
            m.namespace.as_deref().unwrap_or("?"),
            m.name,
            dim("ClusterName").unwrap_or("?"),
            dim("ServiceName").unwrap_or("?"),
            settings.cluster,
            settings.service
        )));
    };
    if change.state != AlarmState::Alarm {
        return Triage::Skip(Decision::none(format!(
            "alarm went to {}: no action",
            change.state.as_str()
        )));
    }
    Triage::Ours {
        metric,
        direction: change.comparison,
    }
}

/// What the alarm says, once its direction is known.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub alarm: String,
    pub metric: Metric,
    pub direction: Direction,
    /// Highest recent datapoint, if the payload carried it.
    pub value: Option<f64>,
    pub threshold: Option<f64>,
}

/// The last scaling, from the service's tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastScaling {
    /// Seconds since the epoch.
    pub at: i64,
    pub direction: Direction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceView {
    pub arn: String,
    /// Only ACTIVE is a live service.
    pub status: String,
    pub desired: i32,
    pub running: i32,
    /// More than one deployment, or the PRIMARY one not COMPLETED.
    pub deployment_in_progress: bool,
    pub last: Option<LastScaling>,
}

/// The scalable target Application Auto Scaling has for the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: i32,
    pub max: i32,
    pub scale_in_suspended: bool,
    pub scale_out_suspended: bool,
}

/// What the decision reads from AWS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    pub service: Option<ServiceView>,
    pub bounds: Option<Bounds>,
    /// Names of this service's high (GreaterThan*) CPU/memory alarms now in ALARM, the target
    /// tracking policies' own included. Read only for a scale-in.
    pub high_alarms_in_alarm: Vec<String>,
}

fn fmt_value(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// The decision. Scale-out: proportional, `max(current + 1, ceil(current × value / target))`;
/// scale-in: one task. Both clamped to the scalable target's [min, max].
pub fn decide(signal: &Signal, observed: &Observed, settings: &Settings, now: i64) -> Decision {
    let Some(service) = observed.service.as_ref().filter(|s| s.status == "ACTIVE") else {
        return Decision::none(format!(
            "service {}/{} not found or not ACTIVE",
            settings.cluster, settings.service
        ));
    };
    let Some(bounds) = observed.bounds else {
        return Decision::none(format!(
            "no scalable target for {}: bounds unknown, not scaling",
            settings.scaling_resource_id()
        ));
    };
    if bounds.min > bounds.max {
        return Decision::none(format!(
            "scalable target bounds min {} > max {}: not scaling",
            bounds.min, bounds.max
        ));
    }
    let current = service.desired;
    let since = |last: &LastScaling| now.saturating_sub(last.at);
    match signal.direction {
        Direction::High => {
            if bounds.scale_out_suspended {
                return Decision::none("dynamic scale-out is suspended on the scalable target");
            }
            if current >= bounds.max {
                return Decision::none(format!(
                    "already at max: desired {current}, max {}",
                    bounds.max
                ));
            }
            if let Some(last) = service.last.filter(|l| {
                l.direction == Direction::High && since(l) < settings.scale_out_cooldown_seconds
            }) {
                return Decision::none(format!(
                    "scale-out cooldown: last scale-out {} s ago, cooldown {} s",
                    since(&last).max(0),
                    settings.scale_out_cooldown_seconds
                ));
            }
            let target = signal.metric.target(settings);
            let observed_value = signal
                .value
                .or(signal.threshold)
                .filter(|v| v.is_finite() && *v >= 0.0);
            let (proportional, basis) = match observed_value {
                Some(v) => {
                    // Saturating casts: an absurd datapoint cannot overflow, the clamp holds.
                    let p = (f64::from(current) * v / target).ceil() as i32;
                    (
                        p,
                        format!(
                            "{} {} vs target {}: ceil {current} x {} / {} = {p}",
                            signal.metric.name(),
                            fmt_value(v),
                            fmt_value(target),
                            fmt_value(v),
                            fmt_value(target)
                        ),
                    )
                }
                None => (
                    current.saturating_add(1),
                    format!("{} value unknown: one step", signal.metric.name()),
                ),
            };
            let to = proportional
                .max(current.saturating_add(1))
                .clamp(bounds.min, bounds.max);
            Decision {
                action: Action::Scale { from: current, to },
                why: format!(
                    "scale out {current} to {to}: {basis}, at least +1, within min {} max {}",
                    bounds.min, bounds.max
                ),
            }
        }
        Direction::Low => {
            if bounds.scale_in_suspended {
                return Decision::none("dynamic scale-in is suspended on the scalable target");
            }
            if service.deployment_in_progress {
                return Decision::none(format!(
                    "no scale-in during a deployment: desired {current}, running {}",
                    service.running
                ));
            }
            if current <= bounds.min {
                return Decision::none(format!(
                    "already at min: desired {current}, min {}",
                    bounds.min
                ));
            }
            if let Some(last) = service
                .last
                .filter(|l| since(l) < settings.scale_in_cooldown_seconds)
            {
                return Decision::none(format!(
                    "scale-in cooldown: last scaling {} s ago, cooldown {} s",
                    since(&last).max(0),
                    settings.scale_in_cooldown_seconds
                ));
            }
            // Last, so that a refusal for any other reason needs no CloudWatch call.
            if !observed.high_alarms_in_alarm.is_empty() {
                return Decision::none(format!(
                    "no scale-in while a high alarm is in ALARM: {}",
                    observed.high_alarms_in_alarm.join(" ")
                ));
            }
            let to = (current - 1).clamp(bounds.min, bounds.max);
            Decision {
                action: Action::Scale { from: current, to },
                why: format!(
                    "scale in {current} to {to}: {} below its low threshold, one step, within min {} max {}",
                    signal.metric.name(), bounds.min, bounds.max
                ),
            }
        }
    }
}

/// Whether the decision was made without the alarms in ALARM and they could change it: a
/// scale-in. Decide first with none, read them only then (refusals need no CloudWatch call).
pub fn needs_high_alarms(signal: &Signal, first: &Decision) -> bool {
    signal.direction == Direction::Low && matches!(first.action, Action::Scale { .. })
}

/// Letters, digits, spaces and `+ - = . _ : / @`, at most 256 characters: what a tag value takes.
pub fn tag_value(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " +-=._:/@".contains(c) {
                c
            } else {
                ' '
            }
        })
        .collect();
    let mut collapsed = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.truncate(256);
    collapsed
}

/// `2026-11-25T19:06:31Z`, from seconds since the epoch.
pub fn rfc3339(epoch: i64) -> String {
    aws_smithy_types::DateTime::from_secs(epoch)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| epoch.to_string())
}

/// The tags that remember a scaling decision.
pub fn memory_tags(signal: &Signal, decision: &Decision, now: i64) -> Vec<(String, String)> {
    let direction = match signal.direction {
        Direction::High => "out",
        Direction::Low => "in",
    };
    vec![
        (TAG_LAST_SCALED_AT.to_string(), rfc3339(now)),
        (TAG_LAST_DIRECTION.to_string(), direction.to_string()),
        (
            TAG_LAST_DECISION.to_string(),
            tag_value(&format!("{} by {}", decision.why, signal.alarm)),
        ),
    ]
}

/// Reads the memory back from the service's tags; an unreadable tag is no memory.
pub fn last_scaling<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<LastScaling> {
    let (mut at, mut direction) = (None, None);
    for (k, v) in tags {
        match k {
            TAG_LAST_SCALED_AT => {
                at = aws_smithy_types::DateTime::from_str(
                    v,
                    aws_smithy_types::date_time::Format::DateTime,
                )
                .ok()
                .map(|d| d.secs())
                .or_else(|| v.parse().ok())
            }
            TAG_LAST_DIRECTION => {
                direction = match v {
                    "out" => Some(Direction::High),
                    "in" => Some(Direction::Low),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    Some(LastScaling {
        at: at?,
        // A timestamp without a direction: assume a scale-out, the more cautious reading.
        direction: direction.unwrap_or(Direction::High),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::{MetricRef, PayloadForm};
    use proptest::prelude::*;

    const NOW: i64 = 1_790_000_000;

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

    fn signal(direction: Direction, value: Option<f64>) -> Signal {
        Signal {
            alarm: "sky-high-booker-cpu-high".into(),
            metric: Metric::Cpu,
            direction,
            value,
            threshold: Some(85.0),
        }
    }

    fn observed(desired: i32, min: i32, max: i32) -> Observed {
        Observed {
            service: Some(ServiceView {
                arn: "arn:aws:ecs:us-east-1:123456789012:service/sky-high-booker/sky-high-booker"
                    .into(),
                status: "ACTIVE".into(),
                desired,
                running: desired,
                deployment_in_progress: false,
                last: None,
            }),
            bounds: Some(Bounds {
                min,
                max,
                scale_in_suspended: false,
                scale_out_suspended: false,
            }),
            high_alarms_in_alarm: vec![],
        }
    }

    fn with_last(mut o: Observed, ago: i64, direction: Direction) -> Observed {
        o.service.as_mut().unwrap().last = Some(LastScaling {
            at: NOW - ago,
            direction,
        });
        o
    }

    fn scale(d: &Decision) -> Option<(i32, i32)> {
        match d.action {
            Action::Scale { from, to } => Some((from, to)),
            Action::None => None,
        }
    }

    #[test]
    fn scale_out_is_proportional_and_at_least_one() {
        let s = settings();
        // 2 tasks at 93.5 % vs 70 %: ceil(2.67) = 3.
        let d = decide(
            &signal(Direction::High, Some(93.5)),
            &observed(2, 1, 5),
            &s,
            NOW,
        );
        assert_eq!(scale(&d), Some((2, 3)), "{}", d.why);
        // 2 tasks at 100 %: ceil(2.86) = 3; 4 tasks at 100 %: ceil(5.7) = 6 → max 5.
        let d = decide(
            &signal(Direction::High, Some(100.0)),
            &observed(4, 1, 5),
            &s,
            NOW,
        );
        assert_eq!(scale(&d), Some((4, 5)));
        // 3 tasks at 150 %: ceil(6.4) = 7 within max 10.
        let d = decide(
            &signal(Direction::High, Some(150.0)),
            &observed(3, 1, 10),
            &s,
            NOW,
        );
        assert_eq!(scale(&d), Some((3, 7)));
        // Just above target: still +1.
        let d = decide(
            &signal(Direction::High, Some(71.0)),
            &observed(2, 1, 5),
            &s,
            NOW,
        );
        assert_eq!(scale(&d), Some((2, 3)));
        // No datapoints: the threshold stands in (85 vs 70 on 4 tasks: ceil(4.86) = 5).
        let d = decide(&signal(Direction::High, None), &observed(4, 1, 9), &s, NOW);
        assert_eq!(scale(&d), Some((4, 5)));
        // Below min (App Auto Scaling has not corrected it yet): up to min at least.
        let d = decide(
            &signal(Direction::High, Some(90.0)),
            &observed(0, 2, 5),
            &s,
            NOW,
        );
        assert_eq!(scale(&d), Some((0, 2)));
        // Memory uses its own target: 2 × 100 / 80 = 2.5 → 3.
        let mut m = signal(Direction::High, Some(100.0));
        m.metric = Metric::Memory;
        let d = decide(&m, &observed(2, 1, 5), &s, NOW);
        assert_eq!(scale(&d), Some((2, 3)));
        assert!(
            d.why.contains("MemoryUtilization 100 vs target 80"),
            "{}",
            d.why
        );
    }

    #[test]
    fn at_max_or_in_cooldown_nothing_happens() {
        let s = settings();
        let d = decide(
            &signal(Direction::High, Some(99.0)),
            &observed(5, 1, 5),
            &s,
            NOW,
        );
        assert_eq!(d.action, Action::None);
        assert!(d.why.contains("already at max"));
        let d = decide(
            &signal(Direction::High, Some(99.0)),
            &with_last(observed(2, 1, 5), 30, Direction::High),
            &s,
            NOW,
        );
        assert!(
            d.why
                .contains("scale-out cooldown: last scale-out 30 s ago"),
            "{}",
            d.why
        );
        // 60 s later it may scale out again; a recent scale-in does not block a scale-out.
        let d = decide(
            &signal(Direction::High, Some(99.0)),
            &with_last(observed(2, 1, 5), 60, Direction::High),
            &s,
            NOW,
        );
        assert!(scale(&d).is_some());
        let d = decide(
            &signal(Direction::High, Some(99.0)),
            &with_last(observed(2, 1, 5), 5, Direction::Low),
            &s,
            NOW,
        );
        assert!(scale(&d).is_some());
    }

    #[test]
    fn scale_in_is_one_step_and_cautious() {
        let s = settings();
        let low = signal(Direction::Low, Some(10.0));
        assert_eq!(
            scale(&decide(&low, &observed(3, 1, 5), &s, NOW)),
            Some((3, 2))
        );
        // Above max: clamped to max.
        assert_eq!(
            scale(&decide(&low, &observed(8, 1, 5), &s, NOW)),
            Some((8, 5))
        );
        let d = decide(&low, &observed(1, 1, 5), &s, NOW);
        assert!(d.why.contains("already at min"));
        let mut o = observed(3, 1, 5);
        o.service.as_mut().unwrap().deployment_in_progress = true;
        let d = decide(&low, &o, &s, NOW);
        assert!(
            d.why.contains("no scale-in during a deployment"),
            "{}",
            d.why
        );
        let mut o = observed(3, 1, 5);
        o.high_alarms_in_alarm = vec!["sky-high-booker-memory-high".into()];
        let d = decide(&low, &o, &s, NOW);
        assert!(d.why.contains("sky-high-booker-memory-high"), "{}", d.why);
        // Within 300 s of any scaling.
        for dir in [Direction::High, Direction::Low] {
            let d = decide(&low, &with_last(observed(3, 1, 5), 299, dir), &s, NOW);
            assert!(d.why.contains("scale-in cooldown"), "{}", d.why);
            assert!(scale(&decide(
                &low,
                &with_last(observed(3, 1, 5), 300, dir),
                &s,
                NOW
            ))
            .is_some());
        }
    }

    #[test]
    fn missing_service_or_bounds_or_suspension_means_no_action() {
        let s = settings();
        let high = signal(Direction::High, Some(99.0));
        let mut o = observed(2, 1, 5);
        o.bounds = None;
        assert!(decide(&high, &o, &s, NOW)
            .why
            .contains("no scalable target for service/sky-high-booker/sky-high-booker"));
        let mut o = observed(2, 1, 5);
        o.service.as_mut().unwrap().status = "DRAINING".into();
        assert_eq!(decide(&high, &o, &s, NOW).action, Action::None);
        assert_eq!(
            decide(&high, &Observed::default(), &s, NOW).action,
            Action::None
        );
        let mut o = observed(2, 1, 5);
        o.bounds.as_mut().unwrap().scale_out_suspended = true;
        assert!(decide(&high, &o, &s, NOW).why.contains("suspended"));
        let mut o = observed(3, 1, 5);
        o.bounds.as_mut().unwrap().scale_in_suspended = true;
        assert!(decide(&signal(Direction::Low, None), &o, &s, NOW)
            .why
            .contains("suspended"));
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
    fn triage_keeps_only_this_services_alarms_going_to_alarm() {
        let s = settings();
        let n = "sky-high-booker";
        assert_eq!(
            triage(
                &change(AlarmState::Alarm, "AWS/ECS", "MemoryUtilization", n, n),
                &s
            ),
            Triage::Ours {
                metric: Metric::Memory,
                direction: Some(Direction::High)
            }
        );
        for (state, why) in [
            (AlarmState::Ok, "went to OK"),
            (AlarmState::InsufficientData, "went to INSUFFICIENT_DATA"),
        ] {
            match triage(&change(state, "AWS/ECS", "CPUUtilization", n, n), &s) {
                Triage::Skip(d) => assert!(d.why.contains(why)),
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
                Triage::Skip(d) => assert!(d.why.starts_with("ignored"), "{}", d.why),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn memory_round_trips_through_tags() {
        let sig = signal(Direction::High, Some(93.5));
        let d = decide(&sig, &observed(2, 1, 5), &settings(), NOW);
        let tags = memory_tags(&sig, &d, NOW);
        assert_eq!(tags[0].1, "2026-09-21T14:13:20Z");
        for (_, v) in &tags {
            assert!(
                v.len() <= 256
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || " +-=._:/@".contains(c)),
                "{v}"
            );
        }
        assert!(
            tags[2]
                .1
                .starts_with("scale out 2 to 3: CPUUtilization 93.5 vs target 70"),
            "{}",
            tags[2].1
        );
        let last = last_scaling(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(
            last,
            Some(LastScaling {
                at: NOW,
                direction: Direction::High
            })
        );
        assert_eq!(last_scaling([(TAG_LAST_SCALED_AT, "garbage")]), None);
        assert_eq!(
            last_scaling([
                (TAG_LAST_SCALED_AT, "1790000000"),
                (TAG_LAST_DIRECTION, "in")
            ]),
            Some(LastScaling {
                at: NOW,
                direction: Direction::Low
            })
        );
        assert_eq!(tag_value(&"x(y)→z ".repeat(100)).len(), 256);
    }

    fn arb_direction() -> impl Strategy<Value = Direction> {
        prop_oneof![Just(Direction::High), Just(Direction::Low)]
    }

    prop_compose! {
        fn arb_case()(
            direction in arb_direction(),
            memory in any::<bool>(),
            value in proptest::option::of(prop_oneof![0.0f64..500.0, Just(f64::NAN), Just(1e300)]),
            threshold in proptest::option::of(0.0f64..100.0),
            desired in 0i32..40,
            min in 0i32..20,
            span in 0i32..20,
            deploying in any::<bool>(),
            high_active in any::<bool>(),
            last in proptest::option::of((0i64..1000, arb_direction())),
            suspended in (any::<bool>(), any::<bool>()),
            out_cd in 0i64..400,
            in_cd in 0i64..900,
        ) -> (Signal, Observed, Settings) {
            let mut s = settings();
            s.scale_out_cooldown_seconds = out_cd;
            s.scale_in_cooldown_seconds = in_cd;
            let mut sig = signal(direction, value);
            sig.threshold = threshold;
            if memory { sig.metric = Metric::Memory; }
            let mut o = observed(desired, min, min + span);
            {
                let v = o.service.as_mut().unwrap();
                v.deployment_in_progress = deploying;
                v.last = last.map(|(ago, d)| LastScaling { at: NOW - ago, direction: d });
            }
            o.bounds.as_mut().unwrap().scale_in_suspended = suspended.0;
            o.bounds.as_mut().unwrap().scale_out_suspended = suspended.1;
            if high_active { o.high_alarms_in_alarm = vec!["sky-high-booker-cpu-high".into()]; }
            (sig, o, s)
        }
    }

    proptest! {
        #[test]
        fn never_outside_bounds_and_always_the_right_way((sig, o, s) in arb_case()) {
            let d = decide(&sig, &o, &s, NOW);
            if let Action::Scale { from, to } = d.action {
                let b = o.bounds.unwrap();
                prop_assert!(b.min <= to && to <= b.max, "{} not in [{}, {}]", to, b.min, b.max);
                prop_assert_eq!(from, o.service.as_ref().unwrap().desired);
                match sig.direction {
                    Direction::High => prop_assert!(to > from),
                    Direction::Low => prop_assert!(to < from),
                }
            }
        }

        #[test]
        fn cooldowns_are_honoured((sig, o, s) in arb_case()) {
            let d = decide(&sig, &o, &s, NOW);
            if let (Action::Scale { .. }, Some(last)) = (d.action, o.service.as_ref().unwrap().last) {
                let since = NOW - last.at;
                match sig.direction {
                    Direction::High => prop_assert!(last.direction == Direction::Low || since >= s.scale_out_cooldown_seconds),
                    Direction::Low => prop_assert!(since >= s.scale_in_cooldown_seconds),
                }
            }
        }

        #[test]
        fn never_scales_in_during_a_deployment_or_a_high_alarm((sig, o, s) in arb_case()) {
            let d = decide(&sig, &o, &s, NOW);
            if let Action::Scale { from, to } = d.action {
                if to < from {
                    prop_assert!(!o.service.as_ref().unwrap().deployment_in_progress);
                    prop_assert!(o.high_alarms_in_alarm.is_empty());
                }
            }
        }

        #[test]
        fn reading_the_alarms_only_when_needed_changes_nothing((sig, o, s) in arb_case()) {
            let mut without = o.clone();
            without.high_alarms_in_alarm.clear();
            let first = decide(&sig, &without, &s, NOW);
            let two_step = if needs_high_alarms(&sig, &first) { decide(&sig, &o, &s, NOW) } else { first };
            prop_assert_eq!(two_step, decide(&sig, &o, &s, NOW));
        }

        #[test]
        fn same_input_same_output((sig, o, s) in arb_case()) {
            prop_assert_eq!(decide(&sig, &o, &s, NOW), decide(&sig.clone(), &o.clone(), &s.clone(), NOW));
        }

        #[test]
        fn scale_out_is_at_least_proportional((sig, o, s) in arb_case()) {
            let d = decide(&sig, &o, &s, NOW);
            if let (Action::Scale { from, to }, Direction::High, Some(v)) = (d.action, sig.direction, sig.value.filter(|v| v.is_finite() && *v >= 0.0)) {
                let b = o.bounds.unwrap();
                let want = (f64::from(from) * v / sig.metric.target(&s)).ceil();
                prop_assert!(f64::from(to) >= want.min(f64::from(b.max)));
            }
        }
    }
}
