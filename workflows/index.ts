// The workflows a klaviyo-sync worker registers (its workflowsPath).
export { replicate } from './replicate';
export { syncStream, syncPartition } from './sync-stream';
export { rateBudget } from './rate-budget';
