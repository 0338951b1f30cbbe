//! `make bench`: cold start, memory, size and AWS calls of a release function binary, run the
//! way Lambda runs it (a local Lambda Runtime API) with real invocations against moto.
//! Prints figures; asserts nothing about time.
//!
//! Usage: bench FUNCTION PATH_TO_RELEASE_BINARY [STARTS]

use local_harness::moto;
use local_harness::runtime_api::LambdaProcess;
use local_harness::scenarios::{self, BenchCase};
use local_harness::world::World;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
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

async fn cold_start(
    function: &str,
    binary: &Path,
    env: &[(String, String)],
) -> Result<(f64, LambdaProcess), String> {
    let process = LambdaProcess::start(binary, function, env)
        .await
        .map_err(|e| e.to_string())?;
    let waited = Instant::now();
    loop {
        if let Some(at) = process.runtime.first_next() {
            return Ok(((at - process.started).as_secs_f64() * 1000.0, process));
        }
        if waited.elapsed() > Duration::from_secs(10) {
            return Err(format!(
                "no GET /next within 10 s; init error: {:?}",
                process.runtime.init_error()
            ));
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// Invokes once; returns the time taken, the `aws_calls` the function reported, and its response.
async fn invoke(
    process: &LambdaProcess,
    event: &Value,
) -> Result<(f64, Option<u64>, Value), String> {
    let began = Instant::now();
    let outcome = process
        .runtime
        .invoke(event.clone(), Duration::from_secs(60))
        .await;
    let ms = began.elapsed().as_secs_f64() * 1000.0;
    match outcome {
        Some(Ok(response)) => Ok((
            ms,
            response.get("aws_calls").and_then(Value::as_u64),
            response,
        )),
        other => Err(format!(
            "the benchmark invocation did not succeed: {other:?}"
        )),
    }
}

async fn run(function: &str, binary: PathBuf, starts: usize) -> Result<(), String> {
    let size = std::fs::metadata(&binary)
        .map_err(|e| format!("{}: {e}", binary.display()))?
        .len();
    let w = World::new().await;
    let home = std::env::temp_dir().join("skyhigh-bench-home");
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let BenchCase {
        env: settings,
        event,
    } = scenarios::bench_case(function, &w)
        .await
        .ok_or_else(|| format!("no bench scenario for {function}"))?;
    let mut env = moto::process_env(&w.endpoint, &home);
    env.extend(settings);

    let mut times = Vec::new();
    for _ in 0..starts {
        let (ms, process) = cold_start(function, &binary, &env).await?;
        times.push(ms);
        process.stop().await;
    }
    times.sort_by(f64::total_cmp);

    let (_, process) = cold_start(function, &binary, &env).await?;
    let init_rss = process.peak_rss_kib().unwrap_or_default();
    let (first_ms, first_calls, first) = invoke(&process, &event).await?;
    let (warm_ms, warm_calls, _) = invoke(&process, &event).await?;
    let peak_rss = process.peak_rss_kib().unwrap_or_default();
    process.stop().await;

    let mib = |kib: u64| kib as f64 / 1024.0;
    let calls = |c: Option<u64>| c.map_or("not reported".to_string(), |c| c.to_string());
    println!("{function} ({})", binary.display());
    println!(
        "  cold start (exec → first GET /next), {starts} starts: median {:.2} ms, p90 {:.2} ms, max {:.2} ms   [budget ≤ 20 ms]",
        percentile(&times, 0.5),
        percentile(&times, 0.9),
        times[times.len() - 1]
    );
    println!("  RSS at first GET /next: {:.1} MiB", mib(init_rss));
    println!(
        "  first invocation (SDK and TLS set up lazily): {first_ms:.1} ms, AWS calls {}",
        calls(first_calls)
    );
    println!(
        "  repeated invocation: {warm_ms:.1} ms, AWS calls {}",
        calls(warm_calls)
    );
    if let Some(micros) = first.get("decision_micros").and_then(Value::as_u64) {
        println!(
            "  pure decision over {} images: {:.2} ms ({} to delete)   [budget < 50 ms]",
            first["seen"],
            micros as f64 / 1000.0,
            first["deleted"]
        );
    }
    println!(
        "  peak RSS after both invocations: {:.1} MiB   [budget ≤ 30 MB]",
        mib(peak_rss)
    );
    match zipped_size(&binary) {
        Some(z) => println!(
            "  bootstrap: {:.1} MiB, zipped {:.2} MB   [budget ≤ 6 MB zipped]",
            size as f64 / 1048576.0,
            z as f64 / 1e6
        ),
        None => println!(
            "  bootstrap: {:.1} MiB (zip size unavailable: no python3)",
            size as f64 / 1048576.0
        ),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(function), Some(binary)) = (args.next(), args.next().map(PathBuf::from)) else {
        eprintln!(
            "usage: bench FUNCTION PATH_TO_RELEASE_BINARY [STARTS]  (functions: {:?})",
            scenarios::FUNCTIONS
        );
        return ExitCode::from(2);
    };
    let starts = args.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let result = run(&function, binary, starts).await;
    moto::stop();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}
