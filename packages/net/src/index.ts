/**
 * `@netdicom/net`: DICOM networking on Effect — the upper layer state machine, associations,
 * DIMSE and the DIMSE-C services as SCU and SCP.
 *
 * @since 0.1.0
 */
export * as AcceptorPolicy from "./association/AcceptorPolicy.ts"
export * as ApplicationEntity from "./association/ApplicationEntity.ts"
export * as Association from "./association/Association.ts"
export * as AssociationError from "./association/AssociationError.ts"
export * as Negotiation from "./association/Negotiation.ts"
export type { AcceptedContext, Negotiated, RejectedContext } from "./association/Negotiated.ts"
export * as Server from "./association/Server.ts"
export * as CharacterSet from "./dimse/CharacterSet.ts"
export * as ContextParts from "./dimse/ContextParts.ts"
export * as DataSet from "./dimse/DataSet.ts"
export * as DataSetCheck from "./dimse/DataSetCheck.ts"
export * as DimseChannel from "./dimse/DimseChannel.ts"
export * as DimseError from "./dimse/DimseError.ts"
export * as Normalized from "./services/Normalized.ts"
export * as Part10 from "./dimse/Part10.ts"
export * as QueryRetrieve from "./services/QueryRetrieve.ts"
export * as ReceivedBytes from "./upper/ReceivedBytes.ts"
export * as Scp from "./services/Scp.ts"
export * as StorageCommitment from "./services/StorageCommitment.ts"
export * as StorageCommitmentScp from "./services/StorageCommitmentScp.ts"
export * as Scu from "./services/Scu.ts"
export * as Signals from "./services/Signals.ts"
export * as StoreHandler from "./services/StoreHandler.ts"
export * as StateTable from "./upper/StateTable.ts"
export * as Transcode from "./dimse/Transcode.ts"
export * as Tls from "./upper/Tls.ts"
export * as Transport from "./upper/Transport.ts"
export * as UpperLayer from "./upper/UpperLayer.ts"
