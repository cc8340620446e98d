// SURT keys must equal what pywb (the `surt` Python package) computes, or pywb cannot find our
// captures. Expected values marked "reference" are copied from internetarchive/surt's
// tests/test_surt.py and tests of its canonicalizers (ported from Heritrix's WaybackURLKeyMaker).
import { describe, expect, it } from 'vitest';
import { surt } from '../../../src/stores/warc/surt.js';

describe('surt', () => {
  it.each([
    // the brief's examples
    ['https://zenodo.org/api/records/7078725', 'org,zenodo)/api/records/7078725'],
    ['http://www.Example.com:80/a?b=2&a=1', 'com,example)/a?a=1&b=2'],
    // reference: WaybackURLKeyMakerTest
    ['http://www.archive.org/', 'org,archive)/'],
    ['http://archive.org/', 'org,archive)/'],
    ['http://archive.org/goo/', 'org,archive)/goo'],
    ['http://archive.org/goo/?', 'org,archive)/goo'],
    ['http://archive.org/goo/?b&a', 'org,archive)/goo?a&b'],
    ['http://archive.org/goo/?a=2&b&a=1', 'org,archive)/goo?a=1&a=2&b'],
    [
      'http://archive.org/index.php?PHPSESSID=0123456789abcdefghijklemopqrstuv&action=profile;u=4221',
      'org,archive)/index.php?action=profile;u=4221',
    ],
    ['whois://whois.isoc.org.il/shaveh.co.il', 'il,org,isoc,whois)/shaveh.co.il'],
    [
      'http://visit.webhosting.yahoo.com/visit.gif?&r=http%3A//web.archive.org/web/20090517140029/http%3A//anthonystewarthead.electric-chi.com/&b=Netscape%205.0%20%28Windows%3B%20en-US%29&s=1366x768&o=Win32&c=24&j=true&v=1.2',
      'com,yahoo,webhosting,visit)/visit.gif?&b=netscape%205.0%20(windows;%20en-us)&c=24&j=true&o=win32&r=http://web.archive.org/web/20090517140029/http://anthonystewarthead.electric-chi.com/&s=1366x768&v=1.2',
    ],
    ['http://www.example.com/', 'com,example)/'],
    ['ftp://www.example.com/', 'com,example)/'],
    ['mailto:foo@example.com', 'mailto:foo@example.com'],
    ['dns:archive.org', 'dns:archive.org'],
    ['warcinfo:foo.warc.gz', 'warcinfo:foo.warc.gz'],
    ['filedesc://foo.arc.gz', 'filedesc://foo.arc.gz'],
    ['', '-'],
    // reference: IAURLCanonicalizerTest (ports: only the scheme's own default is dropped)
    ['http://ARCHIVE.ORG/', 'org,archive)/'],
    ['https://www.archive.org:80/', 'org,archive:80)/'],
    ['http://www.archive.org:443/', 'org,archive:443)/'],
    ['https://www.archive.org:443/', 'org,archive)/'],
    ['http://www34.archive.org/index.html?b=a&b=b&a=b', 'org,archive)/index.html?a=b&b=a&b=b'],
    ['http://www2foo.com/', 'com,www2foo)/'],
    ['http://www2.www2foo.com/', 'com,www2foo)/'],
    // reference: GoogleURLCanonicalizerTest (one canonical escaping, IPv4 forms, dot segments)
    ['http://host/%25%32%35', 'host)/%25'],
    ['http://host/%2525252525252525', 'host)/%25'],
    ['http://host/asdf%25%32%35asd', 'host)/asdf%25asd'],
    [
      'http://%31%36%38%2e%31%38%38%2e%39%39%2e%32%36/%2E%73%65%63%75%72%65/%77%77%77%2E%65%62%61%79%2E%63%6F%6D/',
      '26,99,188,168)/.secure/www.ebay.com',
    ],
    ['http://3279880203/blah', '11,0,127,195)/blah'],
    ['http://39024579298/', '226,210,11,22)/'],
    ['http://017.0.0.1/', '1,0,0,15)/'],
    ['http://10.0.258/', '2,1,0,10)/'],
    ['http://www.google.com/blah/..', 'com,google)/'],
    ['www.google.com', 'com,google)/'],
    ['http://www.evil.com/blah#frag', 'com,evil)/blah'],
    ['http://www.google.com.../', 'com,google)/'],
    ['http://www.google.com/foo\tbar\rbaz\n2', 'com,google)/foobarbaz2'],
    ['  http://www.google.com/  ', 'com,google)/'],
    ['http://evil.com/foo;', 'com,evil)/foo;'],
    ['http://host.com/ab%23cd', 'com,host)/ab%23cd'],
    ['http://host.com//twoslashes?more//slashes', 'com,host)/twoslashes?more//slashes'],
    ['http://notrailingslash.com', 'com,notrailingslash)/'],
    ['http://www.gotaport.com:1234/', 'com,gotaport:1234)/'],
    ['http:////////////////www.vikings.com', 'com,vikings)/'],
    ['http://https://order.1and1.com', 'com,1and1,order)/'],
    [
      'http://mineral.galleries.com:/minerals/silicate/chabazit/chabazit.htm',
      'com,galleries,mineral)/minerals/silicate/chabazit/chabazit.htm',
    ],
    ['http://B\u00fccher.ch:8080/', 'ch,xn--bcher-kva:8080)/'],
    ['http://\u2603.com/', 'com,xn--n3h)/'],
    // reference: URLRegexTransformerTest (session ids)
    ['http://example.com/(S(4hqa0555fwsecu455xqckv45))/mileg.aspx', 'com,example)/mileg.aspx'],
    ['http://example.com/?one=two&jsessionid=0123456789abcdefghijklemopqrstuv&x=y', 'com,example)/?one=two&x=y'],
    ['http://example.com/?CFID=1169580&CFTOKEN=48630702&dtstamp=22%2F08%2F2006', 'com,example)/?dtstamp=22/08/2006'],
    // what ingests see: user info dropped, non-ASCII paths escaped then lower-cased, IPv6 as is
    [
      'https://user:pass@Data.Example.org/Files/%C3%9Cberblick.PDF?Download=1',
      'org,example,data)/files/%c3%9cberblick.pdf?download=1',
    ],
    ['https://example.org/files/\u00dcberblick.pdf', 'org,example)/files/%c3%9cberblick.pdf'],
    ['https://example.org/a%20b/c d', 'org,example)/a%20b/c%20d'],
    [
      'https://figshare.com/ndownloader/files/12345?private_link=abc#x',
      'com,figshare)/ndownloader/files/12345?private_link=abc',
    ],
    ['http://[::1]:8080/x', '::1:8080)/x'],
  ])('%s → %s', (url, key) => {
    expect(surt(url)).toBe(key);
  });

  it('never yields white space, so a CDXJ line stays three fields', () => {
    expect(surt('https://example.org/a b\u00a0c?q= x')).not.toMatch(/\s/);
  });
});
