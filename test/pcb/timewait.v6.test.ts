// The TIME_WAIT suite (timewait.test.ts) over IPv6: RFC 6191 reuse by
// timestamps and sequence numbers, the TIME_WAIT table limits and
// SO_REUSEADDR, with 128-bit addresses in the 4-tuple and the keyed hashes.
import { useFamily } from '../support/family.ts';
import { v6Guard } from '../support/v6guard.ts';

useFamily(6);
v6Guard();
await import('./timewait.test.ts');
