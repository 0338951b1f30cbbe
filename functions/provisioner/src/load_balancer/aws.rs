//! Reading and changing the load balancer through Elastic Load Balancing v2.

use super::plan::{
    Action, Attribute, Current, ListenerAction, ListenerSpec, ListenerState, LoadBalancerState,
    Plan, TargetGroupState,
};
use super::properties::{HealthCheck, LoadBalancerSpec};
use crate::error::{AwsContext, ProvisionError, Result};
use crate::ownership::{Owner, Ownership};
use aws_sdk_elasticloadbalancingv2::operation::create_listener::builders::CreateListenerFluentBuilder;
use aws_sdk_elasticloadbalancingv2::operation::modify_listener::builders::ModifyListenerFluentBuilder;
use aws_sdk_elasticloadbalancingv2::operation::modify_load_balancer_attributes::builders::ModifyLoadBalancerAttributesFluentBuilder;
use aws_sdk_elasticloadbalancingv2::types::Action as ElbAction;
use aws_sdk_elasticloadbalancingv2::types::{
    ActionTypeEnum, Certificate, LoadBalancer, LoadBalancerAttribute, LoadBalancerSchemeEnum,
    LoadBalancerTypeEnum, ProtocolEnum, RedirectActionConfig, RedirectActionStatusCodeEnum, Tag,
    TargetGroup, TargetGroupAttribute, TargetTypeEnum,
};
use aws_sdk_elasticloadbalancingv2::Client;
use operator_common::custom_resource::Success;
use std::collections::BTreeMap;
use std::time::Duration;

fn lb_state(lb: &LoadBalancer) -> LoadBalancerState {
    LoadBalancerState {
        arn: lb.load_balancer_arn().unwrap_or_default().to_string(),
        name: lb.load_balancer_name().unwrap_or_default().to_string(),
        scheme: lb
            .scheme()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        vpc_id: lb.vpc_id().unwrap_or_default().to_string(),
        subnets: lb
            .availability_zones()
            .iter()
            .filter_map(|az| az.subnet_id().map(str::to_string))
            .collect(),
        security_groups: lb.security_groups().to_vec(),
        dns_name: lb.dns_name().unwrap_or_default().to_string(),
        hosted_zone_id: lb
            .canonical_hosted_zone_id()
            .unwrap_or_default()
            .to_string(),
        // Read with its attributes (see `read`).
        drops_invalid_header_fields: false,
        access_logs_bucket: None,
        // Judged from its tags once they are read.
        ownership: Ownership::Untagged,
    }
}

fn tg_state(tg: &TargetGroup) -> TargetGroupState {
    TargetGroupState {
        arn: tg.target_group_arn().unwrap_or_default().to_string(),
        port: tg.port().unwrap_or_default(),
        vpc_id: tg.vpc_id().unwrap_or_default().to_string(),
        health_check: HealthCheck {
            path: tg.health_check_path().unwrap_or("/").to_string(),
            healthy_threshold: tg.healthy_threshold_count().unwrap_or_default(),
            unhealthy_threshold: tg.unhealthy_threshold_count().unwrap_or_default(),
            interval_seconds: tg.health_check_interval_seconds().unwrap_or_default(),
            timeout_seconds: tg.health_check_timeout_seconds().unwrap_or_default(),
        },
        name: tg.target_group_name().unwrap_or_default().to_string(),
        ownership: Ownership::Untagged,
    }
}

/// The owner's tags, as ELB takes them.
fn elb_tags(owner: &Owner) -> Vec<Tag> {
    owner
        .tags()
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Judges the load balancer and target group found by their tags (one DescribeTags call).
async fn judge(elb: &Client, current: &mut Current, owner: &Owner) -> Result<()> {
    let arns: Vec<String> = current
        .load_balancer
        .iter()
        .map(|l| l.arn.clone())
        .chain(current.target_group.iter().map(|t| t.arn.clone()))
        .collect();
    if arns.is_empty() {
        return Ok(());
    }
    let out = elb
        .describe_tags()
        .set_resource_arns(Some(arns))
        .send()
        .await
        .context("elasticloadbalancing:DescribeTags")?;
    let ownership_of = |arn: &str| {
        let tags = out
            .tag_descriptions()
            .iter()
            .find(|d| d.resource_arn() == Some(arn))
            .map(|d| {
                d.tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().unwrap_or_default().to_string(),
                            t.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        owner.judge(&tags)
    };
    if let Some(lb) = current.load_balancer.as_mut() {
        lb.ownership = ownership_of(&lb.arn);
    }
    if let Some(tg) = current.target_group.as_mut() {
        tg.ownership = ownership_of(&tg.arn);
    }
    Ok(())
}

async fn load_balancer_named(elb: &Client, name: &str) -> Result<Option<LoadBalancerState>> {
    match elb.describe_load_balancers().names(name).send().await {
        Ok(out) => Ok(out.load_balancers().first().map(lb_state)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_load_balancer_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(e)
            .context("elasticloadbalancing:DescribeLoadBalancers")
            .map_err(Into::into),
    }
}

async fn target_group_named(elb: &Client, name: &str) -> Result<Option<TargetGroupState>> {
    match elb.describe_target_groups().names(name).send().await {
        Ok(out) => Ok(out.target_groups().first().map(tg_state)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_target_group_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(e)
            .context("elasticloadbalancing:DescribeTargetGroups")
            .map_err(Into::into),
    }
}

async fn listeners_of(elb: &Client, lb_arn: &str) -> Result<Vec<ListenerState>> {
    let out = elb
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .context("elasticloadbalancing:DescribeListeners")?;
    Ok(out
        .listeners()
        .iter()
        .map(|l| ListenerState {
            arn: l.listener_arn().unwrap_or_default().to_string(),
            spec: ListenerSpec {
                port: l.port().unwrap_or_default(),
                protocol: l
                    .protocol()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
                certificate_arn: l
                    .certificates()
                    .first()
                    .and_then(|c| c.certificate_arn().map(str::to_string)),
                // Only HTTPS has one (moto reports its default on HTTP listeners too).
                ssl_policy: l
                    .ssl_policy()
                    .filter(|_| l.protocol() == Some(&ProtocolEnum::Https))
                    .map(str::to_string),
                action: match l.default_actions().first().and_then(|a| a.r#type()) {
                    Some(ActionTypeEnum::Redirect) => ListenerAction::RedirectToHttps,
                    _ => ListenerAction::Forward,
                },
            },
        })
        .collect())
}

/// What exists under the spec's names, and whose it is.
/// The reads that do not depend on each other go together: the load balancer and the target
/// group by name, then (once the load balancer is known to be ours) its listeners and its
/// attributes.
pub async fn read(elb: &Client, spec: &LoadBalancerSpec, owner: &Owner) -> Result<Current> {
    let tg_name = spec.target_group_name();
    let (load_balancer, target_group) = tokio::join!(
        load_balancer_named(elb, &spec.name),
        target_group_named(elb, &tg_name)
    );
    let mut current = Current {
        load_balancer: load_balancer?,
        target_group: target_group?,
        listeners: Vec::new(),
    };
    judge(elb, &mut current, owner).await?;
    // The listeners and attributes of a load balancer that will not be touched are not needed.
    if let Some(lb) = current
        .load_balancer
        .as_mut()
        .filter(|l| l.ownership.is_ours())
    {
        let (listeners, attributes) = tokio::join!(
            listeners_of(elb, &lb.arn),
            elb.describe_load_balancer_attributes()
                .load_balancer_arn(&lb.arn)
                .send()
        );
        let attributes =
            attributes.context("elasticloadbalancing:DescribeLoadBalancerAttributes")?;
        observe_attributes(lb, attributes.attributes());
        current.listeners = listeners?;
    }
    Ok(current)
}

/// The attributes' keys. A key absent from a describe has its default: false, and no bucket
/// (moto leaves `access_logs.s3.enabled` out until it is set).
const DROP_INVALID_HEADER_FIELDS: &str = "routing.http.drop_invalid_header_fields.enabled";
const ACCESS_LOGS_ENABLED: &str = "access_logs.s3.enabled";
const ACCESS_LOGS_BUCKET: &str = "access_logs.s3.bucket";

/// Records the attributes the plan converges from a DescribeLoadBalancerAttributes answer.
fn observe_attributes(lb: &mut LoadBalancerState, attributes: &[LoadBalancerAttribute]) {
    let value = |key: &str| {
        attributes
            .iter()
            .find(|a| a.key() == Some(key))
            .and_then(|a| a.value())
    };
    lb.drops_invalid_header_fields = value(DROP_INVALID_HEADER_FIELDS) == Some("true");
    // ELB keeps the bucket of logs turned off: only an enabled one counts.
    lb.access_logs_bucket = (value(ACCESS_LOGS_ENABLED) == Some("true"))
        .then(|| value(ACCESS_LOGS_BUCKET).unwrap_or_default().to_string());
}

/// The keys and values that `attribute` stands for.
fn key_values(attribute: &Attribute) -> Vec<(&'static str, String)> {
    match attribute {
        Attribute::DropInvalidHeaderFields => vec![(DROP_INVALID_HEADER_FIELDS, "true".into())],
        Attribute::AccessLogsTo(bucket) => vec![
            (ACCESS_LOGS_ENABLED, "true".into()),
            (ACCESS_LOGS_BUCKET, bucket.clone()),
        ],
        Attribute::NoAccessLogs => vec![(ACCESS_LOGS_ENABLED, "false".into())],
    }
}

/// The one request that sets `attributes`. ModifyLoadBalancerAttributes leaves the attributes
/// it is not given as they are.
fn set_attributes(
    elb: &Client,
    lb_arn: &str,
    attributes: &[Attribute],
) -> ModifyLoadBalancerAttributesFluentBuilder {
    elb.modify_load_balancer_attributes()
        .load_balancer_arn(lb_arn)
        .set_attributes(Some(
            attributes
                .iter()
                .flat_map(key_values)
                .map(|(key, value)| {
                    LoadBalancerAttribute::builder()
                        .key(key)
                        .value(value)
                        .build()
                })
                .collect(),
        ))
}

/// CreateListener for `l`, tagged. An HTTPS listener always names its policy: without one,
/// ELB applies ELBSecurityPolicy-2016-08, which still accepts TLS 1.0.
fn create_listener(
    elb: &Client,
    lb_arn: &str,
    l: &ListenerSpec,
    tg_arn: &str,
    owner: &Owner,
) -> CreateListenerFluentBuilder {
    elb.create_listener()
        .load_balancer_arn(lb_arn)
        .port(l.port)
        .protocol(ProtocolEnum::from(l.protocol.as_str()))
        .set_certificates(certificates(l))
        .set_ssl_policy(l.ssl_policy.clone())
        .default_actions(default_action(l, tg_arn))
        .set_tags(Some(elb_tags(owner)))
}

/// ModifyListener onto `l`, in place (same ARN, same port).
fn modify_listener(
    elb: &Client,
    arn: &str,
    l: &ListenerSpec,
    tg_arn: &str,
) -> ModifyListenerFluentBuilder {
    elb.modify_listener()
        .listener_arn(arn)
        .port(l.port)
        .protocol(ProtocolEnum::from(l.protocol.as_str()))
        .set_certificates(certificates(l))
        .set_ssl_policy(l.ssl_policy.clone())
        .default_actions(default_action(l, tg_arn))
}

/// What a Delete of `physical_id` would remove. An id that is not an ARN was never created.
pub async fn read_for_delete(
    elb: &Client,
    physical_id: &str,
    tg_name: Option<&str>,
    owner: &Owner,
) -> Result<Current> {
    let load_balancer = if physical_id.starts_with("arn:") {
        match elb
            .describe_load_balancers()
            .load_balancer_arns(physical_id)
            .send()
            .await
        {
            Ok(out) => out.load_balancers().first().map(lb_state),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_load_balancer_not_found_exception()) =>
            {
                None
            }
            Err(e) => {
                return Err(e)
                    .context("elasticloadbalancing:DescribeLoadBalancers")
                    .map_err(Into::into)
            }
        }
    } else {
        None
    };
    let tg_name = tg_name.map(str::to_string).or_else(|| {
        load_balancer
            .as_ref()
            .map(|lb| super::properties::target_group_name(&lb.name))
    });
    let target_group = match tg_name {
        Some(name) => target_group_named(elb, &name).await?,
        None => None,
    };
    let mut current = Current {
        load_balancer,
        target_group,
        listeners: Vec::new(),
    };
    judge(elb, &mut current, owner).await?;
    Ok(current)
}

fn default_action(spec: &ListenerSpec, tg_arn: &str) -> ElbAction {
    match spec.action {
        ListenerAction::Forward => ElbAction::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn(tg_arn)
            .build(),
        ListenerAction::RedirectToHttps => ElbAction::builder()
            .r#type(ActionTypeEnum::Redirect)
            .redirect_config(
                RedirectActionConfig::builder()
                    .protocol("HTTPS")
                    .port("443")
                    .status_code(RedirectActionStatusCodeEnum::Http301)
                    .build(),
            )
            .build(),
    }
}

fn certificates(spec: &ListenerSpec) -> Option<Vec<Certificate>> {
    spec.certificate_arn
        .as_ref()
        .map(|arn| vec![Certificate::builder().certificate_arn(arn).build()])
}

/// What an invocation made, so that a failed Update can remove it again.
#[derive(Debug, Default)]
struct Made {
    load_balancer: Option<String>,
    target_group: Option<String>,
}

/// How a failure after making something is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// A Create names what it made: CloudFormation's rollback Delete removes it.
    ReportMade,
    /// An Update keeps its old id, so nothing would ever delete what it made: delete it now.
    DeleteMade,
}

/// Carries out the plan. `spec` is None for a Delete.
pub async fn act(
    elb: &Client,
    plan: &Plan,
    current: Current,
    spec: Option<&LoadBalancerSpec>,
    owner: &Owner,
    on_failure: OnFailure,
) -> Result<Success> {
    let mut made = Made::default();
    let result = act_inner(elb, plan, current, spec, owner, &mut made).await;
    match result {
        Err(e) if on_failure == OnFailure::DeleteMade => {
            clean_up(elb, &made).await;
            // The answer keeps the id CloudFormation knows.
            Err(match e {
                ProvisionError::AfterMaking { source, .. } => *source,
                other => other,
            })
        }
        other => other,
    }
}

/// Best effort: a failed Update removes the load balancer and target group it made.
async fn clean_up(elb: &Client, made: &Made) {
    if let Some(arn) = &made.load_balancer {
        match elb
            .delete_load_balancer()
            .load_balancer_arn(arn)
            .send()
            .await
        {
            Ok(_) => {
                tracing::warn!(arn = %arn, "deleted the load balancer this failed update made")
            }
            Err(e) => tracing::error!(arn = %arn, error = %operator_common::aws::error_message(&e),
                "could not delete the load balancer this failed update made"),
        }
    }
    if let Some(arn) = &made.target_group {
        match delete_target_group(elb, arn).await {
            Ok(()) => {
                tracing::warn!(arn = %arn, "deleted the target group this failed update made")
            }
            Err(e) => tracing::error!(arn = %arn, error = %e,
                "could not delete the target group this failed update made"),
        }
    }
}

async fn act_inner(
    elb: &Client,
    plan: &Plan,
    current: Current,
    spec: Option<&LoadBalancerSpec>,
    owner: &Owner,
    made_here: &mut Made,
) -> Result<Success> {
    let mut lb = current.load_balancer;
    let mut tg_arn = current.target_group.map(|t| t.arn);
    let mut listener_arns: BTreeMap<i32, String> = current
        .listeners
        .into_iter()
        .map(|l| (l.spec.port, l.arn))
        .collect();
    let lb_arn =
        |lb: &Option<LoadBalancerState>| lb.as_ref().map(|l| l.arn.clone()).unwrap_or_default();

    for action in &plan.actions {
        let spec = || spec.expect("only a Delete plan comes without a spec");
        let made = lb_arn(&lb);
        let step: Result<()> = async {
            match action {
                Action::CreateLoadBalancer => {
                    let s = spec();
                    let out = elb
                        .create_load_balancer()
                        .name(&s.name)
                        .set_subnets(Some(s.subnets.clone()))
                        .set_security_groups(Some(s.security_groups.clone()))
                        .scheme(LoadBalancerSchemeEnum::from(s.scheme.as_str()))
                        .r#type(LoadBalancerTypeEnum::Application)
                        .set_tags(Some(elb_tags(owner)))
                        .send()
                        .await
                        .context("elasticloadbalancing:CreateLoadBalancer")?;
                    lb = out.load_balancers().first().map(lb_state);
                    made_here.load_balancer = lb.as_ref().map(|l| l.arn.clone());
                }
                Action::SetSubnets(subnets) => {
                    elb.set_subnets()
                        .load_balancer_arn(lb_arn(&lb))
                        .set_subnets(Some(subnets.clone()))
                        .send()
                        .await
                        .context("elasticloadbalancing:SetSubnets")?;
                }
                Action::SetSecurityGroups(groups) => {
                    elb.set_security_groups()
                        .load_balancer_arn(lb_arn(&lb))
                        .set_security_groups(Some(groups.clone()))
                        .send()
                        .await
                        .context("elasticloadbalancing:SetSecurityGroups")?;
                }
                Action::CreateTargetGroup => {
                    let s = spec();
                    let h = &s.health_check;
                    let out = elb
                        .create_target_group()
                        .name(s.target_group_name())
                        .protocol(ProtocolEnum::Http)
                        .port(s.target_port)
                        .vpc_id(&s.vpc_id)
                        .target_type(TargetTypeEnum::Ip)
                        .health_check_protocol(ProtocolEnum::Http)
                        .health_check_path(&h.path)
                        .health_check_interval_seconds(h.interval_seconds)
                        .health_check_timeout_seconds(h.timeout_seconds)
                        .healthy_threshold_count(h.healthy_threshold)
                        .unhealthy_threshold_count(h.unhealthy_threshold)
                        .set_tags(Some(elb_tags(owner)))
                        .send()
                        .await
                        .context("elasticloadbalancing:CreateTargetGroup")?;
                    tg_arn = out
                        .target_groups()
                        .first()
                        .and_then(|t| t.target_group_arn().map(str::to_string));
                    made_here.target_group = tg_arn.clone();
                }
                Action::SetDeregistrationDelay(seconds) => {
                    elb.modify_target_group_attributes()
                        .target_group_arn(tg_arn.clone().unwrap_or_default())
                        .attributes(
                            TargetGroupAttribute::builder()
                                .key("deregistration_delay.timeout_seconds")
                                .value(seconds.to_string())
                                .build(),
                        )
                        .send()
                        .await
                        .context("elasticloadbalancing:ModifyTargetGroupAttributes")?;
                }
                Action::ModifyHealthCheck(h) => {
                    elb.modify_target_group()
                        .target_group_arn(tg_arn.clone().unwrap_or_default())
                        .health_check_path(&h.path)
                        .health_check_interval_seconds(h.interval_seconds)
                        .health_check_timeout_seconds(h.timeout_seconds)
                        .healthy_threshold_count(h.healthy_threshold)
                        .unhealthy_threshold_count(h.unhealthy_threshold)
                        .send()
                        .await
                        .context("elasticloadbalancing:ModifyTargetGroup")?;
                }
                Action::SetAttributes(attributes) => {
                    set_attributes(elb, &lb_arn(&lb), attributes)
                        .send()
                        .await
                        .context("elasticloadbalancing:ModifyLoadBalancerAttributes")?;
                }
                Action::CreateListener(l) => {
                    let tg = tg_arn.as_deref().unwrap_or_default();
                    let out = create_listener(elb, &lb_arn(&lb), l, tg, owner)
                        .send()
                        .await
                        .context("elasticloadbalancing:CreateListener")?;
                    if let Some(arn) = out.listeners().first().and_then(|x| x.listener_arn()) {
                        listener_arns.insert(l.port, arn.to_string());
                    }
                }
                Action::ModifyListener { arn, spec: l } => {
                    modify_listener(elb, arn, l, tg_arn.as_deref().unwrap_or_default())
                        .send()
                        .await
                        .context("elasticloadbalancing:ModifyListener")?;
                }
                Action::DeleteListener { arn } => {
                    elb.delete_listener()
                        .listener_arn(arn)
                        .send()
                        .await
                        .context("elasticloadbalancing:DeleteListener")?;
                    listener_arns.retain(|_, a| a != arn);
                }
                Action::DeleteLoadBalancer { arn } => {
                    match elb
                        .delete_load_balancer()
                        .load_balancer_arn(arn)
                        .send()
                        .await
                    {
                        Ok(_) => {}
                        Err(e)
                            if e.as_service_error()
                                .is_some_and(|s| s.is_load_balancer_not_found_exception()) => {}
                        Err(e) => {
                            return Err(e)
                                .context("elasticloadbalancing:DeleteLoadBalancer")
                                .map_err(Into::into)
                        }
                    }
                }
                Action::DeleteTargetGroup { arn } => delete_target_group(elb, arn).await?,
            }
            Ok(())
        }
        .await;
        // A Create that fails half-way names what it made, so CloudFormation's rollback deletes it.
        step.map_err(|e| if made.is_empty() { e } else { e.made(&made) })?;
    }

    let Some(spec) = spec else {
        return Ok(Success::default());
    };
    let Some(lb) = lb else {
        return Err(ProvisionError::Refused(format!(
            "load balancer {} was neither found nor created",
            spec.name
        )));
    };
    let forward_port = if spec.certificate_arn.is_some() {
        443
    } else {
        80
    };
    let scheme = if spec.certificate_arn.is_some() {
        "https"
    } else {
        "http"
    };
    let data = BTreeMap::from([
        ("LoadBalancerArn".to_string(), lb.arn.clone()),
        ("DNSName".to_string(), lb.dns_name.clone()),
        (
            "CanonicalHostedZoneId".to_string(),
            lb.hosted_zone_id.clone(),
        ),
        ("TargetGroupArn".to_string(), tg_arn.unwrap_or_default()),
        (
            "ListenerArn".to_string(),
            listener_arns
                .get(&forward_port)
                .cloned()
                .unwrap_or_default(),
        ),
        ("Url".to_string(), format!("{scheme}://{}", lb.dns_name)),
    ]);
    Ok(Success {
        physical_id: lb.arn,
        data,
        reason: None,
    })
}

/// A just-deleted load balancer frees its target group within seconds: retry while in use.
async fn delete_target_group(elb: &Client, arn: &str) -> Result<()> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match elb.delete_target_group().target_group_arn(arn).send().await {
            Ok(_) => return Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception())
                    && attempt < 10 =>
            {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            Err(e) => {
                return Err(e)
                    .context("elasticloadbalancing:DeleteTargetGroup")
                    .map_err(Into::into)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load_balancer::plan::desired_listeners;
    use aws_config::{BehaviorVersion, Region};
    use serde_json::json;

    /// A client that is never sent anything: for building requests.
    fn offline() -> Client {
        Client::new(
            &aws_config::SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .build(),
        )
    }

    fn owner() -> Owner {
        Owner {
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1".into(),
            logical_id: "LoadBalancer".into(),
        }
    }

    fn secure() -> LoadBalancerSpec {
        LoadBalancerSpec::parse(
            json!({"Name": "sky", "VpcId": "vpc-1", "Subnets": ["s-a", "s-b"], "SecurityGroups": ["sg-1"],
                   "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc"})
            .as_object()
            .unwrap(),
        )
        .unwrap()
    }

    /// The load balancer and the keys and values of the one ModifyLoadBalancerAttributes.
    fn sent(attributes: &[Attribute]) -> (String, Vec<(String, String)>) {
        let input = set_attributes(&offline(), "arn:lb", attributes)
            .as_input()
            .clone()
            .build()
            .unwrap();
        let pairs: Vec<(String, String)> = input
            .attributes()
            .iter()
            .map(|a| (a.key().unwrap().into(), a.value().unwrap().into()))
            .collect();
        (input.load_balancer_arn().unwrap().into(), pairs)
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_new_load_balancer_with_a_bucket_gets_its_three_attributes_in_one_request() {
        assert_eq!(
            sent(&[
                Attribute::DropInvalidHeaderFields,
                Attribute::AccessLogsTo("logs".into())
            ]),
            (
                "arn:lb".into(),
                pairs(&[
                    ("routing.http.drop_invalid_header_fields.enabled", "true"),
                    ("access_logs.s3.enabled", "true"),
                    ("access_logs.s3.bucket", "logs"),
                ])
            )
        );
    }

    #[test]
    fn each_attribute_sets_only_its_own_keys() {
        assert_eq!(
            sent(&[Attribute::DropInvalidHeaderFields]).1,
            pairs(&[("routing.http.drop_invalid_header_fields.enabled", "true")]),
            "the other attributes (access logs) are left as they are"
        );
        assert_eq!(
            sent(&[Attribute::NoAccessLogs]).1,
            pairs(&[("access_logs.s3.enabled", "false")]),
            "the bucket is left: ELB keeps it while logs are off"
        );
    }

    #[test]
    fn the_observed_access_logs_are_the_enabled_bucket_only() {
        let observed = |attributes: &[(&str, &str)]| {
            let mut lb = lb_state(&LoadBalancer::builder().build());
            let attributes: Vec<_> = attributes
                .iter()
                .map(|(k, v)| LoadBalancerAttribute::builder().key(*k).value(*v).build())
                .collect();
            observe_attributes(&mut lb, &attributes);
            (lb.drops_invalid_header_fields, lb.access_logs_bucket)
        };
        assert_eq!(
            observed(&[
                ("routing.http.drop_invalid_header_fields.enabled", "true"),
                ("access_logs.s3.enabled", "true"),
                ("access_logs.s3.bucket", "logs"),
            ]),
            (true, Some("logs".into()))
        );
        assert_eq!(
            observed(&[
                ("access_logs.s3.enabled", "false"),
                ("access_logs.s3.bucket", "logs"),
            ]),
            (false, None)
        );
        // moto's answer before anything is set: no enabled key, an empty bucket.
        assert_eq!(
            observed(&[
                ("access_logs.s3.bucket", ""),
                ("deletion_protection.enabled", "false")
            ]),
            (false, None)
        );
    }

    #[test]
    fn https_listeners_name_their_policy_and_http_ones_none() {
        let [http, https] = <[ListenerSpec; 2]>::try_from(desired_listeners(&secure())).unwrap();
        let created = create_listener(&offline(), "arn:lb", &https, "arn:tg", &owner())
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(
            created.ssl_policy(),
            Some(super::super::properties::DEFAULT_SSL_POLICY)
        );
        assert_eq!(created.protocol(), Some(&ProtocolEnum::Https));
        assert_eq!(
            created.certificates()[0].certificate_arn(),
            Some("arn:aws:acm:us-east-1:123456789012:certificate/abc")
        );
        assert_eq!(
            created.default_actions()[0].target_group_arn(),
            Some("arn:tg")
        );
        assert!(
            !created.tags().is_empty(),
            "tagged in the create call itself"
        );
        let modified = modify_listener(&offline(), "arn:listener", &https, "arn:tg")
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(
            (modified.listener_arn(), modified.ssl_policy()),
            (
                Some("arn:listener"),
                Some(super::super::properties::DEFAULT_SSL_POLICY)
            )
        );
        let plain = create_listener(&offline(), "arn:lb", &http, "arn:tg", &owner())
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!((plain.ssl_policy(), plain.port()), (None, Some(80)));
        let redirect = plain.default_actions()[0].redirect_config().unwrap();
        assert_eq!(
            (redirect.protocol(), redirect.port()),
            (Some("HTTPS"), Some("443"))
        );
    }
}
