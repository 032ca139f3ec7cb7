/**
 * jittergen's configuration: the original keys where they were (`outIf`, `action`, `match:
 * {percent, protocol, port}`, `jitter: {minDelayMs, maxDelayMs}`, `reorder: {delayMs}`) and the
 * new ones beside them: `engine`, `horizonMs`, `flowLimit`, a `rules` list (several rules, first
 * match wins) and, per rule, `loss`, `duplicate`, `corrupt`, `rate` and the extended `match` keys
 * (`family`, `src`, `dst`, `srcPort`, port ranges). Sections an action does not use are accepted
 * (an original config carries all of them). Every rejection is one line `FILE: key: why`, before
 * anything touches the kernel.
 */
import { ConfigError, ConfigNode, readYamlFile } from "../common/config.js";
import { formatPrefix, isInterfaceName, parsePrefix, type Prefix } from "../common/net.js";

/** Rules the BPF program has room for (MAX_RULES in jittergen.bpf.c). */
export const MAX_RULES = 16;
/** Delay histogram buckets (HIST_BUCKETS in jittergen.bpf.c). */
export const HIST_BUCKETS = 24;
/** The longest delay one may ask for (the fq horizon limit the program sets stays below 2^32 µs). */
export const MAX_DELAY_MS = 60_000;
export const DEFAULT_HORIZON_MS = 10_000;
export const DEFAULT_FLOW_LIMIT = 1000;

export type Action = "pass" | "drop" | "jitter" | "reorder";
export const ACTIONS: readonly Action[] = ["drop", "jitter", "reorder", "pass"];
export type Engine = "auto" | "edt" | "recirculate" | "userspace";
export const ENGINES: readonly Engine[] = ["auto", "edt", "recirculate", "userspace"];
export type Protocol = "ip" | "tcp" | "udp";

export type LossModel = { readonly model: "bernoulli"; readonly correlation: number } | {
  readonly model: "gilbert-elliott";
  /** Percent chance per packet of moving good → bad. */
  readonly p: number;
  /** Percent chance per packet of moving bad → good. */
  readonly r: number;
  /** Loss percent in the bad state (netem's 1-h). */
  readonly lossInBad: number;
  /** Loss percent in the good state (netem's 1-k). */
  readonly lossInGood: number;
};

export interface PortRange {
  readonly lo: number;
  readonly hi: number;
}

export interface RuleConfig {
  /** Where it came from, for messages: `action` (the top-level rule) or `rules[2]`. */
  readonly key: string;
  readonly action: Action;
  /** 0..100: the fraction of matched packets the action applies to. */
  readonly percent: number;
  readonly protocol: Protocol;
  readonly family?: "ipv4" | "ipv6";
  readonly src?: Prefix;
  readonly dst?: Prefix;
  /** Destination ports (the original `match.port`). */
  readonly dstPorts?: PortRange;
  readonly srcPorts?: PortRange;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly reorderDelayMs: number;
  /** jitter: a packet never leaves before its flow's previous one (default true). */
  readonly keepOrder: boolean;
  readonly loss: LossModel;
  /** Percent of matched packets sent twice. */
  readonly duplicate: number;
  /** Percent of matched packets with one payload bit flipped. */
  readonly corrupt: number;
  /** Pacing of matched packets, bytes per second (0: none). */
  readonly rateBytesPerSecond: number;
}

export interface JittergenConfig {
  readonly source: string;
  readonly outIf: string;
  readonly engine: Engine;
  /** The longest a packet may be held; the fq horizon (edt). */
  readonly horizonMs: number;
  /** fq's per-flow packet limit (edt). */
  readonly flowLimit: number;
  readonly rules: readonly RuleConfig[];
}

const RULE_KEYS = ["action", "match", "jitter", "reorder", "loss", "duplicate", "corrupt", "rate", "keepOrder"] as const;
const TOP_KEYS = ["outIf", "engine", "horizonMs", "flowLimit", "rules", ...RULE_KEYS] as const;
const MATCH_KEYS = ["percent", "protocol", "port", "srcPort", "dstPort", "family", "src", "dst"] as const;

/** An error about a key of an already validated config (found when it meets the system). */
export function keyError(config: Pick<JittergenConfig, "source">, key: string, why: string, cause?: unknown): ConfigError {
  return new ConfigError(`${config.source}: ${key}: ${why}`, cause === undefined ? undefined : { cause });
}

export function loadConfig(path: string): JittergenConfig {
  return parseConfig(readYamlFile(path), path);
}

export function parseConfig(document: unknown, source: string): JittergenConfig {
  const root = ConfigNode.root(document ?? {}, source).object(TOP_KEYS);
  const outIfNode = root.required("outIf");
  const outIf = outIfNode.string();
  if (!isInterfaceName(outIf)) throw outIfNode.error(`'${outIf}' is not an interface name`);
  const engine = root.get("engine").present ? root.get("engine").oneOf(ENGINES) : "auto";
  const horizonMs = root.get("horizonMs").present ? root.get("horizonMs").number(1, MAX_DELAY_MS) : DEFAULT_HORIZON_MS;
  const flowLimit = root.get("flowLimit").present ? root.get("flowLimit").integer(1, 1_000_000) : DEFAULT_FLOW_LIMIT;
  const rules: RuleConfig[] = [];
  if (root.get("action").present) rules.push(parseRule(root, ""));
  else {
    for (const k of RULE_KEYS) {
      // An original config without `action` but with match/jitter/… sections: say what is missing.
      if (k !== "action" && root.get(k).present && !root.get("rules").present) throw new ConfigNode(undefined, "action", source).error(`missing (${k} is given: expected drop, jitter, reorder or pass)`);
    }
  }
  const list = root.get("rules").list(MAX_RULES - rules.length);
  list.forEach((n) => rules.push(parseRule(n.object(RULE_KEYS), n.path)));
  if (rules.length === 0) throw new ConfigNode(undefined, "action", source).error("missing (give action, or a rules list)");
  for (const r of rules) {
    const longest = Math.max(r.maxDelayMs, r.action === "reorder" ? r.reorderDelayMs : 0);
    if (longest > horizonMs) throw new ConfigError(`${source}: horizonMs: ${horizonMs} is below the ${longest} ms delay of ${r.key} (the horizon bounds every delay)`);
  }
  return { source, outIf, engine, horizonMs, flowLimit, rules };
}

const at = (prefix: string, key: string): string => (prefix === "" ? key : `${prefix}.${key}`);

function parseRule(node: ConfigNode, path: string): RuleConfig {
  const action = node.required("action").oneOf(ACTIONS);
  const match = node.get("match");
  if (match.present) match.object(MATCH_KEYS);
  const percent = match.get("percent").present ? match.get("percent").number(0, 100) : 100;
  const protocol = match.get("protocol").present ? match.get("protocol").oneOf(["ip", "tcp", "udp"] as const) : "ip";
  const familyNode = match.get("family");
  let family = familyNode.present ? familyNode.oneOf(["ipv4", "ipv6", "any"] as const) : "any";
  const src = prefixOf(match.get("src"));
  const dst = prefixOf(match.get("dst"));
  for (const [n, p] of [[match.get("src"), src], [match.get("dst"), dst]] as const) {
    if (!p) continue;
    if (family !== "any" && family !== p.family) throw n.error(`${formatPrefix(p)} is ${p.family}, but match.family is ${family}`);
    family = p.family;
  }
  if (src && dst && src.family !== dst.family) throw match.get("dst").error(`${formatPrefix(dst)} is ${dst.family}, but match.src is ${src.family}`);
  if (match.get("port").present && match.get("dstPort").present) throw match.get("dstPort").error("give port or dstPort, not both (port is the destination port)");
  const dstPorts = portRange(match.get("port").present ? match.get("port") : match.get("dstPort"));
  const srcPorts = portRange(match.get("srcPort"));
  if ((dstPorts || srcPorts) && protocol === "ip") throw (dstPorts ? match.get(match.get("port").present ? "port" : "dstPort") : match.get("srcPort")).error("ports need match.protocol tcp or udp");

  const jitter = node.get("jitter");
  if (jitter.present) jitter.object(["minDelayMs", "maxDelayMs"]);
  let minDelayMs = 0;
  let maxDelayMs = 0;
  if (action === "jitter") {
    if (!jitter.present) throw new ConfigNode(undefined, at(path, "jitter"), node.source).error("missing (action jitter needs minDelayMs and maxDelayMs)");
    minDelayMs = jitter.required("minDelayMs").number(0, MAX_DELAY_MS);
    maxDelayMs = jitter.required("maxDelayMs").number(0, MAX_DELAY_MS);
    if (minDelayMs > maxDelayMs) throw jitter.get("minDelayMs").error(`${minDelayMs} is more than jitter.maxDelayMs ${maxDelayMs}`);
  } else if (jitter.present) {
    // Accepted and checked (an original config carries every section), not used.
    const lo = jitter.get("minDelayMs").present ? jitter.get("minDelayMs").number(0, MAX_DELAY_MS) : 0;
    const hi = jitter.get("maxDelayMs").present ? jitter.get("maxDelayMs").number(0, MAX_DELAY_MS) : lo;
    if (lo > hi) throw jitter.get("minDelayMs").error(`${lo} is more than jitter.maxDelayMs ${hi}`);
  }
  const reorder = node.get("reorder");
  if (reorder.present) reorder.object(["delayMs"]);
  let reorderDelayMs = 0;
  if (action === "reorder") {
    if (!reorder.present) throw new ConfigNode(undefined, at(path, "reorder"), node.source).error("missing (action reorder needs delayMs)");
    reorderDelayMs = reorder.required("delayMs").number(0, MAX_DELAY_MS);
    if (reorderDelayMs === 0) throw reorder.get("delayMs").error("0 reorders nothing: give a delay in ms above 0");
  } else if (reorder.present && reorder.get("delayMs").present) reorder.get("delayMs").number(0, MAX_DELAY_MS);

  const keepOrder = node.get("keepOrder").present ? node.get("keepOrder").boolean() : true;
  const loss = lossOf(node.get("loss"), action);
  const duplicate = node.get("duplicate").present ? node.get("duplicate").number(0, 100) : 0;
  const corrupt = node.get("corrupt").present ? node.get("corrupt").number(0, 100) : 0;
  const rateBytesPerSecond = node.get("rate").present ? rateOf(node.get("rate")) : 0;
  return {
    key: path === "" ? "action" : path,
    action,
    percent,
    protocol,
    ...(family !== "any" ? { family } : {}),
    ...(src ? { src } : {}),
    ...(dst ? { dst } : {}),
    ...(dstPorts ? { dstPorts } : {}),
    ...(srcPorts ? { srcPorts } : {}),
    minDelayMs,
    maxDelayMs,
    reorderDelayMs,
    keepOrder,
    loss,
    duplicate,
    corrupt,
    rateBytesPerSecond,
  };
}

function prefixOf(n: ConfigNode): Prefix | undefined {
  if (!n.present) return undefined;
  const text = n.string();
  const r = text.includes(":") ? parsePrefix(text, "ipv6") : parsePrefix(text, "ipv4");
  if (!r.ok) throw n.error(r.why);
  return r.prefix;
}

/** `80`, or `8000-8099` (inclusive). */
function portRange(n: ConfigNode): PortRange | undefined {
  if (!n.present) return undefined;
  if (typeof n.value === "number") {
    const p = n.integer(1, 65535);
    return { lo: p, hi: p };
  }
  const m = typeof n.value === "string" ? /^(\d{1,5})-(\d{1,5})$/.exec(n.value) : null;
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2]) : NaN;
  if (!(lo >= 1 && hi <= 65535 && lo <= hi)) throw n.error(`expected a port (1..65535) or a range like 8000-8099, not ${JSON.stringify(n.value)}`);
  return { lo, hi };
}

function lossOf(n: ConfigNode, action: Action): LossModel {
  if (!n.present) return { model: "bernoulli", correlation: 0 };
  n.object(["model", "correlation", "p", "r", "lossInBad", "lossInGood"]);
  if (action !== "drop") throw n.error(`applies to action drop, not ${action}`);
  const model = n.get("model").present ? n.get("model").oneOf(["bernoulli", "gilbert-elliott"] as const) : "bernoulli";
  if (model === "bernoulli") {
    for (const k of ["p", "r", "lossInBad", "lossInGood"]) if (n.get(k).present) throw n.get(k).error("only with model gilbert-elliott");
    return { model, correlation: n.get("correlation").present ? n.get("correlation").number(0, 100) : 0 };
  }
  if (n.get("correlation").present) throw n.get("correlation").error("only with model bernoulli");
  const p = n.required("p").number(0, 100);
  const r = n.required("r").number(0, 100);
  if (r === 0 && p > 0) throw n.get("r").error("0 never leaves the bad state: every packet after the first burst would be lost");
  return { model, p, r, lossInBad: n.get("lossInBad").present ? n.get("lossInBad").number(0, 100) : 100, lossInGood: n.get("lossInGood").present ? n.get("lossInGood").number(0, 100) : 0 };
}

const RATE_UNITS: Record<string, number> = { bit: 1 / 8, kbit: 1000 / 8, mbit: 1e6 / 8, gbit: 1e9 / 8, bps: 1, kbps: 1000, mbps: 1e6, gbps: 1e9 };

/** `10mbit`, `500kbit`, `1gbit` (bits/s, as tc writes them), `100kbps` (bytes/s), or bytes/s as a number. */
function rateOf(n: ConfigNode): number {
  if (typeof n.value === "number") return n.integer(1, 1e12);
  const m = typeof n.value === "string" ? /^(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$/i.exec(n.value) : null;
  const v = m ? Math.round(Number(m[1]) * (RATE_UNITS[(m[2] ?? "").toLowerCase()] ?? NaN)) : NaN;
  if (!(v >= 1 && v <= 1e12)) throw n.error(`expected a rate like 10mbit, 500kbit or 100kbps (or bytes per second), not ${JSON.stringify(n.value)}`);
  return v;
}

/** Whether a rule needs a delay engine (it may hold packets). */
export function needsDelay(r: RuleConfig): boolean {
  return (r.action === "jitter" && r.maxDelayMs > 0 && r.percent > 0) || (r.action === "reorder" && r.percent > 0) || r.rateBytesPerSecond > 0;
}

/** One line per rule: `udp dport 5000 30%: jitter 1-5 ms`. */
export function describeRule(r: RuleConfig): string {
  const m: string[] = [r.family ?? "", r.protocol === "ip" ? "" : r.protocol];
  if (r.src) m.push(`src ${formatPrefix(r.src)}`);
  if (r.dst) m.push(`dst ${formatPrefix(r.dst)}`);
  const ports = (p: PortRange) => (p.lo === p.hi ? `${p.lo}` : `${p.lo}-${p.hi}`);
  if (r.srcPorts) m.push(`sport ${ports(r.srcPorts)}`);
  if (r.dstPorts) m.push(`dport ${ports(r.dstPorts)}`);
  const what =
    r.action === "jitter"
      ? `jitter ${r.minDelayMs}-${r.maxDelayMs} ms`
      : r.action === "reorder"
        ? `reorder (delay ${r.reorderDelayMs} ms)`
        : r.action === "drop" && r.loss.model === "gilbert-elliott"
          ? `drop (gilbert-elliott p ${r.loss.p}% r ${r.loss.r}%)`
          : r.action;
  const extra = [r.duplicate ? `duplicate ${r.duplicate}%` : "", r.corrupt ? `corrupt ${r.corrupt}%` : "", r.rateBytesPerSecond ? `rate ${r.rateBytesPerSecond} B/s` : ""].filter(Boolean);
  const sel = r.action === "drop" && r.loss.model === "gilbert-elliott" ? "" : ` ${r.percent}%`;
  return `${m.filter(Boolean).join(" ") || "all"}${sel}: ${what}${extra.length ? `, ${extra.join(", ")}` : ""}`;
}
