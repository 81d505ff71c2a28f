/**
 * AE titles, UIDs and presentation context ids with the standard's limits.
 *
 * AE titles: PS3.5 Table 6.2-1 (AE VR: 16 bytes, no backslash or control characters; leading and
 * trailing spaces are not significant; a title of only spaces is not a title). UIDs: PS3.5
 * section 9 (digits and dots, at most 64 bytes, no leading zero in a component). Presentation
 * context ids: PS3.8 section 9.3.2.2 (odd integers 1-255).
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import { trimBoth } from "./Text.ts"

/** A value outside the limits of its kind. */
export class InvalidIdentifier extends Data.TaggedError("InvalidIdentifier")<{
  readonly kind: "AE title" | "UID" | "presentation context id"
  readonly value: string
  readonly rule: string
}> {
  override get message(): string {
    // a value read from a peer or a file may be 64 KiB long: its start is enough to tell it
    const shown =
      this.value.length > 80 ? `"${this.value.slice(0, 64)}..." (${this.value.length} characters)` : `"${this.value}"`
    return `${this.kind} ${shown}: ${this.rule}`
  }
}

/** An AE title as received, with leading/trailing spaces and NUL padding removed. */
export const trimAeTitle = (raw: string): string => trimBoth(raw, " \0")

// ISO 646 printable characters but backslash (PS3.5 Table 6.2-1, AE).
const isPlainAe = (value: string): boolean => {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c < 0x20 || c > 0x7e || c === 0x5c) return false
  }
  return true
}

/** Validates an AE title given by a user: 1-16 characters, no backslash or control characters, not all spaces. */
export const aeTitle = (value: string): Result.Result<string, InvalidIdentifier> => {
  const fail = (rule: string) => Result.fail(new InvalidIdentifier({ kind: "AE title", value, rule }))
  if (value.length === 0 || value.length > 16) return fail("must be 1-16 characters")
  if (!isPlainAe(value)) return fail("has a backslash, a control or a non-ASCII character")
  if (trimAeTitle(value).length === 0) return fail("is only spaces")
  return Result.succeed(trimAeTitle(value))
}

/** Whether two AE titles name the same entity: compared after trimming spaces and NUL padding. */
export const sameAeTitle = (a: string, b: string): boolean => trimAeTitle(a) === trimAeTitle(b)

const UID_PATTERN = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/

/** Validates a UID: digits and dots, no leading zeros in a component, at most 64 characters. */
export const uid = (value: string): Result.Result<string, InvalidIdentifier> => {
  if (value.length === 0 || value.length > 64) {
    return Result.fail(new InvalidIdentifier({ kind: "UID", value, rule: "must be 1-64 characters" }))
  }
  if (!UID_PATTERN.test(value)) {
    return Result.fail(new InvalidIdentifier({ kind: "UID", value, rule: "must be dot-separated numbers" }))
  }
  return Result.succeed(value)
}

/** Whether an id is a valid presentation context id: odd, 1-255. */
export const isPresentationContextId = (id: number): boolean =>
  Number.isInteger(id) && id >= 1 && id <= 255 && id % 2 === 1

/** The presentation context ids 1, 3, 5, ... 255 in order: at most 128. */
export const presentationContextIds = (count: number): Result.Result<ReadonlyArray<number>, InvalidIdentifier> =>
  count > 128
    ? Result.fail(
        new InvalidIdentifier({
          kind: "presentation context id",
          value: String(count),
          rule: "an association holds at most 128 presentation contexts"
        })
      )
    : Result.succeed(Array.from({ length: count }, (_, i) => 2 * i + 1))
