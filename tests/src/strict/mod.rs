//! The strict local AWS: a proxy in front of moto that every test and the demo talk to
//! (`moto::endpoint()` is its URL). It names each call as IAM does, injects the faults a test
//! asks for, and plays what AWS does that moto does not (see README, "Tests and the local AWS").

mod cbor;
pub mod draining;
mod errors;
mod faults;
pub mod iam;
mod proxy;
mod registered;
pub mod request;
pub mod resources;
mod tags;

pub use faults::{Fault, FaultKind};
pub use iam::{Decision, Principal};

use proxy::State;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

static STATE: OnceLock<Arc<State>> = OnceLock::new();
static URL: OnceLock<String> = OnceLock::new();

/// How long a deleted service stays DRAINING unless `STRICT_DRAIN_SECONDS` says otherwise
/// (AWS: the target group's deregistration delay, 300 s by default).
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(3);

/// The rules the layer applies between naming a call and forwarding it.
pub struct Rules {
    draining: Mutex<draining::Draining>,
    registered: Mutex<registered::Registered>,
    iam: iam::Iam,
}

fn drain_from_env() -> Duration {
    std::env::var("STRICT_DRAIN_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_DRAIN)
}

/// The ECS JSON body of a call, if it is one.
fn ecs_body(call: &request::Call, body: &[u8]) -> Option<serde_json::Value> {
    (call.service == "ecs" && call.protocol == request::Protocol::Json)
        .then(|| serde_json::from_slice(body).ok())
        .flatten()
}

impl Rules {
    fn new() -> Rules {
        Rules {
            draining: Mutex::new(draining::Draining::new(drain_from_env())),
            registered: Mutex::default(),
            iam: iam::Iam::default(),
        }
    }

    /// An answer that refuses the call instead of forwarding it, if any.
    async fn before(
        &self,
        state: &State,
        call: &request::Call,
        body: &[u8],
    ) -> Option<errors::Answer> {
        if let Some(denied) = self
            .iam
            .authorize(&state.http, &state.backend, call, body)
            .await
        {
            return Some(denied);
        }
        let ecs = ecs_body(call, body)?;
        let refusal = self.draining.lock().unwrap().before(
            &call.operation,
            &call.account,
            &ecs,
            Instant::now(),
        );
        refusal.map(|(code, message)| errors::error(call.protocol, 400, code, message))
    }

    /// moto's answer, as AWS would have given it.
    async fn after(
        &self,
        _state: &State,
        call: &request::Call,
        body: &[u8],
        mut answer: errors::Answer,
    ) -> errors::Answer {
        if answer.status != 200 {
            return answer;
        }
        self.iam.after(call, body);
        if let (Some(ecs), Ok(mut out)) =
            (ecs_body(call, body), serde_json::from_slice(&answer.body))
        {
            self.draining
                .lock()
                .unwrap()
                .after(&call.operation, &ecs, &mut out, Instant::now());
            let epoch = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("after 1970")
                .as_secs_f64();
            self.registered
                .lock()
                .unwrap()
                .after(&call.operation, &mut out, epoch);
            answer.body = serde_json::to_vec(&out).expect("JSON");
        }
        answer
    }
}

fn state() -> &'static Arc<State> {
    STATE
        .get()
        .expect("the strict layer starts with moto::endpoint()")
}

/// Starts the process-wide proxy in front of moto at `backend` (once); returns its URL.
pub fn start(backend: &str) -> &'static str {
    URL.get_or_init(|| {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client for moto");
        let state = STATE.get_or_init(|| {
            Arc::new(State {
                backend: backend.to_string(),
                http,
                faults: Default::default(),
                rules: Rules::new(),
            })
        });
        proxy::spawn(state.clone())
    })
}

/// Applies `fault` to the next `fault.times` calls of `fault.action` whose body contains
/// `fault.matching`.
pub fn inject(fault: Fault) {
    state().faults.lock().unwrap().inject(fault);
}

/// How many calls of `action` whose body contains `matching` reached the layer (faulted or not).
pub fn calls(action: &str, matching: &str) -> usize {
    state().faults.lock().unwrap().calls(action, matching)
}

/// How long a service deleted from now on stays DRAINING (process-wide).
pub fn set_drain(drain: Duration) {
    state().rules.draining.lock().unwrap().drain = drain;
}

/// From now on, calls signed with `access_key` are authorized as IAM would authorize
/// `principal` (its ARN and its identity policy). Keys never bound are unrestricted.
pub fn bind(access_key: &str, principal: Principal) {
    state().rules.iam.bind(access_key, principal);
}

/// Every authorization made for calls signed with `access_key`, in order.
pub fn decisions(access_key: &str) -> Vec<Decision> {
    state().rules.iam.decisions(access_key)
}
