//! Where backups live: a local directory or an S3-compatible bucket, and how a backup refers to
//! the backup it is incremental to.
//!
//! A [`Location`] is what an operator writes (`/backups/larder-2026-11-24`,
//! `s3://bucket/larder/2026-11-24`); [`Targets`] opens it as a [`Storage`] that reads and writes
//! the backup's files by their names inside it (`manifest.json.sealed`, `tables/…`). Both
//! kinds hold the same files: they are sealed before they leave this process, so a bucket only
//! ever sees ciphertext. Buckets are reached with the Apache Arrow project's `object_store`
//! (its S3 client), configured explicitly: no process environment is read here.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;

use super::BackupError;

const S3_SCHEME: &str = "s3://";

/// Where a backup is: a directory, or a prefix in a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Dir(PathBuf),
    /// `s3://bucket/prefix`; the prefix's parts, never empty, `.` or `..`.
    Bucket {
        bucket: String,
        prefix: Vec<String>,
    },
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(path) => write!(f, "{}", path.display()),
            Self::Bucket { bucket, prefix } => write!(f, "{S3_SCHEME}{bucket}/{}", prefix.join("/")),
        }
    }
}

impl Location {
    /// `s3://bucket/prefix` (a non-empty prefix: a backup never takes a bucket's root) or a path.
    ///
    /// # Errors
    /// [`BackupError::BadLocation`] for an empty text, a bad bucket name or prefix.
    pub fn parse(text: &str) -> Result<Self, BackupError> {
        let bad = |why: &str| BackupError::BadLocation { location: text.to_owned(), why: why.to_owned() };
        if text.is_empty() {
            return Err(bad("empty"));
        }
        let Some(rest) = text.strip_prefix(S3_SCHEME) else {
            if text.contains("://") {
                return Err(bad("only local paths and s3://bucket/prefix are backup locations"));
            }
            return Ok(Self::Dir(PathBuf::from(text)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let is_bucket_name = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !is_bucket_name {
            return Err(bad("not a bucket name (3 to 63 lowercase letters, digits, dots and hyphens)"));
        }
        let parts: Vec<String> = prefix.split('/').filter(|p| !p.is_empty()).map(str::to_owned).collect();
        if parts.is_empty() {
            return Err(bad(
                "name a prefix inside the bucket (s3://bucket/prefix): a backup never takes a whole bucket",
            ));
        }
        if parts.iter().any(|p| p == "." || p == ".." || p.chars().any(char::is_control)) {
            return Err(bad("the prefix must not have . or .. parts or control characters"));
        }
        Ok(Self::Bucket { bucket: bucket.to_owned(), prefix: parts })
    }

    /// The backup that `reference` (as [`Location::reference_to`] wrote it into this backup's
    /// manifest) names: absolute references as they are, relative ones from this location.
    ///
    /// # Errors
    /// [`BackupError::BadLocation`] for a reference that does not parse or leaves the bucket.
    pub fn resolve(&self, reference: &str) -> Result<Self, BackupError> {
        if reference.starts_with(S3_SCHEME) || Path::new(reference).is_absolute() {
            return Self::parse(reference);
        }
        let bad = |why: &str| BackupError::BadLocation { location: reference.to_owned(), why: why.to_owned() };
        match self {
            Self::Dir(path) => {
                // From where this backup really is (a path given through a symlink resolves as
                // the reference was written), without `..` left in messages.
                let from = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
                let mut resolved = PathBuf::new();
                for part in from.join(reference).components() {
                    match part {
                        Component::ParentDir => {
                            resolved.pop();
                        }
                        Component::CurDir => {}
                        other => resolved.push(other),
                    }
                }
                Ok(Self::Dir(resolved))
            }
            Self::Bucket { bucket, prefix } => {
                let mut parts = prefix.clone();
                for part in reference.split('/').filter(|p| !p.is_empty() && *p != ".") {
                    if part == ".." {
                        parts.pop().ok_or_else(|| bad("goes above the bucket's root"))?;
                    } else {
                        parts.push(part.to_owned());
                    }
                }
                if parts.is_empty() {
                    return Err(bad("names the bucket's root"));
                }
                Ok(Self::Bucket { bucket: bucket.clone(), prefix: parts })
            }
        }
    }

    /// How a backup at `self` refers to the backup at `other` in its manifest: a relative path
    /// when both are directories or prefixes of one bucket (so a set of backups can be moved
    /// or copied together), `other` in full otherwise.
    ///
    /// # Errors
    /// [`BackupError::Io`] when a directory cannot be made absolute.
    pub fn reference_to(&self, other: &Self) -> Result<String, BackupError> {
        match (self, other) {
            (Self::Dir(from), Self::Dir(to)) => {
                let absolute = |p: &Path| std::fs::canonicalize(p).map_err(|source| io(p, source));
                let (from, to) = (absolute(from)?, absolute(to)?);
                let names = |p: &Path| -> Vec<String> {
                    p.components()
                        .filter_map(|c| match c {
                            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
                            _ => None,
                        })
                        .collect()
                };
                let is_plain = |p: &Path| p.to_str().is_some();
                if !is_plain(&from) || !is_plain(&to) {
                    return Ok(to.display().to_string());
                }
                Ok(relative(&names(&from), &names(&to)))
            }
            (Self::Bucket { bucket: a, prefix: from }, Self::Bucket { bucket: b, prefix: to }) if a == b => {
                Ok(relative(from, to))
            }
            (_, Self::Dir(to)) => {
                let to = std::fs::canonicalize(to).map_err(|source| io(to, source))?;
                Ok(to.display().to_string())
            }
            (_, bucket) => Ok(bucket.to_string()),
        }
    }

    /// What a file of this backup is called in messages: its path, or its `s3://` URL.
    pub fn file(&self, name: &str) -> PathBuf {
        match self {
            Self::Dir(path) => path.join(name),
            Self::Bucket { .. } => PathBuf::from(format!("{self}/{name}")),
        }
    }
}

/// `../../b/c` from `a/x/y` to `a/b/c`.
fn relative(from: &[String], to: &[String]) -> String {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(to[common..].iter().map(String::as_str));
    if parts.is_empty() { ".".to_owned() } else { parts.join("/") }
}

fn io(path: &Path, source: std::io::Error) -> BackupError {
    BackupError::Io { path: path.to_owned(), source }
}

/// How to reach S3-compatible buckets.
#[derive(Clone, Default)]
pub struct S3Settings {
    /// `https://…` or `http://…` (a MinIO-like server); empty: AWS's endpoint for the region.
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `endpoint/bucket/key` rather than `bucket.endpoint/key` (MinIO and most self-hosted
    /// servers want this).
    pub path_style: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("path_style", &self.path_style)
            .finish()
    }
}

/// Opens [`Location`]s as [`Storage`].
#[derive(Debug, Clone, Default)]
pub struct Targets {
    pub s3: S3Settings,
}

impl Targets {
    /// # Errors
    /// [`BackupError::Bucket`] when the bucket client cannot be built (a bad endpoint).
    pub fn open(&self, location: &Location) -> Result<Storage, BackupError> {
        let backend = match location {
            Location::Dir(path) => Backend::Dir(path.clone()),
            Location::Bucket { bucket, prefix } => {
                let s3 = &self.s3;
                let mut builder = object_store::aws::AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(if s3.region.is_empty() { "us-east-1" } else { s3.region.as_str() })
                    .with_virtual_hosted_style_request(!s3.path_style);
                if !s3.endpoint.is_empty() {
                    builder = builder.with_endpoint(&s3.endpoint).with_allow_http(s3.endpoint.starts_with("http://"));
                }
                if !s3.access_key_id.is_empty() {
                    builder = builder.with_access_key_id(&s3.access_key_id);
                }
                if !s3.secret_access_key.is_empty() {
                    builder = builder.with_secret_access_key(&s3.secret_access_key);
                }
                let client = builder.build().map_err(|e| bucket_error(location, "", e))?;
                Backend::Bucket { client: Arc::new(client), prefix: prefix.join("/") }
            }
        };
        Ok(Storage { location: location.clone(), backend })
    }
}

fn bucket_error(location: &Location, name: &str, error: object_store::Error) -> BackupError {
    // object_store's messages name the request, never the secret key.
    let what = if name.is_empty() { location.to_string() } else { location.file(name).display().to_string() };
    BackupError::Bucket { what, message: error.to_string() }
}

/// An opened backup location: reads and writes the files of one backup by name.
#[derive(Debug)]
pub struct Storage {
    location: Location,
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    Dir(PathBuf),
    Bucket { client: Arc<dyn ObjectStore>, prefix: String },
}

impl Storage {
    pub fn location(&self) -> &Location {
        &self.location
    }

    fn object(prefix: &str, name: &str) -> ObjectPath {
        ObjectPath::from(format!("{prefix}/{name}"))
    }

    /// Whether nothing is there yet (a directory that does not exist or is empty; no object
    /// under the prefix).
    ///
    /// # Errors
    /// [`BackupError::Bucket`] when the bucket cannot be listed.
    pub async fn is_empty(&self) -> Result<bool, BackupError> {
        match &self.backend {
            Backend::Dir(path) => {
                Ok(!path.exists() || std::fs::read_dir(path).map(|mut e| e.next().is_none()).unwrap_or(false))
            }
            Backend::Bucket { client, prefix } => {
                let listed = client
                    .list_with_delimiter(Some(&ObjectPath::from(prefix.as_str())))
                    .await
                    .map_err(|e| bucket_error(&self.location, "", e))?;
                Ok(listed.objects.is_empty() && listed.common_prefixes.is_empty())
            }
        }
    }

    /// Writes the file `name` (replacing it: a backup writes into a location found empty).
    ///
    /// # Errors
    /// [`BackupError::Io`] or [`BackupError::Bucket`].
    pub async fn put(&self, name: &str, bytes: Vec<u8>) -> Result<(), BackupError> {
        match &self.backend {
            Backend::Dir(dir) => {
                use std::io::Write;
                let path = dir.join(name);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
                }
                let mut file = std::fs::File::create(&path).map_err(|e| io(&path, e))?;
                file.write_all(&bytes).map_err(|e| io(&path, e))?;
                file.sync_all().map_err(|e| io(&path, e))
            }
            Backend::Bucket { client, prefix } => {
                use tokio::io::AsyncWriteExt;
                // Large files go up in parts (S3 takes at most 5 GiB in one request).
                let mut writer = object_store::buffered::BufWriter::new(Arc::clone(client), Self::object(prefix, name));
                let failed = |e: std::io::Error| BackupError::Bucket {
                    what: self.location.file(name).display().to_string(),
                    message: e.to_string(),
                };
                writer.put(bytes.into()).await.map_err(|e| bucket_error(&self.location, name, e))?;
                writer.shutdown().await.map_err(failed)
            }
        }
    }

    /// Reads the file `name`; `None` when it does not exist.
    ///
    /// # Errors
    /// [`BackupError::Io`] or [`BackupError::Bucket`].
    pub async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, BackupError> {
        match &self.backend {
            Backend::Dir(dir) => {
                let path = dir.join(name);
                match std::fs::read(&path) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(io(&path, e)),
                }
            }
            Backend::Bucket { client, prefix } => {
                let got = match client.get(&Self::object(prefix, name)).await {
                    Ok(got) => got,
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(bucket_error(&self.location, name, e)),
                };
                let bytes = got.bytes().await.map_err(|e| bucket_error(&self.location, name, e))?;
                Ok(Some(bytes.to_vec()))
            }
        }
    }

    /// Makes sure a directory exists (so that it can be referred to); nothing for a bucket.
    ///
    /// # Errors
    /// [`BackupError::Io`].
    pub fn create(&self) -> Result<(), BackupError> {
        match &self.backend {
            Backend::Dir(dir) => std::fs::create_dir_all(dir).map_err(|e| io(dir, e)),
            Backend::Bucket { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(text: &str) -> Location {
        Location::parse(text).expect(text)
    }

    #[test]
    fn locations_parse_as_paths_or_bucket_prefixes() {
        assert_eq!(Location::parse("/backups/a").expect("path"), Location::Dir(PathBuf::from("/backups/a")));
        assert_eq!(
            bucket("s3://my-bucket/larder//2026-11-24/"),
            Location::Bucket { bucket: "my-bucket".into(), prefix: vec!["larder".into(), "2026-11-24".into()] }
        );
        assert_eq!(bucket("s3://my-bucket/larder/x").to_string(), "s3://my-bucket/larder/x");
        for bad in
            ["", "s3://my-bucket", "s3://my-bucket/", "s3://My_Bucket/x", "s3://b/x", "s3://bucket/a/../b", "gs://b/x"]
        {
            assert!(Location::parse(bad).is_err(), "{bad:?} is refused");
        }
    }

    #[test]
    fn references_between_prefixes_of_one_bucket_are_relative_and_resolve_back() {
        let base = bucket("s3://bucket/larder/2026-11-23");
        let incremental = bucket("s3://bucket/larder/2026-11-24");
        let reference = incremental.reference_to(&base).expect("reference");
        assert_eq!(reference, "../2026-11-23");
        assert_eq!(incremental.resolve(&reference).expect("resolved"), base);
        let elsewhere = bucket("s3://other/x");
        assert_eq!(incremental.reference_to(&elsewhere).expect("reference"), "s3://other/x");
        assert_eq!(incremental.resolve("s3://other/x").expect("resolved"), elsewhere);
        assert!(incremental.resolve("../../..").is_err(), "a reference cannot leave the bucket");
    }

    #[test]
    fn references_between_directories_are_relative() {
        let dir = tempfile::tempdir().expect("dir");
        let (a, b) = (dir.path().join("nightly/a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).expect("mkdir");
        std::fs::create_dir_all(&b).expect("mkdir");
        let from = Location::Dir(b.clone());
        let reference = from.reference_to(&Location::Dir(a.clone())).expect("reference");
        assert_eq!(reference, "../nightly/a");
        let resolved = from.resolve(&reference).expect("resolved");
        assert_eq!(resolved, Location::Dir(std::fs::canonicalize(a).expect("exists")), "no `..` left");
        let to_bucket = from.reference_to(&bucket("s3://bucket/x")).expect("reference");
        assert_eq!(to_bucket, "s3://bucket/x");
    }

    #[test]
    fn the_secret_key_never_prints() {
        let s3 = S3Settings { secret_access_key: "hunter2".into(), ..S3Settings::default() };
        assert!(!format!("{:?}", Targets { s3 }).contains("hunter2"));
    }
}
