import { ConfigError, loadConfig } from '../../../src/config';
import {
  checkWebhookUrl,
  forbiddenAddressReason,
  hostAllowed,
  OPEN_POLICY,
} from '../../../src/events/webhook-target-policy';

const rejection = (url: string, allowedHosts: string[] = []) => {
  try {
    checkWebhookUrl(url, { allowedHosts });
    return null;
  } catch (error) {
    return error as { code: string; message: string; hint?: string };
  }
};

describe('webhook target rules', () => {
  test('When a URL accepted under one policy is checked under a narrower one, then it is refused (verdicts are kept per policy)', () => {
    // Arrange
    const url = 'http://hub.example.com/api/whatsapp/webhook';
    const narrow = { allowedHosts: ['other.example.com'] };

    // Act
    const first = checkWebhookUrl(url, OPEN_POLICY);
    const again = checkWebhookUrl(url, OPEN_POLICY);
    const act = () => checkWebhookUrl(url, narrow);

    // Assert
    expect(again).toBe(first);
    expect(act).toThrow(expect.objectContaining({ code: 'WEBHOOK_URL_REJECTED' }));
    expect(act).toThrow(/not in WEBHOOK_ALLOWED_HOSTS/);
  });

  test('When a refused URL or address is checked again, then it is refused again', () => {
    // Act + Assert
    for (let i = 0; i < 3; i++) {
      expect(rejection('http://169.254.169.254/latest/meta-data/')).toMatchObject({ code: 'WEBHOOK_URL_REJECTED' });
      expect(forbiddenAddressReason('169.254.169.254')).toMatch(/metadata/);
      expect(forbiddenAddressReason('127.0.0.1')).toBeNull();
    }
  });

  test.each([
    ['the AWS/GCP/Azure metadata address', 'http://169.254.169.254/latest/meta-data/'],
    ['another link-local IPv4 address', 'http://169.254.10.20:8080/hook'],
    ['the metadata address written as one decimal number', 'http://2852039166/'],
    ['the metadata address written in hex', 'http://0xa9.0xfe.0xa9.0xfe/'],
    ['a link-local IPv6 address', 'http://[fe80::1]/hook'],
    ['the AWS IPv6 metadata address', 'http://[fd00:ec2::254]/latest'],
    ['the metadata address as IPv4-mapped IPv6', 'http://[::ffff:169.254.169.254]/'],
    ['the Alibaba Cloud metadata address', 'http://100.100.100.200/latest/meta-data'],
    ['the GCP metadata host name', 'http://metadata.google.internal/computeMetadata/v1/'],
    ['the GCP metadata host name with a trailing dot', 'http://Metadata.Google.Internal./computeMetadata/v1/'],
    ['a non-http scheme', 'file:///etc/passwd'],
    ['credentials in the URL', 'https://user:pass@hub.example.com/hook'],
    ['a relative URL', '/api/whatsapp/webhook'],
  ])('When the URL targets %s, then it is refused with WEBHOOK_URL_REJECTED', (_what, url) => {
    expect(rejection(url)).toMatchObject({ code: 'WEBHOOK_URL_REJECTED' });
  });

  test.each([
    ['loopback (the Hub on the same VPS)', 'http://127.0.0.1:8080/api/whatsapp/webhook'],
    ['IPv6 loopback', 'http://[::1]:8080/hook'],
    ['a private LAN address', 'http://192.168.1.20/api/whatsapp/webhook'],
    ['a 10/8 address', 'http://10.0.0.5/hook'],
    ['carrier-grade NAT space other than the Alibaba endpoint', 'http://100.100.100.201/hook'],
    ['a public host name over https', 'https://hub.pixel12digital.com.br/api/whatsapp/webhook'],
  ])('When the URL targets %s, then it is accepted', (_what, url) => {
    expect(rejection(url)).toBeNull();
  });

  test('When a link-local address is refused, then the message says why', () => {
    expect(rejection('http://169.254.169.254/')?.message).toMatch(/169\.254\.169\.254 is a cloud metadata address/);
    expect(rejection('http://169.254.1.1/')?.message).toMatch(/link-local/);
  });

  test('When WEBHOOK_ALLOWED_HOSTS is set, then only those hosts pass, *.domain matching subdomains but not the domain itself', () => {
    const allowed = ['hub.example.com', '*.pixel12digital.com.br', '127.0.0.1'];
    expect(rejection('https://hub.example.com/hook', allowed)).toBeNull();
    expect(rejection('https://HUB.example.com./hook', allowed)).toBeNull();
    expect(rejection('https://hub.pixel12digital.com.br/api/whatsapp/webhook', allowed)).toBeNull();
    expect(rejection('https://a.b.pixel12digital.com.br/x', allowed)).toBeNull();
    expect(rejection('http://127.0.0.1:9000/x', allowed)).toBeNull();
    const apex = rejection('https://pixel12digital.com.br/x', allowed);
    expect(apex).toMatchObject({ code: 'WEBHOOK_URL_REJECTED' });
    expect(apex?.message).toMatch(/pixel12digital\.com\.br is not in WEBHOOK_ALLOWED_HOSTS/);
    expect(apex?.hint).toMatch(/WEBHOOK_ALLOWED_HOSTS/);
    expect(rejection('https://evilpixel12digital.com.br/x', allowed)).toMatchObject({ code: 'WEBHOOK_URL_REJECTED' });
    expect(rejection('https://hub.example.com.evil.net/x', allowed)).toMatchObject({ code: 'WEBHOOK_URL_REJECTED' });
    expect(rejection('http://127.0.0.2/x', allowed)).toMatchObject({ code: 'WEBHOOK_URL_REJECTED' });
  });

  test('When WEBHOOK_ALLOWED_HOSTS lists a metadata address, then it is still refused', () => {
    expect(rejection('http://169.254.169.254/', ['169.254.169.254'])).toMatchObject({ code: 'WEBHOOK_URL_REJECTED' });
  });

  test('When no allow-list is set, then any host passes the host check', () => {
    expect(hostAllowed('anything.example', OPEN_POLICY.allowedHosts)).toBe(true);
  });

  test('When a resolved address is classified, then only link-local and metadata addresses are forbidden', () => {
    expect(forbiddenAddressReason('169.254.169.254')).toMatch(/metadata/);
    expect(forbiddenAddressReason('::ffff:169.254.169.254')).toMatch(/metadata/);
    expect(forbiddenAddressReason('fe80::abcd%eth0')).toMatch(/link-local/);
    expect(forbiddenAddressReason('fd00:ec2::254')).toMatch(/metadata/);
    for (const ok of ['127.0.0.1', '::1', '10.1.2.3', '172.16.0.1', '192.168.0.1', '8.8.8.8', 'fd00::1']) {
      expect(forbiddenAddressReason(ok)).toBeNull();
    }
  });

  test('When WEBHOOK_ALLOWED_HOSTS is in the environment, then the config carries the lowercased list; a malformed entry stops start-up naming it', () => {
    const base = { GATEWAY_SECRET: 'a'.repeat(32), WPPCONNECT_SECRET_KEY: 'k' };
    expect(loadConfig(base).webhooks.allowedHosts).toEqual([]);
    expect(
      loadConfig({ ...base, WEBHOOK_ALLOWED_HOSTS: ' Hub.Example.com, *.pixel12digital.com.br ,,127.0.0.1' }).webhooks
        .allowedHosts,
    ).toEqual(['hub.example.com', '*.pixel12digital.com.br', '127.0.0.1']);
    let error: unknown;
    try {
      loadConfig({ ...base, WEBHOOK_ALLOWED_HOSTS: 'https://hub.example.com/x' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([expect.stringMatching(/^WEBHOOK_ALLOWED_HOSTS:/)]);
  });
});
