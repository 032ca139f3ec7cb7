/**
 * The load balancer's configuration: the original keys (`listenInterface`, `tcp_port`, `backends`
 * as MAC addresses) plus `vip`, `protocol` and the table sizes. Everything is checked here, before
 * anything touches the kernel; each rejection is one line `FILE: key: why`.
 */
import { ConfigError, ConfigNode, readYamlFile } from "../common/config.js";
import { formatMac, isInterfaceName, parseIPv4, parseIPv6, parseMac } from "../common/net.js";
import { isPrime } from "./maglev.js";
import { describeInstance } from "./status.js";

/** Backends the BPF program has room for (MAX_BACKENDS in loadbalancer.bpf.c). */
export const MAX_BACKENDS = 256;
/** A backend name's most UTF-8 bytes. */
export const MAX_NAME_LENGTH = 63;
/** The info map's value (INFO_SIZE in loadbalancer.bpf.c): the JSON description and a NUL. */
export const INFO_SIZE = 32768;
/** The longest mode text the description can hold (what `--mode auto` says on veth). */
export const AUTO_ON_VETH = "generic (auto on veth)";
export const DEFAULT_TABLE_SIZE = 65537;
export const MAX_TABLE_SIZE = 1_000_003;
export const DEFAULT_MAX_CONNECTIONS = 65536;
export const MAX_CONNECTIONS_LIMIT = 1 << 24;
/** How long after a backend change a moved slot sends unrecorded connections to its previous backend. */
export const DEFAULT_PREVIOUS_BACKEND_SECONDS = 120;
/** The longest `previousBackendSeconds`: a week. */
export const MAX_PREVIOUS_BACKEND_SECONDS = 604_800;

export type Protocol = "tcp" | "udp";

export interface BackendConfig {
  readonly mac: Uint8Array;
  /** The name given, or the MAC as text: what Maglev hashes, so it must be stable. */
  readonly name: string;
}

export interface LoadBalancerConfig {
  /** The file it came from, for messages. */
  readonly source: string;
  readonly listenInterface: string;
  readonly protocol: Protocol;
  /** The service port (`tcp_port`, or `port`). */
  readonly port: number;
  /** The IPv4 service address (network order), if any. */
  readonly vip4?: Uint8Array;
  /** The IPv6 service address, if any. */
  readonly vip6?: Uint8Array;
  readonly backends: readonly BackendConfig[];
  /** Maglev table size M: a prime, well above the number of backends. */
  readonly tableSize: number;
  /** Capacity of the connection table (LRU: the least recently used flow goes first). */
  readonly maxConnections: number;
  /**
   * For how long after a backend change a packet of a connection this balancer has not recorded,
   * in a Maglev slot the change moved, is taken for one open before the change (its previous
   * backend); afterwards it goes where the table says, as on every balancer with the same config.
   */
  readonly previousBackendSeconds: number;
}

const KEYS = ["listenInterface", "tcp_port", "port", "protocol", "vip", "backends", "maglevTableSize", "maxConnections", "previousBackendSeconds"] as const;

/**
 * An error about a key of a configuration already validated, found when it meets the system (the
 * interface missing at start): `lb.yml: listenInterface: interface "nosuch0": no such device`.
 */
export function keyError(config: Pick<LoadBalancerConfig, "source">, key: (typeof KEYS)[number], why: string, cause?: unknown): ConfigError {
  return new ConfigError(`${config.source}: ${key}: ${why}`, cause === undefined ? undefined : { cause });
}

/** Reads and validates a configuration file. */
export function loadConfig(path: string): LoadBalancerConfig {
  return parseConfig(readYamlFile(path), path);
}

/** Validates a parsed YAML document (`source` names it in errors). */
export function parseConfig(document: unknown, source: string): LoadBalancerConfig {
  const root = ConfigNode.root(document ?? {}, source).object(KEYS);
  const listenInterface = interfaceName(root.required("listenInterface"));
  const protocol = root.get("protocol").present ? root.get("protocol").oneOf(["tcp", "udp"] as const) : "tcp";
  const port = servicePort(root);
  const { vip4, vip6 } = vips(root);
  const backends = backendList(root);
  const tableSize = root.get("maglevTableSize").present ? tableSizeOf(root.get("maglevTableSize"), backends.length) : DEFAULT_TABLE_SIZE;
  const maxConnections = root.get("maxConnections").present ? root.get("maxConnections").integer(1, MAX_CONNECTIONS_LIMIT) : DEFAULT_MAX_CONNECTIONS;
  const previous = root.get("previousBackendSeconds");
  const previousBackendSeconds = previous.present ? previous.integer(0, MAX_PREVIOUS_BACKEND_SECONDS) : DEFAULT_PREVIOUS_BACKEND_SECONDS;
  const config = { source, listenInterface, protocol, port, ...(vip4 ? { vip4 } : {}), ...(vip6 ? { vip6 } : {}), backends, tableSize, maxConnections, previousBackendSeconds };
  checkDescriptionSize(config, root.get("backends"));
  return config;
}

/**
 * The description the info map holds must fit its value: checked here (the largest ids, the
 * longest mode text), not found out after the load.
 */
function checkDescriptionSize(config: LoadBalancerConfig, node: ConfigNode): void {
  const largestIds = config.backends.map(() => MAX_BACKENDS - 1);
  const bytes = Buffer.byteLength(JSON.stringify(describeInstance(config, AUTO_ON_VETH, largestIds)));
  if (bytes > INFO_SIZE - 1) throw node.error(`the instance description (service, backend names and MACs) would be ${bytes} bytes, more than the ${INFO_SIZE - 1} its map holds: use shorter backend names`);
}

function interfaceName(node: ConfigNode): string {
  const name = node.string();
  if (!isInterfaceName(name)) throw node.error(`'${name}' is not an interface name (1 to 15 characters, no '/', ':' or spaces)`);
  return name;
}

function servicePort(root: ConfigNode): number {
  const original = root.get("tcp_port");
  const alias = root.get("port");
  if (original.present && alias.present) throw alias.error("give tcp_port or port, not both");
  if (!original.present && !alias.present) throw new ConfigNode(undefined, "tcp_port", root.source).error("missing (the service port, 1..65535)");
  return (original.present ? original : alias).integer(1, 65535);
}

function vips(root: ConfigNode): { vip4?: Uint8Array; vip6?: Uint8Array } {
  const node = root.get("vip");
  if (!node.present) {
    throw new ConfigNode(undefined, "vip", root.source).error("missing (the service address the backends hold on loopback: an IPv4 address, an IPv6 address, or a list of one of each)");
  }
  const items = Array.isArray(node.value) ? node.list(2) : [node];
  if (items.length === 0) throw node.error("empty: give an IPv4 address, an IPv6 address, or one of each");
  let vip4: Uint8Array | undefined;
  let vip6: Uint8Array | undefined;
  for (const item of items) {
    const text = item.string();
    const v4 = parseIPv4(text);
    const v6 = v4 ? undefined : parseIPv6(text);
    if (!v4 && !v6) throw item.error(`'${text}' is not an IPv4 or IPv6 address`);
    const bytes = (v4 ?? v6) as Uint8Array;
    if (bytes.every((b) => b === 0)) throw item.error(`'${text}' is the unspecified address, not a service address`);
    if ((v4 && (bytes[0] ?? 0) >= 224) || (v6 && bytes[0] === 0xff)) throw item.error(`'${text}' is a multicast or broadcast address, not a service address`);
    if (v4) {
      if (vip4) throw item.error(`a second IPv4 address ('${text}'): one service address per family`);
      vip4 = v4;
    } else {
      if (vip6) throw item.error(`a second IPv6 address ('${text}'): one service address per family`);
      vip6 = v6;
    }
  }
  return { ...(vip4 ? { vip4 } : {}), ...(vip6 ? { vip6 } : {}) };
}

function backendList(root: ConfigNode): BackendConfig[] {
  const node = root.required("backends");
  const items = node.list(MAX_BACKENDS);
  if (items.length === 0) throw node.error("empty: at least one backend MAC address is needed");
  const seenMac = new Map<string, string>();
  const seenName = new Map<string, string>();
  return items.map((item) => {
    const b = backend(item);
    const macText = formatMac(b.mac);
    const earlier = seenMac.get(macText);
    if (earlier !== undefined) throw item.error(`duplicate MAC ${macText} (also ${earlier})`);
    seenMac.set(macText, item.path);
    const sameName = seenName.get(b.name);
    if (sameName !== undefined) throw item.error(`duplicate name '${b.name}' (also ${sameName})`);
    seenName.set(b.name, item.path);
    return b;
  });
}

/** `02:00:00:00:00:01` (the original form) or `{ mac: 02:00:00:00:00:01, name: web1 }`. */
function backend(item: ConfigNode): BackendConfig {
  if (typeof item.value === "string") {
    const mac = macOf(item);
    return { mac, name: formatMac(mac) };
  }
  item.object(["mac", "name"]);
  const mac = macOf(item.required("mac"));
  const nameNode = item.get("name");
  const name = nameNode.present ? nameNode.string() : formatMac(mac);
  // Control characters (newlines…) and other unprintable ones would garble every summary line.
  if (/\p{C}/u.test(name)) throw nameNode.error(`${JSON.stringify(name)} has a control or unprintable character (names are printable text)`);
  const bytes = Buffer.byteLength(name);
  if (bytes > MAX_NAME_LENGTH) throw nameNode.error(`'${[...name].slice(0, 20).join("")}…' is ${bytes} bytes (UTF-8), more than ${MAX_NAME_LENGTH}`);
  return { mac, name };
}

function macOf(node: ConfigNode): Uint8Array {
  if (typeof node.value !== "string") throw node.error(`expected a MAC address like 02:00:00:00:00:01 (or { mac, name }), not ${JSON.stringify(node.value)}`);
  const text = node.value;
  const mac = parseMac(text);
  if (!mac) throw node.error(`'${text}' is not a MAC address (six hex pairs, like 02:00:00:00:00:01)`);
  if (mac.every((b) => b === 0)) throw node.error(`'${text}' is the all-zero MAC, not a backend's address`);
  if (((mac[0] ?? 0) & 1) === 1) throw node.error(`'${text}' is a multicast or broadcast MAC, not a backend's address`);
  return mac;
}

function tableSizeOf(node: ConfigNode, backends: number): number {
  const size = node.integer(3, MAX_TABLE_SIZE);
  if (!isPrime(size)) throw node.error(`${size} is not a prime (Maglev needs a prime table size, like 251, 65537 or 655373)`);
  if (size < backends) throw node.error(`${size} slots are fewer than the ${backends} backends`);
  return size;
}
