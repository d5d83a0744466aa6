#!/usr/bin/env node
// Consumes messages with nsqjs's Reader given ONLY nsqlookupd HTTP addresses (discovery).
// Driven by the Rust lookupd interop tests.
//
// usage: node nsqjs_lookupd_reader.js --lookupd-http host:port [--lookupd-http ...]
//          --topic t --channel c --expect N [--expect-nsqd K] [--poll-interval S] [--timeout S]
// Runs until N messages are finished and K distinct nsqd were connected, then prints exactly
// one JSON line: {"ok": true, "finished": [hex...], "nsqd": ["host:port", ...]} and exits 0;
// on timeout {"ok": false, "error": "timeout", ...} and exits 2.
'use strict'

const nsq = require('nsqjs')

function parseArgs(argv) {
  const args = { lookupd: [], expectNsqd: 1, pollInterval: 1, timeout: 30 }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--lookupd-http') args.lookupd.push(argv[++i])
    else if (arg === '--topic') args.topic = argv[++i]
    else if (arg === '--channel') args.channel = argv[++i]
    else if (arg === '--expect') args.expect = Number(argv[++i])
    else if (arg === '--expect-nsqd') args.expectNsqd = Number(argv[++i])
    else if (arg === '--poll-interval') args.pollInterval = Number(argv[++i])
    else if (arg === '--timeout') args.timeout = Number(argv[++i])
    else throw new Error(`unknown argument ${arg}`)
  }
  if (args.lookupd.length === 0 || !args.topic || !args.channel || !(args.expect > 0)) {
    throw new Error('usage: --lookupd-http host:port --topic t --channel c --expect N')
  }
  return args
}

function main() {
  const args = parseArgs(process.argv.slice(2))
  const reader = new nsq.Reader(args.topic, args.channel, {
    lookupdHTTPAddresses: args.lookupd,
    lookupdPollInterval: args.pollInterval,
    maxInFlight: 10,
  })
  const finished = []
  const nsqds = new Set()
  let done = false

  function report(result, code) {
    if (done) return
    done = true
    process.stdout.write(JSON.stringify(result) + '\n', () => {
      reader.close()
      process.exit(code)
    })
  }

  function check() {
    if (finished.length >= args.expect && nsqds.size >= args.expectNsqd) {
      // Give the FIN frames time to leave the socket.
      setTimeout(() => report({ ok: true, finished, nsqd: [...nsqds].sort() }, 0), 300)
    }
  }

  const timer = setTimeout(
    () => report({ ok: false, error: 'timeout', finished, nsqd: [...nsqds].sort() }, 2),
    args.timeout * 1000)
  timer.unref()

  reader.on('nsqd_connected', (host, port) => {
    nsqds.add(`${host}:${port}`)
    check()
  })
  reader.on('message', (msg) => {
    finished.push(msg.body.toString('hex'))
    msg.finish()
    check()
  })
  reader.on('error', (err) => process.stderr.write(`reader error: ${err}\n`))
  reader.connect()
}

main()
