/**
 * The PDU codec in a few lines: build an A-ASSOCIATE-RQ, encode it, feed the bytes to the
 * incremental parser in two pieces, and print what came back.
 *
 *   npx -y pnpm@10 exec node examples/pdu-roundtrip.ts
 */
import { Result } from "effect"
import { Pdu, PduCodec, PduParser, PduSummary, Uids } from "@netdicom/wire"

const rq: Pdu.AAssociateRq = {
  _tag: "AAssociateRq",
  protocolVersion: 1,
  calledAeTitle: "STORESCP",
  callingAeTitle: "NETDICOM",
  applicationContextName: Pdu.DICOM_APPLICATION_CONTEXT,
  presentationContexts: [
    {
      _tag: "PresentationContextRq",
      id: 1,
      abstractSyntax: "1.2.840.10008.1.1",
      transferSyntaxes: ["1.2.840.10008.1.2"]
    }
  ],
  userInformation: [
    { _tag: "MaximumLength", maximumLength: 16384 },
    { _tag: "ImplementationClassUid", uid: "1.2.826.0.1.3680043.10.1478.1" }
  ],
  unknownItems: []
}

const bytes = PduCodec.encodePdu(rq)
if (Result.isFailure(bytes)) throw new Error(bytes.failure.message)
console.log(`encoded ${bytes.success.length} bytes: ${Buffer.from(bytes.success.subarray(0, 16)).toString("hex")}...`)

const parser = PduParser.make({ maxPduLength: 16384 })
const half = Math.floor(bytes.success.length / 2)
const first = parser.push(bytes.success.subarray(0, half))
const second = parser.push(bytes.success.subarray(half))
console.log(`PDUs after the first half: ${first.pdus.length}, after the second: ${second.pdus.length}`)
for (const pdu of second.pdus) console.log(PduSummary.summarize(pdu, Uids.describeUid))

const bad = PduCodec.decodePdu(Uint8Array.from([0x04, 0, 0, 0, 0, 3, 0, 0, 0]))
if (Result.isFailure(bad)) console.log(`a malformed P-DATA-TF is a typed error: ${bad.failure.message}`)
