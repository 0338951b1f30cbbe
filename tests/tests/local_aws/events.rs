//! Every sample event in events/ is one the functions accept.

use local_harness::moto::workspace_root;
use operator_common::custom_resource::{Request, RequestKind};
use provisioner::cluster::properties::ClusterSpec;
use provisioner::load_balancer::properties::LoadBalancerSpec;
use provisioner::repository::properties::RepositorySpec;
use provisioner::service::properties::ServiceSpec;
use serde_json::{Map, Value};

fn parses(resource_type: &str, props: &Map<String, Value>) -> Result<(), String> {
    let r = match resource_type {
        "Custom::Repository" => RepositorySpec::parse(props).map(|_| ()),
        "Custom::Cluster" => ClusterSpec::parse(props).map(|_| ()),
        "Custom::LoadBalancer" => LoadBalancerSpec::parse(props).map(|_| ()),
        "Custom::Service" => ServiceSpec::parse(props).map(|_| ()),
        other => return Err(format!("unknown type {other}")),
    };
    r.map_err(|e| e.to_string())
}

#[test]
fn provisioner_events_are_valid_requests_with_valid_properties() {
    let dir = workspace_root().join("events/provisioner");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let request = Request::parse(event).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        parses(&request.resource_type, &request.properties)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let RequestKind::Update { old_properties, .. } = &request.kind {
            parses(&request.resource_type, old_properties).unwrap();
        }
        // Every scalar is a string, as CloudFormation sends them.
        fn all_strings(v: &Value) -> bool {
            match v {
                Value::Array(a) => a.iter().all(all_strings),
                Value::Object(m) => m.values().all(all_strings),
                v => v.is_string(),
            }
        }
        assert!(
            all_strings(&Value::Object(request.properties.clone())),
            "{}",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 7, "found {seen} events");
}
