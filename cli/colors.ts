import pc from "picocolors";

/** The colour functions output is written with; all of them are the identity when colour is off. */
export type Style = ReturnType<typeof pc.createColors>;

export function makeStyle(enabled: boolean): Style {
  return pc.createColors(enabled);
}

/**
 * Whether stdout gets colour. In order: --no-color turns it off; NO_COLOR (set and not empty,
 * no-color.org) turns it off; FORCE_COLOR turns it on (unless "0" or "false"), even when piped;
 * otherwise colour only on a terminal that is not TERM=dumb.
 */
export function shouldUseColor(input: {
  colorAllowed: boolean;
  env: Readonly<Record<string, string | undefined>>;
  isTTY: boolean;
}): boolean {
  const { env } = input;
  if (!input.colorAllowed) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== "0" && env.FORCE_COLOR.toLowerCase() !== "false";
  if (env.TERM === "dumb") return false;
  return input.isTTY;
}
