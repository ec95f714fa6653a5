#!/usr/bin/env node
// The `smtp-probe` command. The sources are TypeScript; tsx compiles them on the fly so that
// `npx smtp-probe` works right after `npm ci`, with no build step.
import { register } from "tsx/esm/api";

register();
await import("../cli/main.ts");
