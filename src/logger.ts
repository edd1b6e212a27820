/** The one logger context of this package, so that an app can filter or silence it as a whole. */
export const LOGGER_CONTEXT = 'ResourceServer';
