/** Errors of the ELF layer. Every one names where in the file the problem is. */
import { TsebpfError } from "../errors.js";

/** Where a ParseError was found: the section (by name, when known) and the file byte offset. */
export interface ParseErrorLocation {
  /** Name of the section the problem is in, when it is known. */
  readonly section?: string | undefined;
  /** Byte offset in the file of the field or entry at fault. */
  readonly offset?: number | undefined;
  /** The same place as a byte offset within the section's contents (BTF, .BTF.ext), when known. */
  readonly sectionOffset?: number | undefined;
}

/**
 * A malformed or unsupported ELF object. The message names the section and the byte offset,
 * e.g. `ELF section ".rel.text" at offset 0x1a8: relocation entry 3 points at symbol 99, but the
 * symbol table has 12`. `reason` is the message without the location.
 */
export class ParseError extends TsebpfError {
  override readonly name = "ParseError";
  /** Name of the section the problem is in, when it is known. */
  readonly section: string | undefined;
  /** Byte offset in the file of the field or entry at fault, when known. */
  readonly offset: number | undefined;
  /** Byte offset within the section's contents, when known (errors found in BTF and .BTF.ext). */
  readonly sectionOffset: number | undefined;

  constructor(
    readonly reason: string,
    location: ParseErrorLocation = {},
  ) {
    super(`${describeLocation(location)}: ${reason}`);
    this.section = location.section;
    this.offset = location.offset;
    this.sectionOffset = location.sectionOffset;
  }
}

/**
 * `ELF section ".text" at offset 0x40`, `ELF section ".BTF.ext" at offset 0x2f4 (0x54 into the
 * section)`, `ELF at offset 0x12`, `ELF section "x"`, or `ELF`.
 */
function describeLocation({ section, offset, sectionOffset }: ParseErrorLocation): string {
  let text = "ELF";
  if (section !== undefined) text += ` section ${JSON.stringify(section)}`;
  if (offset !== undefined) text += ` at offset 0x${offset.toString(16)}`;
  if (sectionOffset !== undefined) text += offset === undefined ? ` at section offset 0x${sectionOffset.toString(16)}` : ` (0x${sectionOffset.toString(16)} into the section)`;
  return text;
}
