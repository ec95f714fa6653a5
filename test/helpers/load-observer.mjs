// `node --import ./test/helpers/load-observer.mjs ...`: records every module the process loads,
// one URL or path a line, in the file named by LOAD_OBSERVER_FILE. ES modules are recorded as they
// are resolved (a resolve hook, on the loader's thread, appending as it goes so that nothing is lost
// when the process exits); CommonJS modules, which packages require() among themselves, from
// require.cache when the process exits.
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";
import process from "node:process";

const file = process.env.LOAD_OBSERVER_FILE;
if (!file) throw new Error("load-observer: set LOAD_OBSERVER_FILE to the file to record the loaded modules in");
register("./load-observer-hooks.mjs", import.meta.url, { data: { file } });
const cache = createRequire(import.meta.url).cache;
process.on("exit", () => appendFileSync(file, Object.keys(cache).map((path) => `${path}\n`).join("")));
