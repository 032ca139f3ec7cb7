/**
 * What every program's command does with `--metrics ADDR:PORT` (serve its counters while it runs)
 * and `status --metrics` (print the same exposition once, for node_exporter's textfile collector).
 */
import { Option } from "commander";
import { packageVersion } from "../../cli/version.js";
import { buildInfo, writeExposition, type MetricFamily } from "./metrics.js";
import { MetricsServer, parseMetricsAddress, type MetricsAddress } from "./metrics-server.js";

export const metricsOption = (): Option =>
  new Option("--metrics <addr:port>", "serve the counters at http://ADDR:PORT/metrics in the Prometheus text format while it runs ([::1]:9100 for IPv6; port 0: any free port, printed)");

export const statusMetricsOption = (): Option => new Option("--metrics", "print the counters in the Prometheus text format (for node_exporter's textfile collector)");

let version: string | undefined;

/** The program's families and `tsebpf_build_info` last. */
export function withBuildInfo(families: Iterable<MetricFamily>): MetricFamily[] {
  version ??= packageVersion();
  return [...families, buildInfo(version)];
}

/** `--metrics` checked before anything is loaded (undefined: not given). */
export const metricsAddress = (text: string | undefined): MetricsAddress | undefined => (text === undefined ? undefined : parseMetricsAddress(text));

/**
 * Listens (before the program loads: an address in use changes nothing in the kernel) and says
 * where; `collect` is called per scrape (an empty exposition until the program is running).
 */
export async function serveMetrics(address: MetricsAddress | undefined, collect: () => Iterable<MetricFamily> | undefined, tell: (line: string) => void): Promise<MetricsServer | undefined> {
  if (!address) return undefined;
  const server = await MetricsServer.listen(address, () => withBuildInfo(collect() ?? []));
  tell(`metrics: ${server.url}`);
  return server;
}

/** `status --metrics`: the exposition as text. */
export const metricsText = (families: Iterable<MetricFamily>): string => writeExposition(withBuildInfo(families));
