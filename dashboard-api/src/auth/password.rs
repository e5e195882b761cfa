//! Passwords: argon2id hashes in PHC form, generated passwords, and the policy for chosen ones.
//!
//! Hashing costs tens of milliseconds of CPU by design, so it runs on the blocking pool.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::ApiError;

/// Shortest password a person may choose.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The argon2id cost of new hashes. Verification uses the cost stored in each hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordCost {
    /// OWASP's recommendation for argon2id: 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

impl PasswordCost {
    fn hasher(self) -> Result<argon2::Argon2<'static>, ApiError> {
        let params = argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| ApiError::Unexpected(format!("argon2 parameters: {e}").into()))?;
        Ok(argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params))
    }
}

/// Checks a password a person chose.
///
/// # Errors
/// [`ApiError::Invalid`] on field `password` when it is too short or too long.
pub fn check_policy(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::Invalid {
            message: format!("the password must have at least {MIN_PASSWORD_CHARS} characters"),
            field: "password",
        });
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::Invalid {
            message: format!("the password must be at most {MAX_PASSWORD_BYTES} bytes"),
            field: "password",
        });
    }
    Ok(())
}

/// A random password of 20 letters and digits, without look-alikes (`0`/`O`, `1`/`l`/`I`):
/// 57 symbols, about 116 bits.
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    // Bytes below 4 × 57 map evenly onto the alphabet; the rest are drawn again.
    let limit = u8::try_from(ALPHABET.len() * 4).unwrap_or(u8::MAX);
    let mut out = String::with_capacity(20);
    while out.len() < 20 {
        let bytes: [u8; 32] = rand::random();
        for b in bytes.into_iter().filter(|b| *b < limit) {
            if out.len() < 20 {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    out
}

/// Hashes a password with argon2id under a random salt.
///
/// # Errors
/// [`ApiError::Unexpected`] if hashing fails (bad parameters).
pub async fn hash(password: &str, cost: PasswordCost) -> Result<String, ApiError> {
    let password = password.to_owned();
    blocking(move || {
        let salt: [u8; 16] = rand::random();
        cost.hasher()?
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Unexpected(format!("argon2: {e}").into()))
    })
    .await
}

/// Whether `password` matches the PHC string `hash`. A hash that does not parse never matches.
///
/// # Errors
/// [`ApiError::Unexpected`] when the blocking pool fails.
pub async fn verify(password: &str, hash: &str) -> Result<bool, ApiError> {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    blocking(move || Ok(argon2::Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok())).await
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    actix_web::web::block(work).await.map_err(|e| ApiError::Unexpected(Box::new(e)))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_bounds_length() {
        assert!(check_policy("short").is_err(), "too short");
        assert!(check_policy("twelve chars").is_ok(), "12 characters");
        assert!(check_policy(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err(), "too long");
    }

    #[test]
    fn generated_passwords_differ_and_pass_the_policy() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert_eq!(a.len(), 20);
        assert!(check_policy(&a).is_ok());
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
    }

    #[actix_web::test]
    async fn hashes_are_argon2id_and_verify_only_their_password() {
        let cost = PasswordCost { memory_kib: 64, iterations: 1, parallelism: 1 };
        let h = hash("correct horse battery", cost).await.expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{h}");
        assert!(verify("correct horse battery", &h).await.expect("verify"));
        assert!(!verify("correct horse battery ", &h).await.expect("verify"), "near miss");
        assert!(!verify("anything", "not a hash").await.expect("verify"), "garbage hash");
        let again = hash("correct horse battery", cost).await.expect("hash");
        assert_ne!(h, again, "salted");
    }
}
