/**
 * cctrl's text boxes (ResultFormatter): a separator is `+` and dashes, a row is `|`, the text
 * right-padded, ` |`. The classic inner width is 75 (78-column boxes). When a row is longer, the
 * whole listing widens: to 80 columns when that fits the longest row (a 76- or 77-character FAILED
 * or failed-over header), else to the next multiple of 5 that fits it, as the 7.x samples do; rows
 * are never wrapped, so a regular expression in the field always sees one row per line.
 */
import { neutraliseControls } from '../controlChars.js';

export const DEFAULT_INNER_WIDTH = 75;

/** A box: groups of rows, each group closed by a separator. */
export type Box = string[][];

/** The widest inner width that still fits an 80-column terminal (`|` + 77 + ` |`). */
export const FITS_80_INNER_WIDTH = 77;

export function innerWidthFor(rows: Iterable<string>): number {
  let longest = 0;
  for (const row of rows) longest = Math.max(longest, displayText(row).length);
  if (longest <= DEFAULT_INNER_WIDTH) return DEFAULT_INNER_WIDTH;
  // A row that fits 80 columns keeps the listing within 80 (a failed-over master's header), rather
  // than rounding up past it.
  if (longest <= FITS_80_INNER_WIDTH) return FITS_80_INNER_WIDTH;
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
  return neutraliseControls(text.replace(/\t/g, '  ').replace(/\n/g, '?'));
}
