import { describe, expect, test } from 'vitest';
import { HostTable } from '../../src/stack/host-table.ts';
import { Stack } from '../../src/stack/stack.ts';
import { formatIp } from '../../src/wire/ipaddr.ts';

describe('HostTable', () => {
  test('names to addresses by family, IPv4 first, case-insensitive, no repeats', () => {
    const t = new HostTable();
    t.add('Web', 'fd00::5');
    t.add('web', '10.0.0.5');
    t.add('web', '10.0.0.6');
    t.add('WEB', '10.0.0.5');
    expect(t.lookup('web').map(formatIp)).toEqual(['10.0.0.5', '10.0.0.6', 'fd00::5']);
    expect(t.lookup('web', 6).map(formatIp)).toEqual(['fd00::5']);
    expect(t.lookup('web', 4).map(formatIp)).toEqual(['10.0.0.5', '10.0.0.6']);
    expect(formatIp(t.first('web')!)).toBe('10.0.0.5');
    expect(formatIp(t.first('web', 6)!)).toBe('fd00::5');
    expect(t.first('nope')).toBeNull();
    expect(t.lookup('nope')).toEqual([]);
    expect(t.nameOf('fd00::5')).toBe('web');
    expect(t.nameOf('10.9.9.9')).toBeNull();
    expect(t.toString()).toBe('10.0.0.5 web\n10.0.0.6 web\nfd00::5 web');
    t.remove('web', '10.0.0.5');
    expect(t.lookup('web').map(formatIp)).toEqual(['10.0.0.6', 'fd00::5']);
    t.remove('web');
    expect(t.names()).toEqual([]);
    expect(() => t.add('', '10.0.0.1')).toThrow(RangeError);
    expect(() => t.add('x', 'not-an-ip')).toThrow(RangeError);
  });

  test('a lone stack has a table of its own; node:net and getaddrinfo use it', () => {
    const s = new Stack({ name: 'solo' });
    expect(s.names).toBeInstanceOf(HostTable);
    s.names.add('self', '127.0.0.1');
    expect(s.getaddrinfo('self', 80)[0]![4]).toEqual(['127.0.0.1', 80]);
    const shared = new HostTable();
    const t = new Stack({ names: shared });
    expect(t.names).toBe(shared);
    s.close();
    t.close();
  });
});
