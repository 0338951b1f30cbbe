//! Event shapes aws_lambda_events has no type for.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};

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
}
