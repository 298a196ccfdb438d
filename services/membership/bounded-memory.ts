/**
 * A bounded memory: the newest entry is kept, and past the bound the oldest goes first. A Map
 * keeps insertion order, so re-setting a key moves it to the back and the front is oldest. What a
 * peer remembers of others past their time in its views (tombstones, lapsed rumours, last
 * incarnations) is kept this way, and so are the other processes' caches. It lives here because
 * the membership core imports nothing from outside its directory.
 */
export function rememberNewest<K, V>(memory: Map<K, V>, key: K, value: V, capacity: number): void {
  memory.delete(key);
  memory.set(key, value);
  if (memory.size > capacity) memory.delete(memory.keys().next().value as K);
}
