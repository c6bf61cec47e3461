//! `sluice quickstart --until dev` through the real binary: the whole flow (real git
//! repositories, the real daemon as a child process, the pipeline's real jobs, the image in
//! an OCI layout, the app as a real python3 process with its secret) in one directory, run
//! twice; and a directory it did not make is refused untouched.

use std::path::{Path, PathBuf};
use std::process::Output;

use sha2::Digest as _;

use crate::support::{dump, sluice};

fn quickstart(dir: &Path) -> Output {
    let output = sluice(dir.parent().unwrap(), &["quickstart", "--dir", dir.to_str().unwrap(), "--until", "dev"]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    output
}

/// The `DEMO_TOKEN` the quickstart encrypted, decrypted with its identity.
fn demo_secret(dir: &Path) -> String {
    let file = dir.join("config/secrets/dev/hello.yaml");
    let identity = dir.join("identity.txt");
    let output = sluice(dir, &["secrets", "decrypt", "-i", identity.to_str().unwrap(), file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", dump(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    let value = text.trim().strip_prefix("DEMO_TOKEN: ").expect("one DEMO_TOKEN entry").trim_matches('"');
    assert!(value.len() >= 20, "a random value: {value:?}");
    value.to_owned()
}

fn files_under(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        match entry.file_type() {
            Ok(t) if t.is_dir() => files_under(&entry.path(), found),
            Ok(t) if t.is_file() => found.push(entry.path()),
            _ => {}
        }
    }
}

/// Processes (not zombies) whose working directory, executable or arguments are inside `dir`.
fn processes_in(dir: &Path) -> Vec<String> {
    let dir = dir.to_str().unwrap();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let path = entry.path();
        if !entry.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        if stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')) {
            continue;
        }
        let cwd = std::fs::read_link(path.join("cwd")).map(|p| p.display().to_string()).unwrap_or_default();
        let cmdline = std::fs::read(path.join("cmdline")).map(|b| String::from_utf8_lossy(&b).replace('\0', " ")).unwrap_or_default();
        if cwd.starts_with(dir) || cmdline.contains(dir) {
            found.push(format!("{}: cwd {cwd}, {cmdline}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

/// The number after `marker` in `text`.
fn number_after(text: &str, marker: &str) -> u32 {
    let start = text.find(marker).unwrap_or_else(|| panic!("`{marker}` in {text}")) + marker.len();
    text[start..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap()
}

/// Checks one run's output, secret and cleanup; returns the URL that answered.
fn check_run(dir: &Path, output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let url = stdout.trim().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{}", dump(output));
    let secret = demo_secret(dir);
    let fingerprint: String = sha2::Sha256::digest(secret.as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect();
    let answered = format!("dev answers at {url}: hello from 0.2.0 in dev (DEMO_TOKEN sha256:{fingerprint})");
    assert!(stderr.contains(&answered), "missing {answered:?}\n{}", dump(output));
    for expected in [
        "pushed `main`",
        "  job `test`: success",
        "  job `publish`: success",
        "published hello 0.2.0: image `oci:",
        "promoted hello 0.2.0 to dev automatically",
        "dev: hello 0.2.0 is healthy",
        "staging waits for one approval of hello 0.2.0",
        " approve hello staging 0.2.0 --server http://127.0.0.1:",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?}\n{}", dump(output));
    }

    // The clear secret is in no file of the directory (store, logs, config repo, checkouts,
    // unpacked images) and nowhere in the output.
    assert!(!stdout.contains(&secret) && !stderr.contains(&secret), "{}", dump(output));
    let mut files = Vec::new();
    files_under(dir, &mut files);
    assert!(files.iter().any(|f| f.ends_with("logs/sluice.log")), "{files:?}");
    assert!(files.iter().any(|f| f.ends_with("data/sluice.db")), "{files:?}");
    for path in &files {
        let bytes = std::fs::read(path).unwrap_or_default();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "the secret is in {}", path.display());
    }
    let committed = std::process::Command::new("git").arg("-C").arg(dir.join("config")).args(["ls-files"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&committed.stdout).contains("identity"), "the private key is not committed");

    // Nothing it started runs any more: the daemon, the app (pid from the daemon's report).
    let daemon = number_after(&stderr, "runs as pid ");
    assert!(!alive(daemon), "the daemon (pid {daemon}) still runs");
    let store = sluice::store::Store::open(dir.join("data/sluice.db")).unwrap();
    let deployment = store.latest_deployment("hello", "dev").unwrap().expect("a deployment");
    let report = store.deployment_details(deployment.id).unwrap().expect("details").report;
    let app = number_after(&report, "runs as pid ");
    assert!(!alive(app), "the app (pid {app}) still runs");
    assert_eq!(processes_in(dir), Vec::<String>::new(), "processes left in {}", dir.display());
    url
}

#[test]
fn quickstart_until_dev_runs_the_flow_twice_in_one_directory_and_leaves_nothing_running() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("quickstart");
    let first = quickstart(&dir);
    let url = check_run(&dir, &first);
    let addr = url.trim_start_matches("http://").parse().unwrap();
    let refused = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2));
    assert!(refused.is_err(), "{url} no longer answers");

    let second = quickstart(&dir);
    check_run(&dir, &second);
    let pipelines = sluice::store::Store::open(dir.join("data/sluice.db")).unwrap().list_pipelines(None, 10).unwrap();
    assert_eq!(pipelines.len(), 1, "the second run started afresh");
}

#[test]
fn quickstart_refuses_a_directory_it_did_not_make() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::write(temp.path().join("notes.txt"), "mine").unwrap();
    let output = sluice(temp.path(), &["quickstart", "--dir", temp.path().to_str().unwrap(), "--until", "dev"]);
    assert_eq!(output.status.code(), Some(2), "{}", dump(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("was not made by `sluice quickstart`; nothing was touched"));
    let left: Vec<_> = std::fs::read_dir(temp.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left, ["notes.txt"]);
    assert_eq!(std::fs::read_to_string(temp.path().join("notes.txt")).unwrap(), "mine");
}

/// Without `--until`: the printed `sluice approve` command, typed in another shell, deploys
/// staging; Ctrl-C (SIGINT) then stops everything, with exit 0.
#[test]
fn quickstart_deploys_staging_once_the_printed_command_approves_and_stops_at_ctrl_c() {
    use std::io::BufRead as _;

    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("quickstart");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["quickstart", "--dir", dir.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (sender, lines) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let mut seen = String::new();
    let mut next = |until: &str| loop {
        match lines.recv_timeout(std::time::Duration::from_secs(300)) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains(until) {
                    return line;
                }
            }
            Err(e) => panic!("no line with {until:?} ({e}); seen:\n{seen}"),
        }
    };
    let command = next(" approve hello staging 0.2.0 --server ").trim().to_owned();
    let approved = std::process::Command::new("bash").args(["-c", &command]).output().unwrap();
    assert!(approved.status.success(), "{command}\n{}", dump(&approved));
    let answer = next("staging answers at ");
    assert!(answer.contains(": hello from 0.2.0 in staging (DEMO_TOKEN sha256:"), "{answer}");
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{seen}");
    assert_eq!(processes_in(&dir), Vec::<String>::new(), "processes left in {}", dir.display());
}
