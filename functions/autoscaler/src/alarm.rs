//! The two shapes a CloudWatch alarm state change reaches the function in, parsed into one
//! typed [`AlarmChange`]:
//! - the alarm's own Lambda action: `{source, alarmArn, accountId, time, region, alarmData{…}}`;
//! - EventBridge "CloudWatch Alarm State Change": `{detail-type, source, resources, detail{…}}`,
//!   whose `detail` has the same fields as `alarmData`.
//!
//! Own serde structs rather than aws_lambda_events' `CloudWatchMetricAlarm`: that type only
//! covers the first shape and requires fields this function does not use (timestamps as dates,
//! `period`), which would turn a harmless difference into a failed invocation.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PayloadForm {
    /// The alarm invoked the function directly (alarm action).
    AlarmAction,
    /// EventBridge "CloudWatch Alarm State Change".
    EventBridge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    fn parse(s: &str) -> Option<AlarmState> {
        match s {
            "OK" => Some(AlarmState::Ok),
            "ALARM" => Some(AlarmState::Alarm),
            "INSUFFICIENT_DATA" => Some(AlarmState::InsufficientData),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// Which side of its threshold the alarm watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// GreaterThan*: too busy, scale out.
    High,
    /// LessThan*: too idle, scale in.
    Low,
}

impl Direction {
    /// From a CloudWatch ComparisonOperator; None for the anomaly-band operators.
    pub fn from_comparison(operator: &str) -> Option<Direction> {
        match operator {
            "GreaterThanThreshold" | "GreaterThanOrEqualToThreshold" => Some(Direction::High),
            "LessThanThreshold" | "LessThanOrEqualToThreshold" => Some(Direction::Low),
            _ => None,
        }
    }
}

/// The metric an alarm watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricRef {
    pub namespace: Option<String>,
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
}

/// One alarm state change, whichever way it arrived. Only a hint (see `decide::triage`): the
/// reconcile reads the alarms themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmChange {
    pub form: PayloadForm,
    pub alarm_name: String,
    pub alarm_arn: Option<String>,
    pub state: AlarmState,
    pub previous_state: Option<AlarmState>,
    pub state_timestamp: Option<String>,
    /// The single metric the alarm watches; None for metric-math alarms.
    pub metric: Option<MetricRef>,
    /// The highest of the recent datapoints (`state.reasonData.recentDatapoints`), if given.
    pub value: Option<f64>,
    /// The alarm's threshold (`state.reasonData.threshold`), if given.
    pub threshold: Option<f64>,
    /// High or low, when the payload tells: a `comparisonOperator` in the configuration, or the
    /// state reason CloudWatch writes ("… were greater than the threshold (85.0) …").
    pub comparison: Option<Direction>,
}

/// A `T` read only from a JSON object. Serde's derive also reads a struct from an array (its
/// fields in declaration order), so `"alarmData": ["name", {"value": "ALARM"}, …]` would pass
/// for an alarm; CloudWatch and EventBridge only ever send objects.
struct Object<T>(T);

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::deserialize(d)?;
        serde_json::from_value(Value::Object(map))
            .map(Object)
            .map_err(serde::de::Error::custom)
    }
}

impl<T: Default> Default for Object<T> {
    fn default() -> Self {
        Object(T::default())
    }
}

impl<T> std::ops::Deref for Object<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DirectPayload {
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    alarm_arn: Option<String>,
    alarm_data: Object<AlarmData>,
}

#[derive(Deserialize)]
struct EventBridgePayload {
    #[serde(rename = "detail-type")]
    detail_type: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    resources: Vec<String>,
    detail: Object<AlarmData>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlarmData {
    alarm_name: String,
    state: Object<State>,
    #[serde(default)]
    previous_state: Option<Object<State>>,
    #[serde(default)]
    configuration: Object<Configuration>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    value: String,
    #[serde(default)]
    reason: String,
    /// A JSON document in a string (both shapes); an object is accepted too.
    #[serde(default)]
    reason_data: Option<Value>,
    #[serde(default)]
    timestamp: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Configuration {
    #[serde(default)]
    metrics: Vec<Object<MetricDefinition>>,
    #[serde(default)]
    comparison_operator: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricDefinition {
    #[serde(default)]
    metric_stat: Option<Object<MetricStat>>,
    #[serde(default)]
    return_data: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricStat {
    metric: Object<Metric>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metric {
    #[serde(default)]
    namespace: Option<String>,
    name: String,
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ReasonData {
    #[serde(default)]
    recent_datapoints: Vec<f64>,
    #[serde(default)]
    threshold: Option<f64>,
}

/// The event is not a CloudWatch alarm state change, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed alarm event: {0}")]
pub struct Malformed(pub String);

fn malformed(what: impl Into<String>) -> Malformed {
    Malformed(what.into())
}

fn reason_data(raw: Option<&Value>) -> ReasonData {
    // Informative only: an unreadable reasonData leaves value and threshold unknown.
    match raw {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_default(),
        Some(v @ Value::Object(_)) => serde_json::from_value(v.clone()).unwrap_or_default(),
        _ => ReasonData::default(),
    }
}

/// "Threshold Crossed: 2 out of the last 2 datapoints [...] were greater than the threshold".
fn direction_from_reason(reason: &str) -> Option<Direction> {
    let r = reason.to_ascii_lowercase();
    match (r.contains("greater than"), r.contains("less than")) {
        (true, false) => Some(Direction::High),
        (false, true) => Some(Direction::Low),
        _ => None,
    }
}

fn check_source(source: Option<&str>) -> Result<(), Malformed> {
    match source {
        None | Some("aws.cloudwatch") => Ok(()),
        Some(other) => Err(malformed(format!(
            "source is {other:?}, expected \"aws.cloudwatch\""
        ))),
    }
}

/// Parses either shape. Anything else is [`Malformed`], with what is wrong.
pub fn parse(event: &Value) -> Result<AlarmChange, Malformed> {
    let Some(object) = event.as_object() else {
        return Err(malformed("the event is not a JSON object"));
    };
    let (form, arn, data) = if object.contains_key("detail-type") {
        let p: EventBridgePayload = serde_json::from_value(event.clone())
            .map_err(|e| malformed(format!("EventBridge event: {e}")))?;
        if p.detail_type != "CloudWatch Alarm State Change" {
            return Err(malformed(format!(
                "EventBridge detail-type is {:?}, expected \"CloudWatch Alarm State Change\"",
                p.detail_type
            )));
        }
        check_source(p.source.as_deref())?;
        (
            PayloadForm::EventBridge,
            p.resources.into_iter().next(),
            p.detail.0,
        )
    } else if object.contains_key("alarmData") {
        let p: DirectPayload = serde_json::from_value(event.clone())
            .map_err(|e| malformed(format!("alarm action payload: {e}")))?;
        check_source(p.source.as_deref())?;
        (PayloadForm::AlarmAction, p.alarm_arn, p.alarm_data.0)
    } else {
        return Err(malformed(
            "neither a CloudWatch alarm action payload (no alarmData) nor an EventBridge \
             \"CloudWatch Alarm State Change\" event (no detail-type)",
        ));
    };
    if data.alarm_name.trim().is_empty() {
        return Err(malformed("alarmName is empty"));
    }
    let state = AlarmState::parse(&data.state.value).ok_or_else(|| {
        malformed(format!(
            "state.value is {:?}, expected OK, ALARM or INSUFFICIENT_DATA",
            data.state.value
        ))
    })?;
    let previous_state = data
        .previous_state
        .as_ref()
        .and_then(|s| AlarmState::parse(&s.value));
    let returned: Vec<&MetricDefinition> = data
        .configuration
        .metrics
        .iter()
        .map(|m| &m.0)
        .filter(|m| m.return_data != Some(false))
        .collect();
    let metric = match returned.as_slice() {
        [one] => one.metric_stat.as_ref().map(|s| MetricRef {
            namespace: s.metric.namespace.clone(),
            name: s.metric.name.clone(),
            dimensions: s.metric.dimensions.clone(),
        }),
        _ => None,
    };
    let reason = reason_data(data.state.reason_data.as_ref());
    let value = reason
        .recent_datapoints
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .reduce(f64::max);
    let comparison = data
        .configuration
        .comparison_operator
        .as_deref()
        .and_then(Direction::from_comparison)
        .or_else(|| direction_from_reason(&data.state.reason));
    Ok(AlarmChange {
        form,
        alarm_name: data.alarm_name,
        alarm_arn: arn,
        state,
        previous_state,
        state_timestamp: data.state.0.timestamp,
        metric,
        value,
        threshold: reason.threshold.filter(|t| t.is_finite()),
        comparison,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event_file(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/autoscaler")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn a_struct_sent_as_an_array_is_malformed() {
        // Found by the parser fuzzing (tests/fuzz_events.rs): serde's derive reads a struct
        // from an array of its fields in order.
        let direct = event_file("cpu-high-alarm.json");
        let data = &direct["alarmData"];
        let positional = json!([
            data["alarmName"],
            data["state"],
            data["previousState"],
            data["configuration"]
        ]);
        let mut e = direct.clone();
        e["alarmData"] = positional.clone();
        assert!(parse(&e).is_err(), "alarmData as an array");
        let mut bridge = event_file("cpu-high-alarm-eventbridge.json");
        bridge["detail"] = positional;
        assert!(parse(&bridge).is_err(), "detail as an array");
        let mut state = direct.clone();
        state["alarmData"]["state"] = json!(["ALARM"]);
        assert!(parse(&state).is_err(), "state as an array");
        let mut metric = direct.clone();
        let m = &data["configuration"]["metrics"][0]["metricStat"]["metric"];
        metric["alarmData"]["configuration"]["metrics"][0]["metricStat"]["metric"] =
            json!([m["namespace"], m["name"], m["dimensions"]]);
        assert!(parse(&metric).is_err(), "metric as an array");
        assert!(parse(&direct).is_ok());
    }

    #[test]
    fn every_sample_event_parses_the_same_in_both_forms() {
        for (base, metric, state, direction) in [
            (
                "cpu-high-alarm",
                "CPUUtilization",
                AlarmState::Alarm,
                Direction::High,
            ),
            (
                "memory-high-alarm",
                "MemoryUtilization",
                AlarmState::Alarm,
                Direction::High,
            ),
            (
                "cpu-low-alarm",
                "CPUUtilization",
                AlarmState::Alarm,
                Direction::Low,
            ),
            (
                "cpu-high-ok",
                "CPUUtilization",
                AlarmState::Ok,
                Direction::High,
            ),
        ] {
            let direct = parse(&event_file(&format!("{base}.json"))).unwrap();
            let bridged = parse(&event_file(&format!("{base}-eventbridge.json"))).unwrap();
            assert_eq!(direct.form, PayloadForm::AlarmAction);
            assert_eq!(bridged.form, PayloadForm::EventBridge);
            for c in [&direct, &bridged] {
                let m = c.metric.as_ref().unwrap();
                assert_eq!(m.name, metric, "{base}");
                assert_eq!(m.namespace.as_deref(), Some("AWS/ECS"));
                assert_eq!(m.dimensions["ClusterName"], "sky-high-booker");
                assert_eq!(m.dimensions["ServiceName"], "sky-high-booker");
                assert_eq!(c.state, state, "{base}");
                assert_eq!(c.comparison, Some(direction), "{base}");
                assert!(c.alarm_arn.as_deref().unwrap().starts_with(
                    "arn:aws:cloudwatch:us-east-1:123456789012:alarm:sky-high-booker-"
                ));
                assert!(c.threshold.is_some());
            }
            let strip = |c: AlarmChange| AlarmChange {
                form: PayloadForm::AlarmAction,
                ..c
            };
            assert_eq!(
                strip(direct),
                strip(bridged),
                "{base}: same change, two forms"
            );
        }
        let high = parse(&event_file("cpu-high-alarm.json")).unwrap();
        assert_eq!(high.value, Some(93.5));
        assert_eq!(high.threshold, Some(85.0));
        assert_eq!(high.previous_state, Some(AlarmState::Ok));
    }

    #[test]
    fn the_library_fixture_shape_parses() {
        // aws_lambda_events' example-cloudwatch-alarm-metric.json, trimmed.
        let c = parse(&json!({
            "source": "aws.cloudwatch",
            "alarmArn": "arn:aws:cloudwatch:us-east-1:444455556666:alarm:lambda-demo-metric-alarm",
            "accountId": "444455556666", "time": "2023-08-04T12:36:15.490+0000", "region": "us-east-1",
            "alarmData": {"alarmName": "lambda-demo-metric-alarm",
                "state": {"value": "ALARM", "reason": "test", "timestamp": "2023-08-04T12:36:15.490+0000"},
                "previousState": {"value": "INSUFFICIENT_DATA", "reason": "Insufficient Data",
                    "reasonData": "{\"version\": \"1.0\", \"statistic\": \"Average\", \"period\": 60, \"recentDatapoints\": [], \"threshold\": 5.0}",
                    "timestamp": "2023-08-04T12:31:29.595+0000"},
                "configuration": {"description": "Metric Alarm to test Lambda actions",
                    "metrics": [{"id": "1234e046", "metricStat": {"metric": {"namespace": "AWS/Logs",
                        "name": "CallCount", "dimensions": {"InstanceId": "i-12345678"}},
                        "period": 60, "stat": "Average", "unit": "Percent"}, "returnData": true}]}}}))
        .unwrap();
        assert_eq!(c.metric.unwrap().name, "CallCount");
        assert_eq!(
            c.comparison, None,
            "the reason \"test\" says nothing: read the alarm"
        );
        assert_eq!((c.value, c.threshold), (None, None));
    }

    #[test]
    fn malformed_payloads_say_what_is_wrong() {
        let good = event_file("cpu-high-alarm.json");
        let bridged = event_file("cpu-high-alarm-eventbridge.json");
        let mut no_state = good.clone();
        no_state["alarmData"]
            .as_object_mut()
            .unwrap()
            .remove("state");
        let mut bad_state = good.clone();
        bad_state["alarmData"]["state"]["value"] = json!("FIRING");
        let mut other_detail = bridged.clone();
        other_detail["detail-type"] = json!("ECR Image Action");
        let mut other_source = good.clone();
        other_source["source"] = json!("aws.ecr");
        let mut empty_name = bridged.clone();
        empty_name["detail"]["alarmName"] = json!("");
        for (event, expect) in [
            (json!([1, 2]), "not a JSON object"),
            (json!({"hello": "world"}), "neither"),
            (no_state, "state"),
            (bad_state, "FIRING"),
            (other_detail, "ECR Image Action"),
            (other_source, "aws.ecr"),
            (empty_name, "alarmName"),
            (json!({"alarmData": "nope"}), "alarm action payload"),
        ] {
            let e = parse(&event).unwrap_err();
            assert!(e.to_string().starts_with("malformed alarm event"));
            assert!(
                e.to_string().contains(expect),
                "{e} should mention {expect}"
            );
        }
    }

    #[test]
    fn direction_comes_from_the_operator_or_the_reason() {
        assert_eq!(
            Direction::from_comparison("GreaterThanOrEqualToThreshold"),
            Some(Direction::High)
        );
        assert_eq!(
            Direction::from_comparison("LessThanThreshold"),
            Some(Direction::Low)
        );
        assert_eq!(
            Direction::from_comparison("LessThanLowerOrGreaterThanUpperThreshold"),
            None
        );
        assert_eq!(
            direction_from_reason("Threshold Crossed: 2 out of the last 2 datapoints [90.1 (25/11/26 19:00:00), 88.0 (25/11/26 18:58:00)] were greater than the threshold (85.0)"),
            Some(Direction::High)
        );
        assert_eq!(
            direction_from_reason(
                "1 datapoint [10.0] was less than or equal to the threshold (20.0)."
            ),
            Some(Direction::Low)
        );
        assert_eq!(direction_from_reason("Set by a person"), None);
        // Metric-math alarms have no single metric.
        let mut e = event_file("cpu-high-alarm.json");
        e["alarmData"]["configuration"]["metrics"] = json!([
            {"id": "e1", "expression": "m1+m2", "returnData": true},
            {"id": "m1", "metricStat": {"metric": {"name": "CPUUtilization", "namespace": "AWS/ECS", "dimensions": {}}, "period": 60, "stat": "Average"}, "returnData": false}]);
        assert_eq!(parse(&e).unwrap().metric, None);
    }
}
