//! Sealing backup files: XChaCha20-Poly1305 (authenticated encryption) in 1 MiB chunks.
//!
//! A sealed file is `MAGIC`, a random 19-byte nonce prefix, then the chunks, each its
//! ciphertext and 16-byte tag. Chunk `i` is sealed under the nonce `prefix ‖ i (u32, big
//! endian) ‖ last flag` (the STREAM construction), with the file's name as associated data.
//! So a changed byte, a reordered or dropped chunk, a truncated file (its last remaining chunk
//! was not sealed as the last), a file renamed to another's name, or a wrong key all fail to
//! open, and nothing unauthenticated is ever returned.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// First bytes of every sealed file, with the format's version.
const MAGIC: &[u8; 8] = b"LARDBK01";
const PREFIX_BYTES: usize = 19;
/// Plaintext bytes per chunk.
pub const CHUNK_BYTES: usize = 1 << 20;
const TAG_BYTES: usize = 16;
const HEADER_BYTES: usize = MAGIC.len() + PREFIX_BYTES;

/// Length of a backup key.
pub const KEY_BYTES: usize = 32;

/// A backup key: 32 random bytes, kept in a file as 64 hex digits.
#[derive(Clone)]
pub struct BackupKey([u8; KEY_BYTES]);

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupKey(<redacted>)")
    }
}

/// Why a key file or a sealed file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cannot read or write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a backup key (expected 64 hex digits)", path.display())]
    BadKeyFile { path: PathBuf },
    #[error("{} already exists; a new key never replaces a file", path.display())]
    KeyExists { path: PathBuf },
    /// Wrong key, changed byte, truncation, or a file swapped for another: the tag does not match.
    #[error(
        "{} cannot be opened: wrong key, or the file was changed, truncated or swapped (chunk {chunk})",
        path.display()
    )]
    Refused { path: PathBuf, chunk: u32 },
    #[error("{} is not a Larder backup file", path.display())]
    NotSealed { path: PathBuf },
    #[error("{} is too large to seal ({bytes} bytes)", path.display())]
    TooLarge { path: PathBuf, bytes: usize },
}

impl BackupKey {
    /// A new random key.
    pub fn generate() -> Self {
        Self(rand::random())
    }

    /// Writes a new random key to `path` (readable by its owner only), refusing to replace an
    /// existing file.
    ///
    /// # Errors
    /// [`SealError::KeyExists`], or [`SealError::Io`].
    pub fn create_file(path: &Path) -> Result<Self, SealError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let key = Self::generate();
        let mut file =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|source| {
                if source.kind() == std::io::ErrorKind::AlreadyExists {
                    SealError::KeyExists { path: path.to_owned() }
                } else {
                    SealError::Io { path: path.to_owned(), source }
                }
            })?;
        let io = |source| SealError::Io { path: path.to_owned(), source };
        file.write_all(format!("{}\n", hex::encode(key.0)).as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(key)
    }

    /// Reads a key file written by [`BackupKey::create_file`].
    ///
    /// # Errors
    /// [`SealError::Io`], or [`SealError::BadKeyFile`] when it does not hold 64 hex digits.
    pub fn read_file(path: &Path) -> Result<Self, SealError> {
        let text = std::fs::read_to_string(path).map_err(|source| SealError::Io { path: path.to_owned(), source })?;
        let bytes = hex::decode(text.trim()).map_err(|_| SealError::BadKeyFile { path: path.to_owned() })?;
        let key: [u8; KEY_BYTES] = bytes.try_into().map_err(|_| SealError::BadKeyFile { path: path.to_owned() })?;
        Ok(Self(key))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }
}

fn nonce(prefix: &[u8], chunk: u32, is_last: bool) -> XNonce {
    let mut bytes = [0u8; 24];
    bytes[..PREFIX_BYTES].copy_from_slice(prefix);
    bytes[PREFIX_BYTES..PREFIX_BYTES + 4].copy_from_slice(&chunk.to_be_bytes());
    bytes[23] = u8::from(is_last);
    bytes.into()
}

/// Seals `plain` as the file called `name` (its name inside the backup, bound to the content).
///
/// # Errors
/// [`SealError::TooLarge`] past 4 Ti chunks (never in practice).
pub fn seal(key: &BackupKey, name: &str, plain: &[u8]) -> Result<Vec<u8>, SealError> {
    let cipher = key.cipher();
    let prefix: [u8; PREFIX_BYTES] = rand::random();
    let chunks: Vec<&[u8]> = if plain.is_empty() { vec![&[][..]] } else { plain.chunks(CHUNK_BYTES).collect() };
    let too_large = || SealError::TooLarge { path: PathBuf::from(name), bytes: plain.len() };
    let count = u32::try_from(chunks.len()).map_err(|_| too_large())?;
    let mut out = Vec::with_capacity(HEADER_BYTES + plain.len() + chunks.len() * TAG_BYTES);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&prefix);
    for (i, chunk) in (0..count).zip(chunks) {
        let sealed = cipher
            .encrypt(&nonce(&prefix, i, i + 1 == count), Payload { msg: chunk, aad: name.as_bytes() })
            .map_err(|_| too_large())?;
        out.extend_from_slice(&sealed);
    }
    Ok(out)
}

/// Opens what [`seal`] made of the file called `name`; `path` only names it in errors.
///
/// # Errors
/// [`SealError::NotSealed`] without the header, [`SealError::Refused`] when any chunk fails
/// authentication (wrong key, changed byte, truncation, another file's content).
pub fn open(key: &BackupKey, name: &str, path: &Path, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    if sealed.len() < HEADER_BYTES || &sealed[..MAGIC.len()] != MAGIC {
        return Err(SealError::NotSealed { path: path.to_owned() });
    }
    let prefix = &sealed[MAGIC.len()..HEADER_BYTES];
    let body = &sealed[HEADER_BYTES..];
    let cipher = key.cipher();
    let refused = |chunk| SealError::Refused { path: path.to_owned(), chunk };
    if body.is_empty() {
        return Err(refused(0));
    }
    let pieces: Vec<&[u8]> = body.chunks(CHUNK_BYTES + TAG_BYTES).collect();
    let count = u32::try_from(pieces.len()).map_err(|_| refused(u32::MAX))?;
    let mut plain = Vec::with_capacity(body.len());
    for (i, piece) in (0..count).zip(pieces) {
        let opened = cipher
            .decrypt(&nonce(prefix, i, i + 1 == count), Payload { msg: piece, aad: name.as_bytes() })
            .map_err(|_| refused(i))?;
        plain.extend_from_slice(&opened);
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn is_refused(result: Result<Vec<u8>, SealError>) -> bool {
        matches!(result, Err(SealError::Refused { .. }))
    }

    #[test]
    fn sealed_files_open_to_their_content_at_every_size() {
        let key = BackupKey::generate();
        for len in [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 2 * CHUNK_BYTES + 5] {
            let plain = sample(len);
            let sealed = seal(&key, "t.native", &plain).expect("seal");
            let opened = open(&key, "t.native", Path::new("x"), &sealed).expect("open");
            assert!(opened == plain, "{len} bytes come back unchanged");
        }
    }

    #[test]
    fn a_wrong_key_a_flipped_byte_a_truncation_or_another_name_is_refused() {
        let key = BackupKey::generate();
        let plain = sample(2 * CHUNK_BYTES + 100);
        let sealed = seal(&key, "events.native", &plain).expect("seal");
        let path = Path::new("events.native.sealed");
        assert!(is_refused(open(&BackupKey::generate(), "events.native", path, &sealed)), "wrong key");
        for at in [HEADER_BYTES - 1, HEADER_BYTES, HEADER_BYTES + CHUNK_BYTES + 20, sealed.len() - 1] {
            let mut flipped = sealed.clone();
            flipped[at] ^= 0x01;
            assert!(is_refused(open(&key, "events.native", path, &flipped)), "byte {at} flipped");
        }
        // Cut at a chunk boundary: every remaining chunk is intact, but the last was not sealed as last.
        let cut = HEADER_BYTES + 2 * (CHUNK_BYTES + TAG_BYTES);
        assert!(is_refused(open(&key, "events.native", path, &sealed[..cut])), "truncated at a chunk boundary");
        assert!(is_refused(open(&key, "events.native", path, &sealed[..sealed.len() - 7])), "truncated mid-chunk");
        assert!(is_refused(open(&key, "events.native", path, &sealed[..HEADER_BYTES])), "only the header left");
        assert!(is_refused(open(&key, "sites.native", path, &sealed)), "content of another file");
        assert!(
            matches!(open(&key, "events.native", path, b"plain text"), Err(SealError::NotSealed { .. })),
            "an unsealed file"
        );
    }

    #[test]
    fn the_refusal_names_the_file() {
        let key = BackupKey::generate();
        let sealed = seal(&key, "a", b"x").expect("seal");
        let error = open(&BackupKey::generate(), "a", Path::new("/backups/a.sealed"), &sealed).expect_err("refused");
        assert!(error.to_string().contains("/backups/a.sealed"), "{error}");
    }

    #[test]
    fn key_files_are_owner_only_never_replaced_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("backup.key");
        let key = BackupKey::create_file(&path).expect("new key");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key file is readable by its owner only");
        assert_eq!(BackupKey::read_file(&path).expect("read").0, key.0, "the key reads back");
        assert!(matches!(BackupKey::create_file(&path), Err(SealError::KeyExists { .. })), "not replaced");
        std::fs::write(dir.path().join("bad.key"), "not hex").expect("write");
        assert!(matches!(BackupKey::read_file(&dir.path().join("bad.key")), Err(SealError::BadKeyFile { .. })));
    }
}
