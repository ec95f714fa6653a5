// What the page's bundle gets for `node:net` (scripts/build.js aliases it): the shared cell code
// (services/coordinator/compare-cells.ts) asks isIP of an address the report already holds.
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIP(input: string): number {
  if (IPV4.test(input)) return 4;
  return /^[0-9a-f:.]+$/i.test(input) && input.includes(":") ? 6 : 0;
}
