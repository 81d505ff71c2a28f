/**
 * The command sets of the common messages (C-STORE-RQ/RSP, C-ECHO-RQ/RSP without status details or C-MOVE
 * originator) encoded and decoded in one pass, without the generic walk over every PS3.7 element, the command set
 * record in between and the per-field checks by name: the messages of every small C-STORE, on both sides.
 *
 * Both give exactly what the generic path gives (`CommandSet.encode` of `Dimse.toCommandSet`, and
 * `CommandSet.decode` then `Dimse.fromCommandSet`), or `undefined` for anything else: another message, an element
 * they do not handle, a value the generic path would refuse or treat specially (an empty string, a duplicate, a
 * wrong length). The caller then takes the generic path, which gives the same result or the same error as ever,
 * so no check is lost. `test/CommonCommands.test.ts` compares the two on random and hostile input.
 *
 * @internal
 */
import type { CommandSet } from "../CommandSet.ts"
import type { Message } from "../Dimse.ts"

const C_STORE_RQ = 0x0001
const C_STORE_RSP = 0x8001
const C_ECHO_RQ = 0x0030
const C_ECHO_RSP = 0x8030
const NO_DATA_SET = 0x0101
const DATA_SET_PRESENT = 0x0001

// A US value the generic encoder writes as it is.
const isUs = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffff

// A UI value the generic encoder writes as it is (1 to 64 characters of the default repertoire, no backslash);
// an empty one it would leave out, so it is not handled here.
const UID = /^[\x20-\x5b\x5d-\x7e]{1,64}$/
const isUid = (v: unknown): v is string => typeof v === "string" && UID.test(v)

const ascii = new TextEncoder()

interface Fields {
  readonly errorComment?: unknown
  readonly offendingElement?: unknown
  readonly errorId?: unknown
  readonly moveOriginatorApplicationEntityTitle?: unknown
  readonly moveOriginatorMessageId?: unknown
  readonly affectedSopInstanceUid?: unknown
  readonly affectedSopClassUid?: unknown
}

const hasStatusDetail = (m: Fields): boolean =>
  m.errorComment !== undefined || m.offendingElement !== undefined || m.errorId !== undefined

// Each element is group 0000 (two zero bytes, as the zero-filled buffer has them), its element number and its 32-bit
// length (little endian; every length here fits the low byte), then its value. Written inline rather than by a helper
// per element: `write` runs for every C-STORE and its response, mostly before V8 optimizes it, where each call costs.
// The command set, elements in tag order: (0000,0002) (0000,0100) (0000,0110 or 0120) (0000,0700) (0000,0800)
// (0000,0900) (0000,1000); `priority` and `status` -1 when absent, the UIDs undefined when absent. A UI value is
// padded to even length with a NUL (the buffer is zero-filled); `isUid` checked it is one byte per character.
const write = (
  sopClass: string | undefined,
  commandField: number,
  idElement: number,
  id: number,
  priority: number,
  dataSetType: number,
  status: number,
  sopInstance: string | undefined
): Uint8Array => {
  const classLength = sopClass === undefined ? -1 : sopClass.length + (sopClass.length & 1)
  const instanceLength = sopInstance === undefined ? -1 : sopInstance.length + (sopInstance.length & 1)
  const groupLength =
    (classLength < 0 ? 0 : 8 + classLength) +
    30 +
    (priority < 0 ? 0 : 10) +
    (status < 0 ? 0 : 10) +
    (instanceLength < 0 ? 0 : 8 + instanceLength)
  const out = new Uint8Array(12 + groupLength)
  // (0000,0000) UL, 4 bytes: the group length (under 64 KiB here)
  out[4] = 4
  out[8] = groupLength & 0xff
  out[9] = (groupLength >>> 8) & 0xff
  let at = 12
  if (classLength >= 0) {
    out[at + 2] = 0x02
    out[at + 4] = classLength
    ascii.encodeInto(sopClass!, out.subarray(at + 8, at + 8 + sopClass!.length))
    at += 8 + classLength
  }
  // (0000,0100) US
  out[at + 3] = 0x01
  out[at + 4] = 2
  out[at + 8] = commandField & 0xff
  out[at + 9] = commandField >>> 8
  at += 10
  // (0000,0110) or (0000,0120) US
  out[at + 2] = idElement & 0xff
  out[at + 3] = idElement >>> 8
  out[at + 4] = 2
  out[at + 8] = id & 0xff
  out[at + 9] = id >>> 8
  at += 10
  if (priority >= 0) {
    // (0000,0700) US
    out[at + 3] = 0x07
    out[at + 4] = 2
    out[at + 8] = priority & 0xff
    out[at + 9] = priority >>> 8
    at += 10
  }
  // (0000,0800) US
  out[at + 3] = 0x08
  out[at + 4] = 2
  out[at + 8] = dataSetType & 0xff
  out[at + 9] = dataSetType >>> 8
  at += 10
  if (status >= 0) {
    // (0000,0900) US
    out[at + 3] = 0x09
    out[at + 4] = 2
    out[at + 8] = status & 0xff
    out[at + 9] = status >>> 8
    at += 10
  }
  if (instanceLength >= 0) {
    // (0000,1000) UI
    out[at + 3] = 0x10
    out[at + 4] = instanceLength
    ascii.encodeInto(sopInstance!, out.subarray(at + 8, at + 8 + sopInstance!.length))
  }
  return out
}

// An optional UID: absent, or one the generic encoder writes as it is (false: neither).
const optionalUid = (v: unknown): v is string | undefined => v === undefined || isUid(v)

/** The command set of a common message, byte for byte what the generic encoder makes; undefined for any other. */
export const encode = (msg: Message): Uint8Array | undefined => {
  switch (msg._tag) {
    case "CStoreRq": {
      const m: Fields = msg
      if (m.moveOriginatorApplicationEntityTitle !== undefined || m.moveOriginatorMessageId !== undefined) return
      // `isUs` and `isUid` written out: every C-STORE sent comes here.
      const id: unknown = msg.messageId
      const priority: unknown = msg.priority
      const sopClass: unknown = msg.affectedSopClassUid
      const sopInstance: unknown = msg.affectedSopInstanceUid
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > 0xffff) return
      if (typeof priority !== "number" || !Number.isInteger(priority) || priority < 0 || priority > 0xffff) return
      if (typeof sopClass !== "string" || !UID.test(sopClass)) return
      if (typeof sopInstance !== "string" || !UID.test(sopInstance)) return
      return write(
        msg.affectedSopClassUid,
        C_STORE_RQ,
        0x0110,
        msg.messageId,
        msg.priority,
        DATA_SET_PRESENT,
        -1,
        msg.affectedSopInstanceUid
      )
    }
    case "CStoreRsp": {
      // `hasStatusDetail`, `isUs` and `optionalUid` written out: every C-STORE answered comes here.
      const m: Fields = msg
      if (m.errorComment !== undefined || m.offendingElement !== undefined || m.errorId !== undefined) return
      const id: unknown = msg.messageIdBeingRespondedTo
      const status: unknown = msg.status
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > 0xffff) return
      if (typeof status !== "number" || !Number.isInteger(status) || status < 0 || status > 0xffff) return
      const sopClass = msg.affectedSopClassUid
      const sopInstance = msg.affectedSopInstanceUid
      if (sopClass !== undefined && (typeof sopClass !== "string" || !UID.test(sopClass))) return
      if (sopInstance !== undefined && (typeof sopInstance !== "string" || !UID.test(sopInstance))) return
      return write(
        sopClass,
        C_STORE_RSP,
        0x0120,
        msg.messageIdBeingRespondedTo,
        -1,
        NO_DATA_SET,
        msg.status,
        sopInstance
      )
    }
    case "CEchoRq":
      if (!isUs(msg.messageId) || !isUid(msg.affectedSopClassUid)) return
      return write(msg.affectedSopClassUid, C_ECHO_RQ, 0x0110, msg.messageId, -1, NO_DATA_SET, -1, undefined)
    case "CEchoRsp": {
      if (hasStatusDetail(msg) || !isUs(msg.messageIdBeingRespondedTo) || !isUs(msg.status)) return
      const sopClass = msg.affectedSopClassUid
      if (!optionalUid(sopClass)) return
      return write(sopClass, C_ECHO_RSP, 0x0120, msg.messageIdBeingRespondedTo, -1, NO_DATA_SET, msg.status, undefined)
    }
    default:
      return
  }
}

// A UI value as the generic decoder reads it: leading spaces and trailing spaces and NULs stripped.
const readText = (bytes: Uint8Array, start: number, end: number): string => {
  while (end > start && (bytes[end - 1] === 0x00 || bytes[end - 1] === 0x20)) end--
  while (start < end && bytes[start] === 0x20) start++
  // Each byte one character (0-255), as the generic decoder reads them.
  return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as Array<number>)
}

/** A decoded common message and its command set, as the generic decoder gives them. */
export interface Decoded {
  readonly command: CommandSet
  readonly message: Message
}

/**
 * A common message from its command set's bytes, exactly as `CommandSet.decode` then `Dimse.fromCommandSet` give it
 * (the command set's fields in the order received); undefined for anything else, including anything they refuse.
 */
export const decode = (bytes: Uint8Array): Decoded | undefined => {
  const n = bytes.length
  const cs: Record<string, number | string> = {}
  let seen = 0
  let sopClass: string | undefined
  let sopInstance: string | undefined
  let commandField = -1
  let messageId = -1
  let respondedTo = -1
  let priority = -1
  let dataSetType = -1
  let status = -1
  let at = 0
  while (at < n) {
    if (n - at < 8 || bytes[at] !== 0 || bytes[at + 1] !== 0) return
    const element = bytes[at + 2]! | (bytes[at + 3]! << 8)
    const length = (bytes[at + 4]! | (bytes[at + 5]! << 8) | (bytes[at + 6]! << 16) | (bytes[at + 7]! << 24)) >>> 0
    const v = at + 8
    if (length > n - v) return
    let bit: number
    let us = -1
    if (element === 0x0002 || element === 0x1000) {
      bit = element === 0x0002 ? 1 : 2
      // Longer than any UID with padding: left to the generic path (and `apply` below takes no huge argument lists).
      if ((seen & bit) !== 0 || length > 128) return
      const text = length === 0 ? "" : readText(bytes, v, v + length)
      if (text !== "") {
        if (element === 0x0002) {
          sopClass = text
          cs["affectedSopClassUid"] = text
        } else {
          sopInstance = text
          cs["affectedSopInstanceUid"] = text
        }
      }
    } else {
      switch (element) {
        case 0x0000:
          bit = 4
          if (length !== 4) return
          break
        case 0x0100:
          bit = 8
          break
        case 0x0110:
          bit = 16
          break
        case 0x0120:
          bit = 32
          break
        case 0x0700:
          bit = 64
          break
        case 0x0800:
          bit = 128
          break
        case 0x0900:
          bit = 256
          break
        default:
          return
      }
      if ((seen & bit) !== 0) return
      if (element !== 0x0000 && length !== 0) {
        if (length !== 2) return
        us = bytes[v]! | (bytes[v + 1]! << 8)
        switch (element) {
          case 0x0100:
            commandField = us
            cs["commandField"] = us
            break
          case 0x0110:
            messageId = us
            cs["messageId"] = us
            break
          case 0x0120:
            respondedTo = us
            cs["messageIdBeingRespondedTo"] = us
            break
          case 0x0700:
            priority = us
            cs["priority"] = us
            break
          case 0x0800:
            dataSetType = us
            cs["commandDataSetType"] = us
            break
          default:
            status = us
            cs["status"] = us
        }
      }
    }
    seen |= bit
    at = v + length
  }
  if (dataSetType < 0) return
  const withData = dataSetType !== NO_DATA_SET
  // The UIDs' lengths as the message Schemas check them (1 to 64 characters; never empty here).
  if ((sopClass !== undefined && sopClass.length > 64) || (sopInstance !== undefined && sopInstance.length > 64)) return
  const command = cs as CommandSet
  switch (commandField) {
    case C_STORE_RQ:
      if (!withData || respondedTo >= 0 || status >= 0 || messageId < 0 || priority < 0 || priority > 2) return
      if (sopClass === undefined || sopInstance === undefined) return
      return {
        command,
        message: {
          _tag: "CStoreRq",
          messageId,
          affectedSopClassUid: sopClass,
          affectedSopInstanceUid: sopInstance,
          priority: priority as 0 | 1 | 2
        }
      }
    case C_STORE_RSP: {
      if (withData || messageId >= 0 || priority >= 0 || respondedTo < 0 || status < 0) return
      const message: Record<string, unknown> = { _tag: "CStoreRsp", messageIdBeingRespondedTo: respondedTo, status }
      if (sopClass !== undefined) message["affectedSopClassUid"] = sopClass
      if (sopInstance !== undefined) message["affectedSopInstanceUid"] = sopInstance
      return { command, message: message as unknown as Message }
    }
    case C_ECHO_RQ:
      if (withData || respondedTo >= 0 || status >= 0 || priority >= 0 || sopInstance !== undefined) return
      if (messageId < 0 || sopClass === undefined) return
      return { command, message: { _tag: "CEchoRq", messageId, affectedSopClassUid: sopClass } }
    case C_ECHO_RSP: {
      if (withData || messageId >= 0 || priority >= 0 || sopInstance !== undefined || respondedTo < 0 || status < 0) {
        return
      }
      const message: Record<string, unknown> = { _tag: "CEchoRsp", messageIdBeingRespondedTo: respondedTo, status }
      if (sopClass !== undefined) message["affectedSopClassUid"] = sopClass
      return { command, message: message as unknown as Message }
    }
    default:
      return
  }
}
