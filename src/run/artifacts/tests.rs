//! Real files in temporary directories.

use super::*;

struct Fixture {
    dir: tempfile::TempDir,
    workspace: PathBuf,
}

fn fixture(files: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let workspace = dir.path().join("ws");
    std::fs::create_dir(&workspace).expect("workspace");
    for rel in files {
        let path = workspace.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(path, rel).expect("write");
    }
    Fixture { dir, workspace }
}

fn spec(paths: &[&str], exclude: &[&str]) -> ArtifactSpec {
    ArtifactSpec {
        paths: paths.iter().map(|s| (*s).to_owned()).collect(),
        exclude: exclude.iter().map(|s| (*s).to_owned()).collect(),
        untracked: false,
    }
}

/// Collects into a fresh directory and returns the stats and every path collected.
fn collect_all(f: &Fixture, spec: &ArtifactSpec, tracked: &[&str]) -> (CollectStats, Vec<String>) {
    collect_into(f, spec, tracked).0
}

/// Like [`collect_all`], also returning the artifacts directory.
fn collect_into(
    f: &Fixture,
    spec: &ArtifactSpec,
    tracked: &[&str],
) -> ((CollectStats, Vec<String>), PathBuf) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dest = f.dir.path().join(format!("artifacts-{n}"));
    let tracked: Vec<String> = tracked.iter().map(|s| (*s).to_owned()).collect();
    let stats = collect(&f.workspace, spec, &tracked, &dest).expect("collect");
    let listed = copy::list_tree(&dest, Path::new(""))
        .expect("list")
        .into_iter()
        .filter(|entry| entry.kind != EntryKind::Dir)
        .map(|entry| entry.path.display().to_string())
        .collect();
    ((stats, listed), dest)
}

const TREE: &[&str] = &[
    "README.md",
    "build/app",
    "build/app.o",
    "build/lib/util.o",
    "build/lib/util.so",
    "reports/junit.xml",
    "reports/nested/more.xml",
    "src/main.rs",
];

#[test]
fn directories_are_taken_recursively() {
    let f = fixture(TREE);
    let (stats, listed) = collect_all(&f, &spec(&["build/"], &[]), &[]);
    assert_eq!(
        listed,
        [
            "build/app",
            "build/app.o",
            "build/lib/util.o",
            "build/lib/util.so"
        ]
    );
    assert_eq!(stats.copied.files, 4);
    assert!(stats.unmatched.is_empty());
}

#[test]
fn star_stays_in_one_directory_and_double_star_recurses() {
    let f = fixture(TREE);
    let (_, listed) = collect_all(&f, &spec(&["reports/*.xml"], &[]), &[]);
    assert_eq!(listed, ["reports/junit.xml"]);
    let (_, listed) = collect_all(&f, &spec(&["**/*.xml"], &[]), &[]);
    assert_eq!(listed, ["reports/junit.xml", "reports/nested/more.xml"]);
}

#[test]
fn exclude_removes_matching_files() {
    let f = fixture(TREE);
    let (_, listed) = collect_all(&f, &spec(&["build"], &["build/**/*.o"]), &[]);
    assert_eq!(listed, ["build/app", "build/lib/util.so"]);
    let (_, listed) = collect_all(&f, &spec(&["build"], &["build/lib/**"]), &[]);
    assert_eq!(listed, ["build/app", "build/app.o"]);
}

#[test]
fn unmatched_patterns_are_reported() {
    let f = fixture(TREE);
    let (stats, listed) = collect_all(&f, &spec(&["dist/", "src/*.rs", "*.log"], &[]), &[]);
    assert_eq!(listed, ["src/main.rs"]);
    assert_eq!(stats.unmatched, ["dist/", "*.log"]);
}

#[test]
fn untracked_adds_files_git_does_not_track() {
    let f = fixture(TREE);
    let tracked = ["README.md", "src/main.rs", "reports/junit.xml"];
    let spec = ArtifactSpec {
        untracked: true,
        ..spec(&[], &["**/*.o"])
    };
    let (_, listed) = collect_all(&f, &spec, &tracked);
    assert_eq!(
        listed,
        ["build/app", "build/lib/util.so", "reports/nested/more.xml"]
    );
}

#[test]
fn escaping_patterns_are_refused() {
    let f = fixture(TREE);
    std::fs::write(f.dir.path().join("secret"), "outside").expect("write");
    let (stats, listed) = collect_all(
        &f,
        &spec(&["../secret", "/etc/passwd", "build/../../secret"], &[]),
        &[],
    );
    assert!(listed.is_empty(), "{listed:?}");
    assert_eq!(stats.refused.len(), 3);
    assert!(
        stats
            .refused
            .iter()
            .all(|r| r.reason == RefusalReason::OutsideWorkspace)
    );
}

#[test]
fn symlinks_outside_are_refused_and_inside_kept() {
    let f = fixture(TREE);
    let outside = f.dir.path().join("outside");
    std::fs::create_dir(&outside).expect("outside");
    std::fs::write(outside.join("secret"), "outside").expect("write");
    std::os::unix::fs::symlink(&outside, f.workspace.join("out")).expect("symlink");
    std::os::unix::fs::symlink(outside.join("secret"), f.workspace.join("build/leak"))
        .expect("symlink");
    std::os::unix::fs::symlink("app", f.workspace.join("build/current")).expect("symlink");
    std::os::unix::fs::symlink("nowhere", f.workspace.join("build/dangling")).expect("symlink");

    let ((stats, listed), dest) =
        collect_into(&f, &spec(&["build", "out/secret", "out"], &[]), &[]);
    assert_eq!(
        listed,
        [
            "build/app",
            "build/app.o",
            "build/current",
            "build/lib/util.o",
            "build/lib/util.so"
        ]
    );
    let refused: Vec<(&str, &RefusalReason)> = stats
        .refused
        .iter()
        .map(|r| (r.path.as_str(), &r.reason))
        .collect();
    assert_eq!(
        refused,
        [
            ("out", &RefusalReason::ThroughSymlink),
            ("build/dangling", &RefusalReason::DanglingSymlink),
            ("build/leak", &RefusalReason::SymlinkOutside),
            ("out", &RefusalReason::SymlinkOutside),
        ]
    );
    assert_eq!(
        std::fs::read_link(dest.join("build/current")).expect("link"),
        Path::new("app")
    );
}

#[test]
fn invalid_globs_are_errors() {
    let f = fixture(TREE);
    let result = collect(
        &f.workspace,
        &spec(&["build/[a"], &[]),
        &[],
        &f.dir.path().join("artifacts"),
    );
    assert!(
        matches!(result, Err(ArtifactError::InvalidPattern { pattern, .. }) if pattern == "build/[a")
    );
}

#[test]
fn restore_copies_into_another_workspace() {
    let f = fixture(TREE);
    let artifacts = f.dir.path().join("artifacts");
    collect(&f.workspace, &spec(&["build/lib"], &[]), &[], &artifacts).expect("collect");

    let other = f.dir.path().join("other");
    std::fs::create_dir_all(other.join("build/lib")).expect("dirs");
    std::fs::write(other.join("build/lib/util.so"), "stale").expect("write");
    let counts = restore(&artifacts, &other).expect("restore");
    assert_eq!(counts.files, 2);
    assert_eq!(
        std::fs::read_to_string(other.join("build/lib/util.so")).expect("read"),
        "build/lib/util.so"
    );
    assert_eq!(
        std::fs::read_to_string(other.join("build/lib/util.o")).expect("read"),
        "build/lib/util.o"
    );
}

#[test]
fn restore_never_writes_through_a_workspace_symlink() {
    let f = fixture(TREE);
    let artifacts = f.dir.path().join("artifacts");
    collect(&f.workspace, &spec(&["build/app"], &[]), &[], &artifacts).expect("collect");

    let other = f.dir.path().join("other");
    let outside = f.dir.path().join("outside");
    std::fs::create_dir_all(&other).expect("other");
    std::fs::create_dir_all(&outside).expect("outside");
    std::os::unix::fs::symlink(&outside, other.join("build")).expect("symlink");
    assert!(matches!(
        restore(&artifacts, &other),
        Err(ArtifactError::Copy { .. })
    ));
    assert!(!outside.join("app").exists());
}
