import { createServer, type Socket } from 'node:net';

/** What one connection to a hostile server went through. */
export interface HostileConnection {
  /** bytes the server handed to the kernel before the client went away */
  sent: number;
  /** the client closed (or reset) the connection while the server still had more to say */
  closedByClient: boolean;
}

export interface HostileServer {
  port: number;
  connections: HostileConnection[];
  /** answer this way from the next request on; `undefined` answers 200 OK */
  answer: HostileAnswer | undefined;
  close(): Promise<void>;
}

/**
 * An answer that never ends: `head` once, then `next()` for as long as the
 * client reads (writes wait for `drain`, so the server sends no faster than
 * the client reads), every `pauseMs` if set.
 */
export interface HostileAnswer {
  head: string;
  next(): string;
  pauseMs?: number;
}

/** A raw TCP server that answers each request with `answer` (or 200 OK) and counts what it sent. */
export async function startHostileServer(port = 0): Promise<HostileServer> {
  const sockets = new Set<Socket>();
  const state: HostileServer = { port, connections: [], answer: undefined, close: async () => undefined };
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    let requested = '';
    const onData = (chunk: Buffer): void => {
      requested += chunk.toString('latin1');
      if (!requested.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      const answer = state.answer;
      if (!answer) {
        socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
        return;
      }
      const connection: HostileConnection = { sent: 0, closedByClient: false };
      state.connections.push(connection);
      let open = true;
      socket.on('close', () => {
        open = false;
        connection.closedByClient = true;
      });
      const write = (text: string): boolean => {
        connection.sent += Buffer.byteLength(text, 'latin1');
        return socket.write(text, 'latin1');
      };
      const pump = (): void => {
        while (open) {
          if (!write(answer.next())) {
            socket.once('drain', pump);
            return;
          }
          if (answer.pauseMs !== undefined) {
            setTimeout(pump, answer.pauseMs);
            return;
          }
        }
      };
      write(answer.head);
      setImmediate(pump);
    };
    socket.on('data', onData);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address();
  state.port = typeof address === 'object' && address ? address.port : port;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return state;
}
