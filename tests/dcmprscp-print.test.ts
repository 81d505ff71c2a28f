/**
 * DIMSE-N against DCMTK 3.6.7's dcmprscp, a Basic Grayscale Print Management SCP (PS3.4 H): on the Meta SOP class's
 * context, our SCU asks the Printer's status (N-GET), creates a Film Session and a Film Box (N-CREATE, the Film Box's
 * Image Box named in its reply), sets the image (N-SET), prints (N-ACTION) and deletes both (N-DELETE); a Film Box for
 * a session that does not exist is refused. Skipped with a warning when dcmprscp is missing.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Result } from "effect"
import { ApplicationEntity, Scu } from "@netdicom/net"
import { startDcmprscp, stopAll, which } from "./support/peers.ts"

const dcmprscp = which("dcmprscp") !== undefined
if (!dcmprscp)
  console.warn("dcmprscp-print.test.ts: DCMTK's dcmprscp is not installed (apt-get install dcmtk): skipping")

afterAll(() => stopAll())

const META = "1.2.840.10008.5.1.1.9"
const FILM_SESSION = "1.2.840.10008.5.1.1.1"
const FILM_BOX = "1.2.840.10008.5.1.1.2"
const IMAGE_BOX = "1.2.840.10008.5.1.1.4"
const PRINTER = "1.2.840.10008.5.1.1.16"
const PRINTER_INSTANCE = "1.2.840.10008.5.1.1.17"

const ae = Result.getOrThrow(
  ApplicationEntity.make({ aeTitle: "NETDICOM", timeouts: { acse: "10 seconds", dimse: "30 seconds" } })
)

const first = (v: unknown): unknown => (Array.isArray(v) ? v[0] : v)

describe.skipIf(!dcmprscp)("our SCU against DCMTK dcmprscp (Print Management)", () => {
  it.live("N-GET, N-CREATE, N-SET, N-ACTION and N-DELETE on the Basic Grayscale Print Management Meta SOP class", () =>
    Effect.gen(function* () {
      const printer = yield* Effect.promise(() => startDcmprscp())
      const channel = yield* Scu.connect(ae, {
        host: "127.0.0.1",
        port: printer.port,
        calledAeTitle: printer.aet,
        contexts: [{ abstractSyntax: META, transferSyntaxes: [ApplicationEntity.IMPLICIT_VR_LITTLE_ENDIAN] }]
      })
      const on = { abstractSyntax: META }

      const status = yield* Scu.nGet(channel, { ...on, sopClassUid: PRINTER, sopInstanceUid: PRINTER_INSTANCE })
      assert.strictEqual(status.status, 0, printer.logs())
      assert.strictEqual(first(status.dataSet?.["PrinterStatus"]), "NORMAL")

      const session = yield* Scu.nCreate(channel, {
        ...on,
        sopClassUid: FILM_SESSION,
        dataSet: { NumberOfCopies: 1, MediumType: "PAPER" }
      })
      assert.strictEqual(session.status, 0, printer.logs())
      const sessionUid = session.sopInstanceUid!
      assert.match(sessionUid, /^[0-9.]+$/)

      const box = yield* Scu.nCreate(channel, {
        ...on,
        sopClassUid: FILM_BOX,
        dataSet: {
          ImageDisplayFormat: "STANDARD\\1,1",
          FilmSizeID: "8INX10IN",
          ReferencedFilmSessionSequence: [{ ReferencedSOPClassUID: FILM_SESSION, ReferencedSOPInstanceUID: sessionUid }]
        }
      })
      assert.strictEqual(box.status, 0, printer.logs())
      const boxUid = box.sopInstanceUid!
      const imageBoxes = box.dataSet?.["ReferencedImageBoxSequence"] as ReadonlyArray<Record<string, unknown>>
      assert.lengthOf(imageBoxes, 1)
      assert.strictEqual(first(imageBoxes[0]!["ReferencedSOPClassUID"]), IMAGE_BOX)
      const imageBoxUid = first(imageBoxes[0]!["ReferencedSOPInstanceUID"]) as string

      const pixels = new Uint8Array(64).map((_, i) => i * 4)
      const image = yield* Scu.nSet(channel, {
        ...on,
        sopClassUid: IMAGE_BOX,
        sopInstanceUid: imageBoxUid,
        dataSet: {
          ImageBoxPosition: 1,
          BasicGrayscaleImageSequence: [
            {
              SamplesPerPixel: 1,
              PhotometricInterpretation: "MONOCHROME2",
              Rows: 8,
              Columns: 8,
              BitsAllocated: 8,
              BitsStored: 8,
              HighBit: 7,
              PixelRepresentation: 0,
              PixelData: [pixels.buffer]
            }
          ]
        }
      })
      assert.strictEqual(image.status, 0, printer.logs())

      const printed = yield* Scu.nAction(channel, {
        ...on,
        sopClassUid: FILM_BOX,
        sopInstanceUid: boxUid,
        actionTypeId: 1
      })
      assert.strictEqual(printed.status, 0, printer.logs())
      assert.strictEqual(printed.actionTypeId, 1)

      const orphan = yield* Scu.nCreate(channel, {
        ...on,
        sopClassUid: FILM_BOX,
        dataSet: {
          ImageDisplayFormat: "STANDARD\\1,1",
          ReferencedFilmSessionSequence: [
            { ReferencedSOPClassUID: FILM_SESSION, ReferencedSOPInstanceUID: "1.2.3.404" }
          ]
        }
      })
      assert.strictEqual(orphan.category, "Failure", printer.logs())

      const deletedBox = yield* Scu.nDelete(channel, { ...on, sopClassUid: FILM_BOX, sopInstanceUid: boxUid })
      assert.strictEqual(deletedBox.status, 0, printer.logs())
      const deletedSession = yield* Scu.nDelete(channel, {
        ...on,
        sopClassUid: FILM_SESSION,
        sopInstanceUid: sessionUid
      })
      assert.strictEqual(deletedSession.status, 0, printer.logs())
    }).pipe(Effect.scoped, Effect.provide(Logger.layer([])))
  )
})
