//! The `autoscaler` function: a CloudWatch CPU or memory alarm of the service changes state →
//! scale the service within its scalable target's bounds.
//!
//! read ([`alarm::parse`], [`aws::read`]) → decide ([`decide::triage`], [`decide::decide`], pure)
//! → act ([`aws::act`]). One structured log line per decision.

pub mod alarm;
pub mod aws;
pub mod decide;
pub mod error;
pub mod settings;

pub use aws::Clients;
/// Re-exported so that tests and the local harness can set alarms up with the same SDK.
pub use aws_sdk_cloudwatch;

use alarm::{AlarmChange, Direction};
use decide::{Action, Decision, Signal, Triage};
use error::Result;
use serde::Serialize;
use settings::Settings;

/// What one invocation decided (the response, and what the log line says).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub alarm: String,
    pub metric: String,
    pub state: &'static str,
    pub direction: Option<Direction>,
    pub form: alarm::PayloadForm,
    pub from: Option<i32>,
    pub to: Option<i32>,
    /// Whether the desired count was changed (false in dry-run).
    pub scaled: bool,
    pub why: String,
}

fn outcome(
    change: &AlarmChange,
    direction: Option<Direction>,
    decision: &Decision,
    scaled: bool,
) -> Outcome {
    let (from, to) = match decision.action {
        Action::Scale { from, to } => (Some(from), Some(to)),
        Action::None => (None, None),
    };
    Outcome {
        alarm: change.alarm_name.clone(),
        metric: change
            .metric
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default(),
        state: change.state.as_str(),
        direction,
        form: change.form,
        from,
        to,
        scaled,
        why: decision.why.clone(),
    }
}

fn log(o: &Outcome) {
    tracing::info!(
        alarm = %o.alarm,
        metric = %o.metric,
        state = o.state,
        from = o.from,
        to = o.to,
        scaled = o.scaled,
        why = %o.why,
        "decision"
    );
}

/// Handles one event. A malformed event is an error before any AWS call; an alarm that is not
/// this service's, or a change to OK / INSUFFICIENT_DATA, is logged and costs no AWS call.
pub async fn handle(
    event: &serde_json::Value,
    clients: &Clients,
    settings: &Settings,
    now: i64,
) -> Result<Outcome> {
    let change = alarm::parse(event)?;
    let (metric, direction) = match decide::triage(&change, settings) {
        Triage::Skip(decision) => {
            let o = outcome(&change, change.comparison, &decision, false);
            log(&o);
            return Ok(o);
        }
        Triage::Ours { metric, direction } => (metric, direction),
    };
    let direction = match direction {
        Some(d) => d,
        None => match aws::alarm_direction(clients, &change.alarm_name).await? {
            Some(d) => d,
            None => {
                let decision = Decision {
                    action: Action::None,
                    why: format!(
                        "ignored: alarm {} has no GreaterThan/LessThan threshold (or is not found)",
                        change.alarm_name
                    ),
                };
                let o = outcome(&change, None, &decision, false);
                log(&o);
                return Ok(o);
            }
        },
    };
    let signal = Signal {
        alarm: change.alarm_name.clone(),
        metric,
        direction,
        value: change.value,
        threshold: change.threshold,
    };
    let mut observed = aws::read(clients, settings).await?;
    let mut decision = decide::decide(&signal, &observed, settings, now);
    // A scale-in that nothing else refuses must first know that no high alarm is in ALARM:
    // only then is CloudWatch asked (the decision is pure, so it is simply made again).
    if decide::needs_high_alarms(&signal, &decision) {
        observed.high_alarms_in_alarm = aws::high_alarms_in_alarm(clients, settings).await?;
        decision = decide::decide(&signal, &observed, settings, now);
    }
    let scaled = match (decision.action, &observed.service) {
        (Action::Scale { to, .. }, Some(service)) if !settings.dry_run => {
            let tags = decide::memory_tags(&signal, &decision, now);
            aws::act(clients, settings, &service.arn, to, &tags).await?;
            true
        }
        _ => false,
    };
    let o = outcome(&change, Some(direction), &decision, scaled);
    log(&o);
    Ok(o)
}
