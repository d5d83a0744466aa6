#!/usr/bin/env python3
"""Consumes messages with pynsq's Reader given ONLY nsqlookupd HTTP addresses (discovery).

Driven by the Rust lookupd interop tests. The Reader queries /lookup, connects to every
producer it finds (broadcast_address:tcp_port) and finishes messages. Runs until --expect
messages have been finished AND at least --expect-nsqd distinct nsqd connections were made,
then prints exactly one JSON line on stdout:
  {"ok": true, "finished": ["<body_hex>", ...], "nsqd": ["host:port", ...]}
and exits 0; on timeout prints {"ok": false, "error": "timeout", ...} and exits 2.
"""
import argparse
import binascii
import json
import logging
import sys

import tornado.ioloop

import nsq


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lookupd-http", action="append", required=True,
                        help="nsqlookupd HTTP address host:port (repeatable)")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--expect", type=int, required=True, help="messages to finish")
    parser.add_argument("--expect-nsqd", type=int, default=1, help="distinct nsqd to reach")
    parser.add_argument("--poll-interval", type=int, default=1, help="lookupd poll (s)")
    parser.add_argument("--timeout", type=float, default=30.0, help="give up after seconds")
    return parser.parse_args()


def main():
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    args = parse_args()
    loop = tornado.ioloop.IOLoop.current()
    finished = []
    nsqds = set()
    outcome = {"code": 2}
    readers = []

    def report(ok, code, error=None):
        if "printed" in outcome:
            return
        outcome["printed"] = True
        outcome["code"] = code
        result = {"ok": ok, "finished": finished, "nsqd": sorted(nsqds)}
        if error:
            result["error"] = error
        print(json.dumps(result), flush=True)
        loop.stop()

    def connected():
        for reader in readers:
            for conn in reader.conns.values():
                nsqds.add("%s:%s" % (conn.host, conn.port))

    def check_done():
        connected()
        if len(finished) >= args.expect and len(nsqds) >= args.expect_nsqd:
            # Give the FIN frames time to leave the socket before the loop stops.
            loop.call_later(0.3, lambda: report(True, 0))
        else:
            loop.call_later(0.1, check_done)

    def handler(message):
        finished.append(binascii.hexlify(message.body).decode())
        connected()
        return True

    readers.append(nsq.Reader(
        topic=args.topic,
        channel=args.channel,
        message_handler=handler,
        lookupd_http_addresses=["http://%s" % a for a in args.lookupd_http],
        lookupd_poll_interval=args.poll_interval,
        max_in_flight=10,
    ))
    loop.call_later(0.1, check_done)
    loop.call_later(args.timeout, lambda: report(False, 2, "timeout"))
    loop.start()
    sys.exit(outcome["code"])


if __name__ == "__main__":
    main()
