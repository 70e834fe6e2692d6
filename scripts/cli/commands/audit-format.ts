/** Text helpers of the audit review CLI: widths, truncation, colour, times and durations. */

/** One column of a fitted table. */
export interface Column {
  header: string;
  /** Fixed columns keep their width; flexible ones shrink (to `min`) to fit the line. */
  width?: number;
  min?: number;
  max?: number;
  align?: "left" | "right";
  /** Flexible columns give up width in ascending `shrink` order, each down to its `min`. @default 0 */
  shrink?: number;
  /** Where to cut a long cell: ids keep both ends (`ses_5e…3ffe`), text keeps its start. @default "end" */
  cut?: "end" | "middle";
  /** Never cut: as wide as its longest cell, whatever the total. @default false */
  keep?: boolean;
}

const ELLIPSIS = "…";

/** `text` cut to `width` characters (code points), ending in … when cut. */
export function truncate(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  return width <= 0 ? "" : `${chars.slice(0, width - 1).join("")}${ELLIPSIS}`;
}

/** `text` cut to `width` characters by removing its middle: ids differ at both ends. */
export function truncateMiddle(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 2) return truncate(text, width);
  const head = Math.ceil((width - 1) / 2);
  const tail = width - 1 - head;
  return `${chars.slice(0, head).join("")}${ELLIPSIS}${tail > 0 ? chars.slice(-tail).join("") : ""}`;
}

function pad(text: string, width: number, align: "left" | "right" = "left"): string {
  const fill = " ".repeat(Math.max(0, width - [...text].length));
  return align === "right" ? fill + text : text + fill;
}

/**
 * Column widths that fit `total` characters (one space between columns): flexible columns start
 * at the width of their longest cell (capped at `max`), then give up width in `shrink` order,
 * each down to its `min`, until the line fits.
 */
export function fitColumns(columns: readonly Column[], rows: readonly string[][], total = 80): number[] {
  const widths = columns.map((c, i) => {
    if (c.width !== undefined) return c.width;
    const longest = Math.max(c.header.length, ...rows.map((r) => [...(r[i] ?? "")].length));
    return c.keep ? longest : Math.min(c.max ?? longest, longest);
  });
  const line = () => widths.reduce((a, b) => a + b, 0) + widths.length - 1;
  const order = columns
    .map((c, i) => ({ c, i }))
    .filter(({ c }) => c.width === undefined && !c.keep)
    .sort((a, b) => (a.c.shrink ?? 0) - (b.c.shrink ?? 0));
  for (const { c, i } of order) {
    const excess = line() - total;
    if (excess <= 0) break;
    widths[i] = Math.max(c.min ?? 1, widths[i]! - excess);
  }
  return widths;
}

/**
 * Lay `rows` out under `columns` within `total` characters. `paint(row, column, text)` may wrap
 * an already padded cell in colour, so colour codes never count toward the width.
 */
export function renderTable(
  columns: readonly Column[],
  rows: readonly string[][],
  options: {
    total?: number;
    paint?: (row: number, column: number, text: string) => string;
    header?: (text: string) => string;
    /** A heading line printed before a row whose group differs from the previous row's. */
    group?: (row: number) => string;
  } = {},
): string {
  const widths = fitColumns(columns, rows, options.total ?? 80);
  const cell = (text: string, i: number) => {
    const cut = columns[i]!.cut === "middle" ? truncateMiddle : truncate;
    return pad(cut(text, widths[i]!), widths[i]!, columns[i]!.align);
  };
  const header = columns
    .map((c, i) => cell(c.header, i))
    .join(" ")
    .trimEnd();
  const out = [options.header ? options.header(header) : header];
  let group: string | undefined;
  rows.forEach((row, r) => {
    const heading = options.group?.(r);
    if (heading !== undefined && heading !== group) out.push(heading);
    group = heading;
    const cells = columns.map((_, i) => {
      const text = cell(row[i] ?? "", i);
      return options.paint ? options.paint(r, i, text) : text;
    });
    out.push(cells.join(" ").trimEnd());
  });
  return `${out.join("\n")}\n`;
}

const ANSI = { red: 31, green: 32, yellow: 33, magenta: 35, cyan: 36, dim: 2, bold: 1 } as const;
export type Tint = keyof typeof ANSI;

/** `text` in colour when `on` (io.color), unchanged otherwise. */
export function tint(on: boolean, colour: Tint, text: string): string {
  return on ? `\u001b[${ANSI[colour]}m${text}\u001b[0m` : text;
}

/** The colour of a delivery state. */
export function stateTint(state: string): Tint {
  switch (state) {
    case "delivered":
      return "green";
    case "pending":
    case "held":
      return "yellow";
    case "failed":
      return "red";
    case "refused":
      return "magenta";
    case "unknown":
      return "red";
    default:
      return "cyan";
  }
}

/** `2026-01-02T03:04:05.678Z` → `03:04` (UTC, as the log is; the day goes in a heading line). */
export function shortTime(iso: string): string {
  return iso.length >= 16 ? iso.slice(11, 16) : iso;
}

/** `2026-01-02T03:04:05.678Z` → `2026-01-02 03:04:05.678`. */
export function longTime(iso: string): string {
  return iso.replace("T", " ").replace(/Z$/, "");
}

/** 850 → "850ms", 1234 → "1.2s", 754000 → "12.6m", 7200000 → "2.0h". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "-";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)}m`;
  if (ms < 86_400_000) return `${(ms / 3_600_000).toFixed(1)}h`;
  return `${(ms / 86_400_000).toFixed(1)}d`;
}

/** 2148 → "2.1 KiB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** 1234567 → "1,234,567". */
export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

/**
 * Drop what every value of a column shares, so 80 columns show what differs: `DELIVERY_HTTP_STATUS`
 * → `HTTP_STATUS`, `ses_5e1b…` → `5e1b…`, `agent:main:main` → `main:main`. `show` and --json
 * keep values whole.
 */
export function shortId(value: string): string {
  return value.replace(/^(DELIVERY_|INTEGRITY_|CONFIG_|ses_|agent:)/, "");
}
