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
 * The one-shot watchers of a connection, by path. Part of the
 * node-zookeeper-client engine: it takes the place of the library's private
 * WatcherManager (the engine installs it and checks at start-up that the
 * library still calls exactly these methods), so it has the same methods
 * (register, the paths to restore after a reconnect, emit, isEmpty) and the
 * same behaviour: a watcher is registered once per path however often it is
 * passed, fires once, and data watchers fire before existence or child
 * watchers. It stores our own Watcher functions and hands them our own
 * WatchEvent, so no library event object is built.
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

  registerDataWatcher(path: string, watcher: Watcher): void {
    register(this.data, path, watcher);
  }

  registerChildWatcher(path: string, watcher: Watcher): void {
    register(this.child, path, watcher);
  }

  registerExistenceWatcher(path: string, watcher: Watcher): void {
    register(this.existence, path, watcher);
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
    if (fired.length === 0) return;
    const event: WatchEvent = { type: EVENT_NAMES[watcherEvent.type]!, path };
    for (const registered of fired) {
      if (typeof registered === 'function') registered(event);
      else for (const watcher of registered) watcher(event);
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
