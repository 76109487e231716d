//! Who may be mailed a failure report. A hook URL is public, so its `errorEmail` could name
//! anyone: a report goes to an address only when
//! - the address is one the operator allows (`mail.allowed_addresses`: addresses or `@domain`), or
//! - the hook's credentials were accepted by the provider at least once (a successful check or
//!   send), recorded under a keyed hash of them, never the credentials themselves.
//!
//! Hooks without credentials of their own (`log`, a declared sender without a secret parameter)
//! mail only allowed addresses. Anything else is logged and counted, not mailed.

use std::{collections::HashSet, sync::Mutex};

use crate::redact::Secrets;
use crate::store::{now_ms, Store, StoreResult};

/// The name of the hashing key in the store (shared by every instance).
const KEY_NAME: &str = "mail-fence";
/// Vouched hashes this instance remembers without asking the store.
const REMEMBERED: usize = 10_000;

/// A keyed hash of a hook's credentials (hex).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CredentialsId(String);

/// Whether a report may go to an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The address is in `mail.allowed_addresses`: it needs no confirmation either.
    Listed,
    /// The hook's credentials were accepted; the address still confirms once ([`super::confirm`]).
    Allowed,
    /// The hook has credentials, but no provider ever accepted them.
    NeverAccepted,
    /// The hook has no credentials and the address is not in `mail.allowed_addresses`.
    NotAllowed,
}

pub struct Fence {
    key: [u8; 32],
    /// Folded addresses (`op@example.com`) and domains (`@example.com`).
    allowed: Vec<String>,
    remembered: Mutex<HashSet<CredentialsId>>,
}

impl Fence {
    /// Loads (or makes, on the first start) the hashing key; a damaged one stops start-up.
    pub async fn load(store: &dyn Store, allowed: &[String]) -> anyhow::Result<Fence> {
        let fresh = blake3::Hash::from_bytes(rand::random::<[u8; 32]>()).to_hex();
        let hex = store.shared_key(KEY_NAME, &fresh).await?;
        let key = blake3::Hash::from_hex(hex.trim()).map_err(|e| {
            anyhow::Error::from(crate::t!(
                "settings-service-key-damaged",
                name = KEY_NAME,
                why = e.to_string()
            ))
        })?;
        Ok(Fence {
            key: *key.as_bytes(),
            allowed: allowed.iter().map(|a| a.trim().to_lowercase()).collect(),
            remembered: Mutex::new(HashSet::new()),
        })
    }

    /// The keyed hash of a hook's credentials on `channel`, or `None` when it has none.
    pub fn credentials(&self, channel: &str, secrets: &Secrets) -> Option<CredentialsId> {
        let mut values: Vec<&str> = secrets.values().iter().map(String::as_str).collect();
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let mut hash = blake3::Hasher::new_keyed(&self.key);
        hash.update(channel.as_bytes());
        for v in values {
            hash.update(&[0]);
            hash.update(v.as_bytes());
        }
        Some(CredentialsId(hash.finalize().to_hex().to_string()))
    }

    /// The keyed hash of a confirmation token, as the outbox keeps it (hex).
    pub fn token_hash(&self, token: &str) -> String {
        let mut hash = blake3::Hasher::new_keyed(&self.key);
        hash.update(b"confirm\0");
        hash.update(token.as_bytes());
        hash.finalize().to_hex().to_string()
    }

    /// Records that a provider accepted these credentials (once per instance and hash).
    pub async fn vouch(&self, store: &dyn Store, id: &CredentialsId) {
        if self.remembered.lock().expect("fence lock").contains(id) {
            return;
        }
        match store.vouch(&id.0, now_ms()).await {
            Ok(()) => self.remember(id),
            Err(e) => tracing::warn!(error = %e, "cannot record accepted credentials"),
        }
    }

    fn remember(&self, id: &CredentialsId) {
        let mut remembered = self.remembered.lock().expect("fence lock");
        if remembered.len() >= REMEMBERED {
            remembered.clear();
        }
        remembered.insert(id.clone());
    }

    /// Whether a provider has accepted these credentials (a store that cannot say counts as
    /// yes: the outbox's share is a bound on strangers, not a gate on the operator).
    pub async fn is_vouched(&self, store: &dyn Store, id: &CredentialsId) -> bool {
        if self.remembered.lock().expect("fence lock").contains(id) {
            return true;
        }
        match store.vouched(&id.0).await {
            Ok(true) => {
                self.remember(id);
                true
            }
            Ok(false) => false,
            Err(_) => true,
        }
    }

    /// Whether a report about a hook with `credentials` may go to `address` (normalized).
    pub async fn verdict(
        &self,
        store: &dyn Store,
        address: &str,
        credentials: Option<&CredentialsId>,
    ) -> StoreResult<Verdict> {
        let domain = address.rsplit_once('@').map(|(_, d)| format!("@{d}"));
        let listed = self
            .allowed
            .iter()
            .any(|a| a == address || Some(a) == domain.as_ref());
        if listed {
            return Ok(Verdict::Listed);
        }
        let Some(id) = credentials else {
            return Ok(Verdict::NotAllowed);
        };
        if self.remembered.lock().expect("fence lock").contains(id) {
            return Ok(Verdict::Allowed);
        }
        if store.vouched(&id.0).await? {
            self.remember(id);
            Ok(Verdict::Allowed)
        } else {
            Ok(Verdict::NeverAccepted)
        }
    }
}
