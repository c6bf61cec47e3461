//! What starts a pipeline. Owns the translation of outside signals (forge webhooks, polling,
//! cron schedules, API calls) into our own [`Event`], plus the key that
//! deduplicates a redelivered signal.
//!
//! Everything here is pure: no I/O, no store, no clock (time is an argument). The daemon
//! calls [`webhook`], records the [`Event`] durably under its [`DedupKey`], and only then
//! answers the forge. Forge payload types never leave this module.

pub mod comment;
pub mod cron;
pub mod event;
pub mod poll;
pub mod record;
pub mod webhook;

pub use event::{DedupKey, Event, EventKind, Forge};
