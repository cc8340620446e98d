// The SSRF guard: a dataset URL (or a redirect) must not make us fetch from loopback, private,
// link-local (cloud metadata) or other non-public addresses. Checked after DNS resolution.
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { BlockedPrivateAddressError } from '../errors.js';

const BLOCKED_V4: Array<[string, number]> = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, where cloud metadata services live
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation ranges: never a real server
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking, often used inside data centres
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, including 255.255.255.255
];

const BLOCKED_V6: Array<[string, number]> = [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b:1::', 48], // local-use NAT64: the embedded address is site-specific
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // old site-local
  ['ff00::', 8], // multicast
];

const blockList = new BlockList();
for (const [network, prefix] of BLOCKED_V4) blockList.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of BLOCKED_V6) blockList.addSubnet(network, prefix, 'ipv6');

/**
 * True for any address we refuse to connect to. IPv6 forms that carry an IPv4 address (mapped,
 * compatible, NAT64, 6to4) are judged by that IPv4 address. Anything that is not an IP address
 * counts as blocked: the guard fails closed.
 */
export function isBlockedAddress(ip: string): boolean {
  const address = ip.replace(/%.*$/, ''); // a zone id ("fe80::1%eth0") is not part of the address
  const family = isIP(address);
  if (family === 4) return blockList.check(address, 'ipv4');
  if (family !== 6) return true;
  if (blockList.check(address, 'ipv6')) return true;
  const embedded = embeddedIPv4(address);
  return embedded !== undefined && blockList.check(embedded, 'ipv4');
}

/** The IPv4 address inside an IPv6 one, for the forms that route to it. */
function embeddedIPv4(address: string): string | undefined {
  const g = ipv6Groups(address);
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  if (zeros(0, 5) && (g[5] === 0xffff || g[5] === 0)) return v4(g[6]!, g[7]!); // mapped, compatible
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return v4(g[6]!, g[7]!); // NAT64
  if (g[0] === 0x2002) return v4(g[1]!, g[2]!); // 6to4
  return undefined;
}

/** The eight 16-bit groups of a valid IPv6 address (a trailing dotted quad allowed). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const front = head ? head.split(':') : [];
  const back = tail ? tail.split(':') : [];
  const gap = tail === undefined ? [] : new Array<string>(8 - front.length - back.length).fill('0');
  return [...front, ...gap, ...back].map((group) => parseInt(group, 16));
}

/** Throws BlockedPrivateAddressError when `hostname` is an IP literal we refuse (DNS is skipped for those). */
export function assertPublicIpLiteral(hostname: string): void {
  const ip = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (isIP(ip) && isBlockedAddress(ip)) {
    throw new BlockedPrivateAddressError(`${hostname} is a private or reserved address (${ip})`);
  }
}

/** Resolves every address of a host (dns.lookup with `all: true`). */
export type ResolveAll = (
  hostname: string,
  options: LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * A drop-in for dns.lookup that resolves every address and refuses the host when any of them is
 * blocked: checking only the one we would connect to would let a host that resolves to both a
 * public and a private address pass now and connect privately on a later attempt. Node asks for
 * one address or, when it races IPv4 and IPv6 (autoSelectFamily), for all of them.
 */
export function createGuardedLookup(resolve: ResolveAll = dnsLookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const blocked = addresses.find((a) => isBlockedAddress(a.address));
      if (blocked) {
        const error = new BlockedPrivateAddressError(
          `${hostname} resolves to ${blocked.address}, a private or reserved address`,
        );
        return callback(error as NodeJS.ErrnoException, '');
      }
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
      if (options.all) return callback(null, addresses);
      callback(null, first.address, first.family);
    });
  };
}
