// The real node's configuration and log reading, without starting it: the files node.sh starts
// from keep every path under the node's directory, and CRI log lines read back to what was written.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import {
  cniConfig,
  containerdConfig,
  defaultLayout,
  kubeletConfig,
  kubeProxyConfig,
  podLogsDir,
  writeNodeFiles,
} from "./config.js";
import { criToText, kubeletMilestones, readContainerLog } from "./real-node.js";

const layout = defaultLayout(
  "/tmp/flint-node-abc123",
  "/cache/bin",
  "/tmp/flint-node-abc123/kubeconfig",
  "run1",
);

describe("the real node's configuration", () => {
  it("keeps containerd's state, sockets and CNI files under the node's directory", () => {
    const text = containerdConfig(layout);
    expect(text).toMatch(/^root = "\/tmp\/flint-node-abc123\/containerd\/root"$/m);
    expect(text).toMatch(/^state = "\/tmp\/flint-node-abc123\/containerd\/state"$/m);
    expect(text).toContain('address = "/tmp/flint-node-abc123/containerd/containerd.sock"');
    expect(text).toContain('bin_dirs = ["/cache/bin/cni"]');
    expect(text).toContain('conf_dir = "/tmp/flint-node-abc123/cni/net.d"');
    expect(text).toContain('BinaryName = "/cache/bin/runc"');
    expect(text).toContain("restrict_oom_score_adj = true");
    expect(text).not.toMatch(/"\/(var|run|etc|opt)\//);
  });

  it("gives pods addresses on the bridge from the real node's range, outside the process kubelet's", () => {
    const cni = JSON.parse(cniConfig(layout)) as {
      plugins: {
        type: string;
        ipam?: { ranges: { subnet: string; gateway: string }[][]; dataDir: string };
      }[];
    };
    const bridge = cni.plugins.find((plugin) => plugin.type === "bridge")!;
    expect(bridge.ipam!.ranges[0]![0]).toEqual({ subnet: "10.88.2.0/24", gateway: "10.88.2.1" });
    expect(bridge.ipam!.dataDir.startsWith(layout.dir)).toBe(true);
  });

  it("runs kubelet on cgroup v1 with cgroupfs under a cgroup root of its own, DNS on CoreDNS", () => {
    const kubelet = JSON.parse(kubeletConfig(layout)) as Record<string, unknown>;
    expect(kubelet).toMatchObject({
      failCgroupV1: false,
      cgroupDriver: "cgroupfs",
      cgroupRoot: "/flint-e2e/run1",
      clusterDNS: ["10.88.0.3"],
      address: "10.88.0.4",
      containerRuntimeEndpoint: "unix:///tmp/flint-node-abc123/containerd/containerd.sock",
    });
    const proxy = JSON.parse(kubeProxyConfig(layout)) as Record<string, unknown>;
    expect(proxy).toMatchObject({ mode: "iptables", conntrack: { maxPerCore: 0 } });
  });

  it("writes every file node.sh reads, with the image archives one a line", () => {
    const dir = mkdtempSync(join(tmpdir(), "flint-node-config-"));
    try {
      const own = { ...layout, dir };
      writeNodeFiles(own, ["/a.tar", "/b.tar"]);
      for (const name of ["containerd.toml", "kubelet.yaml", "kube-proxy.yaml", "Corefile", "resolv.conf"]) {
        expect(readFileSync(join(dir, name), "utf8").length).toBeGreaterThan(0);
      }
      expect(readFileSync(join(dir, "images.txt"), "utf8")).toBe("/a.tar\n/b.tar\n");
      expect(readFileSync(join(dir, "node-ip"), "utf8")).toBe("10.88.0.4");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("container logs as kubelet writes them", () => {
  it("joins partial lines and drops the CRI prefix", () => {
    const cri = [
      "2026-12-06T18:00:00.000000001Z stdout F first line",
      "2026-12-06T18:00:00.000000002Z stderr P half ",
      "2026-12-06T18:00:00.000000003Z stderr F and the rest",
      "2026-12-06T18:00:00.000000004Z stdout F ",
      "",
    ].join("\n");
    expect(criToText(cri)).toBe("first line\nhalf and the rest\n\n");
  });

  it("reads every restart of a container in order, and nothing for one that has not started", () => {
    const dir = mkdtempSync(join(tmpdir(), "flint-node-logs-"));
    try {
      const own = { ...layout, dir };
      const containerDir = join(podLogsDir(own), "ns_pod-1_uid", "main");
      mkdirSync(containerDir, { recursive: true });
      writeFileSync(join(containerDir, "10.log"), "t stdout F eleventh\n");
      writeFileSync(join(containerDir, "9.log"), "t stdout F tenth\n");
      expect(readContainerLog(own, "ns", "pod-1", "main")).toBe("tenth\neleventh\n");
      expect(readContainerLog(own, "ns", "pod-1", "sidecar")).toBe("");
      expect(readContainerLog(own, "ns", "pod-2", "main")).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the node's milestones for the cold-start breakdown", () => {
  it("reads sandbox and container starts from containerd's log and readiness from kubelet's", () => {
    const containerd = [
      String.raw`time="2026-12-06T20:33:21.100000000Z" level=info msg="RunPodSandbox for name:\"hello-1\" uid:\"u1\" namespace:\"team\""`,
      String.raw`time="2026-12-06T20:33:21.300000000Z" level=info msg="RunPodSandbox for name:\"hello-1\" uid:\"u1\" namespace:\"team\" returns sandbox id \"abc1\""`,
      String.raw`time="2026-12-06T20:33:21.400000000Z" level=info msg="CreateContainer within sandbox \"abc1\" for name:\"function\"  attempt:0 returns container id \"def2\""`,
      String.raw`time="2026-12-06T20:33:21.500000000Z" level=info msg="StartContainer for \"def2\" returns successfully"`,
    ].join("\n");
    const kubelet = `I1206 20:33:22.250000   30347 kubelet.go:2877] "SyncLoop (probe)" probe="readiness" status="ready" pod="team/hello-1"\n`;
    const lines = kubeletMilestones({ containerd, kubelet }).map((m) => [
      new Date(m.atMs).toISOString().slice(11, 23),
      m.line,
    ]);
    expect(lines).toEqual([
      ["20:33:21.100", "team/hello-1: starting"],
      ["20:33:21.300", "team/hello-1: sandbox ready"],
      ["20:33:21.500", "team/hello-1: started pid (container function)"],
      ["20:33:22.250", "team/hello-1: readiness probe passed"],
    ]);
  });
});
