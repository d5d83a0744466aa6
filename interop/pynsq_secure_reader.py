#!/usr/bin/env python3
"""Consumes --expect messages with pynsq's Reader over TLS / deflate / snappy / AUTH.

Driven by broker/tests/interop_security.rs. Prints one JSON line
{"ok": true, "finished": ["<body_hex>", ...]} and exits 0, or {"ok": false, "error": ...}
and exits 2 on timeout or a connection error.
"""
import argparse
import binascii
import json
import logging
import ssl
import sys

import tornado.ioloop

import nsq


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nsqd", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--tls-ca", help="CA file: connect with tls_v1 and verify the server")
    parser.add_argument("--deflate", action="store_true")
    parser.add_argument("--snappy", action="store_true")
    parser.add_argument("--auth-secret")
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    loop = tornado.ioloop.IOLoop.current()
    finished = []
    outcome = {"code": 2}

    def report(ok, code, error=None):
        if "printed" in outcome:
            return
        outcome["printed"] = True
        outcome["code"] = code
        result = {"ok": ok, "finished": finished}
        if error:
            result["error"] = error
        print(json.dumps(result), flush=True)
        loop.stop()

    def handler(message):
        finished.append(binascii.hexlify(message.body).decode())
        if len(finished) >= args.expect:
            loop.call_later(0.3, lambda: report(True, 0))
        return True

    options = {}
    if args.tls_ca:
        options["tls_v1"] = True
        options["tls_options"] = {"ca_certs": args.tls_ca, "cert_reqs": ssl.CERT_REQUIRED}
    if args.deflate:
        options["deflate"] = True
    if args.snappy:
        options["snappy"] = True
    if args.auth_secret:
        options["auth_secret"] = args.auth_secret
    nsq.Reader(
        topic=args.topic,
        channel=args.channel,
        message_handler=handler,
        nsqd_tcp_addresses=[args.nsqd],
        max_in_flight=10,
        **options
    )

    loop.call_later(args.timeout, lambda: report(False, 2, "timeout"))
    loop.start()
    sys.exit(outcome["code"])


if __name__ == "__main__":
    main()
