/**
 * What the codec emitter (emit-codecs.ts) and the view emitter (emit-views.ts) share: byte offsets
 * in generated code, and the names of unnamed shapes.
 */
import type { Shape } from "./model.js";

/** A byte offset in generated code: an expression plus a constant. */
export interface Offset {
  readonly expr: string;
  readonly k: number;
}

export const at = (o: Offset, k: number): Offset => ({ expr: o.expr, k: o.k + k });
export const render = (o: Offset): string => (o.expr === "" ? String(o.k) : o.k === 0 ? o.expr : `${o.expr} + ${o.k}`);

/** A name for an unnamed shape's codec (`U32`, `Char16`, `U32Array4`), or undefined (inline records, anonymous enums). */
export function shapeName(s: Shape): string | undefined {
  switch (s.kind) {
    case "int":
      return `${s.signed ? "I" : "U"}${s.size * 8}`;
    case "bool":
      return s.size === 1 ? "Bool" : `Bool${s.size * 8}`;
    case "float":
      return `F${s.size * 8}`;
    case "ptr":
      return "Pointer";
    case "text":
      return `Char${s.size}`;
    case "bytes":
      return `U8Array${s.size}`;
    case "array": {
      const elem = shapeName(s.elem);
      return elem === undefined ? undefined : `${elem}Array${s.n}`;
    }
    case "named":
      return undefined;
    case "inline":
    case "enum":
      return undefined;
  }
}
