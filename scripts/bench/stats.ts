/** Median and p95 of a sample, and the row a measurement prints beside its baseline. */

export interface Summary {
  /** Samples taken. */
  n: number;
  median: number;
  p95: number;
}

/** Nearest-rank percentile of an unsorted sample; NaN for an empty one. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export function summarize(samples: readonly number[]): Summary {
  return { n: samples.length, median: percentile(samples, 50), p95: percentile(samples, 95) };
}

/** One printed line: a measurement, its same-run baseline, and the ratio of the medians. */
export interface Row {
  /** What was measured ("message.part.delta", "turn wall time", …). */
  name: string;
  unit: string;
  value: Summary;
  /** The physical floor or the no-plugin run, measured in the same run. */
  baseline?: Summary;
  /** What the baseline is, when it is not obvious from the section. */
  baselineName?: string;
  /** The target as written in the issue, and whether this run met it (`undefined`: informational). */
  target?: string;
  met?: boolean;
  note?: string;
}

/** A measurement's rows, plus free text (how it was measured, what dominates). */
export interface Section {
  id: string;
  title: string;
  /** One or two sentences: what exactly was timed, and against what. */
  method: string;
  rows: Row[];
  notes: string[];
}

export function ratio(row: Row): number | undefined {
  if (!row.baseline || row.baseline.median === 0) return undefined;
  return row.value.median / row.baseline.median;
}

/** Human-sized number: 3 significant digits, thousands separated. */
export function fmt(value: number): string {
  if (!Number.isFinite(value)) return "n/a";
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** `median / p95` of a summary. */
export function pair(summary: Summary | undefined): string {
  return summary ? `${fmt(summary.median)} / ${fmt(summary.p95)}` : "";
}

/** A section as a Markdown table (what BENCHMARKS.md shows and the console prints). */
export function sectionMarkdown(section: Section): string {
  const lines = [`### ${section.title}`, "", section.method, ""];
  lines.push("| measure | unit | value p50 / p95 | baseline p50 / p95 | ratio | target | |");
  lines.push("|---|---|---|---|---|---|---|");
  for (const row of section.rows) {
    const r = ratio(row);
    const base = row.baseline
      ? `${pair(row.baseline)}${row.baselineName ? ` (${row.baselineName})` : ""}`
      : "";
    const verdict = row.met === undefined ? "" : row.met ? "met" : "**missed**";
    lines.push(
      `| ${row.name}${row.note ? ` (${row.note})` : ""} | ${row.unit} | ${pair(row.value)} | ${base} | ${
        r === undefined ? "" : `${r.toFixed(2)}×`
      } | ${row.target ?? ""} | ${verdict} |`,
    );
  }
  if (section.notes.length > 0) lines.push("", ...section.notes.map((note) => `- ${note}`));
  return `${lines.join("\n")}\n`;
}

/** A single value as a summary (n = 1), for figures measured once (bundle bytes). */
export function once(value: number): Summary {
  return { n: 1, median: value, p95: value };
}
