//! Agent API keys: `tg_` and 40 random alphanumerics (about 238 bits). Only the SHA-256 of a
//! key is stored; a fast hash is right here because keys are random, not guessable passwords,
//! and it lets a request find its agent with one indexed lookup.

use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

const PREFIX: &str = "tg_";
const RANDOM_CHARS: usize = 40;
/// How much of a key is stored in clear to tell keys apart in lists.
const SHOWN_PREFIX_CHARS: usize = 8;

/// A freshly generated key, before it is shown once and forgotten.
pub struct NewKey {
    pub key: String,
    pub hash: String,
    pub prefix: String,
}

pub fn generate() -> NewKey {
    generate_with_prefix(PREFIX)
}

/// A key of the same strength with another prefix (personal API tokens use `tgp_`).
pub fn generate_with_prefix(prefix: &str) -> NewKey {
    let key = format!("{prefix}{}", Alphanumeric.sample_string(&mut rand::rng(), RANDOM_CHARS));
    let shown = prefix.chars().count() + SHOWN_PREFIX_CHARS - PREFIX.len();
    NewKey { hash: hash(&key), prefix: key.chars().take(shown).collect(), key }
}

pub fn hash(key: &str) -> String {
    hex::encode(digest(key))
}

/// The raw SHA-256 of a key: what in-memory lookups compare, without hex-encoding it.
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_hash_stably() {
        let (a, b) = (generate(), generate());
        assert_ne!(a.key, b.key);
        assert!(a.key.starts_with("tg_") && a.key.len() == 43);
        assert_eq!(hash(&a.key), a.hash);
        assert_eq!(a.hash.len(), 64);
        assert!(a.key.starts_with(&a.prefix));
    }
}
