/**
 * For the metrics kernel tests: a program's command run as a child (inside a network namespace
 * or not) with `--metrics 127.0.0.1:0`, the URL it prints, and scrapes with node:http from
 * the namespace it listens in.
 */
import { spawnSync } from "node:child_process";
import { request } from "node:http";
import { CliRun } from "./cli-run.js";
import { parseExposition, type ParsedFamily } from "./exposition.js";

export { CLI } from "./cli-run.js";

export class ProgramRun extends CliRun {
  /** `tsebpf <args>`; inside the namespace at `nsPath` when given. */
  constructor(
    args: string[],
    readonly nsPath?: string,
  ) {
    super(args, { nsPath });
  }

  /** The URL the program printed (`metrics: http://…/metrics`). */
  async metricsUrl(): Promise<string> {
    return (await this.waitFor(/metrics: (http:\/\/\S+\/metrics)\n/))[1] ?? "";
  }
}

export interface Scraped {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

const SCRAPER = `
const http = require("node:http");
http.get(process.argv[1], { agent: false }, (res) => {
  let body = "";
  res.setEncoding("utf8");
  res.on("data", (d) => (body += d));
  res.on("end", () => process.stdout.write(JSON.stringify({ status: res.statusCode, contentType: res.headers["content-type"] ?? "", body })));
}).on("error", (e) => { process.stderr.write(String(e)); process.exit(1); });`;

/** GET `url` with node:http (in the namespace when given: the program listens there). */
export async function get(url: string, nsPath?: string): Promise<Scraped> {
  if (nsPath) {
    const r = spawnSync("nsenter", [`--net=${nsPath}`, "--", process.execPath, "-e", SCRAPER, url], { encoding: "utf8", timeout: 30_000, maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`scrape of ${url} failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Scraped;
  }
  return await new Promise((resolve, reject) => {
    request(url, { agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: res.headers["content-type"] ?? "", body }));
    })
      .on("error", reject)
      .end();
  });
}

/** A scrape that must succeed, parsed strictly. */
export async function scrape(url: string, nsPath?: string): Promise<Map<string, ParsedFamily>> {
  const r = await get(url, nsPath);
  if (r.status !== 200) throw new Error(`scrape of ${url}: HTTP ${r.status}: ${r.body}`);
  if (r.contentType !== "text/plain; version=0.0.4; charset=utf-8") throw new Error(`scrape of ${url}: content type ${r.contentType}`);
  return parseExposition(r.body);
}

/** Every series of a family as `labels → value` (labels as k=v joined by commas, sorted). */
export function seriesOf(families: Map<string, ParsedFamily>, name: string): Record<string, number> {
  const f = families.get(name);
  if (!f) throw new Error(`no family ${name} in the exposition`);
  return Object.fromEntries(
    f.samples
      .filter((s) => s.name === name)
      .map((s) => [
        Object.entries(s.labels)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, v]) => `${k}=${v}`)
          .join(","),
        s.value,
      ]),
  );
}

/** Sends raw Ethernet frames out of `ifname` in the namespace (AF_PACKET, python3). */
export function sendFrames(nsPath: string, ifname: string, frames: readonly Buffer[]): void {
  const hex = JSON.stringify(frames.map((f) => f.toString("hex")));
  const r = spawnSync("nsenter", [`--net=${nsPath}`, "--", "python3", "-c", `
import socket, json, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for f in json.loads(sys.argv[2]):
    s.send(bytes.fromhex(f))`, ifname, hex], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`sending frames failed: ${r.stderr}`);
}
