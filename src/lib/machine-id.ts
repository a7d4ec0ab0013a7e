import { readFileSync } from 'node:fs';

/**
 * This machine's systemd/D-Bus machine id, or '' when it has none (many
 * containers). Two machines that share a host name (cloned images, a
 * hostname set by hand) still differ here, so what is keyed per machine
 * does not collide between them.
 */
export function machineId(files: readonly string[] = ['/etc/machine-id', '/var/lib/dbus/machine-id']): string {
  for (const file of files) {
    try {
      const id = readFileSync(file, 'utf8').trim();
      if (/^[0-9a-f]{32}$/i.test(id)) return id.toLowerCase();
    } catch {
      // absent or unreadable: try the next, then none
    }
  }
  return '';
}
