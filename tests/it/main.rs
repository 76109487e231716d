//! One integration-test binary: the service runs on port 0 and is talked to over HTTP.

#[path = "../common/mod.rs"]
mod common;
mod support;

mod abuse;
mod api;
mod channels;
mod check;
mod confirm;
mod conformance;
mod console;
mod declared;
mod dedup_shared;
mod delivery;
mod deploy;
mod docs;
mod green_api;
mod hardening;
mod language;
mod limits;
mod operator;
mod render;
mod share;
mod shared_outbox;
mod telegram;
mod templates;
mod unanswered;
mod vk;
mod wappi;
mod wazzup24;
