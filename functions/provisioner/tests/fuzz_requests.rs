//! The provisioner's entry (operator_common's `handle_invocation` with `provisioner::handle`)
//! over arbitrary JSON and mutated sample requests (fields removed, retyped, replaced,
//! near-miss strings), and each resource's property parser over mutated properties. Nothing
//! panics; a request is answered exactly once and anything else never; and a request that is
//! not valid for this stack makes no AWS call (the clients point at an endpoint that counts
//! connections, and every SDK request is counted).

#[path = "../../../crates/operator-common/tests/support/fuzz.rs"]
mod fuzz;

use fuzz::{mutated, run, samples, single_mutations, Trap};
use operator_common::custom_resource::{
    answer_by, handle_invocation, Request, RequestKind, ResponseSender,
};
use proptest::prelude::*;
use provisioner::clients::{Clients, Env};
use provisioner::service::EcsRolloutWatcher;
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, SystemTime};

/// Panics anywhere in the process, the handler's spawned task included (the protocol layer
/// catches those and answers FAILED, which would otherwise hide them here).
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            default(info);
        }));
    });
}

/// Plays the presigned ResponseURL: answers every PUT with 200 and counts them.
struct Sink {
    url: String,
    answers: Arc<AtomicUsize>,
    /// Keeps the port busy for the test's lifetime.
    _bodies: Arc<Mutex<Vec<String>>>,
}

impl Sink {
    fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/answer?X-Amz-Signature=0",
            listener.local_addr().unwrap()
        );
        let answers = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (answers.clone(), bodies.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
                count.fetch_add(1, Ordering::SeqCst);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Sink {
            url,
            answers,
            _bodies: bodies,
        }
    }
}

/// Whether each resource type's own property rules accept `properties`.
fn properties_valid(resource_type: &str, properties: &Map<String, Value>) -> bool {
    use provisioner::{cluster, load_balancer, repository, service};
    match resource_type {
        "Custom::Repository" => repository::properties::RepositorySpec::parse(properties).is_ok(),
        "Custom::Cluster" => cluster::properties::ClusterSpec::parse(properties).is_ok(),
        "Custom::LoadBalancer" => {
            load_balancer::properties::LoadBalancerSpec::parse(properties).is_ok()
        }
        "Custom::Service" => service::properties::ServiceSpec::parse(properties).is_ok(),
        _ => false,
    }
}

/// Whether the request may lead to an AWS call: a Create or Update of one of this stack's
/// types with properties its rules accept, or a Delete of one (which looks up what it would
/// delete). Everything else is answered from the request alone.
fn may_call_aws(request: &Request) -> bool {
    let known = provisioner::RESOURCE_TYPES.contains(&request.resource_type.as_str());
    match request.kind {
        RequestKind::Delete { .. } => known,
        _ => known && properties_valid(&request.resource_type, &request.properties),
    }
}

/// Every string ResponseURL goes to the sink: a mutated one must not reach the internet.
fn to_sink(mut event: Value, sink: &Sink) -> Value {
    if let Some(url @ Value::String(_)) = event.get_mut("ResponseURL") {
        *url = Value::String(sink.url.clone());
    }
    event
}

#[test]
fn every_request_is_answered_once_and_one_not_for_this_stack_calls_nothing() {
    count_panics();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Requests that may call AWS get clients of their own endpoint: a connection they leave
    // behind must not be counted against the next request.
    let (trap, allowed) = (Trap::start(), Trap::start());
    let sink = Sink::start();
    let trapped = Clients::new(&rt.block_on(trap.sdk_config()));
    let allowing = Clients::new(&rt.block_on(allowed.sdk_config()));
    let sender = ResponseSender {
        attempts: 1,
        attempt_timeout: Duration::from_secs(5),
        backoff: Duration::from_millis(10),
    };
    let (not_requests, refused, may) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let check = |event: Value| -> Result<(), TestCaseError> {
        let event = to_sink(event, &sink);
        let parsed = Request::parse(event.clone());
        let (before, answers) = (trap.reached(), sink.answers.load(Ordering::SeqCst));
        let deadline = SystemTime::now() + Duration::from_secs(30);
        let env = Arc::new(Env {
            clients: match &parsed {
                Ok(request) if may_call_aws(request) => allowing.clone(),
                _ => trapped.clone(),
            },
            rollouts: Box::new(EcsRolloutWatcher::default()),
            answer_by: answer_by(deadline, &sender),
            backoff: provisioner::wait::Backoff {
                first: Duration::from_millis(10),
                max: Duration::from_millis(50),
            },
        });
        let result = rt.block_on(handle_invocation(
            event.clone(),
            deadline,
            &sender,
            move |request| provisioner::handle(request, env),
        ));
        let answered = sink.answers.load(Ordering::SeqCst) - answers;
        let quiet = trap.reached() == before;
        match &parsed {
            Ok(request) => {
                prop_assert!(result.is_ok(), "{:?} for {}", result.err(), event);
                prop_assert_eq!(answered, 1, "answers to {}", event);
                if may_call_aws(request) {
                    may.fetch_add(1, Ordering::SeqCst);
                } else {
                    refused.fetch_add(1, Ordering::SeqCst);
                    prop_assert!(quiet, "AWS called for {}", event);
                }
            }
            Err(operator_common::custom_resource::ParseError::PropertiesNotAMap(_)) => {
                prop_assert_eq!(answered, 1, "answers to {}", event);
                prop_assert!(quiet, "AWS called for {}", event);
                refused.fetch_add(1, Ordering::SeqCst);
            }
            Err(_) => {
                prop_assert!(result.is_err(), "{}", event);
                prop_assert_eq!(answered, 0, "nowhere to answer {}", event);
                prop_assert!(quiet, "AWS called for {}", event);
                not_requests.fetch_add(1, Ordering::SeqCst);
            }
        }
        prop_assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a panic for {}", event);
        Ok(())
    };
    run(
        samples(env!("CARGO_MANIFEST_DIR"), "provisioner"),
        1500,
        check,
    );
    let (not_requests, refused, may) = (
        not_requests.into_inner(),
        refused.into_inner(),
        may.into_inner(),
    );
    assert!(
        not_requests > 100 && refused > 100 && may > 20,
        "{not_requests} not requests, {refused} refused, {may} may call AWS"
    );
    assert_eq!(trap.connections(), 0);
}

#[test]
fn no_property_map_panics_a_parser() {
    count_panics();
    let properties: Vec<(String, Value)> = samples(env!("CARGO_MANIFEST_DIR"), "provisioner")
        .into_iter()
        .filter_map(|e| {
            Some((
                e["ResourceType"].as_str()?.to_string(),
                e.get("ResourceProperties")?.clone(),
            ))
        })
        .collect();
    for (_, props) in &properties {
        for changed in single_mutations(std::slice::from_ref(props)) {
            if let Value::Object(map) = &changed {
                for t in provisioner::RESOURCE_TYPES {
                    let _ = properties_valid(t, map);
                }
            }
        }
    }
    let strategy = prop::sample::select(properties)
        .prop_flat_map(|(kind, props)| (Just(kind), mutated(props)));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 4000,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&strategy, |(kind, props)| {
            if let Value::Object(map) = &props {
                for t in provisioner::RESOURCE_TYPES {
                    // Each parser, on every type's properties: only errors, never a panic.
                    let _ = properties_valid(t, map);
                }
                let _ = properties_valid(&kind, map);
            }
            Ok(())
        })
        .unwrap();
}
