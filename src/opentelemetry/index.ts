/**
 * `nest-resource-server/opentelemetry`: spans and metrics from the package's diagnostics-channel events, with the
 * optional peer `@opentelemetry/api`. The channels themselves are in the main entry (`DIAGNOSTICS_CHANNELS`).
 */
export {
  ATTRIBUTES,
  INSTRUMENTATION_SCOPE,
  instrumentResourceServer,
  METRICS,
  type ResourceServerInstrumentation,
  type ResourceServerInstrumentationOptions,
} from './instrumentation.js';
