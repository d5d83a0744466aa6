//! IDENTIFY: validates the client's settings in nsqd's order, applies them and answers
//! `OK` or the negotiated-features JSON, and records which stream upgrades (TLS, snappy,
//! deflate) follow the reply (performed by `upgrade`).

use std::time::Duration;

use bytes::Bytes;
use nsq_wire::error::ErrorCode;
use nsq_wire::identify::{IdentifyRequest, IdentifyResponse};

use super::client::ClientSettings;
use super::connection::Conn;
use super::errors::ProtocolError;
use super::options::{NsqdOptions, VERSION};
use super::transport::Upgrade;

/// Handles an IDENTIFY body.
pub(super) fn identify(conn: &mut Conn, body: &[u8]) -> Result<Option<Bytes>, ProtocolError> {
    let req = IdentifyRequest::from_json(body).map_err(|_| {
        ProtocolError::new(ErrorCode::BadBody, "IDENTIFY failed to decode JSON body")
    })?;
    let opts = conn.ctx.options().clone();
    let settings = negotiate(&opts, &conn.settings, &req)
        .map_err(|reason| ProtocolError::new(ErrorCode::BadBody, format!("IDENTIFY {reason}")))?;
    {
        let mut info = conn.client.info.lock();
        info.client_id = req.client_id.clone().unwrap_or_default();
        info.hostname = req.hostname.clone().unwrap_or_default();
        info.user_agent = req.user_agent.clone().unwrap_or_default();
        info.topology_region = req.topology_region.clone().unwrap_or_default();
        info.topology_zone = req.topology_zone.clone().unwrap_or_default();
        info.sample_rate = settings.sample_rate;
    }
    let heartbeat_changed = settings.heartbeat_interval != conn.settings.heartbeat_interval;
    conn.settings = settings;
    if heartbeat_changed {
        conn.reset_heartbeat();
    }
    if !req.feature_negotiation.unwrap_or(false) {
        return Ok(Some(Bytes::from_static(nsq_wire::OK)));
    }
    // A repeated IDENTIFY cannot stack a second TLS layer or compressor.
    let tls =
        conn.security.tls.is_some() && req.tls_v1.unwrap_or(false) && conn.stream.tls().is_none();
    let compressible = !conn.stream.is_compressed();
    let deflate = compressible && opts.deflate && req.deflate.unwrap_or(false);
    let snappy = compressible && opts.snappy && req.snappy.unwrap_or(false);
    if deflate && snappy {
        return Err(ProtocolError::new(
            ErrorCode::IdentifyFailed,
            "cannot enable both deflate and snappy compression",
        ));
    }
    let requested_level = req.deflate_level.unwrap_or(0);
    let deflate_level = if deflate && requested_level > 0 {
        requested_level
    } else {
        6
    }
    .min(opts.max_deflate_level);
    let upgrade = Upgrade {
        tls,
        snappy,
        deflate: deflate.then(|| deflate_level.clamp(1, 9) as u8),
    };
    let mut response = response(&opts, &conn.settings);
    response.tls_v1 = tls;
    response.snappy = snappy;
    response.deflate = deflate;
    response.deflate_level = deflate_level;
    response.auth_required = conn.security.auth.is_some();
    if upgrade.any() {
        conn.upgrade = Some(upgrade);
    }
    Ok(Some(Bytes::from(response.to_json())))
}

/// Applies the request's settings on top of `current`; `Err` holds nsqd's reason text.
pub(super) fn negotiate(
    opts: &NsqdOptions,
    current: &ClientSettings,
    req: &IdentifyRequest,
) -> Result<ClientSettings, String> {
    let mut s = current.clone();
    let ms = |d: Duration| d.as_millis() as i64;

    match req.heartbeat_interval.unwrap_or(0) {
        -1 => s.heartbeat_interval = None,
        0 => s.heartbeat_interval = Some(opts.default_heartbeat_interval()),
        v if v >= 1000 && v <= ms(opts.max_heartbeat_interval) => {
            s.heartbeat_interval = Some(Duration::from_millis(v as u64));
        }
        v => return Err(format!("heartbeat interval ({v}) is invalid")),
    }

    let timeout = req.output_buffer_timeout.unwrap_or(0);
    match timeout {
        -1 => s.output_buffer_timeout = Duration::ZERO,
        0 => {}
        v if v >= ms(opts.min_output_buffer_timeout) && v <= ms(opts.max_output_buffer_timeout) => {
            s.output_buffer_timeout = Duration::from_millis(v as u64);
        }
        v => return Err(format!("output buffer timeout ({v}) is invalid")),
    }
    match req.output_buffer_size.unwrap_or(0) {
        -1 => {
            s.output_buffer_size = 1;
            s.output_buffer_timeout = Duration::ZERO;
        }
        0 => {}
        v if v >= 64 && v <= opts.max_output_buffer_size => s.output_buffer_size = v,
        v => return Err(format!("output buffer size ({v}) is invalid")),
    }

    match req.sample_rate.unwrap_or(0) {
        v if !(0..=99).contains(&v) => return Err(format!("sample rate ({v}) is invalid")),
        v => s.sample_rate = v,
    }

    match req.msg_timeout.unwrap_or(0) {
        0 => s.msg_timeout = opts.msg_timeout,
        v if v >= 1000 && v <= ms(opts.max_msg_timeout) => {
            s.msg_timeout = Duration::from_millis(v as u64);
        }
        v => return Err(format!("msg timeout ({v}) is invalid")),
    }
    Ok(s)
}

/// The negotiated-features reply without the negotiated upgrades and auth flag.
fn response(opts: &NsqdOptions, s: &ClientSettings) -> IdentifyResponse {
    let deflate_level = 6.min(opts.max_deflate_level);
    IdentifyResponse {
        max_rdy_count: opts.max_rdy_count,
        version: VERSION.to_owned(),
        max_msg_timeout: opts.max_msg_timeout.as_millis() as i64,
        msg_timeout: s.msg_timeout.as_millis() as i64,
        tls_v1: false,
        deflate: false,
        deflate_level,
        max_deflate_level: opts.max_deflate_level,
        snappy: false,
        sample_rate: s.sample_rate,
        auth_required: false,
        output_buffer_size: s.output_buffer_size,
        output_buffer_timeout: s.output_buffer_timeout.as_millis() as i64,
        topology_region: opts.topology_region.clone(),
        topology_zone: opts.topology_zone.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nsqd::options::DEFAULT_OUTPUT_BUFFER_SIZE;

    fn defaults(opts: &NsqdOptions) -> ClientSettings {
        ClientSettings {
            heartbeat_interval: Some(opts.default_heartbeat_interval()),
            msg_timeout: opts.msg_timeout,
            sample_rate: 0,
            output_buffer_size: DEFAULT_OUTPUT_BUFFER_SIZE,
            output_buffer_timeout: opts.output_buffer_timeout,
        }
    }

    fn reason(json: &str) -> String {
        let opts = NsqdOptions::default();
        let req = IdentifyRequest::from_json(json.as_bytes()).unwrap();
        negotiate(&opts, &defaults(&opts), &req).unwrap_err()
    }

    #[test]
    fn range_errors_in_nsqd_order() {
        assert_eq!(
            reason(r#"{"heartbeat_interval":500}"#),
            "heartbeat interval (500) is invalid"
        );
        assert_eq!(
            reason(r#"{"output_buffer_timeout":1}"#),
            "output buffer timeout (1) is invalid"
        );
        assert_eq!(
            reason(r#"{"output_buffer_size":10}"#),
            "output buffer size (10) is invalid"
        );
        assert_eq!(
            reason(r#"{"sample_rate":100}"#),
            "sample rate (100) is invalid"
        );
        assert_eq!(
            reason(r#"{"msg_timeout":999}"#),
            "msg timeout (999) is invalid"
        );
        assert_eq!(
            reason(r#"{"heartbeat_interval":1,"msg_timeout":1}"#),
            "heartbeat interval (1) is invalid"
        );
    }

    #[test]
    fn unbuffered_forces_size_one_and_no_timer() {
        let opts = NsqdOptions::default();
        let req = IdentifyRequest::from_json(
            br#"{"msg_timeout":5000,"output_buffer_size":-1,"sample_rate":50}"#,
        )
        .unwrap();
        let s = negotiate(&opts, &defaults(&opts), &req).unwrap();
        let resp = response(&opts, &s);
        assert_eq!(resp.msg_timeout, 5000);
        assert_eq!(resp.output_buffer_size, 1);
        assert_eq!(resp.output_buffer_timeout, 0);
        assert_eq!(resp.sample_rate, 50);
        assert_eq!(resp.max_rdy_count, 2500);
        assert_eq!(resp.max_msg_timeout, 900_000);
    }
}
