//! The `sluice` command line. stdout carries data (`--json` where offered), stderr carries
//! diagnostics and progress. Exit codes: 0 success, 1 the thing checked or run failed,
//! 2 invalid input (configuration, flags, files) or an internal failure; `version check` adds
//! 3 (nothing to publish) and 4 (refused as not greater than the published version).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `println!` for data on stdout: a closed pipe (`sluice plan --json | head`) ends the
/// program quietly instead of panicking, as other command-line tools do.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout().lock(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

/// `print!` for data on stdout, with [`outln!`]'s handling of a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        if write!(stdout, $($arg)*).and_then(|()| stdout.flush()).is_err() {
            std::process::exit(0);
        }
    }};
}

mod cancel;
mod client;
mod config;
mod gates;
mod history;
mod init;
mod image;
mod job_action;
mod lint;
mod logs;
mod output;
mod pipelines;
mod plan;
mod promotion;
mod quickstart;
mod run;
mod run_output;
mod secrets;
mod serve;
mod source;
mod status;
mod token;
mod variables_file;
mod version;

/// Exit statuses of every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// The command did what was asked and the result is good.
    Success = 0,
    /// The command ran, and what it checked or ran failed.
    Failure = 1,
    /// The input was invalid, or Sluice itself failed.
    Error = 2,
    /// `sluice version check` only: there is nothing to publish (a pre-release, or `VERSION`
    /// unchanged).
    NothingToPublish = 3,
    /// `sluice version check` only: the version is refused as not greater than the published one.
    Refused = 4,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status as u8)
    }
}

/// Sluice: GitOps CI/CD from `git push` to production, in one binary.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, propagate_version = true)]
#[command(after_help = "Exit codes: 0 success, 1 the checked or run thing failed, 2 invalid input or internal error.")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a `.gitlab-ci.yml` and everything it includes, reporting every error
    Lint(lint::LintArgs),
    /// Show the pipeline GitLab would create for a push, tag, merge request or schedule
    Plan(plan::PlanArgs),
    /// Run the pipeline on this machine, as GitLab would run it
    Run(run::RunArgs),
    /// Print a job's log from the last local run
    Logs(logs::LogsArgs),
    /// Work with the controller configuration (`sluice.yaml`) and config repos
    Config(config::ConfigArgs),
    /// Write a new config repo (environments, a sample app, access rules) to a directory
    Init(init::InitArgs),
    /// Show each gate of an environment for a release: open or closed, and why
    Gates(gates::GatesArgs),
    /// Approve a release for an environment (through the daemon)
    Approve(promotion::DecisionArgs),
    /// Reject a release for an environment; it is blocked there (through the daemon)
    Reject(promotion::DecisionArgs),
    /// Promote a release to an environment once its gates are open (through the daemon)
    Promote(promotion::PromoteArgs),
    /// Pin an environment back to an earlier release and block the current one
    Rollback(promotion::RollbackArgs),
    /// Freeze promotions to an environment until a date
    Freeze(promotion::FreezeArgs),
    /// List the promotions and rollbacks of an app in an environment
    History(history::HistoryArgs),
    /// Show the daemon's audit log of promotion operations
    Audit(history::AuditArgs),
    /// Run the controller: webhooks, polling and pipelines
    Serve(serve::ServeArgs),
    /// List the pipelines recorded in the store, newest first
    Pipelines(pipelines::PipelinesArgs),
    /// Create, list and revoke API tokens
    Token(token::TokenArgs),
    /// Show the recent pipelines of the daemon's projects
    Status(status::StatusArgs),
    /// Run a finished job again (through the daemon)
    Retry(job_action::RetryArgs),
    /// Cancel a running pipeline (through the daemon)
    Cancel(cancel::CancelArgs),
    /// Start a manual job (through the daemon)
    Play(job_action::PlayArgs),
    /// The VERSION gate: whether a push publishes its `VERSION`
    Version(version::VersionArgs),
    /// Encrypt and decrypt SOPS-format secrets files with age keys
    Secrets(secrets::SecretsArgs),
    /// Build OCI images without a container engine, and push them
    Image(image::ImageArgs),
    /// Run the whole flow in one directory: push, CI, image, dev deployed, staging awaiting approval
    Quickstart(quickstart::QuickstartArgs),
}

/// Runs the command and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Lint(args) => lint::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Logs(args) => logs::run(&args),
        Command::Config(args) => config::run(&args),
        Command::Init(args) => init::run(&args),
        Command::Gates(args) => gates::run(&args),
        Command::Approve(args) => promotion::approve(&args),
        Command::Reject(args) => promotion::reject(&args),
        Command::Promote(args) => promotion::promote(&args),
        Command::Rollback(args) => promotion::rollback(&args),
        Command::Freeze(args) => promotion::freeze(&args),
        Command::History(args) => history::history(&args),
        Command::Audit(args) => history::audit(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Pipelines(args) => pipelines::run(&args),
        Command::Token(args) => token::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Retry(args) => job_action::retry(&args),
        Command::Cancel(args) => cancel::run(&args),
        Command::Play(args) => job_action::play(&args),
        Command::Version(args) => version::run(&args),
        Command::Secrets(args) => secrets::run(&args),
        Command::Image(args) => image::run(&args),
        Command::Quickstart(args) => quickstart::run(&args),
    };
    match result {
        Ok(status) => status.into(),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitStatus::Error.into()
        }
    }
}
