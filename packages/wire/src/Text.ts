/**
 * Padding trims for values that come from a peer or a file: loops, not `/[...]+$/`, which backtracks from every
 * start position and so takes time quadratic in a long run of padding followed by anything else (80,000 NULs then
 * one letter: ~2 s in V8). Values can be 16 MiB long in an identifier.
 *
 * @since 0.2.0
 */

/** `text` without the trailing characters found in `pad`. */
export const trimEnd = (text: string, pad: string): string => {
  let end = text.length
  while (end > 0 && pad.includes(text[end - 1]!)) end--
  return end === text.length ? text : text.slice(0, end)
}

/** `text` without the leading and trailing characters found in `pad`. */
export const trimBoth = (text: string, pad: string): string => {
  let start = 0
  while (start < text.length && pad.includes(text[start]!)) start++
  return trimEnd(text.slice(start), pad)
}
