//! `make demo`: the whole Sky High Booker environment from template.yaml against a local AWS
//! (moto server), through the real `provisioner` binary: create, update, delete.

use local_harness::moto;
use local_harness::outputs_stack;
use local_harness::scenarios;
use local_harness::stack::{build_function, build_provisioner, function_key, LocalStack, Step};
use local_harness::strict;
use local_harness::template::Template;
use local_harness::world::World;
use std::collections::BTreeMap;
use std::process::ExitCode;

fn print_step(step: &Step) {
    let mark = match step.status.as_str() {
        "SUCCESS" => "✔",
        "FAILED" => "✘",
        _ => "·",
    };
    if step.status == "NATIVE" {
        println!(
            "  {mark} {:<7} {:<26} {:<38} {} ({})",
            step.action, step.logical_id, step.kind, step.physical_id, step.reason
        );
        return;
    }
    println!(
        "  {mark} {:<7} {:<26} {:<38} {} {}",
        step.action, step.logical_id, step.kind, step.status, step.physical_id
    );
    if !step.reason.is_empty() {
        println!("            └ {}", step.reason);
    }
}

async fn service_line(w: &World, app: &str) -> String {
    let Ok(out) = w
        .clients
        .ecs()
        .describe_services()
        .cluster(app)
        .services(app)
        .send()
        .await
    else {
        return "service not found".into();
    };
    let Some(s) = out.services().first() else {
        return "service not found".into();
    };
    let td = s.task_definition().unwrap_or_default();
    let image = match w
        .clients
        .ecs()
        .describe_task_definition()
        .task_definition(td)
        .send()
        .await
    {
        Ok(t) => t
            .task_definition()
            .and_then(|t| t.container_definitions().first())
            .and_then(|c| c.image())
            .unwrap_or_default()
            .to_string(),
        Err(_) => String::new(),
    };
    format!(
        "{} desired={} image={image}",
        s.status().unwrap_or_default(),
        s.desired_count()
    )
}

async fn run() -> Result<(), String> {
    println!("Sky High Booker operator: local demo");
    println!("  local AWS: moto server, starting…");
    let w = World::new().await;
    println!("  local AWS: {} (region {})", w.endpoint, moto::REGION);
    let template = Template::load(&moto::workspace_root().join("template.yaml"))?;
    let app = "sky-high-booker".to_string();
    let parameters = BTreeMap::from([
        // moto runs no tasks, so no deployment ever reaches a steady state there.
        ("WaitForSteadyState".to_string(), "false".to_string()),
    ]);
    println!("  building the provisioner…");
    let bin = build_provisioner();
    let mut stack = LocalStack::new(
        &template,
        &parameters,
        "sky-high-booker",
        &w.endpoint,
        &bin,
        Box::new(print_step),
    )
    .await?;

    println!("\n1. sam deploy: create the stack in dependency order");
    stack.create().await?;
    println!("\n   Outputs");
    for (k, v) in stack.outputs()? {
        println!("   {k:<14} {v}");
    }
    println!("   service        {}", service_line(&w, &app).await);

    println!("\n2. push an image tagged v2, then sam deploy with ImageTag=v2 DesiredCount=3");
    let digest = w.push_image(&app, "v2", 2026).await;
    println!("   pushed {app}:v2 ({digest})");
    let changed = stack
        .update(&BTreeMap::from([
            ("ImageTag".to_string(), "v2".to_string()),
            ("DesiredCount".to_string(), "3".to_string()),
        ]))
        .await?;
    println!("   updated: {}", changed.join(", "));
    println!("   service        {}", service_line(&w, &app).await);

    // Each event function runs as template.yaml configures it: its environment, and its own
    // key, which the strict layer authorizes by its own policy.
    println!(
        "\n3. push a new image of the tracked tag (v2) → the redeployer rolls the service onto it"
    );
    let env = stack.function_env("RedeployerFunction")?;
    let r =
        scenarios::redeployer::demo(&w, &build_function("redeployer"), &env, &app, 2027).await?;
    println!(
        "   redeployer: {} ({} AWS calls): {}",
        r["decision"],
        r["aws_calls"],
        r["why"].as_str().unwrap_or_default()
    );
    println!("   service        {}", service_line(&w, &app).await);

    println!("\n4. 15 images pushed → the image pruner keeps the newest 10 and the one in use");
    let env = stack.function_env("ImagePrunerFunction")?;
    let bin = build_function("image-pruner");
    scenarios::image_pruner::demo(&w, &bin, &env, &app, &app, &app).await?;

    let env = stack.function_env("AutoscalerFunction")?;
    scenarios::autoscaler::demo(&w, &build_function("autoscaler"), &env, &app, &app).await?;

    println!(
        "\n6. skyhigh status --stack sky-high-booker: the whole picture, for the person on call"
    );
    // The harness plays CloudFormation: the stack's Outputs go to moto, where DescribeStacks
    // (and so the status command) finds them.
    outputs_stack::register(&w.endpoint, "sky-high-booker", &stack.outputs()?).await?;
    let clients = skyhigh_cli::read::Clients::new(&moto::sdk_config(&w.endpoint));
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let status = skyhigh_cli::read::status(&clients, "sky-high-booker", now_ms)
        .await
        .map_err(|e| e.to_string())?;
    println!();
    print!("{}", skyhigh_cli::render::render(&status));

    println!("\n7. sam delete: delete the stack in reverse order");
    stack.delete().await?;
    println!("   service        {}", service_line(&w, &app).await);

    println!("\n   IAM, as the strict layer evaluated each function's calls against its policy:");
    let mut denied = Vec::new();
    for function in [
        "ProvisionerFunction",
        "RedeployerFunction",
        "ImagePrunerFunction",
        "AutoscalerFunction",
    ] {
        let decisions = strict::decisions(&function_key("sky-high-booker", function));
        let allowed = decisions.iter().filter(|d| d.allowed()).count();
        println!(
            "   {function:<22} {allowed} allowed, {} denied",
            decisions.len() - allowed
        );
        denied.extend(decisions.into_iter().filter(|d| !d.allowed()));
    }
    if let Some(d) = denied.first() {
        return Err(format!("{} call(s) denied, the first: {d}", denied.len()));
    }
    if let Some(kib) = stack.provisioner_peak_rss_kib() {
        println!(
            "\n   provisioner peak RSS over the whole demo: {:.1} MiB",
            kib as f64 / 1024.0
        );
    }
    let answered = stack
        .steps
        .iter()
        .filter(|s| s.kind.starts_with("Custom::"))
        .count();
    stack.stop().await;
    println!(
        "\nDone: {answered} custom-resource requests, each answered SUCCESS to its response URL."
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    // make demo built it with `cargo build --workspace --bins`: the functions are built alike.
    local_harness::stack::build_bins_only();
    let result = run().await;
    moto::stop();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\ndemo failed: {e}");
            ExitCode::FAILURE
        }
    }
}
