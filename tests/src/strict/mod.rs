//! The strict local AWS: a proxy in front of moto that every test and the demo talk to
//! (`moto::endpoint()` is its URL). It names each call as IAM does, injects the faults a test
//! asks for, and plays what AWS does that moto does not (see README, "Tests and the local AWS").

mod errors;
mod faults;
mod proxy;
pub mod request;

pub use faults::{Fault, FaultKind};

use proxy::State;
use std::sync::{Arc, OnceLock};

static STATE: OnceLock<Arc<State>> = OnceLock::new();
static URL: OnceLock<String> = OnceLock::new();

/// The rules the layer applies between naming a call and forwarding it.
#[derive(Default)]
pub struct Rules {}

impl Rules {
    /// An answer that refuses the call instead of forwarding it, if any.
    async fn before(
        &self,
        _state: &State,
        _call: &request::Call,
        _body: &[u8],
    ) -> Option<errors::Answer> {
        None
    }

    /// Moto's answer, as AWS would have given it.
    async fn after(
        &self,
        _state: &State,
        _call: &request::Call,
        _body: &[u8],
        answer: errors::Answer,
    ) -> errors::Answer {
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
                rules: Rules::default(),
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
