// Checks deploy/ against the code it deploys: the Kubernetes manifests
// (valid objects, real service names, environment variables and config the
// loader accepts, probes on ports the processes open) and the Grafana
// dashboards (metric names the code registers, columns the schema declares,
// SQL that ClickHouse runs).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { DecoderCounters } from '@flowhound/codec';
import { silentLogger } from '@flowhound/runtime';
import { STORED_TABLES } from '@flowhound/schema';
import { Store } from '@flowhound/store';
import { loadProcessConfig, SERVICE_NAMES } from '@flowhound/svc-standalone';

const DEPLOY = import.meta.dirname;
const ROOT = resolve(DEPLOY, '..');
const K8S = join(DEPLOY, 'k8s');
const GRAFANA = join(DEPLOY, 'grafana');

type Obj = Record<string, any>;

// ---------------------------------------------------------------- kustomize

interface Kustomization {
  readonly dir: string;
  readonly doc: Obj;
  /** Files listed under resources (directories are other kustomizations). */
  readonly resourceFiles: string[];
  readonly patchFiles: string[];
  /** configMapGenerator entries, with files resolved. */
  readonly generators: { name: string; behavior: string; files: string[]; literals: Record<string, string> }[];
}

function readKustomization(dir: string): Kustomization {
  const doc = parseYaml(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Obj;
  const resourceFiles: string[] = [];
  for (const r of (doc.resources ?? []) as string[]) {
    const p = resolve(dir, r);
    if (!existsSync(p)) throw new Error(`${relative(ROOT, dir)}/kustomization.yaml lists ${r}, which does not exist`);
    if (statSync(p).isFile()) resourceFiles.push(p);
  }
  const patchFiles = ((doc.patches ?? []) as Obj[]).filter((p) => p.path).map((p) => resolve(dir, p.path));
  const generators = ((doc.configMapGenerator ?? []) as Obj[]).map((g) => ({
    name: g.name as string,
    behavior: (g.behavior as string) ?? 'create',
    files: ((g.files ?? []) as string[]).map((f) => resolve(dir, f.includes('=') ? f.slice(f.indexOf('=') + 1) : f)),
    literals: Object.fromEntries(((g.literals ?? []) as string[]).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])),
  }));
  return { dir, doc, resourceFiles, patchFiles, generators };
}

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(e.name)) out.push(p);
  }
  return out;
}

function parseObjects(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out: Obj[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`${relative(ROOT, file)}: ${d.errors.map((e) => e.message).join('; ')}`);
    const o = d.toJS() as Obj | null;
    if (o) out.push(o);
  }
  return out;
}

const BASE = readKustomization(join(K8S, 'base'));
const OVERLAYS = readdirSync(join(K8S, 'overlays')).map((d) => readKustomization(join(K8S, 'overlays', d)));
const KUSTOMIZATIONS = [BASE, ...OVERLAYS];
const RESOURCES: { file: string; obj: Obj }[] = KUSTOMIZATIONS.flatMap((k) => k.resourceFiles.flatMap((file) => parseObjects(file).map((obj) => ({ file, obj }))));
const PATCHES: { file: string; obj: Obj }[] = KUSTOMIZATIONS.flatMap((k) => k.patchFiles.flatMap((file) => parseObjects(file).map((obj) => ({ file, obj }))));

/** The generated ConfigMaps an overlay ends up with: base generators, then the overlay's (merge or replace). */
function generatorsOf(k: Kustomization): Map<string, { files: string[]; literals: Record<string, string> }> {
  const out = new Map<string, { files: string[]; literals: Record<string, string> }>();
  const apply = (kk: Kustomization) => {
    for (const g of kk.generators) {
      const prev = out.get(g.name);
      if (g.behavior === 'merge' && prev) out.set(g.name, { files: [...prev.files, ...g.files], literals: { ...prev.literals, ...g.literals } });
      else if (g.behavior === 'replace' || !prev) out.set(g.name, { files: g.files, literals: g.literals });
      else throw new Error(`${relative(ROOT, kk.dir)}: configMapGenerator ${g.name} exists already; give behavior merge or replace`);
    }
  };
  if (k !== BASE) apply(BASE);
  apply(k);
  return out;
}

// ------------------------------------------------------------ what the code says

const CONFIG_SOURCE = readFileSync(join(ROOT, 'services/standalone/src/config.ts'), 'utf8');
/** Environment variables the config loader reads: the ENV table of services/standalone/src/config.ts. */
const ENV_VARS = new Set([...CONFIG_SOURCE.matchAll(/\[\s*'(FLOWHOUND_[A-Z0-9_]+)'\s*,\s*\[/g)].map((m) => m[1]));

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/**
 * Metric names as Prometheus shows them, from every meter call in
 * packages/ and services/ (the helpers `counter(`/`gauge(` of ingest and
 * the writer wrap createObservableCounter/Gauge). The OpenTelemetry
 * exporter adds _total to a counter that lacks it, and _bucket/_sum/_count
 * to histograms.
 */
function registeredMetrics(): Set<string> {
  const out = new Set<string>();
  const re = /\b(createObservableCounter|createObservableUpDownCounter|createObservableGauge|createCounter|createUpDownCounter|createGauge|createHistogram|counter|gauge)\(\s*['"](flowhound_[a-z0-9_]+)['"]/g;
  for (const top of ['packages', 'services']) {
    for (const f of sourceFiles(join(ROOT, top))) {
      for (const m of readFileSync(f, 'utf8').matchAll(re)) {
        const [, fn, name] = m;
        if (fn === 'createHistogram') for (const s of ['_bucket', '_sum', '_count']) out.add(name + s);
        else if (/counter$/i.test(fn) && !/UpDown/.test(fn)) out.add(name.endsWith('_total') ? name : `${name}_total`);
        else out.add(name);
      }
    }
  }
  return out;
}

/** The kinds of flowhound_ingest_templates_total: the keys of ingest's templates() source. */
function ingestTemplateKinds(): Set<string> {
  const src = readFileSync(join(ROOT, 'services/ingest/src/service.ts'), 'utf8');
  const block = /templates:\s*\(\)\s*=>\s*\(\{([\s\S]*?)\}\)/.exec(src);
  if (!block) throw new Error('services/ingest/src/service.ts: templates() not found; update this test');
  return new Set([...block[1].matchAll(/([a-z_]+)\s*:/g)].map((m) => m[1]));
}

// ------------------------------------------------------------ pods

interface FlowhoundContainer {
  readonly file: string;
  readonly workload: Obj;
  readonly container: Obj;
  readonly argv: string[];
  readonly services: string[];
}

const WORKLOADS = RESOURCES.filter((r) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(r.obj.kind));
const FLOWHOUND: FlowhoundContainer[] = WORKLOADS.flatMap(({ file, obj }) =>
  ((obj.spec.template.spec.containers ?? []) as Obj[])
    .filter((c) => String(c.image).split(':')[0] === 'flowhound')
    .map((container) => {
      const argv = [...(container.command ?? []), ...(container.args ?? [])].map(String);
      const i = argv.indexOf('run');
      return { file, workload: obj, container, argv, services: i >= 0 && argv[i + 1] ? argv[i + 1].split(',') : [] };
    }),
);

function portNumber(container: Obj, port: string | number): number | undefined {
  if (typeof port === 'number') return port;
  return ((container.ports ?? []) as Obj[]).find((p) => p.name === port)?.containerPort;
}

function namedPort(container: Obj, name: string): Obj | undefined {
  return ((container.ports ?? []) as Obj[]).find((p) => p.name === name);
}

/** The container's environment with references resolved: literals as given, ConfigMap keys from the generators, anything else a stand-in. */
function environment(c: Obj, generators: Map<string, { literals: Record<string, string> }>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of (c.envFrom ?? []) as Obj[]) {
    const name = from.configMapRef?.name;
    const g = name ? generators.get(name) : undefined;
    if (!g) throw new Error(`envFrom ${JSON.stringify(from)} names no generated ConfigMap`);
    Object.assign(env, g.literals);
  }
  for (const e of (c.env ?? []) as Obj[]) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.valueFrom?.configMapKeyRef) {
      const v = generators.get(e.valueFrom.configMapKeyRef.name)?.literals[e.valueFrom.configMapKeyRef.key];
      if (v === undefined) throw new Error(`${e.name}: ConfigMap key ${JSON.stringify(e.valueFrom.configMapKeyRef)} is not generated`);
      env[e.name] = v;
    } else env[e.name] = e.valueFrom?.fieldRef ? 'pod-name-0' : 'from-a-secret';
  }
  return env;
}

// ================================================================ manifests

describe('Kubernetes manifests', () => {
  it('every YAML file under deploy/k8s is a resource, a patch or a generator file of a kustomization', () => {
    const used = new Set(KUSTOMIZATIONS.flatMap((k) => [join(k.dir, 'kustomization.yaml'), ...k.resourceFiles, ...k.patchFiles, ...k.generators.flatMap((g) => g.files)]));
    const orphans = yamlFiles(K8S).filter((f) => !used.has(f)).map((f) => relative(ROOT, f));
    expect(orphans).toEqual([]);
    for (const k of KUSTOMIZATIONS) for (const f of k.generators.flatMap((g) => g.files)) expect(existsSync(f), relative(ROOT, f)).toBe(true);
    expect(RESOURCES.length).toBeGreaterThan(10);
  });

  it('kustomization files use only fields kustomize knows', () => {
    const known = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'images', 'replicas', 'configMapGenerator', 'secretGenerator', 'generatorOptions', 'patches', 'labels', 'commonAnnotations', 'components']);
    for (const k of KUSTOMIZATIONS) {
      expect(k.doc.kind, k.dir).toBe('Kustomization');
      expect(Object.keys(k.doc).filter((key) => !known.has(key)), relative(ROOT, k.dir)).toEqual([]);
    }
  });

  it('every object validates with kubernetes-models', async () => {
    const failures: string[] = [];
    for (const { file, obj } of RESOURCES) {
      const [group, version] = String(obj.apiVersion).includes('/') ? String(obj.apiVersion).split('/') : ['', String(obj.apiVersion)];
      const mod = `kubernetes-models/${group ? `${group}/` : ''}${version}/${obj.kind}`;
      let Model: new (o: Obj) => { validate(): void };
      try {
        Model = (await import(mod))[obj.kind];
      } catch (err) {
        failures.push(`${relative(ROOT, file)}: no model ${mod} (${(err as Error).message})`);
        continue;
      }
      try {
        new Model(obj).validate();
      } catch (err) {
        failures.push(`${relative(ROOT, file)} ${obj.kind}/${obj.metadata?.name}: ${(err as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });

  // kubernetes-models accepts unknown fields (a misspelt readinesProbe
  // passes). TypeScript's excess-property check on the models' interfaces
  // catches them: each object becomes a typed literal, and tsc checks it.
  it('no object has a field its Kubernetes type does not know (tsc over kubernetes-models types)', () => {
    const dir = join(DEPLOY, '.tmp', `typecheck-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    try {
      const lines: string[] = [];
      [...RESOURCES, ...PATCHES].forEach(({ file, obj }, i) => {
        const [group, version] = String(obj.apiVersion).includes('/') ? String(obj.apiVersion).split('/') : ['', String(obj.apiVersion)];
        const mod = `kubernetes-models/${group ? `${group}/` : ''}${version}/${obj.kind}`;
        lines.push(`// ${relative(ROOT, file)} ${obj.kind}/${obj.metadata?.name}`);
        lines.push(`export const o${i}: import('${mod}').I${obj.kind} = ${JSON.stringify(obj)};`);
      });
      writeFileSync(join(dir, 'manifests.ts'), lines.join('\n') + '\n');
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', skipLibCheck: true, types: [] }, files: ['manifests.ts'] }),
      );
      const r = spawnSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' });
      // tsc names the line; the comment above it names the object.
      const src = readFileSync(join(dir, 'manifests.ts'), 'utf8').split('\n');
      const report = (r.stdout + r.stderr).replace(/manifests\.ts\((\d+),\d+\)/g, (_, n) => src[Number(n) - 2] ?? '');
      expect(report.trim()).toBe('');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every container runs a real flowhound service, and every service runs somewhere', () => {
    expect(FLOWHOUND.length).toBeGreaterThan(0);
    const deployed = new Set<string>();
    for (const f of FLOWHOUND) {
      const where = `${relative(ROOT, f.file)} ${f.workload.metadata.name}`;
      expect(basename(f.argv[0] ?? ''), where).toBe('flowhound');
      expect(f.argv[0], `${where}: the image's bin/flowhound`).toBe('/app/bin/flowhound');
      expect(f.argv[1], where).toBe('run');
      expect(f.services.length, where).toBeGreaterThan(0);
      for (const s of f.services) {
        expect(SERVICE_NAMES as readonly string[], `${where}: ${s}`).toContain(s);
        deployed.add(s);
      }
    }
    expect([...deployed].sort()).toEqual([...SERVICE_NAMES].sort());
  });

  it('every FLOWHOUND_* variable a pod gets is one the config loader reads', () => {
    expect(ENV_VARS.has('FLOWHOUND_NATS_URL') && ENV_VARS.has('FLOWHOUND_CLICKHOUSE_URL')).toBe(true);
    for (const k of KUSTOMIZATIONS) {
      const gens = generatorsOf(k);
      for (const f of FLOWHOUND) {
        const names = Object.keys(environment(f.container, gens));
        expect(names.length).toBeGreaterThan(0);
        for (const n of names) expect(ENV_VARS, `${relative(ROOT, f.file)} ${f.workload.metadata.name} (${relative(ROOT, k.dir)}): ${n}`).toContain(n);
      }
      for (const [name, g] of gens) {
        if (name !== 'flowhound-env') continue;
        for (const n of Object.keys(g.literals)) expect(ENV_VARS, `${relative(ROOT, k.dir)} flowhound-env: ${n}`).toContain(n);
      }
    }
  });

  it('every pod mounts flowhound.yaml where --config points, and the real config loader accepts it with the pod environment', () => {
    for (const k of KUSTOMIZATIONS) {
      const gens = generatorsOf(k);
      const files = gens.get('flowhound-config')?.files ?? [];
      expect(files.map((f) => basename(f))).toEqual(['flowhound.yaml']);
      for (const f of FLOWHOUND) {
        const where = `${relative(ROOT, f.file)} ${f.workload.metadata.name} (${relative(ROOT, k.dir)})`;
        const configPath = f.argv[f.argv.indexOf('--config') + 1];
        expect(f.argv.includes('--config'), where).toBe(true);
        const mount = ((f.container.volumeMounts ?? []) as Obj[]).find((m) => join(m.mountPath, basename(configPath)) === configPath);
        expect(mount, `${where}: nothing mounted at ${dirname(configPath)}`).toBeDefined();
        const volume = ((f.workload.spec.template.spec.volumes ?? []) as Obj[]).find((v) => v.name === mount!.name);
        expect(volume?.configMap?.name, where).toBe('flowhound-config');

        const cfg = loadProcessConfig({ file: files[0], env: environment(f.container, gens) });
        // Separate processes need NATS, and a Deployment cannot use embedded chDB.
        expect(cfg.nats.url, where).toMatch(/^nats:\/\//);
        if (f.services.some((s) => s === 'writer' || s === 'query')) expect(cfg.clickhouse.url, where).toMatch(/^https?:\/\//);
        // Prometheus scrapes what the process serves.
        const ann = f.workload.spec.template.metadata.annotations ?? {};
        const metricsPort = Number(cfg.metrics.listen.split(':').pop());
        expect(cfg.metrics.listen.startsWith('127.'), `${where}: metrics.listen ${cfg.metrics.listen} is not reachable from outside the pod`).toBe(false);
        expect(ann['prometheus.io/scrape'], where).toBe('true');
        expect(Number(ann['prometheus.io/port']), where).toBe(metricsPort);
        expect(namedPort(f.container, 'metrics')?.containerPort, where).toBe(metricsPort);
        if (f.services.includes('query') || f.services.includes('template-registry')) {
          expect(cfg.grpc.listen.startsWith('127.'), `${where}: grpc.listen ${cfg.grpc.listen}`).toBe(false);
          expect(namedPort(f.container, 'grpc')?.containerPort, where).toBe(Number(cfg.grpc.listen.split(':').pop()));
        }
        if (f.services.includes('ingest')) {
          const udp = cfg.ingest.listen.map((a) => Number(a.split(':').pop())).sort();
          const tcp = cfg.ingest.listenTcp.map((a) => Number(a.split(':').pop())).sort();
          const ports = (f.container.ports ?? []) as Obj[];
          expect(ports.filter((p) => p.protocol === 'UDP').map((p) => p.containerPort).sort(), where).toEqual(udp);
          expect(ports.filter((p) => p.protocol === 'TCP' && p.name !== 'metrics').map((p) => p.containerPort).sort(), where).toEqual(tcp);
          // Decoding threads match the CPU the pod may use.
          expect(cfg.ingest.workers, where).toBeLessThanOrEqual(Math.max(1, Math.ceil(Number(f.container.resources?.limits?.cpu ?? 1))));
        }
        // The pod outlives the components' own grace period when stopped.
        const grace = f.workload.spec.template.spec.terminationGracePeriodSeconds ?? 30;
        expect(grace * 1000, where).toBeGreaterThan(cfg.shutdownGraceMs);
      }
    }
  });

  it('probes use what the processes open: /metrics on the metrics port, or a port they listen on (no invented health endpoints)', () => {
    for (const f of FLOWHOUND) {
      const where = `${relative(ROOT, f.file)} ${f.workload.metadata.name}`;
      const probes = ['startupProbe', 'readinessProbe', 'livenessProbe'].filter((p) => f.container[p]).map((p) => [p, f.container[p]] as const);
      expect(probes.map(([p]) => p), where).toEqual(expect.arrayContaining(['readinessProbe', 'livenessProbe']));
      for (const [name, p] of probes) {
        expect(p.grpc, `${where} ${name}: flowhound serves no grpc.health.v1`).toBeUndefined();
        expect(p.exec, `${where} ${name}`).toBeUndefined();
        if (p.httpGet) {
          expect(p.httpGet.path, `${where} ${name}`).toBe('/metrics');
          expect(portNumber(f.container, p.httpGet.port), `${where} ${name}`).toBe(namedPort(f.container, 'metrics')?.containerPort);
        } else {
          expect(p.tcpSocket, `${where} ${name}`).toBeDefined();
          const port = portNumber(f.container, p.tcpSocket.port);
          const grpc = f.services.includes('query') || f.services.includes('template-registry');
          const allowed = [grpc ? namedPort(f.container, 'grpc')?.containerPort : undefined, ...(f.services.includes('ingest') ? ((f.container.ports ?? []) as Obj[]).filter((x) => x.protocol === 'TCP' && x.name !== 'metrics').map((x) => x.containerPort) : [])];
          expect(allowed, `${where} ${name}: port ${p.tcpSocket.port}`).toContain(port);
        }
      }
    }
  });

  it('the ingest Service takes NetFlow and IPFIX on UDP 2055/4739 and TCP 4739, and keeps exporter source addresses', () => {
    const svc = RESOURCES.find((r) => r.obj.kind === 'Service' && r.obj.metadata.name === 'ingest')?.obj;
    expect(svc).toBeDefined();
    const ports = (svc!.spec.ports as Obj[]).map((p) => `${p.protocol ?? 'TCP'}/${p.port}`).sort();
    expect(ports).toEqual(['TCP/4739', 'UDP/2055', 'UDP/4739']);
    expect(svc!.spec.externalTrafficPolicy).toBe('Local');
    const ingest = FLOWHOUND.find((f) => f.services.includes('ingest'))!;
    for (const p of svc!.spec.ports as Obj[]) {
      const target = ((ingest.container.ports ?? []) as Obj[]).find((c) => (typeof p.targetPort === 'string' ? c.name === p.targetPort : c.containerPort === (p.targetPort ?? p.port)));
      expect(target, `Service port ${p.name}`).toBeDefined();
      expect(target!.protocol ?? 'TCP', `Service port ${p.name}`).toBe(p.protocol ?? 'TCP');
    }
  });

  it('every Service selects pods that exist and targets ports they declare', () => {
    for (const { file, obj } of RESOURCES.filter((r) => r.obj.kind === 'Service')) {
      const where = `${relative(ROOT, file)} Service/${obj.metadata.name}`;
      const sel = obj.spec.selector as Record<string, string>;
      const pods = WORKLOADS.filter((w) => Object.entries(sel).every(([k, v]) => w.obj.spec.template.metadata.labels?.[k] === v));
      expect(pods.length, where).toBeGreaterThan(0);
      for (const p of obj.spec.ports as Obj[]) {
        if (typeof p.targetPort !== 'string') continue;
        for (const w of pods) {
          const names = (w.obj.spec.template.spec.containers as Obj[]).flatMap((c) => ((c.ports ?? []) as Obj[]).map((x) => x.name));
          expect(names, `${where} port ${p.name}`).toContain(p.targetPort);
        }
      }
    }
  });

  it('every workload selector matches its own pod labels', () => {
    for (const { file, obj } of WORKLOADS) {
      const labels = obj.spec.template.metadata.labels ?? {};
      for (const [k, v] of Object.entries(obj.spec.selector.matchLabels ?? {})) expect(labels[k], `${relative(ROOT, file)} ${obj.metadata.name}`).toBe(v);
    }
  });

  it('the manifests run the image the Dockerfile builds: /app/bin/flowhound as uid 1000', () => {
    const df = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
    expect(df).toMatch(/^WORKDIR \/app$/m);
    expect(df).toMatch(/^COPY \. \.$/m);
    expect(df).toMatch(/^ENTRYPOINT \["\/app\/bin\/flowhound"\]$/m);
    // The node image's user "node" is uid 1000.
    expect(df).toMatch(/^USER node$/m);
    expect(statSync(join(ROOT, 'bin/flowhound')).mode & 0o111).not.toBe(0);
    for (const f of FLOWHOUND) {
      expect(f.argv[0]).toBe('/app/bin/flowhound');
      expect(f.workload.spec.template.spec.securityContext?.runAsUser, f.workload.metadata.name).toBe(1000);
    }
  });

  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!kubectl)('kubectl kustomize renders every kustomization, generated names wired in (needs kubectl, skipped without it)', async () => {
    for (const k of KUSTOMIZATIONS) {
      const r = spawnSync('kubectl', ['kustomize', k.dir], { encoding: 'utf8' });
      expect(r.stderr, relative(ROOT, k.dir)).toBe('');
      expect(r.status).toBe(0);
      const objs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
      const cms = objs.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata.name as string);
      expect(cms.some((n) => /^flowhound-config-[a-z0-9]+$/.test(n)), relative(ROOT, k.dir)).toBe(true);
      const text = JSON.stringify(objs);
      // References to generated ConfigMaps carry the hash suffix after rendering.
      expect(text).not.toMatch(/"name":"flowhound-(config|env)"/);
      const deployments = objs.filter((o) => o.kind === 'Deployment');
      for (const d of deployments) {
        const { Deployment } = await import('kubernetes-models/apps/v1/Deployment');
        new Deployment(d as ConstructorParameters<typeof Deployment>[0]).validate();
      }
      expect(deployments.length).toBe(SERVICE_NAMES.length);
    }
  });
});

// ================================================================ dashboards

function dashboard(name: string): Obj {
  return JSON.parse(readFileSync(join(GRAFANA, 'dashboards', name), 'utf8')) as Obj;
}

function allPanels(d: Obj): Obj[] {
  const out: Obj[] = [];
  const walk = (ps: Obj[]) => {
    for (const p of ps) {
      out.push(p);
      if (p.panels) walk(p.panels);
    }
  };
  walk(d.panels ?? []);
  return out;
}

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/** Metric names in a PromQL expression, with the label matchers written on each. */
function promqlMetrics(expr: string): { name: string; matchers: { label: string; op: string; value: string }[] }[] {
  const out: { name: string; matchers: { label: string; op: string; value: string }[] }[] = [];
  // name{matchers} first, so that label names inside braces are not taken for metrics.
  const re = /([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*(\{[^}]*\})|([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?|\[[^\]]*\]|"(?:[^"\\]|\\.)*"|\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?/g;
  const stripped = expr.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  for (const m of stripped.matchAll(re)) {
    if (m[2] !== undefined) {
      const matchers = [...m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map((x) => ({ label: x[1], op: x[2], value: x[3] }));
      const name = m[1] ?? matchers.find((x) => x.label === '__name__')?.value;
      if (!name) throw new Error(`a selector without a metric name in ${expr}`);
      if (PROMQL_WORDS.has(name)) throw new Error(`unexpected ${name}{…} in ${expr}`);
      out.push({ name, matchers });
    } else if (m[3] !== undefined && !m[4] && !PROMQL_WORDS.has(m[3].toLowerCase())) {
      out.push({ name: m[3], matchers: [] });
    }
  }
  return out;
}

describe('Grafana dashboard "flowhound — pipeline"', () => {
  const d = dashboard('flowhound-pipeline.json');
  const exprs: string[] = [
    ...allPanels(d).flatMap((p) => ((p.targets ?? []) as Obj[]).map((t) => t.expr as string)),
    ...((d.templating?.list ?? []) as Obj[]).filter((v) => v.type === 'query').map((v) => (typeof v.query === 'string' ? v.query : v.query.query) as string),
  ].filter(Boolean);
  const labelValuesOf = (q: string) => /label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(q)?.[1];

  it('is a Grafana dashboard of schemaVersion 39 or later on a Prometheus data source', () => {
    expect(d.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(d.uid).toBe('flowhound-pipeline');
    expect(d.title).toBe('flowhound — pipeline');
    const ds = (d.templating.list as Obj[]).find((v) => v.name === 'datasource');
    expect(ds?.query).toBe('prometheus');
    for (const p of allPanels(d).filter((x) => x.type !== 'row')) expect(p.datasource?.uid, p.title).toBe('${datasource}');
    const ids = allPanels(d).map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('uses only metric names the code registers', () => {
    const registered = registeredMetrics();
    // The extraction itself must see the code's metrics, or this test proves nothing.
    for (const n of ['flowhound_ingest_packets_total', 'flowhound_decoder_total', 'flowhound_writer_rows_total', 'flowhound_writer_pending_rows', 'flowhound_templates']) expect(registered).toContain(n);
    const used = new Set<string>();
    for (const e of exprs) {
      const lv = labelValuesOf(e);
      for (const m of lv ? [{ name: lv }] : promqlMetrics(e)) used.add(m.name);
    }
    expect(used.size).toBeGreaterThan(30);
    expect([...used].filter((n) => !registered.has(n)).sort()).toEqual([]);
  });

  it('asks for label values the code produces (decoder and template kinds, writer tables)', () => {
    const decoderKinds = new Set(Object.keys(new DecoderCounters()));
    const templateKinds = ingestTemplateKinds();
    const tables = new Set(['flows', 'conversations']);
    const known: Record<string, Record<string, Set<string>>> = {
      flowhound_decoder_total: { kind: decoderKinds },
      flowhound_ingest_templates_total: { kind: templateKinds },
    };
    let checked = 0;
    for (const e of exprs) {
      if (labelValuesOf(e)) continue;
      for (const m of promqlMetrics(e)) {
        for (const x of m.matchers) {
          const values = known[m.name]?.[x.label] ?? (x.label === 'table' && m.name.startsWith('flowhound_writer_') ? tables : undefined);
          if (!values) continue;
          const wanted = x.op === '=~' ? x.value.split('|') : [x.value];
          for (const v of wanted) expect(values, `${m.name}{${x.label}${x.op}"${x.value}"}`).toContain(v);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(10);
  });
});

/** ClickHouse identifiers a dashboard query uses that are neither columns of its table, aliases, SQL words nor functions. */
const SQL_WORDS = new Set(
  'select from where and or not in as group by order desc asc limit array join distinct on having case when then else end is null like between with union all interval second'.split(' '),
);

function sqlTables(sql: string): string[] {
  const froms = [...sql.matchAll(/\bFROM\s+(\S+)/gi)].map((m) => m[1]);
  return froms.map((f) => {
    const m = /^\$\{database\}\.([a-z_0-9]+)$/.exec(f);
    if (!m) throw new Error(`FROM ${f}: write FROM \${database}.<table> (the dashboard's database variable)`);
    return m[1];
  });
}

function unknownIdentifiers(sql: string, columns: Set<string>): string[] {
  const noStrings = sql.replace(/'(?:[^'\\]|\\.)*'/g, "''");
  const aliases = new Set([...noStrings.matchAll(/\bAS\s+([a-zA-Z_][a-zA-Z0-9_]*)/gi)].map((m) => m[1]));
  // Grafana variables and the plugin's macros go; a macro's argument (a column) stays.
  const bare = noStrings.replace(/\$\{[^}]*\}(\.[a-zA-Z_0-9]+)?/g, ' ').replace(/\$__[a-zA-Z_]+/g, ' ').replace(/\$[a-zA-Z_]+/g, ' ');
  const out: string[] = [];
  for (const m of bare.matchAll(/[a-zA-Z_][a-zA-Z0-9_]*/g)) {
    const id = m[0];
    const after = bare.slice(m.index! + id.length).trimStart();
    if (after.startsWith('(')) continue; // a function
    if (SQL_WORDS.has(id.toLowerCase()) || aliases.has(id) || columns.has(id)) continue;
    out.push(id);
  }
  return out;
}

describe('Grafana dashboard "flowhound — traffic"', () => {
  const d = dashboard('flowhound-traffic.json');
  const queries: { where: string; sql: string }[] = [
    ...allPanels(d).flatMap((p) => ((p.targets ?? []) as Obj[]).map((t) => ({ where: p.title as string, sql: t.rawSql as string }))),
    ...((d.templating?.list ?? []) as Obj[]).filter((v) => v.type === 'query').map((v) => ({ where: `variable ${v.name}`, sql: v.query as string })),
  ];
  const tableColumns = new Map(STORED_TABLES.map((t) => [t.name, new Set(t.columns.map((c) => c.name))]));

  it('is a Grafana dashboard of schemaVersion 39 or later on the ClickHouse plugin, with SQL in every panel', () => {
    expect(d.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(d.uid).toBe('flowhound-traffic');
    const ds = (d.templating.list as Obj[]).find((v) => v.name === 'datasource');
    expect(ds?.query).toBe('grafana-clickhouse-datasource');
    for (const p of allPanels(d).filter((x) => x.type !== 'row')) {
      expect(p.datasource?.type, p.title).toBe('grafana-clickhouse-datasource');
      for (const t of p.targets as Obj[]) {
        expect(t.editorType, p.title).toBe('sql');
        expect(t.rawSql, p.title).toMatch(/\$__timeFilter\(time_received\)/);
      }
    }
    expect(queries.length).toBeGreaterThan(8);
  });

  it('reads only the flows and conversations tables, and only columns packages/schema declares', () => {
    for (const { where, sql } of queries) {
      const tables = sqlTables(sql);
      expect(tables.length, where).toBeGreaterThan(0);
      for (const t of tables) expect(['flows', 'conversations'], where).toContain(t);
      const cols = new Set(tables.flatMap((t) => [...tableColumns.get(t)!]));
      expect(unknownIdentifiers(sql, cols), where).toEqual([]);
    }
  });

  // The plugin expands its macros in its backend (pkg/macros of
  // grafana-clickhouse-datasource): $__timeFilter(c) to
  // `c >= toDateTime(from) AND c <= toDateTime(to)`, $__timeInterval(c) to
  // `toStartOfInterval(toDateTime(c), INTERVAL n second)`, $__interval_s to n.
  describe('its SQL runs on ClickHouse (chDB) over the real schema', () => {
    let dir = '';
    let store: Store | undefined;
    const now = Math.floor(Date.now() / 1000);
    const expand = (sql: string) =>
      sql
        .replace(/\$__timeFilter\(([^)]+)\)/g, `$1 >= toDateTime(${now - 3600}) AND $1 <= toDateTime(${now + 60})`)
        .replace(/\$__timeInterval\(([^)]+)\)/g, 'toStartOfInterval(toDateTime($1), INTERVAL 60 second)')
        .replace(/\$__interval_s\b/g, '60')
        .replace(/\$\{database\}/g, 'flowhound')
        .replace(/\$\{exporter:singlequote\}/g, "'192.0.2.1'");

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'fh-deploy-'));
      store = await Store.open({ url: '', dataDir: dir, database: 'flowhound', username: '', password: '', log: silentLogger() });
      await store.migrate();
      // Two permitted records and one denied from IPv4 exporter 192.0.2.1 (stored IPv4-mapped), sampled 1 in 10.
      for (const table of ['flows', 'conversations']) {
        await store.client.command({
          query: `INSERT INTO flowhound.${table} (time_received, exporter_address, src_addr, dst_addr, src_port, dst_port, protocol, bytes, packets, bytes_scaled, packets_scaled, sampling_interval, flow_action)
                  VALUES (now64(3), toIPv6('::ffff:192.0.2.1'), toIPv6('::ffff:10.0.0.1'), toIPv6('::ffff:10.0.0.2'), 40000, 443, 6, 1000, 10, 10000, 100, 10, 1),
                         (now64(3), toIPv6('::ffff:192.0.2.1'), toIPv6('::ffff:10.0.0.3'), toIPv6('::ffff:10.0.0.2'), 40001, 53, 17, 20, 1, 200, 10, 10, 1),
                         (now64(3), toIPv6('::ffff:192.0.2.1'), toIPv6('::ffff:203.0.113.9'), toIPv6('::ffff:10.0.0.2'), 50000, 23, 6, 60, 1, 600, 10, 10, 2)`,
        });
      }
    });
    afterAll(async () => {
      await store?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('every panel and variable query runs, and returns what the test rows make it return', async () => {
      const rows: Record<string, Obj[]> = {};
      for (const { where, sql } of queries) {
        const q = expand(sql);
        expect(q, where).not.toMatch(/\$/);
        const r = await store!.client.query({ query: q, format: 'JSONEachRow' });
        rows[where] = await r.json<Obj>();
      }
      // The exporter shows as 192.0.2.1 (not ::ffff:192.0.2.1), and the exporter filter matches it.
      expect(rows['variable exporter']).toEqual([{ exporter: '192.0.2.1' }]);
      const bps = rows['Traffic by exporter (bits/s)'];
      expect(bps.map((r) => r.exporter)).toEqual(['192.0.2.1']);
      expect(Number(bps[0].bps)).toBeCloseTo(((10000 + 200 + 600) * 8) / 60);
      // Denied: only the flow_action = 2 record.
      expect(rows['Denied flows by exporter'].map((r) => [r.exporter, Number(r.denied) * 60])).toEqual([['192.0.2.1', 1]]);
      expect(rows['Denied: top sources and targets'].map((r) => [r.source, r.destination, Number(r.dst_port), Number(r.denied)])).toEqual([['203.0.113.9', '10.0.0.2', 23, 1]]);
      expect(rows['Top talkers'][0]).toMatchObject({ host: '10.0.0.2' });
      expect(rows['Top destination ports'].map((r) => [r.proto, Number(r.dst_port)])).toEqual([
        ['TCP', 443],
        ['TCP', 23],
        ['UDP', 53],
      ]);
      expect(rows['Protocols'].map((r) => [r.proto, Number(r.bytes)])).toEqual([
        ['TCP', 10600],
        ['UDP', 200],
      ]);
    });
  });
});

describe('Grafana provisioning', () => {
  it('provides a data source of the type each dashboard asks for, and loads the dashboards folder', () => {
    const ds = parseYaml(readFileSync(join(GRAFANA, 'provisioning/datasources/flowhound.yaml'), 'utf8')) as Obj;
    const types = new Set((ds.datasources as Obj[]).map((x) => x.type));
    for (const f of readdirSync(join(GRAFANA, 'dashboards'))) {
      const d = dashboard(f);
      const v = (d.templating.list as Obj[]).find((x) => x.type === 'datasource');
      expect(types, f).toContain(v?.query);
    }
    const ch = (ds.datasources as Obj[]).find((x) => x.type === 'grafana-clickhouse-datasource')!;
    expect(ch.jsonData.defaultDatabase).toBe(loadProcessConfig({ env: {} }).clickhouse.database);
    const prov = parseYaml(readFileSync(join(GRAFANA, 'provisioning/dashboards/flowhound.yaml'), 'utf8')) as Obj;
    expect(prov.apiVersion).toBe(1);
    expect((prov.providers as Obj[])[0].type).toBe('file');
  });
});
