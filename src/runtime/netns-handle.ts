/**
 * The network namespace an attachment was made in, kept open so that detaching later (over
 * netlink, by ifindex) happens in that namespace even if the caller is elsewhere by then.
 */
import { closeSync, openSync } from "node:fs";
import { withNetns } from "../syscall/netns.js";
import { UseAfterCloseError } from "../errors.js";

export class NetnsHandle {
  private fd: number;

  /** The calling thread's current network namespace. */
  constructor() {
    this.fd = openSync("/proc/thread-self/ns/net", "r");
  }

  /** Runs `fn` in this namespace. */
  run<T>(fn: () => T): T {
    if (this.fd < 0) throw new UseAfterCloseError("network namespace handle");
    return withNetns(`/proc/self/fd/${this.fd}`, fn);
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }
}
