export { ManagerClient } from './client.js';
export type { EventSubscription, ManagerClientOptions, WaitForTaskOptions } from './client.js';
export * from './payloads.js';
