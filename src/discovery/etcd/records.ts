import { LighthouseError } from '../../lib/errors.js';
import type { RecordStore } from '../types.js';
import type { EtcdConnection } from './client.js';
import { keyAfter, prefixEnd } from './keys.js';
import type { LeaseSession } from './session.js';

const NAME = /^[A-Za-z0-9_.:@+=,-]{1,255}$/;
const PAGE_SIZE = 1000;

/**
 * Keys `<prefix>/<name>` on the session's lease (the writers'
 * acknowledgements): one put per record, gone with the lease when the
 * process dies or is cut off.
 */
export class EtcdRecords implements RecordStore {
  constructor(
    private readonly connection: EtcdConnection,
    private readonly session: LeaseSession,
    readonly location: string,
  ) {}

  async publish(name: string, data: string): Promise<void> {
    const key = `${this.location}/${name}`;
    if (!NAME.test(name)) throw new LighthouseError('LH_ETCD_OPERATION', `${JSON.stringify(name)} is not a valid record name`, { znode: key });
    const lease = this.session.current() ?? (await this.session.awaitLease(this.connection.operationTimeoutMs));
    if (lease === undefined) throw new LighthouseError('LH_ETCD_OPERATION', `no etcd lease to write the record with (${this.session.lastError ?? 'etcd not reached yet'})`, { znode: key });
    await this.connection.call('put record', key, () => this.connection.kv.put({ key: Buffer.from(key, 'utf8'), value: Buffer.from(data, 'utf8'), lease }));
  }

  async read(): Promise<Map<string, string>> {
    const folder = Buffer.from(`${this.location}/`, 'utf8');
    const end = prefixEnd(folder);
    const records = new Map<string, string>();
    let from: Buffer = folder;
    let revision: string | undefined;
    for (;;) {
      const request = { key: from, range_end: end, limit: PAGE_SIZE, ...(revision ? { revision } : {}) };
      const page = await this.connection.call('range', this.location, () => this.connection.kv.range(request));
      revision ??= page.header.revision;
      for (const kv of page.kvs) {
        const name = kv.key.toString('utf8').slice(folder.length);
        if (!name.includes('/')) records.set(name, kv.value.toString('utf8'));
      }
      const last = page.kvs.at(-1);
      if (!page.more || !last) return records;
      from = keyAfter(last.key);
    }
  }
}
