//! Real `bash` processes in temporary directories. Timeouts and grace periods are a few
//! hundred milliseconds; nothing here sleeps to wait for a condition except the scripts.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::Pid;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::executor::process_group::become_subreaper;
use crate::executor::{Exit, OnSpawn, OnSpawnError, ScriptOutcome, ScriptRun, SpawnedProcess};

struct Fixture {
    _dir: tempfile::TempDir,
    workdir: PathBuf,
    scratch: PathBuf,
}

fn fixture() -> Fixture {
    // Orphaned background children must be reaped for "gone" to be observable; see
    // `process_group`. Idempotent.
    become_subreaper().expect("PR_SET_CHILD_SUBREAPER");
    let dir = tempfile::tempdir().expect("temp dir");
    let workdir = dir.path().join("workspace");
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&workdir).expect("workspace");
    std::fs::create_dir(&scratch).expect("scratch");
    Fixture {
        _dir: dir,
        workdir,
        scratch,
    }
}

fn spec(fixture: &Fixture, script: &[&str]) -> ScriptRun {
    let mut spec = ScriptRun::new(
        &fixture.workdir,
        &fixture.scratch,
        script.iter().map(|s| (*s).to_owned()).collect(),
    );
    spec.grace = Duration::from_millis(300);
    spec
}

fn executor() -> ShellExecutor {
    let path = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_owned());
    ShellExecutor::new(vec![("PATH".to_owned(), path)])
}

async fn run(spec: &ScriptRun) -> (ScriptOutcome, String) {
    run_with(spec, &CancellationToken::new()).await
}

async fn run_with(spec: &ScriptRun, cancel: &CancellationToken) -> (ScriptOutcome, String) {
    let mut output = Vec::new();
    let outcome = executor()
        .run(spec, &mut output, cancel)
        .await
        .expect("executor error");
    (outcome, String::from_utf8_lossy(&output).into_owned())
}

/// A sink that cancels `token` once `marker` has appeared in the output.
struct CancelOn {
    output: Vec<u8>,
    marker: &'static str,
    token: CancellationToken,
}

impl OutputSink for CancelOn {
    fn write(&mut self, chunk: &[u8]) {
        self.output.extend_from_slice(chunk);
        if String::from_utf8_lossy(&self.output).contains(self.marker) {
            self.token.cancel();
        }
    }
}

/// The pid printed by a script as `child=<pid>`.
fn child_pid(output: &str) -> Pid {
    let raw = output
        .lines()
        .find_map(|line| line.strip_prefix("child="))
        .unwrap_or_else(|| panic!("no child= line in output:\n{output}"));
    Pid::from_raw(raw.trim().parse().expect("pid")).expect("non-zero pid")
}

fn assert_gone(pid: Pid, output: &str) {
    let alive = rustix::process::test_kill_process(pid);
    assert!(
        alive.is_err(),
        "process {pid:?} survived the script; output:\n{output}"
    );
}

#[test]
fn render_script_quotes_and_collapses() {
    let script = render_script(&[
        "echo 'a'".to_owned(),
        "if true; then\n  echo yes\nfi\n".to_owned(),
    ]);
    let expected = r#"exec 2>&1
set -eo pipefail
printf '%s\n' '$ echo '\''a'\'''
eval 'echo '\''a'\'''
printf '%s\n' '$ if true; then # collapsed multi-line command'
eval 'if true; then
  echo yes
fi
'
"#;
    assert_eq!(script, expected);
}

#[tokio::test]
async fn exit_codes_are_reported() {
    let f = fixture();
    let (outcome, _) = run(&spec(&f, &["true"])).await;
    assert_eq!(outcome.exit, Exit::Code(0));
    assert!(outcome.exit.is_success());
    let (outcome, _) = run(&spec(&f, &["exit 3"])).await;
    assert_eq!(outcome.exit, Exit::Code(3));
    let (outcome, _) = run(&spec(&f, &["kill -USR1 $$"])).await;
    assert_eq!(outcome.exit, Exit::Signal(libc_sigusr1()));
}

fn libc_sigusr1() -> i32 {
    rustix::process::Signal::USR1.as_raw()
}

#[tokio::test]
async fn first_failing_command_stops_the_script() {
    let f = fixture();
    let (outcome, output) = run(&spec(&f, &["echo one", "false", "echo two"])).await;
    assert_eq!(outcome.exit, Exit::Code(1));
    assert_eq!(output, "$ echo one\none\n$ false\n");
}

#[tokio::test]
async fn failing_pipeline_stage_stops_the_script() {
    let f = fixture();
    let (outcome, output) = run(&spec(&f, &["false | cat", "echo after"])).await;
    assert_eq!(outcome.exit, Exit::Code(1));
    assert!(!output.contains("after\n"), "{output}");
}

#[tokio::test]
async fn syntax_error_fails_only_from_that_command() {
    let f = fixture();
    let (outcome, output) = run(&spec(&f, &["echo before", "if then", "echo after"])).await;
    assert_eq!(outcome.exit, Exit::Code(2));
    assert!(
        output.starts_with("$ echo before\nbefore\n$ if then\n"),
        "{output}"
    );
    assert!(!output.contains("after\n"), "{output}");
}

#[tokio::test]
async fn commands_are_echoed_and_run_in_workdir() {
    let f = fixture();
    let (outcome, output) = run(&spec(&f, &["pwd", "for i in 1 2; do\n  echo $i\ndone"])).await;
    assert_eq!(outcome.exit, Exit::Code(0));
    let workdir = f.workdir.canonicalize().expect("canonical workdir");
    assert_eq!(
        output,
        format!(
            "$ pwd\n{}\n$ for i in 1 2; do # collapsed multi-line command\n1\n2\n",
            workdir.display()
        )
    );
}

#[tokio::test]
async fn variables_are_data_never_code() {
    let f = fixture();
    let evil = "a'b\"c $(touch pwned) `touch pwned2` ${HOME}\nnext line; touch pwned3";
    let mut spec = spec(
        &f,
        &[
            "printf '%s' \"$EVIL\"",
            "printf '|%s|' \"${CARGO_PKG_NAME-unset}\"",
        ],
    );
    spec.env.push(("EVIL".to_owned(), evil.to_owned()));
    let (outcome, output) = run(&spec).await;
    assert_eq!(outcome.exit, Exit::Code(0));
    assert!(output.contains(&format!("\n{evil}$ printf")), "{output}");
    assert!(
        output.ends_with("|unset|"),
        "the process environment leaked: {output}"
    );
    for name in ["pwned", "pwned2", "pwned3"] {
        assert!(
            !f.workdir.join(name).exists(),
            "{name} was created: a value was executed"
        );
    }
}

#[tokio::test]
async fn the_jobs_path_decides_which_bash_runs() {
    use std::os::unix::fs::PermissionsExt;
    let f = fixture();
    // A relative entry is taken from the workspace, as `execvp` in the workspace would; a
    // non-executable `bash` earlier in `PATH` is skipped.
    let skipped = f.workdir.join("skipped");
    let bin = f.workdir.join("bin");
    std::fs::create_dir(&skipped).expect("skipped dir");
    std::fs::create_dir(&bin).expect("bin dir");
    std::fs::write(skipped.join("bash"), "not a program").expect("skipped bash");
    let real = which_bash();
    let wrapper = format!(
        "#!{}\necho wrapped; exec {} \"$@\"\n",
        real.display(),
        real.display()
    );
    std::fs::write(bin.join("bash"), wrapper).expect("wrapper");
    std::fs::set_permissions(bin.join("bash"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let mut spec = spec(&f, &["true"]);
    let path = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_owned());
    spec.env.push((
        "PATH".to_owned(),
        format!("{}:bin:{path}", skipped.display()),
    ));
    let (outcome, output) = run(&spec).await;
    assert_eq!(outcome.exit, Exit::Code(0), "{output}");
    assert!(output.starts_with("wrapped\n"), "{output}");
}

fn which_bash() -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_owned());
    find_program("bash", &path, std::path::Path::new("/")).expect("bash on PATH")
}

#[test]
fn find_program_needs_an_executable_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("bash")).expect("a directory named bash");
    let path = format!("{}:/nonexistent", dir.path().display());
    assert_eq!(find_program("bash", &path, dir.path()), None);
    // An empty entry is the working directory, where `bash` is a directory.
    assert_eq!(find_program("bash", "", dir.path()), None);
}

#[tokio::test]
async fn base_environment_is_documented_set() {
    let executor = ShellExecutor::from_process_env();
    let names: Vec<&str> = executor
        .base_env()
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(names.contains(&"PATH"));
    assert!(names.contains(&"TERM"));
    assert!(
        names
            .iter()
            .all(|name| INHERITED_VARIABLES.contains(name) || *name == "TERM"),
        "{names:?}"
    );
}

#[tokio::test]
async fn invalid_variable_names_are_rejected() {
    let f = fixture();
    let mut spec = spec(&f, &["true"]);
    spec.env.push(("A=B".to_owned(), "x".to_owned()));
    let error = executor()
        .run(&spec, &mut Vec::new(), &CancellationToken::new())
        .await;
    assert!(matches!(error, Err(ExecutorError::InvalidVariable { name }) if name == "A=B"));
}

#[tokio::test]
async fn stdout_and_stderr_are_both_captured() {
    let f = fixture();
    let (outcome, output) = run(&spec(&f, &["echo out; echo err >&2; echo out2"])).await;
    assert_eq!(outcome.exit, Exit::Code(0));
    assert!(output.ends_with("out\nerr\nout2\n"), "{output}");
}

#[tokio::test]
async fn background_children_do_not_outlive_the_script() {
    let f = fixture();
    let (outcome, output) = run(&spec(&f, &["sleep 1000 &", "echo child=$!"])).await;
    assert_eq!(outcome.exit, Exit::Code(0));
    assert_gone(child_pid(&output), &output);
}

#[tokio::test]
async fn timeout_kills_the_whole_group() {
    let f = fixture();
    let mut spec = spec(&f, &["sleep 100 &", "echo child=$!", "sleep 100"]);
    spec.timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let (outcome, output) = run(&spec).await;
    assert_eq!(outcome.exit, Exit::TimedOut);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert_gone(child_pid(&output), &output);
}

#[tokio::test]
async fn sigterm_comes_first() {
    let f = fixture();
    let mut spec = spec(&f, &["trap 'echo terminating; exit 143' TERM", "sleep 100"]);
    spec.timeout = Some(Duration::from_millis(300));
    spec.grace = Duration::from_secs(90);
    let started = Instant::now();
    let (outcome, output) = run(&spec).await;
    assert_eq!(outcome.exit, Exit::TimedOut);
    assert!(output.ends_with("terminating\n"), "{output}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the group was not ended by SIGTERM"
    );
}

#[tokio::test]
async fn sigkill_follows_an_ignored_sigterm() {
    let f = fixture();
    // Ignored signals stay ignored across exec, so `sleep` ignores TERM too.
    let mut spec = spec(
        &f,
        &["trap '' TERM", "sleep 100 &", "echo child=$!", "sleep 100"],
    );
    spec.timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let (outcome, output) = run(&spec).await;
    assert_eq!(outcome.exit, Exit::TimedOut);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert_gone(child_pid(&output), &output);
}

#[tokio::test]
async fn cancellation_ends_the_group() {
    let f = fixture();
    let spec = spec(
        &f,
        &["sleep 100 &", "echo child=$!", "echo ready", "sleep 100"],
    );
    let token = CancellationToken::new();
    let mut sink = CancelOn {
        output: Vec::new(),
        marker: "ready\n",
        token: token.clone(),
    };
    let started = Instant::now();
    let outcome = executor()
        .run(&spec, &mut sink, &token)
        .await
        .expect("executor error");
    let output = String::from_utf8_lossy(&sink.output).into_owned();
    assert_eq!(outcome.exit, Exit::Canceled);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert_gone(child_pid(&output), &output);
}

#[tokio::test]
async fn on_spawn_sees_the_live_process() {
    let f = fixture();
    // What the hook saw: the process, whether it was alive, its process group.
    type Seen = Option<(SpawnedProcess, bool, Option<Pid>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let token = CancellationToken::new();
    let hook_seen = Arc::clone(&seen);
    let hook_token = token.clone();
    let on_spawn: OnSpawn = Arc::new(move |process: SpawnedProcess| {
        let pid =
            Pid::from_raw(i32::try_from(process.pid).expect("pid fits")).expect("non-zero pid");
        let alive = rustix::process::test_kill_process(pid).is_ok();
        let pgid = rustix::process::getpgid(Some(pid)).ok();
        *hook_seen.lock().expect("lock") = Some((process, alive, pgid));
        hook_token.cancel();
        Box::pin(async { Ok::<(), OnSpawnError>(()) })
    });
    let mut spec = spec(&f, &["sleep 100"]);
    spec.on_spawn = Some(on_spawn);
    let (outcome, _) = run_with(&spec, &token).await;
    assert_eq!(outcome.exit, Exit::Canceled);
    let (process, alive, pgid) = seen
        .lock()
        .expect("lock")
        .take()
        .expect("on_spawn was not called");
    assert!(alive, "the process had ended before on_spawn");
    assert_eq!(process.pgid, process.pid);
    assert_eq!(
        pgid.map(|pgid| pgid.as_raw_nonzero().get().unsigned_abs()),
        Some(process.pgid)
    );
}

#[tokio::test]
async fn failing_on_spawn_stops_the_script() {
    let f = fixture();
    let on_spawn: OnSpawn =
        Arc::new(|_| Box::pin(async { Err::<(), OnSpawnError>("store is read-only".into()) }));
    let mut spec = spec(&f, &["sleep 100"]);
    spec.on_spawn = Some(on_spawn);
    let started = Instant::now();
    let error = executor()
        .run(&spec, &mut Vec::new(), &CancellationToken::new())
        .await;
    assert!(
        matches!(error, Err(ExecutorError::RecordSpawn { .. })),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_recorded_script_starts_only_once_its_record_is_stored() {
    let f = fixture();
    let marker = f.workdir.join("ran");
    let ran_before_recorded: Arc<Mutex<Option<bool>>> = Arc::default();
    let (hook_marker, hook_seen) = (marker.clone(), Arc::clone(&ran_before_recorded));
    let on_spawn: OnSpawn = Arc::new(move |_| {
        let (marker, seen) = (hook_marker.clone(), Arc::clone(&hook_seen));
        // A slow store: the script has all the time it needs to run, if it may.
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            *seen.lock().expect("lock") = Some(marker.exists());
            Ok::<(), OnSpawnError>(())
        })
    });
    let mut spec = spec(&f, &["touch ran", "echo read from stdin: $(cat)"]);
    spec.on_spawn = Some(on_spawn);
    let (outcome, output) = run(&spec).await;
    assert_eq!(outcome.exit, Exit::Code(0), "{output}");
    assert_eq!(*ran_before_recorded.lock().expect("lock"), Some(false), "the script ran before its record");
    assert!(marker.exists(), "the script ran after it: {output}");
    assert!(output.lines().any(|line| line.trim_end() == "read from stdin:"), "its stdin is empty: {output}");
}

#[tokio::test]
async fn script_file_is_removed() {
    let f = fixture();
    let (outcome, _) = run(&spec(&f, &["true"])).await;
    assert_eq!(outcome.exit, Exit::Code(0));
    let left: Vec<_> = std::fs::read_dir(&f.scratch).expect("scratch").collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn dropping_the_run_kills_the_group() {
    let f = fixture();
    let spec = spec(
        &f,
        &["sleep 100 &", "echo child=$!", "echo ready", "sleep 100"],
    );
    let ready = CancellationToken::new();
    let mut sink = CancelOn {
        output: Vec::new(),
        marker: "ready\n",
        token: ready.clone(),
    };
    let executor = executor();
    let never = CancellationToken::new();
    tokio::select! {
        outcome = executor.run(&spec, &mut sink, &never) => panic!("the script ended: {outcome:?}"),
        () = ready.cancelled() => {}
    }
    let output = String::from_utf8_lossy(&sink.output).into_owned();
    let child = child_pid(&output);
    let deadline = Instant::now() + Duration::from_secs(30);
    while rustix::process::test_kill_process(child).is_ok() {
        assert!(
            Instant::now() < deadline,
            "{child:?} survived the dropped run; output:\n{output}"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
