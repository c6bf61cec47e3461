//! Authenticating as a GitHub App: a JWT signed with the App's private key (RS256, valid for
//! 9 minutes, `iss` the App id) finds the App's installation on the repository
//! (`GET /repos/{owner}/{repo}/installation`) and trades for an installation token
//! (`POST /app/installations/{id}/access_tokens`), which is kept until 5 minutes before its
//! hour is up. The private key is parsed once; neither it nor a token is ever logged.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::http::{Auth, SendError, send};
use super::report::{Call, Method};

/// How long an installation token is used: GitHub's last an hour.
const TOKEN_LIFETIME: Duration = Duration::from_secs(55 * 60);

/// Why the App's key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AppKeyError {
    /// Not a PEM private key.
    #[error("the GitHub App's private key is not a PEM `RSA PRIVATE KEY` or `PRIVATE KEY`")]
    NotPem,
    /// A PEM key, but not an RSA key aws-lc accepts.
    #[error("the GitHub App's private key is not a usable RSA key: {0}")]
    Rejected(String),
}

/// A GitHub App's credentials and its cached installation token.
pub struct GithubApp {
    app_id: String,
    key: RsaKeyPair,
    token: Mutex<Option<(SecretString, Instant)>>,
}

impl std::fmt::Debug for GithubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubApp").field("app_id", &self.app_id).finish_non_exhaustive()
    }
}

impl GithubApp {
    /// The App `app_id` with its private key `pem` (PKCS#1, as GitHub issues them, or PKCS#8).
    ///
    /// # Errors
    ///
    /// [`AppKeyError`] when the key cannot be read.
    pub fn new(app_id: &str, pem: &SecretString) -> Result<Self, AppKeyError> {
        let der = PrivateKeyDer::from_pem_slice(pem.expose_secret().as_bytes()).map_err(|_| AppKeyError::NotPem)?;
        let key = match &der {
            PrivateKeyDer::Pkcs1(key) => RsaKeyPair::from_der(key.secret_pkcs1_der()),
            PrivateKeyDer::Pkcs8(key) => RsaKeyPair::from_pkcs8(key.secret_pkcs8_der()),
            _ => return Err(AppKeyError::NotPem),
        }
        .map_err(|error| AppKeyError::Rejected(error.to_string()))?;
        Ok(Self { app_id: app_id.to_owned(), key, token: Mutex::new(None) })
    }

    /// A JWT for the App, issued at `now` (seconds since the epoch); backdated a minute
    /// against clock drift, as GitHub recommends.
    ///
    /// # Errors
    ///
    /// When signing fails (it does not with a key that loaded).
    pub fn jwt(&self, now: u64) -> Result<SecretString, AppKeyError> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = json!({ "iat": now.saturating_sub(60), "exp": now + 9 * 60, "iss": self.app_id });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signed.as_bytes(), &mut signature)
            .map_err(|error| AppKeyError::Rejected(error.to_string()))?;
        Ok(SecretString::from(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))))
    }

    /// An installation token for `repository` (`owner/name`), from the cache or fresh.
    ///
    /// # Errors
    ///
    /// [`SendError`] from either call; an answer without the expected field is refused.
    pub async fn installation_token(
        &self,
        client: &reqwest::Client,
        api_url: &str,
        repository: &str,
        headers: &[(&str, &str)],
    ) -> Result<SecretString, SendError> {
        if let Some((token, until)) = self.token.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let jwt = self.jwt(now).map_err(|error| SendError::Refused { status: 0, body: error.to_string() })?;
        let find = Call { method: Method::Get, url: format!("{api_url}/repos/{repository}/installation"), body: None };
        let found = send(client, &find, Auth::Bearer(&jwt), headers).await?;
        let id = field(&found, "id", &find.url)?;
        let trade = Call {
            method: Method::Post,
            url: format!("{api_url}/app/installations/{id}/access_tokens"),
            body: None,
        };
        let traded = send(client, &trade, Auth::Bearer(&jwt), headers).await?;
        let token = SecretString::from(field(&traded, "token", &trade.url)?);
        *self.token.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((token.clone(), Instant::now() + TOKEN_LIFETIME));
        Ok(token)
    }
}

/// Field `name` of the JSON `body` as text (numbers too).
fn field(body: &str, name: &str, url: &str) -> Result<String, SendError> {
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    match &value[name] {
        serde_json::Value::String(text) => Ok(text.clone()),
        serde_json::Value::Number(number) => Ok(number.to_string()),
        _ => Err(SendError::Refused { status: 200, body: format!("{url} answered without `{name}`") }),
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    #[test]
    fn the_jwt_is_rs256_signed_by_the_apps_key_and_names_the_app() {
        let key = KeyPair::generate(KeySize::Rsa2048).expect("key");
        let der = key.as_der().expect("pkcs8");
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", STANDARD.encode(der.as_ref()));
        let app = GithubApp::new("12345", &SecretString::from(pem)).expect("key loads");
        let jwt = app.jwt(1_800_000_000).expect("jwt");
        let parts: Vec<&str> = jwt.expose_secret().split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64")).expect("json");
        assert_eq!(claims, json!({"iat": 1_799_999_940_u64, "exp": 1_800_000_540_u64, "iss": "12345"}));
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("base64");
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key().as_ref());
        public.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).expect("signature verifies");
        assert!(!format!("{app:?}").contains("PRIVATE"));
    }

    #[test]
    fn a_key_that_is_not_pem_is_refused() {
        let error = GithubApp::new("1", &SecretString::from("hunter2".to_owned())).expect_err("not pem");
        assert_eq!(error.to_string(), "the GitHub App's private key is not a PEM `RSA PRIVATE KEY` or `PRIVATE KEY`");
    }
}
