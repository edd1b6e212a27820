import { Injectable } from '@nestjs/common';

/** The app's own user record. The resource server only knows the `sub` the authorization server returns. */
export interface User {
  sub: string;
  name: string;
  email: string;
}

/**
 * In-memory users table keyed by `sub`. In a real app this is your database; the key is the `sub` the AS returns
 * to this resource server at introspection (the account id for public SPs, a pairwise hash for pairwise SPs).
 */
@Injectable()
export class UsersService {
  private readonly users = new Map<string, User>(
    [
      { sub: 'alice', name: 'Alice Martin', email: 'alice@example.gouv.fr' },
      { sub: 'bob', name: 'Bob Durand', email: 'bob@example.gouv.fr' },
    ].map((user) => [user.sub, user]),
  );

  findBySub(sub: string): User | undefined {
    return this.users.get(sub);
  }
}
