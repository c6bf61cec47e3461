//! `GET URL` over plain HTTP/1.1 on loopback, to show what a deployed app answers. The app
//! answers small bodies and closes the connection, so a read to the end is the whole answer.

use std::io::{Read as _, Write as _};
use std::time::Duration;

/// How long the app may take to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The body of `GET url` (`http://HOST:PORT[/PATH]`), or why there is none.
pub(crate) fn get(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("`{url}` is not an http:// URL"))?;
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let addr: std::net::SocketAddr = host.parse().map_err(|e| format!("`{host}`: {e}"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| format!("cannot send to {addr}: {e}"))?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(|e| format!("no answer from {addr}: {e}"))?;
    let (head, body) = answer.split_once("\r\n\r\n").ok_or_else(|| format!("{addr} answered no HTTP response"))?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        return Err(format!("{addr} answered `{status}`"));
    }
    Ok(body.trim_end().to_owned())
}
