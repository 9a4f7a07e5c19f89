//! API keys already seen, by the raw SHA-256 of the key (no hex encoding on the hot path).
//! Only a single instance caches: it sees its own revocations and evicts at once, and drops
//! the whole cache every few seconds so revocations by another process (the CLI) count too.

use crate::agents::Principal;
use std::collections::HashMap;
use std::sync::RwLock;

#[derive(Default)]
pub struct KeyCache {
    keys: RwLock<HashMap<[u8; 32], Principal>>,
}

impl KeyCache {
    pub fn get(&self, digest: &[u8; 32]) -> Option<Principal> {
        self.keys.read().ok()?.get(digest).cloned()
    }

    pub fn insert(&self, digest: [u8; 32], principal: Principal) {
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(digest, principal);
        }
    }

    /// Forgets the agent's key (it was revoked).
    pub fn evict_agent(&self, agent_id: i64) {
        if let Ok(mut keys) = self.keys.write() {
            keys.retain(|_, p| p.agent_id != agent_id);
        }
    }

    pub fn clear(&self) {
        if let Ok(mut keys) = self.keys.write() {
            keys.clear();
        }
    }
}
