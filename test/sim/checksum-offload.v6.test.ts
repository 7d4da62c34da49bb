// The checksum offload suite (checksum-offload.test.ts) over IPv6 (test/support/family.ts).
import { useFamily } from '../support/family.ts';
import { v6Guard } from '../support/v6guard.ts';

useFamily(6);
v6Guard();
await import('./checksum-offload.test.ts');
