//! Writes per account: a token bucket per account id, in this instance's memory.
//!
//! Why it exists: every write is an outbox row, and one client `PATCHing` one node hundreds of times a
//! second would fill the outbox (and the relay's rounds) with one aggregate's rows. Why in memory and
//! not in Redis: geo has no Redis, and a shared counter would put a second dependency and a round
//! trip on every write for a limit that only has to bound, not meter: with N instances behind the
//! proxy an account gets at most N times the rate, which still bounds the flood. A bucket rather
//! than a fixed window: a person placing a handful of nodes at once is never refused, and there is
//! no window edge at which twice the limit passes.

pub use gewebe_platform::limit::{WriteLimit, WriteLimiter};
