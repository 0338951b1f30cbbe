//! Error answers in the wire shape of each protocol, so that the SDK parses them into the
//! modeled exceptions (`ThrottlingException`, `ClusterContainsServicesException`…).

use super::request::Protocol;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An AWS error: `code` is the exception's name (`ThrottlingException`, `AccessDenied`).
pub fn error(protocol: Protocol, status: u16, code: &str, message: &str) -> Answer {
    let request_id = "00000000-0000-4000-8000-000000000000";
    let (content_type, body) = match protocol {
        Protocol::Json | Protocol::Other => (
            "application/x-amz-json-1.1",
            serde_json::json!({"__type": code, "message": message}).to_string().into_bytes(),
        ),
        Protocol::Query => (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>{}</Type><Code>{code}</Code><Message>{}</Message></Error>\
                 <RequestId>{request_id}</RequestId></ErrorResponse>",
                if status >= 500 { "Receiver" } else { "Sender" },
                xml_escape(message)
            )
            .into_bytes(),
        ),
        Protocol::Ec2 => (
            "text/xml",
            format!(
                "<Response><Errors><Error><Code>{code}</Code><Message>{}</Message></Error></Errors>\
                 <RequestID>{request_id}</RequestID></Response>",
                xml_escape(message)
            )
            .into_bytes(),
        ),
        Protocol::Cbor => {
            let mut body = Vec::new();
            let map = ciborium::Value::Map(vec![
                ("__type".into(), code.into()),
                ("message".into(), message.into()),
            ]);
            ciborium::into_writer(&map, &mut body).expect("CBOR into a Vec");
            ("application/cbor", body)
        }
    };
    let mut headers = vec![
        ("content-type".to_string(), content_type.to_string()),
        ("x-amzn-requestid".to_string(), request_id.to_string()),
    ];
    match protocol {
        Protocol::Json | Protocol::Other => headers.push(("x-amzn-errortype".into(), code.into())),
        Protocol::Cbor => headers.push(("smithy-protocol".into(), "rpc-v2-cbor".into())),
        _ => {}
    }
    Answer {
        status,
        headers,
        body,
    }
}

/// The throttling answer each protocol's services give (all retried by the SDK as throttling).
pub fn throttle(protocol: Protocol) -> Answer {
    let code = match protocol {
        Protocol::Query => "Throttling",
        Protocol::Ec2 => "RequestLimitExceeded",
        _ => "ThrottlingException",
    };
    error(protocol, 400, code, "Rate exceeded")
}

/// A server-side failure (retried by the SDK as transient).
pub fn server_error(protocol: Protocol) -> Answer {
    let code = match protocol {
        Protocol::Query | Protocol::Ec2 => "InternalError",
        _ => "InternalFailure",
    };
    error(
        protocol,
        500,
        code,
        "We encountered an internal error. Please try again.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_carry_the_type_in_body_and_header() {
        let a = error(
            Protocol::Json,
            400,
            "ClusterContainsServicesException",
            "m & m",
        );
        let body: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(body["__type"], "ClusterContainsServicesException");
        assert_eq!(body["message"], "m & m");
        assert!(a.headers.contains(&(
            "x-amzn-errortype".into(),
            "ClusterContainsServicesException".into()
        )));
    }

    #[test]
    fn query_errors_are_escaped_xml() {
        let a = error(Protocol::Query, 400, "AccessDenied", "a <b> & c");
        let text = String::from_utf8(a.body).unwrap();
        assert!(text.contains("<Code>AccessDenied</Code>"));
        assert!(text.contains("a &lt;b&gt; &amp; c"));
        assert!(text.contains("<Type>Sender</Type>"));
    }

    #[test]
    fn cbor_errors_decode_to_a_type_and_message() {
        let a = throttle(Protocol::Cbor);
        let v: ciborium::Value = ciborium::from_reader(a.body.as_slice()).unwrap();
        let map = v.as_map().unwrap();
        assert_eq!(map[0].1.as_text(), Some("ThrottlingException"));
        assert!(a
            .headers
            .contains(&("smithy-protocol".into(), "rpc-v2-cbor".into())));
    }

    #[test]
    fn server_errors_are_5xx_everywhere() {
        for p in [
            Protocol::Json,
            Protocol::Query,
            Protocol::Ec2,
            Protocol::Cbor,
        ] {
            assert!(server_error(p).status >= 500);
            assert_eq!(throttle(p).status, 400);
        }
    }
}
