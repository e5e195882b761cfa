-- Larder schema v2: what access control needs beyond the v1 tables it uses (users, user_roles,
-- api_tokens, login_attempts, audit_log). Only new tables: 18.16 has no
-- `ADD COLUMN IF NOT EXISTS`, and every statement must be re-runnable.
-- Statements are separated by a semicolon at the end of a line.

-- Dashboard login sessions. The session cookie carries 32 random bytes; only their blake3 hash
-- is kept, so a copy of this table does not let anyone log in. Kept in ClickHouse so that a
-- session survives a restart and works with several API processes. Rows are versions: logout
-- and password resets write a version with revoked = 1.
CREATE TABLE IF NOT EXISTS login_sessions
(
    session_hash String,
    email String,
    created_at DateTime('UTC'),
    expires_at DateTime('UTC'),
    version UInt64,
    revoked UInt8
)
ENGINE = ReplacingMergeTree(version)
ORDER BY session_hash;

-- Instance administrators: users who may create sites through the API (set by the CLI,
-- `larder users add --admin`). Rows are versions as in `users`.
CREATE TABLE IF NOT EXISTS instance_admins
(
    email String,
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
ORDER BY email;

-- Keys of the login lock-out's per-source counts: `login_attempts` keys a source by a keyed
-- blake3 hash of its address under the day's key, never the address. 32 random bytes (hex) per
-- UTC day, shared by every API process (the smallest candidate of a day wins a race); a day's
-- partition is dropped the day after, so that no stored source hash can be recomputed from an
-- address after at most 48 hours.
CREATE TABLE IF NOT EXISTS login_keys
(
    day Date,
    key String,
    created_at DateTime('UTC')
)
ENGINE = MergeTree
PARTITION BY day
ORDER BY (day, key);
