//! Publications and releases as the store keeps them.
//!
//! A publication is the exactly-once claim of one (app, version): its row is inserted under
//! a unique constraint before anything is pushed, and its [`PublicationState`] records how
//! far it got. A release is what a finished publication produced (app, version, commit,
//! image and digest, pipeline): the record promotion and deployment consume. The store only
//! keeps these rows and enforces who may move a claim; [`crate::publish`] does the pushing.

use std::fmt;
use std::str::FromStr;

use crate::store::{ParseWordError, PipelineId, Timestamp};

/// How far a publication got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublicationState {
    /// The (app, version) is claimed; nothing is known to be pushed yet.
    Claimed,
    /// The image is in the registry under the version tag; its digest is recorded.
    ImagePushed,
    /// The git tag is on the remote too.
    TagPushed,
    /// The release is recorded. Final.
    Released,
    /// The last attempt stopped with an error (recorded with it); the claim may be taken over.
    Failed,
}

impl PublicationState {
    /// The word stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            PublicationState::Claimed => "claimed",
            PublicationState::ImagePushed => "image_pushed",
            PublicationState::TagPushed => "tag_pushed",
            PublicationState::Released => "released",
            PublicationState::Failed => "failed",
        }
    }
}

impl fmt::Display for PublicationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PublicationState {
    type Err = ParseWordError;

    fn from_str(word: &str) -> Result<Self, Self::Err> {
        match word {
            "claimed" => Ok(PublicationState::Claimed),
            "image_pushed" => Ok(PublicationState::ImagePushed),
            "tag_pushed" => Ok(PublicationState::TagPushed),
            "released" => Ok(PublicationState::Released),
            "failed" => Ok(PublicationState::Failed),
            _ => Err(ParseWordError {
                kind: "publication state",
                word: word.to_owned(),
            }),
        }
    }
}

/// What a pipeline asks to claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPublication {
    /// The app (the project's name unless configured otherwise).
    pub app: String,
    /// The version, normalised (no leading `v`, no build metadata).
    pub version: String,
    /// The commit being published.
    pub sha: String,
    /// The image reference it is pushed to.
    pub image: String,
    /// The pipeline publishing it, if it has one.
    pub pipeline_id: Option<PipelineId>,
}

/// A publication as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicationRow {
    /// Its id.
    pub id: i64,
    /// The app.
    pub app: String,
    /// The version.
    pub version: String,
    /// The commit.
    pub sha: String,
    /// The image reference.
    pub image: String,
    /// The manifest digest, once the image is pushed.
    pub digest: Option<String>,
    /// The pipeline of the current attempt.
    pub pipeline_id: Option<PipelineId>,
    /// How far it got.
    pub state: PublicationState,
    /// Why the last attempt failed, when it did.
    pub error: Option<String>,
    /// 1 for the first claim, +1 for each takeover: the fencing token of updates.
    pub attempt: i64,
    /// Until when the current holder owns the claim without renewing it.
    pub lease_until: Timestamp,
    /// When it was first claimed.
    pub claimed_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the claim: a new one (`attempt` 1) or one taken over from a failed
    /// or expired holder (the row's `state` says how far the previous attempt got).
    Won(PublicationRow),
    /// Someone else holds it (an unexpired lease), it is released, or it belongs to another
    /// commit that already pushed something. Nothing changed.
    Held(PublicationRow),
}

/// A release: what a finished publication produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRow {
    /// The app.
    pub app: String,
    /// The version.
    pub version: String,
    /// The commit it was built from.
    pub sha: String,
    /// The image reference (`REGISTRY/REPO:VERSION`).
    pub image: String,
    /// The manifest digest (`sha256:…`).
    pub digest: String,
    /// The pipeline that published it.
    pub pipeline_id: Option<PipelineId>,
    /// When it was recorded.
    pub created_at: Timestamp,
}
