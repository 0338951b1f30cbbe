//! The pure decision for a load balancer, its target group and its listeners.

use super::properties::{HealthCheck, LoadBalancerSpec};
use crate::ownership::Ownership;

/// Create or Update (a Delete needs no spec: see [`plan_delete`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one per invocation
pub enum Phase {
    Create,
    Update { old: Option<LoadBalancerSpec> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerState {
    pub arn: String,
    pub name: String,
    pub scheme: String,
    pub vpc_id: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub dns_name: String,
    pub hosted_zone_id: String,
    /// Attribute `routing.http.drop_invalid_header_fields.enabled` (false until read).
    pub drops_invalid_header_fields: bool,
    /// Attribute `access_logs.s3.bucket` while `access_logs.s3.enabled` is true; None when
    /// access logs are off (and until read).
    pub access_logs_bucket: Option<String>,
    pub ownership: Ownership,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupState {
    pub arn: String,
    pub port: i32,
    pub vpc_id: String,
    pub health_check: HealthCheck,
    pub name: String,
    pub ownership: Ownership,
}

/// What a listener does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerAction {
    /// To the target group.
    Forward,
    RedirectToHttps,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    pub port: i32,
    /// HTTP or HTTPS.
    pub protocol: String,
    pub certificate_arn: Option<String>,
    /// The security policy of an HTTPS listener; None for HTTP.
    pub ssl_policy: Option<String>,
    pub action: ListenerAction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerState {
    pub arn: String,
    pub spec: ListenerSpec,
}

/// Everything that exists under the spec's names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Current {
    pub load_balancer: Option<LoadBalancerState>,
    pub target_group: Option<TargetGroupState>,
    pub listeners: Vec<ListenerState>,
}

/// A load balancer attribute the provisioner converges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// `routing.http.drop_invalid_header_fields.enabled` = true: header names outside
    /// `[-A-Za-z0-9]+` never reach the tasks (request smuggling).
    DropInvalidHeaderFields,
    /// `access_logs.s3.enabled` = true and `access_logs.s3.bucket` = the bucket.
    AccessLogsTo(String),
    /// `access_logs.s3.enabled` = false.
    NoAccessLogs,
}

/// Steps in dependency order. The load balancer's and target group's ARNs are tracked by
/// whoever carries the plan out (a new one is only known once created).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    CreateLoadBalancer,
    /// One ModifyLoadBalancerAttributes with all of them, never empty; it leaves the attributes
    /// it is not given as they are.
    SetAttributes(Vec<Attribute>),
    SetSubnets(Vec<String>),
    SetSecurityGroups(Vec<String>),
    CreateTargetGroup,
    ModifyHealthCheck(HealthCheck),
    /// ModifyTargetGroupAttributes `deregistration_delay.timeout_seconds`.
    SetDeregistrationDelay(i32),
    CreateListener(ListenerSpec),
    ModifyListener {
        arn: String,
        spec: ListenerSpec,
    },
    DeleteListener {
        arn: String,
    },
    DeleteLoadBalancer {
        arn: String,
    },
    DeleteTargetGroup {
        arn: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
}

/// Deleting the load balancer deletes its listeners; the target group is then free to go.
/// What this stack did not make stays.
pub fn plan_delete(current: &Current) -> Vec<Action> {
    let mut actions = Vec::new();
    if let Some(lb) = current
        .load_balancer
        .as_ref()
        .filter(|l| l.ownership.is_ours())
    {
        actions.push(Action::DeleteLoadBalancer {
            arn: lb.arn.clone(),
        });
    }
    if let Some(tg) = current
        .target_group
        .as_ref()
        .filter(|t| t.ownership.is_ours())
    {
        actions.push(Action::DeleteTargetGroup {
            arn: tg.arn.clone(),
        });
    }
    actions
}

/// The Delete's reason when it left something alone.
pub fn delete_note(current: &Current) -> Option<String> {
    let lb = current
        .load_balancer
        .as_ref()
        .filter(|l| !l.ownership.is_ours())
        .map(|l| l.ownership.left_alone(&format!("load balancer {}", l.name)));
    let tg = current
        .target_group
        .as_ref()
        .filter(|t| !t.ownership.is_ours())
        .map(|t| t.ownership.left_alone(&format!("target group {}", t.name)));
    let notes: Vec<String> = lb.into_iter().chain(tg).collect();
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// The listeners the spec asks for: 80 forwarding, or with a certificate 443 forwarding (under
/// the spec's TLS policy) and 80 redirecting to it.
pub fn desired_listeners(spec: &LoadBalancerSpec) -> Vec<ListenerSpec> {
    match &spec.certificate_arn {
        None => vec![ListenerSpec {
            port: 80,
            protocol: "HTTP".into(),
            certificate_arn: None,
            ssl_policy: None,
            action: ListenerAction::Forward,
        }],
        Some(cert) => vec![
            ListenerSpec {
                port: 80,
                protocol: "HTTP".into(),
                certificate_arn: None,
                ssl_policy: None,
                action: ListenerAction::RedirectToHttps,
            },
            ListenerSpec {
                port: 443,
                protocol: "HTTPS".into(),
                certificate_arn: Some(cert.clone()),
                ssl_policy: Some(spec.ssl_policy.clone()),
                action: ListenerAction::Forward,
            },
        ],
    }
}

/// The attributes whose observed value differs from the spec's: the header drop is always on,
/// access logs go to the spec's bucket or are off. `lb` is None for a load balancer about to be
/// created, which has ELB's defaults (neither).
fn attributes_to_set(spec: &LoadBalancerSpec, lb: Option<&LoadBalancerState>) -> Vec<Attribute> {
    let (drops, logs) = lb.map_or((false, None), |l| {
        (l.drops_invalid_header_fields, l.access_logs_bucket.as_ref())
    });
    let mut set = Vec::new();
    if !drops {
        set.push(Attribute::DropInvalidHeaderFields);
    }
    // A bucket changed by hand (in the console) is converged back too.
    if spec.access_logs_bucket.as_ref() != logs {
        set.push(match &spec.access_logs_bucket {
            Some(bucket) => Attribute::AccessLogsTo(bucket.clone()),
            None => Attribute::NoAccessLogs,
        });
    }
    set
}

fn same_set(a: &[String], b: &[String]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    a == b
}

/// Decides the steps, or refuses a change that would need a replacement under the same name
/// (ELB names are unique per region, so a replacement needs a new Name).
pub fn plan(phase: &Phase, spec: &LoadBalancerSpec, current: &Current) -> Result<Plan, String> {
    let mut actions = Vec::new();
    if let Some(lb) = current
        .load_balancer
        .as_ref()
        .filter(|l| !l.ownership.is_ours())
    {
        return Err(lb
            .ownership
            .refusal(&format!("load balancer {}", lb.name), "Name"));
    }
    if let Some(tg) = current
        .target_group
        .as_ref()
        .filter(|t| !t.ownership.is_ours())
    {
        return Err(tg
            .ownership
            .refusal(&format!("target group {}", tg.name), "Name"));
    }
    match &current.load_balancer {
        None => {
            actions.push(Action::CreateLoadBalancer);
            // Before any listener exists: no request ever reaches a task with a bad header.
            actions.push(Action::SetAttributes(attributes_to_set(spec, None)));
        }
        Some(lb) => {
            for (property, want, have) in [
                ("Scheme", &spec.scheme, &lb.scheme),
                ("VpcId", &spec.vpc_id, &lb.vpc_id),
            ] {
                if want != have {
                    return Err(format!(
                        "load balancer {} exists with {property} {have}; changing it to {want} needs a new load balancer, \
                         and ELB names are unique: change Name too",
                        spec.name
                    ));
                }
            }
            // Converged from what ELB says, so a load balancer made before the header drop gets
            // it, and still before any listener this plan creates.
            let attributes = attributes_to_set(spec, Some(lb));
            if !attributes.is_empty() {
                actions.push(Action::SetAttributes(attributes));
            }
            if !same_set(&lb.subnets, &spec.subnets) {
                actions.push(Action::SetSubnets(spec.subnets.clone()));
            }
            if !same_set(&lb.security_groups, &spec.security_groups) {
                actions.push(Action::SetSecurityGroups(spec.security_groups.clone()));
            }
        }
    }
    let old = match phase {
        Phase::Update { old: Some(old) } => Some(old),
        _ => None,
    };
    match &current.target_group {
        None => {
            actions.push(Action::CreateTargetGroup);
            actions.push(Action::SetDeregistrationDelay(
                spec.deregistration_delay_seconds,
            ));
        }
        Some(tg) => {
            if tg.port != spec.target_port || tg.vpc_id != spec.vpc_id {
                return Err(format!(
                    "target group {} exists with port {} in {}; changing TargetPort or VpcId needs a new target group: change Name too",
                    spec.target_group_name(),
                    tg.port,
                    tg.vpc_id
                ));
            }
            if tg.health_check != spec.health_check {
                actions.push(Action::ModifyHealthCheck(spec.health_check.clone()));
            }
            // Restated when adopting (a retried Create), else only when the template changed it.
            if old
                .is_none_or(|o| o.deregistration_delay_seconds != spec.deregistration_delay_seconds)
            {
                actions.push(Action::SetDeregistrationDelay(
                    spec.deregistration_delay_seconds,
                ));
            }
        }
    }

    let desired = desired_listeners(spec);
    for want in &desired {
        match current.listeners.iter().find(|l| l.spec.port == want.port) {
            None => actions.push(Action::CreateListener(want.clone())),
            Some(have) if have.spec != *want => actions.push(Action::ModifyListener {
                arn: have.arn.clone(),
                spec: want.clone(),
            }),
            Some(_) => {}
        }
    }
    // The HTTPS listener goes when the certificate does; listeners on other ports are the user's.
    for have in &current.listeners {
        if have.spec.port == 443 && !desired.iter().any(|d| d.port == 443) {
            actions.push(Action::DeleteListener {
                arn: have.arn.clone(),
            });
        }
    }
    Ok(Plan { actions })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn spec() -> LoadBalancerSpec {
        LoadBalancerSpec::parse(
            json!({"Name": "sky", "VpcId": "vpc-1", "Subnets": ["s-a", "s-b"], "SecurityGroups": ["sg-1"]})
                .as_object()
                .unwrap(),
        )
        .unwrap()
    }

    fn existing(spec: &LoadBalancerSpec) -> Current {
        Current {
            load_balancer: Some(LoadBalancerState {
                arn: "arn:lb".into(),
                name: spec.name.clone(),
                scheme: spec.scheme.clone(),
                vpc_id: spec.vpc_id.clone(),
                subnets: spec.subnets.iter().rev().cloned().collect(),
                security_groups: spec.security_groups.clone(),
                dns_name: "sky-1.us-east-1.elb.amazonaws.com".into(),
                hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
                drops_invalid_header_fields: true,
                access_logs_bucket: spec.access_logs_bucket.clone(),
                ownership: Ownership::Ours,
            }),
            target_group: Some(TargetGroupState {
                arn: "arn:tg".into(),
                port: spec.target_port,
                vpc_id: spec.vpc_id.clone(),
                health_check: spec.health_check.clone(),
                name: spec.target_group_name(),
                ownership: Ownership::Ours,
            }),
            listeners: desired_listeners(spec)
                .into_iter()
                .enumerate()
                .map(|(i, spec)| ListenerState {
                    arn: format!("arn:listener/{i}"),
                    spec,
                })
                .collect(),
        }
    }

    #[test]
    fn create_builds_everything_in_order() {
        let p = plan(&Phase::Create, &spec(), &Current::default()).unwrap();
        assert_eq!(
            p.actions,
            vec![
                Action::CreateLoadBalancer,
                Action::SetAttributes(vec![Attribute::DropInvalidHeaderFields]),
                Action::CreateTargetGroup,
                Action::SetDeregistrationDelay(30),
                Action::CreateListener(desired_listeners(&spec())[0].clone())
            ]
        );
    }

    #[test]
    fn a_repeated_create_restates_the_delay_and_an_unchanged_update_does_nothing() {
        let s = spec();
        assert_eq!(
            plan(&Phase::Create, &s, &existing(&s)).unwrap().actions,
            vec![Action::SetDeregistrationDelay(30)]
        );
        let update = Phase::Update {
            old: Some(s.clone()),
        };
        assert!(plan(&update, &s, &existing(&s)).unwrap().actions.is_empty());
    }

    #[test]
    fn adding_a_certificate_redirects_80_and_adds_443() {
        let old = spec();
        let mut new = spec();
        new.certificate_arn = Some("arn:aws:acm:us-east-1:123456789012:certificate/abc".into());
        let p = plan(
            &Phase::Update {
                old: Some(old.clone()),
            },
            &new,
            &existing(&old),
        )
        .unwrap();
        assert_eq!(p.actions.len(), 2);
        assert!(
            matches!(&p.actions[0], Action::ModifyListener { spec, .. } if spec.action == ListenerAction::RedirectToHttps)
        );
        assert!(matches!(&p.actions[1], Action::CreateListener(l) if l.port == 443));
        // And removing it again deletes 443 and forwards 80.
        let back = plan(
            &Phase::Update {
                old: Some(new.clone()),
            },
            &old,
            &existing(&new),
        )
        .unwrap();
        assert!(back.actions.contains(&Action::DeleteListener {
            arn: "arn:listener/1".into()
        }));
        assert!(
            matches!(&back.actions[0], Action::ModifyListener { spec, .. } if spec.action == ListenerAction::Forward)
        );
    }

    #[test]
    fn in_place_changes_touch_only_what_changed() {
        let old = spec();
        let mut new = spec();
        new.subnets.push("s-c".into());
        new.health_check.path = "/health".into();
        new.access_logs_bucket = Some("logs".into());
        let p = plan(
            &Phase::Update {
                old: Some(old.clone()),
            },
            &new,
            &existing(&old),
        )
        .unwrap();
        assert_eq!(
            p.actions,
            vec![
                Action::SetAttributes(vec![Attribute::AccessLogsTo("logs".into())]),
                Action::SetSubnets(new.subnets.clone()),
                Action::ModifyHealthCheck(new.health_check.clone()),
            ]
        );
        let mut quicker = old.clone();
        quicker.deregistration_delay_seconds = 5;
        let p = plan(
            &Phase::Update {
                old: Some(old.clone()),
            },
            &quicker,
            &existing(&old),
        )
        .unwrap();
        assert_eq!(p.actions, vec![Action::SetDeregistrationDelay(5)]);
    }

    #[test]
    fn what_this_stack_did_not_make_is_refused_and_left_alone() {
        let s = spec();
        let mut foreign = existing(&s);
        foreign.load_balancer.as_mut().unwrap().ownership = Ownership::Untagged;
        for phase in [
            Phase::Create,
            Phase::Update {
                old: Some(s.clone()),
            },
        ] {
            let err = plan(&phase, &s, &foreign).unwrap_err();
            assert!(
                err.contains("load balancer sky") && err.contains("Name"),
                "{err}"
            );
        }
        assert_eq!(
            plan_delete(&foreign),
            vec![Action::DeleteTargetGroup {
                arn: "arn:tg".into()
            }]
        );
        assert!(delete_note(&foreign).unwrap().contains("left it alone"));
        assert_eq!(delete_note(&existing(&s)), None);
        let mut foreign_tg = existing(&s);
        foreign_tg.target_group.as_mut().unwrap().ownership = Ownership::OtherStack {
            stack_id: "arn:other".into(),
        };
        assert!(plan(&Phase::Create, &s, &foreign_tg)
            .unwrap_err()
            .contains("target group sky-tg"));
    }

    #[test]
    fn a_replacement_under_the_same_name_is_refused_with_the_property() {
        let old = spec();
        let mut new = spec();
        new.scheme = "internal".into();
        let err = plan(
            &Phase::Update {
                old: Some(old.clone()),
            },
            &new,
            &existing(&old),
        )
        .unwrap_err();
        assert!(err.contains("Scheme") && err.contains("Name"), "{err}");
        let mut new = spec();
        new.target_port = 8080;
        let err = plan(
            &Phase::Update {
                old: Some(old.clone()),
            },
            &new,
            &existing(&old),
        )
        .unwrap_err();
        assert!(err.contains("TargetPort"), "{err}");
    }

    fn with_certificate(policy: Option<&str>) -> LoadBalancerSpec {
        let mut props = json!({"Name": "sky", "VpcId": "vpc-1", "Subnets": ["s-a", "s-b"],
            "SecurityGroups": ["sg-1"], "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc"});
        if let Some(p) = policy {
            props["SslPolicy"] = json!(p);
        }
        LoadBalancerSpec::parse(props.as_object().unwrap()).unwrap()
    }

    #[test]
    fn a_load_balancer_without_the_header_drop_gets_it_on_any_create_or_update() {
        let s = spec();
        let mut before = existing(&s);
        before
            .load_balancer
            .as_mut()
            .unwrap()
            .drops_invalid_header_fields = false;
        let update = Phase::Update {
            old: Some(s.clone()),
        };
        let drop = Action::SetAttributes(vec![Attribute::DropInvalidHeaderFields]);
        assert_eq!(
            plan(&update, &s, &before).unwrap().actions,
            vec![drop.clone()]
        );
        assert!(plan(&Phase::Create, &s, &before)
            .unwrap()
            .actions
            .contains(&drop));
        assert!(!plan(&update, &s, &existing(&s))
            .unwrap()
            .actions
            .iter()
            .any(|a| matches!(a, Action::SetAttributes(_))));
    }

    fn with_bucket(bucket: &str) -> LoadBalancerSpec {
        let mut s = spec();
        s.access_logs_bucket = Some(bucket.into());
        s
    }

    #[test]
    fn a_create_with_a_bucket_sets_all_its_attributes_in_one_call_before_any_listener() {
        let s = with_bucket("logs");
        let p = plan(&Phase::Create, &s, &Current::default()).unwrap();
        assert_eq!(
            p.actions[..2],
            [
                Action::CreateLoadBalancer,
                Action::SetAttributes(vec![
                    Attribute::DropInvalidHeaderFields,
                    Attribute::AccessLogsTo("logs".into())
                ])
            ]
        );
        assert_eq!(
            p.actions
                .iter()
                .filter(|a| matches!(a, Action::SetAttributes(_)))
                .count(),
            1
        );
    }

    #[test]
    fn access_logs_on_into_the_spec_bucket_plan_nothing() {
        let s = with_bucket("logs");
        let current = existing(&s);
        assert_eq!(
            current.load_balancer.as_ref().unwrap().access_logs_bucket,
            Some("logs".into())
        );
        let update = Phase::Update {
            old: Some(s.clone()),
        };
        assert!(plan(&update, &s, &current).unwrap().actions.is_empty());
        // A repeated Create (adopting) restates only the delay.
        assert_eq!(
            plan(&Phase::Create, &s, &current).unwrap().actions,
            vec![Action::SetDeregistrationDelay(30)]
        );
    }

    #[test]
    fn a_bucket_changed_by_hand_is_converged_back_on_any_update() {
        let s = with_bucket("logs");
        let mut by_hand = existing(&s);
        by_hand.load_balancer.as_mut().unwrap().access_logs_bucket = Some("elsewhere".into());
        // The template did not change: the old properties no longer decide.
        let update = Phase::Update {
            old: Some(s.clone()),
        };
        assert_eq!(
            plan(&update, &s, &by_hand).unwrap().actions,
            vec![Action::SetAttributes(vec![Attribute::AccessLogsTo(
                "logs".into()
            )])]
        );
        // Turned off by hand: on again.
        by_hand.load_balancer.as_mut().unwrap().access_logs_bucket = None;
        assert_eq!(
            plan(&update, &s, &by_hand).unwrap().actions,
            vec![Action::SetAttributes(vec![Attribute::AccessLogsTo(
                "logs".into()
            )])]
        );
    }

    #[test]
    fn a_spec_without_a_bucket_turns_observed_access_logs_off() {
        let s = spec();
        let mut logging = existing(&with_bucket("logs"));
        logging
            .load_balancer
            .as_mut()
            .unwrap()
            .drops_invalid_header_fields = false;
        // Removed from the template, or turned on by hand: either way off, with the header drop
        // in the same call.
        for old in [Some(with_bucket("logs")), Some(s.clone()), None] {
            assert_eq!(
                plan(&Phase::Update { old }, &s, &logging).unwrap().actions[0],
                Action::SetAttributes(vec![
                    Attribute::DropInvalidHeaderFields,
                    Attribute::NoAccessLogs
                ])
            );
        }
    }

    #[test]
    fn the_https_listener_carries_the_policy_and_converges_in_place() {
        let s = with_certificate(None);
        let https = &desired_listeners(&s)[1];
        assert_eq!(
            (https.port, https.ssl_policy.as_deref()),
            (443, Some(super::super::properties::DEFAULT_SSL_POLICY))
        );
        assert_eq!(
            desired_listeners(&s)[0].ssl_policy,
            None,
            "80 is plain HTTP"
        );
        // A listener made under CreateListener's default policy is moved onto ours.
        let mut legacy = existing(&s);
        legacy.listeners[1].spec.ssl_policy = Some("ELBSecurityPolicy-2016-08".into());
        let p = plan(
            &Phase::Update {
                old: Some(s.clone()),
            },
            &s,
            &legacy,
        )
        .unwrap();
        assert_eq!(
            p.actions,
            vec![Action::ModifyListener {
                arn: "arn:listener/1".into(),
                spec: https.clone()
            }]
        );
        // A new SslPolicy in the template changes 443 only.
        let strict = with_certificate(Some("ELBSecurityPolicy-TLS13-1-3-2021-06"));
        let p = plan(
            &Phase::Update {
                old: Some(s.clone()),
            },
            &strict,
            &existing(&s),
        )
        .unwrap();
        assert_eq!(p.actions.len(), 1);
        assert!(matches!(&p.actions[0], Action::ModifyListener { arn, spec }
            if arn == "arn:listener/1" && spec.ssl_policy.as_deref() == Some("ELBSecurityPolicy-TLS13-1-3-2021-06")));
    }

    /// What ELB would hold after `actions` (listeners and attributes only).
    fn apply(current: &Current, spec: &LoadBalancerSpec, actions: &[Action]) -> Current {
        let mut after = current.clone();
        for action in actions {
            match action {
                Action::CreateLoadBalancer => {
                    let mut lb = existing(spec).load_balancer.unwrap();
                    lb.drops_invalid_header_fields = false;
                    lb.access_logs_bucket = None;
                    after.load_balancer = Some(lb);
                }
                Action::SetAttributes(attributes) => {
                    let lb = after
                        .load_balancer
                        .as_mut()
                        .expect("after its load balancer");
                    for a in attributes {
                        match a {
                            Attribute::DropInvalidHeaderFields => {
                                lb.drops_invalid_header_fields = true
                            }
                            Attribute::AccessLogsTo(b) => lb.access_logs_bucket = Some(b.clone()),
                            Attribute::NoAccessLogs => lb.access_logs_bucket = None,
                        }
                    }
                }
                Action::CreateTargetGroup => after.target_group = existing(spec).target_group,
                Action::CreateListener(l) => {
                    assert!(after.listeners.iter().all(|h| h.spec.port != l.port));
                    after.listeners.push(ListenerState {
                        arn: format!("arn:new/{}", l.port),
                        spec: l.clone(),
                    })
                }
                Action::ModifyListener { arn, spec } => {
                    let l = after.listeners.iter_mut().find(|l| l.arn == *arn).unwrap();
                    l.spec = spec.clone();
                }
                Action::DeleteListener { arn } => after.listeners.retain(|l| l.arn != *arn),
                _ => {}
            }
        }
        after
    }

    fn listener_strategy() -> impl Strategy<Value = ListenerState> {
        (
            prop::sample::select(vec![80, 443, 8080]),
            any::<bool>(),
            prop::option::of(prop::sample::select(vec![
                "ELBSecurityPolicy-2016-08",
                "ELBSecurityPolicy-TLS13-1-2-2021-06",
                super::super::properties::DEFAULT_SSL_POLICY,
            ])),
            any::<bool>(),
        )
            .prop_map(|(port, https, policy, redirect)| ListenerState {
                arn: format!("arn:listener/{port}"),
                spec: ListenerSpec {
                    port,
                    protocol: if https { "HTTPS" } else { "HTTP" }.into(),
                    certificate_arn: https
                        .then(|| "arn:aws:acm:us-east-1:1:certificate/old".into()),
                    ssl_policy: policy.map(str::to_string),
                    action: if redirect {
                        ListenerAction::RedirectToHttps
                    } else {
                        ListenerAction::Forward
                    },
                },
            })
    }

    proptest! {
        /// Whatever ELB holds (no load balancer, one without the header drop, access logs off
        /// or into any bucket, any listeners under any policy), one plan ends on the desired
        /// listeners and attributes, setting the attributes in at most one call before any
        /// listener, and the next plan has nothing left to do for them.
        #[test]
        fn any_state_converges_in_one_plan(
            exists in any::<bool>(),
            drops in any::<bool>(),
            logging in prop::option::of(prop::sample::select(vec!["logs", "elsewhere"])),
            bucket in prop::option::of(prop::sample::select(vec!["logs", "elsewhere"])),
            listeners in prop::collection::btree_map(prop::sample::select(vec![80, 443, 8080]), listener_strategy(), 0..3),
            cert in any::<bool>(),
            policy in prop::option::of(prop::sample::select(vec![
                "ELBSecurityPolicy-TLS13-1-3-2021-06",
                "ELBSecurityPolicy-TLS13-1-2-2021-06",
            ])),
        ) {
            let mut s = if cert { with_certificate(policy) } else { spec() };
            s.access_logs_bucket = bucket.map(str::to_string);
            let mut current = existing(&s);
            if exists {
                let lb = current.load_balancer.as_mut().unwrap();
                lb.drops_invalid_header_fields = drops;
                lb.access_logs_bucket = logging.map(str::to_string);
                current.listeners = listeners.into_iter().map(|(port, mut l)| {
                    l.spec.port = port;
                    l.arn = format!("arn:listener/{port}");
                    l
                }).collect();
            } else {
                current = Current::default();
            }
            let phase = Phase::Update { old: Some(s.clone()) };
            let first = plan(&phase, &s, &current).unwrap();
            let attribute_steps: Vec<usize> = first.actions.iter().enumerate()
                .filter(|(_, a)| matches!(a, Action::SetAttributes(_)))
                .map(|(i, _)| i)
                .collect();
            prop_assert!(attribute_steps.len() <= 1, "{:?}", first.actions);
            if let Some(&i) = attribute_steps.first() {
                prop_assert!(!matches!(&first.actions[i], Action::SetAttributes(a) if a.is_empty()));
                prop_assert!(
                    !first.actions[..i].iter().any(|a| matches!(a, Action::CreateListener(_) | Action::ModifyListener { .. })),
                    "{:?}", first.actions
                );
            }
            let after = apply(&current, &s, &first.actions);
            let lb = after.load_balancer.as_ref().unwrap();
            prop_assert!(lb.drops_invalid_header_fields);
            prop_assert_eq!(&lb.access_logs_bucket, &s.access_logs_bucket);
            let mut ours: Vec<ListenerSpec> = after.listeners.iter()
                .filter(|l| l.spec.port != 8080)
                .map(|l| l.spec.clone())
                .collect();
            ours.sort_by_key(|l| l.port);
            prop_assert_eq!(ours, desired_listeners(&s));
            if let Some(https) = after.listeners.iter().find(|l| l.spec.port == 443) {
                prop_assert!(super::super::properties::valid_ssl_policy(https.spec.ssl_policy.as_deref().unwrap_or_default()));
            }
            let second = plan(&phase, &s, &after).unwrap();
            prop_assert!(
                !second.actions.iter().any(|a| matches!(a,
                    Action::SetAttributes(_) | Action::CreateListener(_)
                    | Action::ModifyListener { .. } | Action::DeleteListener { .. })),
                "{:?}", second.actions
            );
        }
    }

    #[test]
    fn delete_removes_the_load_balancer_before_its_target_group() {
        let s = spec();
        assert_eq!(
            plan_delete(&existing(&s)),
            vec![
                Action::DeleteLoadBalancer {
                    arn: "arn:lb".into()
                },
                Action::DeleteTargetGroup {
                    arn: "arn:tg".into()
                }
            ]
        );
        assert!(plan_delete(&Current::default()).is_empty());
    }
}
