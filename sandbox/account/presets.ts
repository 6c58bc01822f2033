import type { SizeOptions } from './types';

/**
 * Account sizes. `tiny` is for unit tests, `small` for quick end-to-end tests, `medium` for realistic runs and
 * `large` for load tests (rows are generated on demand, so even `large` is created in well under a second).
 */
export const SIZE_PRESETS: Record<'tiny' | 'small' | 'medium' | 'large', SizeOptions> = {
  tiny: {
    profiles: 200,
    lists: 4,
    segments: 3,
    campaigns: 4,
    flows: 6,
    templates: 8,
    events: 1500,
    metrics: 14,
    tags: 10,
    catalogItems: 40,
  },
  small: {
    profiles: 2000,
    lists: 12,
    segments: 8,
    campaigns: 15,
    flows: 30,
    templates: 40,
    events: 20000,
    metrics: 25,
    tags: 60,
    catalogItems: 300,
  },
  medium: {
    profiles: 20000,
    lists: 20,
    segments: 12,
    campaigns: 60,
    flows: 60,
    templates: 120,
    events: 200000,
    metrics: 27,
    tags: 100,
    catalogItems: 3000,
  },
  large: {
    profiles: 200000,
    lists: 30,
    segments: 20,
    campaigns: 250,
    flows: 120,
    templates: 300,
    events: 1000000,
    metrics: 40,
    tags: 200,
    catalogItems: 20000,
  },
};
