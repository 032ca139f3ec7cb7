/** Error text made safe to print on one line (internal: not exported from the package). */
/**
 * `text` with control characters (newlines, escapes, NUL...) shown as `\xNN` / `\uNNNN`: messages
 * quote names read from the input, and an error message is one line that is safe to print.
 */
export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}
