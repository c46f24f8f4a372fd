//! Keeps secrets out of everything the relay writes: logs, stored vendor answers, responses.

use crate::config::{CitrusAuthScheme, ServeConfig};
use crate::vendors::citrus::authorization_value;

/// The configured secrets, and a way to blank them out of any text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

/// What a secret becomes.
pub const REDACTED: &str = "[redacted]";

impl Redactor {
    /// Secrets shorter than 4 characters are ignored: blanking them would mangle ordinary text
    /// and they cannot be real keys anyway (the configuration refuses short signing secrets).
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .map(Into::into)
            .filter(|s| s.len() >= 4)
            .collect();
        // Longest first, so a secret that contains another is blanked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self { secrets }
    }

    /// The redactor of a relay serving `config`: every configured secret, and the forms a
    /// secret travels in (CitrusAd's key base64-encoded in `Authorization`, whichever scheme is
    /// configured, so that an echo of either form is blanked).
    pub fn for_config(config: &ServeConfig) -> Self {
        let mut secrets = config.secrets();
        if let Some(citrus) = &config.citrus {
            secrets.push(authorization_value(
                &citrus.api_key,
                CitrusAuthScheme::Base64,
            ));
        }
        Self::new(secrets)
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_every_configured_secret() {
        let r = Redactor::new(["xxxx-key", "topsecret-signing"]);
        assert_eq!(
            r.redact("key=xxxx-key and topsecret-signing, xxxx-key"),
            "key=[redacted] and [redacted], [redacted]"
        );
        assert_eq!(r.redact("nothing here"), "nothing here");
    }

    #[test]
    fn ignores_trivially_short_values() {
        let r = Redactor::new(["ab", ""]);
        assert_eq!(r.redact("abc"), "abc");
    }
}
