//! Custom::LoadBalancer against moto.

use local_harness::world::World;
use serde_json::Value;

const TYPE: &str = "Custom::LoadBalancer";

async fn listeners(w: &World, lb_arn: &str) -> Vec<(i32, String, String)> {
    let out = w
        .clients
        .elb
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .unwrap();
    let mut l: Vec<_> = out
        .listeners()
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
        .elb
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
        .elb
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
            .elb
            .describe_load_balancers()
            .load_balancer_arns(id.as_str())
            .send()
            .await;
        assert!(gone.is_err() || gone.unwrap().load_balancers().is_empty());
    }
    let tg = w
        .clients
        .elb
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
