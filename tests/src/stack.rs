//! A local CloudFormation for template.yaml: makes the native resources moto needs, and drives
//! the real `provisioner` binary (through the Lambda Runtime API) for the custom resources,
//! in dependency order; then updates and deletes the stack the way CloudFormation would.

use crate::cfn::{Answer, Cfn};
use crate::ec2;
use crate::moto;
use crate::runtime_api::LambdaProcess;
use crate::strict;
use crate::template::{scalar, Resolver, Template};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What happened to one resource, for the progress lines.
#[derive(Debug, Clone)]
pub struct Step {
    pub logical_id: String,
    pub kind: String,
    pub action: String,
    pub physical_id: String,
    pub status: String,
    pub reason: String,
}

pub struct LocalStack<'t> {
    pub resolver: Resolver<'t>,
    cfn: Cfn,
    provisioner: LambdaProcess,
    endpoint: String,
    /// Custom resources made, with the properties they were last given.
    customs: BTreeMap<String, Value>,
    order: Vec<String>,
    pub steps: Vec<Step>,
    on_step: Box<dyn Fn(&Step) + Send + Sync>,
}

/// Builds the workspace's debug binaries (a no-op when up to date, as after `make test`'s or
/// `make demo`'s own build) and returns the path of `name`'s. The whole workspace is built, not
/// `-p name`, and with the same targets as the build that made the running program: cargo
/// resolves features per build (a single package, or tests with their dev-dependencies, enable
/// others), and a build that resolves them differently compiles a second copy of the SDK, which
/// once filled CI's disk. Tests are built with `--tests`; the demo calls [`build_bins_only`].
pub fn build_function(name: &str) -> std::path::PathBuf {
    let root = moto::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut args = vec!["build", "--quiet", "--workspace", "--bins"];
    if !BINS_ONLY.load(Ordering::Relaxed) {
        args.push("--tests");
    }
    let status = std::process::Command::new(cargo)
        .args(&args)
        .current_dir(&root)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo {} failed", args.join(" "));
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(Into::into)
        .unwrap_or_else(|_| root.join("target"));
    target.join("debug").join(name)
}

static BINS_ONLY: AtomicBool = AtomicBool::new(false);

/// For a program built by `cargo build --workspace --bins` (the demo): [`build_function`]
/// builds as that did, without the tests.
pub fn build_bins_only() {
    BINS_ONLY.store(true, Ordering::Relaxed);
}

pub fn build_provisioner() -> std::path::PathBuf {
    build_function("provisioner")
}

/// The provisioner's logical id in template.yaml.
pub const PROVISIONER: &str = "ProvisionerFunction";

/// The access key a function of `stack` signs with locally (unique per stack and function).
pub fn function_key(stack: &str, logical_id: &str) -> String {
    let id: String = format!("{stack}{logical_id}")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("AKIA{}", id.to_ascii_uppercase())
}

/// The variables Lambda's advanced logging controls give the runtime from a function's
/// `LoggingConfig`: `AWS_LAMBDA_LOG_FORMAT` is its `LogFormat` (`JSON` or `Text`), and with JSON
/// only (level filtering needs it) `AWS_LAMBDA_LOG_LEVEL` is its `ApplicationLogLevel`, INFO when
/// unset. `SystemLogLevel` filters Lambda's own platform lines, which the function never sees.
pub fn lambda_log_env(logging_config: Option<&Value>) -> Vec<(String, String)> {
    let Some(format) = logging_config.and_then(|c| c.get("LogFormat")).map(scalar) else {
        return Vec::new();
    };
    let mut env = vec![("AWS_LAMBDA_LOG_FORMAT".to_string(), format.clone())];
    if format == "JSON" {
        let level = logging_config
            .and_then(|c| c.get("ApplicationLogLevel"))
            .map_or_else(|| "INFO".to_string(), scalar);
        env.push(("AWS_LAMBDA_LOG_LEVEL".to_string(), level));
    }
    env
}

fn with_key(mut env: Vec<(String, String)>, key: &str) -> Vec<(String, String)> {
    for (k, v) in env.iter_mut() {
        if k == "AWS_ACCESS_KEY_ID" {
            *v = key.to_string();
        }
    }
    env
}

/// A template alarm, made in moto (CloudWatch's JSON protocol, which moto serves).
async fn put_metric_alarm(endpoint: &str, input: &Value) -> Result<(), String> {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/{}/monitoring/aws4_request, SignedHeaders=host, Signature=0",
        moto::REGION
    );
    let answer = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("authorization", auth)
        .header(
            "x-amz-target",
            "GraniteServiceVersion20100801.PutMetricAlarm",
        )
        .header("content-type", "application/x-amz-json-1.0")
        .body(input.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = answer.status();
    if status.is_success() {
        return Ok(());
    }
    Err(format!(
        "{status} {}",
        answer.text().await.unwrap_or_default()
    ))
}

/// What SAM attaches to every function (AWSLambdaBasicExecutionRole).
fn basic_execution() -> Value {
    json!({"Sid": "AWSLambdaBasicExecutionRole", "Effect": "Allow",
           "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"})
}

/// A function's identity policy from its resolved `Policies` (inline statements; the managed
/// AWSLambdaBasicExecutionRole is what SAM adds anyway).
pub fn policy_document(logical_id: &str, policies: &Value) -> Result<Value, String> {
    let mut statements = vec![basic_execution()];
    for policy in policies.as_array().into_iter().flatten() {
        match policy {
            Value::Object(doc) if doc.contains_key("Statement") => match &doc["Statement"] {
                Value::Array(items) => statements.extend(items.iter().cloned()),
                one => statements.push(one.clone()),
            },
            Value::String(name) if name == "AWSLambdaBasicExecutionRole" => {}
            other => {
                return Err(format!(
                    "{logical_id}: the local stack cannot evaluate the policy {other}"
                ))
            }
        }
    }
    Ok(json!({"Version": "2012-10-17", "Statement": statements}))
}

/// template.yaml, read once per process.
pub fn template() -> &'static Template {
    static TEMPLATE: std::sync::OnceLock<Template> = std::sync::OnceLock::new();
    TEMPLATE.get_or_init(|| {
        Template::load(&moto::workspace_root().join("template.yaml")).expect("template.yaml")
    })
}

impl LocalStack<'static> {
    /// template.yaml as a stack of test world `w` (named `stack-<id>`), not yet created:
    /// `AppName` = `app`, no steady-state waits (moto never finishes a deployment), and
    /// `parameters`; the debug provisioner built and started.
    pub async fn for_test(
        w: &crate::world::World,
        app: &str,
        parameters: &[(&str, &str)],
    ) -> LocalStack<'static> {
        let mut all = BTreeMap::from([
            ("AppName".to_string(), app.to_string()),
            ("WaitForSteadyState".to_string(), "false".to_string()),
        ]);
        all.extend(
            parameters
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let bin = build_provisioner();
        let stack_name = format!("stack-{}", w.id);
        LocalStack::new(
            template(),
            &all,
            &stack_name,
            &w.endpoint,
            &bin,
            Box::new(|_| {}),
        )
        .await
        .expect("a local stack")
    }
}

impl<'t> LocalStack<'t> {
    pub async fn new(
        template: &'t Template,
        parameters: &BTreeMap<String, String>,
        stack_name: &str,
        endpoint: &str,
        provisioner_bin: &Path,
        on_step: Box<dyn Fn(&Step) + Send + Sync>,
    ) -> Result<LocalStack<'t>, String> {
        let home = std::env::temp_dir().join(format!("skyhigh-home-{}", std::process::id()));
        std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
        // It signs as itself: the strict layer authorizes it by its policy (bound before each
        // request, once the resources that policy names exist).
        let key = function_key(stack_name, PROVISIONER);
        let mut env = with_key(moto::process_env(endpoint, &home), &key);
        let logging = template.resources.get(PROVISIONER).map(|r| &r.properties);
        env.extend(lambda_log_env(logging.and_then(|p| p.get("LoggingConfig"))));
        let provisioner = LambdaProcess::start(provisioner_bin, "provisioner", &env)
            .await
            .map_err(|e| format!("start {}: {e}", provisioner_bin.display()))?;
        let cfn = Cfn::new(stack_name).await;
        let mut resolver = Resolver::new(template, parameters, stack_name);
        // The pseudo parameter the Resolver lacks: the StackId CloudFormation sends.
        resolver
            .parameters
            .insert("AWS::StackId".into(), cfn.stack_id.clone());
        Ok(LocalStack {
            resolver,
            cfn,
            provisioner,
            endpoint: endpoint.to_string(),
            customs: BTreeMap::new(),
            order: template.creation_order()?,
            steps: Vec::new(),
            on_step,
        })
    }

    /// Binds `logical_id`'s access key to its policy, resolved now; returns the key.
    pub fn bind_function(&self, logical_id: &str) -> Result<String, String> {
        if !self.resolver.template.resources.contains_key(logical_id) {
            return Err(format!("{logical_id}: no such resource in the template"));
        }
        let policies = self
            .resolver
            .resolve(&Value::Array(
                self.resolver.template.function_policies(logical_id),
            ))
            .map_err(|e| format!("{logical_id}'s Policies: {e}"))?;
        let stack = &self.resolver.stack_name;
        let key = function_key(stack, logical_id);
        let arn = format!(
            "arn:aws:sts::{}:assumed-role/{stack}-{logical_id}Role/{stack}-{logical_id}",
            moto::ACCOUNT
        );
        let policy = policy_document(logical_id, &policies)?;
        strict::bind(&key, strict::Principal { arn, policy });
        Ok(key)
    }

    /// The environment `logical_id` (an event function: RedeployerFunction,
    /// ImagePrunerFunction, AutoscalerFunction) runs with, as template.yaml configures it: its
    /// `Environment.Variables` resolved, and its own access key, bound to its own policy.
    pub fn function_env(&self, logical_id: &str) -> Result<Vec<(String, String)>, String> {
        let key = self.bind_function(logical_id)?;
        let home = std::env::temp_dir().join(format!("skyhigh-home-{}", std::process::id()));
        std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
        let mut env = with_key(moto::process_env(&self.endpoint, &home), &key);
        let props = &self.resolver.template.resources[logical_id].properties;
        if let Some(variables) = props.pointer("/Environment/Variables") {
            let resolved = self
                .resolver
                .resolve(variables)
                .map_err(|e| format!("{logical_id}'s Environment: {e}"))?;
            for (k, v) in resolved.as_object().into_iter().flatten() {
                env.push((k.clone(), scalar(v)));
            }
        }
        env.extend(lambda_log_env(props.get("LoggingConfig")));
        Ok(env)
    }

    fn record(&mut self, step: Step) {
        (self.on_step)(&step);
        self.steps.push(step);
    }

    /// Makes what a native resource needs to exist in moto; the rest gets a stand-in id.
    async fn create_native(
        &mut self,
        id: &str,
        kind: &str,
        props: &Value,
    ) -> (String, BTreeMap<String, String>, String) {
        let stack = self.resolver.stack_name.clone();
        let e = &self.endpoint;
        let p = |k: &str| props.get(k).map(scalar).unwrap_or_default();
        match kind {
            "AWS::EC2::VPC" => {
                let vpc = ec2::call(
                    e,
                    &[("Action", "CreateVpc"), ("CidrBlock", &p("CidrBlock"))],
                    "vpcId",
                )
                .await;
                (vpc, BTreeMap::new(), "made in moto".into())
            }
            "AWS::EC2::Subnet" => {
                let params = [
                    ("Action", "CreateSubnet"),
                    ("VpcId", &p("VpcId")),
                    ("CidrBlock", &p("CidrBlock")),
                    ("AvailabilityZone", &p("AvailabilityZone")),
                ];
                let subnet = ec2::call(e, &params, "subnetId").await;
                (subnet, BTreeMap::new(), "made in moto".into())
            }
            "AWS::EC2::SecurityGroup" => {
                let name = format!("{stack}-{id}");
                let params = [
                    ("Action", "CreateSecurityGroup"),
                    ("GroupName", name.as_str()),
                    ("GroupDescription", &p("GroupDescription")),
                    ("VpcId", &p("VpcId")),
                ];
                let sg = ec2::call(e, &params, "groupId").await;
                (
                    sg.clone(),
                    BTreeMap::from([("GroupId".to_string(), sg)]),
                    "made in moto".into(),
                )
            }
            "AWS::IAM::Role" => {
                let name = format!("{stack}-{id}");
                let arn = format!("arn:aws:iam::{}:role/{name}", moto::ACCOUNT);
                (
                    name,
                    BTreeMap::from([("Arn".to_string(), arn)]),
                    "stand-in ARN".into(),
                )
            }
            "AWS::Serverless::Function" => {
                let name = format!("{stack}-{id}");
                let arn = format!(
                    "arn:aws:lambda:{}:{}:function:{name}",
                    moto::REGION,
                    moto::ACCOUNT
                );
                (
                    name,
                    BTreeMap::from([("Arn".to_string(), arn)]),
                    "served locally by the Runtime API".into(),
                )
            }
            "AWS::CloudWatch::Alarm" if props.is_object() => {
                // Every property arrives as a string or a number: the API's are typed.
                let mut input = props.clone();
                for key in ["Period", "EvaluationPeriods", "DatapointsToAlarm"] {
                    if let Some(n) = input
                        .get(key)
                        .map(scalar)
                        .and_then(|v| v.parse::<i64>().ok())
                    {
                        input[key] = json!(n);
                    }
                }
                if let Some(n) = input
                    .get("Threshold")
                    .map(scalar)
                    .and_then(|v| v.parse::<f64>().ok())
                {
                    input["Threshold"] = json!(n);
                }
                match put_metric_alarm(e, &input).await {
                    Ok(()) => (p("AlarmName"), BTreeMap::new(), "made in moto".into()),
                    Err(why) => (
                        format!("{id}-local"),
                        BTreeMap::new(),
                        format!("NOT made in moto: {why}"),
                    ),
                }
            }
            _ => (
                format!("{id}-local"),
                BTreeMap::new(),
                "not needed locally".into(),
            ),
        }
    }

    /// Sends one custom-resource request through the provisioner process and reads its answer.
    async fn send(
        &mut self,
        kind: &str,
        id: &str,
        props: &Value,
        physical: Option<&str>,
        old: Option<&Value>,
    ) -> Result<Answer, String> {
        let resource_type = self.resolver.template.resources[id].kind.clone();
        self.bind_function(PROVISIONER)?;
        let pending = self
            .cfn
            .request(kind, &resource_type, id, props, physical, old);
        let outcome = self
            .provisioner
            .runtime
            .invoke(pending.event.clone(), Duration::from_secs(300))
            .await;
        match outcome {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("{id}: the provisioner returned an error: {e}")),
            None => {
                let init = self.provisioner.runtime.init_error().unwrap_or_default();
                return Err(format!("{id}: no answer from the provisioner {init}"));
            }
        }
        let answer = self
            .cfn
            .answers(&pending)
            .pop()
            .ok_or_else(|| format!("{id}: nothing was PUT to the response URL"))?;
        self.record(Step {
            logical_id: id.into(),
            kind: resource_type,
            action: kind.into(),
            physical_id: answer.physical_id.clone(),
            status: answer.status.clone(),
            reason: answer.reason.clone(),
        });
        Ok(answer)
    }

    fn settle(&mut self, id: &str, answer: &Answer, props: Value) {
        self.resolver
            .physical_ids
            .insert(id.into(), answer.physical_id.clone());
        let data = answer
            .data
            .iter()
            .map(|(k, v)| (k.clone(), scalar(v)))
            .collect();
        self.resolver.attributes.insert(id.into(), data);
        self.customs.insert(id.into(), props);
    }

    /// Stack create: every resource in dependency order. Stops at the first FAILED.
    pub async fn create(&mut self) -> Result<(), String> {
        for id in self.order.clone() {
            let resource = self.resolver.template.resources[&id].clone();
            // Only what is made in moto needs its properties; a stand-in needs none.
            let made_locally = resource.kind.starts_with("Custom::")
                || [
                    "AWS::EC2::VPC",
                    "AWS::EC2::Subnet",
                    "AWS::EC2::SecurityGroup",
                ]
                .contains(&resource.kind.as_str());
            let props = if made_locally {
                self.resolver.resolve(&resource.properties)?
            } else if resource.kind == "AWS::CloudWatch::Alarm" {
                // Made in moto when it names only what exists locally (the service's alarms);
                // others (on stand-ins such as the failure queues) stay stand-ins.
                self.resolver
                    .resolve(&resource.properties)
                    .unwrap_or(Value::Null)
            } else {
                Value::Null
            };
            if resource.kind.starts_with("Custom::") {
                let answer = self.send("Create", &id, &props, None, None).await?;
                if !answer.is_success() {
                    return Err(format!("{id}: {}", answer.reason));
                }
                self.settle(&id, &answer, props);
            } else {
                let (physical, attributes, how) =
                    self.create_native(&id, &resource.kind, &props).await;
                self.record(Step {
                    logical_id: id.clone(),
                    kind: resource.kind.clone(),
                    action: "Create".into(),
                    physical_id: physical.clone(),
                    status: "NATIVE".into(),
                    reason: how,
                });
                self.resolver.physical_ids.insert(id.clone(), physical);
                self.resolver.attributes.insert(id.clone(), attributes);
            }
        }
        Ok(())
    }

    /// Stack update with new parameter values: an Update for every custom resource whose
    /// resolved properties changed, then the cleanup Delete of any replaced one.
    pub async fn update(
        &mut self,
        parameters: &BTreeMap<String, String>,
    ) -> Result<Vec<String>, String> {
        self.resolver.parameters.extend(parameters.clone());
        let mut changed = Vec::new();
        let mut replaced = Vec::new();
        for id in self.order.clone() {
            let Some(old) = self.customs.get(&id).cloned() else {
                continue;
            };
            let props = self
                .resolver
                .resolve(&self.resolver.template.resources[&id].properties)?;
            if props == old {
                continue;
            }
            let physical = self.resolver.physical_ids[&id].clone();
            let answer = self
                .send("Update", &id, &props, Some(&physical), Some(&old))
                .await?;
            if !answer.is_success() {
                return Err(format!("{id}: {}", answer.reason));
            }
            if answer.physical_id != physical {
                replaced.push((id.clone(), physical, old));
            }
            self.settle(&id, &answer, props);
            changed.push(id);
        }
        for (id, physical, old) in replaced.into_iter().rev() {
            self.send("Delete", &id, &old, Some(&physical), None)
                .await?;
        }
        Ok(changed)
    }

    /// Stack delete: custom resources in reverse dependency order.
    pub async fn delete(&mut self) -> Result<(), String> {
        for id in self.order.clone().into_iter().rev() {
            let Some(props) = self.customs.remove(&id) else {
                continue;
            };
            let physical = self.resolver.physical_ids[&id].clone();
            let answer = self
                .send("Delete", &id, &props, Some(&physical), None)
                .await?;
            if !answer.is_success() {
                return Err(format!("{id}: {}", answer.reason));
            }
        }
        Ok(())
    }

    /// The template's Outputs, resolved.
    pub fn outputs(&self) -> Result<BTreeMap<String, String>, String> {
        self.resolver
            .template
            .outputs
            .iter()
            .map(|(k, o)| Ok((k.clone(), scalar(&self.resolver.resolve(&o["Value"])?))))
            .collect()
    }

    /// Peak RSS of the provisioner process so far, in KiB.
    pub fn provisioner_peak_rss_kib(&self) -> Option<u64> {
        self.provisioner.peak_rss_kib()
    }

    pub async fn stop(self) {
        self.provisioner.stop().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
        env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn logging_config_becomes_the_variables_lambda_sets() {
        let json = json!({"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG",
                          "SystemLogLevel": "WARN", "LogGroup": "g"});
        assert_eq!(
            pairs(&lambda_log_env(Some(&json))),
            [
                ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                ("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
            ]
        );
        // JSON without a level: Lambda filters at INFO.
        let json = json!({"LogFormat": "JSON"});
        assert_eq!(
            pairs(&lambda_log_env(Some(&json))),
            [
                ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                ("AWS_LAMBDA_LOG_LEVEL", "INFO")
            ]
        );
        // Text has no level filtering.
        let text = json!({"LogFormat": "Text", "ApplicationLogLevel": "DEBUG"});
        assert_eq!(
            pairs(&lambda_log_env(Some(&text))),
            [("AWS_LAMBDA_LOG_FORMAT", "Text")]
        );
        assert!(lambda_log_env(Some(&json!({"LogGroup": "g"}))).is_empty());
        assert!(lambda_log_env(None).is_empty());
    }

    #[test]
    fn every_function_of_the_template_logs_json_at_info() {
        let template = Template::load(&moto::workspace_root().join("template.yaml")).unwrap();
        let functions: Vec<_> = template
            .resources
            .iter()
            .filter(|(_, r)| r.kind == "AWS::Serverless::Function")
            .collect();
        assert_eq!(functions.len(), 4);
        for (id, r) in functions {
            assert_eq!(
                pairs(&lambda_log_env(r.properties.get("LoggingConfig"))),
                [
                    ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                    ("AWS_LAMBDA_LOG_LEVEL", "INFO")
                ],
                "{id}"
            );
        }
    }
}
