#!/usr/bin/env python3
"""Consumes messages with pynsq's Reader; the Rust interop tests drive it against our brokers.

Where to read (at least one, each repeatable):
  --nsqd host:port           connect to this nsqd's TCP address
  --lookupd-http host:port   discover nsqd through this nsqlookupd (polled every --poll-interval s)
What to do with each message (default: finish it at once):
  --requeue-first            requeue a message seen with attempts == 1 (REQ, delay 0, no backoff),
                             so it must come back with attempts == 2 before it is finished
  --touch N                  hold it N+1 periods of --touch-every-ms, with a TOUCH after each of
                             the first N; with --msg-timeout-ms shorter than the hold time, a
                             broker that ignored TOUCH would time the message out and redeliver it
Connection: --tls-ca FILE (tls_v1, server verified against the CA), --deflate, --snappy,
  --auth-secret S, --msg-timeout-ms MS (IDENTIFY msg_timeout), --max-in-flight N (default 10).

Runs until --expect messages were finished AND --expect-nsqd distinct nsqd were connected, then
prints exactly one JSON line on stdout and exits 0:
  {"ok": true, "deliveries": [{"id": "...", "attempts": 1, "body_hex": "...",
                                "timestamp_ms": <publish time>, "received_ms": <now>}, ...],
   "finished": ["<body_hex>", ...], "nsqd": ["host:port", ...]}
After --timeout seconds it prints {"ok": false, "error": "timeout", ...} instead and exits 2.
"""
import argparse
import binascii
import json
import logging
import ssl
import sys
import time

import tornado.ioloop

import nsq


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nsqd", action="append", default=[], help="nsqd TCP host:port")
    parser.add_argument("--lookupd-http", action="append", default=[],
                        help="nsqlookupd HTTP host:port")
    parser.add_argument("--poll-interval", type=int, default=1, help="lookupd poll (s)")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--expect", type=int, required=True, help="messages to finish")
    parser.add_argument("--expect-nsqd", type=int, default=1, help="distinct nsqd to reach")
    parser.add_argument("--requeue-first", action="store_true")
    parser.add_argument("--touch", type=int, default=0, help="TOUCHes per message")
    parser.add_argument("--touch-every-ms", type=int, default=400)
    parser.add_argument("--msg-timeout-ms", type=int, default=None)
    parser.add_argument("--max-in-flight", type=int, default=10)
    parser.add_argument("--tls-ca", help="CA file: connect with tls_v1 and verify the server")
    parser.add_argument("--deflate", action="store_true")
    parser.add_argument("--snappy", action="store_true")
    parser.add_argument("--auth-secret")
    parser.add_argument("--timeout", type=float, default=30.0, help="give up after seconds")
    args = parser.parse_args()
    if not args.nsqd and not args.lookupd_http:
        parser.error("give --nsqd or --lookupd-http")
    return args


def reader_options(args):
    """The nsq.Reader keyword arguments for the addresses and connection flags."""
    options = {"max_in_flight": args.max_in_flight}
    if args.nsqd:
        options["nsqd_tcp_addresses"] = args.nsqd
    if args.lookupd_http:
        options["lookupd_http_addresses"] = ["http://%s" % a for a in args.lookupd_http]
        options["lookupd_poll_interval"] = args.poll_interval
    if args.msg_timeout_ms:
        options["msg_timeout"] = args.msg_timeout_ms / 1000.0
    if args.tls_ca:
        options["tls_v1"] = True
        options["tls_options"] = {"ca_certs": args.tls_ca, "cert_reqs": ssl.CERT_REQUIRED}
    if args.deflate:
        options["deflate"] = True
    if args.snappy:
        options["snappy"] = True
    if args.auth_secret:
        options["auth_secret"] = args.auth_secret
    return options


def main():
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    args = parse_args()
    loop = tornado.ioloop.IOLoop.current()
    deliveries = []
    finished = []
    nsqds = set()
    outcome = {"code": 2}
    readers = []

    def report(ok, code, error=None):
        if "printed" in outcome:
            return
        outcome["printed"] = True
        outcome["code"] = code
        result = {"ok": ok, "deliveries": deliveries, "finished": finished,
                  "nsqd": sorted(nsqds)}
        if error:
            result["error"] = error
        print(json.dumps(result), flush=True)
        loop.stop()

    def note_connections():
        for reader in readers:
            for conn in reader.conns.values():
                nsqds.add("%s:%s" % (conn.host, conn.port))

    def check_done():
        note_connections()
        if len(finished) >= args.expect and len(nsqds) >= args.expect_nsqd:
            # Give the FIN frames time to leave the socket before the loop stops.
            loop.call_later(0.3, lambda: report(True, 0))
        else:
            loop.call_later(0.1, check_done)

    def finish_message(message):
        message.finish()
        finished.append(binascii.hexlify(message.body).decode())

    def hold_and_touch(message, touches_left):
        if touches_left > 0:
            message.touch()
            loop.call_later(args.touch_every_ms / 1000.0,
                            lambda: hold_and_touch(message, touches_left - 1))
        else:
            finish_message(message)

    def handler(message):
        message.enable_async()
        note_connections()
        deliveries.append({
            "id": message.id.decode("ascii", "replace"),
            "attempts": message.attempts,
            "body_hex": binascii.hexlify(message.body).decode(),
            "timestamp_ms": message.timestamp // 1000000,
            "received_ms": int(time.time() * 1000),
        })
        if args.requeue_first and message.attempts == 1:
            message.requeue(delay=0, backoff=False)
        elif args.touch > 0:
            loop.call_later(args.touch_every_ms / 1000.0,
                            lambda: hold_and_touch(message, args.touch))
        else:
            finish_message(message)

    readers.append(nsq.Reader(
        topic=args.topic,
        channel=args.channel,
        message_handler=handler,
        **reader_options(args)
    ))
    loop.call_later(0.1, check_done)
    loop.call_later(args.timeout, lambda: report(False, 2, "timeout"))
    loop.start()
    sys.exit(outcome["code"])


if __name__ == "__main__":
    main()
