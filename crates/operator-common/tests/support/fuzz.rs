//! Shared by the parser fuzz tests of every crate (`#[path]`-included): arbitrary JSON, sample
//! events mutated (fields removed, retyped, replaced, near-miss strings), and an AWS endpoint
//! that records every connection made to it, so that a test can prove no call was made.

#![allow(dead_code)] // each test binary uses part of it

use proptest::prelude::*;
use serde_json::{Map, Value};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Any JSON value: scalars of every kind, nested arrays and objects, keys that look like
/// the events' own.
pub fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // NaN and infinities become null
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Strings a parser may meet: empty, whitespace, near misses of the words it looks for,
/// long, non-ASCII (multi-byte characters around cut points), JSON inside a string.
pub fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        ".*",
        "[a-zA-Z0-9:/._-]{0,40}",
        prop::sample::select(WORDS).prop_map(str::to_string),
        (
            prop::sample::select(WORDS),
            "[ \\t\\n]{0,2}",
            "[ éü€𝄞]{0,3}"
        )
            .prop_map(|(w, ws, tail)| format!("{ws}{w}{tail}")),
        prop::sample::select(WORDS).prop_map(|w| w.to_lowercase()),
        "[é€𝄞a]{70,120}",
        Just("{\"recentDatapoints\":[1e999],\"threshold\":\"x\"}".to_string()),
    ]
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(WORDS).prop_map(str::to_string),
        "[a-zA-Z-]{0,12}",
    ]
}

/// Words the parsers match on: field names and the values they compare with.
const WORDS: &[&str] = &[
    "detail-type",
    "source",
    "detail",
    "time",
    "resources",
    "Scheduled Event",
    "aws.events",
    "ECR Image Action",
    "aws.ecr",
    "CloudWatch Alarm State Change",
    "aws.cloudwatch",
    "alarmData",
    "alarmName",
    "state",
    "value",
    "ALARM",
    "OK",
    "INSUFFICIENT_DATA",
    "configuration",
    "metrics",
    "RequestType",
    "Create",
    "Update",
    "Delete",
    "ResourceProperties",
    "OldResourceProperties",
    "PhysicalResourceId",
    "ResponseURL",
    "Custom::Repository",
    "Custom::Cluster",
    "Custom::LoadBalancer",
    "Custom::Service",
    "PUSH",
    "DELETE",
    "SUCCESS",
    "latest",
    "sky-high-booker",
    "2019-11-16T01:54:34Z",
];

/// The sample events in `events/<dir>` at the workspace's root.
pub fn samples(manifest_dir: &str, dir: &str) -> Vec<Value> {
    let root = Path::new(manifest_dir)
        .ancestors()
        .find(|p| p.join("events").is_dir())
        .expect("the workspace's events/ directory");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(root.join("events").join(dir))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            (
                path.display().to_string(),
                serde_json::from_str(&text).unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.into_iter().map(|(_, v)| v).collect()
}

/// Every path in `v` (object keys and array indexes), the root included.
fn paths(v: &Value) -> Vec<Vec<PathStep>> {
    let mut out = vec![Vec::new()];
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                for mut p in paths(child) {
                    p.insert(0, PathStep::Key(k.clone()));
                    out.push(p);
                }
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                for mut p in paths(child) {
                    p.insert(0, PathStep::Index(i));
                    out.push(p);
                }
            }
        }
        _ => {}
    }
    out
}

#[derive(Debug, Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn at<'a>(v: &'a mut Value, path: &[PathStep]) -> Option<&'a mut Value> {
    let mut here = v;
    for step in path {
        here = match (step, here) {
            (PathStep::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (PathStep::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(here)
}

/// One change to an event.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Removes the field (or array element) at the chosen path.
    Remove,
    /// Replaces the value with any JSON.
    Replace(Value),
    /// The same content under another JSON type (a string's number, an object in an array…).
    Retype,
    /// A string made a near miss: case, whitespace, a suffix, emptied, long and multi-byte.
    NearMiss(u8),
    /// Adds an unknown field to an object.
    Add(String, Value),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => Just(Mutation::Remove),
        3 => arb_json().prop_map(Mutation::Replace),
        2 => Just(Mutation::Retype),
        3 => (0u8..7).prop_map(Mutation::NearMiss),
        1 => (arb_key(), arb_json()).prop_map(|(k, v)| Mutation::Add(k, v)),
    ]
}

fn retype(v: &Value) -> Value {
    match v {
        Value::String(s) => s
            .parse::<f64>()
            .ok()
            .map(Value::from)
            .unwrap_or_else(|| Value::Array(vec![Value::String(s.clone())])),
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Null => Value::String(String::new()),
        Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
        Value::Object(m) => Value::Array(m.values().cloned().collect()),
    }
}

fn near_miss(s: &str, how: u8) -> String {
    match how {
        0 => s.to_lowercase(),
        1 => format!(" {s}"),
        2 => format!("{s}x"),
        3 => String::new(),
        4 => s.chars().rev().collect(),
        5 => format!("{s}é"),
        // Long and multi-byte: messages that cut a value short must cut between characters.
        _ => format!("{s}{}", "€𝄞".repeat(20)),
    }
}

fn apply(v: &mut Value, path: &[PathStep], m: &Mutation) {
    match m {
        Mutation::Remove => {
            let Some((last, parent)) = path.split_last() else {
                *v = Value::Null;
                return;
            };
            match (last, at(v, parent)) {
                (PathStep::Key(k), Some(Value::Object(o))) => {
                    o.remove(k);
                }
                (PathStep::Index(i), Some(Value::Array(a))) if *i < a.len() => {
                    a.remove(*i);
                }
                _ => {}
            }
        }
        Mutation::Replace(new) => {
            if let Some(here) = at(v, path) {
                *here = new.clone();
            }
        }
        Mutation::Retype => {
            if let Some(here) = at(v, path) {
                *here = retype(here);
            }
        }
        Mutation::NearMiss(how) => {
            if let Some(Value::String(s)) = at(v, path) {
                *s = near_miss(s, *how);
            }
        }
        Mutation::Add(k, new) => {
            if let Some(Value::Object(o)) = at(v, path) {
                o.insert(k.clone(), new.clone());
            }
        }
    }
}

/// `base` with one to four mutations, each at a path chosen among the value's paths at the
/// time (so later mutations can reach into what earlier ones added).
pub fn mutated(base: Value) -> impl Strategy<Value = Value> {
    prop::collection::vec((any::<prop::sample::Index>(), arb_mutation()), 1..5).prop_map(
        move |steps| {
            let mut v = base.clone();
            for (index, m) in &steps {
                let all = paths(&v);
                let path = &all[index.index(all.len())];
                apply(&mut v, path, m);
            }
            v
        },
    )
}

/// Every sample changed in one place, each way: each field removed, retyped (an object made
/// the array of its values, which serde's derive reads as the struct's fields in order),
/// emptied, nulled and made a near miss. Deterministic, so that no single change is left to
/// chance.
pub fn single_mutations(samples: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for base in samples {
        for path in paths(base) {
            let mut ways = vec![
                Mutation::Remove,
                Mutation::Retype,
                Mutation::Replace(Value::Null),
                Mutation::Replace(Value::Array(Vec::new())),
                Mutation::Replace(Value::Object(Map::new())),
            ];
            ways.extend((0..7).map(Mutation::NearMiss));
            // Serde's derive takes an array for a struct, its fields in declaration order:
            // every order of a small object's values is tried.
            let mut as_arrays = Vec::new();
            if let Some(Value::Object(o)) = at(&mut base.clone(), &path) {
                let values: Vec<Value> = o.values().cloned().collect();
                if values.len() <= 5 {
                    permutations(values, &mut Vec::new(), &mut as_arrays);
                }
            }
            ways.extend(as_arrays.into_iter().map(Mutation::Replace));
            for m in &ways {
                let mut v = base.clone();
                apply(&mut v, &path, m);
                if v != *base {
                    out.push(v);
                }
            }
        }
    }
    out
}

fn permutations(rest: Vec<Value>, prefix: &mut Vec<Value>, out: &mut Vec<Value>) {
    if rest.is_empty() {
        out.push(Value::Array(prefix.clone()));
        return;
    }
    for i in 0..rest.len() {
        let mut others = rest.clone();
        prefix.push(others.remove(i));
        permutations(others, prefix, out);
        prefix.pop();
    }
}

/// Any of: arbitrary JSON, arbitrary JSON objects with the events' keys, a mutated sample.
pub fn events(samples: Vec<Value>) -> impl Strategy<Value = Value> {
    let mutated_sample = prop::sample::select(samples).prop_flat_map(mutated);
    prop_oneof![
        1 => arb_json(),
        1 => prop::collection::vec((arb_key(), arb_json()), 0..8)
            .prop_map(|e| Value::Object(e.into_iter().collect::<Map<_, _>>())),
        6 => mutated_sample,
    ]
}

/// Runs `check` on every sample changed in one place each way ([`single_mutations`]), then on
/// `cases` random events ([`events`]); the first failure panics with its event.
pub fn run(samples: Vec<Value>, cases: u32, check: impl Fn(Value) -> Result<(), TestCaseError>) {
    for event in single_mutations(&samples) {
        check(event).unwrap();
    }
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner.run(&events(samples), check).unwrap();
}

/// The runtime the entry points run on, one event at a time.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The string at `pointer` in `v`, for the tests' own reading of what an event asks.
pub fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// What had reached AWS at one moment: SDK requests (process-wide) and the trap's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reached {
    calls: u64,
    connections: usize,
}

/// A TCP endpoint that accepts and counts connections, never answers, and so stands for an AWS
/// that must not be called: point the SDK at it and assert [`Trap::connections`] stays 0.
pub struct Trap {
    pub url: String,
    count: Arc<AtomicUsize>,
}

impl Trap {
    pub fn start() -> Trap {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                seen.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Trap { url, count }
    }

    pub fn connections(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    pub fn reached(&self) -> Reached {
        Reached {
            calls: operator_common::aws::api_calls(),
            connections: self.connections(),
        }
    }

    /// Fails the case if an SDK request was made, or the trap reached, since `before`.
    pub fn untouched_since(&self, before: Reached, event: &Value) -> Result<(), TestCaseError> {
        let now = self.reached();
        prop_assert_eq!(now.calls, before.calls, "an SDK request for {}", event);
        prop_assert_eq!(
            now.connections,
            before.connections,
            "AWS reached for {}",
            event
        );
        Ok(())
    }

    /// SDK configuration aimed at the trap: test credentials, one attempt, short timeouts.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(aws_config::Region::new("us-east-1"))
            .test_credentials()
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(std::time::Duration::from_secs(2))
                    .build(),
            )
            .load()
            .await
    }
}
