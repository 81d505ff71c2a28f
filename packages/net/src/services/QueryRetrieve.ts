/**
 * Query/Retrieve information models and their SOP classes (PS3.4 Annex C, K).
 *
 * @since 0.1.0
 */

/** The information model a query or retrieve runs against. */
export type Model = "patient" | "study" | "worklist"

/** The FIND, MOVE and GET SOP Class UIDs of a model that has all three. */
export interface RetrieveClasses {
  readonly find: string
  readonly move: string
  readonly get: string
}

/**
 * SOP Class UIDs per model and operation: `SOP_CLASSES.study.move` is a string, `SOP_CLASSES.worklist` has FIND only,
 * and `SOP_CLASSES[model].move` for any model may be undefined.
 */
export const SOP_CLASSES: {
  readonly patient: RetrieveClasses
  readonly study: RetrieveClasses
  readonly worklist: { readonly find: string; readonly move?: undefined; readonly get?: undefined }
} = {
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

// Each FIND, MOVE and GET SOP class's model and operation, made once: `modelOf` runs for every request an SCP serves
// (a C-STORE's SOP class is checked not to be one of these).
const MODELS: ReadonlyMap<string, { readonly model: Model; readonly op: "find" | "move" | "get" }> = new Map(
  (Object.entries(SOP_CLASSES) as Array<[Model, (typeof SOP_CLASSES)[Model]]>).flatMap(([model, ops]) =>
    (["find", "move", "get"] as const).flatMap((op) => {
      const uid = ops[op]
      return uid === undefined ? [] : [[uid, { model, op }] as const]
    })
  )
)

/** The model a FIND, MOVE or GET SOP class belongs to, if any. */
export const modelOf = (
  sopClassUid: string
): { readonly model: Model; readonly op: "find" | "move" | "get" } | undefined => MODELS.get(sopClassUid)

/** Every Q/R SOP class, for proposing or accepting contexts. */
export const ALL_QR_SOP_CLASSES: ReadonlyArray<string> = Object.values(SOP_CLASSES).flatMap((ops) =>
  [ops.find, ops.move, ops.get].filter((u): u is string => u !== undefined)
)

/** The Verification SOP class (PS3.4 Annex A). */
export const VERIFICATION = "1.2.840.10008.1.1"
