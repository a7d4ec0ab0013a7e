import { isScalar, visit, type Document, type LineCounter, type YAMLError } from 'yaml';

/**
 * Duplicate keys, found in one pass with a set per map. The yaml library's
 * own check (`uniqueKeys: true`) compares every key with every earlier one:
 * a file of 40,000 keys took 20 s, with the writer's event loop blocked
 * (every edit of a watched file is parsed again). Same error as the
 * library's: "Map keys must be unique", at the repeated key.
 */
export function duplicateKeyErrors(doc: Document, lines: LineCounter): YAMLError[] {
  const errors: YAMLError[] = [];
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        // Scalars compare by value and type (1 and "1" are different keys), as the library does; other keys are never equal.
        if (!isScalar(pair.key)) continue;
        const value = pair.key.value;
        const id = `${typeof value}:${String(value)}`;
        if (!seen.has(id)) {
          seen.add(id);
          continue;
        }
        const offset = pair.key.range?.[0] ?? 0;
        const position = lines.linePos(offset);
        errors.push({ name: 'YAMLParseError', code: 'DUPLICATE_KEY', message: `Map keys must be unique at line ${position.line}, column ${position.col}:`, pos: [offset, offset + 1], linePos: [position] } as unknown as YAMLError);
      }
    },
  });
  return errors;
}
