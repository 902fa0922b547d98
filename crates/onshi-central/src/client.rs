//! A small mTLS client for central, used by the CLI (`onshi check`, `onshi bench`), the
//! tests and, later, the facility terminal. One [`Connection`] is one kept-alive HTTP/1.1
//! connection, which is how a terminal talks to central.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::http::{HeaderMap, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("request: {0}")]
    Request(#[from] hyper::http::Error),
    #[error("server name: {0}")]
    Name(String),
}

/// Where central is and how to prove who we are.
#[derive(Clone)]
pub struct CentralClient {
    addr: SocketAddr,
    server_name: ServerName<'static>,
    connector: tokio_rustls::TlsConnector,
}

/// What came back.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl CentralClient {
    pub fn new(
        addr: SocketAddr,
        server_name: &str,
        tls: rustls::ClientConfig,
    ) -> Result<Self, ClientError> {
        let server_name = ServerName::try_from(server_name.to_string())
            .map_err(|e| ClientError::Name(e.to_string()))?;
        Ok(CentralClient {
            addr,
            server_name,
            connector: tokio_rustls::TlsConnector::from(Arc::new(tls)),
        })
    }

    /// Opens a connection (TCP + full TLS handshake).
    pub async fn connect(&self) -> Result<Connection, ClientError> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|source| ClientError::Connect {
                addr: self.addr,
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let tls = self
            .connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(ClientError::Tls)?;
        let (sender, conn) = http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Connection { sender })
    }
}

pub struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
}

impl Connection {
    pub async fn post(
        &mut self,
        path: &str,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> Result<Reply, ClientError> {
        self.post_with_accept(path, content_type, "*/*", body).await
    }

    pub async fn post_with_accept(
        &mut self,
        path: &str,
        content_type: &str,
        accept: &str,
        body: impl Into<Bytes>,
    ) -> Result<Reply, ClientError> {
        let req = Request::post(path)
            .header(header::HOST, "localhost")
            .header(header::CONTENT_TYPE, content_type)
            .header(header::ACCEPT, accept)
            .body(Full::new(body.into()))?;
        self.send(req).await
    }

    pub async fn get(&mut self, path: &str) -> Result<Reply, ClientError> {
        let req = Request::get(path)
            .header(header::HOST, "localhost")
            .body(Full::new(Bytes::new()))?;
        self.send(req).await
    }

    /// Any request with extra headers (the staff account of the medical views, …).
    pub async fn request(
        &mut self,
        method: hyper::http::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Reply, ClientError> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "localhost");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req.body(Full::new(body.into()))?).await
    }

    async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<Reply, ClientError> {
        self.sender.ready().await?;
        let res = self.sender.send_request(req).await?;
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}
