import type { Adapter, AdapterConstructor, AdapterPayload } from 'oidc-provider';

interface StoredEntry {
  payload: AdapterPayload;
  /** Epoch milliseconds after which the adapter forgets the entry (storage TTL), or undefined for never. */
  expiresAt?: number;
}

/**
 * The storage shared by every model adapter of one development authorization server.
 *
 * It deliberately outlives a `Provider` instance: `rotateSigningKeys()` builds a new
 * Provider on the same port and tokens minted before the rotation must stay introspectable,
 * exactly like they would with a real (Redis/PostgreSQL) adapter.
 *
 * Payloads are kept as structured clones so that nothing outside the adapter can mutate
 * them by accident; `rewrite()` is the explicit way to edit one (used by `expire()`).
 */
export class InMemoryStore {
  readonly #entries = new Map<string, StoredEntry>();
  readonly #uidIndex = new Map<string, string>();
  readonly #userCodeIndex = new Map<string, string>();
  /** grantId -> keys (`Model:id`) of the artefacts issued under that grant. */
  readonly #grantIndex = new Map<string, Set<string>>();

  static key(model: string, id: string): string {
    return `${model}:${id}`;
  }

  get(model: string, id: string): AdapterPayload | undefined {
    const key = InMemoryStore.key(model, id);
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.delete(model, id);
      return undefined;
    }
    return structuredClone(entry.payload);
  }

  set(model: string, id: string, payload: AdapterPayload, expiresInSeconds?: number): void {
    const key = InMemoryStore.key(model, id);
    this.delete(model, id);
    const expiresAt = typeof expiresInSeconds === 'number' ? Date.now() + expiresInSeconds * 1000 : undefined;
    this.#entries.set(key, { payload: structuredClone(payload), expiresAt });
    if (model === 'Session' && typeof payload.uid === 'string') this.#uidIndex.set(payload.uid, id);
    if (typeof payload.userCode === 'string') this.#userCodeIndex.set(payload.userCode, id);
    if (typeof payload.grantId === 'string') {
      let members = this.#grantIndex.get(payload.grantId);
      if (!members) {
        members = new Set();
        this.#grantIndex.set(payload.grantId, members);
      }
      members.add(key);
    }
  }

  /** Edits a stored payload in place (keeping its storage TTL). Returns false when nothing is stored under that id. */
  rewrite(model: string, id: string, edit: (payload: AdapterPayload) => void): boolean {
    const entry = this.#entries.get(InMemoryStore.key(model, id));
    if (!entry) return false;
    edit(entry.payload);
    return true;
  }

  delete(model: string, id: string): void {
    const key = InMemoryStore.key(model, id);
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    const { uid, userCode, grantId } = entry.payload;
    if (typeof uid === 'string' && this.#uidIndex.get(uid) === id) this.#uidIndex.delete(uid);
    if (typeof userCode === 'string' && this.#userCodeIndex.get(userCode) === id) {
      this.#userCodeIndex.delete(userCode);
    }
    if (typeof grantId === 'string') this.#grantIndex.get(grantId)?.delete(key);
  }

  idByUid(uid: string): string | undefined {
    return this.#uidIndex.get(uid);
  }

  idByUserCode(userCode: string): string | undefined {
    return this.#userCodeIndex.get(userCode);
  }

  revokeByGrantId(grantId: string): void {
    const members = this.#grantIndex.get(grantId);
    if (!members) return;
    this.#grantIndex.delete(grantId);
    for (const key of members) {
      const separator = key.indexOf(':');
      this.delete(key.slice(0, separator), key.slice(separator + 1));
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
    this.#uidIndex.clear();
    this.#userCodeIndex.clear();
    this.#grantIndex.clear();
  }
}

/**
 * Builds the adapter class handed to `new Provider(issuer, { adapter })`.
 * oidc-provider instantiates it once per model name ('AccessToken', 'Grant', 'Session', ...).
 */
export function createInMemoryAdapter(store: InMemoryStore): AdapterConstructor {
  return class InMemoryAdapter implements Adapter {
    readonly #model: string;

    constructor(modelName: string) {
      this.#model = modelName;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      store.set(this.#model, id, payload, expiresIn);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      return store.get(this.#model, id);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const id = store.idByUid(uid);
      return id === undefined ? undefined : store.get(this.#model, id);
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const id = store.idByUserCode(userCode);
      return id === undefined ? undefined : store.get(this.#model, id);
    }

    async consume(id: string): Promise<void> {
      store.rewrite(this.#model, id, (payload) => {
        payload.consumed = Math.floor(Date.now() / 1000);
      });
    }

    async destroy(id: string): Promise<void> {
      store.delete(this.#model, id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      store.revokeByGrantId(grantId);
    }
  };
}
