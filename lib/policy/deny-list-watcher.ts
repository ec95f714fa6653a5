// Keeps the deny list (./deny-list.ts) current without a restart: fs.watch on the
// file's directory (editors and config management replace a file by renaming a new one over it,
// which a watch on the file itself would miss), a periodic stat as the fallback where fs.watch
// says nothing (network file systems, some container mounts), and SIGHUP when asked.
//
// A file that fails to load at start is a ConfigError naming the flag: the process does not
// start with a list it cannot read. A file that fails to load later keeps the previous list and
// logs an error: a typo while editing must not open what the list closes.
import { watch, type FSWatcher } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { ConfigError, UnreadableFileError } from "../config.js";
import type { Logger } from "../logger.js";
import { DenyListError, MAX_DENY_LIST_BYTES, parseDenyList, type DenyList } from "./deny-list.js";

export const DENY_LIST_POLL_MS = 5_000;
/** Several events arrive for one save; one reload follows them. */
const SETTLE_MS = 50;

export interface DenyListWatcherOptions {
  file: string;
  logger: Logger;
  /** Named in the start-up ConfigError; default "--deny-list". */
  setting?: string;
  /** The fallback stat interval; default DENY_LIST_POLL_MS. */
  pollMs?: number;
  /** Reload on SIGHUP too (the process's composition root decides; a library must not). */
  reloadOnSighup?: boolean;
}

export interface DenyListWatcher {
  current(): DenyList;
  /** Reads the file now; resolves true when a new list is in force. Never rejects. */
  reload(): Promise<boolean>;
  stop(): void;
}

export async function watchDenyList(options: DenyListWatcherOptions): Promise<DenyListWatcher> {
  const { file, logger } = options;
  const setting = options.setting ?? "--deny-list";
  let current: DenyList;
  let lastText: string;
  let lastStat = "";
  try {
    ({ text: lastText, stamp: lastStat } = await readBounded(file));
    current = parseDenyList(lastText);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw code !== undefined ? new UnreadableFileError(setting, file, code) : new ConfigError(setting, describe(file, error));
  }
  logger.info({ file, domains: current.domains.length, ranges: current.cidrs.length }, "deny list loaded");

  let running: Promise<boolean> | undefined;
  let again = false;
  const loadOnce = async (): Promise<boolean> => {
    let read: { text: string; stamp: string };
    try {
      read = await readBounded(file);
      lastStat = read.stamp;
      if (read.text === lastText) return false;
      const next = parseDenyList(read.text);
      current = next;
      lastText = read.text;
    } catch (error) {
      logger.error({ file, problem: describe(file, error) }, "deny list not reloaded; the previous one stays in force");
      return false;
    }
    logger.info({ file, domains: current.domains.length, ranges: current.cidrs.length }, "deny list reloaded");
    return true;
  };
  // One reload at a time; a change during a reload is read by one more.
  const reload = (): Promise<boolean> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let changed = false;
      do {
        again = false;
        changed = (await loadOnce()) || changed;
      } while (again);
      running = undefined;
      return changed;
    })();
    return running;
  };

  let settle: NodeJS.Timeout | undefined;
  const soon = (): void => {
    clearTimeout(settle);
    settle = setTimeout(() => void reload(), SETTLE_MS);
    settle.unref();
  };
  let watcher: FSWatcher | undefined;
  try {
    const name = basename(file);
    watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      if (changed === null || changed === name) soon();
    });
    watcher.on("error", (error) => {
      logger.warn({ file, err: error }, "watching the deny list failed; it is still checked every poll interval");
      watcher?.close();
    });
  } catch (error) {
    logger.warn({ file, err: error }, "cannot watch the deny list; it is checked every poll interval");
  }
  const poll = setInterval(() => {
    void stat(file).then(
      (s) => {
        if (stampOf(s) !== lastStat) soon();
      },
      () => {
        // Gone (mid-rename, or removed): the next reload says so, once, if it is still gone.
        if (lastStat !== "missing") {
          lastStat = "missing";
          soon();
        }
      },
    );
  }, options.pollMs ?? DENY_LIST_POLL_MS);
  poll.unref();
  const onHup = (): void => {
    logger.info({ file }, "SIGHUP: reloading the deny list");
    void reload();
  };
  if (options.reloadOnSighup) process.on("SIGHUP", onHup);

  return {
    current: () => current,
    reload,
    stop() {
      clearInterval(poll);
      clearTimeout(settle);
      watcher?.close();
      process.off("SIGHUP", onHup);
    },
  };
}

async function readBounded(file: string): Promise<{ text: string; stamp: string }> {
  const s = await stat(file);
  if (!s.isFile()) throw new DenyListError(0, "is not a regular file");
  if (s.size > MAX_DENY_LIST_BYTES) throw new DenyListError(0, `is larger than ${MAX_DENY_LIST_BYTES} bytes`);
  return { text: await readFile(file, "utf8"), stamp: stampOf(s) };
}

function stampOf(s: { ino: number; size: number; mtimeMs: number }): string {
  return `${s.ino}:${s.size}:${s.mtimeMs}`;
}

function describe(file: string, error: unknown): string {
  if (error instanceof DenyListError) return `${file} ${error.line > 0 ? `${error.message}` : error.problem}`;
  const code = (error as NodeJS.ErrnoException).code;
  return `cannot read ${file}: ${code ?? String(error)}`;
}
