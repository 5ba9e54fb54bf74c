import net from 'node:net';
import { GatewayError } from '../errors';

/**
 * Where a webhook may go. Subscribers are registered over the API, so a subscription is also a way to make the
 * gateway POST to an address of the caller's choosing: the metadata services of cloud hosts live on link-local
 * addresses and hand out credentials to whoever asks from the machine. Those are refused, by literal address at
 * registration and after DNS resolution at delivery time. Loopback and private ranges stay allowed: the Hub often runs
 * on the same VPS or LAN. `WEBHOOK_ALLOWED_HOSTS` narrows the targets further when set.
 */
export interface WebhookTargetPolicy {
  /** Host names (`hub.example.com`), `*.example.com` wildcards (any subdomain) or IP literals; empty = any host. */
  allowedHosts: readonly string[];
}

export const OPEN_POLICY: WebhookTargetPolicy = Object.freeze({ allowedHosts: Object.freeze([]) });

/** The cloud metadata endpoints by address, each with the reason given when a target is refused. */
const METADATA_ADDRESSES: ReadonlyArray<readonly [string, 'ipv4' | 'ipv6']> = [
  ['169.254.169.254', 'ipv4'], // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
  ['fd00:ec2::254', 'ipv6'], // AWS IMDS over IPv6 (Nitro)
  ['100.100.100.200', 'ipv4'], // Alibaba Cloud
];
const METADATA_HOSTNAMES = new Set(['metadata.google.internal']);

const metadata = new net.BlockList();
for (const [address, family] of METADATA_ADDRESSES) metadata.addAddress(address, family);
const linkLocal = new net.BlockList();
linkLocal.addSubnet('169.254.0.0', 16, 'ipv4');
linkLocal.addSubnet('fe80::', 10, 'ipv6');

/** `[::1]` → `::1`, `Hub.Example.com.` → `hub.example.com`; a zone id (`fe80::1%eth0`) is dropped. */
export function normalizeHost(host: string): string {
  return host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/%.*$/, '')
    .replace(/\.$/, '');
}

/**
 * Why this IP address must not be a webhook target, or null when it may be. IPv4-mapped IPv6 (`::ffff:169.254.169.254`)
 * counts as the IPv4 address (net.BlockList checks both forms).
 */
export function forbiddenAddressReason(address: string): string | null {
  const known = addressVerdicts.get(address);
  if (known !== undefined) return known;
  const reason = addressReason(address);
  remember(addressVerdicts, address, reason);
  return reason;
}

/**
 * Verdicts are pure functions of their input (the block lists are constants, a policy is fixed at start-up), and they
 * are asked for on every delivery: net.BlockList.check and the URL parse were 3 % of the gateway's CPU per event
 * (issue 13, case 4). A few targets are asked again and again, so a small memo of each does.
 */
const MEMO_SIZE = 1024;
const addressVerdicts = new Map<string, string | null>();
const acceptedUrls = new WeakMap<WebhookTargetPolicy, Map<string, string>>();

function remember<V>(memo: Map<string, V>, key: string, value: V): void {
  if (memo.size >= MEMO_SIZE) memo.clear();
  memo.set(key, value);
}

function addressReason(address: string): string | null {
  const ip = normalizeHost(address);
  const family = net.isIP(ip);
  if (family === 0) return null;
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (metadata.check(ip, type)) return `${ip} is a cloud metadata address`;
  if (linkLocal.check(ip, type)) return `${ip} is a link-local address (where cloud metadata services live)`;
  return null;
}

/** `*.example.com` matches any subdomain of example.com (not example.com itself); anything else matches exactly. */
export function hostAllowed(host: string, allowedHosts: readonly string[]): boolean {
  if (allowedHosts.length === 0) return true;
  const h = normalizeHost(host);
  return allowedHosts.some((entry) => {
    const pattern = normalizeHost(entry);
    if (pattern.startsWith('*.')) return h.endsWith(pattern.slice(1));
    return h === pattern;
  });
}

const rejected = (message: string, hint?: string) =>
  new GatewayError('WEBHOOK_URL_REJECTED', { message, ...(hint ? { hint } : {}) });

/**
 * The checks that need no network: an absolute http(s) URL, no credentials in it (they would end up in logs), not a
 * metadata or link-local address, and inside WEBHOOK_ALLOWED_HOSTS when that is set. Returns the normalized URL;
 * throws WEBHOOK_URL_REJECTED. Run at registration and again before every delivery (the policy may have changed
 * since the subscription was stored).
 */
export function checkWebhookUrl(url: string, policy: WebhookTargetPolicy = OPEN_POLICY): string {
  let accepted = acceptedUrls.get(policy);
  const known = accepted?.get(url);
  if (known !== undefined) return known;
  // Only what is accepted is remembered: a refusal is thrown fresh each time (and is rare).
  const normalized = checkUrl(url, policy);
  if (!accepted) acceptedUrls.set(policy, (accepted = new Map()));
  remember(accepted, url, normalized);
  return normalized;
}

function checkUrl(url: string, policy: WebhookTargetPolicy): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw rejected('The webhook URL is not an absolute URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw rejected('The webhook URL must use http or https');
  }
  if (parsed.username || parsed.password) {
    throw rejected('Put the webhook secret in "secret", not in the URL');
  }
  // The WHATWG parser has already turned 2852039166, 0xa9fea9fe and 0251.0376.0251.0376 into 169.254.169.254.
  const host = normalizeHost(parsed.hostname);
  const reason =
    forbiddenAddressReason(host) ?? (METADATA_HOSTNAMES.has(host) ? `${host} is a cloud metadata host` : null);
  if (reason) {
    throw rejected(
      `The webhook URL is not allowed: ${reason}`,
      'Webhooks may go to public, private or loopback addresses, never to link-local or cloud metadata ones.',
    );
  }
  if (!hostAllowed(host, policy.allowedHosts)) {
    throw rejected(
      `The webhook host ${host} is not in WEBHOOK_ALLOWED_HOSTS`,
      `Allowed: ${policy.allowedHosts.join(', ')}. Add the host to WEBHOOK_ALLOWED_HOSTS (comma-separated, *.example.com for subdomains) and restart.`,
    );
  }
  return parsed.toString();
}
