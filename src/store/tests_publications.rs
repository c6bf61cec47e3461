//! Store tests of publication claims and releases.

use std::time::Duration;

use super::*;

const LEASE: Duration = Duration::from_secs(60);
const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

fn at(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(millis)
}

fn new(sha: &str, pipeline: i64) -> NewPublication {
    NewPublication {
        app: "hello".to_owned(),
        version: "1.2.3".to_owned(),
        sha: sha.to_owned(),
        image: "127.0.0.1:5000/hello:1.2.3".to_owned(),
        pipeline_id: Some(PipelineId::new(pipeline)),
    }
}

fn won(claim: Claim) -> PublicationRow {
    match claim {
        Claim::Won(row) => row,
        Claim::Held(row) => panic!("expected to win the claim, it is held: {row:?}"),
    }
}

fn held(claim: Claim) -> PublicationRow {
    match claim {
        Claim::Held(row) => row,
        Claim::Won(row) => panic!("expected a held claim, it was won: {row:?}"),
    }
}

#[test]
fn the_first_claim_wins_and_a_second_is_held() {
    let store = Store::open_in_memory().expect("store");
    let first = won(store.claim_publication(&new(SHA_A, 1), LEASE, at(1_000)).expect("claim"));
    assert_eq!(first.state, PublicationState::Claimed);
    assert_eq!(first.attempt, 1);
    assert_eq!(first.lease_until, at(61_000));
    let second = held(store.claim_publication(&new(SHA_A, 2), LEASE, at(2_000)).expect("claim"));
    assert_eq!(second.pipeline_id, Some(PipelineId::new(1)));
}

#[test]
fn a_claim_goes_through_its_states_to_a_release() {
    let store = Store::open_in_memory().expect("store");
    let row = won(store.claim_publication(&new(SHA_A, 7), LEASE, at(1_000)).expect("claim"));
    let row = store
        .advance_publication(row.id, 1, PublicationState::ImagePushed, Some(DIGEST), LEASE, at(2_000))
        .expect("image pushed");
    assert_eq!(row.digest.as_deref(), Some(DIGEST));
    assert_eq!(row.lease_until, at(62_000));
    store
        .advance_publication(row.id, 1, PublicationState::TagPushed, None, LEASE, at(3_000))
        .expect("tag pushed");
    let release = store.release_publication(row.id, 1, at(4_000)).expect("release");
    assert_eq!(release.digest, DIGEST);
    assert_eq!(release.sha, SHA_A);
    assert_eq!(release.pipeline_id, Some(PipelineId::new(7)));
    assert_eq!(store.get_release("hello", "1.2.3").expect("get"), Some(release.clone()));
    assert_eq!(store.list_releases(Some("hello"), 10).expect("list"), vec![release]);
    assert!(store.list_releases(Some("other"), 10).expect("list").is_empty());
    let row = store.get_publication("hello", "1.2.3").expect("get").expect("row");
    assert_eq!(row.state, PublicationState::Released);
    // Released is final: even an expired lease does not reopen it.
    held(store.claim_publication(&new(SHA_A, 8), LEASE, at(999_000)).expect("claim"));
}

#[test]
fn steps_out_of_order_are_refused() {
    let store = Store::open_in_memory().expect("store");
    let row = won(store.claim_publication(&new(SHA_A, 1), LEASE, at(1_000)).expect("claim"));
    let err = store
        .advance_publication(row.id, 1, PublicationState::TagPushed, None, LEASE, at(2_000))
        .expect_err("tag before image");
    assert_eq!(
        err.to_string(),
        "publication of `hello` 1.2.3 cannot go from `claimed` to `tag_pushed`"
    );
    let err = store.release_publication(row.id, 1, at(2_000)).expect_err("no digest");
    assert!(err.to_string().contains("has no image digest yet"), "{err}");
}

#[test]
fn a_failed_claim_is_taken_over_and_fences_the_old_attempt() {
    let store = Store::open_in_memory().expect("store");
    let row = won(store.claim_publication(&new(SHA_A, 1), LEASE, at(1_000)).expect("claim"));
    store
        .fail_publication(row.id, 1, "registry `127.0.0.1:9` refused the connection", at(2_000))
        .expect("fail");
    let failed = store.get_publication("hello", "1.2.3").expect("get").expect("row");
    assert_eq!(failed.state, PublicationState::Failed);
    assert!(store.get_release("hello", "1.2.3").expect("get").is_none());
    let retry = won(store.claim_publication(&new(SHA_A, 2), LEASE, at(3_000)).expect("claim"));
    assert_eq!(retry.attempt, 2);
    assert_eq!(retry.state, PublicationState::Claimed);
    assert_eq!(retry.error, None);
    let err = store
        .advance_publication(row.id, 1, PublicationState::ImagePushed, Some(DIGEST), LEASE, at(4_000))
        .expect_err("fenced");
    assert!(err.to_string().contains("was taken over by attempt 2 (pipeline #2)"), "{err}");
}

#[test]
fn an_expired_lease_is_resumed_where_it_stopped() {
    let store = Store::open_in_memory().expect("store");
    let row = won(store.claim_publication(&new(SHA_A, 1), LEASE, at(1_000)).expect("claim"));
    store
        .advance_publication(row.id, 1, PublicationState::ImagePushed, Some(DIGEST), LEASE, at(2_000))
        .expect("image pushed");
    held(store.claim_publication(&new(SHA_A, 2), LEASE, at(61_999)).expect("claim"));
    let resumed = won(store.claim_publication(&new(SHA_A, 2), LEASE, at(62_000)).expect("claim"));
    assert_eq!(resumed.state, PublicationState::ImagePushed);
    assert_eq!(resumed.digest.as_deref(), Some(DIGEST));
    assert_eq!(resumed.attempt, 2);
}

#[test]
fn a_resumed_publication_repeats_its_steps_without_going_back() {
    let store = Store::open_in_memory().expect("store");
    let row = won(store.claim_publication(&new(SHA_A, 1), LEASE, at(1_000)).expect("claim"));
    store
        .advance_publication(row.id, 1, PublicationState::ImagePushed, Some(DIGEST), LEASE, at(2_000))
        .expect("image pushed");
    store
        .advance_publication(row.id, 1, PublicationState::TagPushed, None, LEASE, at(3_000))
        .expect("tag pushed");
    // The holder died here; the next pipeline resumes and redoes every step.
    let resumed = won(store.claim_publication(&new(SHA_A, 2), LEASE, at(63_000)).expect("claim"));
    assert_eq!(resumed.state, PublicationState::TagPushed);
    let again = store
        .advance_publication(row.id, 2, PublicationState::ImagePushed, Some(DIGEST), LEASE, at(64_000))
        .expect("image step again");
    assert_eq!(again.state, PublicationState::TagPushed);
    store
        .advance_publication(row.id, 2, PublicationState::TagPushed, None, LEASE, at(65_000))
        .expect("tag step again");
    let release = store.release_publication(row.id, 2, at(66_000)).expect("release");
    assert_eq!(release.pipeline_id, Some(PipelineId::new(2)));
}

#[test]
fn another_commit_takes_over_only_while_nothing_was_pushed() {
    let store = Store::open_in_memory().expect("store");
    let row = won(store.claim_publication(&new(SHA_A, 1), LEASE, at(1_000)).expect("claim"));
    store.fail_publication(row.id, 1, "registry down", at(2_000)).expect("fail");
    let row = won(store.claim_publication(&new(SHA_B, 2), LEASE, at(3_000)).expect("claim"));
    assert_eq!(row.sha, SHA_B);
    store
        .advance_publication(row.id, 2, PublicationState::ImagePushed, Some(DIGEST), LEASE, at(4_000))
        .expect("image pushed");
    store.fail_publication(row.id, 2, "git remote refused", at(5_000)).expect("fail");
    let row = held(store.claim_publication(&new(SHA_A, 3), LEASE, at(6_000)).expect("claim"));
    assert_eq!(row.sha, SHA_B);
}

#[test]
fn claims_race_across_connections_to_one_winner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sluice.db");
    Store::open(&path).expect("create");
    let winners: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|pipeline| {
                let path = &path;
                scope.spawn(move || {
                    let store = Store::open(path).expect("open");
                    matches!(
                        store.claim_publication(&new(SHA_A, pipeline), LEASE, at(1_000)),
                        Ok(Claim::Won(_))
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    assert_eq!(winners.iter().filter(|won| **won).count(), 1, "{winners:?}");
}

#[test]
fn ending_leases_at_start_up_frees_unfinished_claims_only() {
    let store = Store::open_in_memory().expect("store");
    let row = won(store.claim_publication(&new(SHA_A, 1), LEASE, at(1_000)).expect("claim"));
    store
        .advance_publication(row.id, 1, PublicationState::ImagePushed, Some(DIGEST), LEASE, at(2_000))
        .expect("image pushed");
    held(store.claim_publication(&new(SHA_A, 2), LEASE, at(3_000)).expect("claim"));
    assert_eq!(store.end_publication_leases(at(3_000)).expect("end leases"), 1);
    let resumed = won(store.claim_publication(&new(SHA_A, 2), LEASE, at(3_000)).expect("claim"));
    assert_eq!(resumed.attempt, 2);
    assert_eq!(resumed.state, PublicationState::ImagePushed, "the takeover resumes where it stopped");
    store.release_publication(resumed.id, 2, at(4_000)).expect("release");
    assert_eq!(store.end_publication_leases(at(5_000)).expect("end leases"), 0, "a release stays final");
    held(store.claim_publication(&new(SHA_A, 3), LEASE, at(5_000)).expect("claim"));
}
