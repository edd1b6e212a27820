/**
 * Every test file starts with Nest's logger silent, so that a passing run prints nothing; a test that looks at the
 * log captures it (captureNestLogs), and gets the silent logger back when it restores.
 */
import { Logger } from '@nestjs/common';

const silent = (): void => undefined;
Logger.overrideLogger({ log: silent, error: silent, warn: silent, debug: silent, verbose: silent, fatal: silent });
