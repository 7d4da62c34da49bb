// The randomized suite (random.test.ts) over IPv6: the same 200 seeds
// (RANDOM_COUNT / RANDOM_SEEDS as there), each a 1 MB-each-way transfer
// over a random faulty IPv6-only link, client fd00::1, server fd00::2
// (test/support/family.ts). A seed's link and TCP configurations are those
// of its IPv4 run, except that a drawn MTU of 576 becomes IPv6's minimum 1280.
//   RANDOM_SEEDS=<seed> npx vitest run test/pcb/random.v6.test.ts
import { useFamily } from '../support/family.ts';
import { v6Guard } from '../support/v6guard.ts';

useFamily(6);
v6Guard();
await import('./random.test.ts');
