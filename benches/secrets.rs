//! `cargo bench --bench secrets`: decrypt a SOPS YAML file of 1,000 values (one age
//! recipient), in process with `sluice::secrets::decrypt` and as the `sluice secrets decrypt`
//! process, against the real `age --decrypt` and `gpg --decrypt` (Curve25519 key, temporary
//! GNUPGHOME) of the same clear document as one payload, in the same run. Prints medians.
//! Goal (issue 6): the per-file cost dominated by the one key unwrap, under 5 ms for age.
//! The `age`/`gpg`/CLI figures include starting a process; the in-process figure does not.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use sluice::secrets::{self, AgeRecipient, Identities, Plaintext, Recipients};

const VALUES: usize = 1_000;
const RUNS: usize = 30;

fn clear_document() -> String {
    let mut text = String::new();
    for group in 0..VALUES / 10 {
        let _ = writeln!(text, "service-{group}:");
        for value in 0..10 {
            let _ = writeln!(text, "    key-{value}: secret-value-{group}-{value}-abcdefghijklmnop");
        }
    }
    text
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time_process(mut make: impl FnMut() -> Command) -> Duration {
    median(
        (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                let out = make().stdout(Stdio::null()).output().expect("run");
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                start.elapsed()
            })
            .collect(),
    )
}

fn run(command: &mut Command) {
    let out = command.output().expect("run");
    assert!(out.status.success(), "{command:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = secrets::generate("2026-11-29T00:00:00Z");
    let key_file = dir.path().join("key.txt");
    std::fs::write(&key_file, key.identity_file.expose()).expect("write key");
    let mut identities = Identities::new();
    identities.add_file("key.txt", key.identity_file.expose()).expect("identity");
    let recipients = Recipients::age(vec![AgeRecipient::parse(&key.recipient).expect("recipient")]);

    let clear = clear_document();
    let encrypted = secrets::encrypt("bench.yaml", &Plaintext::from(clear.clone()), &recipients, SystemTime::now()).expect("encrypt");
    std::fs::write(dir.path().join("bench.yaml"), &encrypted).expect("write");
    std::fs::write(dir.path().join("clear.yaml"), &clear).expect("write");

    let in_process = median(
        (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                let out = secrets::decrypt("bench.yaml", &encrypted, &identities).expect("decrypt");
                assert_eq!(out.len(), clear.len());
                start.elapsed()
            })
            .collect(),
    );

    let sluice = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/sluice");
    let sluice = std::env::var("CARGO_TARGET_DIR").map(|d| Path::new(&d).join("release/sluice")).unwrap_or(sluice);

    run(Command::new("age").arg("-r").arg(&key.recipient).arg("-o").arg(dir.path().join("clear.age")).arg(dir.path().join("clear.yaml")));
    let age = time_process(|| {
        let mut command = Command::new("age");
        command.arg("--decrypt").arg("-i").arg(&key_file).arg(dir.path().join("clear.age"));
        command
    });

    let home = dir.path().join("gpg");
    std::fs::create_dir_all(&home).expect("GNUPGHOME");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let gpg = |args: &[&str]| {
        let mut command = Command::new("gpg");
        command.args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""]).args(args).env("GNUPGHOME", &home);
        command
    };
    run(&mut gpg(&["--quick-gen-key", "bench <bench@example.com>", "future-default", "default", "never"]));
    let clear_path = dir.path().join("clear.yaml").display().to_string();
    let gpg_path = dir.path().join("clear.gpg").display().to_string();
    run(&mut gpg(&["--trust-model", "always", "-r", "bench@example.com", "-o", &gpg_path, "--encrypt", &clear_path]));
    let gpg_time = time_process(|| gpg(&["--quiet", "--decrypt", &gpg_path]));
    let _ = Command::new("gpgconf").args(["--kill", "gpg-agent"]).env("GNUPGHOME", &home).output();

    println!("decrypt a SOPS file of {VALUES} values (age recipient), median of {RUNS} runs:");
    println!("  sluice::secrets::decrypt (in process)   {:>8.2} ms   goal < 5 ms", in_process.as_secs_f64() * 1000.0);
    if sluice.is_file() {
        let cli = time_process(|| {
            let mut command = Command::new(&sluice);
            command.args(["secrets", "decrypt", "--identity"]).arg(&key_file).arg(dir.path().join("bench.yaml"));
            command
        });
        println!("  sluice secrets decrypt (process)        {:>8.2} ms", cli.as_secs_f64() * 1000.0);
    } else {
        println!("  sluice secrets decrypt (process)        skipped: build `cargo build --release` first");
    }
    println!("  age --decrypt, same payload (process)   {:>8.2} ms", age.as_secs_f64() * 1000.0);
    println!("  gpg --decrypt, same payload (process)   {:>8.2} ms", gpg_time.as_secs_f64() * 1000.0);
}
