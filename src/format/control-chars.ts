/**
 * Text from a manager (names, messages, errors) is shown only after its control characters are
 * made harmless: C0 (but newline and tab), DEL and C1 each become `?`, so no escape sequence a
 * hostile manager or host puts in a name can move the cursor, retitle the window, or rewrite what
 * the operator sees.
 */

// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
const RAW_IN_JSON = /[\u007f-\u009f]/g;

export function neutralizeControls(text: string): string {
  return text.replace(CONTROLS, '?');
}

/**
 * JSON text with DEL and C1 characters escaped (`\u009b`); JSON.stringify already escapes C0.
 * They can only stand inside strings, so the document means the same and holds no raw control.
 */
export function escapeControlsInJson(json: string): string {
  return json.replace(RAW_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
