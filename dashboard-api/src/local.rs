//! The local control channel: how `larder sql`, `larder sites …` and `larder migrate` reach a
//! running `larder serve` that holds the data directory (chDB allows one process per
//! directory, so the CLI cannot open it itself).
//!
//! At start, `serve` writes `DIR/larder-serve.json` (mode 0600) with its URL and a random
//! token; the CLI reads it and presents the token. Whoever can read the data directory holds
//! the data anyway, so the file's permissions are the boundary. Only a hash of the token is
//! kept in memory, and it is compared in constant time.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The file `serve` writes into the data directory.
pub const CONTROL_FILE: &str = "larder-serve.json";

/// The token of the local channel, kept as its hash.
#[derive(Clone)]
pub struct LocalToken(blake3::Hash);

impl std::fmt::Debug for LocalToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalToken(<redacted>)")
    }
}

impl LocalToken {
    /// Wraps the secret that the control file carries.
    pub fn from_secret(secret: &str) -> Self {
        Self(blake3::hash(secret.as_bytes()))
    }

    /// Whether `presented` is the secret. `blake3::Hash` compares in constant time.
    pub fn verify(&self, presented: &str) -> bool {
        blake3::hash(presented.as_bytes()) == self.0
    }
}

/// What `serve` tells the CLI about itself.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ControlFile {
    /// Base URL of the running server, `http://127.0.0.1:8080`.
    pub url: String,
    /// The bearer token of the local channel.
    pub token: String,
    pub pid: u32,
}

impl ControlFile {
    /// The control file's path in a data directory.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(CONTROL_FILE)
    }

    /// Writes the file with owner-only permissions, replacing an older one.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(&self, data_dir: &Path) -> std::io::Result<()> {
        let path = Self::path(data_dir);
        let tmp = path.with_extension("json.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(&serde_json::to_vec(self).map_err(std::io::Error::other)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    }

    /// Reads the file, if a server wrote one.
    ///
    /// # Errors
    /// I/O errors other than the file being absent, or a file that does not parse.
    pub fn read(data_dir: &Path) -> std::io::Result<Option<Self>> {
        match std::fs::read(Self::path(data_dir)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the file when the server stops.
    pub fn remove(data_dir: &Path) {
        let _ = std::fs::remove_file(Self::path(data_dir));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_token_verifies_only_its_secret() {
        let token = LocalToken::from_secret("s3cret");
        assert!(token.verify("s3cret"));
        assert!(!token.verify("s3cret "), "a near miss is refused");
        assert!(!token.verify(""), "empty is refused");
        assert_eq!(format!("{token:?}"), "LocalToken(<redacted>)", "debug output hides the hash");
    }
}
