use serde::Serialize;
use std::collections::BTreeMap;

/// S3 rejects a custom-resource response body larger than this.
pub const MAX_RESPONSE_BYTES: usize = 4096;
/// CloudFormation's limit on a PhysicalResourceId.
const MAX_PHYSICAL_ID_BYTES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Success,
    Failed,
}

/// The body PUT to the ResponseURL.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    pub no_echo: bool,
    pub data: BTreeMap<String, String>,
}

fn truncate_at_char(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

impl Response {
    /// The JSON body, at most [`MAX_RESPONSE_BYTES`]: the Reason is shortened first; if Data
    /// alone is too large the response becomes FAILED, since GetAtt could not be trusted.
    pub fn to_body(&self) -> Vec<u8> {
        let mut response = self.clone();
        if response.physical_resource_id.is_empty() {
            response.physical_resource_id = format!("{}-unnamed", response.logical_resource_id);
        }
        truncate_at_char(&mut response.physical_resource_id, MAX_PHYSICAL_ID_BYTES);
        let body = serde_json::to_vec(&response).expect("a response always serialises");
        if body.len() <= MAX_RESPONSE_BYTES {
            return body;
        }
        // Shorten the reason until the body fits (JSON escaping can make a character take up
        // to six bytes, hence the loop rather than one cut).
        let mut body = body;
        while body.len() > MAX_RESPONSE_BYTES {
            let Some(reason) = response.reason.as_mut() else {
                break;
            };
            let len = reason.trim_end_matches(" [truncated]").len();
            if len == 0 {
                break;
            }
            let overflow = body.len() - MAX_RESPONSE_BYTES;
            // Each raw byte cut removes at least one body byte, so one pass normally suffices.
            let keep = len.saturating_sub(overflow + 16);
            truncate_at_char(reason, keep);
            reason.push_str(" [truncated]");
            body = serde_json::to_vec(&response).expect("a response always serialises");
        }
        if body.len() <= MAX_RESPONSE_BYTES {
            return body;
        }
        response.status = Status::Failed;
        response.data.clear();
        response.reason =
            Some("the response Data exceeded CloudFormation's 4096-byte limit".into());
        serde_json::to_vec(&response).expect("a response always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(reason: Option<String>, data: BTreeMap<String, String>) -> Response {
        Response {
            status: Status::Failed,
            reason,
            physical_resource_id: "id".into(),
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/s/g".into(),
            request_id: "r".into(),
            logical_resource_id: "L".into(),
            no_echo: false,
            data,
        }
    }

    #[test]
    fn field_names_are_what_cloudformation_reads() {
        let body = response(
            Some("why".into()),
            BTreeMap::from([("A".into(), "1".into())]),
        )
        .to_body();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        for key in [
            "Status",
            "Reason",
            "PhysicalResourceId",
            "StackId",
            "RequestId",
            "LogicalResourceId",
            "NoEcho",
            "Data",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["Status"], "FAILED");
        let no_reason = response(None, BTreeMap::new()).to_body();
        assert!(!String::from_utf8(no_reason).unwrap().contains("Reason"));
    }

    proptest::proptest! {
        #[test]
        fn body_never_exceeds_the_limit(reason in ".{0,6000}", quotes in 0usize..3000, data_len in 0usize..5000) {
            let reason = format!("{reason}{}", "\"".repeat(quotes));
            let data = BTreeMap::from([("Big".to_string(), "x".repeat(data_len))]);
            let body = response(Some(reason), data).to_body();
            proptest::prop_assert!(body.len() <= MAX_RESPONSE_BYTES, "{} bytes", body.len());
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            proptest::prop_assert!(v["Reason"].is_string());
        }
    }
}
