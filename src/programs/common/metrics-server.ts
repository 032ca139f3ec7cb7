/**
 * `--metrics ADDR:PORT`: an HTTP endpoint (node:http) serving `GET /metrics` in the Prometheus
 * text format; anything else is a 404. The counters are read when a scrape comes (the same batch
 * reads as the periodic summary) and the text is written in pieces, letting the event loop run
 * between them, so a large exposition (a million rules' hits) does not hold the program's loop
 * for the whole response. Series given as async iterables (packetfilter's rules, read in slices)
 * are awaited as they come; a response cut short (HEAD, the client gone) ends their readers.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isIP } from "node:net";
import { TsebpfError } from "../../errors.js";
import { EXPOSITION_CONTENT_TYPE, expositionAsync, type MetricFamily } from "./metrics.js";

export interface MetricsAddress {
  /** An IPv4 or IPv6 address (without brackets) or a host name. */
  readonly host: string;
  /** 0: any free port (the server's `url` tells which). */
  readonly port: number;
}

/**
 * `ADDR:PORT` — `127.0.0.1:9100`, `[::1]:9100`, `0.0.0.0:0`, `localhost:9100` — as host and port;
 * anything else is one line naming the option and the value.
 */
export function parseMetricsAddress(text: string, option = "--metrics"): MetricsAddress {
  const bad = (why: string) => new TsebpfError(`${option}: expected ADDR:PORT (127.0.0.1:9100, [::1]:9100; port 0: any free one), not '${text}': ${why}`);
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([0-9]+)$/.exec(text);
  if (!m) throw bad(!text.includes(":") || text.endsWith(":") ? "no port" : /^[^[]*:.*:/.test(text) ? "an IPv6 address goes in brackets" : "not ADDR:PORT");
  const host = m[1] ?? m[2] ?? "";
  if (host === "") throw bad("no address");
  if (m[1] !== undefined && isIP(host) !== 6) throw bad(`'${host}' is not an IPv6 address`);
  if (m[1] === undefined && !/^[a-zA-Z0-9.-]+$/.test(host)) throw bad(`'${host}' is not an address or host name`);
  const port = Number(m[3]);
  if (!(port <= 65535) || (m[3] ?? "").length > 5) throw bad(`port ${m[3]} is above 65535`);
  return { host, port };
}

/** Families read per scrape; may throw (the scrape gets a 500 with the message). */
export type Collect = () => Iterable<MetricFamily>;

/** Text pieces written before the event loop gets a turn. */
const YIELD_BYTES = 16 * 1024;

export class MetricsServer {
  private closed = false;
  private readonly sockets = new Set<import("node:net").Socket>();

  private constructor(
    private readonly server: Server,
    /** Where it listens: `http://127.0.0.1:9100/metrics`. */
    readonly url: string,
    /** The port it listens on (the one chosen for port 0). */
    readonly port: number,
  ) {
    server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
  }

  /** Listens on the address; an address in use or not on this machine is one line naming it. */
  static async listen(address: MetricsAddress, collect: Collect, option = "--metrics"): Promise<MetricsServer> {
    const server = createServer((req, res) => void serve(req, res, collect));
    const shown = address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
    await new Promise<void>((resolve, reject) => {
      const failed = (e: NodeJS.ErrnoException) => {
        const why = e.code === "EADDRINUSE" ? "address in use" : e.code === "EADDRNOTAVAIL" ? "no such address on this machine" : e.code === "EACCES" ? "permission denied" : e.code === "ENOTFOUND" ? "no such host" : e.message;
        reject(new TsebpfError(`${option} ${shown}: ${why}${e.code ? ` (${e.code})` : ""}`, { cause: e }));
      };
      server.once("error", failed);
      server.listen({ host: address.host, port: address.port, exclusive: true }, () => {
        server.off("error", failed);
        resolve();
      });
    });
    const bound = server.address();
    const port = typeof bound === "object" && bound ? bound.port : address.port;
    const host = typeof bound === "object" && bound ? bound.address : address.host;
    // Later errors (none expected once listening) must not crash the program.
    server.on("error", () => undefined);
    return new MetricsServer(server, `http://${host.includes(":") ? `[${host}]` : host}:${port}/metrics`, port);
  }

  /** Stops listening and ends open connections. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await done;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function serve(req: IncomingMessage, res: ServerResponse, collect: Collect): Promise<void> {
  const path = (req.url ?? "").split("?")[0];
  if (path !== "/metrics") {
    res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("not found: the metrics are at /metrics\n");
    return;
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" }).end("method not allowed\n");
    return;
  }
  let pieces: AsyncIterator<string>;
  let first: IteratorResult<string>;
  try {
    pieces = expositionAsync(collect())[Symbol.asyncIterator]();
    first = await pieces.next();
  } catch (e) {
    res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" }).end(`${e instanceof Error ? e.message : String(e)}\n`);
    return;
  }
  let done = first.done === true;
  try {
    res.writeHead(200, { "Content-Type": EXPOSITION_CONTENT_TYPE });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    let written = 0;
    for (let r = first; !r.done; r = await pieces.next()) {
      if (res.destroyed) return;
      const ok = res.write(r.value);
      written += r.value.length;
      if (!ok) {
        await new Promise<void>((resolve) => {
          const drained = () => {
            res.off("drain", drained).off("close", drained);
            resolve();
          };
          res.on("drain", drained).on("close", drained);
        });
      }
      // A 'drain' comes back within the same poll phase of the loop, write after write: timers
      // would not run until the whole response is out. setImmediate ends the loop's turn.
      if (written >= YIELD_BYTES) {
        written = 0;
        await turn();
      }
    }
    done = true;
    res.end();
  } catch (e) {
    done = true;
    // Headers are out: all that can be done is to cut the response short.
    res.destroy(e instanceof Error ? e : new Error(String(e)));
  } finally {
    // A response cut short (HEAD, the client gone): the families' readers release what they hold.
    if (!done) await pieces.return?.().catch(() => undefined);
  }
}
