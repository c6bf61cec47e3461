//! `sluice lint`: checks a configuration and everything it includes.

use clap::Args;

use super::ExitStatus;
use super::plan::{plan_with, print_warnings};
use super::source::{PipelineArgs, SourceArgs};

/// Arguments of `sluice lint`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice lint                          check ./.gitlab-ci.yml
  sluice lint --dir ../app             check another repository
  sluice lint --file ci/main.yml       check another file

Exit codes: 0 valid, 2 invalid (every error is printed with file, line and column).")]
pub struct LintArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

/// Runs `sluice lint`.
pub fn run(args: &LintArgs) -> anyhow::Result<ExitStatus> {
    match plan_with(&args.source, &args.pipeline)? {
        Ok(pipeline) => {
            print_warnings(&pipeline.warnings);
            let jobs = pipeline.jobs.len();
            let stages = pipeline.stages.iter().filter(|s| pipeline.jobs.iter().any(|j| &j.stage == *s)).count();
            outln!("`{}` is valid: {jobs} job{} in {stages} stage{}", args.source.file, plural(jobs), plural(stages));
            Ok(ExitStatus::Success)
        }
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            let errors = diagnostics.errors().count();
            eprintln!("\nerror: `{}` is invalid: {errors} error{}", args.source.file, plural(errors));
            Ok(ExitStatus::Error)
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
