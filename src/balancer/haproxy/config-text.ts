/** Indentation of the lines inside a section. */
const INDENT = '    ';

export const words = (line: string): string[] => line.trim().split(/\s+/).filter(Boolean);

/** Words of the last line that sets `keyword` (one or more words), ignoring `no`/`default` forms. */
export function lastSetting(lines: readonly string[], keyword: string): string[] | undefined {
  const wanted = keyword.split(' ');
  let found: string[] | undefined;
  for (const line of lines) {
    const lineWords = words(line).map((word) => word.replace(/\(.*$/, ''));
    if (wanted.every((word, index) => lineWords[index] === word)) found = words(line);
  }
  return found;
}

/** Whether any line sets, negates or resets `keyword`: then the user has decided and we add nothing. */
export function mentions(lines: readonly string[], keyword: string): boolean {
  const wanted = keyword.split(' ');
  return lines.some((line) => {
    let lineWords = words(line);
    if (lineWords[0] === 'no' || lineWords[0] === 'default') lineWords = lineWords.slice(1);
    return wanted.every((word, index) => lineWords[index] === word);
  });
}

export function modeOf(own: readonly string[], defaults: readonly string[]): 'http' | 'tcp' {
  const mode = lastSetting(own, 'mode') ?? lastSetting(defaults, 'mode');
  return mode?.[1] === 'http' ? 'http' : 'tcp';
}

/** Lines rendered before, pre-joined (a cached backend section). */
export interface TextBlock {
  /** the section without the blank line before it (append adds that), lines joined */
  text: string;
  /** one per line of `text` */
  owners: readonly string[];
  skeletonText: string;
}

/**
 * The HAProxy config text being built: its lines, the owner of each line
 * (what produced it, to name the culprit of an HAProxy error), and the
 * skeleton (the text without cluster server lines).
 */
export class ConfigText {
  /** one line each, except appended blocks: one element of several lines (owners stay one per line) */
  readonly lines: string[] = [];
  readonly owners: string[] = [];
  readonly skeleton: string[] = [];

  section(header: string, owner: string): void {
    if (this.lines.length > 0) this.add('', owner);
    this.add(header, owner);
  }

  directive(line: string, owner: string, membership = false): void {
    this.add(`${INDENT}${line.trim()}`, owner, membership);
  }

  /** In the skeleton only: settings that shape server lines, so changing them for existing servers is structural. */
  skeletonOnly(line: string): void {
    this.skeleton.push(`${INDENT}#> ${line}`);
  }

  comment(text: string, owner: string): void {
    this.add(`${INDENT}# ${text}`, owner);
  }

  /**
   * Lines rendered earlier (a cached backend block), giving the same text as
   * if added one by one. The block comes pre-joined: joining the whole file
   * line by line was most of a render with 10,000 servers.
   */
  append(block: TextBlock): void {
    if (block.owners.length === 0) return;
    if (this.lines.length > 0) this.add('', block.owners[0]!);
    this.lines.push(block.text);
    for (const owner of block.owners) this.owners.push(owner);
    this.skeleton.push(block.skeletonText);
  }

  private add(line: string, owner: string, membership = false): void {
    this.lines.push(line);
    this.owners.push(owner);
    if (!membership) this.skeleton.push(line);
  }
}
