//! The mutual-TLS accept loop.
//!
//! `axum::serve` cannot hand the client certificate to handlers, so connections are
//! accepted here: TLS handshake under a timeout (slow clients cannot hold a slot), the
//! verified peer certificate is read once per connection and parsed into the facility's
//! code (or the insurer's number), and every request on that connection carries it as a
//! [`Peer`] extension.
//!
//! Facilities and insurers share the listener: the TLS verifier trusts both the facility
//! CA and the insurer CA, and the kind of caller is decided by the certificate's issuer
//! (its issuer name equals the insurer CA's subject, which differs from the facility
//! CA's). A facility certificate is therefore never an insurer, whatever its common name
//! says, and the other way round; each API refuses the other kind.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// Who is on the other end of a connection, as proven by its client certificate.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The 医療機関コード in the certificate, or why it could not be read.
    pub facility: Result<onshi_core::ids::MedicalInstitutionCode, String>,
    /// The 保険者番号 of an insurer certificate, or why the caller is not an insurer.
    pub insurer: Result<onshi_core::ids::InsurerNumber, String>,
}

impl Peer {
    /// Classifies a verified client certificate by its issuer.
    pub(crate) fn of_certificate(der: Option<&[u8]>, insurer_ca_subject: Option<&[u8]>) -> Peer {
        let Some(der) = der else {
            return Peer {
                facility: Err("no client certificate".into()),
                insurer: Err("no client certificate".into()),
            };
        };
        let issued_by_insurer_ca = match (onshi_pki::issuer_and_subject(der), insurer_ca_subject) {
            (Ok((issuer, _)), Some(ca)) => issuer == ca,
            _ => false,
        };
        if issued_by_insurer_ca {
            Peer {
                facility: Err("an insurer certificate, not a facility's".into()),
                insurer: onshi_pki::insurer_number_from_cert(der).map_err(|e| e.to_string()),
            }
        } else {
            Peer {
                facility: onshi_pki::facility_code_from_cert(der).map_err(|e| e.to_string()),
                insurer: Err("not an insurer certificate".into()),
            }
        }
    }
}

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    insurer_ca_subject: Option<Arc<Vec<u8>>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (tcp, _addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let insurer_ca_subject = insurer_ca_subject.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            };
            let cert = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.as_ref());
            let peer = Arc::new(Peer::of_certificate(
                cert,
                insurer_ca_subject.as_deref().map(Vec::as_slice),
            ));
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(peer.clone());
                    app.clone().oneshot(req.map(axum::body::Body::new))
                },
            );
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = conn_shutdown.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}
