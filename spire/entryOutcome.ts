/**
 * What the entry runners report on stdout (bin/spire-entry.js, bin/spire-entry-set.js), read back for
 * SpireEntry's and SpireEntrySet's `outcome` outputs. Only known words, field names and counts pass: the stdout
 * is a secret in state (the command's environment may hold a kubeconfig), and the outcome is exported plain, so
 * nothing the runner did not put there on purpose may reach it. Pure.
 */
import { ENTRY_FIELDS, type EntryField } from "./entryDiff";

/** What SpireEntry's last create or update did to its entry. */
export interface EntryOutcome {
  readonly outcome: "created" | "updated" | "unchanged";
  /** The fields the server's entry differed in, when a create found it under our ID and updated it. */
  readonly differed: readonly EntryField[];
}

/** What SpireEntrySet's last create or update did: how many entries, and how many differed in each field. */
export interface EntrySetOutcome {
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
  readonly unchanged: number;
  readonly differed: Readonly<Partial<Record<EntryField, number>>>;
}

const OUTCOMES: readonly string[] = ["created", "updated", "unchanged"];
// A list, not `in`: `"constructor" in ENTRY_FIELDS` holds too.
const FIELDS: readonly string[] = Object.keys(ENTRY_FIELDS);
const isField = (f: unknown): f is EntryField => typeof f === "string" && FIELDS.includes(f);
const isCount = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0;

const isRecord = (x: unknown): x is Record<string, unknown> =>
  x !== null && typeof x === "object" && !Array.isArray(x);

function parsed(stdout: string | undefined): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(stdout ?? "");
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** SpireEntry's outcome; undefined for anything but the runner's report (a render's placeholder stdout). */
export function entryOutcome(stdout: string | undefined): EntryOutcome | undefined {
  const report = parsed(stdout);
  if (report === undefined || !OUTCOMES.includes(report.outcome as string)) return undefined;
  const differed = Array.isArray(report.differed) ? report.differed.filter(isField) : [];
  return { outcome: report.outcome as EntryOutcome["outcome"], differed };
}

/** SpireEntrySet's outcome; undefined for anything but the runner's report. */
export function entrySetOutcome(stdout: string | undefined): EntrySetOutcome | undefined {
  const report = parsed(stdout);
  if (report === undefined) return undefined;
  const { created, updated, deleted, unchanged } = report;
  if (![created, updated, deleted, unchanged].every(isCount)) return undefined;
  // The runner names up to ten entries per field beside the count; the count is all the outcome keeps.
  const differed: Partial<Record<EntryField, number>> = {};
  for (const [field, detail] of Object.entries(isRecord(report.differed) ? report.differed : {})) {
    const count = isRecord(detail) ? detail.count : undefined;
    if (isField(field) && isCount(count)) differed[field] = count;
  }
  return {
    created: created as number,
    updated: updated as number,
    deleted: deleted as number,
    unchanged: unchanged as number,
    differed,
  };
}
