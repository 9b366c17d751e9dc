//! argon2id password hashing. Parameters come from the configuration and are stored in each hash
//! (PHC string), so raising them later upgrades hashes at the next successful login. Hashing runs
//! on the blocking pool: it is deliberately slow and must not stall the async workers.
//!
//! Every hash costs `AUTH_ARGON2_M_KIB` of memory (19 MiB by default) for its whole run, so the
//! number running at once is bounded by a semaphore (`AUTH_HASH_CONCURRENCY`). A caller that finds
//! it full gets `503 overloaded` at once instead of a place in a queue: with the CPU already busy a
//! queue only adds latency (every waiter still needs its full hash time), holds the request's
//! connection and memory, and lets a flood push the wait past the request timeout; an immediate 503
//! with `Retry-After` lets the client or Caddy retry while the fleet stays inside its memory.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::Error;

#[derive(Debug, Clone)]
pub struct Hasher {
    params: Params,
    /// A hash of a random password, verified when the e-mail is unknown so that a login for an
    /// unknown address costs as much as one with a wrong password.
    dummy: String,
    slots: Arc<Semaphore>,
}

/// The right to run one hash. It moves into the blocking task and is released when the hash has
/// finished, not when the request ends: a request that times out or whose client goes away does
/// not stop its `spawn_blocking`, and the bound must hold for the work actually running.
#[derive(Debug)]
pub struct Permit {
    _slot: OwnedSemaphorePermit,
}

impl Hasher {
    /// `concurrency`: hashes that may run at once (at least 1).
    pub fn new(m_kib: u32, t: u32, p: u32, concurrency: usize) -> Result<Self, Error> {
        let params = Params::new(m_kib, t, p, None).map_err(|e| Error::Hashing(e.to_string()))?;
        let mut random = [0u8; 24];
        getrandom::fill(&mut random).map_err(|e| Error::Hashing(e.to_string()))?;
        let dummy = hash_with(&params, &random)?;
        Ok(Self {
            params,
            dummy,
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
        })
    }

    /// A hashing slot, or `Err(Overloaded)` at once when all are busy.
    pub fn permit(&self) -> Result<Permit, Error> {
        Arc::clone(&self.slots)
            .try_acquire_owned()
            .map(|slot| Permit { _slot: slot })
            .map_err(|_| Error::Overloaded)
    }

    pub async fn hash(&self, permit: Permit, password: String) -> Result<String, Error> {
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            hash_with(&params, password.as_bytes())
        })
        .await
        .map_err(|e| Error::Hashing(e.to_string()))?
    }

    /// `Ok(true)` if it matches; `needs_rehash` tells whether the stored parameters are outdated.
    pub async fn verify(
        &self,
        permit: Permit,
        password: String,
        stored: Option<String>,
    ) -> Result<Verified, Error> {
        let (stored, known) = match stored {
            Some(s) => (s, true),
            None => (self.dummy.clone(), false),
        };
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let parsed = PasswordHash::new(&stored).map_err(|e| Error::Hashing(e.to_string()))?;
            let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
            let ok = argon.verify_password(password.as_bytes(), &parsed).is_ok() && known;
            // The costs only: a parsed hash also carries its output length, which the configured
            // parameters leave unset, so comparing whole `Params` would rehash at every login.
            let needs_rehash = Params::try_from(&parsed).map_or(true, |p| {
                (p.m_cost(), p.t_cost(), p.p_cost())
                    != (params.m_cost(), params.t_cost(), params.p_cost())
            });
            Ok(Verified { ok, needs_rehash })
        })
        .await
        .map_err(|e| Error::Hashing(e.to_string()))?
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Verified {
    pub ok: bool,
    pub needs_rehash: bool,
}

fn hash_with(params: &Params, password: &[u8]) -> Result<String, Error> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password)
        .map(|h| h.to_string())
        .map_err(|e| Error::Hashing(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_hasher_refuses_at_once_and_a_finished_hash_frees_its_slot() {
        let hasher = Hasher::new(19_456, 2, 1, 2).unwrap();
        let a = hasher.permit().unwrap();
        let _b = hasher.permit().unwrap();
        assert!(matches!(hasher.permit(), Err(Error::Overloaded)));
        drop(a);
        assert!(hasher.permit().is_ok());
    }
}
