export * from '../../src/testing/dev-authorization-server.js';
