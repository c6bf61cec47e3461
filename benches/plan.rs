//! `cargo bench --bench plan`: parse and plan a generated pipeline of 2,000 jobs that uses
//! includes, `extends`, anchors, merge keys, `!reference`, rules and `parallel:matrix`.
//! Prints the median and worst wall time of the whole `ci::plan` call and the peak memory it
//! added. Goal (issue 2): under 50 ms and under 50 MB on a 2-core machine. With `-- --once`
//! it plans once and exits, for instruction counts under callgrind.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use sluice::ci::context::PipelineContext;
use sluice::ci::source::MemoryReader;
use sluice::ci::{PlanRequest, plan};

const PARTS: usize = 20;
const JOBS_PER_PART: usize = 96; // + 2 matrix jobs of 2 instances each = 100 jobs per part

fn main_file() -> String {
    let mut text = String::from("include:\n");
    for part in 0..PARTS {
        let _ = writeln!(text, "  - local: ci/part-{part}.yml");
    }
    text.push_str(
        "stages: [build, test, deploy]\nvariables:\n  GLOBAL: \"1\"\n  DERIVED: \"$GLOBAL-x\"\n\
         .base:\n  image: debian:12\n  tags: [shared]\n  variables:\n    BASE: base\n  before_script:\n    - echo setup\n\
         .common-script:\n  script:\n    - echo common\n",
    );
    text
}

fn part_file(part: usize) -> String {
    let mut text = format!(".defaults-{part}: &defaults-{part}\n  retry: 1\n  timeout: 10m\n  interruptible: true\n");
    for job in 0..JOBS_PER_PART {
        let stage = ["build", "test", "deploy"][job % 3];
        let _ = write!(
            text,
            "job-{part}-{job}:\n  <<: *defaults-{part}\n  extends: .base\n  stage: {stage}\n  script:\n    - !reference [.common-script, script]\n    - echo {part} {job}\n  variables:\n    JOB: \"{job}\"\n  rules:\n    - if: $GLOBAL == \"1\" && $CI_COMMIT_BRANCH =~ /^ma/\n      changes: [src/**/*.rs]\n    - when: manual\n"
        );
        if job >= 3 {
            let _ = writeln!(text, "  needs: [job-{part}-{}]", job - 3);
        }
    }
    for matrix in 0..2 {
        let _ = write!(
            text,
            "matrix-{part}-{matrix}:\n  stage: test\n  script: [echo $OS]\n  parallel:\n    matrix:\n      - OS: [linux, mac]\n"
        );
    }
    text
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn current_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mut reader = MemoryReader::new().with_local(".gitlab-ci.yml", &main_file());
    for part in 0..PARTS {
        reader = reader.with_local(&format!("ci/part-{part}.yml"), &part_file(part));
    }
    let mut context = PipelineContext::push("bench/app", "main", "0123456789abcdef0123456789abcdef01234567");
    context.changed_paths = Some(vec!["src/lib/a.rs".into()]);
    let changed_since = |_: &str| None;
    let request = PlanRequest { path: ".gitlab-ci.yml", context: &context, reader: &reader, changed_since: &changed_since };

    // Peak memory of one plan: reset the high-water mark (Linux: clear_refs 5), then plan once.
    let before = current_rss_kib();
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let pipeline = plan(&request).unwrap_or_else(|errors| panic!("the generated pipeline is invalid:\n{errors}"));
    let peak = peak_rss_kib();
    let jobs = pipeline.jobs.len();
    drop(pipeline);
    // `cargo bench --bench plan -- --once`: one plan only, for profilers such as
    // `valgrind --tool=callgrind`, whose instruction counts do not depend on machine load.
    if std::env::args().any(|arg| arg == "--once") {
        println!("plan: {jobs} jobs from {} files (planned once)", PARTS + 1);
        return;
    }

    let mut times: Vec<Duration> = (0..30)
        .map(|_| {
            let start = Instant::now();
            let pipeline = plan(&request).expect("valid");
            let elapsed = start.elapsed();
            assert_eq!(pipeline.jobs.len(), jobs);
            elapsed
        })
        .collect();
    times.sort();
    println!("plan: {jobs} jobs from {} files", PARTS + 1);
    println!("  time   median {:.1} ms, worst {:.1} ms (30 runs; goal < 50 ms)", ms(times[15]), ms(times[29]));
    if reset {
        println!("  memory peak {:.1} MB above the {:.1} MB resident before planning (goal < 50 MB)", (peak.saturating_sub(before)) as f64 / 1024.0, before as f64 / 1024.0);
    } else {
        println!("  memory peak {:.1} MB for the whole process (could not reset the high-water mark)", peak as f64 / 1024.0);
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
