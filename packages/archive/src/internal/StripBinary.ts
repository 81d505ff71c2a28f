/**
 * The JSON-safe copy `Header` keeps of a naturalized dcmjs data set: binary values (ArrayBuffer, typed arrays) left
 * out, everything else copied into plain arrays and objects.
 *
 * @since 0.1.0
 */

/** Whether a value is binary: an ArrayBuffer or a view on one. */
export const isBinary = (value: unknown): boolean => value instanceof ArrayBuffer || ArrayBuffer.isView(value)

/**
 * A JSON-safe copy of a naturalized value with binary values removed: plain arrays (holes left out) and objects of
 * the own enumerable properties (dcmjs's arrays carry a `toJSON` that the copy leaves behind). Loops rather than
 * `filter`/`map`/`Object.entries`: it runs over every value of every header.
 */
export const stripBinary = (value: unknown): unknown => {
  if (typeof value !== "object" || value === null) return value
  if (Array.isArray(value)) {
    const out: Array<unknown> = []
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) continue
      const v: unknown = value[i]
      if (!isBinary(v)) out.push(stripBinary(v))
    }
    return out
  }
  const out: Record<string, unknown> = {}
  for (const k in value) {
    if (!Object.hasOwn(value, k)) continue
    const v: unknown = (value as Record<string, unknown>)[k]
    if (isBinary(v) || (Array.isArray(v) && v.length > 0 && v.every(isBinary))) continue
    out[k] = stripBinary(v)
  }
  return out
}
