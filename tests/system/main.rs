//! `system`: the real `sluice serve` binary with real HTTP on 127.0.0.1, real git
//! repositories pushed to with the `git` CLI, and real job processes: webhook intake
//! ([`hooks`]), durability across `kill -9` ([`hooks`]), polling to pipelines
//! ([`pipelines`]), pipelines side by side and auto-cancel ([`concurrency`],
//! [`auto_cancel`]), retries after a crash ([`recovery`]), pipelines resumed by retries
//! ([`resume`]), cron schedules ([`schedules`]), the JSON API with its tokens
//! ([`api`]), the CLI commands that call it ([`cli`]; over `https://`: [`cli_https`]), and
//! SOPS secrets against the real `sops` and `age` ([`secrets`]), with OpenPGP keys against the real `gpg` ([`secrets_pgp`]),
//! and in a config repo with `.sops.yaml` creation rules ([`secrets_repo`]); and images built
//! and pushed to a real `docker-registry`, checked with `skopeo` ([`image`], [`registry`]);
//! and remote repositories, `https://` from a real `git http-backend` over TLS (with basic
//! authentication) and `ssh://` from a real `sshd` ([`sshd`]), mirrored ([`mirrors`]) and
//! receiving release tags ([`publish_remotes`]); publication from a `Dockerfile` built by
//! the real `podman` ([`publish_dockerfile`]);
//! and deployments of real processes from a config repo ([`deploy`]), feeding the promotion
//! gates ([`deploy_gates`]), rolled out over several targets ([`deploy_rollout`]), from
//! images pulled from a registry ([`deploy_registry`]);
//! and `sluice quickstart`, the whole flow in one directory ([`quickstart`]).

#[path = "../plan/support.rs"]
#[allow(dead_code)]
mod support;

mod api;
mod auto_cancel;
mod cli;
mod cli_https;
mod concurrency;
mod containers;
mod daemon;
mod deploy;
mod deploy_gates;
mod deploy_health;
mod deploy_kubernetes;
mod deploy_registry;
mod deploy_rollout;
mod forge;
mod forge_peer;
mod hooks;
mod image;
mod mirrors;
mod pipelines;
#[path = "../run/podman.rs"]
#[allow(dead_code)]
mod podman;
mod promote;
mod promote_support;
mod publish;
mod publish_dockerfile;
mod publish_remotes;
mod quickstart;
mod recovery;
mod registry;
mod registry_token;
mod resume;
mod schedules;
mod secrets;
mod secrets_commands;
mod secrets_leaks;
mod secrets_pgp;
mod secrets_repo;
mod sshd;
