/**
 * A chaos proxy for soak runs: `node bench/soak/chaos-proxy.ts UPSTREAM_PORT [--seed N]`, prints `listening on PORT`.
 *
 * Each connection accepted is forwarded to 127.0.0.1:UPSTREAM_PORT with a fate picked at random: passed through;
 * reset (both sides) after a random number of bytes one way; stalled (one direction stops being forwarded, sockets
 * kept open); a server-to-client PDU swallowed; a server-to-client PDU replaced by an A-ABORT; the client's side
 * half-closed. The server-to-client direction is framed as PDUs (type + 4-byte length) so that a fate can hit one
 * PDU whole. Logs each connection's fate on stderr.
 */
import * as Net from "node:net"

const upstream = Number(process.argv[2])
const rand = (n: number): number => Math.floor(Math.random() * n)
type Fate = "pass" | "resetUp" | "resetDown" | "stallUp" | "stallDown" | "swallowPdu" | "abortPdu" | "finClient"
const FATES: ReadonlyArray<Fate> = [
  "pass",
  "pass",
  "pass",
  "resetUp",
  "resetDown",
  "stallUp",
  "stallDown",
  "swallowPdu",
  "abortPdu",
  "finClient"
]
const ABORT = Buffer.from([7, 0, 0, 0, 0, 4, 0, 0, 2, 0])
let n = 0

const server = Net.createServer((client) => {
  const id = ++n
  const fate = FATES[rand(FATES.length)]!
  const at = rand(fate === "resetUp" || fate === "stallUp" ? 60_000 : 4000)
  const pduAt = 1 + rand(8)
  process.stderr.write(`${id} ${fate} ${fate.endsWith("Pdu") ? `pdu ${pduAt}` : `byte ${at}`}\n`)
  const up = Net.createConnection({ host: "127.0.0.1", port: upstream, noDelay: true })
  client.setNoDelay(true)
  let upBytes = 0
  let downPdus = 0
  let downBuf = Buffer.alloc(0)
  let stalled = false
  const kill = () => {
    client.resetAndDestroy()
    up.resetAndDestroy()
  }
  client.on("data", (chunk: Buffer) => {
    if (stalled && fate === "stallUp") return
    if ((fate === "resetUp" || fate === "stallUp") && upBytes + chunk.length > at) {
      up.write(chunk.subarray(0, at - upBytes))
      if (fate === "resetUp") return kill()
      stalled = true
      return
    }
    if (fate === "finClient" && upBytes + chunk.length > at) {
      up.write(chunk.subarray(0, at - upBytes))
      upBytes = at + 1
      client.end()
      return
    }
    upBytes += chunk.length
    up.write(chunk)
  })
  up.on("data", (chunk: Buffer) => {
    downBuf = Buffer.concat([downBuf, chunk])
    while (downBuf.length >= 6 && downBuf.length >= 6 + downBuf.readUInt32BE(2)) {
      const len = 6 + downBuf.readUInt32BE(2)
      const pdu = downBuf.subarray(0, len)
      downBuf = downBuf.subarray(len)
      downPdus++
      if (stalled) continue
      if (fate === "stallDown" && downPdus >= pduAt) {
        stalled = true
        continue
      }
      if (fate === "resetDown" && downPdus >= pduAt) return kill()
      if (fate === "swallowPdu" && downPdus === pduAt) continue
      if (fate === "abortPdu" && downPdus === pduAt) {
        client.write(ABORT)
        up.write(ABORT)
        setTimeout(() => {
          client.destroy()
          up.destroy()
        }, 100)
        continue
      }
      client.write(pdu)
    }
  })
  client.on("end", () => up.end())
  up.on("end", () => client.end())
  client.on("close", () => up.destroy())
  up.on("close", () => {
    if (!stalled) client.destroy()
  })
  client.on("error", () => up.destroy())
  up.on("error", () => client.destroy())
})
server.listen(0, "127.0.0.1", () => {
  const address = server.address()
  process.stdout.write(`listening on ${typeof address === "object" && address !== null ? address.port : 0}\n`)
})
