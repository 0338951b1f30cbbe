//! The EventBridge events the redeployer and the image pruner take, read once for both: the
//! schedule, and ECR image actions (with what each changed in a repository).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `detail` of an EventBridge "ECR Image Action" event (push, delete). Storage-class change
/// events carry no `image-tag`; delivery is best effort (late, duplicated, out of order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EcrImageAction {
    /// SUCCESS or FAILURE.
    pub result: String,
    pub repository_name: String,
    pub image_digest: String,
    /// PUSH or DELETE.
    pub action_type: String,
    #[serde(default)]
    pub image_tag: Option<String>,
}

pub type EcrImageEvent = EventBridgeEvent<EcrImageAction>;

/// An event the event-driven functions take.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// "Scheduled Event" from aws.events.
    Schedule,
    /// "ECR Image Action" from aws.ecr.
    ImageAction(Box<EcrImageEvent>),
}

/// Reads an event. `Err` says why it is not one of [`Incoming`] (another source, or a
/// malformed ECR event): a retry would fail the same way.
pub fn incoming(event: &Value) -> Result<Incoming, String> {
    let field = |name| event.get(name).and_then(Value::as_str);
    match (field("detail-type"), field("source")) {
        (Some("Scheduled Event"), Some("aws.events")) => Ok(Incoming::Schedule),
        // serde's derive also reads a struct from an array of its fields in order: a `detail`
        // that is not an object is malformed, whatever it holds.
        (Some("ECR Image Action"), Some("aws.ecr")) if !event["detail"].is_object() => {
            Err("malformed ECR Image Action event: detail is not an object".to_string())
        }
        (Some("ECR Image Action"), Some("aws.ecr")) => serde_json::from_value(event.clone())
            .map(|e| Incoming::ImageAction(Box::new(e)))
            .map_err(|e| format!("malformed ECR Image Action event: {e}")),
        (detail_type, source) => Err(format!(
            "detail-type {detail_type:?} from source {source:?}: this function takes the \
             EventBridge \"Scheduled Event\" (aws.events) and \"ECR Image Action\" (aws.ecr) events"
        )),
    }
}

/// What a successful ECR image action changed in a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepositoryChange {
    /// Image `digest` was pushed, under `tag` when the push named one.
    Pushed { digest: String, tag: Option<String> },
    /// Image `digest` lost `tag`, or (`None`) was deleted by digest.
    Deleted { digest: String, tag: Option<String> },
}

impl EcrImageAction {
    /// What this action changed in `repository`; `Err` says why it changed nothing there
    /// (another repository, a failed action, another kind of action).
    pub fn change_in(&self, repository: &str) -> Result<RepositoryChange, String> {
        if self.repository_name != repository {
            return Err(format!(
                "an image action on {}, not on {repository}",
                self.repository_name
            ));
        }
        if self.result != "SUCCESS" {
            return Err(format!(
                "an ECR {} with result {}",
                self.action_type, self.result
            ));
        }
        let (digest, tag) = (self.image_digest.clone(), self.image_tag.clone());
        match self.action_type.as_str() {
            "PUSH" => Ok(RepositoryChange::Pushed { digest, tag }),
            "DELETE" => Ok(RepositoryChange::Deleted { digest, tag }),
            other => Err(format!("an ECR {other} action changes no image")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_push_event_and_a_tagless_one() {
        let push: EcrImageEvent = serde_json::from_value(serde_json::json!({
            "version": "0", "id": "13cde686-328b-6117-af20-0e5566167482", "detail-type": "ECR Image Action",
            "source": "aws.ecr", "account": "123456789012", "time": "2019-11-16T01:54:34Z", "region": "us-west-2",
            "resources": [],
            "detail": {"result": "SUCCESS", "repository-name": "my-repository-name",
                       "image-digest": "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234",
                       "action-type": "PUSH", "image-tag": "latest"}}))
        .unwrap();
        assert_eq!(push.detail.image_tag.as_deref(), Some("latest"));
        assert_eq!(push.detail.action_type, "PUSH");
        let untagged: EcrImageAction = serde_json::from_value(serde_json::json!({
            "result": "SUCCESS", "repository-name": "r", "image-digest": "sha256:1", "action-type": "PUSH"}))
        .unwrap();
        assert_eq!(untagged.image_tag, None);
    }

    fn action(repository: &str, result: &str, action_type: &str) -> EcrImageAction {
        EcrImageAction {
            result: result.into(),
            repository_name: repository.into(),
            image_digest: "sha256:1".into(),
            action_type: action_type.into(),
            image_tag: Some("v1".into()),
        }
    }

    #[test]
    fn only_a_successful_action_on_the_repository_changes_it() {
        let pushed = RepositoryChange::Pushed {
            digest: "sha256:1".into(),
            tag: Some("v1".into()),
        };
        assert_eq!(
            action("sky", "SUCCESS", "PUSH").change_in("sky"),
            Ok(pushed)
        );
        assert!(matches!(
            action("sky", "SUCCESS", "DELETE").change_in("sky"),
            Ok(RepositoryChange::Deleted { .. })
        ));
        for (a, why) in [
            (action("other", "SUCCESS", "PUSH"), "other"),
            (action("sky", "FAILURE", "PUSH"), "FAILURE"),
            (action("sky", "SUCCESS", "REPLICATE"), "REPLICATE"),
        ] {
            let e = a.change_in("sky").unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn the_schedule_and_image_actions_are_read_anything_else_is_not() {
        let schedule =
            serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events"});
        assert_eq!(incoming(&schedule), Ok(Incoming::Schedule));
        for (event, why) in [
            (
                serde_json::json!({"detail-type": "Scheduled Event", "source": "my.app"}),
                "my.app",
            ),
            (
                serde_json::json!({"detail-type": "ECR Image Action", "source": "aws.ecr"}),
                "malformed",
            ),
            (serde_json::json!("a string"), "None"),
            (
                serde_json::json!({"detail-type": "ECR Image Action", "source": "aws.ecr",
                    "detail": ["SUCCESS", "sky", "sha256:1", "PUSH", "v1"]}),
                "not an object",
            ),
        ] {
            let e = incoming(&event).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }
}
