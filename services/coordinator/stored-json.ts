// Reading back the JSON records the coordinators keep in JetStream (batches, monitors): an object
// or nothing, never a throw; counts as non-negative safe integers. Pure.

/** The bytes as a JSON object, or undefined when they are not one. */
export function parseStoredObject(data: Uint8Array): Record<string, unknown> | undefined {
  try {
    const json: unknown = JSON.parse(Buffer.from(data).toString("utf8"));
    return typeof json === "object" && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
