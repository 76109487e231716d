//! torrow-hooks: receives Torrow WebHook events, renders a notification from operator-editable
//! templates and delivers it durably through a channel (Wappi, log, …).
//!
//! Data walks one way: [`http`] → [`params`] + [`event`] → [`render`] → [`delivery`] →
//! [`channel`] → [`mail`]. [`hook`] holds the use cases shared by HTTP and the CLI; [`settings`]
//! feeds them all.

pub mod app;
pub mod channel;
pub mod cli;
pub mod delivery;
pub mod editor;
pub mod event;
pub mod hook;
pub mod http;
pub mod i18n;
pub mod mail;
pub mod params;
pub mod recipient;
pub mod redact;
pub mod render;
pub mod server;
pub mod settings;
pub mod store;
pub mod telemetry;

pub use app::App;
pub use server::{start, Running};
pub use settings::Settings;
