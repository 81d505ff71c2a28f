/**
 * C-STORE of one large Implicit VR data set (a 2,048-byte header and a 64 MiB OW Pixel Data, streamed in 256 KiB
 * chunks) from our SCU to our SCP on loopback, which discards it: accepted in Implicit VR (sent as is) or only in
 * Explicit VR Little Endian / Big Endian (sent re-encoded). One mode per process: `node bench/transcode/store.ts
 * asis|explicit|big [runs]`; prints wall ms per C-STORE and the process's peak RSS.
 */
import { Effect, Layer, Result, Stream } from "effect"
import { ApplicationEntity, DataSet, Scp, Scu } from "@netdicom/net"
import { Status, Uids } from "@netdicom/wire"

const mode = process.argv[2] ?? "asis"
const runs = Number(process.argv[3] ?? 5)
const IMPLICIT = Uids.TransferSyntax.ImplicitVRLittleEndian
const accepted =
  mode === "asis"
    ? IMPLICIT
    : mode === "big"
      ? Uids.TransferSyntax.ExplicitVRBigEndian
      : Uids.TransferSyntax.ExplicitVRLittleEndian
const CT = Uids.StorageSop.CTImageStorage
const PIXELS = 64 << 20
const CHUNK = 256 << 10

const header = Result.getOrThrow(
  DataSet.encode(
    { SOPClassUID: CT, SOPInstanceUID: "1.2.3.4", PatientName: "BENCH^BIG", Rows: 4096, Columns: 8192 },
    IMPLICIT
  )
)
const pixelHeader = new Uint8Array(8)
new DataView(pixelHeader.buffer).setUint16(0, 0x7fe0, true)
new DataView(pixelHeader.buffer).setUint16(2, 0x0010, true)
new DataView(pixelHeader.buffer).setUint32(4, PIXELS, true)
const chunk = new Uint8Array(CHUNK).map((_, i) => i & 0xff)
const source = () =>
  Stream.concat(
    Stream.make(header, pixelHeader),
    Stream.fromIterable({
      *[Symbol.iterator]() {
        for (let i = 0; i < PIXELS / CHUNK; i++) yield new Uint8Array(chunk)
      }
    })
  )

const program = Effect.gen(function* () {
  let received = 0
  const storage = Layer.succeed(Scp.StorageService)({
    store: (request) =>
      Stream.runForEach(request.dataSet, (c) => Effect.sync(() => void (received += c.length))).pipe(
        Effect.orDie,
        Effect.as({ status: Status.SUCCESS })
      )
  })
  const scpAe = Result.getOrThrow(
    ApplicationEntity.make({ aeTitle: "SCP", contexts: [{ abstractSyntax: CT, transferSyntaxes: [accepted] }] })
  )
  const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(storage))
  const scuAe = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "SCU" }))
  const channel = yield* Scu.connect(scuAe, {
    host: "127.0.0.1",
    port: server.port,
    calledAeTitle: "SCP",
    contexts: [
      { abstractSyntax: CT, transferSyntaxes: [IMPLICIT] },
      { abstractSyntax: CT, transferSyntaxes: [accepted] }
    ]
  })
  for (let i = 0; i < runs; i++) {
    received = 0
    const t0 = performance.now()
    const r = yield* Scu.store(channel, {
      sopClassUid: CT,
      sopInstanceUid: "1.2.3.4",
      transferSyntax: IMPLICIT,
      dataSet: source()
    })
    const ms = performance.now() - t0
    if (r.status !== 0) throw new Error(`status ${r.status}`)
    console.log(`${mode} ${ms.toFixed(0)} ms ${received} bytes`)
  }
  console.log(`${mode} peak rss ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`)
})

Effect.runPromise(Effect.scoped(program)).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
