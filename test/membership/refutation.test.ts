/**
 * Model-based: a live peer fed random suspicions, deaths and alive claims about itself, checked
 * against a deliberately simpler model of its incarnation. It must never go back, must outrank
 * every accusation of an incarnation it has not yet outranked, and (Lifeguard) must answer the
 * accuser directly. The fast-check seed is printed; FC_SEED=<n> replays.
 */
import fc from 'fast-check';
import { localConfig } from '../../services/membership/config';
import { UpdateKind, type Update } from '../../services/membership/messages';
import { MembershipNode } from '../../services/membership/node';
import { createRng } from '../../services/membership/rng';
import { simRecord, verifySimRecord } from '../../services/membership/sim/sim-records';

const seed = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`refutation model: fast-check seed ${seed} (FC_SEED=${seed} replays)`);

const command = fc.record({
  kind: fc.constantFrom(UpdateKind.Alive, UpdateKind.Suspect, UpdateKind.Dead),
  incarnation: fc.integer({ min: 0, max: 40 }),
  accuser: fc.constantFrom('a', 'b', 'c'),
  viaPing: fc.boolean(),
  advanceMs: fc.integer({ min: 0, max: 5_000 }),
});

describe('a live peer hearing about itself', () => {
  it.each([true, false])('refutes every accusation it has not outranked (Lifeguard %s)', (lifeguard) => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000 }), fc.array(command, { maxLength: 60 }), (start, commands) => {
        const node = new MembershipNode(
          { rng: createRng(start), verifyRecord: verifySimRecord },
          { config: localConfig({ lifeguard }), record: simRecord('me', 1, ['10.0.0.1:7946']), incarnation: start },
        );
        let now = 0;
        node.start(now);
        let model = start;
        for (const c of commands) {
          now += c.advanceMs;
          node.tick(now);
          const update: Update = { kind: c.kind, peer: 'me', incarnation: c.incarnation, from: c.accuser };
          const header = { from: c.accuser, fromAddress: `10.9.9.${c.accuser.charCodeAt(0) - 96}:7946` };
          const before = node.incarnation;
          const effects = c.viaPing
            ? node.handle(now, { type: 'ping', ...header, seq: 1, neighbor: false, updates: [update] })
            : node.handle(now, { type: 'gossip', ...header, updates: [update] });
          // The model: an accusation at or above our incarnation, or a claim of a newer one,
          // is outranked by one more.
          const accusation = c.kind !== UpdateKind.Alive;
          if ((accusation && c.incarnation >= model) || (!accusation && c.incarnation > model))
            model = c.incarnation + 1;
          expect(node.incarnation).toBe(model);
          expect(node.incarnation).toBeGreaterThanOrEqual(before);
          if (accusation) {
            expect(node.incarnation).toBeGreaterThan(c.incarnation);
            const answered = effects.messages.some(
              (m) =>
                m.to === c.accuser &&
                ((m.message.type === 'gossip' &&
                  m.message.updates.some(
                    (u) => u.kind === UpdateKind.Alive && u.peer === 'me' && u.incarnation === node.incarnation,
                  )) ||
                  (m.message.type === 'ack' && m.message.incarnation === node.incarnation)),
            );
            // With Lifeguard the accuser hears the refutation at once; without, a ping's ack
            // still carries the new incarnation.
            if (lifeguard || c.viaPing) expect(answered).toBe(true);
          }
        }
      }),
      { seed, numRuns: 150 },
    );
  });
});
