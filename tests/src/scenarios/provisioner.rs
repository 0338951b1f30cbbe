//! The provisioner's benchmark: a repository Create against moto, answered to a local URL.

use super::BenchCase;
use crate::world::World;

pub async fn bench_case(w: &World) -> BenchCase {
    let pending = w.cfn.request(
        "Create",
        "Custom::Repository",
        "Repository",
        &w.repository_props(),
        None,
        None,
    );
    BenchCase {
        env: Vec::new(),
        event: pending.event,
    }
}
