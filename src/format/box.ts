/**
 * cctrl's text boxes (ResultFormatter): a separator is `+` and dashes, a row is `|`, the text
 * right-padded, ` |`. The classic inner width is 75 (78-column boxes). When a row is longer, the
 * whole listing widens to the next multiple of 5 that fits the longest row, as the 7.x samples do
 * (a 76-character FAILED header gives an 83-column box); rows are never wrapped, so a regular
 * expression in the field always sees one row per line.
 */
import { neutralizeControls } from './control-chars.js';

export const DEFAULT_INNER_WIDTH = 75;

/** A box: groups of rows, each group closed by a separator. */
export type Box = string[][];

export function innerWidthFor(rows: Iterable<string>): number {
  let longest = 0;
  for (const row of rows) longest = Math.max(longest, displayText(row).length);
  if (longest <= DEFAULT_INNER_WIDTH) return DEFAULT_INNER_WIDTH;
  return Math.ceil(longest / 5) * 5;
}

export function separator(width: number): string {
  return `+${'-'.repeat(width + 1)}+`;
}

export function row(text: string, width: number): string {
  return `|${displayText(text).padEnd(width)} |`;
}

export function renderBox(box: Box, width: number): string[] {
  const lines = [separator(width)];
  for (const group of box) {
    for (const text of group) lines.push(row(text, width));
    lines.push(separator(width));
  }
  return lines;
}

/** Tabs become two spaces; control characters (an escape code in a host name, C1 too) are made visible. */
function displayText(text: string): string {
  return neutralizeControls(text.replace(/\t/g, '  ').replace(/\n/g, '?'));
}
