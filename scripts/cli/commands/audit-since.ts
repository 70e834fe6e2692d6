const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/**
 * `--since` as epoch ms: a relative age before `now` (`30m`, `2h`, `7d`, `1w`, `45s`) or an ISO
 * date/time (`2026-01-31`, `2026-01-31T12:00Z`; a date alone is midnight UTC). Null when neither.
 */
export function parseSince(text: string, now: number): number | null {
  const relative = /^(\d+)([smhdw])$/.exec(text.trim());
  if (relative) return now - Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS];
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}
