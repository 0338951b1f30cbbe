//! AWS's slowness where it matters to us, which moto skips: a deleted service stays DRAINING
//! for a while (its tasks drain from the target group), and while it does it blocks
//! DeleteCluster and a CreateService of the same name; and the first CreateCluster with
//! capacity providers of an account fails once, while ECS creates its service-linked role.
//! Pure: the proxy hands in each ECS request (and moto's answer) with the time.

use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// An ECS error the layer answers instead of moto: (exception, message).
pub type Refusal = (&'static str, &'static str);

pub const CLUSTER_CONTAINS_SERVICES: Refusal = (
    "ClusterContainsServicesException",
    "The Cluster cannot be deleted while Services are active.",
);
pub const STILL_DRAINING: Refusal = (
    "InvalidParameterException",
    "Unable to Start a service that is still Draining.",
);
pub const SERVICE_LINKED_ROLE: Refusal = (
    "InvalidParameterException",
    "Unable to assume the service linked role. Please verify that the ECS service linked role exists.",
);

#[derive(Debug)]
pub struct Draining {
    pub drain: Duration,
    /// (cluster name, service name, DRAINING until).
    services: Vec<(String, String, Instant)>,
    /// Accounts whose service-linked role exists (their first such CreateCluster failed).
    linked_role: BTreeSet<String>,
}

/// The name in a name-or-ARN (`arn:aws:ecs:…:service/cluster/web` → `web`).
pub fn short(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}

fn cluster_of(body: &Value) -> String {
    short(body["cluster"].as_str().unwrap_or("default")).to_string()
}

impl Draining {
    pub fn new(drain: Duration) -> Draining {
        Draining {
            drain,
            services: Vec::new(),
            linked_role: BTreeSet::new(),
        }
    }

    fn draining(&self, cluster: &str, service: &str, now: Instant) -> bool {
        self.services
            .iter()
            .any(|(c, s, until)| c == cluster && s == service && *until > now)
    }

    /// The refusal AWS would answer to this ECS call now, if any.
    pub fn before(
        &mut self,
        operation: &str,
        account: &str,
        body: &Value,
        now: Instant,
    ) -> Option<Refusal> {
        self.services.retain(|(_, _, until)| *until > now);
        match operation {
            "DeleteCluster" => {
                let cluster = cluster_of(body);
                self.services
                    .iter()
                    .any(|(c, _, _)| *c == cluster)
                    .then_some(CLUSTER_CONTAINS_SERVICES)
            }
            "CreateService" => {
                let service = body["serviceName"].as_str().unwrap_or_default();
                self.draining(&cluster_of(body), service, now)
                    .then_some(STILL_DRAINING)
            }
            "CreateCluster" => {
                let wants_providers = body["capacityProviders"]
                    .as_array()
                    .is_some_and(|p| !p.is_empty());
                (wants_providers && self.linked_role.insert(account.to_string()))
                    .then_some(SERVICE_LINKED_ROLE)
            }
            _ => None,
        }
    }

    /// moto's successful answer to this ECS call, as AWS gives it (statuses DRAINING).
    pub fn after(&mut self, operation: &str, body: &Value, answer: &mut Value, now: Instant) {
        match operation {
            "DeleteService" => {
                if let Some(service) = body["service"].as_str() {
                    let (cluster, service) = (cluster_of(body), short(service).to_string());
                    self.services
                        .retain(|(c, s, _)| !(*c == cluster && *s == service));
                    self.services.push((cluster, service, now + self.drain));
                }
                self.mark(&mut answer["service"], now);
            }
            "DescribeServices" => {
                if let Some(services) = answer["services"].as_array_mut() {
                    services.iter_mut().for_each(|s| self.mark(s, now));
                }
            }
            _ => {}
        }
    }

    fn mark(&self, service: &mut Value, now: Instant) {
        let cluster = short(service["clusterArn"].as_str().unwrap_or("default")).to_string();
        let name = service["serviceName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if service["status"] == "INACTIVE" && self.draining(&cluster, &name, now) {
            service["status"] = "DRAINING".into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const S: Duration = Duration::from_secs(3);

    fn deleted(d: &mut Draining, now: Instant) -> Value {
        let mut answer = json!({"service": {"serviceName": "web", "status": "INACTIVE",
            "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/sky"}});
        d.after("DeleteService", &json!({"cluster": "sky", "service": "arn:aws:ecs:us-east-1:123456789012:service/sky/web"}), &mut answer, now);
        answer
    }

    fn described(d: &mut Draining, now: Instant) -> String {
        let mut answer = json!({"services": [{"serviceName": "web", "status": "INACTIVE",
            "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/sky"}]});
        d.after(
            "DescribeServices",
            &json!({"cluster": "sky", "services": ["web"]}),
            &mut answer,
            now,
        );
        answer["services"][0]["status"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_deleted_service_drains_then_is_inactive() {
        let (mut d, t) = (Draining::new(S), Instant::now());
        assert_eq!(deleted(&mut d, t)["service"]["status"], "DRAINING");
        assert_eq!(described(&mut d, t + Duration::from_secs(2)), "DRAINING");
        assert_eq!(described(&mut d, t + S), "INACTIVE");
    }

    #[test]
    fn while_it_drains_its_cluster_cannot_be_deleted_nor_its_name_reused() {
        let (mut d, t) = (Draining::new(S), Instant::now());
        deleted(&mut d, t);
        let soon = t + Duration::from_secs(1);
        assert_eq!(
            d.before(
                "DeleteCluster",
                "a",
                &json!({"cluster": "arn:aws:ecs:us-east-1:1:cluster/sky"}),
                soon
            ),
            Some(CLUSTER_CONTAINS_SERVICES)
        );
        assert_eq!(
            d.before("DeleteCluster", "a", &json!({"cluster": "other"}), soon),
            None
        );
        assert_eq!(
            d.before(
                "CreateService",
                "a",
                &json!({"cluster": "sky", "serviceName": "web"}),
                soon
            ),
            Some(STILL_DRAINING)
        );
        assert_eq!(
            d.before(
                "CreateService",
                "a",
                &json!({"cluster": "sky", "serviceName": "api"}),
                soon
            ),
            None
        );
        assert_eq!(
            d.before(
                "CreateService",
                "a",
                &json!({"cluster": "other", "serviceName": "web"}),
                soon
            ),
            None
        );
        assert_eq!(
            d.before("DeleteCluster", "a", &json!({"cluster": "sky"}), t + S),
            None
        );
        assert_eq!(
            d.before(
                "CreateService",
                "a",
                &json!({"cluster": "sky", "serviceName": "web"}),
                t + S
            ),
            None
        );
    }

    #[test]
    fn active_services_are_never_rewritten() {
        let (mut d, t) = (Draining::new(S), Instant::now());
        deleted(&mut d, t);
        let mut answer = json!({"services": [{"serviceName": "web", "status": "ACTIVE",
            "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/sky"}]});
        d.after("DescribeServices", &json!({}), &mut answer, t);
        assert_eq!(answer["services"][0]["status"], "ACTIVE");
    }

    #[test]
    fn the_service_linked_role_fails_the_first_capacity_provider_cluster_per_account_once() {
        let (mut d, t) = (Draining::new(S), Instant::now());
        let plain = json!({"clusterName": "c"});
        let providers = json!({"clusterName": "c", "capacityProviders": ["FARGATE"]});
        assert_eq!(d.before("CreateCluster", "a", &plain, t), None);
        assert_eq!(
            d.before("CreateCluster", "a", &providers, t),
            Some(SERVICE_LINKED_ROLE)
        );
        assert_eq!(d.before("CreateCluster", "a", &providers, t), None);
        assert_eq!(
            d.before("CreateCluster", "b", &providers, t),
            Some(SERVICE_LINKED_ROLE)
        );
    }

    proptest::proptest! {
        /// A model: a service drains from its last delete for `drain`; a cluster is blocked
        /// while any of its services drains; a name is blocked while it drains.
        #[test]
        fn draining_follows_the_last_delete_of_each_service(
            deletes in proptest::collection::vec((0usize..3, 0usize..2, 0u64..10_000), 0..12),
            query in 0u64..15_000,
        ) {
            let start = Instant::now();
            let mut d = Draining::new(S);
            let mut deletes = deletes;
            deletes.sort_by_key(|(_, _, at)| *at);
            let mut last: std::collections::BTreeMap<(usize, usize), u64> = Default::default();
            for (service, cluster, at) in &deletes {
                let body = json!({"cluster": format!("c{cluster}"), "service": format!("s{service}")});
                d.after("DeleteService", &body, &mut json!({}), start + Duration::from_millis(*at));
                last.insert((*cluster, *service), *at);
            }
            let now = start + Duration::from_millis(query);
            let drains = |c: usize, s: usize| last.get(&(c, s)).is_some_and(|at| at + 3_000 > query);
            for c in 0..2 {
                for s in 0..3 {
                    let create = json!({"cluster": format!("c{c}"), "serviceName": format!("s{s}")});
                    let refused = d.before("CreateService", "a", &create, now);
                    proptest::prop_assert_eq!(refused.is_some(), drains(c, s));
                }
                let delete = d.before("DeleteCluster", "a", &json!({"cluster": format!("c{c}")}), now);
                proptest::prop_assert_eq!(delete.is_some(), (0..3).any(|s| drains(c, s)));
            }
        }
    }
}
