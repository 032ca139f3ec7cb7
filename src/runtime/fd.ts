/** Owned file descriptors: every kernel object tsebpf opens has exactly one owner that closes it. */
import { kernel } from "../syscall/index.js";
import { UseAfterCloseError } from "../errors.js";

let open = 0;

/** Number of fds tsebpf holds open right now (for leak checks). */
export const openFdCount = (): number => open;

/** An owned fd. `close()` is idempotent; `using` closes it at the end of the scope. */
export class OwnedFd {
  private value: number;

  constructor(fd: number) {
    if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`not a file descriptor: ${fd}`);
    this.value = fd;
    open++;
  }

  /** The fd number; throws after close. */
  get fd(): number {
    if (this.value < 0) throw new UseAfterCloseError("file descriptor");
    return this.value;
  }

  get closed(): boolean {
    return this.value < 0;
  }

  close(): void {
    if (this.value < 0) return;
    kernel().close(this.value);
    this.value = -1;
    open--;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
