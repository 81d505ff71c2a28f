/**
 * Captures golden PDUs (PS3.8 §9.3) from DCMTK 3.6.7 into tests/fixtures/dcmtk/*.hex, one PDU per file,
 * lowercase hex wrapped at 64 characters. Run from the repository root:
 *
 *   npx -y pnpm@10 exec node tests/support/capture-goldens.ts
 *
 * As a raw TCP server on 127.0.0.1 it records the first PDU of `echoscu` and `storescu`, and, after a
 * hand-built A-ASSOCIATE-AC, echoscu's C-ECHO-RQ P-DATA-TF (then answers with a hand-built C-ECHO-RSP and
 * records echoscu's A-RELEASE-RQ). As a raw client it replays echoscu's A-ASSOCIATE-RQ to `storescp`
 * (A-ASSOCIATE-AC, then A-RELEASE-RQ → A-RELEASE-RP) and to `storescp --refuse` (A-ASSOCIATE-RJ).
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { corpusFile, makeTempDir, removeDir, repoRoot, run, startStorescp, LOOPBACK } from "./peers.ts"
import type { RunResult } from "./peers.ts"

const OUT_DIR = path.join(repoRoot, "tests", "fixtures", "dcmtk")
const STEP_TIMEOUT_MS = 15_000

/** Reads whole PDUs (6-byte header + big-endian length) from a socket, in order. */
const pduReader = (socket: net.Socket): ((timeoutMs?: number) => Promise<Buffer>) => {
  let buffered = Buffer.alloc(0)
  let waiter: (() => void) | undefined
  let ended = false
  socket.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk])
    waiter?.()
  })
  const onEnd = (): void => {
    ended = true
    waiter?.()
  }
  socket.on("end", onEnd)
  socket.on("close", onEnd)
  socket.on("error", onEnd)
  return async (timeoutMs = STEP_TIMEOUT_MS) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (buffered.length >= 6) {
        const total = 6 + buffered.readUInt32BE(2)
        if (buffered.length >= total) {
          const pdu = buffered.subarray(0, total)
          buffered = buffered.subarray(total)
          return Buffer.from(pdu)
        }
      }
      if (ended) throw new Error(`connection ended with ${buffered.length} unread bytes`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error("timed out waiting for a PDU")
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        waiter = () => {
          clearTimeout(timer)
          waiter = undefined
          resolve()
        }
      })
    }
  }
}

const toHex = (pdu: Buffer): string => {
  const hex = pdu.toString("hex")
  const lines: Array<string> = []
  for (let i = 0; i < hex.length; i += 64) lines.push(hex.slice(i, i + 64))
  return lines.join("\n") + "\n"
}

const save = (name: string, pdu: Buffer): void => {
  fs.writeFileSync(path.join(OUT_DIR, name), toHex(pdu))
  process.stdout.write(`${name}: PDU type 0x${pdu[0]?.toString(16).padStart(2, "0")}, ${pdu.length} bytes\n`)
}

// --- hand-built PDUs (PS3.8 §9.3) ----------------------------------------------------------------------

const item = (type: number, body: Buffer): Buffer => {
  const header = Buffer.alloc(4)
  header.writeUInt8(type, 0)
  header.writeUInt16BE(body.length, 2)
  return Buffer.concat([header, body])
}

const pdu = (type: number, body: Buffer): Buffer => {
  const header = Buffer.alloc(6)
  header.writeUInt8(type, 0)
  header.writeUInt32BE(body.length, 2)
  return Buffer.concat([header, body])
}

const IMPLICIT_VR_LE = "1.2.840.10008.1.2"
const APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
const VERIFICATION = "1.2.840.10008.1.1"

/** First presentation context ID proposed in an A-ASSOCIATE-RQ (item 0x20). */
const firstContextId = (rq: Buffer): number => {
  let offset = 74
  while (offset + 4 <= rq.length) {
    const type = rq.readUInt8(offset)
    const length = rq.readUInt16BE(offset + 2)
    if (type === 0x20) return rq.readUInt8(offset + 4)
    offset += 4 + length
  }
  throw new Error("no presentation context in A-ASSOCIATE-RQ")
}

/** A-ASSOCIATE-AC echoing the RQ's AE fields, accepting its first context with Implicit VR Little Endian. */
const buildAc = (rq: Buffer): Buffer => {
  const fixed = Buffer.alloc(68)
  fixed.writeUInt16BE(1, 0) // protocol version
  rq.copy(fixed, 4, 10, 42) // called + calling AE title fields, as received (not tested by the acceptor)
  const context = item(
    0x21,
    Buffer.concat([Buffer.from([firstContextId(rq), 0, 0, 0]), item(0x40, Buffer.from(IMPLICIT_VR_LE))])
  )
  const maxLength = Buffer.alloc(4)
  maxLength.writeUInt32BE(16384, 0)
  const userInfo = item(
    0x50,
    Buffer.concat([
      item(0x51, maxLength),
      item(0x52, Buffer.from("1.2.826.0.1.3680043.9.9999.1")),
      item(0x55, Buffer.from("GOLDEN_CAPTURE"))
    ])
  )
  return pdu(0x02, Buffer.concat([fixed, item(0x10, Buffer.from(APPLICATION_CONTEXT)), context, userInfo]))
}

const RELEASE_RQ = pdu(0x05, Buffer.alloc(4))
const RELEASE_RP = pdu(0x06, Buffer.alloc(4))

/** An Implicit VR Little Endian element. */
const element = (group: number, elem: number, value: Buffer): Buffer => {
  const header = Buffer.alloc(8)
  header.writeUInt16LE(group, 0)
  header.writeUInt16LE(elem, 2)
  header.writeUInt32LE(value.length, 4)
  return Buffer.concat([header, value])
}

const us = (value: number): Buffer => {
  const bytes = Buffer.alloc(2)
  bytes.writeUInt16LE(value, 0)
  return bytes
}

const uid = (value: string): Buffer => {
  const bytes = Buffer.from(value, "latin1")
  return bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, Buffer.from([0])])
}

/** Message ID (0000,0110) of the command set in a one-PDV P-DATA-TF. */
const messageIdOf = (pData: Buffer): number => {
  let offset = 6 + 4 + 2 // PDU header, PDV length, context ID + control header
  while (offset + 8 <= pData.length) {
    const group = pData.readUInt16LE(offset)
    const elem = pData.readUInt16LE(offset + 2)
    const length = pData.readUInt32LE(offset + 4)
    if (group === 0x0000 && elem === 0x0110) return pData.readUInt16LE(offset + 8)
    offset += 8 + length
  }
  throw new Error("no Message ID in C-ECHO-RQ")
}

/** P-DATA-TF with a C-ECHO-RSP (status Success) command set as one last-fragment command PDV. */
const buildEchoRsp = (contextId: number, messageId: number): Buffer => {
  const elements = Buffer.concat([
    element(0x0000, 0x0002, uid(VERIFICATION)),
    element(0x0000, 0x0100, us(0x8030)),
    element(0x0000, 0x0120, us(messageId)),
    element(0x0000, 0x0800, us(0x0101)),
    element(0x0000, 0x0900, us(0x0000))
  ])
  const groupLength = Buffer.alloc(4)
  groupLength.writeUInt32LE(elements.length, 0)
  const command = Buffer.concat([element(0x0000, 0x0000, groupLength), elements])
  const pdvHeader = Buffer.alloc(6)
  pdvHeader.writeUInt32BE(command.length + 2, 0)
  pdvHeader.writeUInt8(contextId, 4)
  pdvHeader.writeUInt8(0x03, 5) // command, last fragment
  return pdu(0x04, Buffer.concat([pdvHeader, command]))
}

// --- capture helpers ------------------------------------------------------------------------------------

/** Listens on 127.0.0.1:0, runs the tool against it, hands the first connection to `onConnection`. */
const asServer = async (
  tool: string,
  argsFor: (port: number) => ReadonlyArray<string>,
  onConnection: (socket: net.Socket, read: (timeoutMs?: number) => Promise<Buffer>) => Promise<void>
): Promise<RunResult> => {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen({ host: LOOPBACK, port: 0 }, resolve)
  })
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("no server address")
  const connected = new Promise<net.Socket>((resolve) => server.once("connection", resolve))
  const toolRun = run(tool, argsFor(address.port), { timeoutMs: STEP_TIMEOUT_MS })
  try {
    const socket = await Promise.race([
      connected,
      toolRun.then((result) => {
        throw new Error(`${tool} exited (${result.code}) before connecting:\n${result.stderr}`)
      })
    ])
    socket.setNoDelay(true)
    try {
      await onConnection(socket, pduReader(socket))
    } finally {
      socket.destroy()
    }
  } finally {
    server.close()
  }
  return toolRun
}

/** Connects to 127.0.0.1:`port` and hands the socket to `body`. */
const asClient = async (
  port: number,
  body: (socket: net.Socket, read: (timeoutMs?: number) => Promise<Buffer>) => Promise<void>
): Promise<void> => {
  const socket = net.connect({ host: LOOPBACK, port })
  socket.setNoDelay(true)
  const read = pduReader(socket)
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve)
    socket.once("error", reject)
  })
  try {
    await body(socket, read)
  } finally {
    socket.destroy()
  }
}

const expectType = (pdu: Buffer, type: number, what: string): Buffer => {
  if (pdu[0] !== type)
    throw new Error(`${what}: expected PDU type 0x${type.toString(16)}, got 0x${pdu[0]?.toString(16)}`)
  return pdu
}

// --- main -----------------------------------------------------------------------------------------------

const main = async (): Promise<void> => {
  const ct = corpusFile("CT_small.dcm")
  if (ct === undefined) throw new Error("CT_small.dcm not found in the corpus (set NETDICOM_CORPUS)")
  fs.mkdirSync(OUT_DIR, { recursive: true })

  const version = (await run("echoscu", ["--version"])).stdout.split("\n").find((line) => line.includes("dcmtk"))
  process.stdout.write(`${version?.trim() ?? "unknown DCMTK"}; node ${process.version}; ${new Date().toISOString()}\n`)

  // 1. echoscu's A-ASSOCIATE-RQ
  let echoRq: Buffer = Buffer.alloc(0)
  await asServer(
    "echoscu",
    (port) => ["-aet", "ECHOSCU", "-aec", "ANY-SCP", LOOPBACK, String(port)],
    async (_socket, read) => {
      echoRq = expectType(await read(), 0x01, "echoscu")
    }
  )
  save("echoscu-associate-rq.hex", echoRq)

  // 2. storescu's A-ASSOCIATE-RQ (default options)
  await asServer(
    "storescu",
    (port) => [LOOPBACK, String(port), ct],
    async (_socket, read) => {
      save("storescu-associate-rq.hex", expectType(await read(), 0x01, "storescu"))
    }
  )

  // 3. echoscu's C-ECHO-RQ after a hand-built AC; then a C-ECHO-RSP and echoscu's A-RELEASE-RQ
  const echo = await asServer(
    "echoscu",
    (port) => ["-aet", "ECHOSCU", "-aec", "ANY-SCP", LOOPBACK, String(port)],
    async (socket, read) => {
      const rq = expectType(await read(), 0x01, "echoscu")
      socket.write(buildAc(rq))
      const pData = expectType(await read(), 0x04, "echoscu C-ECHO-RQ")
      save("echoscu-cecho-rq.hex", pData)
      socket.write(buildEchoRsp(pData.readUInt8(10), messageIdOf(pData)))
      save("echoscu-release-rq.hex", expectType(await read(), 0x05, "echoscu A-RELEASE-RQ"))
      socket.write(RELEASE_RP)
      // let echoscu read the RP before the socket is destroyed
      await new Promise<void>((resolve) => socket.once("close", () => resolve()))
    }
  )
  if (echo.code !== 0)
    throw new Error(`echoscu rejected the hand-built AC / C-ECHO-RSP (${echo.code}):\n${echo.stderr}`)

  // 4. storescp's A-ASSOCIATE-AC to echoscu's RQ, then its A-RELEASE-RP
  const outDir = makeTempDir("netdicom-golden-")
  try {
    const scp = await startStorescp({ outDir })
    try {
      await asClient(scp.port, async (socket, read) => {
        socket.write(echoRq)
        save("storescp-associate-ac.hex", expectType(await read(), 0x02, "storescp AC"))
        socket.write(RELEASE_RQ)
        save("storescp-release-rp.hex", expectType(await read(), 0x06, "storescp RP"))
      })
    } finally {
      await scp.stop()
    }

    // 5. storescp --refuse: A-ASSOCIATE-RJ
    const refusing = await startStorescp({ outDir, extraArgs: ["--refuse"] })
    try {
      await asClient(refusing.port, async (socket, read) => {
        socket.write(echoRq)
        save("storescp-associate-rj.hex", expectType(await read(), 0x03, "storescp --refuse RJ"))
      })
    } finally {
      await refusing.stop()
    }
  } finally {
    removeDir(outDir)
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `capture-goldens failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`
    )
    process.exit(1)
  }
)
