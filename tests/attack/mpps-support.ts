/**
 * What the MPPS attack tests share: an MPPS SCP's and a modality's application entities, a valid step to create,
 * an SCP serving a store on loopback with a modality connected to it, and Explicit VR Little Endian elements written
 * byte by byte (for text our own encoder refuses to write, as a foreign SCU would send it).
 */
import { Effect, Result } from "effect"
import { ApplicationEntity, Mpps, MppsScp, Scp, Scu } from "@netdicom/net"

export const EXPLICIT = ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN
export const TS = [EXPLICIT]
const timeouts = { acse: "5 seconds", connect: "5 seconds", dimse: "60 seconds", write: "20 seconds" } as const

export const scpAe = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: "MPPS-SCP",
    contexts: [{ abstractSyntax: Mpps.SOP_CLASS, transferSyntaxes: TS, scu: false, scp: true }],
    timeouts
  })
)
export const scuAe = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "MODALITY", timeouts }))

/** An N-CREATE's attributes for a step IN PROGRESS with every Type 1 attribute PS3.4 F.7.2 asks for. */
export const inProgress = {
  PerformedProcedureStepStatus: "IN PROGRESS",
  ScheduledStepAttributesSequence: [{ StudyInstanceUID: "1.2.3.1" }],
  PerformedProcedureStepID: "S1",
  PerformedStationAETitle: "MODALITY",
  PerformedProcedureStepStartDate: "20261206",
  PerformedProcedureStepStartTime: "101500",
  Modality: "CT"
}

/** The modality's association to an MPPS SCP on loopback `port`. */
export const connect = (port: number) =>
  Scu.connect(scuAe, {
    host: "127.0.0.1",
    port,
    calledAeTitle: "MPPS-SCP",
    contexts: [{ abstractSyntax: Mpps.SOP_CLASS, transferSyntaxes: TS }]
  })

/** An MPPS SCP serving `store` on a port the OS picks, and the modality's association to it (both scoped). */
export const serveAndConnect = (store: MppsScp.Store) =>
  Effect.gen(function* () {
    const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(MppsScp.layer({ store })))
    const channel = yield* connect(server.port)
    return { server, channel }
  })

/**
 * An Explicit VR Little Endian element, padded with a space to an even length: a 2-byte length, or for UT the
 * 2 reserved bytes and a 4-byte length.
 */
export const element = (tag: number, vr: string, value: Buffer): Buffer => {
  const padded = value.length % 2 === 1 ? Buffer.concat([value, Buffer.from(" ")]) : value
  const long = vr === "UT"
  const h = Buffer.alloc(long ? 12 : 8)
  h.writeUInt16LE(tag >>> 16, 0)
  h.writeUInt16LE(tag & 0xffff, 2)
  h.write(vr, 4, "latin1")
  if (long) h.writeUInt32LE(padded.length, 8)
  else h.writeUInt16LE(padded.length, 6)
  return Buffer.concat([h, padded])
}
