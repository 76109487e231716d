//! What every test crate shares: the Wappi token used in hook URLs, the fixtures, and a Wappi
//! stand-in. (`tests/it`, `tests/process.rs` and `tests/metrics.rs` are separate crates.)
#![allow(dead_code)]

use std::path::PathBuf;

pub mod postgres;

use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};

/// A Wappi token of the real shape (50 letters and digits).
pub const TOKEN: &str = "9410830193ce4ad56fe4df0378d1a0a8da13672248d94697b3";

/// The crate's root folder.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The path of `tests/fixtures/<name>`.
pub fn fixture_path(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// The bytes of `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixture_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A Wappi stand-in that answers every POST with `answer`.
pub async fn wappi_answering(answer: ResponseTemplate) -> MockServer {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(answer)
        .mount(&wappi)
        .await;
    wappi
}
