//! The events that start a prune: the daily EventBridge schedule and the ECR push event.

use operator_common::events::{incoming, Incoming, RepositoryChange};
use serde_json::Value;

/// What an event asks of the pruner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The daily schedule ("Scheduled Event" from aws.events): always prunes.
    Schedule,
    /// A successful push to the managed repository. `time_millis` is the event's `time`
    /// (ms since the Unix epoch; EventBridge stamps it to the second), None when absent.
    Push {
        digest: String,
        tag: Option<String>,
        time_millis: Option<i64>,
    },
    /// A well-formed event that is not for this function's repository (or not a successful
    /// push): logged and ignored, no AWS call.
    Ignore(String),
    /// An event this function does not take, or a malformed one: logged once and answered
    /// without error, since a retry would fail the same way. No AWS call.
    Reject(String),
}

/// Reads the event, without any AWS call.
pub fn parse(event: &Value, repository: &str) -> Trigger {
    let e = match incoming(event) {
        Ok(Incoming::Schedule) => return Trigger::Schedule,
        Ok(Incoming::ImageAction(e)) => e,
        Err(why) => return Trigger::Reject(why),
    };
    match e.detail.change_in(repository) {
        Ok(RepositoryChange::Pushed { digest, tag }) => Trigger::Push {
            digest,
            tag,
            time_millis: e.time.map(|t| t.timestamp_millis()),
        },
        Ok(RepositoryChange::Deleted { .. }) => {
            Trigger::Ignore("an ECR DELETE, not a push".to_string())
        }
        Err(why) => Trigger::Ignore(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(name: &str) -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/image-pruner/");
        serde_json::from_str(&std::fs::read_to_string(format!("{path}{name}")).unwrap()).unwrap()
    }

    #[test]
    fn the_sample_events_are_accepted() {
        assert_eq!(
            parse(&sample("schedule.json"), "sky-high-booker"),
            Trigger::Schedule
        );
        match parse(&sample("push.json"), "sky-high-booker") {
            Trigger::Push {
                digest,
                tag,
                time_millis,
            } => {
                assert!(digest.starts_with("sha256:"));
                assert_eq!(tag.as_deref(), Some("latest"));
                // 2026-11-25T14:54:34Z
                assert_eq!(time_millis, Some(1_795_618_474_000));
            }
            other => panic!("{other:?}"),
        }
        let mut untimed = sample("push.json");
        untimed.as_object_mut().unwrap().remove("time");
        assert!(matches!(
            parse(&untimed, "sky-high-booker"),
            Trigger::Push {
                time_millis: None,
                ..
            }
        ));
    }

    #[test]
    fn every_sample_event_starts_a_prune() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/image-pruner");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            match parse(&sample(&name), "sky-high-booker") {
                Trigger::Schedule => {}
                // A multi-arch push sends one event per manifest; platform manifests are untagged.
                Trigger::Push { time_millis, .. } => assert!(time_millis.is_some(), "{name}"),
                other => panic!("{name}: {other:?}"),
            }
            seen += 1;
        }
        assert!(seen >= 3);
    }

    #[test]
    fn a_push_to_another_repository_or_a_delete_is_ignored() {
        let push = sample("push.json");
        assert!(matches!(parse(&push, "other"), Trigger::Ignore(m) if m.contains("other")));
        let mut delete = push.clone();
        delete["detail"]["action-type"] = "DELETE".into();
        assert!(matches!(
            parse(&delete, "sky-high-booker"),
            Trigger::Ignore(_)
        ));
        let mut failed = push;
        failed["detail"]["result"] = "FAILURE".into();
        assert!(matches!(
            parse(&failed, "sky-high-booker"),
            Trigger::Ignore(_)
        ));
    }

    #[test]
    fn anything_else_is_rejected() {
        for event in [
            json!({}),
            json!({"detail-type": "Scheduled Event", "source": "aws.ecs"}),
            json!({"RequestType": "Create", "ResourceType": "Custom::Repository"}),
            json!({"detail-type": "ECR Image Action", "source": "aws.ecr", "detail": {"result": "SUCCESS"}}),
            json!({"detail-type": "ECR Image Action", "source": "aws.ecr", "time": "yesterday",
                   "detail": {"result": "SUCCESS", "repository-name": "sky-high-booker",
                              "image-digest": "sha256:1", "action-type": "PUSH"}}),
            json!("a string"),
        ] {
            assert!(
                matches!(parse(&event, "sky-high-booker"), Trigger::Reject(_)),
                "{event}"
            );
        }
    }
}
