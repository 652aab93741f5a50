use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;

/// A secret access key (COS SecretKey, Alibaba AccessKeySecret, Volcengine SK).
///
/// Its `Debug` output is redacted and it has no `Display`, so that a secret cannot reach a log
/// line by accident; [`Secret::expose`] is the one deliberate way to read it.
#[derive(Clone)]
pub struct Secret(Box<str>);

impl Secret {
    /// Wraps a secret key.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into().into_boxed_str())
    }

    /// The secret text; used as UTF-8 bytes by every scheme.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

/// Maps an access key id to its secret; the server's key store.
///
/// Implemented for closures `Fn(&str) -> Option<Secret>` and for `HashMap<String, Secret>`.
pub trait KeyLookup {
    /// The secret of `access_key_id`, or `None` if the key is unknown (or disabled).
    fn secret(&self, access_key_id: &str) -> Option<Secret>;
}

impl<F> KeyLookup for F
where
    F: Fn(&str) -> Option<Secret>,
{
    fn secret(&self, access_key_id: &str) -> Option<Secret> {
        self(access_key_id)
    }
}

impl<S: BuildHasher> KeyLookup for HashMap<String, Secret, S> {
    fn secret(&self, access_key_id: &str) -> Option<Secret> {
        self.get(access_key_id).cloned()
    }
}
