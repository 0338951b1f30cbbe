//! Custom::LoadBalancer against moto.

use aws_sdk_elasticloadbalancingv2::types::Listener;
use local_harness::world::World;
use serde_json::Value;

const TYPE: &str = "Custom::LoadBalancer";

async fn described(w: &World, lb_arn: &str) -> Vec<Listener> {
    let out = w
        .clients
        .elb()
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .unwrap();
    out.listeners().to_vec()
}

async fn listeners(w: &World, lb_arn: &str) -> Vec<(i32, String, String)> {
    let mut l: Vec<_> = described(w, lb_arn)
        .await
        .iter()
        .map(|l| {
            (
                l.port().unwrap(),
                l.protocol().unwrap().as_str().to_string(),
                l.default_actions()[0]
                    .r#type()
                    .unwrap()
                    .as_str()
                    .to_string(),
            )
        })
        .collect();
    l.sort();
    l
}

fn with(props: &Value, key: &str, value: Value) -> Value {
    let mut p = props.clone();
    p[key] = value;
    p
}

#[tokio::test]
async fn create_update_and_delete() {
    let w = World::new().await;
    let props = w.load_balancer_props().await;

    let created = w.create(TYPE, "LoadBalancer", &props).await;
    assert!(created.is_success(), "{}", created.reason);
    let arn = created.physical_id.clone();
    assert!(arn.starts_with("arn:aws:elasticloadbalancing:"), "{arn}");
    for key in [
        "LoadBalancerArn",
        "DNSName",
        "CanonicalHostedZoneId",
        "TargetGroupArn",
        "ListenerArn",
        "Url",
    ] {
        assert!(
            !created.data(key).is_empty(),
            "Data.{key} is empty: {:?}",
            created.data
        );
    }
    assert_eq!(
        created.data("Url"),
        format!("http://{}", created.data("DNSName"))
    );
    assert_eq!(
        listeners(&w, &arn).await,
        vec![(80, "HTTP".into(), "forward".into())]
    );
    let tg = w
        .clients
        .elb()
        .describe_target_groups()
        .target_group_arns(created.data("TargetGroupArn"))
        .send()
        .await
        .unwrap();
    let tg = &tg.target_groups()[0];
    assert_eq!(
        tg.target_type().unwrap().as_str(),
        "ip",
        "Fargate tasks register by IP"
    );
    assert_eq!(
        (tg.healthy_threshold_count(), tg.unhealthy_threshold_count()),
        (Some(2), Some(2))
    );
    assert_eq!(
        (tg.health_check_interval_seconds(), tg.health_check_path()),
        (Some(30), Some("/"))
    );

    let again = w.create(TYPE, "LoadBalancer", &props).await;
    assert!(again.is_success(), "{}", again.reason);
    assert_eq!(
        again.data, created.data,
        "a repeated Create adopts everything"
    );

    // In place: a new health check.
    let new = with(&props, "HealthCheckPath", "/health".into());
    let new = with(&new, "HealthCheckIntervalSeconds", "15".into());
    let updated = w.update(TYPE, "LoadBalancer", &arn, &props, &new).await;
    assert!(updated.is_success(), "{}", updated.reason);
    assert_eq!(updated.physical_id, arn);
    let tg = w
        .clients
        .elb()
        .describe_target_groups()
        .target_group_arns(created.data("TargetGroupArn"))
        .send()
        .await
        .unwrap();
    assert_eq!(tg.target_groups()[0].health_check_path(), Some("/health"));
    assert_eq!(
        tg.target_groups()[0].health_check_interval_seconds(),
        Some(15)
    );
    let back = w.update(TYPE, "LoadBalancer", &arn, &new, &props).await;
    assert!(back.is_success(), "rollback: {}", back.reason);

    // A change that needs a new load balancer under the same name is refused, naming it.
    let internal = with(&props, "Scheme", "internal".into());
    let refused = w
        .update(TYPE, "LoadBalancer", &arn, &props, &internal)
        .await;
    assert_eq!(refused.status, "FAILED");
    assert!(
        refused.reason.contains("Scheme") && refused.reason.contains("Name"),
        "{}",
        refused.reason
    );
    assert_eq!(refused.physical_id, arn);

    // With a new name it is a replacement.
    let renamed = with(&internal, "Name", w.name("sky2").into());
    let replaced = w.update(TYPE, "LoadBalancer", &arn, &props, &renamed).await;
    assert!(replaced.is_success(), "{}", replaced.reason);
    assert_ne!(replaced.physical_id, arn);
    assert_ne!(
        replaced.data("TargetGroupArn"),
        created.data("TargetGroupArn")
    );

    for (id, p) in [(&arn, &props), (&replaced.physical_id, &renamed)] {
        let deleted = w.delete(TYPE, "LoadBalancer", id, p).await;
        assert!(deleted.is_success(), "{}", deleted.reason);
        let gone = w
            .clients
            .elb()
            .describe_load_balancers()
            .load_balancer_arns(id.as_str())
            .send()
            .await;
        assert!(gone.is_err() || gone.unwrap().load_balancers().is_empty());
    }
    let tg = w
        .clients
        .elb()
        .describe_target_groups()
        .names(w.name("sky") + "-tg")
        .send()
        .await;
    assert!(
        tg.is_err() || tg.unwrap().target_groups().is_empty(),
        "the target group goes too"
    );

    let never = w
        .delete(TYPE, "LoadBalancer", "not-created:LoadBalancer:x", &props)
        .await;
    assert!(never.is_success());
}

#[tokio::test]
async fn a_certificate_adds_https_and_redirects_http() {
    let w = World::new().await;
    let props = w.load_balancer_props().await;
    let created = w.create(TYPE, "LoadBalancer", &props).await;
    let arn = created.physical_id.clone();
    let cert = w.request_certificate("booker.example.com").await;
    let secure = with(&props, "CertificateArn", cert.into());
    let updated = w.update(TYPE, "LoadBalancer", &arn, &props, &secure).await;
    assert!(updated.is_success(), "{}", updated.reason);
    assert_eq!(
        listeners(&w, &arn).await,
        vec![
            (80, "HTTP".into(), "redirect".into()),
            (443, "HTTPS".into(), "forward".into())
        ]
    );
    assert!(updated.data("Url").starts_with("https://"));
    let back = w.update(TYPE, "LoadBalancer", &arn, &secure, &props).await;
    assert!(back.is_success(), "{}", back.reason);
    assert_eq!(
        listeners(&w, &arn).await,
        vec![(80, "HTTP".into(), "forward".into())]
    );
}

async fn drops_invalid_header_fields(w: &World, lb_arn: &str) -> Option<String> {
    let out = w
        .clients
        .elb()
        .describe_load_balancer_attributes()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .unwrap();
    out.attributes()
        .iter()
        .find(|a| a.key() == Some("routing.http.drop_invalid_header_fields.enabled"))
        .and_then(|a| a.value().map(str::to_string))
}

/// `access_logs.s3.enabled` and `access_logs.s3.bucket`, as ELB reports them.
async fn access_logs(w: &World, lb_arn: &str) -> (Option<String>, Option<String>) {
    let out = w
        .clients
        .elb()
        .describe_load_balancer_attributes()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .unwrap();
    let value = |key: &str| {
        out.attributes()
            .iter()
            .find(|a| a.key() == Some(key))
            .and_then(|a| a.value().map(str::to_string))
    };
    (
        value("access_logs.s3.enabled"),
        value("access_logs.s3.bucket"),
    )
}

#[tokio::test]
async fn access_logs_come_with_the_header_drop_in_one_call_and_converge_on_the_spec() {
    use aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute;
    use local_harness::strict;
    const MODIFY: &str = "elasticloadbalancing:ModifyLoadBalancerAttributes";
    let w = World::new().await;
    let bucket = w.name("logs");
    let plain = w.load_balancer_props().await;
    let props = with(&plain, "AccessLogsBucket", bucket.clone().into());
    // Every ModifyLoadBalancerAttributes names the load balancer's ARN, which holds its name.
    let name = props["Name"].as_str().unwrap().to_string();
    let modified = || strict::calls(MODIFY, &name);

    let created = w.create(TYPE, "LoadBalancer", &props).await;
    assert!(created.is_success(), "{}", created.reason);
    let arn = created.physical_id.clone();
    assert_eq!(
        modified(),
        1,
        "the header drop and the access logs together"
    );
    assert_eq!(
        drops_invalid_header_fields(&w, &arn).await.as_deref(),
        Some("true")
    );
    assert_eq!(
        access_logs(&w, &arn).await,
        (Some("true".into()), Some(bucket.clone()))
    );

    // What ELB holds matches: a repeated Create and an unchanged Update send none.
    let again = w.create(TYPE, "LoadBalancer", &props).await;
    assert!(again.is_success(), "{}", again.reason);
    let same = w.update(TYPE, "LoadBalancer", &arn, &props, &props).await;
    assert!(same.is_success(), "{}", same.reason);
    assert_eq!(modified(), 1);

    // A bucket changed by hand goes back to the template's on the next Update.
    w.clients
        .elb()
        .modify_load_balancer_attributes()
        .load_balancer_arn(&arn)
        .attributes(
            LoadBalancerAttribute::builder()
                .key("access_logs.s3.bucket")
                .value("by-hand")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let by_hand = modified();
    let converged = w.update(TYPE, "LoadBalancer", &arn, &props, &props).await;
    assert!(converged.is_success(), "{}", converged.reason);
    assert_eq!(modified(), by_hand + 1);
    assert_eq!(
        access_logs(&w, &arn).await,
        (Some("true".into()), Some(bucket.clone()))
    );

    // Without AccessLogsBucket they are turned off.
    let off = w.update(TYPE, "LoadBalancer", &arn, &props, &plain).await;
    assert!(off.is_success(), "{}", off.reason);
    assert_eq!(access_logs(&w, &arn).await.0.as_deref(), Some("false"));
    assert_eq!(modified(), by_hand + 2);
}

/// The HTTPS listener's ARN and security policy.
async fn https_listener(w: &World, lb_arn: &str) -> (String, String) {
    let all = described(w, lb_arn).await;
    let l = all
        .iter()
        .find(|l| l.port() == Some(443))
        .expect("a 443 listener");
    (
        l.listener_arn().unwrap().to_string(),
        l.ssl_policy().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn invalid_headers_are_dropped_and_https_takes_a_current_tls_policy() {
    use aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute;
    let w = World::new().await;
    let props = w.load_balancer_props().await;
    let created = w.create(TYPE, "LoadBalancer", &props).await;
    assert!(created.is_success(), "{}", created.reason);
    let arn = created.physical_id.clone();
    assert_eq!(
        drops_invalid_header_fields(&w, &arn).await.as_deref(),
        Some("true")
    );

    // A load balancer without it (made before this rule, or changed by hand) gets it back.
    w.clients
        .elb()
        .modify_load_balancer_attributes()
        .load_balancer_arn(&arn)
        .attributes(
            LoadBalancerAttribute::builder()
                .key("routing.http.drop_invalid_header_fields.enabled")
                .value("false")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let cert = w.request_certificate("booker.example.com").await;
    let secure = with(&props, "CertificateArn", cert.into());
    let updated = w.update(TYPE, "LoadBalancer", &arn, &props, &secure).await;
    assert!(updated.is_success(), "{}", updated.reason);
    assert_eq!(
        drops_invalid_header_fields(&w, &arn).await.as_deref(),
        Some("true")
    );
    let (listener, policy) = https_listener(&w, &arn).await;
    assert_eq!(
        policy, "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
        "not CreateListener's default, ELBSecurityPolicy-2016-08"
    );

    // A chosen policy is applied to the same listener.
    let tls13 = with(
        &secure,
        "SslPolicy",
        "ELBSecurityPolicy-TLS13-1-3-2021-06".into(),
    );
    let changed = w.update(TYPE, "LoadBalancer", &arn, &secure, &tls13).await;
    assert!(changed.is_success(), "{}", changed.reason);
    assert_eq!(
        https_listener(&w, &arn).await,
        (
            listener.clone(),
            "ELBSecurityPolicy-TLS13-1-3-2021-06".into()
        ),
        "in place"
    );
    assert_eq!(changed.data("ListenerArn"), listener);

    // A listener under a legacy policy is moved back onto the property's.
    w.clients
        .elb()
        .modify_listener()
        .listener_arn(&listener)
        .ssl_policy("ELBSecurityPolicy-2016-08")
        .send()
        .await
        .unwrap();
    let again = w.update(TYPE, "LoadBalancer", &arn, &tls13, &tls13).await;
    assert!(again.is_success(), "{}", again.reason);
    assert_eq!(
        https_listener(&w, &arn).await.1,
        "ELBSecurityPolicy-TLS13-1-3-2021-06"
    );

    // One that allows TLS 1.0 is refused, naming the property, and nothing changes.
    let legacy = with(&secure, "SslPolicy", "ELBSecurityPolicy-2016-08".into());
    let refused = w.update(TYPE, "LoadBalancer", &arn, &tls13, &legacy).await;
    assert_eq!(refused.status, "FAILED");
    assert!(refused.reason.contains("SslPolicy"), "{}", refused.reason);
    assert_eq!(
        https_listener(&w, &arn).await.1,
        "ELBSecurityPolicy-TLS13-1-3-2021-06"
    );
    assert_eq!(
        listeners(&w, &arn).await,
        vec![
            (80, "HTTP".into(), "redirect".into()),
            (443, "HTTPS".into(), "forward".into())
        ],
        "80 still redirects to 443"
    );
}

async fn load_balancer_named(w: &World, name: &str) -> Option<String> {
    let out = w
        .clients
        .elb()
        .describe_load_balancers()
        .names(name)
        .send()
        .await
        .ok()?;
    out.load_balancers()
        .first()
        .and_then(|l| l.load_balancer_arn().map(str::to_string))
}

async fn deregistration_delay(w: &World, tg_arn: &str) -> String {
    let out = w
        .clients
        .elb()
        .describe_target_group_attributes()
        .target_group_arn(tg_arn)
        .send()
        .await
        .unwrap();
    out.attributes()
        .iter()
        .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
        .and_then(|a| a.value().map(str::to_string))
        .unwrap_or_default()
}

#[tokio::test]
async fn the_deregistration_delay_is_set_and_changed_in_place() {
    let w = World::new().await;
    let props = w.load_balancer_props().await;
    let created = w.create(TYPE, "LoadBalancer", &props).await;
    assert!(created.is_success(), "{}", created.reason);
    let tg = created.data("TargetGroupArn");
    assert_eq!(deregistration_delay(&w, &tg).await, "30", "the default");
    let quicker = with(&props, "DeregistrationDelaySeconds", "5".into());
    let updated = w
        .update(TYPE, "LoadBalancer", &created.physical_id, &props, &quicker)
        .await;
    assert!(updated.is_success(), "{}", updated.reason);
    assert_eq!(updated.data("TargetGroupArn"), tg, "in place");
    assert_eq!(deregistration_delay(&w, &tg).await, "5");
}

#[tokio::test]
async fn a_load_balancer_this_stack_did_not_make_is_refused_and_survives() {
    let w = World::new().await;
    let props = w.load_balancer_props().await;
    let name = props["Name"].as_str().unwrap().to_string();
    let net = w.network().await;
    let theirs = w
        .clients
        .elb()
        .create_load_balancer()
        .name(&name)
        .set_subnets(Some(net.public_subnets.clone()))
        .send()
        .await
        .unwrap();
    let theirs = theirs.load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();
    let refused = w.create(TYPE, "LoadBalancer", &props).await;
    assert_eq!(refused.status, "FAILED");
    assert!(
        refused.reason.contains(&format!("load balancer {name}"))
            && refused.reason.contains("Name"),
        "{}",
        refused.reason
    );
    assert!(refused.physical_id.starts_with("not-created:"));
    let deleted = w.delete(TYPE, "LoadBalancer", &theirs, &props).await;
    assert!(deleted.is_success(), "{}", deleted.reason);
    assert!(
        deleted.reason.contains("left it alone"),
        "{}",
        deleted.reason
    );
    assert_eq!(load_balancer_named(&w, &name).await, Some(theirs));
}

#[tokio::test]
async fn a_rename_that_fails_after_making_the_new_load_balancer_deletes_it() {
    use local_harness::strict::{self, Fault, FaultKind};
    let w = World::new().await;
    let props = w.load_balancer_props().await;
    let created = w.create(TYPE, "LoadBalancer", &props).await;
    assert!(created.is_success(), "{}", created.reason);
    let new_name = w.name("sky2");
    let renamed = with(&props, "Name", new_name.clone().into());
    // The new load balancer and target group exist when its listener fails (past the SDK's retries).
    strict::inject(Fault {
        action: "elasticloadbalancing:CreateListener".into(),
        matching: new_name.clone(),
        kind: FaultKind::ServerError,
        times: 10,
    });
    let failed = w
        .update(TYPE, "LoadBalancer", &created.physical_id, &props, &renamed)
        .await;
    assert_eq!(failed.status, "FAILED", "{}", failed.reason);
    assert_eq!(failed.physical_id, created.physical_id, "the old id stays");
    assert!(strict::calls("elasticloadbalancing:CreateListener", &new_name) > 0);
    assert_eq!(
        load_balancer_named(&w, &new_name).await,
        None,
        "nothing leaks"
    );
    let tg = w
        .clients
        .elb()
        .describe_target_groups()
        .names(format!("{new_name}-tg"))
        .send()
        .await;
    assert!(
        tg.map(|t| t.target_groups().is_empty()).unwrap_or(true),
        "the new target group is gone too"
    );
    assert_eq!(
        load_balancer_named(&w, props["Name"].as_str().unwrap()).await,
        Some(created.physical_id.clone()),
        "the old one is untouched"
    );
    // CloudFormation's rollback (an Update back to the old properties) changes nothing.
    let back = w
        .update(TYPE, "LoadBalancer", &created.physical_id, &renamed, &props)
        .await;
    assert!(back.is_success(), "{}", back.reason);
    assert_eq!(back.physical_id, created.physical_id);
}
