export interface LruOptions<V> {
  /** Bound on the summed weight of the entries (e.g. bytes), on top of the entry count. */
  maxWeight?: number;
  weigh?: (value: V) => number;
}

/** A least-recently-used map: Map keeps insertion order, so re-inserting on read marks an entry as recent. */
export class LruCache<K, V> {
  private readonly entries = new Map<K, { value: V; weight: number }>();
  private totalWeight = 0;

  constructor(
    private readonly capacity: number,
    private readonly options: LruOptions<V> = {},
  ) {}

  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** Inserts or replaces (re-weighing) an entry, then evicts the least recently used beyond the bounds. */
  set(key: K, value: V): this {
    if (this.capacity <= 0) return this;
    const weight = this.options.weigh?.(value) ?? 0;
    const maxWeight = this.options.maxWeight ?? Infinity;
    const previous = this.entries.get(key);
    if (previous) {
      this.totalWeight -= previous.weight;
      this.entries.delete(key);
    }
    if (weight > maxWeight) return this;
    this.entries.set(key, { value, weight });
    this.totalWeight += weight;
    for (const [oldest, entry] of this.entries) {
      if (this.entries.size <= this.capacity && this.totalWeight <= maxWeight) break;
      this.entries.delete(oldest);
      this.totalWeight -= entry.weight;
    }
    return this;
  }

  getOrCreate(key: K, create: () => V): V {
    const cached = this.get(key);
    if (cached !== undefined) return cached;
    const value = create();
    this.set(key, value);
    return value;
  }

  get size(): number {
    return this.entries.size;
  }

  get weight(): number {
    return this.totalWeight;
  }

  clear(): void {
    this.entries.clear();
    this.totalWeight = 0;
  }
}
