//! Brute-force protection in Redis/KeyDB: atomic Lua scripts over counters with TTLs.
//!
//! An address is its full IPv4 address, or its IPv6 /64: one subscriber usually gets a whole /64, so
//! counting single IPv6 addresses would let one attacker rotate through 2^64 of them.
//!
//! A login attempt is counted *before* its password is hashed, in the same script that checks the
//! limits (`BEGIN`), so N concurrent requests cannot all pass the check before any of them counts;
//! a successful login refunds its attempt. Limits:
//!
//! - per (account, address): more than `AUTH_LOGIN_MAX_FAILURES` attempts within
//!   `AUTH_LOGIN_WINDOW_SECS` lock that pair for `AUTH_LOGIN_BLOCK_SECS` — the attempt that crosses
//!   the limit and every attempt during the lock get 429, even with the right password;
//! - per address across accounts: `AUTH_LOGIN_IP_MAX_FAILURES` per window;
//! - per account across all addresses (against address pools): after
//!   `AUTH_LOGIN_ACCOUNT_FREE_FAILURES` attempts within `AUTH_LOGIN_ACCOUNT_WINDOW_SECS` (sliding),
//!   the account takes one attempt per delay — 1 s, doubling, at most
//!   `AUTH_LOGIN_ACCOUNT_MAX_DELAY_SECS`; others get 429 with the delay left as Retry-After. Addresses
//!   the account logged in from within `AUTH_LOGIN_KNOWN_ADDRESS_DAYS` are exempt from this gate (only
//!   their pair limit applies), so an attacker who makes an account fail from everywhere does not
//!   keep its owner out at home; a new address waits at most the maximum delay once the attack ends.
//! - registration, per address: `AUTH_REGISTER_MAX_PER_IP` per `AUTH_REGISTER_WINDOW_SECS`.
//!
//! The account part of a key is a keyed hash (HMAC, key derived from `AUTH_KEK`) of the normalised
//! e-mail address (also for unknown addresses, which must behave exactly like known ones), so Redis
//! never holds an e-mail address, and a dump cannot be matched against candidate addresses.
//! If Redis cannot answer, the caller fails closed (503) rather than letting logins through unthrottled.

use std::{net::IpAddr, sync::Arc};

use fred::interfaces::LuaInterface;
use gewebe_platform::redis::Redis;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};

use crate::{config::ThrottleConfig, error::Error};

/// KEYS: pair count, pair lock, address count, account count, account gate, known-address marker.
/// ARGV: window, pair max, block, address max, account window, account free, account max delay.
/// Returns `{0, 0}` to go ahead, `{1, retry}` refused, `{2, retry}` refused by a lock this attempt
/// started. Refused attempts are not counted: they cost nothing, and the attempts that are counted
/// already decide every limit.
const BEGIN: &str = r"
local t = redis.call('TTL', KEYS[2])
if t > 0 then return {1, t} end
local ipn = tonumber(redis.call('GET', KEYS[3]) or '0')
if ipn >= tonumber(ARGV[4]) then
  local r = redis.call('TTL', KEYS[3])
  if r < 1 then r = 1 end
  return {1, r}
end
if redis.call('EXISTS', KEYS[6]) == 0 then
  local g = redis.call('PTTL', KEYS[5])
  if g > 0 then return {1, math.ceil(g / 1000)} end
end
local p = redis.call('INCR', KEYS[1])
if p == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if p > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return {2, tonumber(ARGV[3])}
end
local i = redis.call('INCR', KEYS[3])
if i == 1 then redis.call('EXPIRE', KEYS[3], ARGV[1]) end
local a = redis.call('INCR', KEYS[4])
redis.call('EXPIRE', KEYS[4], ARGV[5])
local over = a - tonumber(ARGV[6])
if over >= 0 then
  local d = math.min(2 ^ math.min(over, 30), tonumber(ARGV[7]))
  redis.call('SET', KEYS[5], '1', 'EX', string.format('%d', math.floor(d)))
end
return {0, 0}
";

/// After a successful login: forgive the pair, refund this attempt to the address and the
/// account (never below zero, never a key without TTL), and remember the address for the account.
/// KEYS: pair count, address count, account count, known-address marker. ARGV: marker TTL.
const SUCCEEDED: &str = r"
redis.call('DEL', KEYS[1])
for _, k in ipairs({KEYS[2], KEYS[3]}) do
  if tonumber(redis.call('GET', k) or '0') > 0 then redis.call('DECR', k) end
end
redis.call('SET', KEYS[4], '1', 'EX', ARGV[1])
return 0
";

/// An attempt whose password was never looked at (the database failed first): its counts go back,
/// so an outage cannot lock owners out who kept retrying through it. No marker: nobody logged in.
/// KEYS: pair count, address count, account count.
const NOT_EVALUATED: &str = r"
for _, k in ipairs({KEYS[1], KEYS[2], KEYS[3]}) do
  if tonumber(redis.call('GET', k) or '0') > 0 then redis.call('DECR', k) end
end
return 0
";

/// A fixed-window counter: Retry-After in seconds if over the limit, else 0.
const HIT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n > tonumber(ARGV[2]) then
  local r = redis.call('TTL', KEYS[1])
  if r < 1 then r = 1 end
  return r
end
return 0
";

#[derive(Clone)]
pub struct Throttle {
    redis: Redis,
    config: ThrottleConfig,
    key: Arc<SecretBox<[u8; 32]>>,
}

/// A counted login attempt: the keys it was counted under.
pub struct Attempt {
    pair: String,
    lock: String,
    address: String,
    account: String,
    gate: String,
    known: String,
}

/// Why a login attempt was refused before its password was looked at.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: u32,
    /// This attempt crossed the pair limit and started its lock (audited, once per lock).
    pub locked_now: bool,
}

/// The part of an address limits are keyed by: an IPv4 address whole, an IPv6 address by its /64
/// (IPv4-mapped IPv6 counts as IPv4).
pub fn address_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

impl Throttle {
    /// `kek` keys the digests in Redis's key names (through a key derived for this use only).
    pub fn new(redis: Redis, config: ThrottleConfig, kek: &SecretBox<[u8; 32]>) -> Self {
        let mut h = Sha256::new();
        h.update(b"gewebe-throttle:");
        h.update(kek.expose_secret());
        let key: [u8; 32] = h.finalize().into();
        Self {
            redis,
            config,
            key: Arc::new(SecretBox::new(Box::new(key))),
        }
    }

    /// A keyed digest: without the key, a Redis dump cannot be matched against candidate e-mail
    /// addresses, nor (for the known-address markers, kept for weeks) against the 2^32 IPv4
    /// addresses to learn where an account logs in from.
    fn digest(&self, data: &str) -> String {
        // HMAC zero-pads a key shorter than the hash's block, so keying with the 32 bytes padded
        // to a block is the same MAC, through the infallible constructor.
        let mut block = hmac::digest::Key::<Hmac<Sha256>>::default();
        block[..32].copy_from_slice(self.key.expose_secret());
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&block);
        mac.update(data.as_bytes());
        crate::audit::hex(&mac.finalize().into_bytes()[..16])
    }

    fn attempt(&self, email: &str, ip: IpAddr) -> Attempt {
        let account = self.digest(&format!("gewebe-login:{email}"));
        let addr = address_key(ip);
        // The known-address marker outlives the counters by weeks: keep the address out of it.
        let marker = self.digest(&format!("gewebe-known:{account}:{addr}"));
        let key = |rest: String| self.redis.key(&rest);
        Attempt {
            pair: key(format!("auth:login:fail:{account}:{addr}")),
            lock: key(format!("auth:login:lock:{account}:{addr}")),
            address: key(format!("auth:login:ipfail:{addr}")),
            account: key(format!("auth:login:acct:{account}")),
            gate: key(format!("auth:login:gate:{account}")),
            known: key(format!("auth:login:known:{marker}")),
        }
    }

    /// Before looking at the password: counts the attempt, or refuses it.
    /// `Ok(Err(refused))` → 429; `Err(_)` → Redis is down (503, fail closed).
    pub async fn begin_login(
        &self,
        email: &str,
        ip: IpAddr,
    ) -> Result<Result<Attempt, Refused>, Error> {
        let a = self.attempt(email, ip);
        let c = &self.config;
        let (outcome, retry): (i64, i64) = self
            .redis
            .client
            .eval(
                BEGIN,
                vec![
                    a.pair.clone(),
                    a.lock.clone(),
                    a.address.clone(),
                    a.account.clone(),
                    a.gate.clone(),
                    a.known.clone(),
                ],
                vec![
                    secs(c.login_window),
                    i64::from(c.login_max_failures),
                    secs(c.login_block),
                    i64::from(c.login_ip_max_failures),
                    secs(c.account_window),
                    i64::from(c.account_free_failures),
                    secs(c.account_max_delay),
                ],
            )
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(match outcome {
            0 => Ok(a),
            other => Err(Refused {
                retry_after: u32::try_from(retry.max(1)).unwrap_or(u32::MAX),
                locked_now: other == 2,
            }),
        })
    }

    /// After a successful login. Best effort: a lost refund only keeps a count alive until its
    /// window ends, and a lost marker only makes the next login from here a "new address" one.
    pub async fn login_succeeded(&self, a: Attempt) {
        let result: Result<i64, _> = self
            .redis
            .client
            .eval(
                SUCCEEDED,
                vec![a.pair, a.address, a.account, a.known],
                vec![secs(self.config.known_address_ttl)],
            )
            .await;
        if let Err(e) = result {
            tracing::warn!(kind = ?e.kind(), "refunding a successful login attempt failed");
        }
    }

    /// After an attempt that failed before its password was evaluated. Best effort, as above.
    pub async fn login_not_evaluated(&self, a: Attempt) {
        let result: Result<i64, _> = self
            .redis
            .client
            .eval(
                NOT_EVALUATED,
                vec![a.pair, a.address, a.account],
                Vec::<i64>::new(),
            )
            .await;
        if let Err(e) = result {
            tracing::warn!(kind = ?e.kind(), "refunding an unevaluated login attempt failed");
        }
    }

    /// Counts a registration from `ip`'s address; `Err(Throttled)` past the limit.
    pub async fn register(&self, ip: IpAddr) -> Result<(), Error> {
        let key = self
            .redis
            .key(&format!("auth:register:{}", address_key(ip)));
        let retry: i64 = self
            .redis
            .client
            .eval(
                HIT,
                vec![key],
                vec![
                    secs(self.config.register_window),
                    i64::from(self.config.register_max_per_ip),
                ],
            )
            .await
            .map_err(|e| unavailable(&e))?;
        if retry > 0 {
            Err(Error::Throttled {
                retry_after: u32::try_from(retry).unwrap_or(u32::MAX),
            })
        } else {
            Ok(())
        }
    }
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs().max(1)).unwrap_or(i64::MAX)
}

fn unavailable(e: &fred::error::Error) -> Error {
    tracing::error!(kind = ?e.kind(), "rate-limit store unavailable; failing closed");
    Error::ThrottleUnavailable
}

#[cfg(test)]
mod tests {
    use super::address_key;

    #[test]
    fn ipv6_is_keyed_by_its_64_and_ipv4_whole() {
        let k = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_eq!(k("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("198.51.100.7"), "198.51.100.7");
        assert_ne!(k("198.51.100.7"), k("198.51.100.8"));
        assert_eq!(k("::ffff:198.51.100.7"), "198.51.100.7");
    }
}
