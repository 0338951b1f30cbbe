//! `make bench`: a function's main path, cold and warm, side by side with a Python (boto3)
//! function making the same calls, all run the way Lambda runs them (a local Lambda Runtime
//! API) against the same local AWS (moto behind the strict layer).
//!
//! - cold: a fresh process per run, its event already waiting: exec → the invocation's response
//!   (for the provisioner, the answer PUT to the response URL comes before it);
//! - warm: one process, one invocation after another: the event queued → the response.
//!
//! Every run gets fresh state (a new repository to create, a new push to roll out, the service
//! back at 2 tasks under a CPU alarm, 3 new images to prune), so cold and warm runs do the same
//! work. Medians of N, interleaved (cold, warm, Python cold, Python warm) so that drift of the
//! local AWS touches all four alike; cold − warm is the median of each round's difference
//! (`Side::gap`). Prints figures; asserts nothing about time.
//!
//! Usage: bench FUNCTION PATH_TO_RELEASE_BINARY [RUNS]
//! `BENCH_PYTHON=off` skips the Python side; `BENCH_SCALE=off` the pruner's 10,000 images;
//! `BENCH_RAW=1` prints every run's times (stderr).
//! Both languages talk to the strict layer in front of moto, as the tests and the demo do: it
//! gives what AWS gives and moto does not (a revision's `registeredAt`, which the redeployer's
//! cold path reads); `STRICT_LAYER=off` talks to moto itself.

use local_harness::moto;
use local_harness::runtime_api::{lambda_command, LambdaProcess, RuntimeApi};
use local_harness::scenarios::{self, autoscaler, image_pruner, redeployer};
use local_harness::world::World;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const INVOCATION_TIMEOUT: Duration = Duration::from_secs(120);

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

fn zipped_size(binary: &Path) -> Option<u64> {
    let zip = std::env::temp_dir().join(format!("bootstrap-{}.zip", std::process::id()));
    let script = "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:\n    z.write(sys.argv[2], 'bootstrap')";
    let ok = Command::new("python3")
        .args(["-c", script])
        .arg(&zip)
        .arg(binary)
        .status()
        .ok()?
        .success();
    let size = ok
        .then(|| std::fs::metadata(&zip).ok().map(|m| m.len()))
        .flatten();
    let _ = std::fs::remove_file(&zip);
    size
}

/// What runs: the Rust binary, or the Python runtime loop with the function's module.
#[derive(Clone)]
struct Program {
    exe: PathBuf,
    args: Vec<String>,
}

impl Program {
    fn rust(binary: &Path) -> Program {
        Program {
            exe: binary.to_path_buf(),
            args: Vec::new(),
        }
    }

    fn python(function: &str) -> Option<Program> {
        if std::env::var("BENCH_PYTHON").as_deref() == Ok("off") {
            return None;
        }
        let root = moto::workspace_root();
        let exe = std::env::var("BENCH_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join(".venv/bin/python"));
        let dir = root.join("tests/bench/python");
        let module = function.replace('-', "_");
        (exe.exists() && dir.join(format!("{module}.py")).exists()).then(|| Program {
            exe,
            args: vec![
                "-B".into(),
                dir.join("bootstrap.py").display().to_string(),
                module,
            ],
        })
    }

    /// Starts it as Lambda would (`lambda_command`, as for every function the harness runs).
    async fn start(&self, function: &str, env: &[(String, String)]) -> LambdaProcess {
        let runtime = RuntimeApi::start().await;
        let started = Instant::now();
        let child = lambda_command(&self.exe, function, &runtime)
            .args(&self.args)
            .env(
                "RUST_LOG",
                std::env::var("FUNCTION_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(match std::env::var_os("FUNCTION_LOG") {
                Some(_) => Stdio::inherit(),
                None => Stdio::null(),
            })
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.exe.display()));
        LambdaProcess {
            child,
            started,
            runtime,
        }
    }
}

/// The answer of one invocation, or why there is none.
async fn invoke(process: &LambdaProcess, event: Value) -> Result<Value, String> {
    match process.runtime.invoke(event, INVOCATION_TIMEOUT).await {
        Some(Ok(response)) => Ok(response),
        other => Err(format!(
            "no successful answer: {other:?} (init error {:?})",
            process.runtime.init_error()
        )),
    }
}

/// A function's main path, made ready to run again before each run.
enum Case {
    /// A Custom::Repository Create (a new repository each run).
    Provisioner,
    /// A push of the tracked tag rolled out onto the service.
    Redeployer { repository: String },
    /// The service's CPU alarm in ALARM; the service back at 2 tasks with no record.
    Autoscaler {
        cluster: String,
        service: String,
        _stand_in: autoscaler::StandIn,
    },
    /// 3 new images pushed; a scheduled prune deletes what is past the newest 10.
    Pruner { repository: String },
}

struct Ready {
    case: Case,
    env: Vec<(String, String)>,
}

async fn setup(function: &str, w: &World) -> Result<Ready, String> {
    Ok(match function {
        "provisioner" => Ready {
            case: Case::Provisioner,
            env: Vec::new(),
        },
        "redeployer" => {
            let (repository, _) = redeployer::foundations(w).await;
            redeployer::release(w, &repository, 1).await;
            Ready {
                env: redeployer::settings(&w.name("sky"), &w.name("web"), &repository),
                case: Case::Redeployer { repository },
            }
        }
        "autoscaler" => {
            let (cluster, service) = autoscaler::service_with_target(w, 1, 5).await;
            let stand_in = autoscaler::StandIn::start(&w.endpoint, &cluster, &service).await;
            stand_in.set(
                &autoscaler::alarm_name(&service, "cpu-high"),
                true,
                &[88.2, 93.5],
            );
            let mut env = autoscaler::settings(&cluster, &service);
            env.extend(stand_in.env());
            env.push(("SCALE_OUT_COOLDOWN_SECONDS".into(), "0".into()));
            Ready {
                env,
                case: Case::Autoscaler {
                    cluster,
                    service,
                    _stand_in: stand_in,
                },
            }
        }
        "image-pruner" => {
            let (repository, _, props) = w.foundations().await;
            w.push_image(&repository, "latest", 1).await;
            w.create_service(&props).await;
            w.push_images(&repository, "build-", 10..22, 4).await;
            Ready {
                env: vec![
                    ("CLUSTER_NAME".into(), w.name("sky")),
                    ("SERVICE_NAME".into(), w.name("web")),
                    ("REPOSITORY_NAME".into(), repository.clone()),
                    ("KEEP_IMAGES".into(), "10".into()),
                    // moto loses deletions under concurrent BatchDeleteImage calls.
                    ("DELETE_CALLS_IN_FLIGHT".into(), "1".into()),
                ],
                case: Case::Pruner { repository },
            }
        }
        other => return Err(format!("no bench case for {other}")),
    })
}

impl Case {
    /// Fresh state for run `n`; returns its event.
    async fn next(&self, w: &World, n: u32) -> Value {
        match self {
            Case::Provisioner => {
                let props = json!({"RepositoryName": w.name(&format!("bench-{n}"))});
                w.cfn
                    .request(
                        "Create",
                        "Custom::Repository",
                        "Repository",
                        &props,
                        None,
                        None,
                    )
                    .event
            }
            Case::Redeployer { repository } => {
                // A push comes after the last roll (here within a second of it, unless waited
                // for): the function then knows that no older revision can run the new image.
                redeployer::next_second().await;
                let digest = redeployer::release(w, repository, 100 + n).await;
                redeployer::ecr_event("PUSH", repository, Some("latest"), &digest)
            }
            Case::Autoscaler {
                cluster, service, ..
            } => {
                reset_service(w, cluster, service).await;
                autoscaler::event("cpu-high-alarm", cluster, service)
            }
            Case::Pruner { repository } => {
                let first = 1000 + 3 * n;
                w.push_images(repository, "build-", first..first + 3, 3)
                    .await;
                sample_event("image-pruner", "schedule.json")
            }
        }
    }

    /// The answer shows the main path was taken (not a no-op that would flatter the figures).
    fn check(&self, answer: &Value) -> Result<(), String> {
        let ok = match self {
            Case::Provisioner => answer["Status"] == "SUCCESS",
            Case::Redeployer { .. } => answer["decision"] == "deployed",
            Case::Autoscaler { .. } => answer.to_string().contains("scale"),
            Case::Pruner { .. } => answer["deleted"].as_u64().is_some_and(|d| d > 0),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("the main path was not taken: {answer}"))
        }
    }
}

fn sample_event(function: &str, file: &str) -> Value {
    let path = moto::workspace_root()
        .join("events")
        .join(function)
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("a sample event")).expect("JSON")
}

/// The service back at 2 tasks, without the autoscaler's record: the next alarm scales again.
async fn reset_service(w: &World, cluster: &str, service: &str) {
    let ecs = w.clients.ecs();
    let described = ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .send()
        .await
        .expect("DescribeServices");
    let svc = described.services().first().expect("the service");
    let keys: Vec<String> = svc
        .tags()
        .iter()
        .filter_map(|t| t.key())
        .filter(|k| k.starts_with("skyhigh:autoscaler:"))
        .map(str::to_string)
        .collect();
    if !keys.is_empty() {
        ecs.untag_resource()
            .resource_arn(svc.service_arn().unwrap_or_default())
            .set_tag_keys(Some(keys))
            .send()
            .await
            .expect("UntagResource");
    }
    ecs.update_service()
        .cluster(cluster)
        .service(service)
        .desired_count(2)
        .send()
        .await
        .expect("UpdateService");
}

/// Cold and warm times of one program, and what its warm process reported.
#[derive(Default)]
struct Side {
    cold: Vec<f64>,
    init: Vec<f64>,
    warm: Vec<f64>,
    calls_cold: Option<u64>,
    calls_warm: Option<u64>,
    peak_rss_kib: u64,
}

impl Side {
    /// The median of the rounds' cold − warm: each cold run against the warm run made right
    /// after it, on the same state of the local AWS. Drift (moto slowing down as its state
    /// grows, the machine's other work) moves both runs of a round alike and cancels out.
    fn gap(&self) -> f64 {
        median(
            self.cold
                .iter()
                .zip(&self.warm)
                .map(|(c, w)| c - w)
                .collect(),
        )
    }

    fn print_runs(&self, side: &str) {
        let ms = |xs: &[f64]| xs.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>();
        eprintln!("{side} cold {:?}", ms(&self.cold));
        eprintln!("{side} warm {:?}", ms(&self.warm));
        eprintln!("{side} exec → /next {:?}", ms(&self.init));
    }

    /// One cold run: a fresh process with the event waiting.
    async fn cold_run(
        &mut self,
        program: &Program,
        function: &str,
        env: &[(String, String)],
        case: &Case,
        event: Value,
    ) -> Result<(), String> {
        let process = program.start(function, env).await;
        let answer = invoke(&process, event).await;
        let ms = process.started.elapsed().as_secs_f64() * 1000.0;
        if let Some(at) = process.runtime.first_next() {
            self.init
                .push((at - process.started).as_secs_f64() * 1000.0);
        }
        process.stop().await;
        let answer = answer?;
        case.check(&answer)?;
        self.cold.push(ms);
        self.calls_cold = answer["aws_calls"].as_u64().or(self.calls_cold);
        Ok(())
    }

    async fn warm_run(
        &mut self,
        process: &LambdaProcess,
        case: &Case,
        event: Value,
    ) -> Result<(), String> {
        let began = Instant::now();
        let answer = invoke(process, event).await?;
        let ms = began.elapsed().as_secs_f64() * 1000.0;
        case.check(&answer)?;
        self.warm.push(ms);
        self.calls_warm = answer["aws_calls"].as_u64().or(self.calls_warm);
        self.peak_rss_kib = process.peak_rss_kib().unwrap_or_default();
        Ok(())
    }
}

async fn run(function: &str, binary: PathBuf, runs: u32) -> Result<(), String> {
    let size = std::fs::metadata(&binary)
        .map_err(|e| format!("{}: {e}", binary.display()))?
        .len();
    let w = World::new().await;
    let home = std::env::temp_dir().join("skyhigh-bench-home");
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let Ready {
        case,
        env: settings,
    } = setup(function, &w).await?;
    let mut env = moto::process_env(&w.endpoint, &home);
    env.extend(settings);

    let rust = Program::rust(&binary);
    let python = Program::python(function);
    let mut n = 0u32;
    let mut fresh = || {
        n += 1;
        n
    };

    // The local AWS's own first calls (moto builds each service's state on first use) are
    // not the functions': one untimed run of each program first.
    let (mut r, mut p) = (Side::default(), Side::default());
    r.cold_run(&rust, function, &env, &case, case.next(&w, fresh()).await)
        .await?;
    let rust_warm = rust.start(function, &env).await;
    r.warm_run(&rust_warm, &case, case.next(&w, fresh()).await)
        .await?;
    let python_warm = match &python {
        Some(py) => {
            let process = py.start(function, &env).await;
            p.warm_run(&process, &case, case.next(&w, fresh()).await)
                .await?;
            Some(process)
        }
        None => None,
    };
    let (mut r, mut p) = (Side::default(), Side::default());

    for _ in 0..runs {
        r.cold_run(&rust, function, &env, &case, case.next(&w, fresh()).await)
            .await?;
        r.warm_run(&rust_warm, &case, case.next(&w, fresh()).await)
            .await?;
        if let (Some(py), Some(process)) = (&python, &python_warm) {
            p.cold_run(py, function, &env, &case, case.next(&w, fresh()).await)
                .await?;
            p.warm_run(process, &case, case.next(&w, fresh()).await)
                .await?;
        }
    }
    rust_warm.stop().await;
    if let Some(process) = python_warm {
        process.stop().await;
    }

    let mib = |kib: u64| kib as f64 / 1024.0;
    let calls = |c: Option<u64>| c.map_or("-".to_string(), |c| c.to_string());
    let (rc, rw) = (median(r.cold.clone()), median(r.warm.clone()));
    if std::env::var_os("BENCH_RAW").is_some() {
        r.print_runs("Rust");
        p.print_runs("Python");
    }
    println!("{function} ({}), median of {runs}", binary.display());
    println!(
        "  {:<7} {:>10} {:>10} {:>12} {:>14} {:>10} {:>12}",
        "", "cold ms", "warm ms", "cold - warm", "exec → /next", "peak RSS", "AWS calls"
    );
    println!(
        "  {:<7} {:>10.2} {:>10.2} {:>12.2} {:>14.2} {:>9.1}M {:>12}   [cold - warm, median of the rounds ≤ 3 ms; RSS ≤ 30 MB]",
        "Rust",
        rc,
        rw,
        r.gap(),
        median(r.init.clone()),
        mib(r.peak_rss_kib),
        format!("{}/{}", calls(r.calls_cold), calls(r.calls_warm)),
    );
    if python.is_some() {
        let (pc, pw) = (median(p.cold.clone()), median(p.warm.clone()));
        println!(
            "  {:<7} {:>10.2} {:>10.2} {:>12.2} {:>14.2} {:>9.1}M {:>12}",
            "Python",
            pc,
            pw,
            p.gap(),
            median(p.init.clone()),
            mib(p.peak_rss_kib),
            format!("{}/{}", calls(p.calls_cold), calls(p.calls_warm)),
        );
        println!(
            "  Python cold / Rust cold: {:.0}×   warm: {:.1}×   [aim ≥ 30× cold]",
            pc / rc,
            pw / rw
        );
    }
    match zipped_size(&binary) {
        Some(z) => println!(
            "  bootstrap: {:.2} MiB, zipped {:.2} MB   [≤ 6 MB zipped]",
            size as f64 / 1048576.0,
            z as f64 / 1e6
        ),
        None => println!("  bootstrap: {:.2} MiB", size as f64 / 1048576.0),
    }
    if function == "image-pruner" && std::env::var("BENCH_SCALE").as_deref() != Ok("off") {
        scale(&binary, &home).await?;
    }
    Ok(())
}

/// The pruner over 10,000 images (a dry run, one invocation): peak RSS and the decision's time.
async fn scale(binary: &Path, home: &Path) -> Result<(), String> {
    let w = World::new().await;
    let case = scenarios::bench_case("image-pruner", &w)
        .await
        .ok_or("no image-pruner scale case")?;
    let mut env = moto::process_env(&w.endpoint, home);
    env.extend(case.env);
    let process = Program::rust(binary).start("image-pruner", &env).await;
    let answer = invoke(&process, case.event).await;
    let peak = process.peak_rss_kib().unwrap_or_default();
    process.stop().await;
    let answer = answer?;
    println!(
        "  {} images (dry run): peak RSS {:.1} MiB, decision {:.2} ms, {} to delete, AWS calls {}",
        image_pruner::BENCH_IMAGES,
        peak as f64 / 1024.0,
        answer["decision_micros"].as_f64().unwrap_or(f64::NAN) / 1000.0,
        answer["deleted"],
        answer["aws_calls"],
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(function), Some(binary)) = (args.next(), args.next().map(PathBuf::from)) else {
        eprintln!(
            "usage: bench FUNCTION PATH_TO_RELEASE_BINARY [RUNS]  (functions: {:?})",
            scenarios::FUNCTIONS
        );
        return ExitCode::from(2);
    };
    let runs = args.next().and_then(|s| s.parse().ok()).unwrap_or(7);
    let result = run(&function, binary, runs).await;
    moto::stop();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}
