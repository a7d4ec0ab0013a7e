import type { Watcher, WatchEvent } from './engine.js';

/** Watch event types as the protocol numbers them (jute WatcherEvent.type). */
export const WatchEventType = {
  NODE_CREATED: 1,
  NODE_DELETED: 2,
  NODE_DATA_CHANGED: 3,
  NODE_CHILDREN_CHANGED: 4,
} as const;

const EVENT_NAMES: Record<number, WatchEvent['type']> = {
  [WatchEventType.NODE_CREATED]: 'created',
  [WatchEventType.NODE_DELETED]: 'deleted',
  [WatchEventType.NODE_DATA_CHANGED]: 'dataChanged',
  [WatchEventType.NODE_CHILDREN_CHANGED]: 'childrenChanged',
};

/** A path's one-shot watchers: a single function in the usual case, so a watch costs no array. */
type Registered = Watcher | Watcher[];

/**
 * The watchers of a connection, by path: one-shot ones, and the
 * persistent recursive roots of addWatch (ZooKeeper 3.6+). Part of the
 * node-zookeeper-client engine: it takes the place of the library's private
 * WatcherManager (the engine installs it and checks at start-up that the
 * library still calls exactly these methods), so it has the same methods
 * (register, the paths to restore after a reconnect, emit, isEmpty) and the
 * same behaviour: a watcher is registered once per path however often it is
 * passed, fires once, and data watchers fire before existence or child
 * watchers. It stores our own Watcher functions and hands them our own
 * WatchEvent, so no library event object is built. Persistent roots are
 * ours alone (the library knows no addWatch): a created / deleted /
 * dataChanged notification for a root or a descendant calls the root's
 * watchers and keeps them; they are not part of what the library restores
 * after a reconnect (their owners re-add them on ready).
 *
 * Why: the library keeps an EventEmitter per watched path, with a listener
 * array, a `once` wrapper and a bound function: ~420 bytes per znode. The
 * writer keeps a data watch on every member (10,000 in a large fleet), so
 * that was ~4.5 MB of the writer's heap; a Map entry holding the function is
 * ~40 bytes.
 */
export class WatcherRegistry {
  private readonly data = new Map<string, Registered>();
  private readonly child = new Map<string, Registered>();
  private readonly existence = new Map<string, Registered>();
  /** persistent recursive roots (addWatch): fire for the root and every descendant, never removed by firing */
  private readonly recursive = new Map<string, Registered>();

  registerDataWatcher(path: string, watcher: Watcher): void {
    register(this.data, path, watcher);
  }

  registerChildWatcher(path: string, watcher: Watcher): void {
    register(this.child, path, watcher);
  }

  registerExistenceWatcher(path: string, watcher: Watcher): void {
    register(this.existence, path, watcher);
  }

  /** Not part of the library's WatcherManager: the engine's addWatch registers here. */
  addPersistentRecursive(path: string, watcher: Watcher): void {
    register(this.recursive, path, watcher);
  }

  removePersistentRecursive(path: string, watcher: Watcher): void {
    const registered = this.recursive.get(path);
    if (registered === undefined) return;
    if (registered === watcher) this.recursive.delete(path);
    else if (typeof registered !== 'function') {
      const rest = registered.filter((candidate) => candidate !== watcher);
      if (rest.length === 0) this.recursive.delete(path);
      else this.recursive.set(path, rest.length === 1 ? rest[0]! : rest);
    }
  }

  get persistentRoots(): number {
    return this.recursive.size;
  }

  getDataWatcherPaths(): string[] {
    return [...this.data.keys()];
  }

  getChildWatcherPaths(): string[] {
    return [...this.child.keys()];
  }

  getExistenceWatcherPaths(): string[] {
    return [...this.existence.keys()];
  }

  /** One-shot watches only: the library sends SET_WATCHES when this is false, and persistent roots are not in it. */
  isEmpty(): boolean {
    return this.data.size === 0 && this.child.size === 0 && this.existence.size === 0;
  }

  /** `watcherEvent`: the server's notification (jute WatcherEvent: type, state, path). */
  emit(watcherEvent: { type: number; path: string }): void {
    const { path } = watcherEvent;
    const fired: Registered[] = [];
    const take = (watchers: Map<string, Registered>): void => {
      const registered = watchers.get(path);
      if (registered === undefined) return;
      watchers.delete(path);
      fired.push(registered);
    };
    switch (watcherEvent.type) {
      case WatchEventType.NODE_DATA_CHANGED:
      case WatchEventType.NODE_CREATED:
        take(this.data);
        take(this.existence);
        break;
      case WatchEventType.NODE_CHILDREN_CHANGED:
        take(this.child);
        break;
      case WatchEventType.NODE_DELETED:
        take(this.data);
        take(this.child);
        break;
      default:
        // As the library's own WatcherManager does (a protocol we do not speak; never seen from a 3.x server).
        throw new Error(`Unknown event type: ${watcherEvent.type}`);
    }
    if (this.recursive.size > 0 && watcherEvent.type !== WatchEventType.NODE_CHILDREN_CHANGED) this.takeRecursive(path, fired);
    if (fired.length === 0) return;
    const event: WatchEvent = { type: EVENT_NAMES[watcherEvent.type]!, path };
    if (fired.length === 1) {
      const registered = fired[0]!;
      if (typeof registered === 'function') registered(event);
      else for (const watcher of registered) watcher(event);
      return;
    }
    // One notification can match a one-shot watch and a persistent root (or two registrations) with the same function: it hears the event once.
    const called = new Set<Watcher>();
    for (const registered of fired) {
      for (const watcher of typeof registered === 'function' ? [registered] : registered) {
        if (called.has(watcher)) continue;
        called.add(watcher);
        watcher(event);
      }
    }
  }

  /** The persistent roots at `path` and above it (a recursive root hears its whole subtree); they stay registered. */
  private takeRecursive(path: string, fired: Registered[]): void {
    for (let prefix = path; ; ) {
      const registered = this.recursive.get(prefix);
      if (registered !== undefined) fired.push(registered);
      if (prefix === '/') return;
      const cut = prefix.lastIndexOf('/');
      prefix = cut <= 0 ? '/' : prefix.slice(0, cut);
    }
  }
}

function register(watchers: Map<string, Registered>, path: string, watcher: Watcher): void {
  const registered = watchers.get(path);
  if (registered === undefined) watchers.set(path, watcher);
  else if (typeof registered === 'function') {
    if (registered !== watcher) watchers.set(path, [registered, watcher]);
  } else if (!registered.includes(watcher)) registered.push(watcher);
}
