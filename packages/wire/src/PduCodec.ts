/**
 * Bytes to PDUs and back (PS3.8 section 9.3, Annex D; PS3.7 Annex D.3.3 for User Information).
 *
 * `decodePdu` takes exactly one whole PDU (header and body) and returns a `Result`; `encodePdu`
 * returns the bytes or a typed error. `encodePDataTf` is the hot path for data: one allocation of
 * the exact size. `PduFromBytes` exposes the same codec as a Schema transformation.
 *
 * Tolerances on receipt, as PS3.8 asks: reserved fields are not tested; a Presentation Context AC item with a non-zero
 * result may lack its Transfer Syntax sub-item; AE title fields keep their 16 bytes (padding included) for the
 * association layer to trim; UIDs lose trailing NUL/space padding; unknown sub-items, and the first `MAX_UNKNOWN_ITEMS`
 * unknown items, are kept as raw bytes (the other unknown items are skipped), and so are an Implementation Version Name
 * that is not 1-16 characters and an Implementation Class UID that is not a UID (empty, over 64 characters), which
 * peers send and DCMTK takes. Not covered here: the rules that need association state (which PDU is expected when) —
 * those belong to the state machine.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import { OutOfBounds, Reader, Writer } from "./internal/Bytes.ts"
import * as P from "./Pdu.ts"
import type { Pdv } from "./Pdv.ts"
import { PduDecodeError, PduEncodeError, type AbortReason } from "./PduError.ts"

const PDU_NAMES: Record<number, string> = {
  0x01: "A-ASSOCIATE-RQ",
  0x02: "A-ASSOCIATE-AC",
  0x03: "A-ASSOCIATE-RJ",
  0x04: "P-DATA-TF",
  0x05: "A-RELEASE-RQ",
  0x06: "A-RELEASE-RP",
  0x07: "A-ABORT"
}

/** The standard's name for a PDU type code, or `unknown PDU 0xNN`. */
export const pduTypeName = (type: number): string =>
  PDU_NAMES[type] ?? `unknown PDU 0x${type.toString(16).padStart(2, "0")}`

// A private failure carrying the rule broken, thrown by the decoding helpers below (all called under `readBody`);
// caught by the `try` in `decodePdu`, the only caller of `readBody`, and returned as a PduDecodeError.
class Broken {
  readonly item: string | undefined
  readonly offset: number
  readonly rule: string
  readonly abortReason: AbortReason
  constructor(item: string | undefined, offset: number, rule: string, abortReason: AbortReason = 6) {
    this.item = item
    this.offset = offset
    this.rule = rule
    this.abortReason = abortReason
  }
}

const trimUid = (s: string): string => {
  let end = s.length
  while (end > 0 && (s.charCodeAt(end - 1) === 0 || s.charCodeAt(end - 1) === 0x20)) end--
  let start = 0
  while (start < end && s.charCodeAt(start) === 0x20) start++
  return s.slice(start, end)
}

interface ItemHeader {
  readonly type: number
  readonly start: number
  readonly end: number
}

// The four header bytes read in place (one bounds check, as many calls as items): a short header fails where the
// read of each field would have.
const readItemHeader = (r: Reader, context: string | undefined): ItemHeader => {
  const start = r.offset
  const left = r.end - start
  if (left < 4) throw new OutOfBounds(left < 1 ? start : left < 2 ? start + 1 : start + 2, left < 2 ? 1 : 2)
  const bytes = r.bytes
  const type = bytes[start]!
  const length = (bytes[start + 2]! << 8) | bytes[start + 3]!
  r.offset = start + 4
  if (length > r.remaining) {
    throw new Broken(
      context,
      start,
      `item 0x${type.toString(16)} length ${length} exceeds the ${r.remaining} bytes left`
    )
  }
  return { type, start, end: r.offset + length }
}

const readUidItem = (r: Reader, h: ItemHeader, name: string): string => {
  const uid = trimUid(r.text(h.end - r.offset))
  if (uid.length === 0) throw new Broken(name, h.start, "empty UID")
  if (uid.length > 64) throw new Broken(name, h.start, `UID of ${uid.length} characters exceeds 64`)
  return uid
}

const readPresentationContextRq = (r: Reader, h: ItemHeader): P.PresentationContextRq => {
  const name = "Presentation Context item"
  const id = r.u8()
  r.skip(3)
  let abstractSyntax: string | undefined
  const transferSyntaxes: Array<string> = []
  while (r.offset < h.end) {
    const sub = readItemHeader(new Reader(r.bytes, r.offset, h.end), name)
    r.skip(4)
    if (sub.type === P.ITEM_TYPE.AbstractSyntax) {
      if (abstractSyntax !== undefined) throw new Broken(name, sub.start, "more than one Abstract Syntax sub-item", 5)
      abstractSyntax = readUidItem(r, sub, "Abstract Syntax sub-item")
    } else if (sub.type === P.ITEM_TYPE.TransferSyntax) {
      transferSyntaxes.push(readUidItem(r, sub, "Transfer Syntax sub-item"))
    } else {
      throw new Broken(name, sub.start, `unexpected sub-item type 0x${sub.type.toString(16)}`, 4)
    }
    r.offset = sub.end
  }
  if (abstractSyntax === undefined) throw new Broken(name, h.start, "no Abstract Syntax sub-item", 6)
  if (transferSyntaxes.length === 0) throw new Broken(name, h.start, "no Transfer Syntax sub-item", 6)
  return {
    _tag: "PresentationContextRq",
    id,
    abstractSyntax,
    transferSyntaxes: transferSyntaxes as [string, ...Array<string>]
  }
}

const readPresentationContextAc = (r: Reader, h: ItemHeader): P.PresentationContextAc => {
  const name = "Presentation Context item"
  const id = r.u8()
  r.skip(1)
  const result = r.u8()
  r.skip(1)
  if (result > 4) throw new Broken(name, h.start + 6, `result ${result} is not 0-4`)
  let transferSyntax: string | undefined
  while (r.offset < h.end) {
    const sub = readItemHeader(new Reader(r.bytes, r.offset, h.end), name)
    r.skip(4)
    if (sub.type !== P.ITEM_TYPE.TransferSyntax) {
      throw new Broken(name, sub.start, `unexpected sub-item type 0x${sub.type.toString(16)}`, 4)
    }
    if (transferSyntax !== undefined) throw new Broken(name, sub.start, "more than one Transfer Syntax sub-item", 5)
    // A rejected context may carry an empty or meaningless transfer syntax: PS3.8 says it is not tested.
    const text = trimUid(r.text(sub.end - r.offset))
    transferSyntax = text.length > 0 ? text : undefined
    r.offset = sub.end
  }
  if (result === 0 && transferSyntax === undefined)
    throw new Broken(name, h.start, "accepted without a Transfer Syntax")
  return {
    _tag: "PresentationContextAc",
    id,
    result: result as P.PresentationContextResult,
    transferSyntax
  }
}

const readLengthPrefixed = (r: Reader, end: number, item: string, what: string): Uint8Array => {
  const at = r.offset
  const n = r.u16()
  if (n > end - r.offset) throw new Broken(item, at, `${what} length ${n} exceeds the item`)
  return r.copy(n)
}

const readLengthPrefixedUid = (r: Reader, end: number, item: string, what: string): string => {
  const at = r.offset
  const n = r.u16()
  if (n > end - r.offset) throw new Broken(item, at, `${what} length ${n} exceeds the item`)
  const uid = trimUid(r.text(n))
  if (uid.length > 64) throw new Broken(item, at, `${what} of ${uid.length} characters exceeds 64`)
  return uid
}

const readUserItem = (r: Reader, h: ItemHeader): P.UserItem => {
  const size = h.end - r.offset
  const fixed = (name: string, n: number) => {
    if (size !== n) throw new Broken(name, h.start, `length ${size}, expected ${n}`)
  }
  switch (h.type) {
    case P.ITEM_TYPE.MaximumLength:
      fixed("Maximum Length sub-item", 4)
      return { _tag: "MaximumLength", maximumLength: r.u32() }
    case P.ITEM_TYPE.ImplementationClassUid: {
      // Informational, and an association without it is taken: one that is not a UID (empty, over 64 characters)
      // is kept as an unknown sub-item rather than failing the PDU, as DCMTK takes it.
      const uid = trimUid(r.text(size))
      if (uid.length === 0 || uid.length > 64)
        return { _tag: "UnknownUserItem", itemType: h.type, data: r.bytes.slice(h.start + 4, h.end) }
      return { _tag: "ImplementationClassUid", uid }
    }
    case P.ITEM_TYPE.AsynchronousOperationsWindow:
      fixed("Asynchronous Operations Window sub-item", 4)
      return { _tag: "AsynchronousOperationsWindow", maxOperationsInvoked: r.u16(), maxOperationsPerformed: r.u16() }
    case P.ITEM_TYPE.ScpScuRoleSelection: {
      const name = "SCP/SCU Role Selection sub-item"
      const sopClassUid = readLengthPrefixedUid(r, h.end, name, "SOP Class UID")
      const scuRole = r.u8() === 0 ? 0 : 1
      const scpRole = r.u8() === 0 ? 0 : 1
      return { _tag: "ScpScuRoleSelection", sopClassUid, scuRole, scpRole }
    }
    case P.ITEM_TYPE.ImplementationVersionName:
      // PS3.7 D.3.3.2.3 says 1-16 characters, but peers send longer ones (and DCMTK takes them): informational only,
      // one of another length is kept as an unknown sub-item rather than failing the association.
      if (size < 1 || size > 16) return { _tag: "UnknownUserItem", itemType: h.type, data: r.copy(size) }
      return { _tag: "ImplementationVersionName", name: r.text(size) }
    case P.ITEM_TYPE.SopClassExtendedNegotiation: {
      const name = "SOP Class Extended Negotiation sub-item"
      const sopClassUid = readLengthPrefixedUid(r, h.end, name, "SOP Class UID")
      return { _tag: "SopClassExtendedNegotiation", sopClassUid, applicationInformation: r.copy(h.end - r.offset) }
    }
    case P.ITEM_TYPE.SopClassCommonExtendedNegotiation: {
      const name = "SOP Class Common Extended Negotiation sub-item"
      const sopClassUid = readLengthPrefixedUid(r, h.end, name, "SOP Class UID")
      const serviceClassUid = readLengthPrefixedUid(r, h.end, name, "Service Class UID")
      const at = r.offset
      const listLength = r.u16()
      if (listLength > h.end - r.offset) throw new Broken(name, at, `related SOP class list length ${listLength}`)
      const listEnd = r.offset + listLength
      const relatedGeneralSopClassUids: Array<string> = []
      while (r.offset < listEnd) relatedGeneralSopClassUids.push(readLengthPrefixedUid(r, listEnd, name, "related UID"))
      return { _tag: "SopClassCommonExtendedNegotiation", sopClassUid, serviceClassUid, relatedGeneralSopClassUids }
    }
    case P.ITEM_TYPE.UserIdentityRq: {
      const name = "User Identity sub-item"
      const identityType = r.u8()
      if (identityType < 1 || identityType > 5) throw new Broken(name, h.start + 4, `identity type ${identityType}`)
      const positiveResponseRequested = r.u8() !== 0
      const primaryField = readLengthPrefixed(r, h.end, name, "primary field")
      const secondaryField = readLengthPrefixed(r, h.end, name, "secondary field")
      return {
        _tag: "UserIdentityRq",
        identityType: identityType as 1 | 2 | 3 | 4 | 5,
        positiveResponseRequested,
        primaryField,
        secondaryField
      }
    }
    case P.ITEM_TYPE.UserIdentityAc:
      return {
        _tag: "UserIdentityAc",
        serverResponse: readLengthPrefixed(r, h.end, "User Identity sub-item", "response")
      }
    default:
      return { _tag: "UnknownUserItem", itemType: h.type, data: r.copy(size) }
  }
}

const readUserInformation = (r: Reader, h: ItemHeader): Array<P.UserItem> => {
  const items: Array<P.UserItem> = []
  while (r.offset < h.end) {
    const sub = readItemHeader(new Reader(r.bytes, r.offset, h.end), "User Information item")
    r.skip(4)
    items.push(readUserItem(new Reader(r.bytes, r.offset, sub.end), sub))
    r.offset = sub.end
  }
  return items
}

// The items of an A-ASSOCIATE-RQ or -AC read here; others are unknown (PS3.8 9.3.2, 9.3.3).
const KNOWN_ITEMS: ReadonlySet<number> = new Set([
  P.ITEM_TYPE.ApplicationContextItem,
  P.ITEM_TYPE.PresentationContextRq,
  P.ITEM_TYPE.PresentationContextAc,
  P.ITEM_TYPE.UserInformation
])

/** Unknown items of an A-ASSOCIATE-RQ or -AC kept in `unknownItems`; the others are skipped, not kept. */
export const MAX_UNKNOWN_ITEMS = 16

/**
 * The most Presentation Context items an A-ASSOCIATE-RQ or -AC may hold: their ids are odd, 1-255 (PS3.8 9.3.2.2),
 * so a 129th repeats one or is out of range. It is refused as it is read, before its sub-items are.
 */
export const MAX_PRESENTATION_CONTEXTS = 128

const tooManyContexts = (h: ItemHeader): Broken =>
  new Broken(
    "Presentation Context item",
    h.start,
    `more than ${MAX_PRESENTATION_CONTEXTS} Presentation Context items (their ids are odd, 1-255)`,
    6
  )

const readAssociate = (r: Reader, type: 1 | 2): P.AAssociateRq | P.AAssociateAc => {
  const protocolVersion = r.u16()
  r.skip(2)
  const calledAeTitle = r.text(16)
  const callingAeTitle = r.text(16)
  r.skip(32)
  let applicationContextName: string | undefined
  const presentationContextsRq: Array<P.PresentationContextRq> = []
  const presentationContextsAc: Array<P.PresentationContextAc> = []
  let userInformation: Array<P.UserItem> | undefined
  const unknownItems: Array<P.UnknownItem> = []
  while (r.remaining > 0) {
    const h = readItemHeader(r, undefined)
    if (!KNOWN_ITEMS.has(h.type)) {
      // skipped (PS3.8 9.3.1); the first few kept as they came, without a copy and an object each for the rest (a
      // 1 MiB A-ASSOCIATE-RQ of empty ones held the event loop 150 ms)
      if (unknownItems.length < MAX_UNKNOWN_ITEMS) {
        unknownItems.push({ _tag: "UnknownItem", itemType: h.type, data: r.bytes.slice(r.offset, h.end) })
      }
      r.offset = h.end
      continue
    }
    const body = new Reader(r.bytes, r.offset, h.end)
    switch (h.type) {
      case P.ITEM_TYPE.ApplicationContextItem:
        if (applicationContextName !== undefined) {
          throw new Broken("Application Context item", h.start, "more than one Application Context item", 5)
        }
        applicationContextName = readUidItem(body, h, "Application Context item")
        break
      case P.ITEM_TYPE.PresentationContextRq:
        if (type !== 1) throw new Broken("Presentation Context item", h.start, "RQ form (0x20) in an AC", 5)
        if (presentationContextsRq.length === MAX_PRESENTATION_CONTEXTS) throw tooManyContexts(h)
        presentationContextsRq.push(readPresentationContextRq(body, h))
        break
      case P.ITEM_TYPE.PresentationContextAc:
        if (type !== 2) throw new Broken("Presentation Context item", h.start, "AC form (0x21) in an RQ", 5)
        if (presentationContextsAc.length === MAX_PRESENTATION_CONTEXTS) throw tooManyContexts(h)
        presentationContextsAc.push(readPresentationContextAc(body, h))
        break
      case P.ITEM_TYPE.UserInformation:
        if (userInformation !== undefined) {
          throw new Broken("User Information item", h.start, "more than one User Information item", 5)
        }
        userInformation = readUserInformation(body, h)
        break
    }
    r.offset = h.end
  }
  if (applicationContextName === undefined) throw new Broken(undefined, r.offset, "no Application Context item")
  const common = {
    protocolVersion,
    calledAeTitle,
    callingAeTitle,
    applicationContextName,
    userInformation: userInformation ?? [],
    unknownItems
  }
  return type === 1
    ? { _tag: "AAssociateRq", ...common, presentationContexts: presentationContextsRq }
    : { _tag: "AAssociateAc", ...common, presentationContexts: presentationContextsAc }
}

const readPDataTf = (r: Reader): P.PDataTf => {
  const pdvs: Array<Pdv> = []
  while (r.remaining > 0) {
    const at = r.offset
    const length = r.u32()
    if (length < 2) throw new Broken("PDV item", at, `item length ${length} is less than 2`)
    if (length > r.remaining) throw new Broken("PDV item", at, `item length ${length} exceeds the ${r.remaining} left`)
    const presentationContextId = r.u8()
    const control = r.u8()
    pdvs.push({
      presentationContextId,
      isCommand: (control & 0x01) !== 0,
      isLast: (control & 0x02) !== 0,
      data: r.view_(length - 2)
    })
  }
  if (pdvs.length === 0) throw new Broken(undefined, r.offset, "no PDV item")
  return { _tag: "PDataTf", pdvs: pdvs as [Pdv, ...Array<Pdv>] }
}

const fixedBody = (r: Reader, type: number): void => {
  if (r.remaining !== 4) throw new Broken(undefined, 2, `length ${r.remaining}, expected 4 for ${pduTypeName(type)}`)
}

const readBody = (type: number, r: Reader): P.Pdu => {
  switch (type) {
    case 0x01:
    case 0x02:
      return readAssociate(r, type)
    case 0x03: {
      fixedBody(r, type)
      r.skip(1)
      const result = r.u8()
      const source = r.u8()
      const reason = r.u8()
      if (result !== 1 && result !== 2) throw new Broken(undefined, 7, `result ${result} is not 1 or 2`)
      if (source < 1 || source > 3) throw new Broken(undefined, 8, `source ${source} is not 1-3`)
      return { _tag: "AAssociateRj", result, source: source as 1 | 2 | 3, reason }
    }
    case 0x04:
      return readPDataTf(r)
    case 0x05:
      fixedBody(r, type)
      return { _tag: "AReleaseRq" }
    case 0x06:
      fixedBody(r, type)
      return { _tag: "AReleaseRp" }
    case 0x07: {
      fixedBody(r, type)
      r.skip(2)
      const source = r.u8()
      const reason = r.u8()
      if (source > 2) throw new Broken(undefined, 8, `source ${source} is not 0-2`)
      return { _tag: "AAbort", source: source as 0 | 1 | 2, reason }
    }
    default:
      throw new Broken(undefined, 0, "unrecognized PDU type", 1)
  }
}

/**
 * Decodes one whole PDU: `bytes` must hold the 6-byte header and exactly the body its length says.
 * PDV data are views into `bytes`; everything else is copied.
 */
export const decodePdu = (bytes: Uint8Array): Result.Result<P.Pdu, PduDecodeError> => {
  const type = bytes.length > 0 ? bytes[0]! : -1
  const pdu = pduTypeName(type)
  if (bytes.length < 6) {
    return Result.fail(
      new PduDecodeError({ pdu, item: undefined, offset: 0, rule: "shorter than the header", abortReason: 0 })
    )
  }
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(2, false)
  if (length !== bytes.length - 6) {
    const rule = `length field ${length} but ${bytes.length - 6} bytes follow`
    return Result.fail(new PduDecodeError({ pdu, item: undefined, offset: 2, rule, abortReason: 6 }))
  }
  try {
    return Result.succeed(readBody(type, new Reader(bytes, 6)))
  } catch (e) {
    if (e instanceof Broken) {
      return Result.fail(
        new PduDecodeError({ pdu, item: e.item, offset: e.offset, rule: e.rule, abortReason: e.abortReason })
      )
    }
    if (e instanceof OutOfBounds) {
      const rule = `needs ${e.wanted} more bytes than the PDU or item holds`
      return Result.fail(new PduDecodeError({ pdu, item: undefined, offset: e.offset, rule, abortReason: 6 }))
    }
    return Result.fail(new PduDecodeError({ pdu, item: undefined, offset: 0, rule: String(e), abortReason: 0 }))
  }
}

// ---- encoding ----

// A private failure carrying the rule a PDU to encode breaks, thrown by the encoding helpers below (all called under
// `writeAssociate`); caught by the `try` in `encodePdu` and returned as a PduEncodeError.
class Unencodable {
  readonly rule: string
  constructor(rule: string) {
    this.rule = rule
  }
}

const isAscii = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7e) return false
  return true
}

const writeAe = (w: Writer, ae: string, what: string): void => {
  if (ae.length > 16 || !isAscii(ae)) throw new Unencodable(`${what} "${ae}" is not 1-16 ISO 646 characters`)
  w.text(ae.padEnd(16, " "))
}

const checkUid = (uid: string, what: string): string => {
  if (uid.length === 0 || uid.length > 64 || !isAscii(uid)) throw new Unencodable(`${what} "${uid}" is not a UID`)
  return uid
}

const writeUidItem = (w: Writer, type: number, uid: string, what: string): void => {
  w.u8(type).u8(0).u16(uid.length).text(checkUid(uid, what))
}

const writeUidPrefixed = (w: Writer, uid: string, what: string): void => {
  w.u16(uid.length).text(checkUid(uid, what))
}

const writeBytesPrefixed = (w: Writer, b: Uint8Array, what: string): void => {
  if (b.length > 0xffff) throw new Unencodable(`${what} of ${b.length} bytes exceeds 65535`)
  w.u16(b.length).bytes(b)
}

const writeUserItem = (w: Writer, item: P.UserItem): void => {
  const type = item._tag === "UnknownUserItem" ? item.itemType : P.ITEM_TYPE[item._tag]
  w.u8(type).u8(0)
  const done = w.length16()
  switch (item._tag) {
    case "MaximumLength":
      w.u32(item.maximumLength)
      break
    case "ImplementationClassUid":
      w.text(checkUid(item.uid, "Implementation Class UID"))
      break
    case "AsynchronousOperationsWindow":
      w.u16(item.maxOperationsInvoked).u16(item.maxOperationsPerformed)
      break
    case "ScpScuRoleSelection":
      writeUidPrefixed(w, item.sopClassUid, "SOP Class UID")
      w.u8(item.scuRole).u8(item.scpRole)
      break
    case "ImplementationVersionName":
      if (item.name.length < 1 || item.name.length > 16 || !isAscii(item.name)) {
        throw new Unencodable(`Implementation Version Name "${item.name}" is not 1-16 characters`)
      }
      w.text(item.name)
      break
    case "SopClassExtendedNegotiation":
      writeUidPrefixed(w, item.sopClassUid, "SOP Class UID")
      w.bytes(item.applicationInformation)
      break
    case "SopClassCommonExtendedNegotiation": {
      writeUidPrefixed(w, item.sopClassUid, "SOP Class UID")
      writeUidPrefixed(w, item.serviceClassUid, "Service Class UID")
      const list = w.length16()
      for (const uid of item.relatedGeneralSopClassUids) writeUidPrefixed(w, uid, "related general SOP Class UID")
      list()
      break
    }
    case "UserIdentityRq":
      w.u8(item.identityType).u8(item.positiveResponseRequested ? 1 : 0)
      writeBytesPrefixed(w, item.primaryField, "primary field")
      writeBytesPrefixed(w, item.secondaryField, "secondary field")
      break
    case "UserIdentityAc":
      writeBytesPrefixed(w, item.serverResponse, "server response")
      break
    case "UnknownUserItem":
      w.bytes(item.data)
      break
  }
  done()
}

const checkItemLength = (w: Writer, start: number, what: string): void => {
  if (w.offset - start - 4 > 0xffff) throw new Unencodable(`${what} exceeds 65535 bytes`)
}

const writeAssociate = (w: Writer, pdu: P.AAssociateRq | P.AAssociateAc): void => {
  w.u16(pdu.protocolVersion).u16(0)
  writeAe(w, pdu.calledAeTitle, "called AE title")
  writeAe(w, pdu.callingAeTitle, "calling AE title")
  w.zeros(32)
  writeUidItem(w, P.ITEM_TYPE.ApplicationContextItem, pdu.applicationContextName, "Application Context Name")
  for (const pc of pdu.presentationContexts) {
    const start = w.offset
    if (pc._tag === "PresentationContextRq") {
      if (pc.id % 2 === 0 || pc.id < 1 || pc.id > 255) throw new Unencodable(`presentation context id ${pc.id}`)
      w.u8(P.ITEM_TYPE.PresentationContextRq).u8(0)
      const done = w.length16()
      w.u8(pc.id).zeros(3)
      writeUidItem(w, P.ITEM_TYPE.AbstractSyntax, pc.abstractSyntax, "abstract syntax")
      if (pc.transferSyntaxes.length === 0)
        throw new Unencodable(`presentation context ${pc.id} has no transfer syntax`)
      for (const ts of pc.transferSyntaxes) writeUidItem(w, P.ITEM_TYPE.TransferSyntax, ts, "transfer syntax")
      checkItemLength(w, start, "Presentation Context item")
      done()
    } else {
      w.u8(P.ITEM_TYPE.PresentationContextAc).u8(0)
      const done = w.length16()
      w.u8(pc.id).u8(0).u8(pc.result).u8(0)
      if (pc.transferSyntax !== undefined) {
        writeUidItem(w, P.ITEM_TYPE.TransferSyntax, pc.transferSyntax, "transfer syntax")
      } else if (pc.result === 0) {
        throw new Unencodable(`accepted presentation context ${pc.id} has no transfer syntax`)
      }
      done()
    }
  }
  const start = w.offset
  w.u8(P.ITEM_TYPE.UserInformation).u8(0)
  const done = w.length16()
  for (const item of pdu.userInformation) writeUserItem(w, item)
  checkItemLength(w, start, "User Information item")
  done()
  for (const item of pdu.unknownItems) {
    if (item.data.length > 0xffff) throw new Unencodable(`unknown item 0x${item.itemType.toString(16)} too long`)
    w.u8(item.itemType).u8(0).u16(item.data.length).bytes(item.data)
  }
}

// The A-ASSOCIATE-RQ and -AC writer, kept between encodes (its result is copied out): one allocation each (the copy)
// rather than three (a 1 KiB buffer, its DataView, the copy) on every association's path, both sides. Encoding is
// synchronous, so one writer serves every association of the process.
const associateWriter = new Writer(1024)

/** Encodes any PDU. P-DATA-TF goes through `encodePDataTf`. */
export const encodePdu = (pdu: P.Pdu): Result.Result<Uint8Array, PduEncodeError> => {
  if (pdu._tag === "PDataTf") return Result.succeed(encodePDataTf(pdu.pdvs))
  const w =
    pdu._tag === "AAssociateRq" || pdu._tag === "AAssociateAc" ? associateWriter.restart(1024, 65536) : new Writer(10)
  w.u8(P.PDU_TYPE[pdu._tag]).u8(0)
  const done = w.length32()
  try {
    switch (pdu._tag) {
      case "AAssociateRq":
      case "AAssociateAc":
        writeAssociate(w, pdu)
        break
      case "AAssociateRj":
        w.u8(0).u8(pdu.result).u8(pdu.source).u8(pdu.reason)
        break
      case "AReleaseRq":
      case "AReleaseRp":
        w.u32(0)
        break
      case "AAbort":
        w.u8(0).u8(0).u8(pdu.source).u8(pdu.reason)
        break
    }
  } catch (e) {
    const rule = e instanceof Unencodable ? e.rule : String(e)
    return Result.fail(new PduEncodeError({ pdu: pduTypeName(P.PDU_TYPE[pdu._tag]), rule }))
  }
  done()
  // the kept writer's bytes are copied out before its next use; a writer of its own is given as it is
  return Result.succeed(w === associateWriter ? w.finish().slice() : w.finish())
}

/** The encoded size of a P-DATA-TF PDU holding these PDVs. */
export const pDataTfSize = (pdvs: ReadonlyArray<Pick<Pdv, "data">>): number => {
  let size = 6
  for (const pdv of pdvs) size += 6 + pdv.data.length
  return size
}

/** Encodes a P-DATA-TF PDU in one allocation of the exact size. */
export const encodePDataTf = (pdvs: ReadonlyArray<Pdv>): Uint8Array => {
  const out = new Uint8Array(pDataTfSize(pdvs))
  const view = new DataView(out.buffer)
  out[0] = 0x04
  view.setUint32(2, out.length - 6, false)
  let at = 6
  for (const pdv of pdvs) {
    view.setUint32(at, pdv.data.length + 2, false)
    out[at + 4] = pdv.presentationContextId
    out[at + 5] = (pdv.isCommand ? 1 : 0) | (pdv.isLast ? 2 : 0)
    out.set(pdv.data, at + 6)
    at += 6 + pdv.data.length
  }
  return out
}

/** The codec as a Schema: `Uint8Array` (one whole PDU) decoded to a validated `Pdu`, and back. */
export const PduFromBytes = Schema.Uint8Array.pipe(
  Schema.decodeTo(
    P.Pdu,
    SchemaTransformation.transformEffect({
      decode: (bytes: Uint8Array, options) => {
        const r = decodePdu(bytes)
        return Result.isSuccess(r)
          ? Effect.succeed(r.success as typeof P.Pdu.Encoded)
          : Effect.fail(new SchemaIssue.InvalidValue({ message: r.failure.message }, bytes, options))
      },
      encode: (pdu: typeof P.Pdu.Encoded, options) => {
        const r = encodePdu(pdu as P.Pdu)
        return Result.isSuccess(r)
          ? Effect.succeed(r.success)
          : Effect.fail(new SchemaIssue.InvalidValue({ message: r.failure.message }, pdu, options))
      }
    })
  )
)
