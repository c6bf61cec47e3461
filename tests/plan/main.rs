//! `plan`: conformance of the GitLab CI engine through the real `sluice` binary.
//!
//! - [`corpus`]: every case under `tests/fixtures/ci/` is planned and compared with its
//!   expected plan or expected errors (cases written from GitLab 18.5's documentation).
//! - [`oracle`]: the same cases through gitlab-ci-local, the differential oracle, except the
//!   deviations listed in `tests/fixtures/ci/gitlab-ci-local-deviations.txt`.
//! - [`cli`]: help texts, exit codes and output forms of `sluice lint` and `sluice plan`.
//! - [`version`]: the VERSION gate: `sluice version check` and the `SLUICE_*` variables of
//!   `sluice plan` and `sluice run`, on repositories with real tags.

mod cli;
mod corpus;
mod oracle;
mod support;
mod version;
