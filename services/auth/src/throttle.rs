//! Brute-force protection in Redis/KeyDB: atomic Lua scripts over counters with TTLs.
//!
//! - Login, per (account, IP): more than `AUTH_LOGIN_MAX_FAILURES` failures within
//!   `AUTH_LOGIN_WINDOW_SECS` lock that pair for `AUTH_LOGIN_BLOCK_SECS` — the failure that crosses
//!   the limit and every attempt during the lock get 429, even with the right password.
//! - Login, per IP across accounts: `AUTH_LOGIN_IP_MAX_FAILURES` failures per window.
//! - Registration, per IP: `AUTH_REGISTER_MAX_PER_IP` per `AUTH_REGISTER_WINDOW_SECS`.
//!
//! The account part of a key is a hash of the normalised e-mail address (also for unknown
//! addresses, which must behave exactly like known ones), so Redis never holds an address.
//! If Redis cannot answer, the caller fails closed (503) rather than letting logins through unthrottled.

use std::net::IpAddr;

use fred::interfaces::LuaInterface;
use gewebe_platform::redis::Redis;
use sha2::{Digest, Sha256};

use crate::{config::ThrottleConfig, error::Error};

/// Retry-After in seconds if the pair or the IP is locked, else 0.
const CHECK: &str = r"
local t = redis.call('TTL', KEYS[1])
if t > 0 then return t end
local n = tonumber(redis.call('GET', KEYS[2]) or '0')
if n >= tonumber(ARGV[1]) then
  local r = redis.call('TTL', KEYS[2])
  if r < 1 then r = 1 end
  return r
end
return 0
";

/// Counts a failure for the pair and the IP; locks the pair when it passes the limit.
/// Returns the lock's length in seconds if this failure started one, else 0.
const FAIL: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local m = redis.call('INCR', KEYS[3])
if m == 1 then redis.call('EXPIRE', KEYS[3], ARGV[1]) end
if n > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return tonumber(ARGV[3])
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
}

/// The Redis keys of one login attempt.
struct LoginKeys {
    failures: String,
    lock: String,
    ip_failures: String,
}

impl Throttle {
    pub fn new(redis: Redis, config: ThrottleConfig) -> Self {
        Self { redis, config }
    }

    fn login_keys(&self, email: &str, ip: IpAddr) -> LoginKeys {
        let digest = Sha256::digest(format!("gewebe-login:{email}").as_bytes());
        let account = crate::audit::hex(&digest[..16]);
        LoginKeys {
            failures: self.redis.key(&format!("auth:login:fail:{account}:{ip}")),
            lock: self.redis.key(&format!("auth:login:lock:{account}:{ip}")),
            ip_failures: self.redis.key(&format!("auth:login:ipfail:{ip}")),
        }
    }

    /// Before checking the password: `Err(Throttled)` while the pair or the IP is locked.
    pub async fn check_login(&self, email: &str, ip: IpAddr) -> Result<(), Error> {
        let keys = self.login_keys(email, ip);
        let retry: i64 = self
            .redis
            .client
            .eval(
                CHECK,
                vec![keys.lock, keys.ip_failures],
                vec![i64::from(self.config.login_ip_max_failures)],
            )
            .await
            .map_err(|e| unavailable(&e))?;
        throttled(retry)
    }

    /// After a wrong password. `Ok(Some(secs))` if this failure started a lock.
    pub async fn login_failed(&self, email: &str, ip: IpAddr) -> Result<Option<u32>, Error> {
        let keys = self.login_keys(email, ip);
        let locked: i64 = self
            .redis
            .client
            .eval(
                FAIL,
                vec![keys.failures, keys.lock, keys.ip_failures],
                vec![
                    self.config.login_window.as_secs() as i64,
                    i64::from(self.config.login_max_failures),
                    self.config.login_block.as_secs() as i64,
                ],
            )
            .await
            .map_err(|e| unavailable(&e))?;
        Ok((locked > 0).then(|| u32::try_from(locked).unwrap_or(u32::MAX)))
    }

    /// After a successful login the pair's failures are forgiven (the IP's are not). Best effort:
    /// the check before the password just succeeded, and a lost reset only keeps a count alive.
    pub async fn login_succeeded(&self, email: &str, ip: IpAddr) {
        use fred::interfaces::KeysInterface;
        let keys = self.login_keys(email, ip);
        if let Err(e) = self.redis.client.del::<i64, _>(keys.failures).await {
            tracing::warn!(kind = ?e.kind(), "resetting the login failure count failed");
        }
    }

    /// Counts a registration from `ip`; `Err(Throttled)` past the limit.
    pub async fn register(&self, ip: IpAddr) -> Result<(), Error> {
        let key = self.redis.key(&format!("auth:register:{ip}"));
        let retry: i64 = self
            .redis
            .client
            .eval(
                HIT,
                vec![key],
                vec![
                    self.config.register_window.as_secs() as i64,
                    i64::from(self.config.register_max_per_ip),
                ],
            )
            .await
            .map_err(|e| unavailable(&e))?;
        throttled(retry)
    }
}

fn throttled(retry: i64) -> Result<(), Error> {
    if retry > 0 {
        Err(Error::Throttled {
            retry_after: u32::try_from(retry).unwrap_or(u32::MAX),
        })
    } else {
        Ok(())
    }
}

fn unavailable(e: &fred::error::Error) -> Error {
    tracing::error!(kind = ?e.kind(), "rate-limit store unavailable; failing closed");
    Error::ThrottleUnavailable
}
