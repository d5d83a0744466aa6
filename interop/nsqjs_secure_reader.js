#!/usr/bin/env node
// Consumes --expect messages with nsqjs's Reader over TLS / deflate / snappy / AUTH.
// Driven by broker/tests/interop_security.rs.
//
// usage: node nsqjs_secure_reader.js --nsqd host:port --topic t --channel c --expect N
//          [--tls-ca file] [--deflate] [--snappy] [--auth-secret s] [--timeout S]
// Prints one JSON line {"ok": true, "finished": [hex...]} (exit 0) or
// {"ok": false, "error": ...} (exit 2).
'use strict'

const fs = require('fs')
const nsq = require('nsqjs')

function parseArgs(argv) {
  const args = { timeout: 20, deflate: false, snappy: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--nsqd') args.nsqd = argv[++i]
    else if (arg === '--topic') args.topic = argv[++i]
    else if (arg === '--channel') args.channel = argv[++i]
    else if (arg === '--expect') args.expect = Number(argv[++i])
    else if (arg === '--tls-ca') args.tlsCa = argv[++i]
    else if (arg === '--deflate') args.deflate = true
    else if (arg === '--snappy') args.snappy = true
    else if (arg === '--auth-secret') args.authSecret = argv[++i]
    else if (arg === '--timeout') args.timeout = Number(argv[++i])
    else throw new Error(`unknown argument ${arg}`)
  }
  return args
}

function main() {
  const args = parseArgs(process.argv.slice(2))
  const options = { nsqdTCPAddresses: [args.nsqd], maxInFlight: 10 }
  if (args.tlsCa) {
    options.tls = true
    options.tlsVerification = true
    options.ca = fs.readFileSync(args.tlsCa)
  }
  if (args.deflate) options.deflate = true
  if (args.snappy) options.snappy = true
  if (args.authSecret) options.authSecret = args.authSecret
  const reader = new nsq.Reader(args.topic, args.channel, options)
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

  setTimeout(() => report({ ok: false, error: 'timeout', finished }, 2), args.timeout * 1000)
  reader.on('error', (err) => report({ ok: false, error: String(err), finished }, 2))
  reader.on('message', (msg) => {
    msg.finish()
    finished.push(msg.body.toString('hex'))
    if (finished.length >= args.expect) {
      setTimeout(() => report({ ok: true, finished }, 0), 300)
    }
  })
  reader.connect()
}

main()
