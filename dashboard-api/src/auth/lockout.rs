//! Login lock-out: after `max_failed_logins` failures of one account, or from one source,
//! within `failed_login_window`, logins of that account (or from that source) are refused for
//! `lockout` after the last of them — with the same answer as a wrong password.
//!
//! Attempts live in ClickHouse (`login_attempts`), so the count survives a restart and is shared
//! by several API processes. Refused attempts are not counted (they would extend a lock-out
//! forever); a successful login clears its account's count but not its source's, so that one
//! valid account does not reset the count of a source trying others.
//!
//! Privacy: a source is a keyed blake3 hash of the client address (an IPv6 address by its /64,
//! which one client usually holds whole) under the day's key from `login_keys`. The address is
//! not stored anywhere, and a day's key is deleted the day after, so a stored source hash can
//! not be linked to an address after at most 48 hours.

use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, Utc};
use larder_store::auth::{self as stored, LoginAttempt};

use crate::{ApiError, ApiState};

/// How long a process uses the day's keys before reading them again (another process may have
/// won the race to create the day's key).
const KEY_CACHE_SECS: i64 = 60;

/// The keys of today and (if still kept) yesterday, as last read.
#[derive(Clone)]
pub(crate) struct CachedKeys {
    day: NaiveDate,
    read_at: DateTime<Utc>,
    today: [u8; 32],
    yesterday: Option<[u8; 32]>,
}

impl std::fmt::Debug for CachedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedKeys").field("day", &self.day).finish_non_exhaustive()
    }
}

/// Whom a login attempt counts against.
#[derive(Debug, Clone)]
pub(crate) struct Subjects {
    account: String,
    /// The source under today's key (recorded) and under yesterday's (read too, so that a
    /// window spanning midnight counts whole).
    sources: Vec<String>,
}

fn account_subject(email: &str) -> String {
    format!("account:{email}")
}

fn source_subject(key: &[u8; 32], ip: IpAddr) -> String {
    // Privacy: only this keyed hash of the address is kept.
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets()[..8].to_vec(),
        },
    };
    let hash = blake3::keyed_hash(key, &bytes);
    format!("source:{}", hex::encode(&hash.as_bytes()[..16]))
}

/// The subjects of an attempt to log in as `email` from `ip`.
///
/// # Errors
/// Store errors reading or creating the day's key.
pub(crate) async fn subjects(state: &ApiState, email: &str, ip: Option<IpAddr>) -> Result<Subjects, ApiError> {
    let mut sources = Vec::new();
    if let Some(ip) = ip {
        let keys = keys(state).await?;
        sources.push(source_subject(&keys.today, ip));
        if let Some(yesterday) = &keys.yesterday {
            sources.push(source_subject(yesterday, ip));
        }
    }
    Ok(Subjects { account: account_subject(email), sources })
}

async fn keys(state: &ApiState) -> Result<CachedKeys, ApiError> {
    let now = state.auth.now();
    let day = now.date_naive();
    let cached = state.auth.login_keys.lock().map(|guard| guard.clone()).unwrap_or_default();
    if let Some(keys) = cached.filter(|k| k.day == day && (now - k.read_at).num_seconds() < KEY_CACHE_SECS) {
        return Ok(keys);
    }
    let store = state.store.as_ref();
    let today = match day_key(store, day).await? {
        Some(key) => key,
        None => {
            let candidate: [u8; 32] = rand::random();
            stored::add_login_key_candidate(store, day, &hex::encode(candidate)).await?;
            day_key(store, day).await?.unwrap_or(candidate)
        }
    };
    let yesterday = match day.pred_opt() {
        Some(previous) => {
            stored::drop_login_keys_before(store, previous).await?;
            day_key(store, previous).await?
        }
        None => None,
    };
    let keys = CachedKeys { day, read_at: now, today, yesterday };
    if let Ok(mut guard) = state.auth.login_keys.lock() {
        *guard = Some(keys.clone());
    }
    Ok(keys)
}

/// A day's key: the smallest candidate stored.
async fn day_key(store: &dyn larder_store::Store, day: NaiveDate) -> Result<Option<[u8; 32]>, ApiError> {
    let candidates = stored::login_key_candidates(store, day).await?;
    Ok(candidates.first().and_then(|hex_key| hex::decode(hex_key).ok()).and_then(|bytes| bytes.try_into().ok()))
}

/// Whether logins of these subjects are refused now.
///
/// # Errors
/// Store errors.
pub(crate) async fn is_locked(state: &ApiState, subjects: &Subjects) -> Result<bool, ApiError> {
    let config = &state.auth.config;
    let now = state.auth.now();
    let span = chrono::Duration::from_std(config.failed_login_window + config.lockout).unwrap_or_default();
    let mut all = subjects.sources.clone();
    all.push(subjects.account.clone());
    let attempts = stored::attempts_since(state.store.as_ref(), &all, now - span).await?;
    let last_success = attempts.iter().filter(|a| a.subject == subjects.account && a.succeeded).map(|a| a.at).max();
    let account_failures: Vec<DateTime<Utc>> = attempts
        .iter()
        .filter(|a| a.subject == subjects.account && !a.succeeded && last_success.is_none_or(|s| a.at > s))
        .map(|a| a.at)
        .collect();
    let source_failures: Vec<DateTime<Utc>> =
        attempts.iter().filter(|a| subjects.sources.contains(&a.subject) && !a.succeeded).map(|a| a.at).collect();
    let rule =
        Rule { max_failures: config.max_failed_logins, window: config.failed_login_window, lockout: config.lockout };
    Ok(rule.is_locked(&account_failures, now) || rule.is_locked(&source_failures, now))
}

/// Records an attempt that was not refused: a failure counts against the account and the
/// source, a success clears the account's count.
///
/// # Errors
/// Store errors.
pub(crate) async fn record(state: &ApiState, subjects: &Subjects, succeeded: bool) -> Result<(), ApiError> {
    let at = state.auth.now();
    let mut attempts = vec![LoginAttempt { subject: subjects.account.clone(), at, succeeded }];
    if !succeeded && let Some(source) = subjects.sources.first() {
        attempts.push(LoginAttempt { subject: source.clone(), at, succeeded });
    }
    stored::record_attempts(state.store.as_ref(), &attempts).await?;
    Ok(())
}

/// The lock-out rule, over failure times.
#[derive(Debug, Clone, Copy)]
struct Rule {
    max_failures: u32,
    window: std::time::Duration,
    lockout: std::time::Duration,
}

impl Rule {
    /// Locked when some `max_failures` consecutive failures fit in `window` and the last of
    /// them was less than `lockout` ago.
    fn is_locked(&self, failures: &[DateTime<Utc>], now: DateTime<Utc>) -> bool {
        let mut sorted = failures.to_vec();
        sorted.sort_unstable();
        let n = usize::try_from(self.max_failures.max(1)).unwrap_or(usize::MAX);
        let window = chrono::Duration::from_std(self.window).unwrap_or_default();
        let lockout = chrono::Duration::from_std(self.lockout).unwrap_or_default();
        sorted.windows(n).any(|run| {
            let (first, last) = (run[0], run[n - 1]);
            last - first <= window && now - last < lockout
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("time")
    }

    const RULE: Rule =
        Rule { max_failures: 5, window: Duration::from_secs(15 * 60), lockout: Duration::from_secs(15 * 60) };

    #[test]
    fn five_failures_within_the_window_lock_for_the_cool_down() {
        let five: Vec<_> = (0..5).map(|i| at(i * 60)).collect();
        for (failures, now, want, what) in [
            (&five[..4], at(300), false, "four failures do not lock"),
            (&five[..], at(300), true, "the fifth locks"),
            (&five[..], at(240 + 899), true, "still locked just before the cool-down ends"),
            (&five[..], at(240 + 900), false, "unlocked when it ends"),
        ] {
            assert_eq!(RULE.is_locked(failures, now), want, "{what}");
        }
        let spread: Vec<_> = (0..5).map(|i| at(i * 240)).collect();
        assert!(!RULE.is_locked(&spread, at(961)), "five failures over 16 minutes do not lock");
        let mut unordered = five.clone();
        unordered.reverse();
        assert!(RULE.is_locked(&unordered, at(300)), "order does not matter");
    }

    #[test]
    fn sources_are_keyed_hashes_of_the_address() {
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        let ip: IpAddr = "203.0.113.9".parse().expect("ip");
        let subject = source_subject(&k1, ip);
        assert!(subject.starts_with("source:") && !subject.contains("203.0.113.9"), "{subject}");
        assert_ne!(subject, source_subject(&k2, ip), "another day's key, another hash");
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().expect("ip");
        assert_eq!(subject, source_subject(&k1, mapped), "v4-mapped v6 is the same source");
        let (a, b): (IpAddr, IpAddr) =
            ("2001:db8:1:2::1".parse().expect("ip"), "2001:db8:1:2::ff".parse().expect("ip"));
        assert_eq!(source_subject(&k1, a), source_subject(&k1, b), "one /64 is one source");
    }
}
