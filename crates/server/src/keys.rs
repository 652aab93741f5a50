//! Access keys: the pair generated on first start (stored 0600 in the data directory), the
//! one given by `HASHSCAN_ACCESS_KEY_ID`/`HASHSCAN_SECRET_ACCESS_KEY`, and those of the
//! configuration file. Every pair is valid for every API.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;

use hashscan_auth::{KeyLookup, Secret};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The accepted key pairs.
#[derive(Clone, Default)]
pub struct Keys {
    secrets: HashMap<String, Secret>,
}

impl KeyLookup for Keys {
    fn secret(&self, access_key_id: &str) -> Option<Secret> {
        self.secrets.get(access_key_id).cloned()
    }
}

impl Keys {
    /// Adds a pair.
    pub fn insert(&mut self, id: impl Into<String>, secret: impl Into<String>) {
        self.secrets.insert(id.into(), Secret::new(secret.into()));
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

/// The file the generated pair is kept in.
pub const CREDENTIALS_FILE: &str = "credentials.toml";

#[derive(Serialize, Deserialize)]
struct StoredKey {
    access_key_id: String,
    secret_access_key: String,
}

/// A pair created by [`load_or_create`], to be shown once to whoever started the server.
pub struct Created {
    pub id: String,
    pub secret: String,
}

/// Loads the stored pair of `data_dir`, creating it (mode 0600) when there is none.
pub fn load_or_create(data_dir: &Path) -> io::Result<(String, String, Option<Created>)> {
    let path = data_dir.join(CREDENTIALS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let k: StoredKey = toml::from_str(&text).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?;
            Ok((k.access_key_id, k.secret_access_key, None))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let (id, secret) = generate();
            store(&path, &id, &secret)?;
            Ok((id.clone(), secret.clone(), Some(Created { id, secret })))
        }
        Err(e) => Err(e),
    }
}

/// A new random pair in the shape COS uses: `AKID` + 32 characters, and a 32-character secret.
pub fn generate() -> (String, String) {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let mut pick = |n: usize| -> String {
        (0..n)
            .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
            .collect()
    };
    (format!("AKID{}", pick(32)), pick(32))
}

fn store(path: &Path, id: &str, secret: &str) -> io::Result<()> {
    let text = toml::to_string(&StoredKey {
        access_key_id: id.to_string(),
        secret_access_key: secret.to_string(),
    })
    .map_err(io::Error::other)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(b"# hashscan access key, generated on first start. Keep it secret.\n")?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_loaded_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let (id, secret, created) = load_or_create(dir.path()).unwrap();
        assert!(created.is_some());
        assert!(id.starts_with("AKID") && id.len() == 36);
        assert_eq!(secret.len(), 32);
        let (id2, secret2, created2) = load_or_create(dir.path()).unwrap();
        assert!(created2.is_none());
        assert_eq!((id, secret), (id2, secret2));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(CREDENTIALS_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
