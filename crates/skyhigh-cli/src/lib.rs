//! `skyhigh status --stack NAME`: the Sky High Booker environment in one view, the answer to
//! the seed's troubleshooting commands. It reads the stack's Outputs (DescribeStacks), then the
//! service, its deployments and bounds, the target group's health, the alarms, the operator's
//! last decisions and the repository, and prints them as a table (or JSON with `--json`).

pub mod outputs;
pub mod read;
pub mod render;
pub mod status;

/// The command line: `status --stack NAME [--json]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub stack: String,
    pub json: bool,
}

pub const USAGE: &str = "usage: skyhigh status --stack NAME [--json]";

/// Parses the arguments after the program name.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut args = args.into_iter();
    match args.next().as_deref() {
        Some("status") => {}
        Some(other) => return Err(format!("unknown command {other:?}\n{USAGE}")),
        None => return Err(USAGE.to_string()),
    }
    let (mut stack, mut json) = (None, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => json = true,
            "--stack" => stack = Some(args.next().ok_or("--stack needs a NAME")?),
            other => match other.strip_prefix("--stack=") {
                Some(name) => stack = Some(name.to_string()),
                None => return Err(format!("unknown argument {other:?}\n{USAGE}")),
            },
        }
    }
    match stack {
        Some(stack) if !stack.is_empty() => Ok(Command { stack, json }),
        _ => Err(format!("--stack is required\n{USAGE}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn arguments() {
        let want = |json| {
            Ok(Command {
                stack: "s".into(),
                json,
            })
        };
        assert_eq!(parse(&["status", "--stack", "s"]), want(false));
        assert_eq!(parse(&["status", "--json", "--stack=s"]), want(true));
        assert!(parse(&[]).is_err());
        assert!(parse(&["deploy"]).unwrap_err().contains("unknown command"));
        assert!(parse(&["status"])
            .unwrap_err()
            .contains("--stack is required"));
        assert!(parse(&["status", "--stack"]).is_err());
        assert!(parse(&["status", "--stack", "s", "--x"]).is_err());
    }
}
