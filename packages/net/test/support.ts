/** Shared helpers for the net tests. */
import { Effect, Result } from "effect"
import * as ApplicationEntity from "../src/association/ApplicationEntity.ts"

export const VERIFICATION = "1.2.840.10008.1.1"
export const CT = "1.2.840.10008.5.1.4.1.1.2"

/** An Application Entity for tests, with short timeouts. */
export const testAe = (options: ApplicationEntity.ApplicationEntityOptions) =>
  Effect.sync(() =>
    Result.getOrThrow(
      ApplicationEntity.make({
        timeouts: { acse: "5 seconds", connect: "5 seconds", dimse: "10 seconds", write: "5 seconds" },
        ...options
      })
    )
  )
