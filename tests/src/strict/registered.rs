//! What ECS stamps on every task definition revision and moto does not: `registeredAt`, when
//! RegisterTaskDefinition made it (the redeployer compares it with an image's push time).
//! Revisions registered around the layer (straight into moto) stay unstamped, as moto leaves
//! them. Pure: the proxy hands in each successful ECS answer with the time.

use serde_json::{json, Value};
use std::collections::HashMap;

#[derive(Default)]
pub struct Registered {
    /// Epoch seconds (milliseconds kept, as ECS gives them) by revision ARN.
    at: HashMap<String, f64>,
}

impl Registered {
    pub fn after(&mut self, operation: &str, answer: &mut Value, now: f64) {
        let td = &mut answer["taskDefinition"];
        let Some(arn) = td["taskDefinitionArn"].as_str().map(str::to_string) else {
            return;
        };
        match operation {
            "RegisterTaskDefinition" => {
                self.at.insert(arn.clone(), (now * 1000.0).floor() / 1000.0);
            }
            "DescribeTaskDefinition" | "DeregisterTaskDefinition" => {}
            _ => return,
        }
        if let Some(at) = self.at.get(&arn) {
            td["registeredAt"] = json!(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revision_keeps_the_time_it_was_registered() {
        let mut r = Registered::default();
        let arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2";
        let answer = || json!({"taskDefinition": {"taskDefinitionArn": arn}});
        let mut registered = answer();
        r.after(
            "RegisterTaskDefinition",
            &mut registered,
            1_700_000_000.123_45,
        );
        assert_eq!(
            registered["taskDefinition"]["registeredAt"],
            1_700_000_000.123
        );
        let mut described = answer();
        r.after("DescribeTaskDefinition", &mut described, 1_700_000_100.0);
        assert_eq!(
            described["taskDefinition"]["registeredAt"],
            1_700_000_000.123
        );

        let mut unknown = json!({"taskDefinition": {"taskDefinitionArn": "…/web:1"}});
        r.after("DescribeTaskDefinition", &mut unknown, 1_700_000_100.0);
        assert_eq!(
            unknown["taskDefinition"].get("registeredAt"),
            None,
            "as moto left it"
        );
        let mut other = answer();
        r.after("UpdateService", &mut other, 1.0);
        assert_eq!(other["taskDefinition"].get("registeredAt"), None);
    }
}
