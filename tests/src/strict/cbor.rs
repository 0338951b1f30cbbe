//! CloudWatch for aws-sdk-cloudwatch: the SDK speaks Smithy RPC v2 CBOR, which moto 5.2.1 does
//! not (getmoto/moto#9195), but moto does serve CloudWatch's awsJson1_0 protocol. The layer
//! turns each CBOR call into the same call in JSON and moto's JSON answer back into CBOR.
//! The two carry the same shapes; only timestamps (CBOR tag 1) and doubles need the model.

use super::errors::Answer;
use ciborium::Value as C;
use serde_json::Value as J;

/// The JSON protocol's target prefix for CloudWatch.
pub const TARGET_PREFIX: &str = "GraniteServiceVersion20100801";

/// Members of CloudWatch's alarm shapes typed `double` (moto may print them as integers).
const DOUBLES: &[&str] = &[
    "Threshold",
    "Value",
    "Sum",
    "Minimum",
    "Maximum",
    "SampleCount",
    "Average",
];

/// A JSON value as CBOR; `key` is the member it is the value of.
pub fn to_cbor(value: &J, key: &str) -> C {
    match value {
        J::Null => C::Null,
        J::Bool(b) => C::Bool(*b),
        J::String(s) => C::Text(s.clone()),
        J::Number(n) if key.ends_with("Timestamp") => {
            C::Tag(1, Box::new(C::Float(n.as_f64().unwrap_or_default())))
        }
        J::Number(n) if n.is_f64() || DOUBLES.contains(&key) => {
            C::Float(n.as_f64().unwrap_or_default())
        }
        J::Number(n) => n
            .as_i64()
            .map(|i| C::Integer(i.into()))
            .unwrap_or_else(|| C::Float(n.as_f64().unwrap_or_default())),
        // A list's items are values of the list's member.
        J::Array(items) => C::Array(items.iter().map(|i| to_cbor(i, key)).collect()),
        J::Object(map) => C::Map(
            map.iter()
                .map(|(k, v)| (C::Text(k.clone()), to_cbor(v, k)))
                .collect(),
        ),
    }
}

/// moto's JSON answer (status, body) as the CBOR answer the SDK expects.
pub fn answer(status: u16, json_body: &[u8]) -> Answer {
    let json: J = if json_body.iter().all(u8::is_ascii_whitespace) {
        J::Object(Default::default())
    } else {
        serde_json::from_slice(json_body).unwrap_or_else(|_| {
            serde_json::json!({"__type": "InternalFailure", "message": String::from_utf8_lossy(json_body)})
        })
    };
    let mut body = Vec::new();
    ciborium::into_writer(&to_cbor(&json, ""), &mut body).expect("CBOR into a Vec");
    Answer {
        status,
        headers: vec![
            ("content-type".into(), "application/cbor".into()),
            ("smithy-protocol".into(), "rpc-v2-cbor".into()),
        ],
        body,
    }
}

/// Forwards a CBOR CloudWatch call to moto in JSON; returns the answer in CBOR.
pub async fn forward(
    state: &super::proxy::State,
    operation: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> Answer {
    let json = super::request::cbor_to_json(body).unwrap_or_else(|| serde_json::json!({}));
    let mut out = state
        .http
        .post(format!("{}/", state.backend))
        .header("x-amz-target", format!("{TARGET_PREFIX}.{operation}"))
        .header("content-type", "application/x-amz-json-1.0")
        .body(json.to_string());
    if let Some(auth) = authorization {
        out = out.header("authorization", auth);
    }
    match out.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            answer(status, &r.bytes().await.unwrap_or_default())
        }
        Err(e) => super::errors::error(
            super::request::Protocol::Cbor,
            502,
            "BadGateway",
            &format!("the strict layer could not reach moto: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(a: &Answer) -> C {
        ciborium::from_reader(a.body.as_slice()).unwrap()
    }

    fn get<'a>(map: &'a C, key: &str) -> &'a C {
        &map.as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_text() == Some(key))
            .unwrap()
            .1
    }

    #[test]
    fn timestamps_are_tagged_and_doubles_are_floats() {
        let a = answer(200, json!({"MetricAlarms": [{"AlarmName": "a", "Threshold": 85,
            "Period": 120, "StateUpdatedTimestamp": 1764000000.5, "Dimensions": [{"Name": "n", "Value": "v"}]}]}).to_string().as_bytes());
        let decoded = decode(&a);
        let alarm = &get(&decoded, "MetricAlarms").as_array().unwrap()[0];
        assert_eq!(get(alarm, "Threshold"), &C::Float(85.0));
        assert_eq!(get(alarm, "Period"), &C::Integer(120.into()));
        assert_eq!(
            get(alarm, "StateUpdatedTimestamp"),
            &C::Tag(1, Box::new(C::Float(1764000000.5)))
        );
        let dimension = &get(alarm, "Dimensions").as_array().unwrap()[0];
        assert_eq!(
            get(dimension, "Value"),
            &C::Text("v".into()),
            "a dimension's Value is text, not a double"
        );
        assert!(a
            .headers
            .contains(&("smithy-protocol".into(), "rpc-v2-cbor".into())));
    }

    #[test]
    fn empty_answers_are_an_empty_map_and_errors_keep_their_type() {
        assert_eq!(decode(&answer(200, b"")), C::Map(vec![]));
        let e = answer(
            400,
            json!({"__type": "ResourceNotFound", "message": "no"})
                .to_string()
                .as_bytes(),
        );
        assert_eq!(e.status, 400);
        assert_eq!(
            get(&decode(&e), "__type"),
            &C::Text("ResourceNotFound".into())
        );
    }

    #[test]
    fn requests_round_trip_through_json() {
        let request = C::Map(vec![
            (
                C::Text("AlarmNames".into()),
                C::Array(vec![C::Text("a".into())]),
            ),
            (C::Text("MaxRecords".into()), C::Integer(10.into())),
        ]);
        let mut bytes = Vec::new();
        ciborium::into_writer(&request, &mut bytes).unwrap();
        let json = crate::strict::request::cbor_to_json(&bytes).unwrap();
        assert_eq!(json, json!({"AlarmNames": ["a"], "MaxRecords": 10}));
    }
}
