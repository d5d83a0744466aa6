#!/usr/bin/env node
// Publishes messages to one nsqd with nsqjs's Writer (publish single, publish array = MPUB,
// deferPublish = DPUB). Driven by the Rust interop tests.
//
// usage: node nsqjs_writer.js --nsqd host:port --topic t --mode pub|mpub|dpub
//                             [--delay-ms N] [--timeout S] HEX_BODY...
// Prints exactly one JSON line: {"ok": true, "published": N} or {"ok": false, "error": "..."}
// and exits 0 on success, 1 on a publish error, 2 on timeout.
'use strict'

const nsq = require('nsqjs')

function parseArgs(argv) {
  const args = { delayMs: 0, timeout: 20, bodies: [] }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--nsqd') args.nsqd = argv[++i]
    else if (arg === '--topic') args.topic = argv[++i]
    else if (arg === '--mode') args.mode = argv[++i]
    else if (arg === '--delay-ms') args.delayMs = Number(argv[++i])
    else if (arg === '--timeout') args.timeout = Number(argv[++i])
    else args.bodies.push(Buffer.from(arg, 'hex'))
  }
  if (!args.nsqd || !args.topic || !['pub', 'mpub', 'dpub'].includes(args.mode)) {
    throw new Error('usage: --nsqd host:port --topic t --mode pub|mpub|dpub HEX...')
  }
  return args
}

function main() {
  const args = parseArgs(process.argv.slice(2))
  const [host, port] = args.nsqd.split(':')
  const writer = new nsq.Writer(host, Number(port))
  let done = false
  let published = 0

  function report(result, code) {
    if (done) return
    done = true
    process.stdout.write(JSON.stringify(result) + '\n', () => {
      writer.close()
      process.exit(code)
    })
  }

  const timer = setTimeout(() => report({ ok: false, error: 'timeout', published }, 2),
    args.timeout * 1000)

  // PUB and DPUB send one command per body; MPUB sends all bodies in one command.
  const pending = args.mode === 'mpub' ? [args.bodies] : args.bodies.slice()

  function onPublished(err) {
    if (err) {
      clearTimeout(timer)
      report({ ok: false, error: String(err), published }, 1)
      return
    }
    published += 1
    publishNext()
  }

  function publishNext() {
    if (pending.length === 0) {
      clearTimeout(timer)
      report({ ok: true, published }, 0)
      return
    }
    const item = pending.shift()
    // nsqjs 0.13's deferPublish only accepts a one-element array (a plain Buffer throws).
    if (args.mode === 'dpub') writer.deferPublish(args.topic, [item], args.delayMs, onPublished)
    else writer.publish(args.topic, item, onPublished)
  }

  writer.on('ready', publishNext)
  writer.on('error', (err) => report({ ok: false, error: String(err), published }, 1))
  writer.connect()
}

main()
