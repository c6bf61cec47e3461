//! The daemon runs jobs with `image:` in containers of a real `podman` (the harness of
//! `tests/run/podman.rs`; skipped with a `SKIPPED:` line where podman cannot run), and the
//! containers of a job a `kill -9` interrupted (its own and its service's, which outlive the
//! engine's CLI) are removed, with their network, when the daemon restarts.

use sluice::executor::container::container_name;

use crate::daemon::Daemon;
use crate::pipelines::Remote;
use crate::podman::{IMAGE, podman};

#[test]
fn the_container_of_a_job_interrupted_by_a_crash_is_removed_at_restart() {
    let Some(podman) = podman("the_container_of_a_job_interrupted_by_a_crash_is_removed_at_restart") else { return };
    let remote = Remote::new();
    let ci = format!(
        "boxed:\n  image: {IMAGE}\n  services:\n    - name: {IMAGE}\n      entrypoint: [httpd, -f, -p, '8080']\n  script:\n    - cat /sluice-test-image\n    - sleep 300\n"
    );
    remote.push(&ci, "a job in a container, with a service");
    let config = format!("projects:\n  - name: demo\n    repo: \"{}\"\n    poll: 1s\n", remote.bare.display());
    let env = podman.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let mut daemon = Daemon::start(&config, &env);
    let store = daemon.store();
    let running = daemon.eventually("the job runs in its container", || {
        let pipelines = store.list_pipelines(Some("demo"), 5).map_err(|e| e.to_string())?;
        let job = pipelines.iter().flat_map(|p| &p.jobs).find(|j| j.process.is_some()).ok_or_else(|| format!("{pipelines:?}"))?;
        let log = job.log_path.as_ref().and_then(|path| std::fs::read_to_string(path).ok()).unwrap_or_default();
        let name = container_name(store.location(), job.pipeline_id.get(), job.id.get(), job.attempt);
        (log.contains("busybox") && podman.exists(&name)).then(|| (job.clone(), name.clone())).ok_or(format!("container `{name}`, log:\n{log}"))
    });
    let (job, name) = running.unwrap_or_else(|last| panic!("{last}\n{}", daemon.dump()));
    daemon.kill9();
    let service = format!("{name}-svc-0");
    assert!(podman.exists(&name) && podman.exists(&service), "the containers should outlive the daemon's crash");
    daemon.restart();
    let removed = daemon.eventually("the container is removed", || {
        let network = podman.command().args(["network", "exists", &format!("{name}-net")]).status().expect("podman runs");
        (!podman.exists(&name) && !podman.exists(&service) && !network.success())
            .then_some(())
            .ok_or_else(|| format!("`{name}`, its service or its network still exists"))
    });
    removed.unwrap_or_else(|last| panic!("{last}\n{}", daemon.dump()));
    let job = store.get_job(job.id).expect("the job");
    assert_eq!(job.status.as_str(), "failed", "{}", daemon.dump());
    assert_eq!(job.failure_reason.map(|r| r.as_str()), Some("runner_system_failure"));
}
