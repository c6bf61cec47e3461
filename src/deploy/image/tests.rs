use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use super::{ImageError, read, unpack};
use crate::deploy::test_image::{Entry, layer, write_image};

#[test]
fn layers_unpack_in_order_with_whiteouts_and_modes() {
    let layout = tempfile::tempdir().unwrap();
    let bottom = layer(&[
        Entry::Dir("app"),
        Entry::File("app/run.sh", b"#!/bin/sh\necho old\n", 0o755),
        Entry::File("app/gone.txt", b"x", 0o644),
        Entry::Dir("app/cache"),
        Entry::File("app/cache/a", b"a", 0o644),
        Entry::File("app/suid", b"x", 0o4755),
        Entry::Symlink("app/link", "run.sh"),
    ]);
    let top = layer(&[
        Entry::File("app/.wh.gone.txt", b"", 0o644),
        Entry::File("app/cache/.wh..wh..opq", b"", 0o644),
        Entry::File("app/cache/b", b"b", 0o600),
        Entry::File("app/run.sh", b"#!/bin/sh\necho new\n", 0o750),
    ]);
    let digest = write_image(
        layout.path(),
        "1.0.0",
        json!({"Cmd": ["./run.sh"], "WorkingDir": "/app", "Env": ["A=1", "PATH=/usr/bin"]}),
        &[bottom, top],
    );
    let image = read(layout.path(), &digest).unwrap();
    assert_eq!(image.cmd, ["./run.sh"]);
    assert_eq!(image.working_dir, "/app");
    assert_eq!(
        image.env,
        [
            ("A".to_string(), "1".to_string()),
            ("PATH".to_string(), "/usr/bin".to_string())
        ]
    );

    let root = tempfile::tempdir().unwrap();
    unpack(&image, root.path()).unwrap();
    let app = root.path().join("app");
    assert_eq!(
        std::fs::read_to_string(app.join("run.sh")).unwrap(),
        "#!/bin/sh\necho new\n"
    );
    assert_eq!(
        std::fs::metadata(app.join("run.sh")).unwrap().permissions().mode() & 0o7777,
        0o750
    );
    assert!(!app.join("gone.txt").exists());
    let mut cache: Vec<_> = std::fs::read_dir(app.join("cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    cache.sort();
    assert_eq!(cache, ["b"]);
    assert_eq!(
        std::fs::metadata(app.join("cache/b")).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(app.join("suid")).unwrap().permissions().mode() & 0o7777,
        0o755,
        "set-user-ID is dropped"
    );
    assert_eq!(std::fs::read_link(app.join("link")).unwrap().to_str(), Some("run.sh"));
}

#[test]
fn a_whiteout_below_a_symlink_out_of_the_root_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("precious"), "keep").unwrap();
    let layout = tempfile::tempdir().unwrap();
    let bottom = layer(&[Entry::Symlink("escape", outside.path().to_str().unwrap())]);
    let top = layer(&[Entry::File("escape/.wh.precious", b"", 0o644)]);
    let digest = write_image(layout.path(), "1.0.0", json!({}), &[bottom, top]);
    let root = tempfile::tempdir().unwrap();
    let err = unpack(&read(layout.path(), &digest).unwrap(), root.path()).unwrap_err();
    assert!(err.to_string().contains("below a symlink"), "{err}");
    assert!(outside.path().join("precious").exists());
}

#[test]
fn a_damaged_blob_or_a_bad_digest_is_refused() {
    let layout = tempfile::tempdir().unwrap();
    let digest = write_image(
        layout.path(),
        "1.0.0",
        json!({}),
        &[layer(&[Entry::File("a", b"a", 0o644)])],
    );
    assert!(matches!(
        read(layout.path(), "sha256:../../etc"),
        Err(ImageError::Invalid { .. })
    ));
    let image = read(layout.path(), &digest).unwrap();
    std::fs::write(&image.layers[0].1, b"tampered").unwrap();
    assert!(matches!(
        read(layout.path(), &digest),
        Err(ImageError::DigestMismatch { .. })
    ));
}
