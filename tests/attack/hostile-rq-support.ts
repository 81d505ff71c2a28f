/**
 * A hand-made A-ASSOCIATE-RQ encoder for the negotiation attacks: unlike `PduCodec.encodePdu` it checks nothing, so
 * it writes what a hostile peer can (non-ASCII AE titles, empty or over-long UIDs, any item, any id).
 */
const latin1 = (s: string): Array<number> => Array.from(s, (c) => c.charCodeAt(0) & 0xff)

const u16 = (n: number): Array<number> => [(n >> 8) & 0xff, n & 0xff]
const u32 = (n: number): Array<number> => [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]

/** An item: type, reserved byte, 16-bit length, body. */
export const item = (type: number, body: ReadonlyArray<number>): Array<number> => [
  type,
  0,
  ...u16(body.length),
  ...body
]

/** A UID item (abstract syntax 0x30, transfer syntax 0x40, application context 0x10, implementation 0x52). */
export const uidItem = (type: number, uid: string): Array<number> => item(type, latin1(uid))

export interface RawContext {
  readonly id: number
  readonly abstractSyntax: string
  readonly transferSyntaxes: ReadonlyArray<string>
}

export const contextItem = (c: RawContext): Array<number> =>
  item(0x20, [
    c.id,
    0,
    0,
    0,
    ...uidItem(0x30, c.abstractSyntax),
    ...c.transferSyntaxes.flatMap((ts) => uidItem(0x40, ts))
  ])

export const maxLengthItem = (n: number): Array<number> => item(0x51, u32(n))

/** An SCP/SCU Role Selection sub-item. */
export const roleItem = (sopClassUid: string, scu: number, scp: number): Array<number> =>
  item(0x54, [...u16(sopClassUid.length), ...latin1(sopClassUid), scu, scp])

/** A User Identity sub-item (type 1-5). */
export const identityItem = (
  type: number,
  positive: boolean,
  primary: ReadonlyArray<number>,
  secondary: ReadonlyArray<number>
): Array<number> =>
  item(0x58, [type, positive ? 1 : 0, ...u16(primary.length), ...primary, ...u16(secondary.length), ...secondary])

/** An A-ASSOCIATE-RQ PDU with exactly these fields (AE titles written as Latin-1, padded or cut to 16). */
export const rawRq = (options: {
  readonly called?: string
  readonly calling?: string
  readonly contexts: ReadonlyArray<RawContext>
  readonly userItems?: ReadonlyArray<ReadonlyArray<number>>
}): Uint8Array => {
  const ae = (s: string) => latin1(s.padEnd(16, " ").slice(0, 16))
  const body = [
    ...u16(1),
    0,
    0,
    ...ae(options.called ?? "NETDICOM-SCP"),
    ...ae(options.calling ?? "ATTACKER"),
    ...Array.from({ length: 32 }, () => 0),
    ...uidItem(0x10, "1.2.840.10008.3.1.1.1"),
    ...options.contexts.flatMap(contextItem),
    ...item(0x50, (options.userItems ?? [maxLengthItem(16384), uidItem(0x52, "1.2.3.4")]).flat())
  ]
  return Uint8Array.from([0x01, 0, ...u32(body.length), ...body])
}
