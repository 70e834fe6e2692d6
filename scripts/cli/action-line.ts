/** What install or uninstall did (or, with --dry-run, would do) to one file. */
export type Action =
  | "created"
  | "updated"
  | "unchanged"
  | "skipped"
  | "repaired"
  | "removed"
  | "kept"
  | "absent";

/**
 * One line of install/uninstall output: the action first, padded, so a run reads as a column
 * a person (or grep) can scan; a dry run marks every line so it is never mistaken for a change.
 */
export function actionLine(action: Action, file: string, note?: string, dryRun = false): string {
  const prefix = dryRun ? "[dry-run] " : "";
  return `${prefix}${action.padEnd(10)} ${file}${note === undefined ? "" : `  (${note})`}\n`;
}
