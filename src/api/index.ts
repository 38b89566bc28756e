export { ManagerCallError, ManagerClient } from './client.js';
export type { EventSubscription, ManagerClientOptions, WaitForTaskOptions } from './client.js';
export { FailoverClient, NoManagerAnswers, stoppedAnswering } from './failover.js';
export type { ClientOptions, MemberAttempt, MemberChange } from './failover.js';
export * from './payloads.js';
