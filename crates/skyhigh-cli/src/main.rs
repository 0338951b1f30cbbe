//! `skyhigh status --stack NAME [--json]`. Region, credentials and endpoint come from the
//! usual AWS settings (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL for a local AWS).

use skyhigh_cli::{parse_args, read, render};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let clients = read::Clients::new(&config);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    match read::status(&clients, &command.stack, now_ms).await {
        Ok(status) if command.json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&status).expect("the status is JSON")
            );
            ExitCode::SUCCESS
        }
        Ok(status) => {
            print!("{}", render::render(&status));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("skyhigh status: {e}");
            ExitCode::FAILURE
        }
    }
}
