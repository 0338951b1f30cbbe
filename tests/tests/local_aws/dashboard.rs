//! The dashboard in template.yaml, resolved as CloudFormation would resolve it for a deployed
//! stack: its body is valid JSON, every metric it graphs names a namespace, metric and
//! dimensions that exist for this stack, with this stack's values; the alarms and log groups
//! it shows are the stack's; its lines match the alarms' thresholds and the targets.

use local_harness::moto;
use local_harness::stack::{lambda_log_env, LocalStack};
use local_harness::template::{scalar, Resolver};
use local_harness::world::World;
use operator_common::metrics::{Metric, NAMESPACE, SERVICE_DIMENSION, SERVICE_ENV};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// `Fn::Split`, which the local resolver does not play: resolved bottom-up, so that the
/// `Fn::Select` around it sees a list.
fn with_splits(resolver: &Resolver, v: &Value) -> Value {
    match v {
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| with_splits(resolver, i)).collect())
        }
        Value::Object(m) if m.len() == 1 && m.contains_key("Fn::Split") => {
            let args = m["Fn::Split"].as_array().expect("Fn::Split takes a list");
            let delimiter = args[0].as_str().expect("a delimiter");
            let text = scalar(&resolver.resolve(&with_splits(resolver, &args[1])).unwrap());
            json!(text.split(delimiter).collect::<Vec<_>>())
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), with_splits(resolver, v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// What the deployed stack is, read from the local AWS.
struct Deployed {
    cluster: String,
    service: String,
    repository: String,
    /// `app/<name>/<id>`: the tail of the load balancer's ARN (its CloudWatch dimension).
    load_balancer: String,
    /// `targetgroup/<name>/<id>`.
    target_group: String,
    /// The `SERVICE_NAME` each function runs with (its metrics' dimension).
    function_services: BTreeMap<String, String>,
    alarms: BTreeMap<String, Value>,
    log_groups: BTreeSet<String>,
}

/// The template's stack deployed locally, with what only CloudFormation would know filled in:
/// the alarms' ARNs and the log groups' names (the local stack makes them stand-ins).
async fn deploy(w: &World, app: &str) -> (LocalStack<'static>, Deployed) {
    let mut stack = LocalStack::for_test(w, app, &[]).await;
    stack.create().await.unwrap();
    let template = stack.resolver.template;
    let mut alarms = BTreeMap::new();
    let mut log_groups = BTreeSet::new();
    for (id, r) in &template.resources {
        match r.kind.as_str() {
            "AWS::CloudWatch::Alarm" => {
                let props = stack.resolver.resolve(&r.properties).unwrap_or(Value::Null);
                let name = stack
                    .resolver
                    .resolve(&r.properties["AlarmName"])
                    .map(|n| scalar(&n))
                    .unwrap();
                let arn = format!(
                    "arn:aws:cloudwatch:{}:{}:alarm:{name}",
                    moto::REGION,
                    moto::ACCOUNT
                );
                stack.resolver.attributes.insert(
                    id.clone(),
                    BTreeMap::from([("Arn".to_string(), arn.clone())]),
                );
                alarms.insert(id.clone(), json!({"arn": arn, "properties": props}));
            }
            "AWS::Logs::LogGroup" => {
                let name = scalar(
                    &stack
                        .resolver
                        .resolve(&r.properties["LogGroupName"])
                        .unwrap(),
                );
                stack.resolver.physical_ids.insert(id.clone(), name.clone());
                log_groups.insert(name);
            }
            _ => {}
        }
    }
    let described = w
        .clients
        .elb()
        .describe_load_balancers()
        .names(app)
        .send()
        .await
        .unwrap();
    let lb_arn = described.load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();
    let tgs = w
        .clients
        .elb()
        .describe_target_groups()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .unwrap();
    let tg_arn = tgs.target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    let mut function_services = BTreeMap::new();
    for f in [
        "RedeployerFunction",
        "ImagePrunerFunction",
        "AutoscalerFunction",
    ] {
        let env = stack.function_env(f).unwrap();
        let service = env
            .iter()
            .find(|(k, _)| k == SERVICE_ENV)
            .map(|(_, v)| v.clone());
        function_services.insert(f.to_string(), service.unwrap_or_default());
    }
    let provisioner_env = stack
        .resolver
        .resolve(&template.resources["ProvisionerFunction"].properties["Environment"]["Variables"])
        .unwrap();
    function_services.insert(
        "ProvisionerFunction".into(),
        scalar(&provisioner_env[SERVICE_ENV]),
    );
    let deployed = Deployed {
        cluster: app.to_string(),
        service: app.to_string(),
        repository: app.to_string(),
        load_balancer: lb_arn.split_once("loadbalancer/").unwrap().1.to_string(),
        target_group: tg_arn.rsplit(':').next().unwrap().to_string(),
        function_services,
        alarms,
        log_groups,
    };
    (stack, deployed)
}

fn body(stack: &LocalStack) -> Value {
    let dashboard = &stack.resolver.template.resources["Dashboard"];
    assert_eq!(dashboard.kind, "AWS::CloudWatch::Dashboard");
    let raw = with_splits(&stack.resolver, &dashboard.properties["DashboardBody"]);
    let text = scalar(&stack.resolver.resolve(&raw).expect("the body resolves"));
    assert!(!text.contains("${"), "an unresolved variable: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// A metric row `[namespace, name, dim, value, …, {options}?]` as (namespace, name, dims).
fn metric_row(row: &Value) -> (String, String, BTreeMap<String, String>) {
    let items = row.as_array().expect("a metric row is a list");
    let strings: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
    assert!(
        strings.len() >= 2 && strings.len() % 2 == 0,
        "namespace, name and dimension pairs: {row}"
    );
    assert!(
        items.iter().skip(strings.len()).all(Value::is_object),
        "only the options follow the dimensions: {row}"
    );
    let dims = strings[2..]
        .chunks(2)
        .map(|p| (p[0].to_string(), p[1].to_string()))
        .collect();
    (strings[0].to_string(), strings[1].to_string(), dims)
}

fn dims(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The metrics AWS publishes for this stack's resources (and the operator's own), with the
/// dimensions each is published under: the CloudWatch user guides of ECS (service metrics),
/// Container Insights (service level), Application Load Balancers and ECR.
fn known_metrics(d: &Deployed) -> Vec<(&'static str, Vec<String>, BTreeMap<String, String>)> {
    let service = dims(&[("ClusterName", &d.cluster), ("ServiceName", &d.service)]);
    let lb = dims(&[("LoadBalancer", &d.load_balancer)]);
    let tg = dims(&[
        ("LoadBalancer", &d.load_balancer),
        ("TargetGroup", &d.target_group),
    ]);
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        (
            "AWS/ECS",
            names(&["CPUUtilization", "MemoryUtilization"]),
            service.clone(),
        ),
        (
            "ECS/ContainerInsights",
            names(&["DesiredTaskCount", "RunningTaskCount", "PendingTaskCount"]),
            service,
        ),
        (
            "AWS/ApplicationELB",
            names(&[
                "RequestCount",
                "TargetResponseTime",
                "HTTPCode_ELB_4XX_Count",
                "HTTPCode_ELB_5XX_Count",
                "HTTPCode_Target_4XX_Count",
                "HTTPCode_Target_5XX_Count",
            ]),
            lb,
        ),
        (
            "AWS/ApplicationELB",
            names(&["HealthyHostCount", "UnHealthyHostCount"]),
            tg,
        ),
        (
            "AWS/ECR",
            names(&["RepositoryPullCount"]),
            dims(&[("RepositoryName", &d.repository)]),
        ),
        (
            NAMESPACE,
            Metric::ALL.iter().map(|m| m.name().to_string()).collect(),
            dims(&[(SERVICE_DIMENSION, &d.service)]),
        ),
    ]
}

fn widgets(body: &Value) -> &Vec<Value> {
    body["widgets"].as_array().expect("widgets")
}

#[tokio::test]
async fn the_dashboard_shows_this_stack_s_metrics_alarms_and_logs() {
    let w = World::new().await;
    let app = w.name("dash");
    let (stack, d) = deploy(&w, &app).await;
    let body = body(&stack);
    let known = known_metrics(&d);

    // The grid: 24 columns, no two widgets on the same cell.
    let mut cells = BTreeSet::new();
    for widget in widgets(&body) {
        let n = |k: &str| {
            widget[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k} of {widget}"))
        };
        assert!(n("x") + n("width") <= 24, "{widget}");
        for x in n("x")..n("x") + n("width") {
            for y in n("y")..n("y") + n("height") {
                assert!(cells.insert((x, y)), "two widgets on ({x}, {y})");
            }
        }
    }

    let mut shown = BTreeSet::new();
    for widget in widgets(&body).iter().filter(|w| w["type"] == "metric") {
        let p = &widget["properties"];
        assert_eq!(p["region"], moto::REGION, "{widget}");
        for row in p["metrics"].as_array().expect("metrics") {
            let (namespace, name, dims) = metric_row(row);
            let found = known.iter().any(|(ns, names, want)| {
                *ns == namespace && names.contains(&name) && *want == dims
            });
            assert!(
                found,
                "no such metric for this stack: {namespace} {name} {dims:?}"
            );
            shown.insert((namespace, name));
        }
    }
    // The seed's list, and every decision of the operator's but the ones its alarm watches.
    for (namespace, name) in [
        ("AWS/ECS", "CPUUtilization"),
        ("AWS/ECS", "MemoryUtilization"),
        ("ECS/ContainerInsights", "RunningTaskCount"),
        ("AWS/ApplicationELB", "RequestCount"),
        ("AWS/ApplicationELB", "TargetResponseTime"),
        ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"),
        ("AWS/ApplicationELB", "UnHealthyHostCount"),
    ] {
        assert!(
            shown.contains(&(namespace.to_string(), name.to_string())),
            "{namespace} {name} not shown"
        );
    }
    for m in Metric::ALL {
        assert!(
            shown.contains(&(NAMESPACE.to_string(), m.name().to_string())),
            "{} not shown",
            m.name()
        );
    }

    // Container Insights publishes the task counts only for a cluster that enables it.
    let clusters = w
        .clients
        .ecs()
        .describe_clusters()
        .clusters(&d.cluster)
        .include(aws_sdk_ecs::types::ClusterField::Settings)
        .send()
        .await
        .unwrap();
    let insights = clusters.clusters()[0]
        .settings()
        .iter()
        .find(|s| s.name().map(|n| n.as_str()) == Some("containerInsights"))
        .and_then(|s| s.value())
        .map(str::to_string);
    assert!(
        matches!(insights.as_deref(), Some("enabled" | "enhanced")),
        "{insights:?}"
    );

    // The operator's dimension is the SERVICE_NAME every function emits with.
    for (function, service) in &d.function_services {
        assert_eq!(service, &d.service, "{function}'s {SERVICE_ENV}");
    }

    // The alarms widget lists alarms of this stack.
    let alarm_arns: BTreeSet<&str> = d
        .alarms
        .values()
        .filter_map(|a| a["arn"].as_str())
        .collect();
    for widget in widgets(&body).iter().filter(|w| w["type"] == "alarm") {
        for arn in widget["properties"]["alarms"].as_array().unwrap() {
            assert!(
                alarm_arns.contains(arn.as_str().unwrap()),
                "not this stack's alarm: {arn}"
            );
        }
    }

    // The lines drawn at the alarms' thresholds and at the target-tracking targets.
    let threshold = |alarm: &str| d.alarms[alarm]["properties"]["Threshold"].clone();
    let service_props = stack
        .resolver
        .resolve(&stack.resolver.template.resources["Service"].properties)
        .unwrap();
    for (metric, alarm, target) in [
        ("CPUUtilization", "CpuHighAlarm", "CpuTargetPercent"),
        (
            "MemoryUtilization",
            "MemoryHighAlarm",
            "MemoryTargetPercent",
        ),
    ] {
        let widget = widgets(&body)
            .iter()
            .find(|w| w["properties"]["metrics"][0][1] == metric)
            .unwrap();
        let lines: BTreeMap<String, f64> = widget["properties"]["annotations"]["horizontal"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["label"].as_str().unwrap().to_string(),
                    a["value"].as_f64().unwrap(),
                )
            })
            .collect();
        let number = |v: &Value| scalar(v).parse::<f64>().unwrap();
        assert_eq!(
            lines[&format!("alarm {}", scalar(&threshold(alarm)))],
            number(&threshold(alarm))
        );
        assert_eq!(
            lines[&format!("target {}", scalar(&service_props[target]))],
            number(&service_props[target])
        );
    }

    // The decisions table reads the four functions' log groups, and the lines with a reason.
    let log = widgets(&body).iter().find(|w| w["type"] == "log").unwrap();
    let query = log["properties"]["query"].as_str().unwrap();
    let sources: BTreeSet<String> = query
        .split("SOURCE '")
        .skip(1)
        .map(|s| s.split('\'').next().unwrap().to_string())
        .collect();
    let function_groups: BTreeSet<String> = d
        .log_groups
        .iter()
        .filter(|g| g.starts_with("/aws/lambda/"))
        .cloned()
        .collect();
    assert_eq!(sources, function_groups);
    for field in ["fields.why", "fields.reason", "sort @timestamp desc"] {
        assert!(query.contains(field), "{field} not in {query}");
    }

    // The alarm on the operator's custom-resource failures reads the metric the provisioner emits.
    let alarm = &d.alarms["CustomResourceFailuresAlarm"]["properties"];
    assert_eq!(alarm["Namespace"], NAMESPACE);
    assert_eq!(alarm["MetricName"], Metric::CustomResourceFailures.name());
    assert_eq!(
        alarm["Dimensions"],
        json!([{"Name": SERVICE_DIMENSION, "Value": d.function_services["ProvisionerFunction"]}])
    );
    stack.stop().await;
}

/// A function's real binary behind a local Runtime API, its stdout (where the EMF goes) kept.
struct Captured {
    process: local_harness::runtime_api::LambdaProcess,
    stdout: local_harness::runtime_api::Stdout,
}

impl Captured {
    async fn start(function: &str, env: &[(String, String)]) -> Captured {
        let binary = local_harness::stack::build_function(function);
        let (process, stdout) =
            local_harness::runtime_api::LambdaProcess::start_capturing(&binary, function, env)
                .await
                .unwrap();
        Captured { process, stdout }
    }

    async fn invoke(&self, event: Value) -> Value {
        let answer = self
            .process
            .runtime
            .invoke(event, std::time::Duration::from_secs(120))
            .await;
        match answer {
            Some(Ok(v)) => v,
            other => panic!("{other:?}; init {:?}", self.process.runtime.init_error()),
        }
    }

    /// The EMF documents written so far (lines with `_aws`), once stdout has caught up.
    async fn emf(&self) -> Vec<Value> {
        // The line is written before the response is posted; the pipe may lag a little.
        for _ in 0..50 {
            let docs: Vec<Value> = self
                .stdout
                .lines()
                .iter()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|v| v.get("_aws").is_some())
                .collect();
            if !docs.is_empty() {
                return docs;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Vec::new()
    }

    async fn stop(self) {
        self.process.stop().await;
    }
}

/// The one EMF document `docs` holds: in the operator's namespace, with the Service dimension
/// the dashboard reads, counting `metric`. Returns its value.
fn counted(docs: &[Value], metric: Metric, dashboard: &Value, service: &str) -> u64 {
    assert_eq!(docs.len(), 1, "one document per decision: {docs:?}");
    let doc = &docs[0];
    let spec = &doc["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(spec["Namespace"], NAMESPACE, "{doc}");
    assert_eq!(spec["Dimensions"], json!([[SERVICE_DIMENSION]]), "{doc}");
    assert_eq!(spec["Metrics"][0]["Name"], metric.name(), "{doc}");
    assert_eq!(doc[SERVICE_DIMENSION], service, "{doc}");
    // A widget of the dashboard reads exactly this metric (or, for the custom-resource
    // failures, the alarm does: see the test above).
    if metric != Metric::CustomResourceFailures {
        let read = widgets(dashboard)
            .iter()
            .filter(|w| w["type"] == "metric")
            .flat_map(|w| w["properties"]["metrics"].as_array().unwrap().iter())
            .map(metric_row)
            .any(|(ns, name, dims)| {
                ns == NAMESPACE
                    && name == metric.name()
                    && dims == self::dims(&[(SERVICE_DIMENSION, service)])
            });
        assert!(read, "no widget reads {}", metric.name());
    }
    doc[metric.name()].as_u64().expect("a count")
}

#[tokio::test]
async fn each_function_emits_the_emf_its_dashboard_widgets_read() {
    use local_harness::scenarios::{autoscaler, image_pruner, redeployer};
    let w = World::new().await;
    let app = w.name("emf");
    let (stack, d) = deploy(&w, &app).await;
    let dashboard = body(&stack);

    // The redeployer: a push of the tracked tag rolls the service onto it.
    let env = stack.function_env("RedeployerFunction").unwrap();
    let f = Captured::start("redeployer", &env).await;
    let digest = w.push_image(&app, "latest", 4242).await;
    let r = f
        .invoke(redeployer::ecr_event("PUSH", &app, Some("latest"), &digest))
        .await;
    assert_eq!(r["decision"], "deployed", "{r}");
    assert_eq!(
        counted(&f.emf().await, Metric::Deploys, &dashboard, &d.service),
        1
    );
    f.stop().await;

    // The image pruner: 12 more images than it keeps.
    w.push_images(&app, "build-", 1..13, 4).await;
    let env = stack.function_env("ImagePrunerFunction").unwrap();
    let f = Captured::start("image-pruner", &env).await;
    let r = f.invoke(image_pruner::schedule_event()).await;
    let deleted = r["deleted"].as_u64().unwrap();
    assert!(deleted > 0, "{r}");
    assert_eq!(
        counted(
            &f.emf().await,
            Metric::ImagesDeleted,
            &dashboard,
            &d.service
        ),
        deleted
    );
    f.stop().await;

    // The autoscaler: the CPU alarm in ALARM scales the service out.
    let stand_in = autoscaler::StandIn::start(&w.endpoint, &d.cluster, &d.service).await;
    stand_in.set(
        &autoscaler::alarm_name(&d.service, "cpu-high"),
        true,
        &[91.0, 93.5],
    );
    let mut env = stack.function_env("AutoscalerFunction").unwrap();
    env.extend(stand_in.env());
    // The deployment of a moment ago counts as a change of the count.
    env.push(("SCALE_OUT_COOLDOWN_SECONDS".into(), "0".into()));
    let f = Captured::start("autoscaler", &env).await;
    let r = f
        .invoke(autoscaler::event("cpu-high-alarm", &d.cluster, &d.service))
        .await;
    assert_eq!(r["decision"]["outcome"], "scaled", "{r}");
    assert_eq!(
        counted(&f.emf().await, Metric::ScaleOuts, &dashboard, &d.service),
        1
    );
    f.stop().await;

    // The provisioner: a request it must refuse is answered FAILED, and counted.
    let home = std::env::temp_dir().join(format!("skyhigh-emf-home-{}", w.id));
    std::fs::create_dir_all(&home).unwrap();
    let mut env = moto::process_env(&w.endpoint, &home);
    env.push((
        SERVICE_ENV.into(),
        d.function_services["ProvisionerFunction"].clone(),
    ));
    let provisioner = &stack.resolver.template.resources["ProvisionerFunction"].properties;
    env.extend(lambda_log_env(provisioner.get("LoggingConfig")));
    let f = Captured::start("provisioner", &env).await;
    let pending = w.cfn.request(
        "Create",
        "Custom::Repository",
        "Repository",
        &json!({"RepositoryName": "Not A Valid Name", "KeepImages": "-1"}),
        None,
        None,
    );
    let r = f.invoke(pending.event.clone()).await;
    assert_eq!(r["Status"], "FAILED", "{r}");
    assert_eq!(
        counted(
            &f.emf().await,
            Metric::CustomResourceFailures,
            &dashboard,
            &d.service
        ),
        1
    );
    f.stop().await;
    stack.stop().await;
}
