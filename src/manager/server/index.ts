export { startManagerServer, DEFAULT_API_HOST, DEFAULT_API_PORT } from './server.js';
export type { ManagerServer, ManagerServerOptions } from './server.js';
export type { ApiCredentials } from './auth.js';
