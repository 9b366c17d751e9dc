//! argon2id password hashing. Parameters come from the configuration and are stored in each hash
//! (PHC string), so raising them later upgrades hashes at the next successful login. Hashing runs
//! on the blocking pool: it is deliberately slow and must not stall the async workers.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

use crate::error::Error;

#[derive(Debug, Clone)]
pub struct Hasher {
    params: Params,
    /// A hash of a random password, verified when the e-mail is unknown so that a login for an
    /// unknown address costs as much as one with a wrong password.
    dummy: String,
}

impl Hasher {
    pub fn new(m_kib: u32, t: u32, p: u32) -> Result<Self, Error> {
        let params = Params::new(m_kib, t, p, None).map_err(|e| Error::Hashing(e.to_string()))?;
        let mut random = [0u8; 24];
        getrandom::fill(&mut random).map_err(|e| Error::Hashing(e.to_string()))?;
        let dummy = hash_with(&params, &random)?;
        Ok(Self { params, dummy })
    }

    pub async fn hash(&self, password: String) -> Result<String, Error> {
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || hash_with(&params, password.as_bytes()))
            .await
            .map_err(|e| Error::Hashing(e.to_string()))?
    }

    /// `Ok(true)` if it matches; `needs_rehash` tells whether the stored parameters are outdated.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verified, Error> {
        let (stored, known) = match stored {
            Some(s) => (s, true),
            None => (self.dummy.clone(), false),
        };
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&stored).map_err(|e| Error::Hashing(e.to_string()))?;
            let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
            let ok = argon.verify_password(password.as_bytes(), &parsed).is_ok() && known;
            // The costs only: a parsed hash also carries its output length, which the configured
            // parameters leave unset, so comparing whole `Params` would rehash at every login.
            let needs_rehash = Params::try_from(&parsed)
                .map(|p| {
                    (p.m_cost(), p.t_cost(), p.p_cost())
                        != (params.m_cost(), params.t_cost(), params.p_cost())
                })
                .unwrap_or(true);
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
