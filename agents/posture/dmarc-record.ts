// A DMARC record read into its tags (RFC 7489 §6.3, §6.4), each syntax error named. Pure.

export interface ParsedDmarc {
  tags: Map<string, string>;
  policy: string;
  subdomainPolicy: string;
  /** sp was given (else the subdomain policy is p's). */
  hasSubdomainPolicy: boolean;
  pct: number;
  adkim: string;
  aspf: string;
  rua: ReportUri[];
  ruf: ReportUri[];
  errors: string[];
}

export interface ReportUri {
  uri: string;
  /** The mailbox's domain for mailto: URIs, lower case; empty otherwise. */
  domain: string;
}

const POLICIES = new Set(["none", "quarantine", "reject"]);

/** The DMARC records among TXT records: "v=DMARC1" first (RFC 7489 §6.6.3). */
export function dmarcRecordsOf(txt: readonly (readonly string[])[]): string[] {
  return txt.map((strings) => strings.join("")).filter((record) => /^v\s*=\s*DMARC1\s*(;|$)/i.test(record));
}

export function parseDmarcRecord(record: string): ParsedDmarc {
  const errors: string[] = [];
  const tags = new Map<string, string>();
  for (const part of record.split(";")) {
    const text = part.trim();
    if (text === "") continue;
    const eq = text.indexOf("=");
    if (eq <= 0) {
      errors.push(`"${text}" is not a tag=value pair`);
      continue;
    }
    const key = text.slice(0, eq).trim().toLowerCase();
    if (tags.has(key)) errors.push(`tag ${key} appears more than once`);
    else tags.set(key, text.slice(eq + 1).trim());
  }
   
  if (/[^\x20-\x7e]/.test(record)) errors.push("the record has characters outside printable ASCII");
  const policy = (tags.get("p") ?? "").toLowerCase();
  if (!tags.has("p")) errors.push("no p= tag: the policy is required (RFC 7489 §6.3)");
  else if (!POLICIES.has(policy)) errors.push(`p=${tags.get("p")} is not none, quarantine or reject`);
  const sp = tags.get("sp")?.toLowerCase();
  if (sp !== undefined && !POLICIES.has(sp)) errors.push(`sp=${tags.get("sp")} is not none, quarantine or reject`);
  const pctText = tags.get("pct");
  let pct = 100;
  if (pctText !== undefined) {
    if (/^\d{1,3}$/.test(pctText) && Number(pctText) <= 100) pct = Number(pctText);
    else errors.push(`pct=${pctText} is not a whole number from 0 to 100`);
  }
  const alignment = (tag: string): string => {
    const value = (tags.get(tag) ?? "r").toLowerCase();
    if (value !== "r" && value !== "s") errors.push(`${tag}=${tags.get(tag)} is not r or s`);
    return value;
  };
  const adkim = alignment("adkim");
  const aspf = alignment("aspf");
  const rua = parseUris(tags.get("rua"), "rua", errors);
  const ruf = parseUris(tags.get("ruf"), "ruf", errors);
  return {
    tags,
    policy,
    subdomainPolicy: sp !== undefined && POLICIES.has(sp) ? sp : policy,
    hasSubdomainPolicy: sp !== undefined,
    pct,
    adkim,
    aspf,
    rua,
    ruf,
    errors,
  };
}

/** RFC 7489 §6.4: a comma list of URIs, each optionally followed by "!size". */
function parseUris(value: string | undefined, tag: string, errors: string[]): ReportUri[] {
  if (value === undefined || value.trim() === "") return [];
  return value.split(",").flatMap((raw) => {
    const uri = raw.trim();
    if (uri === "") return [];
    const address = uri.replace(/!\d+[kmgt]?$/i, "");
    const mailto = /^mailto:(.+)$/i.exec(address);
    if (!mailto) {
      if (!/^[a-z][a-z0-9+.-]*:/i.test(address)) errors.push(`${tag}: "${uri}" is not a URI`);
      return [{ uri, domain: "" }];
    }
    const at = mailto[1]!.lastIndexOf("@");
    const domain = at > 0 ? mailto[1]!.slice(at + 1).toLowerCase() : "";
    if (domain === "") errors.push(`${tag}: "${uri}" has no mailbox domain`);
    return [{ uri, domain }];
  });
}

/** How strict a policy is, for comparing p and sp. */
export function policyStrength(policy: string): number {
  return policy === "reject" ? 2 : policy === "quarantine" ? 1 : 0;
}
