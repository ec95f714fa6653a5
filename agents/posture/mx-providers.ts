// Mail providers recognised by their exchangers' names: a small table of suffixes of the large
// providers' MX host names, matched on label boundaries. Pure; a name not in it is no provider.

export const MX_PROVIDERS: readonly { provider: string; suffixes: readonly string[] }[] = [
  { provider: "Google Workspace", suffixes: ["google.com", "googlemail.com"] },
  { provider: "Microsoft 365", suffixes: ["mail.protection.outlook.com", "olc.protection.outlook.com"] },
  { provider: "Proofpoint", suffixes: ["pphosted.com", "ppe-hosted.com"] },
  { provider: "Mimecast", suffixes: ["mimecast.com", "mimecast.co.za"] },
  { provider: "Cisco Secure Email", suffixes: ["iphmx.com"] },
  { provider: "Barracuda", suffixes: ["barracudanetworks.com"] },
  { provider: "Zoho Mail", suffixes: ["zoho.com", "zoho.eu", "zoho.in"] },
  { provider: "Fastmail", suffixes: ["messagingengine.com"] },
  { provider: "Proton Mail", suffixes: ["protonmail.ch"] },
  { provider: "Yahoo", suffixes: ["yahoodns.net"] },
  { provider: "iCloud Mail", suffixes: ["mail.icloud.com"] },
  { provider: "Amazon WorkMail / SES", suffixes: ["amazonaws.com"] },
  { provider: "Yandex", suffixes: ["yandex.net", "yandex.ru"] },
  { provider: "OVHcloud", suffixes: ["ovh.net"] },
  { provider: "IONOS", suffixes: ["ionos.com", "ionos.de", "1and1.com", "kundenserver.de"] },
  { provider: "GoDaddy", suffixes: ["secureserver.net"] },
];

/** The provider of an exchanger's host name, or "" when none in the table. */
export function mxProvider(exchange: string): string {
  const name = exchange.toLowerCase().replace(/\.$/, "");
  for (const { provider, suffixes } of MX_PROVIDERS) {
    if (suffixes.some((suffix) => name === suffix || name.endsWith(`.${suffix}`))) return provider;
  }
  return "";
}

/** The provider of a set of exchangers: the one they share, "" when none or several. */
export function sharedProvider(providers: readonly string[]): string {
  const distinct = new Set(providers);
  return distinct.size === 1 ? [...distinct][0]! : "";
}
