#!/usr/bin/env python3
"""Publishes messages to one nsqd with pynsq's Writer (PUB, MPUB or DPUB).

Driven by the Rust interop tests. Bodies are given as hex so any bytes survive the
command line. Prints exactly one JSON line on stdout:
  {"ok": true, "responses": ["OK", ...]}
  {"ok": false, "error": "...", "responses": [...]}
and exits 0 on success, 1 on a publish error, 2 on timeout.
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
    parser.add_argument("--nsqd", required=True, help="nsqd TCP address host:port")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--mode", choices=["pub", "mpub", "dpub"], required=True)
    parser.add_argument("--delay-ms", type=int, default=0, help="DPUB delay")
    parser.add_argument("--timeout", type=float, default=20.0, help="give up after seconds")
    parser.add_argument("bodies_hex", nargs="+", help="message bodies, hex encoded")
    return parser.parse_args()


def main():
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    args = parse_args()
    bodies = [binascii.unhexlify(h) for h in args.bodies_hex]
    loop = tornado.ioloop.IOLoop.current()
    writer = nsq.Writer([args.nsqd], reconnect_interval=0.5)
    responses = []
    outcome = {"code": 2}

    def finish(result, code):
        if "printed" in outcome:
            return
        outcome["printed"] = True
        outcome["code"] = code
        print(json.dumps(result), flush=True)
        loop.stop()

    # PUB and DPUB send one command per body; MPUB sends all bodies in one command.
    if args.mode == "mpub":
        pending = [bodies]
    else:
        pending = list(bodies)

    def on_response(conn, data):
        if isinstance(data, Exception):
            finish({"ok": False, "error": str(data), "responses": responses}, 1)
            return
        responses.append(data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data))
        publish_next()

    def publish_next():
        if not pending:
            finish({"ok": True, "responses": responses}, 0)
            return
        item = pending.pop(0)
        if args.mode == "pub":
            writer.pub(args.topic, item, callback=on_response)
        elif args.mode == "mpub":
            writer.mpub(args.topic, item, callback=on_response)
        else:
            writer.dpub(args.topic, args.delay_ms, item, callback=on_response)

    def wait_connected():
        if any(conn.connected() for conn in writer.conns.values()):
            publish_next()
        else:
            loop.call_later(0.05, wait_connected)

    def on_timeout():
        finish({"ok": False, "error": "timeout", "responses": responses}, 2)

    loop.call_later(0.05, wait_connected)
    loop.call_later(args.timeout, on_timeout)
    loop.start()
    sys.exit(outcome["code"])


if __name__ == "__main__":
    main()
