//! The CLI's client of the daemon's JSON API: `--server`/`--token` (or `SLUICE_SERVER`/
//! `SLUICE_TOKEN`), a small blocking HTTP/1.1 client for `http://` and `https://` addresses,
//! and how its failures map to exit codes (1: the daemon refused, `403`/`409`; 2: bad input,
//! an unknown id, a missing or unknown token, no daemon at the address, or a certificate
//! that is not trusted).
//!
//! Why not an HTTP crate: one request per connection (`Connection: close`) with
//! `Content-Length` or chunked bodies is all it needs, as in the system tests' harness. The
//! daemon serves plain HTTP; `https://` reaches it through a TLS-terminating proxy, with
//! rustls (already in the tree for the registry client, aws-lc-rs provider) verifying the
//! proxy's certificate against the system's CA store, or `SSL_CERT_FILE`/`SSL_CERT_DIR` when
//! set (`rustls-native-certs`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;

use clap::Args;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;

use super::ExitStatus;
use crate::config::DEFAULT_LISTEN;

/// How long a read may wait (live log streams get a keep-alive comment every 15 s).
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the daemon is and how to authenticate.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// The daemon's address (`http://HOST:PORT`, `https://HOST[:PORT]` or `HOST:PORT`)
    #[arg(long, value_name = "URL", env = "SLUICE_SERVER", default_value = DEFAULT_LISTEN)]
    server: String,
    /// An API token (`sluice token create`); prefer the environment variable
    #[arg(long, value_name = "TOKEN", env = "SLUICE_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    token: Option<SecretString>,
}

/// A token from the command line or the environment, kept as a secret from here on.
pub(crate) fn parse_secret(text: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(text.to_owned()))
}

/// Why a call to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// The address is not one we can call.
    #[error("`{0}` is not a daemon address: expected `http://HOST:PORT`, `https://HOST[:PORT]` or `HOST:PORT`")]
    BadServer(String),
    /// TLS could not be set up, or the server's certificate is not trusted.
    #[error("TLS with `{server}` failed: {message}")]
    Tls {
        /// The address as shown.
        server: String,
        /// What went wrong, in rustls' words.
        message: String,
    },
    /// Nothing answered at the address.
    #[error("cannot reach the Sluice daemon at `{server}`: {source}")]
    Connect {
        /// The address as shown.
        server: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The daemon answered with an error status.
    #[error("{message} (HTTP {status})")]
    Http {
        /// The status code.
        status: u16,
        /// The daemon's `error` message.
        message: String,
    },
    /// The answer was not what the API promises.
    #[error("unexpected answer from the daemon: {0}")]
    Protocol(String),
}

impl ClientError {
    /// Prints the error (with a hint where one helps) and returns the exit status.
    pub(crate) fn report(&self) -> ExitStatus {
        eprintln!("error: {self}");
        let hint = match self {
            ClientError::Connect { .. } => Some(
                "start the daemon with `sluice serve --config sluice.yaml`, or point `--server` (or `SLUICE_SERVER`) at it",
            ),
            ClientError::Http { status: 401, .. } => {
                Some("pass a token with `--token` or `SLUICE_TOKEN`; `sluice token create` makes one")
            }
            ClientError::Http { status: 403, message } if message.contains(" token; this one is ") => {
                Some("this needs a token with a wider scope (`sluice token create --scope write`)")
            }
            ClientError::BadServer(_) => Some("for example `--server http://127.0.0.1:8470`"),
            ClientError::Tls { .. } => Some(
                "the server's certificate must be signed by a CA of the system's store; set SSL_CERT_FILE to a PEM bundle holding yours",
            ),
            _ => None,
        };
        if let Some(hint) = hint {
            eprintln!("\nhint: {hint}");
        }
        match self {
            ClientError::Http { status: 403 | 409, .. } => ExitStatus::Failure,
            _ => ExitStatus::Error,
        }
    }
}

/// A client of one daemon.
pub(crate) struct Client {
    /// `HOST:PORT` to connect to.
    host: String,
    /// `http(s)://HOST:PORT`, for messages.
    shown: String,
    /// For `https://`: the name the certificate must carry and the trusted roots.
    tls: Option<Tls>,
    token: Option<SecretString>,
}

struct Tls {
    name: ServerName<'static>,
    config: Arc<rustls::ClientConfig>,
}

/// A connection to the daemon: plain TCP, or TLS over it.
trait Connection: Read + Write {}

impl<T: Read + Write> Connection for T {}

/// A response whose body has not been read yet.
pub(crate) struct Reply {
    status: u16,
    body: Box<dyn BufRead>,
}

/// One server-sent event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// `event:` (empty for the default `message`).
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

impl Client {
    /// A client for the address and token in `args`.
    pub(crate) fn new(args: &ServerArgs) -> Result<Client, ClientError> {
        Client::for_server(&args.server, args.token.clone())
    }

    /// A client for `server` (`http://HOST:PORT`, `https://HOST[:PORT]` or `HOST:PORT`).
    pub(crate) fn for_server(server: &str, token: Option<SecretString>) -> Result<Client, ClientError> {
        let bad = || ClientError::BadServer(server.to_owned());
        let rest = server.trim().trim_end_matches('/');
        let (https, host) = match rest.split_once("://") {
            Some(("http", host)) => (false, host.to_owned()),
            Some(("https", host)) if !host.contains(':') => (true, format!("{host}:443")),
            Some(("https", host)) => (true, host.to_owned()),
            Some(_) => return Err(bad()),
            None => (false, rest.to_owned()),
        };
        let Some((name, port)) = host.rsplit_once(':') else {
            return Err(bad());
        };
        if name.is_empty() || host.contains('/') || port.parse::<u16>().is_err() {
            return Err(bad());
        }
        let shown = format!("{}://{host}", if https { "https" } else { "http" });
        let tls = if https { Some(tls_for(name.trim_start_matches('[').trim_end_matches(']'), &shown)?) } else { None };
        Ok(Client { host, shown, tls, token })
    }

    /// `method path` with an optional JSON body; the answer's JSON on 2xx.
    pub(crate) fn json(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, ClientError> {
        let reply = self.send(method, path, body, "application/json")?;
        let status = reply.status;
        let text = reply.text()?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        check(status, &value, &text)?;
        if value.is_null() {
            return Err(ClientError::Protocol(format!(
                "not JSON: {}",
                text.chars().take(200).collect::<String>()
            )));
        }
        Ok(value)
    }

    /// `GET path` as text on 2xx.
    pub(crate) fn text(&self, path: &str) -> Result<String, ClientError> {
        let reply = self.send("GET", path, None, "text/plain")?;
        let status = reply.status;
        let text = reply.text()?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        check(status, &value, &text)?;
        Ok(text)
    }

    /// `GET path` as a server-sent event stream; `on_event` gets each event until the stream
    /// ends or it returns `false`.
    pub(crate) fn events(&self, path: &str, mut on_event: impl FnMut(&SseEvent) -> bool) -> Result<(), ClientError> {
        let reply = self.send("GET", path, None, "text/event-stream")?;
        if !(200..300).contains(&reply.status) {
            let status = reply.status;
            let text = reply.text()?;
            let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            return check(status, &value, &text);
        }
        let mut body = reply.body;
        let mut event = SseEvent::default();
        let mut line = String::new();
        loop {
            line.clear();
            let read = body.read_line(&mut line).map_err(|e| self.lost(&e))?;
            if read == 0 {
                return Ok(());
            }
            let text = line.trim_end_matches(['\r', '\n']);
            if text.is_empty() {
                if !event.data.is_empty() || !event.event.is_empty() {
                    if !on_event(&event) {
                        return Ok(());
                    }
                    event = SseEvent::default();
                }
                continue;
            }
            if text.starts_with(':') {
                continue;
            }
            let (field, value) = text.split_once(':').unwrap_or((text, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event.event = value.to_owned(),
                "data" => {
                    if !event.data.is_empty() {
                        event.data.push('\n');
                    }
                    event.data.push_str(value);
                }
                _ => {}
            }
        }
    }

    fn lost(&self, error: &std::io::Error) -> ClientError {
        // The TLS handshake happens on the first write: its failure is rustls' error.
        if let Some(refused) = error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            return self.tls_failed(refused);
        }
        ClientError::Protocol(format!("the connection to `{}` failed: {error}", self.shown))
    }

    fn tls_failed(&self, error: &rustls::Error) -> ClientError {
        ClientError::Tls { server: self.shown.clone(), message: error.to_string() }
    }

    fn send(&self, method: &str, path: &str, body: Option<&Value>, accept: &str) -> Result<Reply, ClientError> {
        let connect = |source| ClientError::Connect {
            server: self.shown.clone(),
            source,
        };
        let tcp = TcpStream::connect(&self.host).map_err(connect)?;
        tcp.set_read_timeout(Some(READ_TIMEOUT)).map_err(connect)?;
        let mut stream: Box<dyn Connection> = match &self.tls {
            None => Box::new(tcp),
            Some(tls) => {
                let session = rustls::ClientConnection::new(tls.config.clone(), tls.name.clone())
                    .map_err(|e| self.tls_failed(&e))?;
                Box::new(rustls::StreamOwned::new(session, tcp))
            }
        };
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut head = format!(
            "{method} /api/v1{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: {accept}\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        if let Some(token) = &self.token {
            // The one place a token leaves the process: to the daemon it was made for.
            head.push_str(&format!("Authorization: Bearer {}\r\n", token.expose_secret()));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body.as_bytes()))
            .map_err(|e| self.lost(&e))?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| self.lost(&e))?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| ClientError::Protocol(format!("not an HTTP status line: `{}`", line.trim())))?;
        let (mut chunked, mut length) = (false, None);
        loop {
            line.clear();
            if reader.read_line(&mut line).map_err(|e| self.lost(&e))? == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let (name, value) = (name.trim(), value.trim());
                if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
                    chunked = true;
                } else if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse::<u64>().ok();
                }
            }
        }
        let body: Box<dyn BufRead> = match (chunked, length) {
            (true, _) => Box::new(BufReader::new(Chunked {
                inner: reader,
                left: 0,
                done: false,
            })),
            (false, Some(length)) => Box::new(BufReader::new(reader.take(length))),
            (false, None) => Box::new(reader),
        };
        Ok(Reply { status, body })
    }
}

impl Reply {
    fn text(mut self) -> Result<String, ClientError> {
        let mut bytes = Vec::new();
        self.body
            .read_to_end(&mut bytes)
            .map_err(|e| ClientError::Protocol(format!("cannot read the answer: {e}")))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The TLS settings for a server called `name`: the system's CA certificates (or those of
/// `SSL_CERT_FILE`/`SSL_CERT_DIR`), TLS 1.2 and 1.3 with the aws-lc-rs provider.
fn tls_for(name: &str, shown: &str) -> Result<Tls, ClientError> {
    let failed = |message: String| ClientError::Tls { server: shown.to_owned(), message };
    let name = ServerName::try_from(name.to_owned()).map_err(|e| failed(format!("`{name}` is not a server name: {e}")))?;
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _unparsable) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found.errors.first().map(ToString::to_string).unwrap_or_else(|| "none found".to_owned());
        return Err(failed(format!("no CA certificate could be loaded ({why}); set SSL_CERT_FILE to a PEM bundle")));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| failed(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Tls { name, config: Arc::new(config) })
}

/// `Ok` on 2xx, else the daemon's `{"error": …}` message.
fn check(status: u16, value: &Value, text: &str) -> Result<(), ClientError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let message = value["error"]
        .as_str()
        .map_or_else(|| text.trim().chars().take(200).collect(), str::to_owned);
    Err(ClientError::Http { status, message })
}

/// A `Transfer-Encoding: chunked` body.
struct Chunked<R> {
    inner: R,
    left: usize,
    done: bool,
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut size = String::new();
            self.inner.read_line(&mut size)?;
            let digits = size.split(';').next().unwrap_or("").trim();
            if digits.is_empty() {
                self.done = true;
                return Ok(0);
            }
            let size = usize::from_str_radix(digits, 16)
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                self.done = true;
                return Ok(0);
            }
            self.left = size;
        }
        let wanted = buf.len().min(self.left);
        let read = self.inner.read(&mut buf[..wanted])?;
        if read == 0 {
            self.done = true;
            return Ok(0);
        }
        self.left -= read;
        if self.left == 0 {
            let mut crlf = String::new();
            self.inner.read_line(&mut crlf)?;
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        assert_eq!(
            Client::for_server("http://127.0.0.1:8470/", None).map(|c| c.host).ok(),
            Some("127.0.0.1:8470".to_owned())
        );
        assert_eq!(
            Client::for_server("localhost:1", None).map(|c| c.shown).ok(),
            Some("http://localhost:1".to_owned())
        );
        let https = Client::for_server("https://example.com", None).map(|c| (c.host, c.shown, c.tls.is_some()));
        assert_eq!(https.ok(), Some(("example.com:443".to_owned(), "https://example.com:443".to_owned(), true)));
        assert!(Client::for_server("ftp://example.com:21", None).is_err());
        assert!(Client::for_server("http://example.com", None).is_err(), "plain HTTP has no default port here");
        assert!(Client::for_server("example.com", None).is_err());
        assert!(Client::for_server("https://example.com:x", None).is_err());
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        let raw = b"5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\n\r\n";
        let mut reader = Chunked {
            inner: &raw[..],
            left: 0,
            done: false,
        };
        let mut out = String::new();
        reader.read_to_string(&mut out).expect("decodes");
        assert_eq!(out, "hello!");
    }

    #[test]
    fn refusals_exit_1_and_bad_input_exits_2() {
        let http = |status| ClientError::Http {
            status,
            message: String::new(),
        };
        assert_eq!(http(403).report(), ExitStatus::Failure);
        assert_eq!(http(409).report(), ExitStatus::Failure);
        assert_eq!(http(401).report(), ExitStatus::Error);
        assert_eq!(http(404).report(), ExitStatus::Error);
    }
}
