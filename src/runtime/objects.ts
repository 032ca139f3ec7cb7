/** Listing the kernel's BPF objects by id (what `bpftool prog list` / `map list` walk). */
import { fdById, kernel, nextId, type ObjectKind } from "../syscall/index.js";
import { mapInfoByFd, type MapInfo } from "./map.js";
import { programInfoByFd, type ProgramInfo } from "./program.js";
import { linkInfoByFd, type LinkInfo } from "./link.js";

/** Every id of this kind of object, in order. */
export function objectIds(kind: ObjectKind): number[] {
  const ids: number[] = [];
  for (let id = nextId(kind, 0); id !== undefined; id = nextId(kind, id)) ids.push(id);
  return ids;
}

function withFd<T>(kind: ObjectKind, id: number, read: (fd: number) => T): T | undefined {
  let fd: number;
  try {
    fd = fdById(kind, id);
  } catch {
    return undefined; // gone since it was listed
  }
  try {
    return read(fd);
  } finally {
    kernel().close(fd);
  }
}

/** Info of every loaded program. */
export const listPrograms = (): ProgramInfo[] =>
  objectIds("PROG").flatMap((id) => withFd("PROG", id, (fd) => programInfoByFd(fd, `program id ${id}`)) ?? []);

/** Info of every map. */
export const listMaps = (): MapInfo[] => objectIds("MAP").flatMap((id) => withFd("MAP", id, (fd) => mapInfoByFd(fd, `map id ${id}`)) ?? []);

/** Info of every bpf_link. */
export const listLinks = (): LinkInfo[] => objectIds("LINK").flatMap((id) => withFd("LINK", id, (fd) => linkInfoByFd(fd, `link id ${id}`)) ?? []);
