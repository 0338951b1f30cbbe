//! The pure decision: (what AWS has now, settings, now) → scale, finish the record, or nothing,
//! and why. No I/O, no clock: `now` and every time are seconds since the epoch.
//!
//! Every trigger (the minute schedule, an alarm's own action, an EventBridge alarm event) runs the
//! same reconcile: each of the service's alarms now in ALARM is treated as if it had just fired.

use crate::alarm::{AlarmChange, AlarmState, Direction};
use crate::record::{
    record_tags, Cause, LastScaling, Record, TAG_LAST_DIRECTION, TAG_LAST_SCALED_AT,
};
use crate::settings::Settings;
use serde::Serialize;

pub const CPU_METRIC: &str = "CPUUtilization";
pub const MEMORY_METRIC: &str = "MemoryUtilization";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Metric {
    Cpu,
    Memory,
}

impl Metric {
    pub const ALL: [Metric; 2] = [Metric::Cpu, Metric::Memory];

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

/// One of the service's alarms (AWS/ECS CPUUtilization or MemoryUtilization, dimensions
/// ClusterName and ServiceName of this service), as CloudWatch describes it now.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmView {
    pub name: String,
    pub metric: Metric,
    pub direction: Direction,
    pub in_alarm: bool,
    /// When its state last changed (StateTransitionedTimestamp).
    pub changed_at: i64,
    /// The highest datapoint of that change (`StateReasonData.recentDatapoints`).
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    /// Target tracking's own alarm (its action is an Application Auto Scaling policy): it tells
    /// the load, but target tracking acts on it, so this function does not.
    pub managed: bool,
    /// A person disabled its actions: it tells the load, nothing acts on it.
    pub actions_enabled: bool,
}

impl AlarmView {
    pub fn acts(&self) -> bool {
        self.in_alarm && !self.managed && self.actions_enabled
    }
}

/// Who last changed the desired count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangedBy {
    /// This function (its record).
    ThisFunction,
    /// A deployment of the service (its createdAt / updatedAt).
    Deployment,
    /// Application Auto Scaling (target tracking's scaling activities).
    TargetTracking,
}

/// A change of the desired count; `direction` None when it is not known (anyone but us).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub at: i64,
    pub direction: Option<Direction>,
    pub by: ChangedBy,
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
    /// The deployments' createdAt and updatedAt.
    pub deployment_times: Vec<i64>,
    pub record: Option<Record>,
    pub last: Option<LastScaling>,
    /// The last completed scale-out, which a later scale-in does not erase.
    pub last_scale_out: Option<i64>,
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
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    pub service: Option<ServiceView>,
    pub bounds: Option<Bounds>,
    pub alarms: Vec<AlarmView>,
    /// When Application Auto Scaling last changed the count (its newest scaling activity that
    /// did or does change it). Read only before a scaling: it can only refuse or shrink one.
    pub target_tracking_changed_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    None,
    /// Write the intent, set the count, finish the record.
    Scale {
        from: i32,
        to: i32,
        cause: Cause,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub action: Action,
    /// A pending record whose change happened (the count is its `to`), or that someone else
    /// overtook (the count is neither its `from` nor its `to`): it is marked done.
    pub finishes: Option<Record>,
    pub why: String,
}

/// One write to AWS, in the order they must happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// TagResource on the service.
    Tags(Vec<(String, String)>),
    /// UpdateService desiredCount.
    Desired(i32),
}

/// Whether an alarm event concerns this service, before anything is read from AWS.
#[derive(Debug, Clone, PartialEq)]
pub enum Triage {
    /// Not this service's alarm, or not a change to ALARM: nothing to read, nothing to do.
    Skip(String),
    /// This service's CPU or memory alarm went to ALARM: reconcile.
    Reconcile,
}

/// An alarm event is a hint: a change to ALARM of one of the service's alarms starts the same
/// reconcile as the schedule; a change to OK or INSUFFICIENT_DATA makes nothing due that the
/// next minute would not do, so it costs no AWS call.
pub fn triage(change: &AlarmChange, settings: &Settings) -> Triage {
    let Some(m) = &change.metric else {
        return Triage::Skip(format!(
            "ignored: alarm {} does not watch a single metric",
            change.alarm_name
        ));
    };
    let dim = |k: &str| m.dimensions.get(k).map(String::as_str);
    let ours = m.namespace.as_deref() == Some("AWS/ECS")
        && Metric::from_name(&m.name).is_some()
        && dim("ClusterName") == Some(settings.cluster.as_str())
        && dim("ServiceName") == Some(settings.service.as_str());
    if !ours {
        return Triage::Skip(format!(
            "ignored: alarm {} watches {}/{} of ClusterName={} ServiceName={}, not CPUUtilization or MemoryUtilization of service {}/{}",
            change.alarm_name,
            m.namespace.as_deref().unwrap_or("?"),
            m.name,
            dim("ClusterName").unwrap_or("?"),
            dim("ServiceName").unwrap_or("?"),
            settings.cluster,
            settings.service
        ));
    }
    if change.state != AlarmState::Alarm {
        return Triage::Skip(format!(
            "alarm went to {}: no action",
            change.state.as_str()
        ));
    }
    Triage::Reconcile
}

fn fmt_value(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

fn none(why: impl Into<String>) -> Decision {
    Decision {
        action: Action::None,
        finishes: None,
        why: why.into(),
    }
}

fn describe(c: &Change, now: i64) -> String {
    let by = match c.by {
        ChangedBy::ThisFunction => "this function",
        ChangedBy::Deployment => "a deployment",
        ChangedBy::TargetTracking => "target tracking",
    };
    format!(
        "last change by {by} {} s ago",
        now.saturating_sub(c.at).max(0)
    )
}

/// Every change of the desired count the decision knows of, and the record to finish, if any.
fn changes(service: &ServiceView, target_tracking: Option<i64>) -> (Vec<Change>, Option<Record>) {
    let mut all = Vec::new();
    if let Some(last) = service.last {
        all.push(Change {
            at: last.at,
            direction: Some(last.direction),
            by: ChangedBy::ThisFunction,
        });
    }
    if let Some(at) = service.last_scale_out {
        all.push(Change {
            at,
            direction: Some(Direction::High),
            by: ChangedBy::ThisFunction,
        });
    }
    let mut finish = None;
    if let Some(r) = service.record.as_ref().filter(|r| r.pending) {
        // Equal to `from`: the change did not happen (it is decided again, not replayed).
        // Equal to `to`: it happened, only the record is left to finish. Anything else:
        // someone moved the count since; it may have happened, so its time counts.
        if service.desired != r.from {
            all.push(Change {
                at: r.at,
                direction: Some(r.direction()),
                by: ChangedBy::ThisFunction,
            });
            finish = Some(r.clone());
        }
    }
    all.extend(service.deployment_times.iter().map(|&at| Change {
        at,
        direction: None,
        by: ChangedBy::Deployment,
    }));
    all.extend(target_tracking.map(|at| Change {
        at,
        direction: None,
        by: ChangedBy::TargetTracking,
    }));
    (all, finish)
}

/// The decision. Scale-out: for each acting high alarm in ALARM whose datapoints are newer than
/// the last change, `ceil(current × value / target)`, else one step; at least +1; the largest.
/// Scale-in: one task. Both clamped to the scalable target's [min, max].
pub fn decide(observed: &Observed, settings: &Settings, now: i64) -> Decision {
    let Some(service) = observed.service.as_ref().filter(|s| s.status == "ACTIVE") else {
        return none(format!(
            "service {}/{} not found or not ACTIVE",
            settings.cluster, settings.service
        ));
    };
    let (changes, finishes) = changes(service, observed.target_tracking_changed_at);
    let decision = decide_scaling(service, &changes, observed, settings, now);
    match finishes {
        Some(record) => Decision {
            why: format!(
                "the count is {}: the recorded change {} to {} is finished; {}",
                service.desired, record.from, record.to, decision.why
            ),
            finishes: Some(record),
            ..decision
        },
        None => decision,
    }
}

fn decide_scaling(
    service: &ServiceView,
    changes: &[Change],
    observed: &Observed,
    settings: &Settings,
    now: i64,
) -> Decision {
    let Some(bounds) = observed.bounds else {
        return none(format!(
            "no scalable target for {}: bounds unknown, not scaling",
            settings.scaling_resource_id()
        ));
    };
    if bounds.min > bounds.max {
        return none(format!(
            "scalable target bounds min {} > max {}: not scaling",
            bounds.min, bounds.max
        ));
    }
    let current = service.desired;
    let since = |c: &Change| now.saturating_sub(c.at);
    let latest = |keep: &dyn Fn(&Change) -> bool| {
        changes
            .iter()
            .filter(|c| keep(c))
            .max_by_key(|c| (c.at, c.by == ChangedBy::ThisFunction))
            .copied()
    };
    let mut acting: Vec<&AlarmView> = observed.alarms.iter().filter(|a| a.acts()).collect();
    acting.sort_by(|a, b| (a.changed_at, &a.name).cmp(&(b.changed_at, &b.name)));
    let high: Vec<&AlarmView> = acting
        .iter()
        .copied()
        .filter(|a| a.direction == Direction::High)
        .collect();
    let low: Vec<&AlarmView> = acting
        .iter()
        .copied()
        .filter(|a| a.direction == Direction::Low)
        .collect();

    if !high.is_empty() {
        let names = high.iter().map(|a| a.name.as_str()).collect::<Vec<_>>();
        if bounds.scale_out_suspended {
            return none("dynamic scale-out is suspended on the scalable target");
        }
        if current >= bounds.max {
            return none(format!(
                "already at max: desired {current}, max {} ({} in ALARM)",
                bounds.max,
                names.join(" ")
            ));
        }
        // A scale-in does not hold a scale-out back; a change of unknown direction does.
        if let Some(c) = latest(&|c| {
            c.direction != Some(Direction::Low) && since(c) < settings.scale_out_cooldown_seconds
        }) {
            return none(format!(
                "scale-out cooldown: {}, cooldown {} s ({} in ALARM)",
                describe(&c, now),
                settings.scale_out_cooldown_seconds,
                names.join(" ")
            ));
        }
        let last_change = latest(&|_| true).map(|c| c.at);
        let step = current.saturating_add(1);
        let (to, alarm, basis) = high
            .iter()
            .map(|a| {
                let fresh = last_change.is_none_or(|t| a.changed_at > t);
                let seen = a
                    .value
                    .or(a.threshold)
                    .filter(|v| fresh && v.is_finite() && *v >= 0.0);
                let target = a.metric.target(settings);
                let (to, basis) = match seen {
                    // Saturating cast: an absurd datapoint cannot overflow, the clamp holds.
                    Some(v) => (
                        ((f64::from(current) * v / target).ceil() as i32).max(step),
                        format!(
                            "{} {} vs target {}: ceil {current} x {} / {}",
                            a.metric.name(),
                            fmt_value(v),
                            fmt_value(target),
                            fmt_value(v),
                            fmt_value(target)
                        ),
                    ),
                    None if fresh => (step, format!("{} value unknown: one step", a.metric.name())),
                    None => (
                        step,
                        format!(
                            "{} still in ALARM since before the last change: one step",
                            a.metric.name()
                        ),
                    ),
                };
                (to, *a, basis)
            })
            .max_by(|x, y| x.0.cmp(&y.0).then_with(|| y.1.name.cmp(&x.1.name)))
            .expect("at least one high alarm");
        let to = to.clamp(bounds.min, bounds.max);
        let why = format!(
            "scale out {current} to {to} for {}: {basis}, at least +1, within min {} max {}",
            alarm.name, bounds.min, bounds.max
        );
        return scale(current, to, alarm, why);
    }

    let Some(alarm) = low.first() else {
        return none("no alarm of the service is in ALARM");
    };
    // Every high alarm counts here, target tracking's and disabled ones included.
    let mut busy: Vec<&str> = observed
        .alarms
        .iter()
        .filter(|a| a.in_alarm && a.direction == Direction::High)
        .map(|a| a.name.as_str())
        .collect();
    busy.sort();
    if !busy.is_empty() {
        return none(format!(
            "no scale-in while a high alarm is in ALARM: {}",
            busy.join(" ")
        ));
    }
    if bounds.scale_in_suspended {
        return none("dynamic scale-in is suspended on the scalable target");
    }
    if service.deployment_in_progress {
        return none(format!(
            "no scale-in during a deployment: desired {current}, running {}",
            service.running
        ));
    }
    if current <= bounds.min {
        return none(format!(
            "already at min: desired {current}, min {}",
            bounds.min
        ));
    }
    if let Some(c) = latest(&|c| since(c) < settings.scale_in_cooldown_seconds) {
        return none(format!(
            "scale-in cooldown: {}, cooldown {} s",
            describe(&c, now),
            settings.scale_in_cooldown_seconds
        ));
    }
    let to = (current - 1).clamp(bounds.min, bounds.max);
    let why = format!(
        "scale in {current} to {to} for {}: {} below its low threshold, one step, within min {} max {}",
        alarm.name,
        alarm.metric.name(),
        bounds.min,
        bounds.max
    );
    scale(current, to, alarm, why)
}

/// The change of the count from `current` to `to`, caused by `alarm`'s last state change.
fn scale(current: i32, to: i32, alarm: &AlarmView, why: String) -> Decision {
    Decision {
        action: Action::Scale {
            from: current,
            to,
            cause: Cause {
                alarm: alarm.name.clone(),
                changed_at: alarm.changed_at,
            },
        },
        finishes: None,
        why,
    }
}

/// Whether target tracking's activities must be read: only before a scaling (they can only
/// refuse it or shrink it to one step), so that refusals cost no extra call.
pub fn needs_target_tracking(first: &Decision) -> bool {
    matches!(first.action, Action::Scale { .. })
}

/// The writes that carry the decision out, in order: the intent is recorded BEFORE the count
/// changes, and finished after, so that a retry after any failure in between can tell from the
/// count whether the change happened. A record being finished goes into the first write.
pub fn writes(decision: &Decision, now: i64) -> Vec<Write> {
    let finished = decision.finishes.as_ref().map(|r| {
        record_tags(
            &Record {
                pending: false,
                ..r.clone()
            },
            "",
        )
    });
    match (&decision.action, finished) {
        (Action::None, None) => vec![],
        (Action::None, Some(tags)) => vec![Write::Tags(tags)],
        (Action::Scale { from, to, cause }, finished) => {
            let intent = Record {
                from: *from,
                to: *to,
                at: now,
                pending: true,
                cause: Some(cause.clone()),
            };
            let done = Record {
                pending: false,
                ..intent.clone()
            };
            // The finished record's last-scaled-at / last-direction, then the new intent.
            let mut first: Vec<(String, String)> = finished
                .unwrap_or_default()
                .into_iter()
                .filter(|(k, _)| k == TAG_LAST_SCALED_AT || k == TAG_LAST_DIRECTION)
                .collect();
            first.extend(record_tags(&intent, &decision.why));
            vec![
                Write::Tags(first),
                Write::Desired(*to),
                Write::Tags(record_tags(&done, "")),
            ]
        }
    }
}

#[cfg(test)]
mod tests;
