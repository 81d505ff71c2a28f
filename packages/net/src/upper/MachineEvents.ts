/**
 * The upper layer machine's events (PS3.8 section 9.2, Table 9-10's Evt1-Evt19) as data, and the event each
 * received PDU and each user primitive is.
 *
 * @since 0.1.0
 */
import type { Pdu } from "@netdicom/wire"
import type { UserPrimitive } from "./Primitives.ts"
import type { ConnectFailed, Transport } from "./Transport.ts"

/** An event of the machine, with what its action needs. */
export type Input =
  | { readonly evt: "Evt1"; readonly rq: Pdu.AAssociateRq; readonly encoded?: Uint8Array | undefined }
  | { readonly evt: "Evt2"; readonly transport: Transport }
  | { readonly evt: "Evt3"; readonly ac: Pdu.AAssociateAc }
  | { readonly evt: "Evt4"; readonly rj: Pdu.AAssociateRj }
  | { readonly evt: "Evt5" }
  | { readonly evt: "Evt6"; readonly rq: Pdu.AAssociateRq }
  | { readonly evt: "Evt7"; readonly ac: Pdu.AAssociateAc; readonly encoded?: Uint8Array | undefined }
  | { readonly evt: "Evt8"; readonly rj: Pdu.AAssociateRj }
  | { readonly evt: "Evt10"; readonly pdu: Pdu.PDataTf }
  | { readonly evt: "Evt11" }
  | { readonly evt: "Evt12" }
  | { readonly evt: "Evt13" }
  | { readonly evt: "Evt14" }
  | { readonly evt: "Evt15"; readonly detail?: string }
  | { readonly evt: "Evt16"; readonly abort: Pdu.AAbort }
  | { readonly evt: "Evt17"; readonly detail: string; readonly connectFailed?: ConnectFailed }
  | { readonly evt: "Evt18" }
  | { readonly evt: "Evt19"; readonly reason: number; readonly detail: string }

// The events that come from the peer's PDUs.
const PEER_EVENTS: ReadonlySet<string> = new Set(["Evt3", "Evt4", "Evt6", "Evt10", "Evt12", "Evt13", "Evt16"])

/** Whether `input` is a received PDU's. */
export const fromPeer = (input: Input): boolean => PEER_EVENTS.has(input.evt)

/** The event a received PDU is. */
export const ofPdu = (pdu: Pdu.Pdu): Input => {
  switch (pdu._tag) {
    case "AAssociateRq":
      return { evt: "Evt6", rq: pdu }
    case "AAssociateAc":
      return { evt: "Evt3", ac: pdu }
    case "AAssociateRj":
      return { evt: "Evt4", rj: pdu }
    case "PDataTf":
      return { evt: "Evt10", pdu }
    case "AReleaseRq":
      return { evt: "Evt12" }
    case "AReleaseRp":
      return { evt: "Evt13" }
    case "AAbort":
      return { evt: "Evt16", abort: pdu }
  }
}

/** The event a user primitive is. */
export const ofPrimitive = (p: UserPrimitive): Input => {
  switch (p._tag) {
    case "AssociateRequest":
      return { evt: "Evt1", rq: p.rq, encoded: p.encoded }
    case "AssociateAccept":
      return { evt: "Evt7", ac: p.ac, encoded: p.encoded }
    case "AssociateReject":
      return { evt: "Evt8", rj: p.rj }
    case "ReleaseRequest":
      return { evt: "Evt11" }
    case "ReleaseResponse":
      return { evt: "Evt14" }
    case "AbortRequest":
      return p.detail === undefined ? { evt: "Evt15" } : { evt: "Evt15", detail: p.detail }
  }
}
