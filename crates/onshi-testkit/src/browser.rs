//! A small WebDriver client: a real headless Chromium driven through ChromeDriver, for
//! tests of the terminal's pages.
//!
//! Blocking on purpose (plain HTTP/1.1 over `std::net::TcpStream`, one request per
//! connection): a `#[tokio::test(flavor = "multi_thread")]` body runs outside the worker
//! threads, so the servers under test keep answering while the test waits on the browser.
//!
//! Binaries: `ONSHI_CHROMEDRIVER` / `ONSHI_CHROMIUM` when set, else `/usr/bin/chromedriver`
//! and `/usr/bin/chromium` (or the first of `chromedriver`, `chromium`, `chromium-browser`,
//! `google-chrome` on `PATH`). Missing binaries are an error that says what to install —
//! browser tests never skip silently.

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The W3C key of an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long [`Browser::wait_for`] and friends wait by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(20);

pub const INSTALL_HINT: &str = "headless browser tests need Chromium and ChromeDriver: install them with `apt-get install chromium chromium-driver` (Debian/Ubuntu), or point ONSHI_CHROMIUM and ONSHI_CHROMEDRIVER at the binaries";

fn find_binary(env: &str, default: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let d = PathBuf::from(default);
    if d.is_file() {
        return Some(d);
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// One element found on the page.
#[derive(Debug, Clone)]
pub struct Element {
    id: String,
}

pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

impl Browser {
    /// Starts ChromeDriver on a free port and a headless Chromium session. A session
    /// that fails to start (Chromium is slow to come up on a loaded 2-core machine) is
    /// tried again twice with a fresh ChromeDriver; missing binaries fail at once.
    pub fn start() -> Result<Browser> {
        let mut last = None;
        for attempt in 0..3u64 {
            match Self::start_once() {
                Ok(b) => return Ok(b),
                Err(e) if e.to_string().contains("not found") => return Err(e),
                Err(e) => {
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(500 * (attempt + 1)));
                }
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("Chromium did not start")))
    }

    fn start_once() -> Result<Browser> {
        let driver_bin = find_binary(
            "ONSHI_CHROMEDRIVER",
            "/usr/bin/chromedriver",
            &["chromedriver"],
        )
        .ok_or_else(|| anyhow!("chromedriver not found. {INSTALL_HINT}"))?;
        let chromium = find_binary(
            "ONSHI_CHROMIUM",
            "/usr/bin/chromium",
            &["chromium", "chromium-browser", "google-chrome"],
        )
        .ok_or_else(|| anyhow!("chromium not found. {INSTALL_HINT}"))?;
        let mut driver = Command::new(&driver_bin)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("start {} ({INSTALL_HINT})", driver_bin.display()))?;
        let port = match read_port(&mut driver) {
            Ok(p) => p,
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                return Err(e);
            }
        };
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
        };
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium.to_string_lossy(),
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--window-size=1280,1000", "--lang=ja-JP",
                        "--no-first-run", "--no-default-browser-check"
                    ]
                }
            }}
        });
        let v = browser
            .call("POST", "/session", Some(caps))
            .with_context(|| format!("start a Chromium session ({INSTALL_HINT})"))?;
        browser.session = v
            .get("sessionId")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("no sessionId in {v}"))?
            .to_string();
        Ok(browser)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .with_context(|| format!("connect to chromedriver on port {}", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(90)))?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        stream.write_all(req.as_bytes())?;
        let raw = read_response(&mut stream)?;
        let (status, payload) = parse_http(&raw)?;
        let v: Value = serde_json::from_slice(&payload).with_context(|| {
            format!(
                "chromedriver answered HTTP {status}: {}",
                String::from_utf8_lossy(&payload)
            )
        })?;
        let value = v.get("value").cloned().unwrap_or(Value::Null);
        if status >= 400 {
            let err = value.get("error").and_then(Value::as_str).unwrap_or("?");
            let msg = value.get("message").and_then(Value::as_str).unwrap_or("");
            bail!("WebDriver {method} {path}: HTTP {status} {err}: {msg}");
        }
        Ok(value)
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) -> Result<()> {
        self.session_call("POST", "/url", Some(json!({ "url": url })))
            .map(|_| ())
    }

    /// All elements matching a CSS selector (possibly none).
    pub fn find_all(&self, css: &str) -> Result<Vec<Element>> {
        let v = self.session_call(
            "POST",
            "/elements",
            Some(json!({ "using": "css selector", "value": css })),
        )?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.get(ELEMENT_KEY).and_then(Value::as_str))
                    .map(|id| Element { id: id.to_string() })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The first element matching `css`, now.
    pub fn find(&self, css: &str) -> Result<Element> {
        self.find_all(css)?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("no element matches {css:?}"))
    }

    /// Waits until an element matches `css`.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element> {
        let until = Instant::now() + timeout;
        loop {
            if let Some(e) = self.find_all(css)?.into_iter().next() {
                return Ok(e);
            }
            if Instant::now() > until {
                bail!(
                    "timed out after {timeout:?} waiting for {css:?} at {}; the page is: {}",
                    self.current_url().unwrap_or_default(),
                    self.source().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the element matching `css` has a text containing `needle`.
    pub fn wait_for_text(&self, css: &str, needle: &str, timeout: Duration) -> Result<String> {
        let until = Instant::now() + timeout;
        loop {
            if let Some(e) = self.find_all(css)?.into_iter().next() {
                // The element may be replaced between finding and reading it.
                if let Ok(t) = self.element_text(&e)
                    && t.contains(needle)
                {
                    return Ok(t);
                }
            }
            if Instant::now() > until {
                bail!(
                    "timed out after {timeout:?} waiting for {needle:?} in {css:?}; the page shows: {}",
                    self.body_text().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn click_element(&self, e: &Element) -> Result<()> {
        self.session_call("POST", &format!("/element/{}/click", e.id), Some(json!({})))
            .map(|_| ())
    }

    /// Waits for `css` to be present, then clicks it.
    pub fn click(&self, css: &str) -> Result<()> {
        let e = self.wait_for(css, DEFAULT_WAIT)?;
        self.click_element(&e)
            .with_context(|| format!("click {css:?}"))
    }

    /// Waits for the input `css`, then types `text` into it (kanji included: WebDriver
    /// sends the characters, not key codes).
    pub fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let e = self.wait_for(css, DEFAULT_WAIT)?;
        self.session_call(
            "POST",
            &format!("/element/{}/value", e.id),
            Some(json!({ "text": text })),
        )
        .map(|_| ())
        .with_context(|| format!("type into {css:?}"))
    }

    pub fn element_text(&self, e: &Element) -> Result<String> {
        let v = self.session_call("GET", &format!("/element/{}/text", e.id), None)?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// The visible text of the element matching `css`.
    pub fn text(&self, css: &str) -> Result<String> {
        let e = self.find(css)?;
        self.element_text(&e)
    }

    pub fn attr(&self, css: &str, name: &str) -> Result<Option<String>> {
        let e = self.find(css)?;
        let v = self.session_call("GET", &format!("/element/{}/attribute/{name}", e.id), None)?;
        Ok(v.as_str().map(str::to_string))
    }

    /// The whole page's visible text (for failure messages).
    pub fn body_text(&self) -> Result<String> {
        self.text("body")
    }

    /// The page's current DOM as HTML.
    pub fn source(&self) -> Result<String> {
        let v = self.session_call("GET", "/source", None)?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    pub fn current_url(&self) -> Result<String> {
        let v = self.session_call("GET", "/url", None)?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// ChromeDriver prints "… started successfully on port N." once it listens.
fn read_port(driver: &mut Child) -> Result<u16> {
    let out = driver
        .stdout
        .take()
        .ok_or_else(|| anyhow!("chromedriver has no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(out).lines();
        let mut sent = false;
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if !sent && let Some(rest) = line.split("on port ").nth(1) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(p) = digits.parse::<u16>()
                    && p != 0
                    && line.contains("successfully")
                {
                    let _ = tx.send(p);
                    sent = true;
                }
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20))
        .map_err(|_| anyhow!("chromedriver did not report its port. {INSTALL_HINT}"))
}

/// Reads one response: ChromeDriver keeps the connection open whatever the request
/// says, so reading stops at the end of the body (Content-Length or the last chunk).
fn read_response(stream: &mut TcpStream) -> Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
            let length = head.lines().find_map(|l| {
                l.strip_prefix("content-length:")
                    .and_then(|v| v.trim().parse::<usize>().ok())
            });
            let body = raw.len() - split - 4;
            match length {
                Some(n) if body >= n => return Ok(raw),
                None if head.contains("chunked") && raw.ends_with(b"0\r\n\r\n") => {
                    return Ok(raw);
                }
                _ => {}
            }
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(raw);
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

/// Status and body of an HTTP/1.1 response (Content-Length, chunked, or to EOF).
fn parse_http(raw: &[u8]) -> Result<(u16, Vec<u8>)> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("malformed HTTP response from chromedriver"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let status: u16 = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("no status in {head:?}"))?;
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    if !chunked {
        return Ok((status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("malformed chunk"))?;
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| anyhow!("malformed chunk size {size_text:?}"))?;
        rest = &rest[eol + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or(&[]);
    }
    Ok((status, out))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn http_bodies_plain_and_chunked() {
        let (s, b) = parse_http(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!((s, b.as_slice()), (200, b"{}".as_slice()));
        let (s, b) = parse_http(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(s, 404);
        assert_eq!(b, b"{\"a\":1}");
    }
}
