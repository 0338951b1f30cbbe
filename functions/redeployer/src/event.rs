//! The events that start a reconcile: ECR image actions on the repository, and the schedule.
//! An event is only a hint that the tracked tag may have moved: which digest it names does not
//! matter, what the tag points to when the function runs does (read in `aws`).

use operator_common::events::{incoming, Incoming, RepositoryChange};
use serde_json::Value;

/// What an event asks of the redeployer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Reconcile: make the service run what the tracked tag points to now.
    Reconcile(Hint),
    /// A well-formed event that cannot have moved the tracked tag (another repository, a
    /// failed action, a delete of another tag): logged, no AWS call.
    Ignore(String),
}

/// Which event asked for the reconcile (for the log line; it never decides anything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// "Scheduled Event" from aws.events: heals lost events.
    Schedule,
    /// A push of any tag to the repository (the tracked tag may have been pushed with it).
    Push { digest: String, tag: String },
    /// A delete of the tracked tag (a reconcile then says the tag is gone, and changes nothing).
    Delete { digest: String, tag: String },
}

impl Hint {
    pub fn name(&self) -> &'static str {
        match self {
            Hint::Schedule => "schedule",
            Hint::Push { .. } => "push",
            Hint::Delete { .. } => "delete",
        }
    }

    pub fn digest(&self) -> Option<&str> {
        match self {
            Hint::Schedule => None,
            Hint::Push { digest, .. } | Hint::Delete { digest, .. } => Some(digest),
        }
    }
}

/// Reads the event. `Err` is a rejection: not an event this function takes (wrong source or
/// shape). It is decided before any AWS call and is not retried: a malformed event stays
/// malformed.
pub fn parse(event: &Value, repository: &str, tag: &str) -> Result<Trigger, String> {
    let e = match incoming(event)? {
        Incoming::Schedule => return Ok(Trigger::Reconcile(Hint::Schedule)),
        Incoming::ImageAction(e) => e,
    };
    Ok(match e.detail.change_in(repository) {
        Ok(RepositoryChange::Pushed {
            digest,
            tag: Some(pushed),
        }) => Trigger::Reconcile(Hint::Push {
            digest,
            tag: pushed,
        }),
        Ok(RepositoryChange::Pushed { tag: None, .. }) => {
            Trigger::Ignore("an untagged push moves no tag".to_string())
        }
        Ok(RepositoryChange::Deleted {
            digest,
            tag: Some(deleted),
        }) if deleted == tag => Trigger::Reconcile(Hint::Delete {
            digest,
            tag: deleted,
        }),
        Ok(RepositoryChange::Deleted {
            tag: Some(other), ..
        }) => Trigger::Ignore(format!(
            "a delete of tag {other}, not of the tracked tag {tag}"
        )),
        // The image pruner's deletes, among others: a delete never deploys anything
        // (a tag it took away leaves nothing to deploy; the schedule says so).
        Ok(RepositoryChange::Deleted { tag: None, .. }) => {
            Trigger::Ignore("a delete by digest deploys nothing".to_string())
        }
        Err(why) => Trigger::Ignore(why),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_sample_event_is_read_and_pushes_and_the_schedule_reconcile() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/redeployer");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let event: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let trigger = parse(&event, "sky-high-booker", "latest")
                .unwrap_or_else(|e| panic!("{}: rejected: {e}", path.display()));
            let name = path.file_name().unwrap().to_str().unwrap();
            if matches!(name, "push.json" | "schedule.json") {
                assert!(
                    matches!(trigger, Trigger::Reconcile(_)),
                    "{name}: {trigger:?}"
                );
            }
            seen += 1;
        }
        assert!(seen >= 5, "{seen} samples");
    }

    fn ecr(action: &str, repository: &str, tag: Option<&str>) -> Value {
        let mut detail = json!({"result": "SUCCESS", "repository-name": repository,
                                "image-digest": "sha256:a", "action-type": action});
        if let Some(tag) = tag {
            detail["image-tag"] = json!(tag);
        }
        json!({"version": "0", "id": "1", "detail-type": "ECR Image Action", "source": "aws.ecr",
               "account": "1", "time": "2026-11-25T00:00:00Z", "region": "us-east-1",
               "resources": [], "detail": detail})
    }

    fn parse_it(event: &Value) -> Result<Trigger, String> {
        parse(event, "sky", "latest")
    }

    #[test]
    fn pushes_of_any_tag_and_deletes_of_the_tracked_tag_reconcile() {
        for (event, hint) in [
            (
                ecr("PUSH", "sky", Some("latest")),
                Hint::Push {
                    digest: "sha256:a".into(),
                    tag: "latest".into(),
                },
            ),
            (
                ecr("PUSH", "sky", Some("v7")),
                Hint::Push {
                    digest: "sha256:a".into(),
                    tag: "v7".into(),
                },
            ),
            (
                ecr("DELETE", "sky", Some("latest")),
                Hint::Delete {
                    digest: "sha256:a".into(),
                    tag: "latest".into(),
                },
            ),
        ] {
            assert_eq!(parse_it(&event), Ok(Trigger::Reconcile(hint)), "{event}");
        }
    }

    #[test]
    fn the_schedule_reconciles() {
        let event: Value =
            serde_json::from_str(include_str!("../../../events/redeployer/schedule.json")).unwrap();
        assert_eq!(parse_it(&event), Ok(Trigger::Reconcile(Hint::Schedule)));
    }

    #[test]
    fn the_sample_events_parse_as_their_names_say() {
        let sample = |name: &str| -> Value {
            let path = format!(
                "{}/../../events/redeployer/{name}",
                env!("CARGO_MANIFEST_DIR")
            );
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        let take = |name| parse(&sample(name), "sky-high-booker", "latest");
        assert!(matches!(
            take("push.json"),
            Ok(Trigger::Reconcile(Hint::Push { .. }))
        ));
        assert!(matches!(
            take("push-other-tag.json"),
            Ok(Trigger::Reconcile(Hint::Push { .. }))
        ));
        assert!(matches!(
            take("delete.json"),
            Ok(Trigger::Reconcile(Hint::Delete { .. }))
        ));
        assert!(matches!(
            take("storage-class-change.json"),
            Ok(Trigger::Ignore(_))
        ));
    }

    #[test]
    fn what_cannot_move_the_tag_is_ignored() {
        for event in [
            ecr("PUSH", "other", Some("latest")),
            ecr("PUSH", "sky", None),
            ecr("DELETE", "sky", Some("v7")),
            ecr("DELETE", "sky", None),
            ecr("REPLICATE", "sky", Some("latest")),
        ] {
            assert!(
                matches!(parse_it(&event), Ok(Trigger::Ignore(_))),
                "{event}"
            );
        }
        let mut failed = ecr("PUSH", "sky", Some("latest"));
        failed["detail"]["result"] = json!("FAILURE");
        assert!(matches!(parse_it(&failed), Ok(Trigger::Ignore(why)) if why.contains("FAILURE")));
    }

    #[test]
    fn other_shapes_and_sources_are_rejected() {
        let mut no_digest = ecr("PUSH", "sky", Some("latest"));
        no_digest["detail"]
            .as_object_mut()
            .unwrap()
            .remove("image-digest");
        for event in [
            no_digest,
            json!({"hello": "world"}),
            json!("a string"),
            json!({"detail-type": "Scheduled Event", "source": "aws.ecr"}),
            json!({"detail-type": "ECR Image Action", "source": "my.app", "detail": {}}),
            json!({"source": "aws.cloudwatch", "alarmData": {}}),
        ] {
            assert!(parse_it(&event).is_err(), "{event}");
        }
    }
}
