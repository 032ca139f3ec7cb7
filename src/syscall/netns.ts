/**
 * Network namespaces and interface names, for the calling thread.
 *
 * `withNetns` moves the calling thread (Node's main thread: where every synchronous call runs)
 * into another network namespace for the duration of a synchronous function, and back. Sockets
 * opened inside stay in that namespace after the switch back, so a netlink socket opened in
 * `withNetns` keeps configuring the namespace's interfaces.
 */
import { closeSync, openSync } from "node:fs";
import { SyscallError } from "./errors.js";
import { kernel } from "./kernel.js";

export const CLONE_NEWNET = 0x40000000;
const ENODEV = 19;
const IFNAMSIZ = 16;

/** The calling thread's own namespace file (thread-self: setns acts on one thread). */
const SELF_NETNS = "/proc/thread-self/ns/net";

function openNs(path: string, what: string): number {
  try {
    return openSync(path, "r");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const errno = typeof err.errno === "number" ? Math.abs(err.errno) : 2;
    throw new SyscallError(errno, { syscall: "open", object: `${what} ${path}`, ...(errno === 2 ? { hint: "no such namespace (created with `ip netns add`, or /proc/PID/ns/net of a live process)" } : {}) });
  }
}

/**
 * Runs `fn` with the calling thread in the network namespace at `nsPath` (a bind mount such as
 * /var/run/netns/NAME, or /proc/PID/ns/net), then returns to the original namespace — also
 * when `fn` throws. `fn` must be synchronous: code after an `await` would run elsewhere.
 */
export function withNetns<T>(nsPath: string, fn: () => T): T {
  const k = kernel();
  const original = openNs(SELF_NETNS, "network namespace");
  let target: number;
  try {
    target = openNs(nsPath, "network namespace");
  } catch (e) {
    closeSync(original);
    throw e;
  }
  try {
    const r = k.setns(target, CLONE_NEWNET);
    if (r < 0) throw new SyscallError(-r, { syscall: "setns", object: `network namespace ${nsPath}`, ...(r === -1 ? { hint: "needs CAP_SYS_ADMIN" } : {}) });
    let result: T;
    try {
      result = fn();
    } finally {
      const back = k.setns(original, CLONE_NEWNET);
      if (back < 0) {
        // The thread is stuck in the other namespace: nothing after this can be trusted.
        throw new SyscallError(-back, { syscall: "setns", object: "the original network namespace", hint: "could not return from " + nsPath });
      }
    }
    if (result !== null && typeof result === "object" && typeof (result as { then?: unknown }).then === "function") {
      (result as unknown as Promise<unknown>).catch(() => undefined);
      throw new TypeError("withNetns: the function must be synchronous (it returned a promise, whose remaining work runs outside the namespace)");
    }
    return result;
  } finally {
    closeSync(target);
    closeSync(original);
  }
}

function checkName(name: string): void {
  if (name.length === 0 || name.length >= IFNAMSIZ || name.includes("/") || /\s/.test(name)) {
    throw new SyscallError(ENODEV, { syscall: "if_nametoindex", object: `interface "${name}"`, hint: `not a valid interface name (1 to ${IFNAMSIZ - 1} characters, no "/" or spaces)` });
  }
}

/** A missing interface: `interface "veth9": no such device`. */
export class NoSuchInterfaceError extends SyscallError {
  constructor(readonly ifname: string) {
    super(ENODEV, { syscall: "if_nametoindex", object: `interface "${ifname}"` });
    Object.defineProperty(this, "name", { value: "NoSuchInterfaceError", enumerable: false, configurable: true });
    this.message = `interface "${ifname}": no such device`;
  }
}

/** The index of an interface in the calling thread's network namespace. */
export function ifindex(name: string): number {
  checkName(name);
  const r = kernel().ifNameToIndex(name);
  if (r > 0) return r;
  if (r === -ENODEV || r === 0) throw new NoSuchInterfaceError(name);
  throw new SyscallError(-r, { syscall: "if_nametoindex", object: `interface "${name}"` });
}

/** The name of an interface by index (calling thread's namespace), or undefined. */
export function ifname(index: number): string | undefined {
  return kernel().ifIndexToName(index);
}
