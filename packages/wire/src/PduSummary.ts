/**
 * One-line, human-readable summaries of PDUs for debug logs (PS3.8 section 9.3 names).
 *
 * Pure functions: the runtime decides when to log them. A P-DATA-TF is summarised by its PDVs
 * (context, command or data, last or not, size); negotiation PDUs by their AE titles, contexts and
 * user information. `describe` lets the caller turn UIDs into names.
 *
 * @since 0.1.0
 */
import type * as P from "./Pdu.ts"
import { trimAeTitle } from "./Identifiers.ts"

const RESULT_NAMES = ["accepted", "user-rejection", "no-reason", "abstract-syntax-not-supported", "ts-not-supported"]

const userItem = (item: P.UserItem, describe: (uid: string) => string): string => {
  switch (item._tag) {
    case "MaximumLength":
      return `max-length=${item.maximumLength === 0 ? "unlimited" : item.maximumLength}`
    case "ImplementationClassUid":
      return `impl-class=${item.uid}`
    case "ImplementationVersionName":
      return `impl-version=${item.name.trim()}`
    case "AsynchronousOperationsWindow":
      return `async-window=${item.maxOperationsInvoked}/${item.maxOperationsPerformed}`
    case "ScpScuRoleSelection":
      return `role(${describe(item.sopClassUid)} scu=${item.scuRole} scp=${item.scpRole})`
    case "SopClassExtendedNegotiation":
      return `ext-neg(${describe(item.sopClassUid)} ${item.applicationInformation.length} bytes)`
    case "SopClassCommonExtendedNegotiation":
      return `common-ext-neg(${describe(item.sopClassUid)})`
    case "UserIdentityRq":
      return `user-identity(type=${item.identityType}${item.positiveResponseRequested ? " response-requested" : ""})`
    case "UserIdentityAc":
      return `user-identity-response(${item.serverResponse.length} bytes)`
    case "UnknownUserItem":
      return `unknown-user-item(0x${item.itemType.toString(16)} ${item.data.length} bytes)`
  }
}

/** A one-line summary of a PDU, e.g. `A-ASSOCIATE-RQ ECHOSCU -> ANY-SCP 1 context(s) [...]`. */
export const summarize = (pdu: P.Pdu, describe: (uid: string) => string = (uid) => uid): string => {
  switch (pdu._tag) {
    case "AAssociateRq": {
      const pcs = pdu.presentationContexts
        .map((pc) => `#${pc.id} ${describe(pc.abstractSyntax)} [${pc.transferSyntaxes.map(describe).join(", ")}]`)
        .join("; ")
      const user = pdu.userInformation.map((i) => userItem(i, describe)).join(" ")
      return `A-ASSOCIATE-RQ ${trimAeTitle(pdu.callingAeTitle)} -> ${trimAeTitle(pdu.calledAeTitle)} ${pdu.presentationContexts.length} context(s): ${pcs} | ${user}`
    }
    case "AAssociateAc": {
      const pcs = pdu.presentationContexts
        .map(
          (pc) =>
            `#${pc.id} ${RESULT_NAMES[pc.result]}${pc.result === 0 && pc.transferSyntax ? ` ${describe(pc.transferSyntax)}` : ""}`
        )
        .join("; ")
      const user = pdu.userInformation.map((i) => userItem(i, describe)).join(" ")
      return `A-ASSOCIATE-AC ${pdu.presentationContexts.length} context(s): ${pcs} | ${user}`
    }
    case "AAssociateRj":
      return `A-ASSOCIATE-RJ result=${pdu.result === 1 ? "permanent" : "transient"} source=${pdu.source} reason=${pdu.reason}`
    case "PDataTf":
      return `P-DATA-TF ${pdu.pdvs
        .map(
          (pdv) =>
            `[pc=${pdv.presentationContextId} ${pdv.isCommand ? "command" : "data"}${pdv.isLast ? " last" : ""} ${pdv.data.length}B]`
        )
        .join(" ")}`
    case "AReleaseRq":
      return "A-RELEASE-RQ"
    case "AReleaseRp":
      return "A-RELEASE-RP"
    case "AAbort":
      return `A-ABORT source=${pdu.source} reason=${pdu.reason}`
  }
}
