//! Health checks: an HTTP `GET` that must answer an expected status, or a command that must
//! exit 0, retried every interval until a timeout while a release is deployed
//! ([`wait_healthy`]), and run once per period afterwards ([`check_once`], for
//! [`super::watch`]). The Kubernetes target decides its own health from its rollout condition.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::spec::HealthCheck;

/// The first pause between two attempts.
const FIRST_RETRY: Duration = Duration::from_millis(50);

/// Where a check runs: the address an HTTP check connects to and the directory and
/// environment a command check runs with.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// The app's address (`127.0.0.1:PORT` for a process target).
    pub addr: Option<SocketAddr>,
    /// The working directory of a command check.
    pub dir: Option<PathBuf>,
    /// Extra environment of a command check (`PORT`, `SLUICE_URL`).
    pub env: Vec<(String, String)>,
}

/// Retries `check` until it passes or `within` ends: each attempt is limited by `timeout`,
/// and attempts are `interval` apart (sooner at first: 50 ms, doubling up to `interval`).
///
/// # Errors
///
/// The last attempt's failure, as a sentence (`GET /healthz answered 503, expected 200`).
pub async fn wait_healthy(check: &HealthCheck, probe: &Probe) -> Result<(), String> {
    let (timeout, interval, within) = match check {
        HealthCheck::Http {
            timeout,
            interval,
            within,
            ..
        }
        | HealthCheck::Command {
            timeout,
            interval,
            within,
            ..
        } => (*timeout, *interval, *within),
        HealthCheck::Kubernetes => return Ok(()),
    };
    let deadline = Instant::now() + within;
    // The first retries come sooner than `interval` (50 ms, doubling up to it): an app that
    // starts in 100 ms should not wait a whole second to be seen healthy.
    let mut pause = FIRST_RETRY.min(interval);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now()).min(timeout);
        match attempt(check, probe, remaining).await {
            Ok(()) => return Ok(()),
            Err(last) if Instant::now() + pause >= deadline => {
                return Err(format!("{last} (still failing after {}s)", within.as_secs_f32()));
            }
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(interval);
            }
        }
    }
}

/// One attempt of `check`, limited by its `timeout` (a Kubernetes check passes: its target
/// reads the rollout condition itself).
///
/// # Errors
///
/// Why the attempt failed, as a sentence.
pub async fn check_once(check: &HealthCheck, probe: &Probe) -> Result<(), String> {
    match check {
        HealthCheck::Http { timeout, .. } | HealthCheck::Command { timeout, .. } => attempt(check, probe, *timeout).await,
        HealthCheck::Kubernetes => Ok(()),
    }
}

async fn attempt(check: &HealthCheck, probe: &Probe, limit: Duration) -> Result<(), String> {
    match check {
        HealthCheck::Http {
            path, expect_status, ..
        } => http(probe, path, *expect_status, limit).await,
        HealthCheck::Command { argv, .. } => command(probe, argv, limit).await,
        HealthCheck::Kubernetes => Ok(()),
    }
}

/// One `GET` over plain HTTP/1.1; only the status line is read.
async fn http(probe: &Probe, path: &str, expect: u16, limit: Duration) -> Result<(), String> {
    let Some(addr) = probe.addr else {
        return Err("an HTTP health check needs an address; this target has none".to_string());
    };
    let attempt = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("GET {path}: cannot connect to {addr}: {e}"))?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: sluice\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n") && head.len() < 256 {
            if stream.read(&mut byte).await.map_err(|e| format!("GET {path}: {e}"))? == 0 {
                break;
            }
            head.push(byte[0]);
        }
        let line = String::from_utf8_lossy(&head);
        let status: Option<u16> = line.split_whitespace().nth(1).and_then(|s| s.parse().ok());
        match status {
            Some(status) if status == expect => Ok(()),
            Some(status) => Err(format!("GET {path} answered {status}, expected {expect}")),
            None => Err(format!("GET {path}: not an HTTP answer")),
        }
    };
    tokio::time::timeout(limit.max(Duration::from_millis(100)), attempt)
        .await
        .unwrap_or_else(|_| Err(format!("GET {path}: no answer in time")))
}

/// One run of the check command.
async fn command(probe: &Probe, argv: &[String], limit: Duration) -> Result<(), String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("the health command is empty".to_string());
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .envs(probe.env.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(true);
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(dir) = &probe.dir {
        command.current_dir(dir);
    }
    let run = async {
        command
            .status()
            .await
            .map_err(|e| format!("cannot run `{program}`: {e}"))
    };
    match tokio::time::timeout(limit.max(Duration::from_millis(100)), run).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("`{}` exited with {status}", argv.join(" "))),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("`{}` did not finish in time", argv.join(" "))),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;

    use super::{Probe, wait_healthy};
    use crate::deploy::spec::HealthCheck;

    fn http(expect: u16) -> HealthCheck {
        HealthCheck::Http {
            path: "/healthz".into(),
            expect_status: expect,
            timeout: Duration::from_millis(300),
            interval: Duration::from_millis(50),
            within: Duration::from_millis(600),
        }
    }

    /// A server answering every request with `status`.
    async fn server(status: u16) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let _ = stream
                    .write_all(format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn http_passes_on_the_expected_status_only() {
        let ok = Probe {
            addr: Some(server(200).await),
            ..Probe::default()
        };
        wait_healthy(&http(200), &ok).await.unwrap();
        let bad = Probe {
            addr: Some(server(503).await),
            ..Probe::default()
        };
        let err = wait_healthy(&http(200), &bad).await.unwrap_err();
        assert!(err.starts_with("GET /healthz answered 503, expected 200"), "{err}");
    }

    #[tokio::test]
    async fn http_fails_when_nothing_listens() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = wait_healthy(
            &http(200),
            &Probe {
                addr: Some(addr),
                ..Probe::default()
            },
        )
        .await
        .unwrap_err();
        assert!(err.contains("cannot connect"), "{err}");
    }

    #[tokio::test]
    async fn a_command_check_retries_until_it_passes() {
        let dir = tempfile::tempdir().unwrap();
        let check = HealthCheck::Command {
            argv: vec![
                "sh".into(),
                "-c".into(),
                "test -e ready || { touch ready; exit 1; }".into(),
            ],
            timeout: Duration::from_secs(5),
            interval: Duration::from_millis(20),
            within: Duration::from_secs(5),
        };
        let probe = Probe {
            dir: Some(dir.path().to_path_buf()),
            ..Probe::default()
        };
        wait_healthy(&check, &probe).await.unwrap();
        let failing = HealthCheck::Command {
            argv: vec!["false".into()],
            timeout: Duration::from_millis(200),
            interval: Duration::from_millis(20),
            within: Duration::from_millis(200),
        };
        assert!(
            wait_healthy(&failing, &probe)
                .await
                .unwrap_err()
                .contains("exited with")
        );
    }
}
