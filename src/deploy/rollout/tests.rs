use std::path::Path;
use std::time::Duration;

use super::{Outcome, rollout, step_counts};
use crate::deploy::render::Rendered;
use crate::deploy::spec::{DeploySpec, RolloutPlan, SecretValues, TargetKind, TargetSpec};
use crate::deploy::target::TargetContext;

#[test]
fn steps_round_up_and_always_progress() {
    assert_eq!(step_counts(10, &[10, 25, 100]), [1, 3, 10]);
    assert_eq!(step_counts(3, &[10, 25, 100]), [1, 2, 3]);
    assert_eq!(step_counts(1, &[10, 25, 100]), [1]);
    assert_eq!(
        step_counts(4, &[50]),
        [2, 4],
        "a plan not ending at 100 still takes every target"
    );
    assert_eq!(step_counts(0, &[100]), Vec::<usize>::new());
}

/// Command targets that append `<version>` to `<dir>/<name>`; the one named `bad` fails for
/// version 2.0.0.
fn spec(dir: &Path, version: &str, names: &[&str], auto_rollback: bool) -> DeploySpec {
    let targets = names
        .iter()
        .map(|name| TargetSpec {
            name: name.to_string(),
            kind: TargetKind::Command {
                run: vec![
                    "sh".into(),
                    "-c".into(),
                    format!(
                        "echo $SLUICE_VERSION >> {}/{name}; test {name} != bad || test $SLUICE_VERSION != 2.0.0",
                        dir.display()
                    ),
                ],
            },
        })
        .collect();
    let mut spec = DeploySpec::example(version);
    spec.env = "prod".into();
    spec.targets = targets;
    spec.rollout = RolloutPlan {
        steps: vec![33, 66, 100],
        pause: Duration::from_millis(20),
        auto_rollback,
    };
    spec
}

fn history(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_default()
        .replace('\n', " ")
        .trim()
        .to_string()
}

#[tokio::test]
async fn a_healthy_rollout_takes_every_target_in_steps() {
    let dir = tempfile::tempdir().unwrap();
    let context = TargetContext::new(dir.path().to_path_buf());
    let spec = spec(dir.path(), "1.0.0", &["a", "b", "c"], false);
    let report = rollout(&context, &spec, &Rendered::default(), &SecretValues::default(), None).await;
    assert_eq!(report.outcome, Outcome::Healthy);
    let steps: Vec<_> = report.steps.iter().map(|(p, t)| (*p, t.len())).collect();
    assert_eq!(steps, [(33, 1), (66, 1), (100, 1)]);
    assert_eq!(
        (history(dir.path(), "a"), history(dir.path(), "c")),
        ("1.0.0".into(), "1.0.0".into())
    );
}

#[tokio::test]
async fn a_failed_step_stops_the_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let context = TargetContext::new(dir.path().to_path_buf());
    let spec = spec(dir.path(), "2.0.0", &["a", "bad", "c"], false);
    let report = rollout(&context, &spec, &Rendered::default(), &SecretValues::default(), None).await;
    assert!(
        matches!(report.outcome, Outcome::Failed { ref target, .. } if target == "bad"),
        "{:?}",
        report.outcome
    );
    assert_eq!(report.steps.len(), 2);
    assert_eq!(history(dir.path(), "c"), "", "the step after the failure did not run");
}

#[tokio::test]
async fn auto_rollback_applies_the_previous_release_to_the_targets_touched() {
    let dir = tempfile::tempdir().unwrap();
    let context = TargetContext::new(dir.path().to_path_buf());
    let old = spec(dir.path(), "1.0.0", &["a", "bad", "c"], true);
    let new = spec(dir.path(), "2.0.0", &["a", "bad", "c"], true);
    let rendered = Rendered::default();
    let report = rollout(
        &context,
        &new,
        &rendered,
        &SecretValues::default(),
        Some((&old, &rendered)),
    )
    .await;
    assert!(
        matches!(report.outcome, Outcome::RolledBack { ref rollback_failures, .. } if rollback_failures.is_empty()),
        "{:?}",
        report.outcome
    );
    assert_eq!(history(dir.path(), "a"), "2.0.0 1.0.0");
    assert_eq!(history(dir.path(), "bad"), "2.0.0 1.0.0");
    assert_eq!(history(dir.path(), "c"), "");
}
