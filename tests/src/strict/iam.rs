//! IAM, evaluated as IAM does, for every call of a principal the layer knows (a function's
//! access key bound to its resolved policy): each check of `resources::checks` is evaluated by
//! `@cloud-copilot/iam-simulate` (tests/iam/evaluate.mjs, one long-lived node process), with the
//! target's tags read from moto. Unknown keys (the harness's own clients) are unrestricted.

use super::errors::{self, Answer};
use super::request::{Call, Protocol};
use super::resources::{self, Check, Params, Scope};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

#[derive(Debug, Clone)]
pub struct Principal {
    /// `arn:aws:sts::<account>:assumed-role/<role>/<function>`
    pub arn: String,
    pub policy: Value,
}

/// One authorization the layer made, for tests to print and assert on.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub access_key: String,
    pub principal: String,
    pub action: String,
    pub resource: String,
    pub context: BTreeMap<String, Value>,
    /// "Allowed", "ImplicitlyDenied", "ExplicitlyDenied", "Unknown" (not in the table) or "Error".
    pub decision: String,
    /// The call's action when this check was implicit.
    pub implied_by: Option<String>,
    pub detail: String,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.decision == "Allowed"
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<16} {} on {}",
            self.decision, self.action, self.resource
        )?;
        if let Some(by) = &self.implied_by {
            write!(f, " (for {by})")?;
        }
        if !self.context.is_empty() {
            write!(
                f,
                " {}",
                serde_json::to_string(&self.context).unwrap_or_default()
            )?;
        }
        if !self.detail.is_empty() {
            write!(f, " [{}]", self.detail)?;
        }
        Ok(())
    }
}

struct Evaluator {
    _child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Evaluator {
    fn start() -> Result<Evaluator, String> {
        let dir = crate::moto::workspace_root().join("tests/iam");
        if !dir
            .join("node_modules/@cloud-copilot/iam-simulate")
            .exists()
        {
            return Err(format!(
                "the IAM evaluator is not installed in {}: run `make tools` (npm ci there)",
                dir.display()
            ));
        }
        let mut child = tokio::process::Command::new("node")
            .arg("evaluate.mjs")
            .current_dir(&dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("start node for the IAM evaluator: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        Ok(Evaluator {
            _child: child,
            stdin,
            stdout,
        })
    }

    async fn ask(&mut self, request: &Value) -> Result<Value, String> {
        let line = format!("{request}\n");
        self.stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        self.stdin.flush().await.map_err(|e| e.to_string())?;
        let answer = self.stdout.next_line().await.map_err(|e| e.to_string())?;
        let answer = answer.ok_or("the IAM evaluator exited")?;
        serde_json::from_str(&answer).map_err(|e| format!("{e}: {answer}"))
    }
}

#[derive(Default)]
pub struct Iam {
    /// The tags of scalable targets (moto keeps none), by `resources::scalable_target` ARN.
    scalable_tags: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
    /// Service-linked roles AWS has made (whoever's call made them): role ARNs.
    linked_roles: Mutex<std::collections::BTreeSet<String>>,
    principals: Mutex<BTreeMap<String, Principal>>,
    decisions: Mutex<Vec<Decision>>,
    evaluator: tokio::sync::Mutex<Option<Evaluator>>,
}

/// The code each protocol's services answer a denial with.
fn denied_code(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Json | Protocol::Other => "AccessDeniedException",
        Protocol::Ec2 => "UnauthorizedOperation",
        Protocol::Query | Protocol::Cbor => "AccessDenied",
    }
}

/// The exception a denial of `check` answers. Application Auto Scaling validates the caller's
/// permissions on the target service and CloudWatch itself and fails such a request with a
/// ValidationException naming the missing permission ("Permissions validation for Application
/// Auto Scaling API calls on target resources",
/// https://docs.aws.amazon.com/autoscaling/application/userguide/security_iam_permission_validation.html).
fn denial_code(protocol: Protocol, call: &Call, check: &Check) -> &'static str {
    let validated_by_scaling = call.service == "application-autoscaling"
        && check.implied_by.is_some()
        && ["ecs:", "cloudwatch:"]
            .iter()
            .any(|s| check.action.starts_with(s));
    if validated_by_scaling {
        "ValidationException"
    } else {
        denied_code(protocol)
    }
}

/// AWS's denial message.
pub fn denial_message(principal: &str, action: &str, resource: &str, decision: &str) -> String {
    let why = if decision == "ExplicitlyDenied" {
        "with an explicit deny in an identity-based policy".to_string()
    } else {
        format!("because no identity-based policy allows the {action} action")
    };
    format!(
        "User: {principal} is not authorized to perform: {action} on resource: {resource} {why}"
    )
}

/// A call's parameters as `resources::Params` understands them.
fn params(call: &Call, body: &[u8]) -> (Option<Value>, BTreeMap<String, String>) {
    match call.protocol {
        Protocol::Json => (serde_json::from_slice(body).ok(), BTreeMap::new()),
        Protocol::Cbor => (super::request::cbor_to_json(body), BTreeMap::new()),
        _ => (None, super::request::form(body).into_iter().collect()),
    }
}

impl Iam {
    pub fn bind(&self, access_key: &str, principal: Principal) {
        self.principals
            .lock()
            .unwrap()
            .insert(access_key.to_string(), principal);
    }

    pub fn decisions(&self, access_key: &str) -> Vec<Decision> {
        let all = self.decisions.lock().unwrap();
        all.iter()
            .filter(|d| d.access_key == access_key)
            .cloned()
            .collect()
    }

    /// What a successful call changed that IAM will judge later (scalable targets' tags).
    pub fn after(&self, call: &Call, body: &[u8]) {
        let (json_params, form) = params(call, body);
        let p = match &json_params {
            Some(v) => Params::Json(v),
            None => Params::Form(&form),
        };
        let scope = Scope {
            region: crate::moto::REGION,
            account: &call.account,
        };
        if let Some((_, role)) = resources::linked_role(&call.service, &call.operation, &p, &scope)
        {
            self.linked_roles.lock().unwrap().insert(role);
        }
        if call.service != "application-autoscaling" {
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let scope = Scope {
            region: crate::moto::REGION,
            account: &call.account,
        };
        let arn = resources::scalable_target(&scope, &s("ResourceId"), &s("ScalableDimension"));
        let mut all = self.scalable_tags.lock().unwrap();
        match call.operation.as_str() {
            "RegisterScalableTarget" => {
                let tags = all.entry(arn).or_default();
                for (k, t) in v["Tags"].as_object().into_iter().flatten() {
                    tags.insert(k.clone(), t.as_str().unwrap_or_default().to_string());
                }
            }
            "DeregisterScalableTarget" => {
                all.remove(&arn);
            }
            _ => {}
        }
    }

    async fn tags_of(
        &self,
        http: &reqwest::Client,
        backend: &str,
        arn: &str,
    ) -> BTreeMap<String, String> {
        if arn.starts_with("arn:aws:application-autoscaling:") {
            return self
                .scalable_tags
                .lock()
                .unwrap()
                .get(arn)
                .cloned()
                .unwrap_or_default();
        }
        super::tags::of(http, backend, arn).await
    }

    fn record(&self, d: Decision) {
        self.decisions.lock().unwrap().push(d);
    }

    async fn evaluate(
        &self,
        principal: &Principal,
        account: &str,
        check: &Check,
        context: &BTreeMap<String, Value>,
    ) -> (String, String) {
        let request = json!({"principal": principal.arn, "account": account, "action": check.action,
            "resource": check.resource, "context": context, "policy": principal.policy});
        let mut evaluator = self.evaluator.lock().await;
        if evaluator.is_none() {
            match Evaluator::start() {
                Ok(e) => *evaluator = Some(e),
                Err(e) => return ("Error".into(), e),
            }
        }
        match evaluator.as_mut().expect("started").ask(&request).await {
            Ok(answer) => {
                let decision = answer["decision"].as_str().unwrap_or("Error").to_string();
                let detail = if decision == "Error" {
                    answer["detail"].to_string()
                } else {
                    String::new()
                };
                (decision, detail)
            }
            Err(e) => {
                *evaluator = None;
                ("Error".into(), e)
            }
        }
    }

    /// The denial AWS would answer, if any; every check is recorded.
    pub async fn authorize(
        &self,
        http: &reqwest::Client,
        backend: &str,
        call: &Call,
        body: &[u8],
    ) -> Option<Answer> {
        let key = call.access_key.as_deref()?;
        let principal = self.principals.lock().unwrap().get(key).cloned()?;
        let action = call.action();
        if action.is_empty() {
            return None;
        }
        let decision = |action: &str, resource: &str, decision: &str, detail: String| Decision {
            access_key: key.to_string(),
            principal: principal.arn.clone(),
            action: action.to_string(),
            resource: resource.to_string(),
            context: BTreeMap::new(),
            decision: decision.to_string(),
            implied_by: None,
            detail,
        };
        let (json_params, form) = params(call, body);
        let null = Value::Null;
        let p = match &json_params {
            Some(v) => Params::Json(v),
            None if call.protocol == Protocol::Json || call.protocol == Protocol::Cbor => {
                Params::Json(&null)
            }
            None => Params::Form(&form),
        };
        let scope = Scope {
            region: crate::moto::REGION,
            account: &call.account,
        };
        let checks = match resources::checks(&call.service, &call.operation, &p, &scope) {
            Ok(mut checks) => {
                let role = resources::linked_role(&call.service, &call.operation, &p, &scope);
                if let Some(role) =
                    role.filter(|(_, arn)| !self.linked_roles.lock().unwrap().contains(arn))
                {
                    checks.push(resources::create_linked_role(&action, role));
                }
                checks
            }
            Err(unknown) => {
                let message = unknown.to_string();
                self.record(decision(&action, "?", "Unknown", message.clone()));
                return Some(errors::error(
                    call.protocol,
                    400,
                    denied_code(call.protocol),
                    &message,
                ));
            }
        };
        for check in checks {
            let mut context = check.context.clone();
            if let Some(arn) = &check.tags_of {
                for (k, v) in self.tags_of(http, backend, arn).await {
                    context.insert(format!("aws:ResourceTag/{k}"), json!(v));
                }
            }
            let (verdict, detail) = self
                .evaluate(&principal, &call.account, &check, &context)
                .await;
            let mut d = decision(&check.action, &check.resource, &verdict, detail.clone());
            d.context = context;
            d.implied_by = check.implied_by.clone();
            self.record(d);
            if verdict != "Allowed" {
                let message = if verdict == "Error" {
                    format!(
                        "the strict layer could not evaluate {} on {}: {detail}",
                        check.action, check.resource
                    )
                } else {
                    denial_message(&principal.arn, &check.action, &check.resource, &verdict)
                };
                let code = denial_code(call.protocol, call, &check);
                return Some(errors::error(call.protocol, 400, code, &message));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_denial_reads_as_aws_writes_it() {
        let m = denial_message(
            "arn:aws:sts::1:assumed-role/r/f",
            "ecs:CreateService",
            "arn:aws:ecs:us-east-1:1:service/c/s",
            "ImplicitlyDenied",
        );
        assert_eq!(m, "User: arn:aws:sts::1:assumed-role/r/f is not authorized to perform: ecs:CreateService on resource: arn:aws:ecs:us-east-1:1:service/c/s because no identity-based policy allows the ecs:CreateService action");
        assert!(denial_message("p", "a", "r", "ExplicitlyDenied")
            .ends_with("with an explicit deny in an identity-based policy"));
    }

    #[test]
    fn scaling_reports_missing_target_permissions_as_a_validation_error() {
        let call = crate::strict::request::identify(
            "/",
            |h| {
                match h {
                "x-amz-target" => Some("AnyScaleFrontendService.RegisterScalableTarget"),
                "authorization" => Some(
                    "AWS4-HMAC-SHA256 Credential=K/20260101/us-east-1/application-autoscaling/aws4_request",
                ),
                _ => None,
            }
            },
            b"{}",
        );
        let body = json!({"ServiceNamespace": "ecs", "ResourceId": "service/c/s",
            "ScalableDimension": "ecs:service:DesiredCount", "Tags": {"k": "v"}});
        let scope = Scope {
            region: "us-east-1",
            account: "1",
        };
        let p = Params::Json(&body);
        let checks = resources::checks(
            "application-autoscaling",
            "RegisterScalableTarget",
            &p,
            &scope,
        )
        .unwrap();
        let code = |action: &str| {
            let check = checks.iter().find(|c| c.action == action).unwrap();
            denial_code(Protocol::Json, &call, check)
        };
        assert_eq!(
            code("application-autoscaling:RegisterScalableTarget"),
            "AccessDeniedException"
        );
        assert_eq!(
            code("application-autoscaling:TagResource"),
            "AccessDeniedException"
        );
        assert_eq!(code("ecs:UpdateService"), "ValidationException");
        assert_eq!(code("ecs:DescribeServices"), "ValidationException");
    }

    #[test]
    fn each_protocol_denies_with_its_services_code() {
        assert_eq!(denied_code(Protocol::Json), "AccessDeniedException");
        assert_eq!(denied_code(Protocol::Query), "AccessDenied");
        assert_eq!(denied_code(Protocol::Ec2), "UnauthorizedOperation");
    }
}
