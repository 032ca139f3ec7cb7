/**
 * packetfilter's configuration: the original keys (`rules.interface`, `rules.ipv4|ipv6.default|
 * allow|block`) plus `capacity` per family. Entries are addresses or CIDR prefixes.
 */
import { ConfigNode, parseYaml, readYamlFile } from "../common/config.js";
import { formatPrefix, isInterfaceName, parsePrefix, type Family, type Prefix } from "../common/net.js";

export type Action = "allow" | "block";

/** One rule: a prefix and what happens to packets from it. */
export interface Rule {
  readonly prefix: Prefix;
  readonly action: Action;
}

export interface FamilyRules {
  readonly default: Action;
  /** Every prefix once (a prefix in both lists is blocked). */
  readonly rules: readonly Rule[];
  /** Most rules this family may hold. */
  readonly capacity: number;
}

export interface PacketFilterConfig {
  readonly interface: string;
  /**
   * Where the interface was named, for messages about it: `filter.yml: rules.interface`, or
   * `--interface` (absent: the message names only the interface).
   */
  readonly interfaceFrom?: string;
  readonly ipv4: FamilyRules;
  readonly ipv6: FamilyRules;
  /** Things the configuration allows but probably does not mean (a prefix in both lists). */
  readonly warnings: readonly string[];
}

export const DEFAULT_CAPACITY = 1_000_000;

/** Reads and validates a configuration file. */
export function readConfig(path: string): PacketFilterConfig {
  return validateConfig(readYamlFile(path), path);
}

/** Validates YAML text (`source` names it in messages). */
export function parseConfig(text: string, source = "config"): PacketFilterConfig {
  return validateConfig(parseYaml(text, source), source);
}

/** Checks a parsed document; every rejection names the key and the value. */
export function validateConfig(document: unknown, source: string): PacketFilterConfig {
  const root = ConfigNode.root(document, source).object(["rules"]);
  const rules = root.required("rules").object(["interface", "ipv4", "ipv6"]);
  const ifnameNode = rules.required("interface");
  const ifname = ifnameNode.string();
  if (!isInterfaceName(ifname)) throw ifnameNode.error(`'${ifname}' is not an interface name`);
  const warnings: string[] = [];
  return {
    interface: ifname,
    interfaceFrom: `${source}: ${ifnameNode.path}`,
    ipv4: family(rules.get("ipv4"), "ipv4", warnings),
    ipv6: family(rules.get("ipv6"), "ipv6", warnings),
    warnings,
  };
}

function family(node: ConfigNode, name: Family, warnings: string[]): FamilyRules {
  if (!node.present) return { default: "allow", rules: [], capacity: DEFAULT_CAPACITY };
  node.object(["default", "allow", "block", "capacity"]);
  const def = node.get("default").present ? node.get("default").oneOf(["allow", "block"] as const) : "allow";
  const capacity = node.get("capacity").present ? node.get("capacity").integer(1, 16_777_216) : DEFAULT_CAPACITY;
  const byPrefix = new Map<number | string, Rule>();
  for (const action of ["allow", "block"] as const) {
    const list = node.get(action);
    const values = list.values();
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      const text = typeof value === "number" ? String(value) : typeof value === "string" && value !== "" ? value : list.item(i).string();
      const parsed = parsePrefix(text.trim(), name);
      if (!parsed.ok) throw list.item(i).error(parsed.why);
      if (parsed.prefix.length === 0) throw list.item(i).error(`'${text}' matches every address: set ${node.path}.default: ${action} instead`);
      const key = prefixKey(parsed.prefix);
      const earlier = byPrefix.get(key);
      if (earlier) {
        if (earlier.action === action) throw list.item(i).error(`'${text}' is listed twice in ${list.path}`);
        warnings.push(`${node.path}: ${formatPrefix(parsed.prefix)} is in both allow and block: it is blocked`);
      }
      byPrefix.set(key, { prefix: parsed.prefix, action });
    }
  }
  if (byPrefix.size > capacity) throw node.get("capacity").error(`${byPrefix.size} rules do not fit in a capacity of ${capacity}`);
  return { default: def, rules: [...byPrefix.values()], capacity };
}

/** A cheap exact key of a prefix: a number for IPv4, a string of 16-bit units for IPv6. */
function prefixKey(p: Prefix): number | string {
  const a = p.address;
  if (a.length === 4) return ((((a[0] ?? 0) << 24) | ((a[1] ?? 0) << 16) | ((a[2] ?? 0) << 8) | (a[3] ?? 0)) >>> 0) * 64 + p.length;
  let key = "";
  for (let i = 0; i < 16; i += 2) key += String.fromCharCode(((a[i] ?? 0) << 8) | (a[i + 1] ?? 0));
  return key + String.fromCharCode(p.length);
}

/** A family's rules as plain lists, the shape of the config file. */
export function describeRules(f: FamilyRules): { default: Action; allow: string[]; block: string[] } {
  const of = (a: Action) => f.rules.filter((r) => r.action === a).map((r) => formatPrefix(r.prefix));
  return { default: f.default, allow: of("allow"), block: of("block") };
}
