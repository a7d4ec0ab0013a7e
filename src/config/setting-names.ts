import type { z } from 'zod';

/** The parts of a zod schema's definition that lead to the settings it allows. */
interface SchemaDef {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  options?: readonly z.ZodType[];
  getter?: () => z.ZodType;
}

function defOf(schema: z.ZodType): SchemaDef {
  return schema._zod.def as unknown as SchemaDef;
}

/**
 * The setting names a schema allows at `path` (a zod issue's path), for the
 * "did you mean" of an unknown setting. Empty where the schema has no fixed
 * keys there (a record, a plugin's own free-form section).
 */
export function settingNamesAt(schema: z.ZodType, path: readonly (string | number)[]): string[] {
  const names = new Set<string>();
  collect(schema, path, names, 0);
  return [...names];
}

function collect(schema: z.ZodType, path: readonly (string | number)[], names: Set<string>, depth: number): void {
  if (depth > 32) return; // a recursive (lazy) schema
  const def = defOf(schema);
  const inner = def.innerType ?? def.in ?? (def.type === 'lazy' ? def.getter?.() : undefined);
  if (inner && def.type !== 'array' && def.type !== 'object') {
    collect(inner, path, names, depth + 1);
    return;
  }
  if (def.type === 'union') {
    for (const option of def.options ?? []) collect(option, path, names, depth + 1);
    return;
  }
  const [head, ...rest] = path;
  if (def.type === 'array' && def.element) {
    if (typeof head === 'number') collect(def.element, rest, names, depth + 1);
    return;
  }
  if (def.type !== 'object' || !def.shape) return;
  if (head === undefined) {
    for (const key of Object.keys(def.shape)) names.add(key);
    return;
  }
  const next = def.shape[String(head)];
  if (next) collect(next, rest, names, depth + 1);
}
