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
import { describeUid } from "./Uids.ts"

const RESULT_NAMES = ["accepted", "user-rejection", "no-reason", "abstract-syntax-not-supported", "ts-not-supported"]

/** PS3.8 Table 9-21: A-ASSOCIATE-RJ sources, and the reasons each source gives. */
const RJ_SOURCES: Record<number, string> = {
  1: "service-user",
  2: "service-provider (ACSE)",
  3: "service-provider (presentation)"
}
const RJ_REASONS: Record<number, Record<number, string>> = {
  1: {
    1: "no-reason-given",
    2: "application-context-name-not-supported",
    3: "calling-AE-title-not-recognized",
    7: "called-AE-title-not-recognized"
  },
  2: { 1: "no-reason-given", 2: "protocol-version-not-supported" },
  3: { 1: "temporary-congestion", 2: "local-limit-exceeded" }
}

/** PS3.8 Table 9-26: A-ABORT sources and (from the service-provider) reasons. */
const ABORT_SOURCES: Record<number, string> = { 0: "service-user", 2: "service-provider" }
const ABORT_REASONS: Record<number, string> = {
  0: "reason-not-specified",
  1: "unrecognized-PDU",
  2: "unexpected-PDU",
  4: "unrecognized-PDU-parameter",
  5: "unexpected-PDU-parameter",
  6: "invalid-PDU-parameter-value"
}

/** `7 (called-AE-title-not-recognized)`, or the bare number for a value the standard reserves. */
const named = (value: number, name: string | undefined): string =>
  name === undefined ? `${value}` : `${value} (${name})`

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

/**
 * A one-line summary of a PDU, e.g. `A-ASSOCIATE-RQ ECHOSCU -> ANY-SCP 1 context(s) [...]`; UIDs are named by
 * `describe`, by default the standard's name of a UID it knows (`CT Image Storage`) and the UID itself otherwise.
 */
export const summarize = (pdu: P.Pdu, describe: (uid: string) => string = describeUid): string => {
  switch (pdu._tag) {
    case "AAssociateRq": {
      const pcs = pdu.presentationContexts
        .map((pc) => `#${pc.id} ${describe(pc.abstractSyntax)} [${pc.transferSyntaxes.map(describe).join(", ")}]`)
        .join("; ")
      const user = pdu.userInformation.map((i) => userItem(i, describe)).join(" ")
      const peers = `${trimAeTitle(pdu.callingAeTitle)} -> ${trimAeTitle(pdu.calledAeTitle)}`
      return `A-ASSOCIATE-RQ ${peers} ${pdu.presentationContexts.length} context(s): ${pcs} | ${user}`
    }
    case "AAssociateAc": {
      const pcs = pdu.presentationContexts
        .map((pc) => {
          const ts = pc.result === 0 && pc.transferSyntax ? ` ${describe(pc.transferSyntax)}` : ""
          return `#${pc.id} ${RESULT_NAMES[pc.result]}${ts}`
        })
        .join("; ")
      const user = pdu.userInformation.map((i) => userItem(i, describe)).join(" ")
      return `A-ASSOCIATE-AC ${pdu.presentationContexts.length} context(s): ${pcs} | ${user}`
    }
    case "AAssociateRj": {
      const result = pdu.result === 1 ? "permanent" : "transient"
      const source = named(pdu.source, RJ_SOURCES[pdu.source])
      const reason = named(pdu.reason, RJ_REASONS[pdu.source]?.[pdu.reason])
      return `A-ASSOCIATE-RJ result=${result} source=${source} reason=${reason}`
    }
    case "PDataTf": {
      const pdvs = pdu.pdvs.map((pdv) => {
        const kind = `${pdv.isCommand ? "command" : "data"}${pdv.isLast ? " last" : ""}`
        return `[pc=${pdv.presentationContextId} ${kind} ${pdv.data.length}B]`
      })
      return `P-DATA-TF ${pdvs.join(" ")}`
    }
    case "AReleaseRq":
      return "A-RELEASE-RQ"
    case "AReleaseRp":
      return "A-RELEASE-RP"
    case "AAbort": {
      const reason = pdu.source === 2 ? named(pdu.reason, ABORT_REASONS[pdu.reason]) : pdu.reason
      return `A-ABORT source=${named(pdu.source, ABORT_SOURCES[pdu.source])} reason=${reason}`
    }
  }
}
