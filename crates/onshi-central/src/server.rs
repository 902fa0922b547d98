//! Routes and handlers of central's facility API.

use crate::engine::{self, CardCheck};
use crate::error::CheckError;
use crate::tls::{self, Peer};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use http_body_util::BodyExt;
use onshi_core::Clock;
use onshi_core::codes::{
    ProcessingResultStatus, QualificationValidity, ReferenceClassification, SegmentOfResult,
};
use onshi_core::date::JstDateTime;
use onshi_core::ids::MedicalInstitutionCode;
use onshi_core::model::Facility;
use onshi_store::{Store, VerificationRecord};
use onshi_wire::{Encoding, Limits, siquc01};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub struct CentralConfig {
    pub listen: SocketAddr,
    pub tls: rustls::ServerConfig,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub limits: Limits,
    /// The card CA (certificate and key: central publishes the CRL). `None` turns card
    /// checks off.
    pub card_ca: Option<onshi_pki::CertAndKey>,
    /// The insurer CA's certificate (PEM). Its client certificates must also be trusted by
    /// `tls` (see `PkiLayout::client_ca_bundle`); `None` turns the insurer API off.
    pub insurer_ca: Option<String>,
}

/// A started central; dropping it does not stop it, [`RunningCentral::shutdown`] does.
pub struct RunningCentral {
    pub addr: SocketAddr,
    /// What `/metrics` reports (also for a plain-HTTP metrics listener).
    pub metrics: Arc<crate::metrics::Metrics>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningCentral {
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// Waits until the server stops (it stops only through `shutdown`).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// What every handler shares. One `Arc`: axum and the middleware clone the state several
/// times per request, and a clone of the fields themselves (the store's pool and channel
/// senders, seven more `Arc`s) was 4–5 % of central's CPU under load (perf, check by card
/// data on PostgreSQL), mostly atomic counters bouncing between the two cores.
#[derive(Clone)]
pub(crate) struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;
    fn deref(&self) -> &SharedState {
        &self.0
    }
}

pub(crate) struct SharedState {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) limits: Arc<Limits>,
    pub(crate) request_ids: Arc<RequestIds>,
    pub(crate) facilities: Arc<FacilityCache>,
    pub(crate) cards: Option<Arc<crate::card::CardService>>,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    pub(crate) reference_use: Arc<ReferenceUse>,
}

/// How long a facility's registration and status may be served from memory. Suspending
/// a facility therefore takes effect within this bound, on every central process.
pub const FACILITY_CACHE_SECONDS: i64 = 1;

/// Values per facility code served from memory for [`FACILITY_CACHE_SECONDS`]: a change
/// in the database (suspension, a first 照会番号) takes effect within that bound on every
/// central process.
pub(crate) struct FacilityCached<V> {
    entries: std::sync::RwLock<std::collections::HashMap<String, (V, JstDateTime)>>,
}

impl<V> Default for FacilityCached<V> {
    fn default() -> Self {
        FacilityCached {
            entries: Default::default(),
        }
    }
}

impl<V: Clone> FacilityCached<V> {
    /// The fresh value for `code`, or `load`'s (then remembered).
    pub(crate) async fn get<F>(
        &self,
        code: &MedicalInstitutionCode,
        now: JstDateTime,
        load: F,
    ) -> Result<V, onshi_store::StoreError>
    where
        F: std::future::Future<Output = Result<V, onshi_store::StoreError>>,
    {
        let fresh_after = now.add_seconds(-FACILITY_CACHE_SECONDS);
        if let Ok(map) = self.entries.read()
            && let Some((v, at)) = map.get(code.as_str())
            && *at > fresh_after
            && *at <= now
        {
            return Ok(v.clone());
        }
        let v = load.await?;
        self.set(code, v.clone(), now);
        Ok(v)
    }

    pub(crate) fn set(&self, code: &MedicalInstitutionCode, v: V, now: JstDateTime) {
        if let Ok(mut map) = self.entries.write() {
            map.insert(code.as_str().to_string(), (v, now));
        }
    }
}

/// A facility's registration and status.
#[derive(Default)]
pub(crate) struct FacilityCache(FacilityCached<Option<Facility>>);

impl FacilityCache {
    pub(crate) async fn get(
        &self,
        store: &Store,
        code: &MedicalInstitutionCode,
        now: JstDateTime,
    ) -> Result<Option<Facility>, onshi_store::StoreError> {
        self.0.get(code, now, store.facility(code)).await
    }

    /// A facility just read from the store (after a change made through this process).
    pub(crate) fn put(&self, f: Facility, now: JstDateTime) {
        let code = f.code.clone();
        self.0.set(&code, Some(f), now);
    }
}

/// Whether a facility uses 照会番号 at all: most never register one, and their checks skip
/// the per-person probe. A registration through this process shows at once.
#[derive(Default)]
pub(crate) struct ReferenceUse(FacilityCached<bool>);

impl ReferenceUse {
    pub(crate) async fn get(
        &self,
        store: &Store,
        code: &MedicalInstitutionCode,
        now: JstDateTime,
    ) -> Result<bool, onshi_store::StoreError> {
        self.0
            .get(code, now, store.facility_uses_reference_numbers(code))
            .await
    }

    /// This process registered one for `code`.
    pub(crate) fn mark_used(&self, code: &MedicalInstitutionCode, now: JstDateTime) {
        self.0.set(code, true, now);
    }
}

/// Request ids must be unique across every central process on one database (a consent
/// is keyed by its check's request id): the start instant (ms) and 32 random bits, so
/// processes started in the same millisecond (or under a fixed test clock) differ.
fn request_id_prefix(start_micros: i64) -> std::io::Result<String> {
    let mut r = [0u8; 4];
    aws_lc_rs::rand::fill(&mut r).map_err(|_| std::io::Error::other("random"))?;
    Ok(format!(
        "{:x}{:08x}",
        start_micros / 1000,
        u32::from_le_bytes(r)
    ))
}

pub(crate) struct RequestIds {
    prefix: String,
    counter: AtomicU64,
}

impl RequestIds {
    pub(crate) fn next(&self) -> String {
        format!(
            "{}-{:08x}",
            self.prefix,
            self.counter.fetch_add(1, Ordering::Relaxed)
        )
    }
}

pub async fn start(cfg: CentralConfig) -> std::io::Result<RunningCentral> {
    let metrics = Arc::new(crate::metrics::Metrics::default());
    let cards = match cfg.card_ca {
        Some(ca) => Some(Arc::new(
            crate::card::CardService::new(&cfg.store, ca, cfg.clock.clone(), metrics.clone())
                .await
                .map_err(std::io::Error::other)?,
        )),
        None => None,
    };
    let listener = TcpListener::bind(cfg.listen).await?;
    let addr = listener.local_addr()?;
    let start = cfg.clock.now().unix_micros();
    let state = AppState(Arc::new(SharedState {
        store: cfg.store,
        clock: cfg.clock,
        limits: Arc::new(cfg.limits),
        request_ids: Arc::new(RequestIds {
            prefix: request_id_prefix(start)?,
            counter: AtomicU64::new(0),
        }),
        facilities: Arc::new(FacilityCache::default()),
        cards,
        metrics,
        reference_use: Arc::new(ReferenceUse::default()),
    }));
    let insurer_ca_subject = match &cfg.insurer_ca {
        Some(pem) => {
            let der = onshi_pki::parse_certs(pem)
                .map_err(std::io::Error::other)?
                .into_iter()
                .next()
                .ok_or_else(|| std::io::Error::other("insurer CA: no certificate"))?;
            let (_, subject) =
                onshi_pki::issuer_and_subject(&der).map_err(std::io::Error::other)?;
            Some(Arc::new(subject))
        }
        None => None,
    };
    let metrics = state.metrics.clone();
    // PostgreSQL: the history and audit partitions of this month and the next two exist
    // before the first write, and are made ahead every hour (a write for a month without
    // one still lands in the default partition).
    if let Err(e) = state.store.ensure_partitions(state.clock.now(), 2).await {
        tracing::warn!(error = %e, "monthly partitions not made");
    }
    tokio::spawn(crate::scale_load::maintain_partitions(
        state.store.clone(),
        state.clock.clone(),
    ));
    if let Some(routing) = state.store.read_routing() {
        metrics.watch_read_routing(routing);
    }
    let pending = crate::bulk::unfinished(&state).await;
    tokio::spawn(crate::bulk::resume(state.clone(), pending));
    let app = router(state);
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(tls::serve(
        listener,
        Arc::new(cfg.tls),
        app,
        insurer_ca_subject,
        rx,
    ));
    tracing::info!(%addr, "central listening (mTLS)");
    Ok(RunningCentral {
        addr,
        metrics,
        shutdown: tx,
        task,
    })
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/oqs/v1/qualification", post(qualification))
        .route("/oqs/v1/reference-number", post(crate::reference::register))
        .route("/oqs/v1/bulk", post(crate::bulk::upload))
        .route("/oqs/v1/bulk/result", post(crate::bulk::result))
        .route("/oqs/v1/card/nonce", post(crate::card::nonce))
        .route("/oqs/v1/card/check", post(crate::card::check))
        .route("/oqs/v1/card/register", post(crate::card::register))
        .route("/oqs/v1/card/consent", post(crate::consent::consent))
        .route(
            "/oqs/v1/card/deferred-check",
            post(crate::card::deferred_check),
        )
        .route("/oqs/v1/card/crl", get(crate::card::crl))
        .route("/insurer/v1/registration", post(crate::insurer::single))
        .route("/insurer/v1/batch", post(crate::insurer::batch))
        .route("/insurer/v1/notices", get(crate::insurer::notices))
        .route("/insurer/v1/suspended", get(crate::insurer::suspended))
        .route("/oqs/v1/medical/patients", get(crate::medical::patients))
        .route(
            "/oqs/v1/medical/disaster",
            get(crate::medical::disaster_status),
        )
        .route(
            "/oqs/v1/medical/disaster/search",
            post(crate::medical::disaster_search),
        )
        .route("/oqs/v1/medical/{kind}", get(crate::medical::view))
        .route("/oqs/v1/audit/login", post(crate::medical::login))
        .route("/oqs/v1/patient/self", post(crate::patient::own_view))
        .route(
            "/oqs/v1/medical/file/{message}",
            post(crate::medfile::file_request),
        )
        .route("/oqs/v1/history", get(crate::history::list))
        .route("/oqs/v1/history/{id}", get(crate::history::detail))
        .route(
            "/oqs/v1/facility/settings",
            get(crate::history::settings).post(crate::history::set_settings),
        )
        .route(
            "/oqs/v1/patient/access-log",
            post(crate::medical::access_log),
        )
        .route("/noop", post(noop))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn({
            let m = state.metrics.clone();
            let ids = state.request_ids.clone();
            move |req, next| crate::metrics::track(m.clone(), ids.clone(), req, next)
        }))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>) -> Response {
    crate::metrics::exposition(&state.metrics, Some(state.store.pool_status()))
}

/// `/metrics` and `/health` without TLS, for a Prometheus on the operator's network
/// (`onshi central serve --metrics ADDR`).
pub fn metrics_router(m: Arc<crate::metrics::Metrics>, store: Store) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = m.clone();
                let pool = store.pool_status();
                async move { crate::metrics::exposition(&m, Some(pool)) }
            }),
        )
        .route("/health", get(|| async { "ok" }))
}

async fn health(State(state): State<AppState>) -> Response {
    let body = format!(
        "{{\"status\":\"ok\",\"database\":\"{}\"}}",
        state.store.backend_name()
    );
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The cheapest endpoint the server has: same TLS, routing and body reading as a check,
/// no work. Benchmarks compare checks against it.
async fn noop(body: Body) -> Response {
    let _ = body.collect().await;
    ([(header::CONTENT_TYPE, "application/xml")], "<XmlMsg/>").into_response()
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Xml(Encoding),
    Json,
}

pub(crate) fn request_format(headers: &HeaderMap) -> Result<Format, CheckError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/xml")
        .to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    match essence {
        "application/json" => Ok(Format::Json),
        "application/xml" | "text/xml" | "" => Ok(Format::Xml(Encoding::Utf8)),
        other => Err(CheckError::UnsupportedMediaType(other.to_string())),
    }
}

async fn qualification(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let now = state.clock.now();
    let request_id = state.request_ids.next();
    let mut format = request_format(&headers).unwrap_or(Format::Xml(Encoding::Utf8));
    let mut history = VerificationRecord::new(
        &request_id,
        "",
        now,
        ReferenceClassification::InsuranceCard.code(),
    );
    let mut echo: Option<siquc01::Request> = None;
    let outcome = check(
        &state,
        &peer,
        &headers,
        body,
        now,
        &mut format,
        &mut history,
        &mut echo,
    )
    .await;
    let response = match outcome {
        Ok(res) => res,
        Err(err) => {
            history.processing_status = ProcessingResultStatus::Error.code().into();
            history.error_code = Some(err.code().into());
            error_response(&err, echo.as_ref(), now)
        }
    };
    // Only an authenticated facility's requests enter its history.
    if let Ok(code) = &peer.facility {
        history.facility_code = code.as_str().to_string();
        if let Err(e) = state.store.record_verification(history).await {
            tracing::error!(request_id, error = %e, "history write failed; answer withheld");
            let err = CheckError::HistoryUnavailable(e.to_string());
            let (res, status) = error_response(&err, echo.as_ref(), now);
            return render(res, format, status, &request_id);
        }
    }
    let status = response.1;
    render(response.0, format, status, &request_id)
}

pub(crate) type Answer = (siquc01::Response, StatusCode);

#[allow(clippy::too_many_arguments)]
async fn check(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    body: Body,
    now: JstDateTime,
    format: &mut Format,
    history: &mut VerificationRecord,
    echo: &mut Option<siquc01::Request>,
) -> Result<Answer, CheckError> {
    let cert_code = peer
        .facility
        .clone()
        .map_err(CheckError::BadClientCertificate)?;
    *format = request_format(headers)?;
    let bytes = read_body_limited(headers, body, state.limits.max_bytes).await?;
    let request = match *format {
        Format::Json => siquc01::decode_request_json(&bytes, &state.limits)?,
        Format::Xml(_) => {
            let (req, enc) = siquc01::decode_request_xml(&bytes, &state.limits)?;
            *format = Format::Xml(enc);
            req
        }
    };
    // The request stays in `echo` (refusals echo it); everything below borrows it.
    let request: &siquc01::Request = echo.insert(request);
    let s = &request.search;
    history.confirmation_date = Some(request.header.qualification_confirmation_date.clone());
    history.insurer_number = Some(s.insurer_number.clone());
    history.symbol = s.insured_card_symbol.clone();
    history.number = Some(s.insured_identification_number.clone());
    history.branch = s.insured_branch_number.clone();
    history.birthdate = Some(s.birthdate.clone());
    history.arbitrary_file_identifier = request.header.arbitrary_file_identifier.clone();

    let card = CardCheck::parse(request)?;
    // The 限度額 consent of a check by card data, for the history's detail.
    if card.limit_consent == onshi_core::codes::LimitConsentFlag::Consented {
        history.consents = Some("GND".into());
    }
    if card.facility != cert_code {
        return Err(CheckError::FacilityMismatch {
            request: card.facility.as_str().into(),
            certificate: cert_code.as_str().into(),
        });
    }
    match state
        .facilities
        .get(&state.store, &card.facility, now)
        .await
    {
        Ok(Some(f)) if f.enabled => {}
        Ok(Some(_)) => return Err(CheckError::DisabledFacility(card.facility.as_str().into())),
        Ok(None) => return Err(CheckError::UnknownFacility(card.facility.as_str().into())),
        Err(e) => return Err(CheckError::Internal(e.to_string())),
    }
    let found = state
        .store
        .find_by_card(&card.query())
        .await
        .map_err(|e| CheckError::Internal(e.to_string()))?;
    let decision = engine::decide(found, card.confirmation_date);
    history.validity = Some(decision.validity);
    history.person_id = decision.record.as_ref().map(|r| r.person.id);
    history.qualification_id = decision.record.as_ref().map(|r| r.qualification.id);

    let mut message = engine::validity_message(decision.validity).map(String::from);
    if decision.validity == QualificationValidity::NotFound
        && let Some(info) = state
            .store
            .pending_by_card(&card.query())
            .await
            .map_err(|e| CheckError::Internal(e.to_string()))?
    {
        message = Some(engine::pending_message(&info));
    }
    let mut results = Vec::with_capacity(1);
    if let Some(r) = &decision.record {
        let mut item = engine::result_item(r, card.confirmation_date, card.limit_consent, now);
        if state
            .reference_use
            .get(&state.store, &card.facility, now)
            .await
            .map_err(|e| CheckError::Internal(e.to_string()))?
        {
            engine::attach_reference_number(&state.store, &card.facility, r.person.id, &mut item)
                .await?;
        }
        results.push(item);
    }
    let response = siquc01::Response {
        header: response_header(request, now, SegmentOfResult::Normal),
        body: siquc01::ResponseBody {
            search_info: Some(request.search.clone()),
            processing_result_status: ProcessingResultStatus::Normal.code().into(),
            processing_result_message: message,
            qualification_validity: Some(decision.validity.code().into()),
            results,
            ..Default::default()
        },
    };
    Ok((response, StatusCode::OK))
}

pub(crate) fn response_header(
    request: &siquc01::Request,
    now: JstDateTime,
    segment: SegmentOfResult,
) -> siquc01::ResponseHeader {
    siquc01::ResponseHeader {
        process_execution_time: now.to_wire(),
        qualification_confirmation_date: Some(
            request.header.qualification_confirmation_date.clone(),
        ),
        medical_institution_code: Some(request.header.medical_institution_code.clone()),
        arbitrary_file_identifier: request.header.arbitrary_file_identifier.clone(),
        reference_classification: Some(ReferenceClassification::InsuranceCard.code().into()),
        segment_of_result: segment.code().into(),
        // Filled in by `render` once the output encoding is known.
        character_code_identifier: Encoding::Utf8.character_code_identifier().into(),
        ..Default::default()
    }
}

pub(crate) fn error_response(
    err: &CheckError,
    request: Option<&siquc01::Request>,
    now: JstDateTime,
) -> Answer {
    let mut header = match request {
        Some(r) => response_header(r, now, SegmentOfResult::Abnormal),
        None => siquc01::ResponseHeader {
            process_execution_time: now.to_wire(),
            segment_of_result: SegmentOfResult::Abnormal.code().into(),
            reference_classification: Some(ReferenceClassification::InsuranceCard.code().into()),
            character_code_identifier: Encoding::Utf8.character_code_identifier().into(),
            ..Default::default()
        },
    };
    header.error_code = Some(err.code().into());
    header.error_message = Some(err.message_ja());
    let response = siquc01::Response {
        header,
        body: siquc01::ResponseBody {
            search_info: request.map(|r| r.search.clone()),
            processing_result_status: ProcessingResultStatus::Error.code().into(),
            processing_result_code: Some(err.code().into()),
            processing_result_message: Some(err.message_ja()),
            ..Default::default()
        },
    };
    if err.status().is_server_error() {
        tracing::error!(code = err.code(), error = %err, "check failed");
    } else {
        tracing::debug!(code = err.code(), error = %err, "check refused");
    }
    (response, err.status())
}

pub(crate) fn render(
    mut res: siquc01::Response,
    format: Format,
    status: StatusCode,
    request_id: &str,
) -> Response {
    let result_label = if res.header.segment_of_result == "1" {
        res.body
            .qualification_validity
            .clone()
            .unwrap_or_else(|| "none".into())
    } else {
        res.header
            .error_code
            .clone()
            .unwrap_or_else(|| "error".into())
    };
    let (bytes, content_type) = match format {
        Format::Json => {
            res.header.character_code_identifier =
                Encoding::Utf8.character_code_identifier().into();
            (
                siquc01::encode_response_json(&res),
                "application/json; charset=utf-8",
            )
        }
        Format::Xml(enc) => {
            res.header.character_code_identifier = enc.character_code_identifier().into();
            let ct = match enc {
                Encoding::Utf8 => "application/xml; charset=utf-8",
                Encoding::ShiftJis => "application/xml; charset=Shift_JIS",
            };
            (siquc01::encode_response_xml(&res, enc), ct)
        }
    };
    let mut response = (status, bytes).into_response();
    response
        .extensions_mut()
        .insert(crate::metrics::CheckResult(result_label));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-request-id", v);
    }
    response
}

/// Reads a request body of at most `max` bytes.
pub(crate) async fn read_body_limited(
    headers: &HeaderMap,
    body: Body,
    max: usize,
) -> Result<Bytes, CheckError> {
    match http_body_util::Limited::new(body, max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(_) => {
            let size = headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(max + 1);
            Err(onshi_wire::WireError::TooLarge { size, max }.into())
        }
    }
}

/// The facility a message is from, as `POST /oqs/v1/qualification` decides it: the client
/// certificate names it, the message's `MedicalInstitutionCode` must be the same, and the
/// facility must be registered and enabled.
pub(crate) async fn authorized_facility(
    state: &AppState,
    peer: &Peer,
    code_in_message: &str,
    now: JstDateTime,
) -> Result<MedicalInstitutionCode, CheckError> {
    let cert_code = peer
        .facility
        .clone()
        .map_err(CheckError::BadClientCertificate)?;
    let code = MedicalInstitutionCode::parse(code_in_message.trim())
        .map_err(|e| CheckError::invalid("ONS2006", "MedicalInstitutionCode", e))?;
    if code != cert_code {
        return Err(CheckError::FacilityMismatch {
            request: code.as_str().into(),
            certificate: cert_code.as_str().into(),
        });
    }
    match state.facilities.get(&state.store, &code, now).await {
        Ok(Some(f)) if f.enabled => Ok(code),
        Ok(Some(_)) => Err(CheckError::DisabledFacility(code.as_str().into())),
        Ok(None) => Err(CheckError::UnknownFacility(code.as_str().into())),
        Err(e) => Err(CheckError::Internal(e.to_string())),
    }
}

/// Renders any message in the request's format (XML in its encoding, or JSON).
pub(crate) fn render_message(
    format: Format,
    status: StatusCode,
    request_id: &str,
    xml: impl FnOnce(Encoding) -> Vec<u8>,
    json: impl FnOnce() -> Vec<u8>,
) -> Response {
    let (bytes, content_type) = match format {
        Format::Json => (json(), "application/json; charset=utf-8"),
        Format::Xml(enc) => (
            xml(enc),
            match enc {
                Encoding::Utf8 => "application/xml; charset=utf-8",
                Encoding::ShiftJis => "application/xml; charset=Shift_JIS",
            },
        ),
    };
    let mut response = (status, bytes).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-request-id", v);
    }
    response
}

/// Logs a refusal at the level its status calls for.
pub(crate) fn log_refusal(what: &str, err: &CheckError) {
    if err.status().is_server_error() {
        tracing::error!(code = err.code(), error = %err, "{what} failed");
    } else {
        tracing::debug!(code = err.code(), error = %err, "{what} refused");
    }
}
