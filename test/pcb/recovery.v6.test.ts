// The recovery suite (recovery.test.ts) over IPv6: the scripted peer is fd00::2, the
// stack fd00::1 on an IPv6-only netif, the simulated pairs an IPv6-only link
// (test/support/family.ts). Same test bodies.
import { useFamily } from '../support/family.ts';
import { v6Guard } from '../support/v6guard.ts';

useFamily(6);
v6Guard();
await import('./recovery.test.ts');
