use std::io::Write;
use std::time::Duration;

use super::*;
use crate::nsqd::NsqdOptions;

fn parse(argv: &[&str]) -> ParsedArgs {
    let mut full = vec!["nsqd"];
    full.extend_from_slice(argv);
    NsqdArgs::parse_with_config(full).unwrap()
}

fn config_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

#[test]
fn defaults_map_to_go_defaults() {
    let opts = parse(&[]).args.to_options().unwrap();
    let go = NsqdOptions::default();
    assert_eq!(opts.tcp_address, go.tcp_address);
    assert_eq!(opts.http_address, go.http_address);
    assert_eq!(opts.https_address, go.https_address);
    assert_eq!(opts.mem_queue_size, 10000);
    assert_eq!(opts.max_msg_size, 1048576);
    assert_eq!(opts.max_body_size, 5242880);
    assert_eq!(opts.max_rdy_count, 2500);
    assert_eq!(opts.msg_timeout, Duration::from_secs(60));
    assert_eq!(opts.max_msg_timeout, Duration::from_secs(900));
    assert_eq!(opts.max_req_timeout, Duration::from_secs(3600));
    assert_eq!(opts.max_heartbeat_interval, Duration::from_secs(60));
    assert_eq!(opts.output_buffer_timeout, Duration::from_millis(250));
    assert_eq!(opts.min_output_buffer_timeout, Duration::from_millis(25));
    assert_eq!(opts.max_output_buffer_timeout, Duration::from_secs(30));
    assert_eq!(opts.max_output_buffer_size, 65536);
    assert_eq!(opts.statsd_prefix, "nsq.%s");
    assert_eq!(opts.statsd_udp_packet_size, 508);
    assert!(opts.statsd_mem_stats && opts.snappy && opts.deflate);
    assert_eq!(opts.max_deflate_level, 6);
    assert_eq!(opts.tls_required, TlsRequired::No);
    assert_eq!(opts.tls_min_version, "tls1.0");
    assert_eq!(opts.auth_http_request_method, "get");
    assert_eq!(opts.node_id, go.node_id);
    assert_eq!(opts.broadcast_address, go.broadcast_address);
    assert_eq!(
        opts.data_path,
        std::env::current_dir().unwrap(),
        "Go: working directory"
    );
    let go = NsqdOptions {
        data_path: opts.data_path.clone(),
        ..go
    };
    assert_eq!(opts, go, "every other option equals NsqdOptions::default()");
}

#[test]
fn go_single_dash_and_bool_forms() {
    let p = parse(&[
        "-tcp-address=127.0.0.1:4000",
        "--snappy=false",
        "-deflate=f",
        "--tls-required=tcp-https",
        "--statsd-mem-stats",
        "--log-level=DEBUG",
    ]);
    let opts = p.args.to_options().unwrap();
    assert_eq!(opts.tcp_address, "127.0.0.1:4000".parse().unwrap());
    assert!(!opts.snappy && !opts.deflate && opts.statsd_mem_stats);
    assert_eq!(opts.tls_required, TlsRequired::TcpHttps);
    assert_eq!(opts.log_level, "debug");
    assert!(parse(&["--tls-required"]).args.tls_required == TlsRequired::Yes);
}

#[test]
fn repeatable_and_comma_separated_lists() {
    let p = parse(&[
        "--lookupd-tcp-address=127.0.0.1:4160",
        "--lookupd-tcp-address",
        "127.0.0.1:4161",
        "--e2e-processing-latency-percentile=1.0,0.99",
        "--e2e-processing-latency-percentile=0.5",
    ]);
    assert_eq!(
        p.args.lookupd_tcp_address,
        vec!["127.0.0.1:4160", "127.0.0.1:4161"]
    );
    assert_eq!(
        p.args.e2e_processing_latency_percentile,
        vec![1.0, 0.99, 0.5]
    );
}

#[test]
fn bad_values_are_errors() {
    for argv in [
        vec!["nsqd", "--msg-timeout=soon"],
        vec!["nsqd", "--log-level=loud"],
        vec!["nsqd", "--snappy=maybe"],
        vec!["nsqd", "--e2e-processing-latency-percentile=1.5"],
        vec!["nsqd", "--no-such-flag"],
        vec!["nsqd", "--tls-min-version=tls9"],
    ] {
        assert!(
            NsqdArgs::parse_with_config(argv.clone()).is_err(),
            "{argv:?}"
        );
    }
    let p = parse(&["--node-id=1024"]);
    assert!(matches!(p.args.to_options(), Err(CliError::Invalid(_))));
    let p = parse(&["--max-deflate-level=0"]);
    assert!(matches!(p.args.to_options(), Err(CliError::Invalid(_))));
    let p = parse(&["--tcp-address=nonsense"]);
    assert!(matches!(p.args.to_options(), Err(CliError::Invalid(_))));
}

#[test]
fn config_file_applies_under_command_line() {
    let file = config_file(
        r#"
        mem_queue_size = 7
        msg_timeout = "5s"
        max_req_timeout = 1500
        tcp_address = "127.0.0.1:4000"
        nsqlookupd_tcp_addresses = ["127.0.0.1:4160", "127.0.0.1:4161"]
        e2e_processing_latency_percentiles = [0.99, 0.5]
        snappy = false
        tls_required = "tcp-https"
        id = 42
        log_level = "warn"
        max_msg_size = 100
        no_such_option = 1
        "#,
    );
    let path = file.path().to_str().unwrap();
    let p = parse(&["--config", path, "--max-msg-size=200"]);
    let opts = p.args.to_options().unwrap();
    assert_eq!(opts.mem_queue_size, 7);
    assert_eq!(opts.msg_timeout, Duration::from_secs(5));
    assert_eq!(
        opts.max_req_timeout,
        Duration::from_millis(1500),
        "integer = ms"
    );
    assert_eq!(opts.tcp_address, "127.0.0.1:4000".parse().unwrap());
    assert_eq!(
        opts.lookupd_tcp_address,
        vec!["127.0.0.1:4160", "127.0.0.1:4161"]
    );
    assert_eq!(opts.e2e_processing_latency_percentile, vec![0.99, 0.5]);
    assert!(!opts.snappy);
    assert_eq!(opts.tls_required, TlsRequired::TcpHttps);
    assert_eq!(opts.node_id, 42);
    assert_eq!(opts.log_level, "warn");
    assert_eq!(opts.max_msg_size, 200, "command line wins over config");
    assert_eq!(p.notes.len(), 1, "unknown key noted: {:?}", p.notes);
    assert!(p.notes[0].contains("no_such_option"));
    assert!(p.args.is_explicit("mem_queue_size") && !p.args.is_explicit("sync_every"));
}

#[test]
fn command_line_list_replaces_config_list() {
    let file = config_file(r#"nsqlookupd_tcp_addresses = ["127.0.0.1:1"]"#);
    let path = file.path().to_str().unwrap();
    let p = parse(&["--config", path, "--lookupd-tcp-address=127.0.0.1:2"]);
    assert_eq!(p.args.lookupd_tcp_address, vec!["127.0.0.1:2"]);
}

#[test]
fn config_file_errors() {
    let missing = NsqdArgs::parse_with_config(["nsqd", "--config", "/nonexistent/nsqd.toml"]);
    assert!(matches!(missing, Err(CliError::ConfigRead { .. })));
    let file = config_file("mem_queue_size = ");
    let path = file.path().to_str().unwrap();
    let bad = NsqdArgs::parse_with_config(["nsqd", "--config", path]);
    assert!(matches!(bad, Err(CliError::ConfigParse { .. })));
    let file = config_file("mem_queue_size = \"lots\"");
    let path = file.path().to_str().unwrap();
    assert!(matches!(
        NsqdArgs::parse_with_config(["nsqd", "--config", path]),
        Err(CliError::Clap(_))
    ));
    let file = config_file("[section]\nx = 1\nmem_queue_size = 1");
    let path = file.path().to_str().unwrap();
    let parsed = NsqdArgs::parse_with_config(["nsqd", "--config", path]).unwrap();
    assert_eq!(
        parsed.notes.len(),
        1,
        "a table key is unknown: {:?}",
        parsed.notes
    );
}

#[test]
fn inactive_features_warn_only_when_set() {
    assert!(inactive_feature_warnings(&parse(&[]).args).is_empty());
    let warnings = inactive_feature_warnings(
        &parse(&["--statsd-address=127.0.0.1:8125", "--topology-zone=z"]).args,
    );
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("--statsd-address")));
    // nsqlookupd registration is implemented: its flag no longer warns.
    let lookupd = parse(&["--lookupd-tcp-address=127.0.0.1:4160"]).args;
    assert!(inactive_feature_warnings(&lookupd).is_empty());
}

#[test]
fn help_lists_go_flag_names() {
    let help = NsqdArgs::command().render_long_help().to_string();
    for flag in [
        "--tcp-address",
        "--http-address",
        "--mem-queue-size",
        "--max-rdy-count",
        "--lookupd-tcp-address",
        "--e2e-processing-latency-percentile",
        "--tls-required",
        "--config",
        "--version",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn sync_ack_flag_is_off_by_default() {
    assert!(!parse(&[]).args.to_options().unwrap().sync_ack);
    assert!(parse(&["--sync-ack"]).args.to_options().unwrap().sync_ack);
    assert!(
        !parse(&["--sync-ack=false"])
            .args
            .to_options()
            .unwrap()
            .sync_ack
    );
}
