import { z } from 'zod';

/**
 * HTTP statuses a check accepts: `200`, `"2xx"`, `"300-399"`, alone or in a
 * list. The default, `2xx`, is what the original Lighthouse accepted.
 */
const STATUS_ITEM = /^(?:([2-5])xx|([2-5]\d\d)(?:-([2-5]\d\d))?)$/i;

function parseItem(item: string | number): [number, number] | string {
  const text = String(item).trim();
  const match = STATUS_ITEM.exec(text);
  if (!match) return `${JSON.stringify(item)} is not a status (200), a class ("2xx") or a range ("300-399") between 200 and 599 (1xx answers are interim)`;
  if (match[1] !== undefined) return [Number(match[1]) * 100, Number(match[1]) * 100 + 99];
  const low = Number(match[2]);
  const high = match[3] === undefined ? low : Number(match[3]);
  if (high < low) return `${JSON.stringify(item)} is a range whose end is below its start`;
  return [low, high];
}

const statusItem = z.union([z.number().int(), z.string()]);

/** Normalised to a list of strings as written (`"2xx"`, `"200"`), so the config stays plain data. */
export const expectStatusSchema = z
  .union([statusItem, z.array(statusItem).min(1, 'needs at least one status')])
  .transform((value) => (Array.isArray(value) ? value : [value]).map((item) => String(item).trim().toLowerCase()))
  .superRefine((items, context) => {
    items.forEach((item, index) => {
      const parsed = parseItem(item);
      if (typeof parsed === 'string') context.addIssue({ code: 'custom', path: [index], message: parsed });
    });
  });

export interface StatusSet {
  has(status: number): boolean;
  /** for messages: `2xx`, `200 or 300-399` */
  readonly text: string;
}

/** `items` come from expectStatusSchema, so they parse. */
export function statusSet(items: readonly string[] = ['2xx']): StatusSet {
  const ranges = items.map(parseItem).filter((range): range is [number, number] => typeof range !== 'string');
  return {
    text: items.join(' or '),
    has: (status: number) => ranges.some(([low, high]) => status >= low && status <= high),
  };
}
