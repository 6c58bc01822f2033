/**
 * The system clock, the one place lib/ reads the time: code that can be given a clock (activities get theirs from
 * `createActivities(deps)`) takes `now`, and falls back to this one.
 */
export type Now = () => Date;

export const systemNow: Now = () => new Date();
