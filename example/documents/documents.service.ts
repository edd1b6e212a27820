import { Injectable } from '@nestjs/common';

export interface Document {
  id: string;
  title: string;
  /** `sub` of the user the document belongs to. */
  ownerSub: string;
  /** The service provider (SP) through which the document was created: only that SP may read it back. */
  serviceProvider: string;
}

/** In-memory documents, each owned by one user and one service provider. */
@Injectable()
export class DocumentsService {
  private readonly documents: readonly Document[] = [
    { id: 'doc-1', title: 'Alice: leave request (via sp-a)', ownerSub: 'alice', serviceProvider: 'sp-a' },
    { id: 'doc-2', title: 'Alice: expense report (via sp-a)', ownerSub: 'alice', serviceProvider: 'sp-a' },
    { id: 'doc-3', title: 'Alice: medical certificate (via sp-b)', ownerSub: 'alice', serviceProvider: 'sp-b' },
    { id: 'doc-4', title: 'Bob: leave request (via sp-a)', ownerSub: 'bob', serviceProvider: 'sp-a' },
    { id: 'doc-5', title: 'Alice: tax notice (via sp-c)', ownerSub: 'alice', serviceProvider: 'sp-c' },
  ];

  /** The user's documents created through this service provider, and only those. */
  listFor(ownerSub: string, serviceProvider: string): Document[] {
    return this.documents.filter((doc) => doc.ownerSub === ownerSub && doc.serviceProvider === serviceProvider);
  }

  /** Counts per service provider (an "admin" view that only one SP is trusted with). */
  report(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const doc of this.documents) counts[doc.serviceProvider] = (counts[doc.serviceProvider] ?? 0) + 1;
    return counts;
  }
}
