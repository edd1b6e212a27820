/**
 * `nest-resource-server/terminus`: the resource server's health as a `@nestjs/terminus` indicator (optional peer).
 * Without terminus, inject `ResourceServerHealth` from the main entry: the same report.
 */
export { ResourceServerHealthIndicator } from './resource-server.health-indicator.js';
