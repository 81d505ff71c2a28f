/**
 * Query/Retrieve information models and their SOP classes (PS3.4 Annex C, K).
 *
 * @since 0.1.0
 */

/** The information model a query or retrieve runs against. */
export type Model = "patient" | "study" | "worklist"

/** SOP Class UIDs per model and operation. */
export const SOP_CLASSES: Readonly<
  Record<Model, { readonly find: string; readonly move?: string; readonly get?: string }>
> = {
  patient: {
    find: "1.2.840.10008.5.1.4.1.2.1.1",
    move: "1.2.840.10008.5.1.4.1.2.1.2",
    get: "1.2.840.10008.5.1.4.1.2.1.3"
  },
  study: {
    find: "1.2.840.10008.5.1.4.1.2.2.1",
    move: "1.2.840.10008.5.1.4.1.2.2.2",
    get: "1.2.840.10008.5.1.4.1.2.2.3"
  },
  worklist: { find: "1.2.840.10008.5.1.4.31" }
}

/** The model a FIND, MOVE or GET SOP class belongs to, if any. */
export const modelOf = (
  sopClassUid: string
): { readonly model: Model; readonly op: "find" | "move" | "get" } | undefined => {
  for (const [model, ops] of Object.entries(SOP_CLASSES) as Array<[Model, (typeof SOP_CLASSES)[Model]]>) {
    for (const op of ["find", "move", "get"] as const) if (ops[op] === sopClassUid) return { model, op }
  }
  return undefined
}

/** Every Q/R SOP class, for proposing or accepting contexts. */
export const ALL_QR_SOP_CLASSES: ReadonlyArray<string> = Object.values(SOP_CLASSES).flatMap((ops) =>
  [ops.find, ops.move, ops.get].filter((u): u is string => u !== undefined)
)

/** The Verification SOP class (PS3.4 Annex A). */
export const VERIFICATION = "1.2.840.10008.1.1"
