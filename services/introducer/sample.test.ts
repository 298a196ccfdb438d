import { createRng } from '../membership';
import { diverseSample, type Candidate } from './sample';

const peer = (id: string, address: string): Candidate<string> => ({ peerId: id, address, item: id });

describe('diverseSample', () => {
  const views = [peer('v1', '10.0.1.1:7600'), peer('v2', '10.0.2.1:7600')];
  const directory = [
    peer('d1', '10.0.3.1:7600'),
    peer('d2', '10.0.3.2:7600'),
    peer('d3', '10.0.3.3:7600'),
    peer('v1', '10.0.1.1:7600'),
    peer('new', '10.0.9.9:7600'),
  ];

  test('puts the introducer first, then view peers before directory peers', () => {
    const out = diverseSample(createRng(1), {
      own: 'me',
      fromViews: views,
      fromDirectory: directory,
      exclude: new Set(['new']),
      size: 4,
      maxPerGroup: 8,
    });
    expect(out[0]).toBe('me');
    expect(new Set(out.slice(1, 3))).toEqual(new Set(['v1', 'v2']));
    expect(out).toHaveLength(4);
  });

  test('names nobody twice, never an excluded peer, and caps each address group', () => {
    for (let seed = 0; seed < 50; seed++) {
      const out = diverseSample(createRng(seed), {
        own: 'me',
        fromViews: views,
        fromDirectory: directory,
        exclude: new Set(['new']),
        size: 10,
        maxPerGroup: 2,
      });
      expect(new Set(out).size).toBe(out.length);
      expect(out).not.toContain('new');
      expect(out.filter((id) => id.startsWith('d'))).toHaveLength(2);
    }
  });

  test('answers with the introducer alone when it knows nobody else', () => {
    const out = diverseSample(createRng(1), {
      own: 'me',
      fromViews: [],
      fromDirectory: [],
      exclude: new Set(),
      size: 8,
      maxPerGroup: 2,
    });
    expect(out).toEqual(['me']);
  });
});
