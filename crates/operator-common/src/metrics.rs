//! The operator's own metrics, in CloudWatch Embedded Metric Format (EMF) on stdout: Lambda
//! ships stdout to the function's log group, and CloudWatch turns each EMF line into metric
//! data there. No API call and no background task: a decision is written as one JSON line
//! when it is made (the `metrics` facade over `metrics_cloudwatch_embedded`, flushed at once,
//! so that nothing waits for the end of an invocation that may be frozen or cut short).
//!
//! One namespace ([`NAMESPACE`]), one dimension (`Service`, the ECS service the operator
//! keeps: `SERVICE_NAME`), one counter per decision kind ([`Metric`]). The dashboard and the
//! alarm on custom-resource failures in template.yaml read exactly these.

use std::io::Write;
use std::sync::OnceLock;

pub const NAMESPACE: &str = "SkyHighBooker/Operator";
/// The dimension every metric carries: the service's name.
pub const SERVICE_DIMENSION: &str = "Service";
/// The environment variable the dimension's value comes from.
pub const SERVICE_ENV: &str = "SERVICE_NAME";

/// A kind of decision the operator makes; each is one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// The redeployer rolled the service onto a new digest.
    Deploys,
    /// The autoscaler raised the desired count.
    ScaleOuts,
    /// The autoscaler lowered the desired count.
    ScaleIns,
    /// A function decided not to act although asked to (a scaling refused by bounds, cooldown
    /// or a deployment in progress; a redeploy refused, such as a revision that failed before).
    Refusals,
    /// Images the image pruner deleted.
    ImagesDeleted,
    /// Custom-resource requests the provisioner answered FAILED.
    CustomResourceFailures,
    /// Events no retry can fix (malformed, not ours), logged and dropped.
    RejectedEvents,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::Deploys,
        Metric::ScaleOuts,
        Metric::ScaleIns,
        Metric::Refusals,
        Metric::ImagesDeleted,
        Metric::CustomResourceFailures,
        Metric::RejectedEvents,
    ];

    /// The metric's name in CloudWatch.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Deploys => "Deploys",
            Metric::ScaleOuts => "ScaleOuts",
            Metric::ScaleIns => "ScaleIns",
            Metric::Refusals => "Refusals",
            Metric::ImagesDeleted => "ImagesDeleted",
            Metric::CustomResourceFailures => "CustomResourceFailures",
            Metric::RejectedEvents => "RejectedEvents",
        }
    }
}

type Collector = &'static metrics_cloudwatch_embedded::Collector;

static COLLECTOR: OnceLock<Option<Collector>> = OnceLock::new();

/// The process's collector, made on first use with the service from `SERVICE_NAME`; `None`
/// when another recorder was installed first (then metrics go nowhere, never fail a decision).
fn collector() -> Option<Collector> {
    *COLLECTOR.get_or_init(|| {
        let service = std::env::var(SERVICE_ENV).unwrap_or_else(|_| "unknown".into());
        install(&service)
    })
}

fn install(service: &str) -> Option<Collector> {
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension(SERVICE_DIMENSION, service.to_string())
        .init()
        .ok()?;
    for m in Metric::ALL {
        metrics::describe_counter!(m.name(), metrics::Unit::Count, "");
    }
    Some(collector)
}

/// Counts `n` decisions of kind `metric` and writes them to stdout as one EMF line.
pub fn record(metric: Metric, n: u64) {
    record_to(metric, n, std::io::stdout().lock());
}

/// [`record`], written to `out`.
pub fn record_to(metric: Metric, n: u64, mut out: impl Write) {
    if n == 0 {
        return;
    }
    let Some(collector) = collector() else {
        return;
    };
    metrics::counter!(metric.name()).increment(n);
    // A metric that cannot be written must not fail the decision it counts.
    let _ = collector.flush(&mut out);
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn lines(bytes: &[u8]) -> Vec<Value> {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    // One test: the recorder is process-wide.
    #[test]
    fn each_decision_is_one_emf_document_in_the_namespace_with_the_service() {
        std::env::set_var(SERVICE_ENV, "sky-high-booker");
        let mut out = Vec::new();
        record_to(Metric::ScaleOuts, 1, &mut out);
        let docs = lines(&out);
        assert_eq!(docs.len(), 1, "{docs:?}");
        let d = &docs[0];
        let spec = &d["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Namespace"], NAMESPACE);
        assert_eq!(spec["Dimensions"], serde_json::json!([[SERVICE_DIMENSION]]));
        assert_eq!(
            spec["Metrics"],
            serde_json::json!([{"Name": "ScaleOuts", "Unit": "Count"}])
        );
        assert_eq!(d["Service"], "sky-high-booker");
        assert_eq!(d["ScaleOuts"], 1);
        assert!(d["_aws"]["Timestamp"].as_u64().unwrap() > 0);

        // Counted since the last line only; nothing for a zero.
        let mut out = Vec::new();
        record_to(Metric::ImagesDeleted, 0, &mut out);
        assert!(out.is_empty());
        record_to(Metric::ImagesDeleted, 42, &mut out);
        let docs = lines(&out);
        assert_eq!(docs.len(), 1, "{docs:?}");
        assert_eq!(docs[0]["ImagesDeleted"], 42);
        assert!(docs[0].get("ScaleOuts").is_none());
    }

    #[test]
    fn names_are_distinct() {
        let names: std::collections::BTreeSet<&str> =
            Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names.len(), Metric::ALL.len());
    }
}
