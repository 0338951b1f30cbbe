//! What invoked the function: the one-minute EventBridge schedule, or an alarm state change
//! (the alarm's own Lambda action, or EventBridge "CloudWatch Alarm State Change"). Anything
//! else is rejected: logged once and answered without an error, since a retry cannot fix it.

use crate::alarm::{self, AlarmChange, PayloadForm};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// EventBridge `Scheduled Event` from `aws.events`.
    Schedule,
    Alarm(AlarmChange),
}

/// How the invocation arrived, for the outcome and the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TriggerKind {
    Schedule,
    AlarmAction,
    EventBridge,
    /// The event could not be read.
    Unknown,
}

impl Trigger {
    pub fn kind(&self) -> TriggerKind {
        match self {
            Trigger::Schedule => TriggerKind::Schedule,
            Trigger::Alarm(c) => match c.form {
                PayloadForm::AlarmAction => TriggerKind::AlarmAction,
                PayloadForm::EventBridge => TriggerKind::EventBridge,
            },
        }
    }
}

/// Why an event was rejected, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected(pub String);

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed event: {}", self.0)
    }
}

pub fn parse(event: &Value) -> Result<Trigger, Rejected> {
    let detail_type = event.get("detail-type").and_then(Value::as_str);
    if detail_type == Some("Scheduled Event") {
        return match event.get("source").and_then(Value::as_str) {
            Some("aws.events") => Ok(Trigger::Schedule),
            other => Err(Rejected(format!(
                "Scheduled Event from source {other:?}, expected \"aws.events\""
            ))),
        };
    }
    alarm::parse(event)
        .map(Trigger::Alarm)
        .map_err(|e| Rejected(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event_file(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/autoscaler")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    #[test]
    fn the_sample_schedule_and_alarms_are_triggers() {
        assert_eq!(parse(&event_file("schedule.json")), Ok(Trigger::Schedule));
        assert_eq!(
            parse(&event_file("cpu-high-alarm.json")).unwrap().kind(),
            TriggerKind::AlarmAction
        );
        assert_eq!(
            parse(&event_file("cpu-low-alarm-eventbridge.json"))
                .unwrap()
                .kind(),
            TriggerKind::EventBridge
        );
    }

    #[test]
    fn anything_else_is_rejected_with_a_reason() {
        let mut foreign = event_file("schedule.json");
        foreign["source"] = json!("my.app");
        let mut other = event_file("cpu-high-alarm-eventbridge.json");
        other["detail-type"] = json!("ECR Image Action");
        for (event, expect) in [
            (foreign, "my.app"),
            (other, "ECR Image Action"),
            (json!([1]), "not a JSON object"),
            (json!({"hello": "world"}), "neither"),
        ] {
            let e = parse(&event).unwrap_err();
            assert!(
                e.to_string().contains(expect),
                "{e} should mention {expect}"
            );
            assert!(e.to_string().starts_with("malformed event"), "{e}");
        }
    }
}
