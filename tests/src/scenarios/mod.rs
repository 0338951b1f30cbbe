//! Per-function scenarios shared by the benchmark and the demo: what a function needs set up
//! in moto, its settings, and a real-shaped event to hand it.

pub mod autoscaler;
pub mod image_pruner;
pub mod provisioner;
pub mod redeployer;

use serde_json::Value;

/// One benchmark invocation: the function's settings (environment) and its event.
pub struct BenchCase {
    pub env: Vec<(String, String)>,
    pub event: Value,
}

/// The functions `make bench` knows, by binary name.
pub const FUNCTIONS: &[&str] = &["provisioner", "redeployer", "image-pruner", "autoscaler"];

pub async fn bench_case(function: &str, w: &crate::world::World) -> Option<BenchCase> {
    match function {
        "provisioner" => Some(provisioner::bench_case(w).await),
        "autoscaler" => Some(autoscaler::bench_case(w).await),
        "image-pruner" => Some(image_pruner::bench_case(w).await),
        "redeployer" => Some(redeployer::bench_case(w).await),
        _ => None,
    }
}
