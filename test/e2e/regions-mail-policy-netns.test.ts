// A mail domain's MTA-STS and DANE compared across regions, with regions as network namespaces
// (root): the same lab as regions-netns.test.ts (scripts/lab/lab-network.ts), through the gRPC API.
//
//   us-east   .11  agent  nothing in the way
//   eu-west   .12  agent  nft DNAT: target:25 and target:443 go to the middlebox at .103, which
//                         terminates TLS with a certificate of another CA (SMTP and HTTPS)
//   target    .100 the exchanger mx.signed.example (STARTTLS, a certificate of the test CA) and
//                  the MTA-STS policy host mta-sts.signed.example on 443; .103 the middlebox
//   unbound   the host's namespace, on the bridge: signed.example signed with ldns-signzone, its
//             key unbound's trust anchor; MX, the policy's TXT, TLS-RPT and the exchanger's TLSA
//
// Every agent allowlists 198.18.0.0/15 and port 25, resolves through unbound, trusts the test CA
// (--ca-file). So the region behind the middlebox cannot fetch the policy (its certificate fails)
// and its certificate fails the TLSA record: what a sender there would do is the verdict.
import { createHash, X509Certificate } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DaneStatus, MtaStsMode, MtaStsStatus, PolicyResult, Severity } from "../../gen/smtpprobe/v1/handshake.js";
import { TaskStatus, VerdictKind, type ProbeReport } from "../../gen/smtpprobe/v1/probe_service.js";
import { separatePki, testPki } from "../helpers/certs.js";
import { connectProbeApi, describeError, type ProbeApi } from "../helpers/grpc-client.js";
import { createLab, egressRules, type Lab, type LabHost, type LabProcess } from "../../scripts/lab/lab-network.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { keepTestRangeLocal, netnsAvailable } from "../../scripts/lab/netns-support.js";
import { startCoordinatorProcess, type CoordinatorProcess } from "../helpers/processes.js";
import { need } from "../helpers/requirements.js";
import { startUnbound, unboundAvailable, type Unbound } from "../helpers/unbound.js";
import { delay } from "../helpers/wait.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = fileURLToPath(new URL("../../bin/smtp-probe.js", import.meta.url));
const TARGET_SCRIPT = fileURLToPath(new URL("../../scripts/lab/smtp-target.ts", import.meta.url));

const requirement = await need(netnsAvailable, natsServerAvailable, unboundAvailable);

const REGIONS = { "us-east": 11, "eu-west": 12 } as const;
type Region = keyof typeof REGIONS;
const TARGET_HOST = 100;
const MIDDLEBOX_HOST = 103;
const READY_MS = 45_000;
const POLICY = ["version: STSv1", "mode: enforce", "mx: mx.signed.example", "max_age: 86400", ""].join("\r\n");

describe.skipIf(requirement.skip)("regions as network namespaces: MTA-STS and DANE fail behind a middlebox in one region only", () => {
  let lab: Lab;
  let nats: NatsServer;
  let unbound: Unbound;
  let coordinator: CoordinatorProcess | undefined;
  let api: ProbeApi;
  let dir: string;
  const processes: LabProcess[] = [];
  let report: Promise<ProbeReport> | undefined;

  const logs = (): string =>
    [...processes, ...(coordinator ? [coordinator] : [])].map((p) => `--- ${p.name}\n${p.output().slice(-1500)}`).join("\n") + `\n--- unbound\n${unbound?.output().slice(-1500) ?? ""}`;

  beforeAll(async () => {
    await keepTestRangeLocal();
    lab = await createLab();
    const target = lab.address(TARGET_HOST);
    const middlebox = lab.address(MIDDLEBOX_HOST);
    const [pki, other] = await Promise.all([testPki(), separatePki()]);
    const [exchangerCert, policyCert, impostorCert] = await Promise.all([
      pki.leaf({ names: ["mx.signed.example", target] }),
      pki.leaf({ names: ["mta-sts.signed.example"] }),
      // A key of its own: the shared per-process key would match the TLSA record of the real one.
      other.leaf({ names: ["mx.signed.example", "mta-sts.signed.example"], freshKey: true }),
    ]);
    dir = await mkdtemp(join(tmpdir(), "smtp-probe-policy-lab-"));
    const caFile = join(dir, "ca.pem");
    await writeFile(caFile, pki.ca.certPem);
    const spki = new X509Certificate(exchangerCert.certPem).publicKey.export({ type: "spki", format: "der" });

    nats = await startNatsServer({ host: lab.gateway, jetstream: false });
    unbound = await startUnbound(
      [
        {
          name: "signed.example",
          dnssec: "signed",
          records: [
            "@ IN MX 10 mx",
            `mx IN A ${target}`,
            `mta-sts IN A ${target}`,
            '_mta-sts IN TXT "v=STSv1; id=20260101"',
            '_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@signed.example"',
            `_25._tcp.mx IN TLSA 3 1 1 ${createHash("sha256").update(spki).digest("hex")}`,
          ],
        },
      ],
      { address: lab.gateway },
    );
    coordinator = await startCoordinatorProcess({ nats: nats.url, heartbeat: "200ms", allowCidrs: ["198.18.0.0/15"], allowPorts: [25], dnsServers: [unbound.server], readyTimeoutMs: READY_MS });
    const [targetHost, east, west] = await Promise.all([
      lab.addHost("target", TARGET_HOST, { extra: [MIDDLEBOX_HOST] }),
      lab.addHost("us-east", REGIONS["us-east"]),
      lab.addHost("eu-west", REGIONS["eu-west"]),
    ]);
    await (west as LabHost).nft(
      egressRules([
        { action: "redirect", to: target, port: 25, via: `${middlebox}:25` },
        { action: "redirect", to: target, port: 443, via: `${middlebox}:443` },
      ]),
    );
    const smtpTarget = (name: string, config: object): LabProcess =>
      (targetHost as LabHost).spawn(name, process.execPath, ["--import", "tsx", TARGET_SCRIPT, JSON.stringify(config)], { lifeline: true, cwd: ROOT });
    const exchanger = smtpTarget("exchanger", { name: "mx.signed.example", listen: [`${target}:25`], tls: exchangerCert, mtaSts: [{ listen: `${target}:443`, tls: policyCert, policy: POLICY }] });
    const box = smtpTarget("middlebox", { name: "mx.signed.example", listen: [`${middlebox}:25`], tls: impostorCert, mtaSts: [{ listen: `${middlebox}:443`, tls: impostorCert, policy: POLICY }] });
    processes.push(exchanger, box);
    for (const [region, host] of [["us-east", east], ["eu-west", west]] as const) {
      const args = [BIN, "agent", "--region", region, "--agent-id", `${region}-1`, "--nats", nats.url, "--allow-cidr", "198.18.0.0/15", "--allow-ports", "25"];
      args.push("--dns-server", unbound.server, "--ca-file", caFile, "--log-level", process.env.LOG_LEVEL || "warn");
      processes.push((host as LabHost).spawn(`agent ${region}`, process.execPath, args, { cwd: ROOT }));
    }
    await Promise.all([exchanger.waitForOutput(/^READY$/m, READY_MS), box.waitForOutput(/^READY$/m, READY_MS)]);
    api = connectProbeApi(coordinator.address);
    const until = Date.now() + READY_MS;
    for (;;) {
      const live = await api.listRegions({ deadlineMs: 3_000 }).catch(() => undefined);
      if (Object.keys(REGIONS).every((r) => live?.regions.some((x) => x.name === r && x.agents.length > 0))) break;
      if (Date.now() > until) throw new Error(`agents not ready\n${logs()}`);
      await delay(100);
    }
  }, 3 * READY_MS);

  afterAll(async () => {
    api?.close();
    await coordinator?.stop();
    await lab?.stop();
    await Promise.all([nats?.stop(), unbound?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 20_000);

  function probeOnce(): Promise<ProbeReport> {
    report ??= api
      .probe({ host: "signed.example", mx: true, ports: [25], regions: Object.keys(REGIONS), options: { timeouts: { connectMs: 2_000, deadlineMs: 15_000 } } }, { deadlineMs: 20_000 })
      .catch((error: unknown) => {
        throw new Error(`Probe failed: ${describeError(error)}\n${logs()}`);
      });
    return report;
  }
  const resultOf = (r: ProbeReport, region: Region) => r.tasks.find((t) => t.region === region)?.result;

  it("us-east: the policy in enforce mode, the exchanger listed, its certificate valid; DANE authenticated and matching", async () => {
    const r = await probeOnce();
    expect(r.tasks.map((t) => TaskStatus[t.status]), logs()).toEqual(["TASK_STATUS_DONE", "TASK_STATUS_DONE"]);
    const east = resultOf(r, "us-east");
    expect(east?.mailPolicy?.mtaSts).toMatchObject({ status: MtaStsStatus.MTA_STS_STATUS_VALID, mode: MtaStsMode.MTA_STS_MODE_ENFORCE, mxPatterns: ["mx.signed.example"] });
    expect(east?.mailPolicy?.tlsa[0]).toMatchObject({ status: DaneStatus.DANE_STATUS_SECURE, authenticated: true });
    const h = east?.handshakes[0];
    expect(h?.policyCheck?.mtaSts, JSON.stringify(h?.policyCheck)).toBe(PolicyResult.POLICY_RESULT_PASS);
    expect(h?.dane?.result, JSON.stringify(h?.dane)).toBe(PolicyResult.POLICY_RESULT_PASS);
  });

  it("eu-west: the policy cannot be had through the middlebox, and the certificate it presents fails DANE", async () => {
    const west = resultOf(await probeOnce(), "eu-west");
    expect(west?.mailPolicy?.mtaSts?.status).toBe(MtaStsStatus.MTA_STS_STATUS_INVALID);
    expect(west?.mailPolicy?.mtaSts?.reason).toMatch(/certificate of mta-sts\.signed\.example is not valid/);
    const h = west?.handshakes[0];
    expect(h?.dane?.result).toBe(PolicyResult.POLICY_RESULT_FAIL);
    expect(h?.findings.find((f) => f.code === "dane_mismatch")?.severity).toBe(Severity.SEVERITY_ERROR);
  });

  it("the comparison says what a sender in each region would do", async () => {
    const verdicts = (await probeOnce()).comparison?.verdicts ?? [];
    const kinds = verdicts.map((v) => VerdictKind[v.kind]);
    expect(kinds).toEqual(expect.arrayContaining(["VERDICT_KIND_CERTIFICATE_DIFFERS", "VERDICT_KIND_MTA_STS_DIFFERS", "VERDICT_KIND_DANE_DIFFERS"]));
    const sts = verdicts.find((v) => v.kind === VerdictKind.VERDICT_KIND_MTA_STS_DIFFERS);
    expect(sts?.regions).toEqual(["eu-west"]);
    expect(sts?.summary).toMatch(/from us-east it would deliver \(MTA-STS enforce passes\).*from eu-west it would deliver with opportunistic TLS, unchecked \(the policy could not be had there\)/);
    const dane = verdicts.find((v) => v.kind === VerdictKind.VERDICT_KIND_DANE_DIFFERS);
    expect(dane?.regions).toEqual(["eu-west"]);
    expect(dane?.severity).toBe(Severity.SEVERITY_ERROR);
    expect(dane?.summary).toMatch(/from eu-west it would not deliver/);
  });
});
