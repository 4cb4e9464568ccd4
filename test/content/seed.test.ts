import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModuleDto } from '../../src/content/schemas.js';
import { buildTestApp } from '../helpers/app.js';

let app: FastifyInstance;
let module: ModuleDto;

beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  module = (await app.inject({ method: 'GET', url: '/v1/modules/networking' })).json();
});
afterAll(() => app.close());

describe('the Networking seed', () => {
  it('carries the module header and the note as its summary', () => {
    expect(module).toMatchObject({
      slug: 'networking',
      title: 'Module Review: Networking',
      tags: ['kubernetes', 'networking'],
      version: 1,
      summary:
        'This module explores the core principles of Module Review: Networking, deriving solutions from first ' +
        'principles and hardware constraints to build world-class, production-ready expertise.',
    });
  });

  it('has the five key takeaways, with the scraped text repaired', () => {
    expect(module.takeaways.map(({ title, body }) => ({ title, body }))).toEqual([
      {
        title: 'Services are Abstractions',
        body: 'They provide a stable IP and DNS name for dynamic Pods. `ClusterIP` uses virtual IPs managed by `iptables`/`IPVS`.',
      },
      {
        title: 'DNS is Critical',
        body: 'Every Service gets a DNS record (`<svc>.<ns>.svc.cluster.local`). Pods use CoreDNS to resolve these to ClusterIPs.',
      },
      {
        title: 'Ingress for L7',
        body: "Don't use `LoadBalancer` for everything. Use Ingress (Nginx/Traefik) for Host/Path-based routing and TLS termination.",
      },
      {
        title: 'CNI does the Wiring',
        body: 'Kubernetes offloads networking to CNI plugins. Flannel (Overlay), Calico (BGP), and Cilium (eBPF) are popular choices.',
      },
      {
        title: 'Zero Trust with Policies',
        body: 'By default, all Pods can talk to each other. Use `NetworkPolicy` to enforce a default-deny stance.',
      },
    ]);
  });

  it('has the five flashcards in order', () => {
    expect(module.flashcards.map(({ key, question, answer }) => ({ key, question, answer }))).toEqual([
      { key: 'service-vip', question: 'What component implements Service VIPs (ClusterIP)?', answer: 'kube-proxy (using iptables or IPVS mode).' },
      {
        key: 'service-dns-lookup',
        question: "How does a Pod find the IP of a Service named 'db'?",
        answer: 'Via DNS lookup (CoreDNS). It resolves `db.namespace.svc...` to the ClusterIP.',
      },
      {
        key: 'loadbalancer-vs-ingress',
        question: 'What is the difference between LoadBalancer and Ingress?',
        answer: 'LoadBalancer is L4 (TCP/UDP, one per service). Ingress is L7 (HTTP/HTTPS, routing rules, one LB for many services).',
      },
      {
        key: 'native-pod-networking',
        question: 'Does Kubernetes implement Pod networking natively?',
        answer: 'No. It relies on CNI (Container Network Interface) plugins like Flannel or Calico.',
      },
      {
        key: 'networkpolicy-not-enforced',
        question: 'Why might a NetworkPolicy not work?',
        answer: 'If the underlying CNI plugin (like basic Flannel) does not support network policy enforcement.',
      },
    ]);
  });

  it('has the four-column cheat sheet with five rows', () => {
    expect(module.cheatSheet).toEqual({
      columns: ['Resource', 'Kind', 'Key Fields', 'Use Case'],
      rows: [
        ['ClusterIP', 'Service', '`type: ClusterIP`, `selector`', 'Internal traffic between microservices.'],
        ['NodePort', 'Service', '`type: NodePort`, `nodePort`', 'Quick debug access, external access on bare metal.'],
        ['LoadBalancer', 'Service', '`type: LoadBalancer`', 'Cloud-native external access (AWS ELB, GCP LB).'],
        ['Ingress', 'Ingress', '`rules`, `host`, `paths`, `tls`', 'HTTP/HTTPS routing, SSL termination, Virtual Hosting.'],
        ['Policy', 'NetworkPolicy', '`podSelector`, `ingress`, `egress`', 'Firewall rules, security segmentation.'],
      ].map((cells, position) => ({ position, cells })),
    });
  });

  it('has the five quick-revision items', () => {
    expect(module.revisionItems.map(({ term, definition }) => [term, definition])).toEqual([
      ['ClusterIP', 'Virtual IP, iptables, internal only.'],
      ['NodePort', '30000-32767, open on every node.'],
      ['Ingress', 'Reverse proxy, L7 routing, saves money.'],
      ['CNI', 'Creates eth0, assigns IP, connects to bridge.'],
      ['NetworkPolicy', 'Whitelist traffic. Default deny is best practice.'],
    ]);
  });

  it('keeps no scraping damage anywhere in the module', async () => {
    const text = (await app.inject({ method: 'GET', url: '/v1/modules/networking?format=text' })).body;
    for (const damage of ['ClusterIPuses', 'byiptables', 'LoadBalancerfor', 'NetworkPolicyto', 'Don?t', 'Donโt', '\\u0e42']) {
      expect(text).not.toContain(damage);
    }
  });
});
