//! Who calls and what they ask: the caller's access key id from the SigV4 `Authorization`
//! header, and the action named as IAM names it (`ecs:CreateService`), from whichever wire
//! protocol the SDK speaks for that service.

/// The wire protocol of a call, which decides the shape of an error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// awsJson1_0/1_1: ECS, ECR, Application Auto Scaling, CloudWatch Logs, ACM.
    Json,
    /// awsQuery: ELBv2, CloudWatch (Query).
    Query,
    /// ec2Query: EC2 has its own error envelope.
    Ec2,
    /// Smithy RPC v2 CBOR: aws-sdk-cloudwatch.
    Cbor,
    /// Not an AWS API call (moto's own `/moto-api`, unsigned requests).
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub access_key: Option<String>,
    /// moto's `x-moto-account-id`, else moto's default account.
    pub account: String,
    /// The IAM service prefix (`ecs`, `elasticloadbalancing`, `cloudwatch`…); empty if unknown.
    pub service: String,
    /// The API operation (`CreateService`); empty if unknown.
    pub operation: String,
    pub protocol: Protocol,
    /// The request body as text (lossy for CBOR), plus the decoded form for Query calls, so
    /// that a test's unique name is found whatever the encoding.
    pub text: String,
}

impl Call {
    /// `ecs:CreateService`, or "" for a call that is not an AWS action.
    pub fn action(&self) -> String {
        if self.service.is_empty() || self.operation.is_empty() {
            String::new()
        } else {
            format!("{}:{}", self.service, self.operation)
        }
    }
}

/// The access key id and the signing name of a SigV4 `Authorization` header
/// (`AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ecs/aws4_request, …`).
pub fn credential(authorization: &str) -> Option<(String, String)> {
    let scope = authorization.split("Credential=").nth(1)?;
    let scope = scope.split([',', ' ']).next()?;
    let mut parts = scope.split('/');
    let key = parts.next()?.to_string();
    let service = parts.nth(2)?.to_string();
    (!key.is_empty()).then_some((key, service))
}

/// The IAM prefix for a SigV4 signing name (they differ for CloudWatch only, among ours).
pub fn iam_prefix(signing_name: &str) -> &str {
    match signing_name {
        "monitoring" => "cloudwatch",
        other => other,
    }
}

/// The pairs of an `application/x-www-form-urlencoded` body.
pub fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// Names the call. `header` looks a header up by its lower-case name.
pub fn identify<'h>(path: &str, header: impl Fn(&str) -> Option<&'h str>, body: &[u8]) -> Call {
    let (access_key, signing) = match header("authorization").and_then(credential) {
        Some((k, s)) => (Some(k), s),
        None => (None, String::new()),
    };
    let service = iam_prefix(&signing).to_string();
    let account = header("x-moto-account-id")
        .unwrap_or(crate::moto::ACCOUNT)
        .to_string();
    let raw = String::from_utf8_lossy(body).into_owned();
    if let Some(target) = header("x-amz-target") {
        let operation = target.rsplit('.').next().unwrap_or_default().to_string();
        return Call {
            access_key,
            account,
            service,
            operation,
            protocol: Protocol::Json,
            text: raw,
        };
    }
    // Smithy RPC v2: POST /service/<ServiceShape>/operation/<Operation>
    let segments: Vec<&str> = path
        .split('?')
        .next()
        .unwrap_or_default()
        .split('/')
        .collect();
    if let ["", "service", _, "operation", op] = segments.as_slice() {
        return Call {
            access_key,
            account,
            service,
            operation: op.to_string(),
            protocol: Protocol::Cbor,
            text: raw,
        };
    }
    let pairs = form(body);
    if let Some((_, op)) = pairs.iter().find(|(k, _)| k == "Action") {
        let decoded: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let protocol = if service == "ec2" {
            Protocol::Ec2
        } else {
            Protocol::Query
        };
        return Call {
            access_key,
            account,
            service,
            operation: op.clone(),
            protocol,
            text: format!("{raw}\n{}", decoded.join("\n")),
        };
    }
    Call {
        access_key,
        account,
        service,
        operation: String::new(),
        protocol: Protocol::Other,
        text: raw,
    }
}

/// A CBOR body (Smithy RPC v2) as JSON: maps with text keys, arrays, text, numbers.
pub fn cbor_to_json(body: &[u8]) -> Option<serde_json::Value> {
    fn convert(v: ciborium::Value) -> serde_json::Value {
        use ciborium::Value as C;
        use serde_json::Value as J;
        match v {
            C::Text(s) => J::String(s),
            C::Bool(b) => J::Bool(b),
            C::Integer(i) => i64::try_from(i).map(J::from).unwrap_or(J::Null),
            C::Float(f) => serde_json::Number::from_f64(f)
                .map(J::Number)
                .unwrap_or(J::Null),
            C::Array(items) => J::Array(items.into_iter().map(convert).collect()),
            C::Map(pairs) => J::Object(
                pairs
                    .into_iter()
                    .filter_map(|(k, v)| Some((k.into_text().ok()?, convert(v))))
                    .collect(),
            ),
            C::Tag(_, inner) => convert(*inner),
            _ => J::Null,
        }
    }
    if body.is_empty() {
        return Some(serde_json::json!({}));
    }
    ciborium::from_reader::<ciborium::Value, _>(body)
        .ok()
        .map(convert)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDPROV/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    #[test]
    fn the_credential_scope_names_the_key_and_the_signing_service() {
        assert_eq!(credential(AUTH), Some(("AKIDPROV".into(), "ecs".into())));
        assert_eq!(credential("Bearer x"), None);
        assert_eq!(credential("AWS4-HMAC-SHA256 Credential=/a/b/c/d"), None);
    }

    #[test]
    fn json_protocols_are_named_by_their_target() {
        let h = [
            ("authorization", AUTH),
            (
                "x-amz-target",
                "AmazonEC2ContainerServiceV20141113.CreateService",
            ),
        ];
        let call = identify("/", headers(&h), br#"{"serviceName":"web-1"}"#);
        assert_eq!(call.action(), "ecs:CreateService");
        assert_eq!(call.protocol, Protocol::Json);
        assert_eq!(call.access_key.as_deref(), Some("AKIDPROV"));
    }

    #[test]
    fn query_protocols_are_named_by_the_form_action() {
        let auth = AUTH.replace("/ecs/", "/elasticloadbalancing/");
        let h = [("authorization", auth.as_str())];
        let call = identify(
            "/",
            headers(&h),
            b"Action=CreateTargetGroup&Name=sky%2Dtg&Version=2015-12-01",
        );
        assert_eq!(call.action(), "elasticloadbalancing:CreateTargetGroup");
        assert_eq!(call.protocol, Protocol::Query);
        assert!(call.text.contains("Name=sky-tg"), "decoded: {}", call.text);
        let auth = AUTH.replace("/ecs/", "/ec2/");
        let h = [("authorization", auth.as_str())];
        let call = identify("/", headers(&h), b"Action=DescribeVpcs&Version=2016-11-15");
        assert_eq!(
            (call.action().as_str(), call.protocol),
            ("ec2:DescribeVpcs", Protocol::Ec2)
        );
    }

    #[test]
    fn rpc_v2_cbor_is_named_by_its_path_and_cloudwatch_by_its_iam_prefix() {
        let auth = AUTH.replace("/ecs/", "/monitoring/");
        let h = [("authorization", auth.as_str())];
        let call = identify(
            "/service/GraniteServiceVersion20100801/operation/DescribeAlarms",
            headers(&h),
            &[0xa0],
        );
        assert_eq!(call.action(), "cloudwatch:DescribeAlarms");
        assert_eq!(call.protocol, Protocol::Cbor);
    }

    #[test]
    fn moto_api_calls_are_no_action() {
        let call = identify("/moto-api/reset", headers(&[]), b"");
        assert_eq!(
            (call.action(), call.protocol, call.access_key),
            (String::new(), Protocol::Other, None)
        );
    }
}
