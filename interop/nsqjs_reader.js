#!/usr/bin/env node
// Consumes messages with nsqjs's Reader; the Rust interop tests drive it against our brokers.
//
// usage: node nsqjs_reader.js (--nsqd host:port | --lookupd-http host:port)...
//          --topic t --channel c --expect N [--expect-nsqd K] [--poll-interval S]
//          [--requeue-first] [--touch N] [--touch-every-ms MS] [--msg-timeout-ms MS]
//          [--max-in-flight N] [--tls-ca file] [--deflate] [--snappy] [--auth-secret s]
//          [--timeout S]
// --nsqd connects to that nsqd; --lookupd-http discovers nsqd through that nsqlookupd (polled
// every --poll-interval s). Both are repeatable.
// --requeue-first: a message seen with attempts == 1 is requeued (delay 0, no backoff).
// --touch N: each message is held N+1 periods of --touch-every-ms, with a TOUCH after each of
// the first N. --tls-ca: TLS, server verified against that CA.
// Runs until N messages are finished and K distinct nsqd (default 1) were connected, then
// prints exactly one JSON line and exits 0:
//   {"ok": true, "deliveries": [{"id", "attempts", "body_hex", "timestamp_ms", "received_ms"}...],
//    "finished": [hex...], "nsqd": ["host:port", ...]}
// On timeout {"ok": false, "error": "timeout", ...} (exit 2); on a reader error with --nsqd
// {"ok": false, "error": ...} (exit 1). With only --lookupd-http, reader errors are logged to
// stderr and discovery goes on.
'use strict'

const fs = require('fs')
const nsq = require('nsqjs')

function parseArgs(argv) {
  const args = {
    nsqd: [], lookupd: [], expectNsqd: 1, pollInterval: 1, requeueFirst: false, touch: 0,
    touchEveryMs: 400, msgTimeoutMs: null, maxInFlight: 10, deflate: false, snappy: false,
    timeout: 30,
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--nsqd') args.nsqd.push(argv[++i])
    else if (arg === '--lookupd-http') args.lookupd.push(argv[++i])
    else if (arg === '--poll-interval') args.pollInterval = Number(argv[++i])
    else if (arg === '--topic') args.topic = argv[++i]
    else if (arg === '--channel') args.channel = argv[++i]
    else if (arg === '--expect') args.expect = Number(argv[++i])
    else if (arg === '--expect-nsqd') args.expectNsqd = Number(argv[++i])
    else if (arg === '--requeue-first') args.requeueFirst = true
    else if (arg === '--touch') args.touch = Number(argv[++i])
    else if (arg === '--touch-every-ms') args.touchEveryMs = Number(argv[++i])
    else if (arg === '--msg-timeout-ms') args.msgTimeoutMs = Number(argv[++i])
    else if (arg === '--max-in-flight') args.maxInFlight = Number(argv[++i])
    else if (arg === '--tls-ca') args.tlsCa = argv[++i]
    else if (arg === '--deflate') args.deflate = true
    else if (arg === '--snappy') args.snappy = true
    else if (arg === '--auth-secret') args.authSecret = argv[++i]
    else if (arg === '--timeout') args.timeout = Number(argv[++i])
    else throw new Error(`unknown argument ${arg}`)
  }
  if (args.nsqd.length + args.lookupd.length === 0 || !args.topic || !args.channel ||
      !(args.expect > 0)) {
    throw new Error('usage: (--nsqd | --lookupd-http) host:port --topic t --channel c --expect N')
  }
  return args
}

// The nsqjs Reader options for the addresses and connection flags.
function readerOptions(args) {
  const options = { maxInFlight: args.maxInFlight }
  if (args.nsqd.length > 0) options.nsqdTCPAddresses = args.nsqd
  if (args.lookupd.length > 0) {
    options.lookupdHTTPAddresses = args.lookupd
    options.lookupdPollInterval = args.pollInterval
  }
  if (args.msgTimeoutMs) options.messageTimeout = args.msgTimeoutMs
  if (args.tlsCa) {
    options.tls = true
    options.tlsVerification = true
    options.ca = fs.readFileSync(args.tlsCa)
  }
  if (args.deflate) options.deflate = true
  if (args.snappy) options.snappy = true
  if (args.authSecret) options.authSecret = args.authSecret
  return options
}

function main() {
  const args = parseArgs(process.argv.slice(2))
  const reader = new nsq.Reader(args.topic, args.channel, readerOptions(args))
  const deliveries = []
  const finished = []
  const nsqds = new Set()
  let done = false

  function report(ok, code, error) {
    if (done) return
    done = true
    const result = { ok, deliveries, finished, nsqd: [...nsqds].sort() }
    if (error) result.error = error
    process.stdout.write(JSON.stringify(result) + '\n', () => {
      reader.close()
      process.exit(code)
    })
  }

  function check() {
    if (finished.length >= args.expect && nsqds.size >= args.expectNsqd) {
      // Give the FIN frames time to leave the socket before exiting.
      setTimeout(() => report(true, 0), 300)
    }
  }

  setTimeout(() => report(false, 2, 'timeout'), args.timeout * 1000)

  function finishMessage(msg) {
    msg.finish()
    finished.push(msg.body.toString('hex'))
    check()
  }

  function holdAndTouch(msg, touchesLeft) {
    if (touchesLeft > 0) {
      msg.touch()
      setTimeout(() => holdAndTouch(msg, touchesLeft - 1), args.touchEveryMs)
    } else {
      finishMessage(msg)
    }
  }

  reader.on('nsqd_connected', (host, port) => {
    nsqds.add(`${host}:${port}`)
    check()
  })
  reader.on('message', (msg) => {
    deliveries.push({
      id: msg.id,
      attempts: msg.attempts,
      body_hex: msg.body.toString('hex'),
      timestamp_ms: Number(msg.timestamp / 1000000n),
      received_ms: Date.now(),
    })
    if (args.requeueFirst && msg.attempts === 1) {
      msg.requeue(0, false)
    } else if (args.touch > 0) {
      setTimeout(() => holdAndTouch(msg, args.touch), args.touchEveryMs)
    } else {
      finishMessage(msg)
    }
  })
  reader.on('error', (err) => {
    if (args.nsqd.length > 0) report(false, 1, String(err))
    else process.stderr.write(`reader error: ${err}\n`)
  })
  reader.connect()
}

main()
