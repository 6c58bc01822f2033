// placeholder replaced by the sandbox HTTP work: registers `klaviyo-sync sandbox`
import type { Command } from 'commander';
export function registerSandboxCommand(_program: Command): void {}
