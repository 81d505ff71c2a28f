/**
 * `@netdicom/wire`: the pure codecs of DICOM networking, with no I/O.
 *
 * @since 0.1.0
 */
export * as CommandSet from "./CommandSet.ts"
export * as Dimse from "./Dimse.ts"
export * as ElementWalker from "./ElementWalker.ts"
export * as Fragmenter from "./Fragmenter.ts"
export * as Identifiers from "./Identifiers.ts"
export * as Pdu from "./Pdu.ts"
export * as PduCodec from "./PduCodec.ts"
export * as PduError from "./PduError.ts"
export * as PduParser from "./PduParser.ts"
export * as PduSummary from "./PduSummary.ts"
export * as Pdv from "./Pdv.ts"
export * as Reassembler from "./Reassembler.ts"
export * as Status from "./Status.ts"
export * as Text from "./Text.ts"
export * as Transcoder from "./Transcoder.ts"
export * as Uids from "./Uids.ts"
