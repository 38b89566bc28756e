/**
 * Text that came from elsewhere (a host, a manager) made safe for a terminal: every C0 control
 * except newline and tab, DEL and every C1 control (U+0080–U+009F, which some terminals take as
 * escape sequences too) is shown as `\xNN` instead of being sent raw.
 */
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

export function neutraliseControls(text: string): string {
  return text.replace(CONTROLS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** True when the text holds a control character neutraliseControls would change. */
export function hasControls(text: string): boolean {
  CONTROLS.lastIndex = 0;
  const found = CONTROLS.test(text);
  CONTROLS.lastIndex = 0;
  return found;
}

/** JSON for a terminal: JSON.stringify escapes C0 but leaves C1 and DEL raw; these are escaped too. */
export function terminalJson(value: unknown, indent = 2): string {
  return escapeJsonControls(JSON.stringify(value, null, indent));
}

/**
 * JSON text with DEL and C1 characters escaped (`\u009b`). They can only stand inside strings, so
 * the document means the same and holds no raw control.
 */
export function escapeJsonControls(json: string): string {
  return json.replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
