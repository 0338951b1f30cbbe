//! The `autoscaler` function: keeps the service's desired count where its CPU and memory alarms
//! want it, within the scalable target's bounds. A reconciler: the one-minute schedule and every
//! alarm state change run the same reconcile, which reads the truth (the service and its record,
//! the bounds, the alarms in ALARM, target tracking's last change), decides, and acts.
//!
//! read ([`trigger::parse`], [`aws::read`]) → decide ([`decide::decide`], pure) → act
//! ([`decide::writes`], [`aws::act`]). One structured log line per invocation.

pub mod alarm;
pub mod aws;
pub mod decide;
pub mod error;
pub mod record;
pub mod settings;
pub mod trigger;

pub use aws::Clients;
/// Re-exported so that tests and the local harness can build CloudWatch answers with the same SDK.
pub use aws_sdk_cloudwatch;

use decide::{Action, Decision, Triage};
use error::Result;
use serde::Serialize;
use settings::Settings;
use trigger::{Trigger, TriggerKind};

/// What an invocation came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeKind {
    /// The desired count was changed (and recorded).
    Scaled,
    /// A scaling was decided and only logged (DRY_RUN).
    DryRun,
    /// Only an unfinished record was finished: its change had happened.
    Finished,
    /// Reconciled: nothing to change.
    Unchanged,
    /// An alarm event that does not concern the service, or a change to OK: no AWS call.
    Skipped,
    /// A malformed event: logged, not retried, no AWS call.
    Rejected,
}

/// What one invocation decided (the response, and what the log line says).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub outcome: OutcomeKind,
    pub trigger: TriggerKind,
    /// The alarm the event named, if it was an alarm event.
    pub hint: Option<String>,
    /// The alarm whose change caused the scaling.
    pub alarm: Option<String>,
    pub from: Option<i32>,
    pub to: Option<i32>,
    pub why: String,
}

impl Outcome {
    /// The operator's metric this outcome counts (operator-common's metrics.rs): a scaling,
    /// a refusal (`asked`: an alarm of the service in ALARM wanted a scaling, and none was
    /// made: cooldown, bounds, a deployment in progress), or a rejected event.
    pub fn metric(&self, asked: bool) -> Option<operator_common::metrics::Metric> {
        use operator_common::metrics::Metric;
        match (self.outcome, self.from, self.to) {
            (OutcomeKind::Scaled, Some(from), Some(to)) if to > from => Some(Metric::ScaleOuts),
            (OutcomeKind::Scaled, Some(from), Some(to)) if to < from => Some(Metric::ScaleIns),
            (OutcomeKind::Unchanged, _, _) if asked => Some(Metric::Refusals),
            (OutcomeKind::Rejected, _, _) => Some(Metric::RejectedEvents),
            _ => None,
        }
    }

    fn record_metric(&self, asked: bool) {
        if let Some(metric) = self.metric(asked) {
            operator_common::metrics::record(metric, 1);
        }
    }

    fn log(&self) {
        tracing::info!(
            outcome = ?self.outcome,
            trigger = ?self.trigger,
            hint = self.hint.as_deref(),
            alarm = self.alarm.as_deref(),
            from = self.from,
            to = self.to,
            why = %self.why,
            "decision"
        );
    }
}

/// What to do with an event, decided from the event alone (no AWS call).
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    Reconcile(Trigger),
    /// Answered at once: rejected or skipped.
    Done(Outcome),
}

pub fn admit(event: &serde_json::Value, settings: &Settings) -> Admission {
    let trigger = match trigger::parse(event) {
        Ok(t) => t,
        Err(rejected) => {
            // Once, clearly: a retry cannot fix it, so it is not an error for Lambda to retry.
            tracing::warn!(reason = %rejected, "rejected event");
            let o = Outcome {
                outcome: OutcomeKind::Rejected,
                trigger: TriggerKind::Unknown,
                hint: None,
                alarm: None,
                from: None,
                to: None,
                why: rejected.to_string(),
            };
            o.record_metric(false);
            return Admission::Done(o);
        }
    };
    if let Trigger::Alarm(change) = &trigger {
        if let Triage::Skip(why) = decide::triage(change, settings) {
            let o = Outcome {
                outcome: OutcomeKind::Skipped,
                trigger: trigger.kind(),
                hint: Some(change.alarm_name.clone()),
                alarm: None,
                from: None,
                to: None,
                why,
            };
            o.log();
            return Admission::Done(o);
        }
    }
    Admission::Reconcile(trigger)
}

fn outcome(trigger: &Trigger, decision: &Decision, kind: OutcomeKind) -> Outcome {
    let (alarm, from, to) = match &decision.action {
        Action::Scale { from, to, cause } => (Some(cause.alarm.clone()), Some(*from), Some(*to)),
        Action::None => (None, None, None),
    };
    Outcome {
        outcome: kind,
        trigger: trigger.kind(),
        hint: match trigger {
            Trigger::Alarm(c) => Some(c.alarm_name.clone()),
            Trigger::Schedule => None,
        },
        alarm,
        from,
        to,
        why: decision.why.clone(),
    }
}

/// The reconcile: read, decide, act. Target tracking's activities are read only when the first
/// decision scales (they can only refuse or shrink a scaling), then the pure decision is made again.
pub async fn reconcile(
    trigger: &Trigger,
    clients: &Clients,
    settings: &Settings,
    now: i64,
) -> Result<Outcome> {
    let mut observed = aws::read(clients, settings).await?;
    let mut decision = decide::decide(&observed, settings, now);
    if decide::needs_target_tracking(&decision) {
        observed.target_tracking_changed_at = aws::read_target_tracking(clients, settings).await?;
        decision = decide::decide(&observed, settings, now);
    }
    let kind = match (&decision.action, &decision.finishes) {
        (Action::Scale { .. }, _) if settings.dry_run => OutcomeKind::DryRun,
        (Action::Scale { .. }, _) => OutcomeKind::Scaled,
        (Action::None, Some(_)) if !settings.dry_run => OutcomeKind::Finished,
        (Action::None, _) => OutcomeKind::Unchanged,
    };
    let o = outcome(trigger, &decision, kind);
    o.log();
    if !settings.dry_run {
        let writes = decide::writes(&decision, now);
        if let (false, Some(service)) = (writes.is_empty(), &observed.service) {
            aws::act(clients, settings, &service.arn, &writes).await?;
        }
    }
    o.record_metric(observed.alarms.iter().any(|a| a.acts()));
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use operator_common::metrics::Metric;

    fn outcome(outcome: OutcomeKind, trigger: TriggerKind, from_to: Option<(i32, i32)>) -> Outcome {
        Outcome {
            outcome,
            trigger,
            hint: None,
            alarm: None,
            from: from_to.map(|(f, _)| f),
            to: from_to.map(|(_, t)| t),
            why: String::new(),
        }
    }

    #[test]
    fn each_outcome_counts_as_its_decision() {
        use OutcomeKind::*;
        use TriggerKind::*;
        // (outcome, trigger, from → to, an alarm in ALARM asked for a scaling, the metric)
        let cases = [
            (
                Scaled,
                Schedule,
                Some((2, 3)),
                true,
                Some(Metric::ScaleOuts),
            ),
            (
                Scaled,
                AlarmAction,
                Some((3, 2)),
                true,
                Some(Metric::ScaleIns),
            ),
            (Unchanged, AlarmAction, None, true, Some(Metric::Refusals)),
            (Unchanged, Schedule, None, true, Some(Metric::Refusals)),
            // Nothing asked, nothing refused (an alarm back to OK by the time it was read).
            (Unchanged, EventBridge, None, false, None),
            (Unchanged, Schedule, None, false, None),
            (Rejected, Unknown, None, false, Some(Metric::RejectedEvents)),
            (Skipped, AlarmAction, None, false, None),
            (DryRun, AlarmAction, Some((2, 3)), true, None),
            (Finished, Schedule, None, true, None),
        ];
        for (kind, trigger, from_to, asked, want) in cases {
            assert_eq!(
                outcome(kind, trigger, from_to).metric(asked),
                want,
                "{kind:?} {trigger:?} {from_to:?} {asked}"
            );
        }
    }
}
