// The SYN-cookie suite (syncookies.test.ts) over IPv6: cookies hash the full
// 128-bit addresses; the same cases, options and limits as over IPv4.
import { useFamily } from '../support/family.ts';
import { v6Guard } from '../support/v6guard.ts';

useFamily(6);
v6Guard();
await import('./syncookies.test.ts');
