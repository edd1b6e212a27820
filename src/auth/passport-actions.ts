/** The actions Passport adds to a strategy at `authenticate` time (untyped in @types/passport-http-bearer). */
export interface PassportActions {
  success(user: unknown, info?: unknown): void;
  fail(challenge: string, status: number): void;
  error(error: unknown): void;
}

export const actionsOf = (strategy: object): PassportActions => strategy as unknown as PassportActions;
