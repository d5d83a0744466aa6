#!/usr/bin/env python3
"""Consumes messages from one nsqd with pynsq's Reader, optionally requeueing and touching.

Driven by the Rust interop tests. Runs until --expect messages have been finished, then prints
exactly one JSON line on stdout:
  {"ok": true, "deliveries": [{"id": "...", "attempts": 1, "body_hex": "...",
                                "timestamp_ms": <publish time>, "received_ms": <now>}, ...],
   "finished": ["<body_hex>", ...]}
and exits 0; on timeout prints {"ok": false, "error": "timeout", ...} and exits 2.

--requeue-first: every message seen with attempts == 1 is requeued (REQ, delay 0, no backoff),
so it must come back with attempts == 2 before it is finished.
--touch N: each message is held for N+1 periods of --touch-every seconds, sending TOUCH after
each of the first N periods; with --msg-timeout shorter than the hold time, a broker that
ignored TOUCH would time the message out and redeliver it.
"""
import argparse
import binascii
import json
import logging
import sys
import time

import tornado.ioloop

import nsq


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nsqd", required=True, help="nsqd TCP address host:port")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--expect", type=int, required=True, help="messages to finish")
    parser.add_argument("--requeue-first", action="store_true")
    parser.add_argument("--touch", type=int, default=0, help="TOUCHes per message")
    parser.add_argument("--touch-every", type=float, default=0.4, help="seconds between TOUCHes")
    parser.add_argument("--msg-timeout", type=float, default=None, help="IDENTIFY msg_timeout (s)")
    parser.add_argument("--max-in-flight", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=20.0, help="give up after seconds")
    return parser.parse_args()


def main():
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    args = parse_args()
    loop = tornado.ioloop.IOLoop.current()
    deliveries = []
    finished = []
    outcome = {"code": 2}

    def report(ok, code, error=None):
        if "printed" in outcome:
            return
        outcome["printed"] = True
        outcome["code"] = code
        result = {"ok": ok, "deliveries": deliveries, "finished": finished}
        if error:
            result["error"] = error
        print(json.dumps(result), flush=True)
        loop.stop()

    def finish_message(message):
        message.finish()
        finished.append(binascii.hexlify(message.body).decode())
        if len(finished) >= args.expect:
            # Give the FIN frames time to leave the socket before the loop stops.
            loop.call_later(0.3, lambda: report(True, 0))

    def hold_and_touch(message, touches_left):
        if touches_left > 0:
            message.touch()
            loop.call_later(args.touch_every, lambda: hold_and_touch(message, touches_left - 1))
        else:
            finish_message(message)

    def handler(message):
        message.enable_async()
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
            loop.call_later(args.touch_every, lambda: hold_and_touch(message, args.touch))
        else:
            finish_message(message)

    nsq.Reader(
        topic=args.topic,
        channel=args.channel,
        message_handler=handler,
        nsqd_tcp_addresses=[args.nsqd],
        max_in_flight=args.max_in_flight,
        msg_timeout=args.msg_timeout,
    )
    loop.call_later(args.timeout, lambda: report(False, 2, "timeout"))
    loop.start()
    sys.exit(outcome["code"])


if __name__ == "__main__":
    main()
