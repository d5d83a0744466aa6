#!/usr/bin/env node
// Consumes messages from one nsqd with nsqjs's Reader, optionally requeueing and touching.
// Driven by the Rust interop tests.
//
// usage: node nsqjs_reader.js --nsqd host:port --topic t --channel c --expect N
//          [--requeue-first] [--touch N] [--touch-every-ms MS] [--msg-timeout-ms MS]
//          [--max-in-flight N] [--timeout S]
// Runs until N messages are finished, then prints exactly one JSON line:
//   {"ok": true, "deliveries": [{"id", "attempts", "body_hex", "timestamp_ms", "received_ms"}...],
//    "finished": [hex...]}
// --requeue-first: a message seen with attempts == 1 is requeued (delay 0, no backoff).
// --touch N: each message is held N+1 periods, with a TOUCH after each of the first N.
'use strict'

const nsq = require('nsqjs')

function parseArgs(argv) {
  const args = {
    requeueFirst: false, touch: 0, touchEveryMs: 400, msgTimeoutMs: null,
    maxInFlight: 10, timeout: 20,
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--nsqd') args.nsqd = argv[++i]
    else if (arg === '--topic') args.topic = argv[++i]
    else if (arg === '--channel') args.channel = argv[++i]
    else if (arg === '--expect') args.expect = Number(argv[++i])
    else if (arg === '--requeue-first') args.requeueFirst = true
    else if (arg === '--touch') args.touch = Number(argv[++i])
    else if (arg === '--touch-every-ms') args.touchEveryMs = Number(argv[++i])
    else if (arg === '--msg-timeout-ms') args.msgTimeoutMs = Number(argv[++i])
    else if (arg === '--max-in-flight') args.maxInFlight = Number(argv[++i])
    else if (arg === '--timeout') args.timeout = Number(argv[++i])
    else throw new Error(`unknown argument ${arg}`)
  }
  if (!args.nsqd || !args.topic || !args.channel || !(args.expect > 0)) {
    throw new Error('usage: --nsqd host:port --topic t --channel c --expect N')
  }
  return args
}

function main() {
  const args = parseArgs(process.argv.slice(2))
  const options = { nsqdTCPAddresses: [args.nsqd], maxInFlight: args.maxInFlight }
  if (args.msgTimeoutMs) options.messageTimeout = args.msgTimeoutMs
  const reader = new nsq.Reader(args.topic, args.channel, options)
  const deliveries = []
  const finished = []
  let done = false

  function report(result, code) {
    if (done) return
    done = true
    process.stdout.write(JSON.stringify(result) + '\n', () => {
      reader.close()
      process.exit(code)
    })
  }

  setTimeout(() => report({ ok: false, error: 'timeout', deliveries, finished }, 2),
    args.timeout * 1000)

  function finishMessage(msg) {
    msg.finish()
    finished.push(msg.body.toString('hex'))
    if (finished.length >= args.expect) {
      // Give the FIN frames time to leave the socket before exiting.
      setTimeout(() => report({ ok: true, deliveries, finished }, 0), 300)
    }
  }

  function holdAndTouch(msg, touchesLeft) {
    if (touchesLeft > 0) {
      msg.touch()
      setTimeout(() => holdAndTouch(msg, touchesLeft - 1), args.touchEveryMs)
    } else {
      finishMessage(msg)
    }
  }

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
  reader.on('error', (err) => report({ ok: false, error: String(err), deliveries, finished }, 1))
  reader.connect()
}

main()
