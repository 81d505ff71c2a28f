/** What the examples share: argument reading and an Application Entity. */
import { Result } from "effect"
import { ApplicationEntity } from "@netdicom/net"

/** Positional argument `i`, or the fallback. */
export const arg = (i: number, fallback: string): string => process.argv[2 + i] ?? fallback

/** An Application Entity for an example, with optional supported contexts. */
export const makeAe = (aeTitle: string, contexts: ApplicationEntity.ApplicationEntityOptions["contexts"] = []) =>
  Result.getOrThrow(
    ApplicationEntity.make({ aeTitle, contexts, timeouts: { acse: "10 seconds", dimse: "30 seconds" } })
  )

export const VERIFICATION = "1.2.840.10008.1.1"
export const UNCOMPRESSED = ApplicationEntity.UNCOMPRESSED_TRANSFER_SYNTAXES
